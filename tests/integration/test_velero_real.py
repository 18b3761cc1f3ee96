"""Real Velero (v1.18.1, built from the Go module proxy) backs up and restores a namespace on the local control plane.

Nothing here writes a Velero status: the server sets every phase, and the tests' directory plugin holds the files.
"""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from kclocal import velero as velero_runner
from kclocal.cluster import wait_for
from kclocal.kube import ApiError

pytestmark = pytest.mark.nodes(1)

TERMINAL_BACKUP = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}
TERMINAL_RESTORE = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}


def _gone(client, path: str) -> bool:
    try:
        client.request("GET", path)
    except ApiError as exc:
        return exc.status == 404
    return False


def _listening(process_group: int) -> set[str]:
    """TCP addresses on which a process of the group listens."""
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    found = set()
    for line in lines:
        for pid in map(int, re.findall(r"pid=(\d+)", line)):
            try:
                pgid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue
            if pgid == process_group:
                found.add(line.split()[3])
    return found


def test_velero_backs_up_and_restores_a_namespace(control_plane, velero):
    client = control_plane.client()
    suffix = uuid.uuid4().hex[:6]
    namespace, backup_name, restore_name = f"kc-velero-{suffix}", f"kc-backup-{suffix}", f"kc-restore-{suffix}"
    config_data = {"greeting": "hello from the backup", "tier": "critical"}
    secret_value = f"s3cret-{suffix}"
    client.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    try:
        client.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                       {"metadata": {"name": "app-config"}, "data": config_data})
        client.request("POST", f"/api/v1/namespaces/{namespace}/secrets", {
            "metadata": {"name": "app-secret"}, "type": "Opaque",
            "data": {"password": base64.b64encode(secret_value.encode()).decode()}})

        client.request("POST", velero.path("backups"), {
            "apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": backup_name, "namespace": velero.namespace},
            "spec": {"includedNamespaces": [namespace], "storageLocation": velero.location, "ttl": "1h0m0s"}})
        backup = velero.wait_phase(client, "backups", backup_name, TERMINAL_BACKUP, timeout=180)
        assert backup["status"]["phase"] == "Completed", backup["status"]
        assert backup["status"]["progress"]["itemsBackedUp"] >= 2, backup["status"]

        stored = velero.bucket_dir / "backups" / backup_name
        files = {p.name for p in stored.iterdir()}
        assert {f"{backup_name}.tar.gz", f"{backup_name}-logs.gz", "velero-backup.json"} <= files, files
        bsl = client.request("GET", velero.path("backupstoragelocations", velero.location))
        assert bsl["status"]["phase"] == "Available", bsl.get("status")
        assert _listening(velero.pid) == {velero_runner.METRICS_ADDRESS}

        client.request("DELETE", f"/api/v1/namespaces/{namespace}")
        wait_for(f"namespace {namespace} to be deleted", lambda: _gone(client, f"/api/v1/namespaces/{namespace}"),
                 120)

        client.request("POST", velero.path("restores"), {
            "apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": restore_name, "namespace": velero.namespace},
            "spec": {"backupName": backup_name, "includedNamespaces": [namespace]}})
        restore = velero.wait_phase(client, "restores", restore_name, TERMINAL_RESTORE, timeout=180)
        assert restore["status"]["phase"] == "Completed", restore["status"]

        config = client.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/app-config")
        assert config["data"] == config_data
        secret = client.request("GET", f"/api/v1/namespaces/{namespace}/secrets/app-secret")
        assert base64.b64decode(secret["data"]["password"]).decode() == secret_value
        assert config["metadata"]["labels"]["velero.io/restore-name"] == restore_name
        # Deleted as `velero backup delete` does, so no other test sees this backup: Velero removes its files, its
        # restores and the Backup object.
        client.request("POST", velero.path("deletebackuprequests"), {
            "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
            "metadata": {"name": f"{backup_name}-delete", "namespace": velero.namespace},
            "spec": {"backupName": backup_name}})
        wait_for(f"backup {backup_name} to be deleted", lambda: _gone(client, velero.path("backups", backup_name))
                 and not stored.exists(), 120)
        assert _gone(client, velero.path("restores", restore_name))
    finally:
        try:
            client.request("DELETE", f"/api/v1/namespaces/{namespace}")
        except ApiError as exc:
            if exc.status != 404:
                raise
