"""The node-side safety mechanics: backups outside kubelet's directory, atomic writes, flag matching, waiting."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import rollout
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError


def test_backup_dir_inside_the_manifests_directory_is_refused(tmp_path):
    manifests = tmp_path / "etc/kubernetes/manifests"
    manifests.mkdir(parents=True)
    for inside in (manifests, manifests / "backup"):
        with pytest.raises(KubeCompassError, match="which kubelet reads"):
            rollout.check_backup_dir(str(inside), [str(manifests)])
    (tmp_path / "link").symlink_to(manifests)
    with pytest.raises(KubeCompassError):
        rollout.check_backup_dir(str(tmp_path / "link" / "x"), [str(manifests)])
    assert rollout.check_backup_dir(str(tmp_path / "var/backups"), [str(manifests)]).endswith("var/backups")


def test_atomic_write_keeps_mode_and_leaves_no_extra_file(tmp_path):
    target = tmp_path / "kube-apiserver.yaml"
    target.write_text("old")
    os.chmod(target, 0o600)
    rollout.atomic_write(str(target), b"new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kube-apiserver.yaml"]
    fresh = tmp_path / "policy.yaml"
    rollout.atomic_write(str(fresh), b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_atomic_write_failure_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "kube-apiserver.yaml"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(rollout.os, "replace", broken_replace)
    with pytest.raises(OSError):
        rollout.atomic_write(str(target), b"new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kube-apiserver.yaml"]


def test_temporary_files_are_dot_files_kubelet_ignores(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(rollout.os, "replace", spy)
    rollout.atomic_write(str(tmp_path / "kube-apiserver.yaml"), b"x")
    assert seen and all(name.startswith(".") for name in seen)


def test_backups_are_copies_in_a_private_timestamped_directory(tmp_path):
    manifest = tmp_path / "kube-apiserver.yaml"
    manifest.write_text("spec")
    target, copies = rollout.backup_files([str(manifest), str(tmp_path / "missing.yaml")], str(tmp_path / "b"))
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    assert list(copies) == [str(manifest)] and Path(copies[str(manifest)]).read_text() == "spec"


def fake_proc(root, processes):
    for pid, (comm, argv) in processes.items():
        directory = root / str(pid)
        directory.mkdir()
        (directory / "comm").write_text(comm + "\n")
        (directory / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    return str(root)


def test_running_flags_are_those_of_this_nodes_apiserver(tmp_path):
    proc = fake_proc(tmp_path, {
        10: ("kube-apiserver", ["kube-apiserver", "--bind-address=127.0.10.1", "--profiling=true"]),
        11: ("kube-apiserver", ["kube-apiserver", "--bind-address=127.0.10.2", "--profiling=false"]),
        12: ("etcd", ["etcd", "--name=a"]),
    })
    flags = rollout.running_apiserver_flags({"bind-address": "127.0.10.2", "advertise-address": None}, proc)
    assert flags["profiling"] == "false"
    assert rollout.running_apiserver_flags({"bind-address": "127.0.10.9"}, proc) is None


def test_flags_applied():
    running = {"profiling": "false", "anonymous-auth": "true"}
    assert rollout.flags_applied(running, {"profiling": "false"})
    assert not rollout.flags_applied(running, {"profiling": "false"}, removed=("anonymous-auth",))
    assert not rollout.flags_applied(running, {"profiling": "true"})
    assert not rollout.flags_applied(None, {})


def test_wait_until_times_out_on_the_clock():
    now = [0.0]
    calls = []

    def predicate():
        calls.append(now[0])
        return False

    assert rollout.wait_until(predicate, 10, interval=3, clock=lambda: now[0],
                              sleep=lambda s: now.__setitem__(0, now[0] + s)) is False
    assert calls == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert rollout.wait_until(lambda: True, 0) is True


def test_wait_until_notices_health_within_a_quarter_second():
    """Every node change waits on it (15 API server restarts in a 3-node remediation): a coarse poll adds half
    its interval to each restart on average."""
    now = [0.0]
    healthy_at = 7.1
    assert rollout.wait_until(lambda: now[0] >= healthy_at, 300, clock=lambda: now[0],
                              sleep=lambda s: now.__setitem__(0, now[0] + s)) is True
    assert now[0] - healthy_at <= 0.25


def test_endpoint_unreachable_is_unhealthy():
    assert rollout.endpoint_healthy("https://127.0.10.99:6443", None) is False
