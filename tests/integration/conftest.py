"""The local control plane as a fixture: started once per test run, resized on demand, stopped at the end.

A control plane that was already running before the run is reused and left running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kclocal import cluster
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
