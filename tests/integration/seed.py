"""Seeding the local control plane with objects: CRDs from shared/, and plain creates through the admin client."""

from __future__ import annotations

import datetime
from pathlib import Path

import yaml

from kclocal.cluster import wait_for
from kclocal.kube import ApiError, Client
from tests.helpers import SHARED

VELERO_CRDS = SHARED / "crds" / "velero"
PROMETHEUS_CRDS = SHARED / "crds" / "prometheus-operator"

# Collection paths of the kinds the tests create, by apiVersion and kind.
_PATHS = {
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "Node"): "/api/v1/nodes",
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("v1", "Secret"): "/api/v1/namespaces/{ns}/secrets",
    ("v1", "ResourceQuota"): "/api/v1/namespaces/{ns}/resourcequotas",
    ("v1", "LimitRange"): "/api/v1/namespaces/{ns}/limitranges",
    ("v1", "ServiceAccount"): "/api/v1/namespaces/{ns}/serviceaccounts",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    ("apps/v1", "DaemonSet"): "/apis/apps/v1/namespaces/{ns}/daemonsets",
    ("policy/v1", "PodDisruptionBudget"): "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
    ("networking.k8s.io/v1", "NetworkPolicy"): "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    ("networking.k8s.io/v1", "Ingress"): "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    ("rbac.authorization.k8s.io/v1", "Role"): "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    ("velero.io/v1", "Schedule"): "/apis/velero.io/v1/namespaces/{ns}/schedules",
    ("velero.io/v1", "Backup"): "/apis/velero.io/v1/namespaces/{ns}/backups",
    ("velero.io/v1", "Restore"): "/apis/velero.io/v1/namespaces/{ns}/restores",
    ("velero.io/v1", "BackupStorageLocation"): "/apis/velero.io/v1/namespaces/{ns}/backupstoragelocations",
    ("monitoring.coreos.com/v1", "Prometheus"): "/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheuses",
    ("monitoring.coreos.com/v1", "Alertmanager"): "/apis/monitoring.coreos.com/v1/namespaces/{ns}/alertmanagers",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheusrules",
}


def collection_path(manifest: dict) -> str:
    template = _PATHS[(manifest["apiVersion"], manifest["kind"])]
    return template.format(ns=manifest["metadata"].get("namespace", ""))


def create(client: Client, manifest: dict) -> dict:
    """Create an object; an existing one gets the manifest merged in (tests may reuse a running control plane)."""
    path = collection_path(manifest)
    try:
        return client.request("POST", path, manifest)
    except ApiError as exc:
        if exc.status != 409:
            raise
    return client.request("PATCH", f"{path}/{manifest['metadata']['name']}", manifest, "application/merge-patch+json")


def install_crds(client: Client, directory: Path) -> list[str]:
    """Create every CRD in a directory of shared/crds and wait until each is Established and served."""
    names = []
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        names.append(crd["metadata"]["name"])
        try:
            client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        except ApiError as exc:
            if exc.status != 409:
                raise

    def established() -> bool:
        for name in names:
            crd = client.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
            if conditions.get("Established") != "True":
                return False
        return True

    wait_for(f"CRDs from {directory.name} Established", established, 60, interval=0.5)
    return names


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta) -> str:
    return rfc3339(datetime.datetime.now(datetime.UTC) - datetime.timedelta(**delta))
