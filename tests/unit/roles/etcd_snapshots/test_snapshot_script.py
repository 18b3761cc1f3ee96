"""The snapshot script the etcd_snapshots role installs, rendered from its template and run with fake etcdctl,
etcdutl and logger: never a half-written snapshot under its final name, a failed check keeps nothing, retention
touches only this node's snapshots, failures exit non-zero, key material is never printed."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jinja2
import pytest
import yaml

from tests.helpers import REPO

ROLE = REPO / "roles" / "etcd_snapshots"
KEY_MATERIAL = "-----BEGIN EC PRIVATE KEY-----\nTOP-SECRET-KEY-MATERIAL\n-----END EC PRIVATE KEY-----\n"
NAME = re.compile(r"^etcd-snapshot-cp1-\d{8}T\d{6}Z(-\d+)?\.db$")

FAKE_ETCDCTL = r'''#!{python}
import hashlib, os, sys
mode = os.environ.get("FAKE_ETCD_MODE", "ok")
with open({calls!r}, "a") as handle:
    handle.write(" ".join(sys.argv[1:]) + "\n")
args = [a for a in sys.argv[1:] if not a.startswith("--")]
if args[:2] == ["endpoint", "status"]:
    if mode == "down":
        sys.stderr.write("Failed to get the status of endpoint (context deadline exceeded)\n")
        sys.exit(1)
    print("https://127.0.0.1:2379, 8e9e05c52164694d, 3.6.8, 20 kB, true, false, 2, 9, 9,")
    sys.exit(0)
if args[:2] != ["snapshot", "save"]:
    sys.exit(2)
path = args[2]
if mode == "save_fails":
    open(path + ".part", "wb").write(b"partial")
    sys.stderr.write("Error: rpc error: code = Unavailable\n")
    sys.exit(5)
body = (b"SNAPSHOT-OF-" + os.environ.get("FAKE_ETCD_MARK", "x").encode()).ljust(1024, b"\0")
digest = hashlib.sha256(body).digest()
if mode == "corrupt":
    digest = bytes(32)
data = {{"truncated": body[:1000], "empty": b""}}.get(mode, body + digest)
open(path, "wb").write(data)
print("Snapshot saved at " + path)
'''

FAKE_ETCDUTL = r'''#!{python}
import json, os, sys
if sys.argv[1:3] != ["snapshot", "status"] or sys.argv[4:] != ["-w", "json"]:
    sys.exit(2)
if os.environ.get("FAKE_ETCD_MODE") == "status_fails":
    sys.stderr.write("Error: invalid database\n")
    sys.exit(1)
print(json.dumps({{"hash": 42, "revision": 7, "totalKey": 3, "totalSize": 1024, "version": "3.6.0"}}))
'''

FAKE_LOGGER = r'''#!/bin/sh
printf '%s\n' "$*" >> {calls}
'''


def defaults():
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render(**overrides):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    env.filters["bool"] = lambda value: value if isinstance(value, bool) else str(value).lower() in ("true", "yes", "1")
    variables = {k: v for k, v in defaults().items() if "{{" not in str(v)}
    variables.update(__etcd_snapshots_endpoint="https://127.0.0.1:2379", __etcd_snapshots_prefix="etcd-snapshot-cp1-")
    variables.update(overrides)
    return env.from_string((ROLE / "templates" / "kubecompass-etcd-snapshot.sh.j2").read_text()).render(variables)


class Node:
    """A scratch node: fake tools, a client certificate, the snapshot directory and the rendered script."""

    def __init__(self, tmp_path: Path, **overrides):
        self.root = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.dir = tmp_path / "snapshots"
        self.dir.mkdir(mode=0o700)
        self.calls = tmp_path / "etcdctl.calls"
        self.logged = tmp_path / "logger.calls"
        for name, text in (("etcdctl", FAKE_ETCDCTL), ("etcdutl", FAKE_ETCDUTL), ("logger", FAKE_LOGGER)):
            (self.bin / name).write_text(text.format(python=sys.executable, calls=str(
                self.calls if name == "etcdctl" else self.logged)))
            (self.bin / name).chmod(0o755)
        pki = tmp_path / "pki"
        pki.mkdir()
        for name, text in (("ca.crt", "CA"), ("client.crt", "CERT"), ("client.key", KEY_MATERIAL)):
            (pki / name).write_text(text)
        (pki / "client.key").chmod(0o600)
        self.script = tmp_path / "kubecompass-etcd-snapshot"
        self.script.write_text(render(**{
            "etcd_snapshots_etcdctl": str(self.bin / "etcdctl"), "etcd_snapshots_etcdutl": str(self.bin / "etcdutl"),
            "etcd_snapshots_cacert": str(pki / "ca.crt"), "etcd_snapshots_cert": str(pki / "client.crt"),
            "etcd_snapshots_key": str(pki / "client.key"), "etcd_snapshots_dir": str(self.dir), **overrides}))
        self.script.chmod(0o700)

    def run(self, mode="ok", **env):
        environ = {"PATH": "%s:%s" % (self.bin, os.environ.get("PATH", "/usr/bin:/bin")), "FAKE_ETCD_MODE": mode,
                   **env}
        result = subprocess.run([str(self.script)], env=environ, capture_output=True, text=True, timeout=60,
                                check=False)
        assert "TOP-SECRET" not in result.stdout + result.stderr
        return result

    def files(self):
        return sorted(p.name for p in self.dir.iterdir())

    def snapshots(self):
        return [name for name in self.files() if NAME.match(name)]

    def old(self, name, age_days=0.0):
        path = self.dir / name
        body = b"old".ljust(512, b"\0")
        path.write_bytes(body + hashlib.sha256(body).digest())
        stamp = time.time() - age_days * 86400
        os.utime(path, (stamp, stamp))
        return path


def test_the_template_renders_from_the_role_defaults():
    script = render()
    assert "DIR=/var/backups/kubecompass/etcd" in script and "RETENTION_COUNT=28" in script
    assert "KEY=/etc/kubernetes/pki/etcd/healthcheck-client.key" in script
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed")
def test_the_rendered_script_passes_shellcheck():
    result = subprocess.run(["shellcheck", "-s", "sh", "-"], input=render(), capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout


def test_a_snapshot_is_saved_checked_renamed_and_logged(tmp_path):
    node = Node(tmp_path)
    result = node.run(FAKE_ETCD_MARK="first")
    assert result.returncode == 0, result.stderr
    [name] = node.snapshots()
    assert node.files() == [".lock", name]  # no temporary file left behind
    snapshot = node.dir / name
    assert snapshot.read_bytes().startswith(b"SNAPSHOT-OF-first") and (snapshot.stat().st_mode & 0o777) == 0o600
    assert "saved %s (1056 bytes, checksum ok" % snapshot in result.stdout and '"revision": 7' in result.stdout
    assert "1 kept, 0 removed by retention" in result.stdout
    save = [line for line in node.calls.read_text().splitlines() if " snapshot save " in line][0]
    # Saved under a dot-name (the assessment ignores those), never under the final name.
    assert re.search(r" snapshot save %s/\.etcd-snapshot-cp1-\d{8}T\d{6}Z-\d+\.db\.tmp$" % node.dir, save)
    assert "--endpoints=https://127.0.0.1:2379" in save and "--key=%s" % (tmp_path / "pki/client.key") in save
    assert "--command-timeout=600s" in save
    assert node.logged.read_text().startswith("-t kubecompass-etcd-snapshot -p user.info -- saved ")


def test_under_systemd_the_journal_gets_the_output_and_syslog_is_not_called(tmp_path):
    node = Node(tmp_path)
    assert node.run(INVOCATION_ID="0123abcd").returncode == 0
    assert not node.logged.exists()


@pytest.mark.parametrize("mode, message", [
    ("down", "etcd at https://127.0.0.1:2379 does not answer: Failed to get the status"),
    ("save_fails", "etcdctl snapshot save from https://127.0.0.1:2379: Error: rpc error: code = Unavailable"),
    ("empty", "is empty or missing"),
    ("truncated", "has no sha256 checksum (size 1000): the stream was cut short"),
    ("corrupt", "fails its sha256 checksum: it is corrupt"),
    ("status_fails", "snapshot status: Error: invalid database"),
])
def test_every_failure_exits_non_zero_and_keeps_nothing(tmp_path, mode, message):
    node = Node(tmp_path)
    result = node.run(mode)
    assert result.returncode == 1
    assert "kubecompass-etcd-snapshot: failed: " in result.stderr and message in result.stderr
    assert [name for name in node.files() if name != ".lock"] == []
    assert "-p user.err -- failed: " in node.logged.read_text()


def test_missing_tools_certificates_or_directory_fail_before_etcd_is_asked(tmp_path):
    node = Node(tmp_path)
    (tmp_path / "pki" / "client.key").unlink()
    result = node.run()
    assert result.returncode == 1 and "cannot read %s" % (tmp_path / "pki/client.key") in result.stderr
    assert not node.calls.exists()
    node.dir.rename(tmp_path / "gone")
    assert "snapshot directory %s does not exist" % node.dir in node.run().stderr


def test_retention_keeps_the_newest_of_this_node_only(tmp_path):
    node = Node(tmp_path, etcd_snapshots_retention_count=3)
    for day in range(1, 6):
        node.old("etcd-snapshot-cp1-2026110%dT000000Z.db" % day, age_days=10 - day)
    others = ["etcd-snapshot-cp1-b-20261101T000000Z.db", "etcd-snapshot-cp10-20261101T000000Z.db", "notes.txt"]
    for name in others:
        node.old(name, age_days=30)
    result = node.run()
    assert result.returncode == 0, result.stderr
    kept = node.snapshots()
    assert kept[:2] == ["etcd-snapshot-cp1-20261104T000000Z.db", "etcd-snapshot-cp1-20261105T000000Z.db"]
    assert len(kept) == 3 and "3 kept, 3 removed by retention" in result.stdout
    assert all((node.dir / name).exists() for name in others)


def test_retention_by_age_removes_old_snapshots_but_never_the_new_one(tmp_path):
    node = Node(tmp_path, etcd_snapshots_retention_days=7)
    node.old("etcd-snapshot-cp1-20261101T000000Z.db", age_days=8)
    node.old("etcd-snapshot-cp1-20261110T000000Z.db", age_days=2)
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert "etcd-snapshot-cp1-20261101T000000Z.db" not in node.files()
    assert len(node.snapshots()) == 2 and "2 kept, 1 removed by retention" in result.stdout


def test_temporary_files_of_killed_runs_are_removed_after_a_day(tmp_path):
    node = Node(tmp_path)
    stale = node.old(".etcd-snapshot-cp1-20261101T000000Z-99.db.tmp.part", age_days=2)
    recent = node.old(".etcd-snapshot-cp1-20261102T000000Z-98.db.tmp", age_days=0.1)
    assert node.run().returncode == 0
    assert not stale.exists() and recent.exists()


def test_two_runs_never_overwrite_each_other_even_within_one_second(tmp_path):
    node = Node(tmp_path)
    first, second = node.run(FAKE_ETCD_MARK="one"), node.run(FAKE_ETCD_MARK="two")
    assert first.returncode == second.returncode == 0
    contents = sorted((node.dir / name).read_bytes()[:15] for name in node.snapshots())
    assert contents == [b"SNAPSHOT-OF-one", b"SNAPSHOT-OF-two"]


@pytest.mark.skipif(not shutil.which("flock"), reason="flock is not installed")
def test_a_running_snapshot_blocks_the_next_one(tmp_path):
    node = Node(tmp_path)
    holder = subprocess.Popen(["flock", "-x", str(node.dir / ".lock"), "sleep", "30"], stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        result = node.run()
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1 and "another snapshot is still running" in result.stderr
    assert node.snapshots() == []
