"""Velero out of cluster against the local control plane, as Velero's "Run Velero locally" documentation runs it.

``velero server --kubeconfig --namespace --plugin-dir`` runs on the host with the admin kubeconfig; its backup
storage location is the tests' directory plugin (``tests/velero/objectstore``) writing under the state directory::

    velero/server.log                 the server's log (and its plugins')
    velero/store/<BUCKET>/backups/    what Velero writes: <backup>/<backup>.tar.gz, -logs.gz, velero-backup.json, …

Removing (or replacing with a file) ``velero/store/<BUCKET>`` makes every plugin call fail, so the location becomes
Unavailable for real; ``chmod`` does not, as everything here runs as root. No kubelet exists, so no node-agent and
no file-system backup. Only the metrics address listens, on the node network.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from kclocal import build, cluster
from kclocal.kube import ApiError

NAMESPACE = "velero"
LOCATION = "default"
BUCKET = "backups"
PROVIDER = "kubecompass.test/directory"  # tests/velero/objectstore/main.go ProviderName
# Next to the nodes (127.0.10.<n>) and the load balancer (127.0.10.254); 8085 is velero's own default port.
METRICS_ADDRESS = "127.0.10.253:8085"
# Short enough for tests to see a location turn Unavailable and expired backups go within a minute.
SERVER_FLAGS = ("--store-validation-frequency=10s", "--garbage-collection-frequency=30s", "--log-level=info")
BSL_PATH = f"/apis/velero.io/v1/namespaces/{NAMESPACE}/backupstoragelocations"


def root(paths: cluster.Paths) -> Path:
    return paths.root / "velero"


def bucket_dir(paths: cluster.Paths) -> Path:
    return root(paths) / "store" / BUCKET


def running(paths: cluster.Paths) -> dict[str, Any] | None:
    """The running server's record in state.json, or None."""
    state = cluster.read_state(paths) or {}
    record = state.get("velero")
    return record if record and cluster._alive(record.get("pid")) else None


def _velero(bin_dir: Path, *args: str) -> str:
    result = subprocess.run([str(bin_dir / "velero"), *args], capture_output=True, text=True, check=False,
                            timeout=120)
    if result.returncode != 0:
        raise cluster.ClusterError(f"velero {args[0]} failed: {(result.stderr or result.stdout).strip()[-500:]}")
    return result.stdout


def cli(paths: cluster.Paths, *args: str) -> str:
    """Run the velero CLI of the running server against the local control plane (``backup create …``); its stdout."""
    record = running(paths)
    if not record:
        raise cluster.ClusterError("velero is not running; run `up --velero` first")
    return _velero(Path(record["bin_dir"]), *args, "--kubeconfig", str(paths.admin_conf), "--namespace", NAMESPACE)


def location(paths: cluster.Paths) -> dict[str, Any]:
    return {
        "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
        "metadata": {"name": LOCATION, "namespace": NAMESPACE},
        "spec": {"provider": PROVIDER, "default": True, "objectStorage": {"bucket": BUCKET},
                 "config": {"root": str(root(paths) / "store")}},
    }


def deployment() -> dict[str, Any]:
    """The in-cluster Deployment `velero install` creates, scaled to zero as "Run Velero locally" says.

    Velero reads it even out of cluster: the pod-volume restore action takes the restore helper's image from it,
    and a restore without it ends PartiallyFailed with `deployments.apps "velero" not found`.
    """
    labels = {"component": "velero", "deploy": "velero"}
    image = f"velero/velero:{build.pinned_version('github.com/vmware-tanzu/velero', build.VELERO_MODULE_DIR)}"
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "velero", "namespace": NAMESPACE, "labels": {"component": "velero"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "velero", "image": image, "command": ["/velero"],
                                     "args": ["server"]}]}}},
    }


def up(paths: cluster.Paths, timeout: float = 180) -> dict[str, Any]:
    """Start Velero against the running control plane (reusing a running server); return its state record."""
    if not cluster.is_running(paths):
        raise cluster.ClusterError("the local control plane is not running; run `up` first")
    if record := running(paths):
        return record
    bin_dir = build.VELERO.ensure()
    kubeconfig = str(paths.admin_conf)
    # The CRDs of the same release, from the binary itself (all of them: the server watches more than the five
    # in tests/data/crds/velero, which are byte-identical copies of the same release's files).
    _velero(bin_dir, "install", "--crds-only", "--kubeconfig", kubeconfig)
    client = cluster.admin_client(paths)
    client.create_or_get("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": NAMESPACE}})
    cluster.wait_for("the BackupStorageLocation API", lambda: client.request("GET", BSL_PATH) is not None, 60)
    client.create_or_get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment())
    bucket_dir(paths).mkdir(parents=True, exist_ok=True)
    client.create_or_get(BSL_PATH, location(paths))
    log = root(paths) / "server.log"
    env = {**os.environ, cluster.PROCESS_MARKER: str(paths.root)}
    pid = cluster._spawn([str(bin_dir / "velero"), "server", "--kubeconfig", kubeconfig, "--namespace", NAMESPACE,
                          "--plugin-dir", str(bin_dir / "plugins"), f"--metrics-address={METRICS_ADDRESS}",
                          "--profiler-address=", *SERVER_FLAGS],
                         log, cwd=root(paths), env=env)
    record = {"pid": pid, "bin_dir": str(bin_dir), "log": str(log), "bucket_dir": str(bucket_dir(paths)),
              "metrics_address": METRICS_ADDRESS, "started": time.time()}
    state = cluster.read_state(paths) or {}
    state["velero"] = record
    paths.state.write_text(json.dumps(state, indent=1))

    def available() -> bool:
        if not cluster._alive(pid):
            raise cluster.ClusterError(f"velero server exited; see {log}")
        bsl = client.request("GET", f"{BSL_PATH}/{LOCATION}")
        return (bsl.get("status") or {}).get("phase") == "Available"

    try:
        cluster.wait_for(f"BackupStorageLocation {NAMESPACE}/{LOCATION} to be Available", available, timeout)
    except cluster.ClusterError as exc:
        down(paths)
        raise cluster.ClusterError(f"{exc}; server log {log}") from None
    return record


def down(paths: cluster.Paths, timeout: float = 20) -> None:
    """Stop the server and its plugins (the control plane and Velero's objects stay)."""
    state = cluster.read_state(paths) or {}
    record = state.pop("velero", None)
    pid = (record or {}).get("pid")
    if pid and cluster._alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while cluster._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    if state:
        paths.state.write_text(json.dumps(state, indent=1))


def backup_store_ready(paths: cluster.Paths) -> bool:
    with contextlib.suppress(ApiError):
        bsl = cluster.admin_client(paths).request("GET", f"{BSL_PATH}/{LOCATION}")
        return (bsl.get("status") or {}).get("phase") == "Available"
    return False
