"""etcd_snapshot_status as Ansible runs it: a fake etcdutl on disk, the result JSON, failures only for bad input."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubecompass.readiness.plugins.modules import etcd_snapshot_status

FAKE_ETCDUTL = r'''#!{python}
import json, sys
with open({calls!r}, "a") as handle:
    handle.write(" ".join(sys.argv[1:]) + "\n")
if sys.argv[1:3] != ["snapshot", "status"] or sys.argv[4:] != ["-w", "json"]:
    sys.exit(2)
data = open(sys.argv[3], "rb").read()
if b"NOT-BOLT" in data:
    print("Error: invalid database", file=sys.stderr)
    sys.exit(1)
print(json.dumps({{"hash": 1234, "revision": 99, "totalKey": 7, "totalSize": len(data) - 32, "version": "3.6.0"}}))
'''


def snapshot_bytes(marker=b""):
    body = (marker + os.urandom(1024))[:1024]
    return body + hashlib.sha256(body).digest()


@pytest.fixture
def etcdutl(tmp_path):
    tool = tmp_path / "etcdutl"
    tool.write_text(FAKE_ETCDUTL.format(python=sys.executable, calls=str(tmp_path / "calls")))
    tool.chmod(0o755)
    return tool


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        etcd_snapshot_status.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_the_newest_snapshot_is_read_and_nothing_changes(tmp_path, capsys, etcdutl):
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    (snaps / "etcd-snapshot-cp1-20261122T000000Z.db").write_bytes(snapshot_bytes())
    newest = snaps / "etcd-snapshot-cp1-20261122T060000Z.db"
    newest.write_bytes(snapshot_bytes())
    os.utime(snaps / "etcd-snapshot-cp1-20261122T000000Z.db", (1, 1))
    rc, result = run(capsys, dir=str(snaps), etcdutl=str(etcdutl), schedule="0 */6 * * *", _ansible_check_mode=True)
    assert rc == 0 and result["changed"] is False and result["healthy"] is True
    assert (result["path"], result["revision"], result["total_keys"], result["hash"], result["db_size"]) == (
        str(newest), 99, 7, 1234, 1024)
    assert result["checksum"] == "ok" and result["fresh"] is True and result["count"] == 2
    assert {"owner", "group", "mode"} <= set(result)  # Ansible adds the attributes of the file at path
    assert (tmp_path / "calls").read_text() == "snapshot status %s -w json\n" % newest


def test_an_empty_directory_and_a_missing_binary_are_problems_not_failures(tmp_path, capsys):
    (tmp_path / "snaps").mkdir()
    rc, result = run(capsys, dir=str(tmp_path / "snaps"), etcdutl=str(tmp_path / "missing"))
    assert rc == 0 and result["healthy"] is False
    assert result["problems"] == [
        "no etcd snapshot in %s" % (tmp_path / "snaps"),
        "etcdutl not found or not executable at %s: the snapshot cannot be checked with `etcdutl snapshot status` "
        "(it ships in the etcd release next to etcd and etcdctl)" % (tmp_path / "missing")]


def test_a_snapshot_the_tool_rejects_is_unhealthy(tmp_path, capsys, etcdutl):
    (tmp_path / "etcd-snapshot-cp1-1.db").write_bytes(snapshot_bytes(b"NOT-BOLT"))
    rc, result = run(capsys, dir=str(tmp_path), etcdutl=str(etcdutl))
    assert rc == 0 and result["verified"] is False and "invalid database" in result["message"]


@pytest.mark.parametrize("args, message", [
    ({"dir": "/etc/kubernetes/manifests"}, "kubelet runs every file there as a pod"),
    ({"dir": "/var/backups/kubecompass/etcd", "schedule": "0 0 30 2 *"}, "never fires"),
    ({"dir": "/var/backups/kubecompass/etcd", "margin_minutes": -5}, "margin_minutes must be 0 or more"),
])
def test_bad_input_fails_with_one_line(capsys, args, message):
    rc, result = run(capsys, **args)
    assert rc == 1 and result["failed"] is True and message in result["msg"] and result["category"] == "input"
