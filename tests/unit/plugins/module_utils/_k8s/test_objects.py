"""Object accessors read absent metadata, labels and status as empty."""

from __future__ import annotations

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s import objects


def test_accessors_on_a_namespaced_object():
    pod = {"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}}, "status": {"phase": "Running"}}
    assert objects.object_name(pod) == "web" and objects.object_namespace(pod) == "shop"
    assert objects.object_labels(pod) == {"app": "web"} and objects.object_status(pod) == {"phase": "Running"}
    assert objects.qualified_name(pod) == "shop/web" and objects.object_ref(pod) == "shop/web"


def test_accessors_on_a_bare_cluster_scoped_object():
    node = {"metadata": {"name": "n1", "labels": None}}
    assert objects.qualified_name(node) == "n1" and objects.object_ref(node) == "None/n1"
    assert objects.object_labels(node) == {} and objects.object_status(node) == {}
    assert objects.object_meta({}) == {} and objects.object_name({}) is None
