"""A control-plane node rendered by kubeadm's own init phases into a scratch root (``--rootfs`` chroots there, so
nothing outside it is written), and the pieces of a static Pod manifest that kubeadm and the rig are compared on."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from kclocal.manifests import APISERVER_PORT, Node

MANIFESTS = "etc/kubernetes/manifests"
CONFIG = "kubeadm-config.yaml"
# kubeadm mounts each of these CA directories only where the host has it; a Debian host has them all.
HOST_CA_DIRECTORIES = ("etc/ssl/certs", "etc/ca-certificates", "usr/local/share/ca-certificates",
                       "usr/share/ca-certificates")


def init_configuration(node: Node) -> str:
    """The node's half of `kubeadm init --config`: its name and the address it advertises (nothing is detected
    from the host, so the render is the same on every machine)."""
    return yaml.safe_dump({
        "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration",
        "localAPIEndpoint": {"advertiseAddress": node.advertise_ip, "bindPort": APISERVER_PORT},
        "nodeRegistration": {"name": node.name, "criSocket": "unix:///run/containerd/containerd.sock"},
    }, sort_keys=False)


def render(kubeadm: Path, cluster_configuration: str, node: Node, root: Path,
           phases: tuple[tuple[str, ...], ...] = (("control-plane", "all"), ("etcd", "local"))) -> Path:
    """Run `kubeadm init phase <phase>` for each phase under ``root`` with the given ClusterConfiguration; the
    scratch root comes back. Raises RuntimeError with kubeadm's message when a phase fails."""
    for directory in HOST_CA_DIRECTORIES:
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / CONFIG).write_text(init_configuration(node) + "---\n" + cluster_configuration)
    for phase in phases:
        result = subprocess.run([str(kubeadm), "init", "phase", *phase, "--config", f"/{CONFIG}", "--rootfs",
                                 str(root)], capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"kubeadm init phase {' '.join(phase)} failed: {result.stderr.strip()}")
    return root


def manifest(root: Path, component: str) -> dict[str, Any]:
    return yaml.safe_load((root / MANIFESTS / f"{component}.yaml").read_text())


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def flags(pod: dict[str, Any]) -> dict[str, str]:
    """--name=value arguments as the component reads them (a repeated flag: the last)."""
    parsed = {}
    for arg in _container(pod)["command"][1:]:
        name, _sep, value = arg.removeprefix("--").partition("=")
        parsed[name] = value
    return parsed


def host_volumes(pod: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """volume name -> (host path, type)."""
    return {v["name"]: (v["hostPath"]["path"], v["hostPath"].get("type") or "")
            for v in pod["spec"].get("volumes") or [] if "hostPath" in v}


def mounts(pod: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """volume name -> (mount path, read-only)."""
    return {m["name"]: (m["mountPath"], bool(m.get("readOnly"))) for m in _container(pod).get("volumeMounts") or []}
