"""Upgrade readiness on the local control plane: deprecated API versions the test requests (a CRD's deprecated
v1beta1, and the built-in v1 ComponentStatus) show up in KC-OPS-013, read from the real API server's
apiserver_requested_deprecated_apis; an identity without the /metrics rule makes it unknown naming the rule; KC-OPS-012
reports each Node's kubelet and OS versions. In-process (gather, then the engine): a few seconds."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import AUTH_ARG_SPEC
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.assess import assess
from kclocal.kube import ApiError
from tests.integration import seed

pytestmark = pytest.mark.nodes(1)

CHECKS = ["KC-OPS-012", "KC-OPS-013"]
GROUP = "kc-upgrade.example.com"
CRD_NAME = "widgets.%s" % GROUP
# A CRD serving v1beta1 marked deprecated next to v1: the API server warns on each v1beta1 request and counts it in
# apiserver_requested_deprecated_apis with an empty removed_release (a CRD announces no removal release).
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": CRD_NAME},
       "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "versions": [
                    {"name": "v1beta1", "served": True, "storage": False, "deprecated": True,
                     "deprecationWarning": "kc-upgrade.example.com/v1beta1 Widget is deprecated; use v1",
                     "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
                    {"name": "v1", "served": True, "storage": True,
                     "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def run_checks(control_plane, impersonate=None):
    params = {key: spec.get("default") for key, spec in AUTH_ARG_SPEC.items()}
    params.update(kubeconfig=str(control_plane.kubeconfig), impersonate_user=impersonate)
    # Declared: an identity that may list nothing leaves no marker to guess the distribution from.
    result = assess(client_from_params(params), "localcp", "important", distribution="kubeadm", include=CHECKS)
    return {f["check_id"]: f for f in result["findings"]}


@pytest.fixture(scope="module")
def deprecated_api(control_planes):
    control_plane = control_planes.get(1)
    client = control_plane.client()
    try:
        client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    except ApiError as exc:
        if exc.status != 409:
            raise

    def served() -> bool:
        try:
            client.request("GET", "/apis/%s/v1beta1/widgets" % GROUP)
        except ApiError:
            return False
        return True

    seed.wait_for("CRD %s serving v1beta1" % CRD_NAME, served, 60, interval=0.5)
    # And a built-in one: v1 ComponentStatus, deprecated since 1.19 (v1.36 serves no beta API by default, and
    # enabling one needs an API server restart).
    client.request("GET", "/api/v1/componentstatuses")
    yield control_plane
    client.request("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s" % CRD_NAME)


def test_a_deprecated_api_request_made_here_appears_in_the_finding(deprecated_api):
    findings = run_checks(deprecated_api)
    deprecated = findings["KC-OPS-013"]
    name = "%s/v1beta1 widgets" % GROUP
    assert name in deprecated["message"], deprecated["message"]
    ours = next(o for o in deprecated["objects"] if o["name"] == name)
    assert ours["verdict"] == "pass" and ours["reason"] == "deprecated, no removal release announced"
    assert {"group": GROUP, "version": "v1beta1", "resource": "widgets", "subresource": "",
            "removed_release": ""} in deprecated["evidence"]["requested"]
    builtin = next(o for o in deprecated["objects"] if o["name"] == "v1 componentstatuses")
    assert builtin["reason"] == "deprecated, no removal release announced"
    skew = findings["KC-OPS-012"]
    assert skew["evidence"]["api_server_version"].startswith("v1.36"), skew
    assert set(skew["evidence"]["nodes"]) == {"kc-cp1"}, skew["evidence"]


def test_metrics_forbidden_is_unknown_naming_the_rbac_rule(deprecated_api):
    findings = run_checks(deprecated_api, impersonate="kc-no-metrics")
    deprecated = findings["KC-OPS-013"]
    assert deprecated["verdict"] == "unknown"
    assert 'nonResourceURLs: ["/metrics"], verbs: ["get"]' in deprecated["message"]
