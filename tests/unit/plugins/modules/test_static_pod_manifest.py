"""static_pod_manifest planning on files: bad file entries are clear errors, not tracebacks."""

from __future__ import annotations

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
    path, before, after, files, changes = module.plan(params(
        tmp_path, set_flags={"profiling": "false"}, files=[{"path": str(target), "content": "x", "mode": "0600"}]))
    assert changes == ["add --profiling=false", "write %s" % target]
    assert "--profiling=false" in after and "--profiling=false" not in before
    assert not target.exists() and (tmp_path / "kube-apiserver.yaml").read_text() == before == module_text(path)


def module_text(path):
    with open(path) as handle:
        return handle.read()
