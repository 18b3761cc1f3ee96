"""Issue 6 item 4 on the 1-node local control plane: the etcd_snapshots role installs a scheduled snapshot (cron: the
nodes run no systemd, and the host's must never be touched), takes a first snapshot for real and verifies it
(checksum, etcdutl snapshot status, KC-DR-006); a second run changes nothing; check mode changes nothing and shows
the diff; the installed script runs over SSH; and the newest snapshot, restored with etcdutl into a fresh etcd on free
local ports, holds a ConfigMap written through the API before it and not one written after it.

Needs etcdctl and etcdutl next to etcd in the local control plane's binaries (tests/cluster/go.mod tool directives
and kclocal/build.py BINARIES); skipped with that reason otherwise.

The snapshot directory is the role's default, /var/backups/kubecompass/etcd (where the assessment's node facts look
on kubeadm). It is not one of a node's private directories, so on the 1-node cluster the test reads it directly and
removes what it added; the script and the cron file go into the node's private /etc/kubernetes, where no cron daemon
reads them.

The tests run in file order and build on each other (one cluster, one story)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from kclocal import cluster
from kclocal.kube import ApiError
from tests.helpers import REPO, VENV_BIN, ansible_env, run
from tests.integration import restore, seed
from tests.integration.conftest import LocalControlPlane

pytestmark = pytest.mark.nodes(1)

# The local control plane's inventory puts the script, its cron file and the snapshots under each node's private
# /etc/kubernetes (kclocal.cluster.write_inventory); SNAPSHOT_DIR is that directory seen from the host, set by cp.
SNAPSHOT_DIR = Path("/nonexistent")
SCRIPT = "/etc/kubernetes/kubecompass-etcd-snapshot"
CRON_FILE = "/etc/kubernetes/kubecompass-etcd-snapshot.cron"
NAMESPACE = "default"
BEFORE = "kubecompass-snapshot-before"
AFTER = "kubecompass-snapshot-after"
PLAYBOOK = """---
- name: etcd snapshots
  hosts: k8s_clusters
  gather_facts: false
  tasks:
    - name: Remediate etcd snapshots
      ansible.builtin.include_role:
        name: kubecompass.readiness.etcd_snapshots
        tasks_from: remediate
"""

STORY: dict = {}


def configmap(name, marker):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE},
            "data": {"marker": marker}}


@pytest.fixture(scope="module")
def cp(control_planes, tmp_path_factory):
    control_plane: LocalControlPlane = control_planes.get(1)
    bin_dir = Path(cluster.read_state(control_plane.paths)["bin_dir"])
    missing = [name for name in ("etcd", "etcdctl", "etcdutl") if not (bin_dir / name).is_file()]
    if missing:
        pytest.fail(f"the local control plane's binaries lack {', '.join(missing)} ({bin_dir}): they are tool "
                    "directives in tests/cluster/go.mod and BINARIES in tests/cluster/kclocal/build.py; rebuild")
    node = control_plane.nodes[0]["name"]
    global SNAPSHOT_DIR
    SNAPSHOT_DIR = control_plane.node_root(node) / cluster.ETCD_SNAPSHOT_DIR.lstrip("/")
    work = tmp_path_factory.mktemp("etcd-snapshots")
    (work / "play.yml").write_text(PLAYBOOK)
    (work / "vars.json").write_text(json.dumps({
        "etcd_snapshots_etcdctl": str(bin_dir / "etcdctl"),
        "etcd_snapshots_etcdutl": str(bin_dir / "etcdutl"),
        "etcd_snapshots_script_path": SCRIPT,
        "etcd_snapshots_cron_file": CRON_FILE,
        "etcd_snapshots_service_manager": "cron",
    }))
    created = [p for p in (SNAPSHOT_DIR.parent, SNAPSHOT_DIR) if not p.exists()]
    # Snapshots named after the local control plane's node can only be left over from an interrupted run of this test.
    for leftover in SNAPSHOT_DIR.glob(f"etcd-snapshot-{node}-*") if SNAPSHOT_DIR.is_dir() else ():
        leftover.unlink()
    existing = set(os.listdir(SNAPSHOT_DIR)) if SNAPSHOT_DIR.is_dir() else set()
    client = control_plane.client()
    for name in (BEFORE, AFTER):
        with contextlib.suppress(ApiError):
            client.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/configmaps/{name}")
    STORY.update(node=node, bin_dir=bin_dir, work=work, preexisting=bool(existing - {".lock"}),
                 marker=f"before-{os.urandom(6).hex()}", late_marker=f"after-{os.urandom(6).hex()}")
    seed.create(client, configmap(BEFORE, STORY["marker"]))
    yield control_plane
    for name in (BEFORE, AFTER):
        with contextlib.suppress(ApiError):
            client.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/configmaps/{name}")
    if SNAPSHOT_DIR.is_dir():
        for name in set(os.listdir(SNAPSHOT_DIR)) - existing:
            (SNAPSHOT_DIR / name).unlink()
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()
    for path in (SCRIPT, CRON_FILE):
        with contextlib.suppress(FileNotFoundError):
            (control_plane.node_root(node) / path.lstrip("/")).unlink()


def playbook(cp, *args, timeout=900):
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), str(STORY["work"] / "play.yml"),
           "-e", f"@{STORY['work'] / 'vars.json'}", *args]
    result = run(cmd, env=ansible_env(), timeout=timeout)
    return result, result.stdout + result.stderr


def recap_changed(output):
    return int(re.search(r"localcp\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def node_file(cp, path):
    return cp.node_root(STORY["node"]) / path.lstrip("/")


def snapshots():
    if not SNAPSHOT_DIR.is_dir():
        return []
    prefix = f"etcd-snapshot-{STORY['node']}-"
    return sorted(name for name in os.listdir(SNAPSHOT_DIR) if name.startswith(prefix))


def kc_dr_006(cp, tmp_path, *extra):
    report_dir = tmp_path / "reports"
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), "playbooks/assess.yml", "--check",
                  "-e", f"kubecompass_report_dir={report_dir}", "-e", json.dumps(
                      {"kubecompass_include_checks": ["KC-DR-006"]}), *extra], env=ansible_env(), cwd=REPO,
                 timeout=600)
    assert (report_dir / "kubecompass-report.json").is_file(), result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads((report_dir / "kubecompass-report.json").read_text())
    return next(f for f in report["clusters"][0]["findings"] if f["check_id"] == "KC-DR-006")


# -- the story -------------------------------------------------------------------------------------------------------

def test_without_snapshots_kc_dr_006_fails(cp, tmp_path):
    # The directory is the test node's own (under its /etc/kubernetes): the fixture cleared what an earlier run left.
    assert not STORY["preexisting"], f"{SNAPSHOT_DIR} holds files the fixture did not expect"
    finding = kc_dr_006(cp, tmp_path)
    assert finding["verdict"] == "fail", finding


def test_check_mode_on_a_fresh_node_changes_nothing_and_shows_the_diff(cp):
    before = snapshots()
    result, output = playbook(cp, "--check", "--diff")
    assert result.returncode == 0, output[-5000:]
    assert recap_changed(output) > 0
    assert "check mode: would take a first snapshot" in output
    assert "+RETENTION_COUNT=28" in output and "root /etc/kubernetes/kubecompass-etcd-snapshot" in output
    assert not node_file(cp, SCRIPT).exists() and not node_file(cp, CRON_FILE).exists()
    assert snapshots() == before


def test_remediation_installs_the_schedule_takes_a_verified_snapshot_and_passes_kc_dr_006(cp):
    result, output = playbook(cp, "--diff")
    assert result.returncode == 0, output[-6000:]
    assert recap_changed(output) > 0
    assert "Take the first snapshot (none fresh and verified yet) on %s" % STORY["node"] in output
    assert "KC-DR-006 pass" in output
    script = node_file(cp, SCRIPT)
    assert stat.S_IMODE(script.stat().st_mode) == 0o700
    assert f"ENDPOINT=https://{cp.nodes[0]['ip']}:2379" in script.read_text()  # from etcd's own manifest
    assert node_file(cp, CRON_FILE).read_text().splitlines()[-1] == f"0 */6 * * * root {SCRIPT} >/dev/null"
    assert stat.S_IMODE(SNAPSHOT_DIR.stat().st_mode) == 0o700
    taken = snapshots()
    assert len(taken) == 1 and re.fullmatch(r"etcd-snapshot-%s-\d{8}T\d{6}Z\.db" % STORY["node"], taken[0])
    assert stat.S_IMODE((SNAPSHOT_DIR / taken[0]).stat().st_mode) == 0o600
    assert not [n for n in os.listdir(SNAPSHOT_DIR) if n.startswith(".") and n != ".lock"]


def test_a_second_run_changes_nothing(cp):
    before = snapshots()
    result, output = playbook(cp)
    assert result.returncode == 0, output[-5000:]
    assert recap_changed(output) == 0, output[-5000:]
    assert snapshots() == before


def test_check_mode_shows_a_changed_setting_and_changes_nothing(cp):
    script = node_file(cp, SCRIPT).read_bytes()
    before = snapshots()
    result, output = playbook(cp, "--check", "--diff", "-e", "etcd_snapshots_retention_count=5")
    assert result.returncode == 0, output[-5000:]
    assert recap_changed(output) == 1
    assert "-RETENTION_COUNT=28" in output and "+RETENTION_COUNT=5" in output
    assert node_file(cp, SCRIPT).read_bytes() == script and snapshots() == before


def test_the_installed_script_runs_over_ssh(cp):
    before = snapshots()
    time.sleep(1.1)  # a new UTC second, a new name
    result = run([str(VENV_BIN / "ansible"), STORY["node"], "-i", str(cp.inventory), "-m", "ansible.builtin.command",
                  "-a", SCRIPT], env=ansible_env(), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "kubecompass-etcd-snapshot: saved " in result.stdout and "2 kept, 0 removed" in result.stdout
    after = snapshots()
    assert len(after) == len(before) + 1
    STORY["newest"] = SNAPSHOT_DIR / after[-1]
    # Written after the snapshot: the restored etcd must not have it.
    seed.create(cp.client(), configmap(AFTER, STORY["late_marker"]))


def _range(url, key):
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    request = urllib.request.Request(f"{url}/v3/kv/range", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [base64.b64decode(kv["value"]) for kv in json.loads(response.read()).get("kvs") or []]


def test_the_snapshot_restores_into_a_fresh_etcd_with_the_key_written_before_it(cp, tmp_path):
    bin_dir, snapshot = STORY["bin_dir"], STORY["newest"]
    status = subprocess.run([str(bin_dir / "etcdutl"), "snapshot", "status", str(snapshot), "-w", "json"],
                            capture_output=True, text=True, check=True)
    assert json.loads(status.stdout.strip().splitlines()[-1])["totalKey"] > 0
    with restore.restored_etcd(bin_dir, snapshot, tmp_path) as client_url:
        [value] = _range(client_url, f"/registry/configmaps/{NAMESPACE}/{BEFORE}")
        assert STORY["marker"].encode() in value  # the ConfigMap as the API server stored it
        assert _range(client_url, f"/registry/configmaps/{NAMESPACE}/{AFTER}") == []


def test_kc_dr_006_passes_in_the_assessment(cp, tmp_path):
    finding = kc_dr_006(cp, tmp_path)
    assert finding["verdict"] == "pass", finding
    # The node names its newest snapshot by the path it sees (its own /etc/kubernetes).
    assert f"{cluster.ETCD_SNAPSHOT_DIR}/{STORY['newest'].name}" in json.dumps(finding), finding


def test_a_node_that_cannot_be_read_is_unknown_not_pass(cp, tmp_path):
    # Fresh snapshots exist (the tests above), but the node's SSH port is wrong: nothing can be said of them.
    finding = kc_dr_006(cp, tmp_path, "-e", "ansible_port=1")
    assert finding["verdict"] == "unknown", finding
    assert STORY["node"] in json.dumps(finding) and "etcd snapshots not read" in json.dumps(finding), finding
