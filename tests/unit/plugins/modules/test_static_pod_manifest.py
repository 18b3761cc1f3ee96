"""static_pod_manifest planning on files: bad file entries are clear errors, not tracebacks."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import static_pod_change as module
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import static_pod_manifest
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


def test_a_marker_without_proof_is_not_accepted_on_a_merely_healthy_node(tmp_path):
    """A marker of an older version records nothing to prove the change by: its backup is restored."""
    backups = tmp_path / "backups"
    stamp = backups / "20261122T000000.000000Z"
    stamp.mkdir(parents=True)
    (stamp / "manifest").write_text("the good manifest")
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    manifest.parent.mkdir()
    manifest.write_text("written by the killed run")
    marker = backups / "pending-kube-apiserver.yaml.json"
    marker.write_text(json.dumps({"backup": str(stamp), "copies": {str(manifest): str(stamp / "manifest")},
                                  "secrets": [], "created": []}))
    note = module.recover_pending({"backup_dir": str(backups), "timeout": 5}, str(manifest), lambda: True)
    assert "restored first" in note and not marker.exists()
    assert manifest.read_text() == "the good manifest"


# -- interrupted runs and full disks (issue 13 items 3 and 4) -------------------------------------------------------

OLD_PID, NEW_PID = 100, 200


class _Module:
    def __init__(self, params):
        self.params = params


def change_params(tmp_path, **overrides):
    """A change of --profiling and of a key file that holds OLDKEY, with its backups under tmp_path/backups."""
    key_file = tmp_path / "keys" / "enc.yaml"
    key_file.parent.mkdir(exist_ok=True)
    if not key_file.exists():
        key_file.write_text("OLDKEY")
        key_file.chmod(0o600)
    base = params(tmp_path, set_flags={"profiling": "false"},
                  secret_files=[{"path": str(key_file), "content": "NEWKEY", "mode": "0600"}],
                  backup_dir=str(tmp_path / "backups"), endpoint="https://127.0.0.1:1", ca_cert="/ca", client_cert=None,
                  client_key=None, timeout=1, inject_flags=None, node_name="cp1")
    base.update(overrides)
    return base


@pytest.fixture
def node(monkeypatch):
    """A healthy node whose running API server is the one named by ``node.process`` ("old" or "new")."""
    class Node:
        process = "old"

    def running(identity, component, proc="/proc"):
        if Node.process == "old":
            return OLD_PID, {"bind-address": identity.get("bind-address")}
        return NEW_PID, {"bind-address": identity.get("bind-address"), "profiling": "false"}

    monkeypatch.setattr(module.rollout, "running_component", running)
    monkeypatch.setattr(module.rollout, "endpoint_healthy", lambda *args, **kwargs: True)
    return Node


def files_below(directory):
    return {str(p): p.read_bytes() for p in directory.rglob("*") if p.is_file()} if directory.exists() else {}


def killed_mid_change(tmp_path, monkeypatch, p):
    """Run the change in a child process that is SIGKILLed while it waits for the new API server (the manifest and
    the key file are written, the old process still runs)."""
    import os
    import signal

    monkeypatch.setattr(module.rollout, "wait_until", lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL))
    planned = module.plan(p)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child is killed
        try:
            module.apply(_Module(p), *planned[:5])
        finally:
            os._exit(3)
    _pid, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    monkeypatch.undo()


@pytest.mark.parametrize("room", ["backups fit, marker does not", "key backup half written"])
def test_a_full_backup_disk_changes_nothing_leaves_no_key_copy_and_does_not_wedge_the_node(
        tmp_path, monkeypatch, node, room):
    from tests.fakes.full_disk import FullDisk

    p = change_params(tmp_path)
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    before = manifest.read_text()
    planned = module.plan(p)
    backups = tmp_path / "backups"
    budget = len(before.encode()) + (len(b"OLDKEY") if room.startswith("backups fit") else 3)
    disk = FullDisk(backups, budget).install(monkeypatch)
    with pytest.raises(KubeCompassError) as raised:
        module.apply(_Module(p), *planned[:5])
    message = str(raised.value)
    assert "\n" not in message and "backup_dir %s" % backups in message and "errno 28" in message, message
    assert "nothing was changed" in message
    assert manifest.read_text() == before and (tmp_path / "keys" / "enc.yaml").read_text() == "OLDKEY"
    left = files_below(backups)
    assert not any(b"OLD" in data for data in left.values()), "a key-file backup outlived the failed run"
    assert not any("pending" in name or ".tmp" in name for name in left), left
    disk.budget = 1 << 30  # space freed: the next run is not wedged by a half-written marker
    assert module.recover_pending(p, str(manifest), lambda: True) is None


@pytest.mark.parametrize("text", ["", '{"backup": "/var/lib/kubecompass/back', "[1, 2]"])
def test_an_unreadable_marker_is_an_interrupted_change_of_unknown_content(tmp_path, text):
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "pending-kube-apiserver.yaml.json").write_text(text)
    p = change_params(tmp_path)
    for probe in (module.recover_pending, module.pending_change):
        with pytest.raises(KubeCompassError) as raised:
            probe(p, p["manifest"], lambda: True)
        message = str(raised.value)
        assert "interrupted change of unknown content: inspect %s" % backups in message and "\n" not in message
    assert (backups / "pending-kube-apiserver.yaml.json").read_text() == text, "the evidence is left for a human"


def test_a_killed_run_is_not_accepted_while_the_old_api_server_still_runs(tmp_path, monkeypatch, node):
    p = change_params(tmp_path)
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    before = manifest.read_text()
    killed_mid_change(tmp_path, monkeypatch, p)
    assert "--profiling=false" in manifest.read_text()
    node.process = "old"  # healthy, but the process that runs is the one from before the change
    monkeypatch.setattr(module.rollout, "endpoint_healthy", lambda *args, **kwargs: True)
    monkeypatch.setattr(module.rollout, "running_component", lambda identity, component, proc="/proc": (
        OLD_PID, {"bind-address": identity.get("bind-address")}))
    assert module.pending_change(p, p["manifest"], lambda: True), "check mode must report the unproven change"
    note = module.recover_pending(p, p["manifest"], lambda: True)
    assert "restored" in note and "running healthy" not in note
    assert manifest.read_text() == before and (tmp_path / "keys" / "enc.yaml").read_text() == "OLDKEY"
    assert not list((tmp_path / "backups").glob("pending-*"))
    assert not any(b"OLDKEY" in data for data in files_below(tmp_path / "backups").values())


def test_a_killed_run_is_accepted_once_the_new_process_carries_the_flags(tmp_path, monkeypatch, node):
    p = change_params(tmp_path)
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    killed_mid_change(tmp_path, monkeypatch, p)
    after = manifest.read_text()
    monkeypatch.setattr(module.rollout, "endpoint_healthy", lambda *args, **kwargs: True)
    monkeypatch.setattr(module.rollout, "running_component", lambda identity, component, proc="/proc": (
        NEW_PID, {"bind-address": identity.get("bind-address"), "profiling": "false"}))
    assert module.pending_change(p, p["manifest"], lambda: True) is None
    note = module.recover_pending(p, p["manifest"], lambda: True)
    assert "carries" in note
    assert manifest.read_text() == after and (tmp_path / "keys" / "enc.yaml").read_text() == "NEWKEY"
    assert not list((tmp_path / "backups").glob("pending-*"))
    assert not any(b"OLDKEY" in data for data in files_below(tmp_path / "backups").values())


def test_check_mode_reports_the_unproven_change_of_a_killed_run(tmp_path, monkeypatch, node, capsys):
    from ansible.module_utils.testing import patch_module_args

    p = change_params(tmp_path)
    killed_mid_change(tmp_path, monkeypatch, p)
    monkeypatch.setattr(module.rollout, "endpoint_healthy", lambda *args, **kwargs: True)
    monkeypatch.setattr(module.rollout, "running_component", lambda identity, component, proc="/proc": (
        OLD_PID, {"bind-address": identity.get("bind-address")}))
    args = {key: value for key, value in p.items() if value is not None}
    snapshot = files_below(tmp_path)
    with patch_module_args(dict(args, _ansible_check_mode=True)), pytest.raises(SystemExit):
        static_pod_manifest.main()
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] is True and any("interrupted run" in line for line in result["changes"]), result
    assert files_below(tmp_path) == snapshot


def test_a_full_disk_while_writing_the_key_restores_and_drops_the_marker_and_the_key_copy(tmp_path, monkeypatch, node):
    from tests.fakes.full_disk import FullDisk

    p = change_params(tmp_path)
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    before = manifest.read_text()
    planned = module.plan(p)
    FullDisk(tmp_path / "keys", 2).install(monkeypatch)
    with pytest.raises(KubeCompassError, match=r"writing the change failed \(No space left on device\); every file"):
        module.apply(_Module(p), *planned[:5])
    assert manifest.read_text() == before and (tmp_path / "keys" / "enc.yaml").read_text() == "OLDKEY"
    assert sorted(path.name for path in (tmp_path / "keys").iterdir()) == ["enc.yaml"]
    left = files_below(tmp_path / "backups")
    assert not any("pending" in name for name in left) and not any(b"OLDKEY" in data for data in left.values())


def test_the_manifest_digests_before_and_after_are_returned_for_the_change_record(tmp_path, node, capsys):
    from ansible.module_utils.testing import patch_module_args

    p = change_params(tmp_path)
    with open(p["manifest"], "rb") as handle:
        before = handle.read()
    args = {key: value for key, value in p.items() if value is not None}
    with patch_module_args(dict(args, _ansible_check_mode=True)), pytest.raises(SystemExit):
        static_pod_manifest.main()
    result = json.loads(capsys.readouterr().out)
    after = module.plan(p)[2].encode()
    assert result["digest_before"] == "sha256:" + hashlib.sha256(before).hexdigest()
    assert result["digest_after"] == "sha256:" + hashlib.sha256(after).hexdigest() != result["digest_before"]
