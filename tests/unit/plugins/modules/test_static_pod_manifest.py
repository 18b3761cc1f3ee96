"""static_pod_manifest planning on files: bad file entries are clear errors, not tracebacks."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import static_pod_manifest as module
from kclocal import manifests


def params(tmp_path, **overrides):
    path = tmp_path / "manifests" / "kube-apiserver.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(manifests.apiserver_manifest(manifests.Node("cp1", "127.0.10.1", "198.51.100.1"))))
    base = {"manifest": str(path), "set_flags": {}, "remove_flags": [], "volumes": [], "files": []}
    base.update(overrides)
    return base


@pytest.mark.parametrize("entry,message", [
    ({"content": "x"}, r"files\[0\] needs path"),
    ({"path": "/etc/kubernetes/p.yaml"}, r"files\[0\] needs content"),
    ({"path": "/etc/kubernetes/p.yaml", "content": "x", "mode": "rw"}, r"mode 'rw' is not octal"),
])
def test_bad_file_entries(tmp_path, entry, message):
    with pytest.raises(KubeCompassError, match=message):
        module.plan(params(tmp_path, files=[entry]))


def test_plan_lists_flag_and_file_changes_without_writing(tmp_path):
    target = tmp_path / "policy.yaml"
    path, before, after, files, directories, changes = module.plan(params(
        tmp_path, set_flags={"profiling": "false"}, files=[{"path": str(target), "content": "x", "mode": "0600"}]))
    digest = hashlib.sha256(b"x").hexdigest()[:16]
    assert changes == ["add --profiling=false", "annotate checksum.kubecompass.io/policy.yaml=%s" % digest,
                       "write %s" % target]
    assert "--profiling=false" in after and "--profiling=false" not in before
    assert yaml.safe_load(after)["metadata"]["annotations"]["checksum.kubecompass.io/policy.yaml"] == digest
    assert directories == []
    assert not target.exists() and (tmp_path / "manifests" / "kube-apiserver.yaml").read_text() == before == module_text(path)


def test_a_new_file_content_changes_the_manifest_so_the_api_server_restarts(tmp_path):
    """A mounted file is loaded at start only: its digest annotation makes kubelet restart the pod."""
    target = tmp_path / "enc.yaml"
    first = params(tmp_path, files=[{"path": str(target), "content": "one", "mode": "0600"}])
    _path, before, after, _files, _dirs, _changes = module.plan(first)
    (tmp_path / "manifests" / "kube-apiserver.yaml").write_text(after)
    target.write_text("one")
    assert module.plan(first)[-1] == []
    _path, _before, again, _files, _dirs, changes = module.plan(
        params(tmp_path, files=[{"path": str(target), "content": "two", "mode": "0600"}]))
    assert again != after and changes[0].startswith("annotate checksum.kubecompass.io/enc.yaml=")


def test_a_missing_log_directory_is_planned_0700(tmp_path):
    log_dir = tmp_path / "audit"
    volume = {"name": "audit-log", "host_path": str(log_dir), "mount_path": "/var/log/kubernetes/audit",
              "read_only": False, "type": "DirectoryOrCreate"}
    *_rest, directories, changes = module.plan(params(tmp_path, volumes=[volume]))
    assert directories == [str(log_dir)] and "create directory %s (0700)" % log_dir in changes
    log_dir.mkdir()
    assert module.plan(params(tmp_path, volumes=[volume]))[4] == []


def module_text(path):
    with open(path) as handle:
        return handle.read()


def test_a_file_in_the_directory_kubelet_reads_is_refused(tmp_path):
    manifests = tmp_path / "manifests"
    with pytest.raises(KubeCompassError, match="which kubelet reads as pods"):
        module.plan(params(tmp_path, files=[{"path": str(manifests / "policy.yaml"), "content": "x"}]))


def test_a_secret_file_with_a_loose_mode_is_corrected_and_never_shown(tmp_path):
    key_file = tmp_path / "enc.yaml"
    key_file.write_text("KEYMATERIAL")
    key_file.chmod(0o644)
    planned = params(tmp_path, secret_files=[{"path": str(key_file), "content": "KEYMATERIAL", "mode": "0600"}])
    *_rest, files, _dirs, changes = module.plan(planned)
    assert "set %s to 0600 root:root" % key_file in changes and files[0]["secret"] is True
    key_file.chmod(0o600)
    *_rest, files, _dirs, changes = module.plan(planned)
    assert files == [] and not any("enc.yaml" in change and "write" in change for change in changes)


def test_a_pending_change_of_a_killed_run_is_restored_when_the_node_is_unhealthy(tmp_path):
    backups = tmp_path / "backups"
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    manifest.parent.mkdir()
    manifest.write_text("broken by the killed run")
    stamp = backups / "20261122T000000.000000Z"
    stamp.mkdir(parents=True)
    (stamp / "manifest").write_text("the good manifest")
    (stamp / "key").write_text("OLDKEY")
    key_file = tmp_path / "enc.yaml"
    key_file.write_text("NEWKEY")
    new_file = tmp_path / "created.yaml"
    new_file.write_text("x")
    (backups / "pending-kube-apiserver.yaml.json").write_text(json.dumps({
        "backup": str(stamp), "copies": {str(manifest): str(stamp / "manifest"), str(key_file): str(stamp / "key")},
        "secrets": [str(key_file)], "created": [str(new_file)]}))
    health = iter([False, True])
    note = module.recover_pending({"backup_dir": str(backups), "timeout": 5}, str(manifest), lambda: next(health))
    assert "restored first" in note
    assert manifest.read_text() == "the good manifest" and key_file.read_text() == "OLDKEY"
    assert not new_file.exists() and not (backups / "pending-kube-apiserver.yaml.json").exists()
    assert not (stamp / "key").exists(), "a retired key must not stay in the backups"


def test_a_pending_marker_of_a_healthy_node_is_just_forgotten(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    marker = backups / "pending-kube-apiserver.yaml.json"
    marker.write_text(json.dumps({"backup": "b", "copies": {}, "secrets": [], "created": []}))
    note = module.recover_pending({"backup_dir": str(backups), "timeout": 5},
                                  str(tmp_path / "manifests" / "kube-apiserver.yaml"), lambda: True)
    assert "running healthy" in note and not marker.exists()
