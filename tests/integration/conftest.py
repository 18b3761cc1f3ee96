"""The local control plane as a fixture: started once per test run, resized on demand, stopped at the end.

A control plane that was already running before the run is reused and left running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kclocal import build, cluster, kubebench
from kclocal import velero as velero_runner
from kclocal.kube import Client


@dataclass
class LocalControlPlane:
    paths: cluster.Paths
    nodes: list[dict]

    @property
    def kubeconfig(self) -> Path:
        return self.paths.admin_conf

    @property
    def inventory(self) -> Path:
        return self.paths.inventory

    def client(self, timeout: float = 10) -> Client:
        return cluster.admin_client(self.paths, timeout=timeout)

    def node_root(self, name: str) -> Path:
        """The node's private tree: what the node itself sees as /."""
        return self.paths.node(name) / "root"

    def manifest(self, node: str, component: str = "kube-apiserver") -> Path:
        return self.node_root(node) / "etc/kubernetes/manifests" / f"{component}.yaml"

    def pods(self, node: str) -> dict:
        return json.loads((self.paths.node(node) / "run" / "pods.json").read_text())

    def server(self) -> str:
        return yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]


class ControlPlaneManager:
    def __init__(self) -> None:
        self.paths = cluster.Paths(cluster.state_dir())
        self.preexisting = cluster.is_running(self.paths)
        self.started_here = False

    def get(self, nodes: int) -> LocalControlPlane:
        state = cluster.read_state(self.paths)
        if not (state and cluster.is_running(self.paths) and len(state["nodes"]) == nodes):
            if state:
                cluster.down()
            state = cluster.up(nodes)
            self.started_here = True
        else:
            # A cluster started by an older checkout keeps the inventory of then: write today's.
            cluster.write_inventory(self.paths, cluster.node_list(nodes), Path(state["bin_dir"]))
        return LocalControlPlane(self.paths, state["nodes"])

    def fresh(self, nodes: int) -> tuple[LocalControlPlane, dict]:
        """A control plane started anew (kubeadm defaults, no other test's leftovers), and its state record."""
        if cluster.is_running(self.paths):
            cluster.down()
        state = cluster.up(nodes)
        self.started_here = True
        return LocalControlPlane(self.paths, state["nodes"]), state


@pytest.fixture(scope="session")
def control_planes(keep_cluster):
    manager = ControlPlaneManager()
    yield manager
    if manager.started_here and not keep_cluster and not manager.preexisting:
        cluster.down()


@pytest.fixture
def control_plane(request, control_planes) -> LocalControlPlane:
    marker = request.node.get_closest_marker("nodes")
    return control_planes.get(marker.args[0] if marker else 1)


@dataclass
class LocalVelero:
    """Velero v1.18 running out of cluster against the local control plane (kclocal.velero)."""

    paths: cluster.Paths
    namespace: str = velero_runner.NAMESPACE
    location: str = velero_runner.LOCATION

    @property
    def bucket_dir(self) -> Path:
        """Where the directory plugin keeps the location's objects (backups/<name>/… below it)."""
        return velero_runner.bucket_dir(self.paths)

    @property
    def log(self) -> Path:
        return velero_runner.root(self.paths) / "server.log"

    @property
    def pid(self) -> int:
        """The server's pid, also the process group of its plugins."""
        return (velero_runner.running(self.paths) or {})["pid"]

    def cli(self, *args: str) -> str:
        """The velero CLI of the same build, as an operator runs it (``backup create --from-schedule …``)."""
        return velero_runner.cli(self.paths, *args)

    def path(self, plural: str, name: str = "") -> str:
        return f"/apis/velero.io/v1/namespaces/{self.namespace}/{plural}" + (f"/{name}" if name else "")

    def wait_phase(self, client: Client, plural: str, name: str, phases: set[str], timeout: float) -> dict:
        """The object once its status.phase is one of `phases`; ClusterError naming the last phase otherwise."""
        seen: dict = {}

        def reached() -> bool:
            seen.update(client.request("GET", self.path(plural, name)))
            return (seen.get("status") or {}).get("phase") in phases

        try:
            cluster.wait_for(f"{plural}/{name} to reach {sorted(phases)}", reached, timeout)
        except cluster.ClusterError as exc:
            raise cluster.ClusterError(f"{exc}; last status {seen.get('status')}; server log {self.log}") from None
        return seen


class VeleroManager:
    def __init__(self) -> None:
        self.started: set[Path] = set()

    def get(self, control_plane: LocalControlPlane) -> LocalVelero:
        if not velero_runner.running(control_plane.paths):
            velero_runner.up(control_plane.paths)
            self.started.add(control_plane.paths.root)
        return LocalVelero(control_plane.paths)


@pytest.fixture(scope="session")
def velero_servers(control_planes):
    manager = VeleroManager()
    yield manager
    # Velero's backup sync deletes Completed Backup objects its store does not hold, such as those other tests
    # write by hand: stop a server this run started, even when the control plane is kept.
    if manager.started:
        velero_runner.down(control_planes.paths)


@pytest.fixture
def velero(control_plane, velero_servers) -> LocalVelero:
    """Velero server started once per run (again after a resize) on the control plane the test asked for."""
    return velero_servers.get(control_plane)


@pytest.fixture(scope="session")
def kubeadm() -> Path:
    """kubeadm built from the pinned k8s.io/kubernetes (prebuilt in the background, see tests/conftest.py); the
    nodes share the host's file system outside their /etc/kubernetes, so this path runs on them too."""
    return build.KUBEADM.ensure() / "kubeadm"


@pytest.fixture
def kube_bench(control_plane):
    """kube-bench's JSON report for a node of the control plane the test asked for (the first by default)."""

    def run(node: str | None = None, checks: tuple[str, ...] = ()) -> dict:
        return kubebench.run(control_plane.node_root(node or control_plane.nodes[0]["name"]), checks=checks)

    return run
