# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Gather: one cluster-wide, paginated LIST per kind the selected checks need, and nothing else.

A kind that cannot be listed (403, API not served because its CRD is absent) is recorded with its cause, so only
the checks that need it become unknown. Transport and authentication failures are not per kind: they end the
cluster's assessment, reported as unreachable.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import time

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s import alertmanager
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s import metrics

# key -> (collection path, query). Every LIST is cluster-wide except the few deliberately narrowed by
# namespace or selector, whose answers are small whatever the cluster's size.
KIND_SPECS = {
    "namespaces": ("/api/v1/namespaces", None),
    "nodes": ("/api/v1/nodes", None),
    "pods": ("/api/v1/pods", None),
    "services": ("/api/v1/services", None),
    "persistentvolumeclaims": ("/api/v1/persistentvolumeclaims", None),
    "serviceaccounts": ("/api/v1/serviceaccounts", None),
    "resourcequotas": ("/api/v1/resourcequotas", None),
    "limitranges": ("/api/v1/limitranges", None),
    "kube_system_configmaps": ("/api/v1/namespaces/kube-system/configmaps", None),
    "kubecompass_drill_records": ("/api/v1/configmaps", {"labelSelector": "kubecompass.io/restore-drill=true"}),
    "kubernetes_endpointslices": ("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                                  {"labelSelector": "kubernetes.io/service-name=kubernetes"}),
    # Not a LIST: the API server's metrics, of which READERS keeps the deprecated-API request series.
    "deprecated_api_requests": ("/metrics", None),
    "deployments": ("/apis/apps/v1/deployments", None),
    "statefulsets": ("/apis/apps/v1/statefulsets", None),
    "daemonsets": ("/apis/apps/v1/daemonsets", None),
    "poddisruptionbudgets": ("/apis/policy/v1/poddisruptionbudgets", None),
    "horizontalpodautoscalers": ("/apis/autoscaling/v2/horizontalpodautoscalers", None),
    "ingresses": ("/apis/networking.k8s.io/v1/ingresses", None),
    "networkpolicies": ("/apis/networking.k8s.io/v1/networkpolicies", None),
    "clusterroles": ("/apis/rbac.authorization.k8s.io/v1/clusterroles", None),
    "clusterrolebindings": ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", None),
    "roles": ("/apis/rbac.authorization.k8s.io/v1/roles", None),
    "rolebindings": ("/apis/rbac.authorization.k8s.io/v1/rolebindings", None),
    "customresourcedefinitions": ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", None),
    "validatingwebhookconfigurations": ("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
                                        None),
    "mutatingwebhookconfigurations": ("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", None),
    "validatingadmissionpolicies": ("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", None),
    "validatingadmissionpolicybindings": ("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
                                          None),
    "ciliumnetworkpolicies": ("/apis/cilium.io/v2/ciliumnetworkpolicies", None),
    "ciliumclusterwidenetworkpolicies": ("/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies", None),
    "calicoglobalnetworkpolicies": ("/apis/crd.projectcalico.org/v1/globalnetworkpolicies", None),
    "velero_schedules": ("/apis/velero.io/v1/schedules", None),
    "velero_backups": ("/apis/velero.io/v1/backups", None),
    "velero_restores": ("/apis/velero.io/v1/restores", None),
    "velero_backupstoragelocations": ("/apis/velero.io/v1/backupstoragelocations", None),
    "velero_volumesnapshotlocations": ("/apis/velero.io/v1/volumesnapshotlocations", None),
    "prometheuses": ("/apis/monitoring.coreos.com/v1/prometheuses", None),
    "alertmanagers": ("/apis/monitoring.coreos.com/v1/alertmanagers", None),
    "prometheusrules": ("/apis/monitoring.coreos.com/v1/prometheusrules", None),
    "alertmanagerconfigs": ("/apis/monitoring.coreos.com/v1alpha1/alertmanagerconfigs", None),
    # Alertmanager configurations (the operator's alertmanager-<name> Secret, VMAlertmanager configSecret): every
    # Secret is reduced to its routing summary as it arrives (REDUCERS); Helm release, token, TLS and registry
    # Secrets never hold one and are not fetched.
    "alertmanager_secrets": ("/api/v1/secrets", {"fieldSelector": "type!=helm.sh/release.v1,"
                                                 "type!=kubernetes.io/service-account-token,type!=kubernetes.io/tls,"
                                                 "type!=kubernetes.io/dockerconfigjson"}),
    # The prometheus-community charts' server and Alertmanager ConfigMaps (rules, prometheus.yml, alertmanager.yml).
    "monitoring_configmaps": ("/api/v1/configmaps",
                              {"labelSelector": "app.kubernetes.io/name in (prometheus,alertmanager)"}),
    "vmalerts": ("/apis/operator.victoriametrics.com/v1beta1/vmalerts", None),
    "vmalertmanagers": ("/apis/operator.victoriametrics.com/v1beta1/vmalertmanagers", None),
    "vmrules": ("/apis/operator.victoriametrics.com/v1beta1/vmrules", None),
}

# Pages large enough that a LIST is one or two requests even at thousands of namespaces.
DEFAULT_PAGE_SIZE = 5000
# Fields never kept in the snapshot: large, never judged, and (last-applied) possibly sensitive.
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def needed_kinds(checks):
    kinds = []
    for check in checks:
        for need in check.needs:
            if need in KIND_SPECS and need not in kinds:
                kinds.append(need)
    return kinds


def _slim(item):
    meta = item.get("metadata")
    if meta:
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if annotations:
            for key in _DROP_ANNOTATIONS:
                annotations.pop(key, None)
    if item.get("kind") == "ConfigMap" or "binaryData" in item:
        item.pop("binaryData", None)
    return item


def _keep(item):
    return item


# Kinds whose items are cut down as they arrive, so credentials in them never enter the snapshot.
REDUCERS = {
    "alertmanager_secrets": lambda item: alertmanager.summarise_object(item, is_secret=True),
    "monitoring_configmaps": lambda item: alertmanager.summarise_object(item, is_secret=False),
    "vmalertmanagers": alertmanager.summarise_vmalertmanager,
}

# Inputs read by their own request instead of a paginated LIST.
READERS = {"deprecated_api_requests": metrics.read_deprecated_api_requests}

FATAL_CATEGORIES = ("unreachable", "tls", "timeout", "unauthorized")


def without_api(checks, cause):
    """The snapshot's API part for a cluster whose Kubernetes API is not to be used: every kind unreadable with
    ``cause``, so the checks that need one are unknown and only provider-backed checks reach a verdict."""
    kinds = {key: {"error": {"category": "input", "message": cause, "status": None}} for key in needed_kinds(checks)}
    return {"version": None, "kinds": kinds, "api_requests": 0, "gather_seconds": 0.0}


def gather(client, checks, page_size=DEFAULT_PAGE_SIZE):
    """The snapshot's API part: server version and one LIST per needed kind, with per-kind errors and timings."""
    started = time.monotonic()
    kinds = {}
    version = client.get("/version")
    for key in needed_kinds(checks):
        path, query = KIND_SPECS[key]
        try:
            read = READERS.get(key)
            items = read(client, path) if read else client.list(path, query, page_size=page_size)
        except KubeCompassError as exc:
            if exc.category in FATAL_CATEGORIES:
                raise
            kinds[key] = {"error": {"category": exc.category, "message": str(exc), "status": exc.status}}
            continue
        reduce = REDUCERS.get(key, _keep)
        kinds[key] = {"items": [reduce(_slim(i)) for i in items]}
    return {
        "version": version,
        "kinds": kinds,
        "api_requests": client.requests,
        "gather_seconds": round(time.monotonic() - started, 3),
    }
