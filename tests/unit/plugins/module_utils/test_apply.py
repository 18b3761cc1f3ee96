"""_apply: the labels kubecompass owns through server-side apply, and what a 404 of a namespaced apply means."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from tests.unit.plugins.modules.test_pod_security_module import FakeClient, namespace, status_body

NS = "/api/v1/namespaces/%s"
PDB = "/apis/policy/v1/namespaces/%s/poddisruptionbudgets/%s"
SA = "/api/v1/namespaces/%s/serviceaccounts/%s"


def entry(manager, operation, fields, **extra):
    return dict({"manager": manager, "operation": operation, "apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": fields}, **extra)


def labels_fields(*keys):
    return {"f:metadata": {"f:labels": dict({".": {}}, **{"f:" + key: {} for key in keys})}}


# -- owned_label_keys -------------------------------------------------------------------------------------------------

def test_owned_label_keys_are_those_of_the_managers_apply_entry_of_the_main_resource():
    obj = {"metadata": {"managedFields": [
        entry("kubecompass", "Apply", labels_fields("pod-security.kubernetes.io/warn", "team")),
        entry("kubectl-label", "Update", labels_fields("pod-security.kubernetes.io/audit")),
        entry("kubecompass", "Update", labels_fields("kubecompass.io/tier")),
        entry("kubecompass", "Apply", labels_fields("status-label"), subresource="status"),
        entry("kubecompass", "Apply", {"f:metadata": {"f:annotations": {"f:note": {}}}, "f:spec": {}}),
    ]}}
    assert _apply.owned_label_keys(obj) == {"pod-security.kubernetes.io/warn", "team"}
    assert _apply.owned_label_keys(obj, manager="kubectl-label") == set()


@pytest.mark.parametrize("obj", [{}, {"metadata": {}}, {"metadata": {"managedFields": None}},
                                 {"metadata": {"managedFields": [entry("kubecompass", "Apply", None)]}},
                                 {"metadata": {"managedFields": [entry("kubecompass", "Apply", {"f:metadata": {}})]}}])
def test_owned_label_keys_of_an_object_without_them_is_empty(obj):
    assert _apply.owned_label_keys(obj) == set()


# -- 404 of a namespaced apply ----------------------------------------------------------------------------------------

def budget(name, ns):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": ns},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}}}


def account(ns):
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns},
            "automountServiceAccountToken": False}


def test_a_resource_type_the_server_does_not_serve_is_reported_with_the_original_error():
    client = FakeClient([namespace("api"), namespace("shop")], unserved=("/apis/policy/v1/",))
    results, errors = _apply.apply_per_namespace(client, [("api", [budget("gateway", "api")]),
                                                          ("shop", [account("shop")])], check_mode=False)
    assert errors == {"api": "PodDisruptionBudget api/gateway: not found: the server could not find the requested "
                             "resource"}
    assert ("GET", NS % "api") in client.methods()
    assert [done["action"] for done in results["shop"]] == ["created"] and results["api"] == []


def test_a_namespace_deleted_meanwhile_is_named_as_gone():
    client = FakeClient([namespace("api")], fail={PDB % ("api", "gateway"): 404})
    _results, errors = _apply.apply_per_namespace(client, [("api", [budget("gateway", "api")])], check_mode=False)
    assert errors == {"api": _apply.NAMESPACE_GONE} == {"api": "namespace no longer exists"}


def test_other_failures_keep_their_cause_and_read_no_namespace():
    client = FakeClient([namespace("api")], fail={PDB % ("api", "gateway"): 403})
    _results, errors = _apply.apply_per_namespace(client, [("api", [budget("gateway", "api")])], check_mode=False)
    assert errors["api"].startswith("PodDisruptionBudget api/gateway: forbidden")
    assert ("GET", NS % "api") not in client.methods()


class NamespaceUnreadable(FakeClient):
    """The GET of a namespace answers ``status``, or (status None) the API server cannot be reached."""

    def __init__(self, *args, status=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.namespace_status = status

    def request(self, method, path, query=None, body=None, content_type="application/json"):
        if method == "GET" and path.startswith("/api/v1/namespaces/") and path.count("/") == 4:
            self.calls.append((method, path, {}, None, None))
            if self.namespace_status is None:
                raise KubeCompassError("cannot reach https://fake:6443: connection refused", "unreachable")
            return self.namespace_status, status_body(self.namespace_status, "namespaces is forbidden"), {}
        return super().request(method, path, query, body, content_type)


@pytest.mark.parametrize("status, read_error", [
    (403, "forbidden: namespaces is forbidden"),
    (None, "cannot reach https://fake:6443: connection refused")])
def test_a_namespace_that_cannot_be_read_leaves_the_original_error_with_why(status, read_error):
    client = NamespaceUnreadable([namespace("api")], unserved=("/apis/policy/v1/",), status=status)
    _results, errors = _apply.apply_per_namespace(client, [("api", [budget("gateway", "api")])], check_mode=True)
    assert errors == {"api": "PodDisruptionBudget api/gateway: not found: the server could not find the requested "
                             "resource (and the namespace could not be read: %s)" % read_error}


def test_failure_cause_quotes_the_namespace_name_in_the_path():
    client = FakeClient()
    error = KubeCompassError("not found: x", "not_found", 404)
    assert _apply.failure_cause(client, "a b", error) == _apply.NAMESPACE_GONE
    assert client.methods() == [("GET", "/api/v1/namespaces/a%20b")]


# -- an object that must exist ------------------------------------------------------------------------------------------

def test_must_exist_refuses_to_create_what_is_gone_and_writes_nothing():
    client = FakeClient([namespace("shop")])
    gone = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone", "labels": {"a": "b"}}}
    with pytest.raises(KubeCompassError, match="Namespace gone no longer exists") as raised:
        _apply.apply(client, gone, check_mode=False, force=True, must_exist=True)
    assert raised.value.status == 404 and client.writes() == []
    assert _apply.failure_cause(client, "gone", raised.value) == _apply.NAMESPACE_GONE
    # Without must_exist, server-side apply creates it: the default for objects kubecompass owns.
    assert _apply.apply(client, gone, check_mode=False)["action"] == "created"


# -- digests for the change record --------------------------------------------------------------------------------------

def test_changed_objects_carry_the_digests_of_before_and_after_and_the_plan_matches_the_change():
    client = FakeClient([namespace("shop")])
    planned = _apply.apply(client, budget("web", "shop"), check_mode=True)
    created = _apply.apply(client, budget("web", "shop"), check_mode=False)
    again = _apply.apply(client, budget("web", "shop"), check_mode=False)
    (plan,) = _apply.changed_objects([planned])
    assert plan == {"object": "PodDisruptionBudget shop/web", "action": "created", "before": None,
                    "after": created["digests"]["after"]}
    assert plan["after"].startswith("sha256:") and len(plan["after"]) == 71
    # The stored object's server-set fields (uid, resourceVersion) are not part of the digest.
    assert again["digests"] == {"before": created["digests"]["after"], "after": created["digests"]["after"]}
    assert _apply.changed_objects([again]) == []
    changed = dict(budget("web", "shop"), spec={"maxUnavailable": 2, "selector": {"matchLabels": {"app": "web"}}})
    (updated,) = _apply.changed_objects([_apply.apply(client, changed, check_mode=False)])
    assert updated["action"] == "updated" and updated["before"] == created["digests"]["after"] != updated["after"]
