"""Test layers: tests/unit (pure functions on recorded objects), tests/integration (the real local control
plane, brought up once per run or reused), tests/quality (lint, sanity, packaging)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import CLUSTER_DIR, DEV_COLLECTIONS

# Import the collection as Ansible does (hack/setup.sh links this checkout under .venv/collections).
if str(DEV_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(DEV_COLLECTIONS))


def pytest_collection_modifyitems(config, items):
    """Group tests by control-plane size (each resize costs a down and an up); `last` tests stop it, so go last."""

    def order(item):
        nodes = item.get_closest_marker("nodes")
        return (item.get_closest_marker("last") is not None, nodes.args[0] if nodes else 0)

    items.sort(key=order)
    _prebuild(config, items)


# Go builds the tests need besides the control plane: (localcp build flag, module, fixtures that need it).
PREBUILDS = (("--velero", "VELERO", {"velero", "velero_servers"}),  # test_backups reaches it via velero_servers
             ("--kube-bench", "KUBE_BENCH", {"kube_bench"}),
             ("--kubeadm", "KUBEADM", {"kubeadm"}))


def _prebuild(config, items):
    """A cold Velero or kube-bench build takes minutes: start the ones the collected tests need now, at the lowest
    CPU priority, so they run in the time the tests before them leave idle (they wait on API servers); the fixtures
    then wait for them through the build lock instead of building in the foreground."""
    from kclocal import build

    fixtures = set().union(*(item.fixturenames for item in items)) if items else set()
    flags = [flag for flag, module, needed in PREBUILDS
             if needed & fixtures and not getattr(build, module).is_cached()]
    if not flags:
        return
    build.cache_root().mkdir(parents=True, exist_ok=True)
    log = open(build.cache_root() / "prebuild.log", "w")  # noqa: SIM115 - closed at unconfigure
    config._prebuild = (subprocess.Popen(
        [sys.executable, str(CLUSTER_DIR / "localcp.py"), "build", *flags],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log)


def pytest_unconfigure(config):
    prebuild = getattr(config, "_prebuild", None)
    if prebuild:
        process, log = prebuild
        if process.poll() is None:  # the run ended first: stop the build and its `go build` children
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        log.close()


@pytest.fixture(scope="session")
def keep_cluster() -> bool:
    return os.environ.get("KUBECOMPASS_KEEP_CLUSTER") == "1"
