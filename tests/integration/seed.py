"""Seeding the local control plane with objects: CRDs from tests/data/crds, and plain creates through the admin client."""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import urllib.request
from pathlib import Path

import yaml

from kclocal.cluster import wait_for
from kclocal.kube import ApiError, Client
from tests.helpers import TEST_DATA

VELERO_CRDS = TEST_DATA / "crds" / "velero"
PROMETHEUS_CRDS = TEST_DATA / "crds" / "prometheus-operator"

# Collection paths of the kinds the tests create, by apiVersion and kind.
_PATHS = {
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "Node"): "/api/v1/nodes",
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("v1", "Pod"): "/api/v1/namespaces/{ns}/pods",
    ("v1", "Secret"): "/api/v1/namespaces/{ns}/secrets",
    ("v1", "ResourceQuota"): "/api/v1/namespaces/{ns}/resourcequotas",
    ("v1", "LimitRange"): "/api/v1/namespaces/{ns}/limitranges",
    ("v1", "ServiceAccount"): "/api/v1/namespaces/{ns}/serviceaccounts",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    ("apps/v1", "DaemonSet"): "/apis/apps/v1/namespaces/{ns}/daemonsets",
    ("apps/v1", "StatefulSet"): "/apis/apps/v1/namespaces/{ns}/statefulsets",
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


def write_status(client: Client, manifest: dict, status: dict) -> dict:
    """Write an object's status through its /status subresource, as its controller would (a status sent with a
    create is dropped for kinds with that subresource)."""
    return client.request("PATCH", f"{collection_path(manifest)}/{manifest['metadata']['name']}/status",
                          {"status": status}, "application/merge-patch+json")


def kind_rule(path: str, verbs: list[str]) -> dict:
    """The RBAC rule that lets an identity read what a gather.KIND_SPECS path lists: a resource rule for an API path,
    a nonResourceURLs rule for any other path (/metrics)."""
    parts = path.strip("/").split("/")
    if parts[0] not in ("api", "apis"):
        return {"nonResourceURLs": [path], "verbs": ["get"]}
    return {"apiGroups": ["" if parts[0] == "api" else parts[1]], "resources": [parts[-1]], "verbs": verbs}


def grant(client: Client, name: str, user: str, rules: list[dict]) -> None:
    """A ClusterRole ``name`` with ``rules``, bound to the user ``user``."""
    rbac = "rbac.authorization.k8s.io"
    create(client, {"apiVersion": rbac + "/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
    create(client, {"apiVersion": rbac + "/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
                    "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": name},
                    "subjects": [{"apiGroup": rbac, "kind": "User", "name": user}]})


def install_crds(client: Client, directory: Path) -> list[str]:
    """Create every CRD in a directory of tests/data/crds and wait until each is Established and served."""
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
            # A CRD read right after its create may carry "conditions": null until the controller writes them.
            conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
            if conditions.get("Established") != "True":
                return False
        return True

    wait_for(f"CRDs from {directory.name} Established", established, 60, interval=0.5)
    return names


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta) -> str:
    return rfc3339(datetime.datetime.now(datetime.UTC) - datetime.timedelta(**delta))


# -- etcd, read raw with the apiserver's client certificate ---------------------------------------------------

def etcd_range(control_plane, body):
    """POST /v3/kv/range to the first node's etcd with the apiserver's etcd client certificate."""
    node = control_plane.nodes[0]
    pki_dir = control_plane.node_root(node["name"]) / "etc/kubernetes/pki"
    context = ssl.create_default_context(cafile=str(pki_dir / "etcd/ca.crt"))
    context.load_cert_chain(str(pki_dir / "apiserver-etcd-client.crt"), str(pki_dir / "apiserver-etcd-client.key"))
    request = urllib.request.Request("https://%s:2379/v3/kv/range" % node["ip"], method="POST",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return json.loads(response.read())


# Keys the running control plane rewrites on its own, whoever else is connected: leases and heartbeats, events,
# and the status controllers keep refreshing (HPAs without metrics, workloads whose pods never start).
BACKGROUND_WRITERS = ("/registry/leases/", "/registry/masterleases/", "/registry/peerserverleases/",
                      "/registry/events/", "/registry/minions/", "/registry/horizontalpodautoscalers/",
                      "/registry/deployments/", "/registry/replicasets/", "/registry/pods/",
                      "/registry/poddisruptionbudgets/", "/registry/serviceaccounts/")


def etcd_revision(control_plane):
    return int(etcd_range(control_plane, {"key": base64.b64encode(b"/").decode(), "count_only": True})["header"]["revision"])


def etcd_written_since(control_plane, revision):
    changed = etcd_range(control_plane, {"key": base64.b64encode(b"\0").decode(), "range_end": base64.b64encode(
        b"\0").decode(), "min_mod_revision": str(revision + 1)})
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]) for kv in changed.get("kvs") or []}


def foreign_writes(written):
    return sorted(k for k in written if not k.startswith(BACKGROUND_WRITERS))
