"""static_pod_manifest planning on files: bad file entries are clear errors, not tracebacks."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import static_pod_manifest as module
from kclocal import manifests


def params(tmp_path, **overrides):
    path = tmp_path / "kube-apiserver.yaml"
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
    assert not target.exists() and (tmp_path / "kube-apiserver.yaml").read_text() == before == module_text(path)


def test_a_new_file_content_changes_the_manifest_so_the_api_server_restarts(tmp_path):
    """A mounted file is loaded at start only: its digest annotation makes kubelet restart the pod."""
    target = tmp_path / "enc.yaml"
    first = params(tmp_path, files=[{"path": str(target), "content": "one", "mode": "0600"}])
    _path, before, after, _files, _dirs, _changes = module.plan(first)
    (tmp_path / "kube-apiserver.yaml").write_text(after)
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
