"""Upgrade readiness (KC-OPS-012 version skew, KC-OPS-013 deprecated APIs requested) on recorded objects and a
recorded /metrics exposition, and the metrics reader behind gather."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s import metrics
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, gather, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import upgrades
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

CHECKS = {c.id: c for c in upgrades.CHECKS}
NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
FORBIDDEN_METRICS = {"error": {"category": "forbidden", "message": (
    'forbidden: User "audit" cannot get path "/metrics"; the assessing identity needs a ClusterRole rule '
    '{nonResourceURLs: ["/metrics"], verbs: ["get"]} to read apiserver_requested_deprecated_apis')}}

# Recorded from a v1.36 API server's GET /metrics (HELP/TYPE lines and a neighbouring metric kept).
EXPOSITION = """\
# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by \
API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="",removed_release="",resource="componentstatuses",subresource="",\
version="v1"} 1
apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",removed_release="1.37",\
resource="flowschemas",subresource="status",version="v1beta3"} 1
apiserver_requested_deprecated_apis_total{group="x"} 7
# HELP apiserver_request_total [STABLE] Counter of apiserver requests
apiserver_request_total{code="200",verb="GET"} 12
"""


def mirror_pod(component, node, version):
    return {"metadata": {"name": "%s-%s" % (component, node), "namespace": "kube-system",
                         "labels": {"component": component}, "annotations": {"kubernetes.io/config.mirror": "x"}},
            "spec": {"nodeName": node,
                     "containers": [{"name": component, "image": "registry.k8s.io/%s:%s" % (component, version)}]},
            "status": {"phase": "Running"}}


def node(name, kubelet, os_image="Ubuntu 24.04.1 LTS"):
    return {"metadata": {"name": name}, "status": {"nodeInfo": {
        "kubeletVersion": kubelet, "osImage": os_image, "kernelVersion": "6.8.0-45-generic",
        "containerRuntimeVersion": "containerd://2.0.1", "architecture": "amd64"}}}


def control_plane(version="v1.36.1", nodes=("cp1",), scheduler=None, controller=None):
    pods = []
    for name in nodes:
        pods.append(mirror_pod("kube-apiserver", name, version))
        pods.append(mirror_pod("kube-controller-manager", name, controller or version))
        pods.append(mirror_pod("kube-scheduler", name, scheduler or version))
    return pods


def run(check_id, kinds, version="v1.36.1"):
    snapshot = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": "important",
                            "version": {"gitVersion": version}},
                "kinds": {k: v if isinstance(v, dict) else {"items": v} for k, v in kinds.items()}}
    return engine.run_check(CHECKS[check_id], Context(snapshot, tiers.tier_table(), now=NOW))


def verdicts(result):
    return {(o["kind"], o["name"]): o["verdict"] for o in result.objects}


# -- KC-OPS-012 ------------------------------------------------------------------------------------------------------

def test_skew_within_policy_passes_and_reports_kubelet_and_os_versions():
    result = run("KC-OPS-012", {"pods": control_plane(), "nodes": [node("w1", "v1.33.5"), node("w2", "v1.36.1")]})
    assert result.verdict == "pass", result.message
    assert result.evidence["nodes"]["w1"] == {"kubelet": "v1.33.5", "os_image": "Ubuntu 24.04.1 LTS",
                                              "kernel": "6.8.0-45-generic", "container_runtime": "containerd://2.0.1",
                                              "architecture": "amd64"}
    assert result.evidence["control_plane"]["kube-apiserver"] == {"cp1": "v1.36.1"}


@pytest.mark.parametrize("kubelet, reason", [
    ("v1.32.9", "kubelet v1.32 is more than 3 minors older than the oldest API server v1.36"),
    ("v1.37.0", "kubelet v1.37 is newer than the oldest API server v1.36"),
])
def test_kubelet_outside_the_skew_fails(kubelet, reason):
    result = run("KC-OPS-012", {"pods": control_plane(), "nodes": [node("w1", kubelet)]})
    assert result.verdict == "fail"
    assert next(o["reason"] for o in result.objects if o["name"] == "w1") == reason
    assert reason in result.message


def test_ha_apiservers_two_minors_apart_fail_and_controllers_follow_the_oldest():
    """Mid-upgrade gone wrong: cp1 at 1.36, cp2 still at 1.34 (apiservers must be within one minor); a scheduler at
    1.36 is newer than the oldest apiserver; a kubelet at 1.35 is newer than the oldest too."""
    pods = control_plane("v1.36.0", ("cp1",)) + control_plane("v1.34.2", ("cp2",))
    result = run("KC-OPS-012", {"pods": pods, "nodes": [node("w1", "v1.35.0")]})
    got = verdicts(result)
    assert got[("kube-apiserver", "cp2")] == "fail"
    assert got[("kube-scheduler", "cp1")] == "fail" and got[("kube-controller-manager", "cp1")] == "fail"
    assert got[("kube-scheduler", "cp2")] == "fail"  # 1.34 is more than one minor behind the newest (1.36)
    assert got[("Node", "w1")] == "fail"


def test_controller_manager_one_minor_behind_passes_two_fails():
    one = run("KC-OPS-012", {"pods": control_plane(controller="v1.35.4"), "nodes": []})
    two = run("KC-OPS-012", {"pods": control_plane(controller="v1.34.4"), "nodes": []})
    assert one.verdict == "pass" and "no Node objects" in one.message
    assert two.verdict == "fail"
    assert "more than 1 minor older than the newest API server v1.36" in two.message


def test_managed_control_plane_uses_the_served_version_and_untagged_images_are_unknown():
    """No mirror pods (a managed control plane): the /version answer is the apiserver; a scheduler image pinned by
    digest alone names no version, which is unknown, never pass."""
    managed = run("KC-OPS-012", {"pods": [], "nodes": [node("w1", "v1.34.0-eks-1")]}, version="v1.36.2-eks-abc")
    assert managed.verdict == "pass" and verdicts(managed)[("kube-apiserver", "/version")] == "pass"
    pods = control_plane()
    pods[2]["spec"]["containers"][0]["image"] = "registry.k8s.io/kube-scheduler@sha256:" + "a" * 64
    digest = run("KC-OPS-012", {"pods": pods, "nodes": []})
    assert digest.verdict == "unknown"


def test_skew_unreadable_nodes_are_unknown():
    result = run("KC-OPS-012", {"pods": control_plane(), "nodes": {"error": {"category": "forbidden",
                                                                             "message": "forbidden: nodes"}}})
    assert result.verdict == "unknown" and "nodes" in result.message


# -- KC-OPS-013 ------------------------------------------------------------------------------------------------------

def test_metrics_reader_keeps_only_the_deprecated_api_series():
    assert metrics.deprecated_api_requests(EXPOSITION) == [
        {"group": "", "version": "v1", "resource": "componentstatuses", "subresource": "", "removed_release": ""},
        {"group": "flowcontrol.apiserver.k8s.io", "version": "v1beta3", "resource": "flowschemas",
         "subresource": "status", "removed_release": "1.37"}]
    assert metrics.deprecated_api_requests("") == []


def test_api_removed_in_the_next_minor_fails_naming_it():
    requested = metrics.deprecated_api_requests(EXPOSITION)
    result = run("KC-OPS-013", {"deprecated_api_requests": requested})
    assert result.verdict == "fail"
    assert "flowcontrol.apiserver.k8s.io/v1beta3 flowschemas/status (deprecated, removed in 1.37 (next minor " \
           "1.37)" in result.message
    assert "v1 componentstatuses (deprecated, no removal release announced)" in result.message
    assert result.evidence["next_minor"] == "1.37"


def test_api_removed_later_is_reported_but_passes():
    requested = [{"group": "x.example.io", "version": "v1beta1", "resource": "widgets", "subresource": "",
                  "removed_release": "1.39"}]
    result = run("KC-OPS-013", {"deprecated_api_requests": requested})
    assert result.verdict == "pass"
    assert "x.example.io/v1beta1 widgets (deprecated, removed in 1.39)" in result.message


def test_no_deprecated_request_passes():
    assert run("KC-OPS-013", {"deprecated_api_requests": []}).verdict == "pass"


def crd(name, stored, **versions):
    return {"metadata": {"name": name},
            "spec": {"versions": [dict(fields, name=version) for version, fields in versions.items()]},
            "status": {"storedVersions": stored}}


def test_crds_storing_objects_in_retiring_versions_are_named():
    crds = [crd("widgets.example.io", ["v1beta1", "v1"], v1beta1={"served": True, "deprecated": True},
                v1={"served": True, "storage": True}),
            crd("gadgets.example.io", ["v1alpha1", "v1"], v1={"served": True, "storage": True}),
            crd("tools.example.io", ["v1"], v1={"served": True, "storage": True})]
    result = run("KC-OPS-013", {"deprecated_api_requests": [], "customresourcedefinitions": crds})
    assert result.verdict == "pass"
    assert result.evidence["crd_stored_versions"] == {"widgets.example.io": ["v1beta1 (deprecated)"],
                                                      "gadgets.example.io": ["v1alpha1 (no longer in spec.versions)"]}
    assert "CRD gadgets.example.io (objects may be stored in v1alpha1 (no longer in spec.versions)" in result.message
    clean = run("KC-OPS-013", {"deprecated_api_requests": [], "customresourcedefinitions": crds[2:]})
    assert clean.message == ("no deprecated API requested since the API server started, and no CRD stores objects "
                             "in a retiring version")


def test_forbidden_metrics_are_unknown_naming_the_rbac_rule():
    result = run("KC-OPS-013", {"deprecated_api_requests": FORBIDDEN_METRICS})
    assert result.verdict == "unknown"
    assert 'nonResourceURLs: ["/metrics"], verbs: ["get"]' in result.message


class MetricsClient:
    """The client surface gather uses: GET /metrics answers text (parsed as {"raw": ...}) or a status error; the
    CRD LIST is empty."""

    requests = 0

    def __init__(self, status=200):
        self.status = status
        self.accept = None

    def get(self, path, query=None, accept=None):
        self.requests += 1
        if path == "/version":
            return {"gitVersion": "v1.36.1"}
        assert path == "/metrics"
        self.accept = accept
        if self.status == 403:
            raise KubeCompassError('forbidden: User "audit" cannot get path "/metrics"', "forbidden", 403)
        return {"raw": EXPOSITION}

    def list(self, path, query=None, page_size=None):
        assert path == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        return []


def test_gather_reads_metrics_once_and_a_403_names_the_rule():
    ok = MetricsClient()
    snapshot = gather.gather(ok, [CHECKS["KC-OPS-013"]])
    assert snapshot["kinds"]["deprecated_api_requests"]["items"][1]["removed_release"] == "1.37"
    assert ok.accept == "text/plain"
    denied = gather.gather(MetricsClient(403), [CHECKS["KC-OPS-013"]])
    error = denied["kinds"]["deprecated_api_requests"]["error"]
    assert error["category"] == "forbidden"
    assert 'ClusterRole rule {nonResourceURLs: ["/metrics"], verbs: ["get"]}' in error["message"]
