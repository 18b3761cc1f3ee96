"""`down` leaves nothing running, mounted or created outside the state directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kclocal import cluster


def _processes_referencing(root: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if root in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def _processes_marked(root: str) -> list[str]:
    """Containers carry the state directory in their environment (their command lines do not name it)."""
    marker = f"{cluster.PROCESS_MARKER}={root}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(f"{pid}: {Path(f'/proc/{pid}/comm').read_text().strip()}")
        except OSError:
            continue
    return found


def _mounts_referencing(root: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            text = Path(f"/proc/{pid}/mountinfo").read_text()
        except OSError:
            continue
        found += [f"{pid}: {line.split()[4]}" for line in text.splitlines() if root in line]
    return found


@pytest.mark.last
@pytest.mark.nodes(3)
def test_down_leaves_nothing_behind(control_plane):
    state = cluster.read_state(control_plane.paths)
    root = str(control_plane.paths.root)
    namespaces = {n["mnt_ns"] for n in state["nodes"]}
    created = state["created_mountpoints"]
    supervisors = [n["supervisor_pid"] for n in state["nodes"]]
    assert _processes_referencing(root), "precondition: the control plane runs"
    assert {line.split(": ")[1] for line in _processes_marked(root)} >= {
        "kube-apiserver", "etcd", "kube-controller", "kube-scheduler"}, "precondition: containers are marked"

    assert cluster.down() == []

    assert _processes_referencing(root) == []
    assert _mounts_referencing(root) == []
    in_node_namespaces = [pid for pid in filter(str.isdigit, os.listdir("/proc"))
                          if cluster._ns_inode(int(pid)) in namespaces]
    assert in_node_namespaces == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in supervisors)
    for path in created:
        assert not Path(path).exists(), f"{path} was created by up and left behind"
    assert _processes_marked(root) == []
    assert not cluster.is_running(control_plane.paths)
