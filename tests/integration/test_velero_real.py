"""Real Velero (v1.18.1, built from the Go module proxy) backs up and restores a namespace on the local control plane.

Nothing here writes a Velero status: the server sets every phase, and the tests' directory plugin holds the files.
"""

from __future__ import annotations

import base64
import re
import subprocess
import tarfile
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


# The test fault plugin (tests/velero/faults) acts only on objects carrying this label; its value names the fault.
FAULT_LABEL = "kubecompass.test/fault"


def _configmap(client, namespace: str, name: str, data: dict, fault: str | None = None) -> None:
    labels = {FAULT_LABEL: fault} if fault else {}
    client.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                   {"metadata": {"name": name, "labels": labels}, "data": data})


def _backup(client, velero, name: str, namespace: str) -> dict:
    client.request("POST", velero.path("backups"), {
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": velero.namespace},
        "spec": {"includedNamespaces": [namespace], "storageLocation": velero.location, "ttl": "1h0m0s"}})
    return velero.wait_phase(client, "backups", name, TERMINAL_BACKUP, timeout=180)


def _backed_up_names(velero, backup_name: str, namespace: str) -> set[str]:
    """The ConfigMaps of `namespace` in the backup's tarball, as the directory plugin stored it."""
    prefix = f"resources/configmaps/namespaces/{namespace}/"
    with tarfile.open(velero.bucket_dir / "backups" / backup_name / f"{backup_name}.tar.gz") as tar:
        return {Path(n).stem for n in tar.getnames() if n.startswith(prefix)}


def _delete_backup(client, velero, name: str) -> None:
    """As `velero backup delete` does: Velero removes the files, the restores and the Backup object."""
    if _gone(client, velero.path("backups", name)):
        return
    client.request("POST", velero.path("deletebackuprequests"), {
        "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
        "metadata": {"name": f"{name}-delete", "namespace": velero.namespace},
        "spec": {"backupName": name}})
    wait_for(f"backup {name} to be deleted", lambda: _gone(client, velero.path("backups", name))
             and not (velero.bucket_dir / "backups" / name).exists(), 120)


def _delete_namespaces(client, *namespaces: str) -> None:
    for namespace in namespaces:
        try:
            client.request("DELETE", f"/api/v1/namespaces/{namespace}")
        except ApiError as exc:
            if exc.status != 404:
                raise


def test_velero_backup_fault_on_an_item_ends_partially_failed(control_plane, velero):
    client = control_plane.client()
    suffix = uuid.uuid4().hex[:6]
    namespace, backup_name = f"kc-vfault-{suffix}", f"kc-backup-fault-{suffix}"
    client.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    try:
        _configmap(client, namespace, "plain", {"k": "v"})
        _configmap(client, namespace, "broken", {"k": "v"}, fault="backup-error")

        backup = _backup(client, velero, backup_name, namespace)

        assert backup["status"]["phase"] == "PartiallyFailed", backup["status"]
        assert backup["status"]["errors"] >= 1, backup["status"]
        # Velero still stores the backup, with every item but the one its action failed on.
        names = _backed_up_names(velero, backup_name, namespace)
        assert "plain" in names and "broken" not in names, names
    finally:
        _delete_backup(client, velero, backup_name)
        _delete_namespaces(client, namespace)


def test_velero_restore_faults_fail_skip_and_alter_items(control_plane, velero):
    client = control_plane.client()
    suffix = uuid.uuid4().hex[:6]
    source, backup_name = f"kc-vfault-{suffix}", f"kc-backup-rfault-{suffix}"
    failed_ns, completed_ns = f"{source}-failed", f"{source}-completed"
    data = {"greeting": "hello from the backup"}
    client.request("POST", "/api/v1/namespaces", {"metadata": {"name": source}})
    try:
        _configmap(client, source, "plain", data)
        _configmap(client, source, "fails", data, fault="restore-error")
        _configmap(client, source, "skipped", data, fault="restore-skip")
        _configmap(client, source, "altered", data, fault="restore-alter")
        # The restore faults do not touch the backup.
        backup = _backup(client, velero, backup_name, source)
        assert backup["status"]["phase"] == "Completed", backup["status"]
        assert {"plain", "fails", "skipped", "altered"} <= _backed_up_names(velero, backup_name, source)

        # One backup, two restores into fresh namespaces: the failing item alone, then everything else.
        restores = {
            "failed": (failed_ns, {"matchLabels": {FAULT_LABEL: "restore-error"}}),
            "completed": (completed_ns, {"matchExpressions": [
                {"key": FAULT_LABEL, "operator": "NotIn", "values": ["restore-error"]}]}),
        }
        for kind, (target, selector) in restores.items():
            client.request("POST", velero.path("restores"), {
                "apiVersion": "velero.io/v1", "kind": "Restore",
                "metadata": {"name": f"kc-restore-{kind}-{suffix}", "namespace": velero.namespace},
                "spec": {"backupName": backup_name, "includedNamespaces": [source],
                         "namespaceMapping": {source: target}, "labelSelector": selector}})

        failed = velero.wait_phase(client, "restores", f"kc-restore-failed-{suffix}", TERMINAL_RESTORE, timeout=180)
        assert failed["status"]["phase"] == "PartiallyFailed", failed["status"]
        assert failed["status"]["errors"] >= 1, failed["status"]
        assert _gone(client, f"/api/v1/namespaces/{failed_ns}/configmaps/fails")

        completed = velero.wait_phase(client, "restores", f"kc-restore-completed-{suffix}", TERMINAL_RESTORE,
                                      timeout=180)
        assert completed["status"]["phase"] == "Completed", completed["status"]
        assert not completed["status"].get("errors"), completed["status"]
        configmaps = f"/api/v1/namespaces/{completed_ns}/configmaps"
        assert client.request("GET", f"{configmaps}/plain")["data"] == data
        assert _gone(client, f"{configmaps}/skipped")
        altered = client.request("GET", f"{configmaps}/altered")["data"]
        assert altered == {"greeting": "hello from the backup-altered"}, altered
    finally:
        _delete_backup(client, velero, backup_name)
        _delete_namespaces(client, source, failed_ns, completed_ns)
