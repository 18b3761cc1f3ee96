"""kube-bench (v0.14.0, built from the Go module proxy) run against one node of the local control plane.

A node's files live in its private tree (``nodes/<name>/root``), not at the paths the benchmark audits. kube-bench runs
in a mount namespace of its own where the node's ``/etc/kubernetes``, ``/var/lib/etcd`` and ``/var/lib/kubelet`` are
bind-mounted at those paths, so its audits (``stat``, ``find``, ``ps``) see what a shell on that node would see. The
processes are the host's: with three nodes, ``ps -ef | grep kube-apiserver`` lists all three apiservers, and kube-bench
reads the first line's flags — run it on a one-node control plane, or read its flag verdicts as the first node's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

from kclocal import build, cluster

BENCHMARK = "cis-1.11"
# The control-plane targets; "node" audits a kubelet, which this control plane does not run.
TARGETS = ("master", "etcd", "controlplane")
NODE_DIRS = ("etc/kubernetes", "var/lib/etcd", "var/lib/kubelet")
# What kube-bench's `ps -C` must find, or it audits a literal "$apiserverbin" and FAILs every flag item: the
# process names (comm, 15 characters) of the components once they run.
COMPONENTS = ("kube-apiserver", "kube-controller", "kube-scheduler", "etcd")


class KubeBenchError(Exception):
    """kube-bench did not produce a report."""


def run(node_root: Path, targets: tuple[str, ...] = TARGETS, checks: tuple[str, ...] = (),
        timeout: float = 300) -> dict[str, Any]:
    """kube-bench's JSON report for the node whose private tree is ``node_root``."""
    bin_dir = build.KUBE_BENCH.ensure()
    # Right after a start or a restart, a component may still be in its launcher under another name.
    cluster.wait_for(f"{', '.join(COMPONENTS)} to run", lambda: all(subprocess.run(
        ["ps", "-C", name, "-o", "pid="], capture_output=True, check=False).returncode == 0
        for name in COMPONENTS), 60, interval=0.5)
    mounts, created = [], []
    for relative in NODE_DIRS:
        source = node_root / relative
        if not source.is_dir():
            continue
        target = Path("/") / relative
        if not target.exists():
            # A mount point must exist; made on the host only when missing, and removed again below.
            for parent in reversed([target, *target.parents]):
                if not parent.exists():
                    parent.mkdir()
                    created.append(parent)
        mounts.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(target))}")
    command = [str(bin_dir / "kube-bench"), "run", "--targets", ",".join(targets), "--benchmark", BENCHMARK,
               "--config-dir", str(bin_dir / "cfg"), "--json"]
    if checks:
        command += ["--check", ",".join(checks)]
    script = " && ".join([*mounts, "exec " + shlex.join(command)])
    try:
        # ps cuts its lines at $COLUMNS (pytest sets it), and kube-bench reads flags from those lines.
        env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
        result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                capture_output=True, text=True, timeout=timeout, check=False, env=env)
    finally:
        for path in reversed(created):
            with contextlib.suppress(OSError):  # not empty: something else put files there meanwhile
                path.rmdir()
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise KubeBenchError(f"kube-bench exited {result.returncode} without a JSON report: "
                             f"{(result.stderr or result.stdout).strip()[-1000:]}") from None


def results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{test_number: result} over every control and section of a report."""
    return {result["test_number"]: result for control in report.get("Controls") or []
            for section in control.get("tests") or [] for result in section.get("results") or []}


def failing(report: dict[str, Any], automated_only: bool = True) -> dict[str, str]:
    """{test_number: test_desc} of the FAIL results (automated items only: manual ones end WARN)."""
    return {number: result["test_desc"] for number, result in sorted(results(report).items())
            if result["status"] == "FAIL" and (result.get("type") != "manual" or not automated_only)}


def node_root(paths: cluster.Paths, name: str) -> Path:
    return paths.node(name) / "root"
