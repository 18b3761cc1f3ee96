"""Restoring an etcd snapshot of the local control plane into a fresh etcd on free loopback ports, and serving it with
a fresh kube-apiserver (its own throwaway PKI, a given EncryptionConfiguration): what an operator does after losing
the control plane. Shared by the etcd snapshot and the encryption key escrow tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kclocal import pki
from kclocal.cluster import wait_for
from kclocal.kube import Client
from kclocal.manifests import SERVICE_CIDR


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _process(cmd: list[str], log_path: Path) -> Iterator[subprocess.Popen]:
    """A process in its own session, logging to ``log_path``; stopped (TERM, then KILL) on exit."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextlib.contextmanager
def restored_etcd(bin_dir: Path, snapshot: Path, work: Path) -> Iterator[str]:
    """``snapshot`` restored with etcdutl into ``work``/etcd and served by a fresh one-member etcd over plain http on
    loopback; yields its client URL."""
    client_url, peer_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    data_dir = work / "etcd"
    subprocess.run([str(bin_dir / "etcdutl"), "snapshot", "restore", str(snapshot), "--data-dir", str(data_dir),
                    "--name", "restored", "--initial-cluster", f"restored={peer_url}",
                    "--initial-advertise-peer-urls", peer_url], capture_output=True, text=True, check=True)
    with _process([str(bin_dir / "etcd"), "--name", "restored", "--data-dir", str(data_dir),
                   "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                   "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                   "--initial-cluster", f"restored={peer_url}"], work / "etcd.log"):
        wait_for("the restored etcd to be healthy",
                 lambda: json.loads(urllib.request.urlopen(f"{client_url}/health", timeout=5).read())["health"]
                 == "true", 60, interval=0.5)
        yield client_url


@contextlib.contextmanager
def fresh_apiserver(bin_dir: Path, etcd_url: str, encryption_config: Path, work: Path) -> Iterator[Client]:
    """A kube-apiserver with a new PKI on a free loopback port, storing in ``etcd_url`` and reading Secrets with
    ``encryption_config``; yields an admin client."""
    cas = pki.ClusterCAs.generate()
    pki_dir = work / "pki"
    pki.write_node_pki(pki_dir, cas, "restored", "127.0.0.1", ())
    pki.write_pair(pki_dir, "admin", pki.client_pair(cas, "kubernetes-admin", ("system:masters",)))
    port = free_port()
    cmd = [str(bin_dir / "kube-apiserver"), "--bind-address=127.0.0.1", f"--secure-port={port}",
           f"--etcd-servers={etcd_url}", f"--encryption-provider-config={encryption_config}",
           "--authorization-mode=RBAC", f"--client-ca-file={pki_dir / 'ca.crt'}",
           f"--tls-cert-file={pki_dir / 'apiserver.crt'}", f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
           "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
           f"--service-account-key-file={pki_dir / 'sa.pub'}",
           f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
           f"--service-cluster-ip-range={SERVICE_CIDR}", f"--cert-dir={work / 'certs'}"]
    with _process(cmd, work / "kube-apiserver.log"):
        client = Client(f"https://127.0.0.1:{port}", pki_dir / "ca.crt", pki_dir / "admin.crt",
                        pki_dir / "admin.key", timeout=10)

        def ready() -> bool:
            try:
                return client.text("/readyz") == "ok"
            except Exception:  # noqa: BLE001 - not listening yet
                return False

        wait_for("the fresh kube-apiserver to be ready", ready, 120, interval=1)
        yield client
