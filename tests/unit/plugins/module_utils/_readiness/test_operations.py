"""Operations checks (KC-OPS-*) on crafted API objects, run through the engine."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import operations
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

CHECKS = {c.id: c for c in operations.CHECKS}
FIXED_NOW = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.UTC)
NOT_SERVED = {"error": {"category": "not_found", "message": "the server could not find the requested resource"}}
FORBIDDEN = {"error": {"category": "forbidden", "message": "forbidden: User \"audit\" cannot list"}}


def snapshot(kinds, tier="important", distribution="kubeadm", version="v1.36.3"):
    return {"cluster": {"name": "c", "distribution": distribution, "tier": tier, "version": {"gitVersion": version}},
            "kinds": {k: ({"items": v} if isinstance(v, list) else v) for k, v in kinds.items()},
            "nodes": {"hosts": {}}}


def run(check_id, kinds, **cluster):
    return engine.run_check(CHECKS[check_id], Context(snapshot(kinds, **cluster), tiers.tier_table(), now=FIXED_NOW))


def namespace(name, **labels):
    return {"metadata": {"name": name, "labels": dict({"kubernetes.io/metadata.name": name}, **labels)}}


def workload(name, image, ns="default", replicas=None):
    item = {"metadata": {"name": name, "namespace": ns},
            "spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}}
    if replicas is not None:
        item["spec"]["replicas"] = replicas
    return item


def crd(name):
    return {"metadata": {"name": name}}


def test_catalog_metadata():
    assert sorted(CHECKS) == ["KC-OPS-002", "KC-OPS-003", "KC-OPS-004"]
    for check_id, item, severity in (("KC-OPS-002", "centralized-logging", "medium"),
                                     ("KC-OPS-003", "gitops-change-management", "medium")):
        check = CHECKS[check_id]
        assert (check.area, check.item, check.severity) == ("operations", item, severity)
        assert check.required_for == ("critical", "important")
        assert check.runbook and check.remediation is None


# -- KC-OPS-002 log shipping ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, image", [
    ("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.1.4"),
    ("logs", "cr.fluentbit.io/fluent/fluent-bit:3.1.4"),
    ("node-logs", "fluent/fluentd-kubernetes-daemonset:v1.17-debian-elasticsearch8-1"),
    ("vector", "registry.example.com/mirror/something:1"),
    ("log-agent", "timberio/vector:0.40.0-distroless-libc"),
    ("loki-promtail", "docker.io/grafana/promtail:3.0.0"),
    ("alloy", "grafana/alloy:v1.4.0"),
    ("agent", "grafana/agent:v0.43.0"),
    ("filebeat", "docker.elastic.co/beats/filebeat:8.15.0"),
    ("otel", "otel/opentelemetry-collector-contrib:0.110.0"),
    ("datadog", "gcr.io/datadoghq/agent:7.57.0"),
    ("splunk-otel-collector-agent", "quay.io/signalfx/splunk-otel-collector:0.109.0"),
    ("aws-for-fluent-bit", "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.2"),
    ("cloudwatch-agent", "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300044.0"),
    ("ama-logs", "mcr.microsoft.com/azuremonitor/containerinsights/ciprod:3.1.23"),
    ("fluentbit-gke", "gke.gcr.io/fluent-bit:v1.8.12-gke.36"),
])
def test_log_agents_are_found(name, image):
    result = run("KC-OPS-002", {"daemonsets": [workload(name, image, ns="logging")]})
    assert result.verdict == "pass"
    assert "DaemonSet logging/%s" % name in result.message


def test_no_log_agent_on_self_managed_fails():
    result = run("KC-OPS-002", {"daemonsets": [workload("node-exporter", "quay.io/prometheus/node-exporter:v1.8.2"),
                                               workload("vectorized-db", "example/db:1")]})
    assert result.verdict == "fail"
    assert "no log shipping agent DaemonSet" in result.message


def test_no_log_agent_on_managed_asks_the_provider():
    result = run("KC-OPS-002", {"daemonsets": []}, distribution="gke")
    assert result.verdict == "unknown"
    assert "gke provider API" in result.message


def test_log_agent_found_on_managed_passes():
    result = run("KC-OPS-002", {"daemonsets": [workload("fluentbit-gke", "gke.gcr.io/fluent-bit:v1", "kube-system")]},
                 distribution="gke")
    assert result.verdict == "pass"


def test_log_agents_unreadable_is_unknown():
    assert run("KC-OPS-002", {"daemonsets": FORBIDDEN}).verdict == "unknown"


# -- KC-OPS-003 GitOps ------------------------------------------------------------------------------------------------

ARGO_CRD = crd("applications.argoproj.io")
FLUX_CRD = crd("kustomizations.kustomize.toolkit.fluxcd.io")


def gitops(crds, deployments=(), statefulsets=()):
    return run("KC-OPS-003", {"customresourcedefinitions": crds, "deployments": list(deployments),
                              "statefulsets": list(statefulsets)})


def test_argocd_application_controller_statefulset_passes():
    result = gitops([ARGO_CRD], statefulsets=[
        workload("argocd-application-controller", "quay.io/argoproj/argocd:v2.12.4", "argocd")])
    assert result.verdict == "pass"
    assert "Argo CD" in result.message


def test_argocd_found_by_image():
    result = gitops([ARGO_CRD], deployments=[workload("gitops-controller", "quay.io/argoproj/argocd:v2.12.4", "cd")])
    assert result.verdict == "pass"


def test_flux_passes():
    result = gitops([FLUX_CRD], deployments=[
        workload("kustomize-controller", "ghcr.io/fluxcd/kustomize-controller:v1.4.0", "flux-system")])
    assert result.verdict == "pass"
    assert "Flux" in result.message


def test_rancher_fleet_passes():
    result = gitops([], deployments=[workload("fleet-controller", "rancher/fleet:v0.10.4", "cattle-fleet-system")])
    assert result.verdict == "pass"
    assert "Rancher Fleet" in result.message


def test_crd_without_controller_fails_and_says_so():
    result = gitops([ARGO_CRD], deployments=[workload("web", "nginx:1.27")])
    assert result.verdict == "fail"
    assert "Argo CD CRD applications.argoproj.io present but no running controller" in result.message


def test_controller_without_crd_fails():
    result = gitops([], deployments=[
        workload("kustomize-controller", "ghcr.io/fluxcd/kustomize-controller:v1.4.0", "flux-system")])
    assert result.verdict == "fail"
    assert "Flux controller without its CRD" in result.message


def test_controller_scaled_to_zero_fails():
    result = gitops([FLUX_CRD], deployments=[
        workload("kustomize-controller", "ghcr.io/fluxcd/kustomize-controller:v1.4.0", "flux-system", replicas=0)])
    assert result.verdict == "fail"
    assert "scaled to 0" in result.message


def test_no_gitops_controller_fails():
    result = gitops([])
    assert result.verdict == "fail"
    assert result.message == "no GitOps controller (Argo CD, Flux or Rancher Fleet)"


def test_gitops_unreadable_is_unknown():
    result = run("KC-OPS-003", {"customresourcedefinitions": [], "deployments": [], "statefulsets": FORBIDDEN})
    assert result.verdict == "unknown"


# -- KC-OPS-004 supported version (existing check) ---------------------------------------------------------------------

@pytest.mark.parametrize("version, verdict", [("v1.36.3", "pass"), ("v1.31.2", "fail"), ("v1.40.0", "pass"),
                                              ("weird", "unknown")])
def test_version_support_window(version, verdict):
    assert run("KC-OPS-004", {}, version=version).verdict == verdict


# -- shared helpers ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("image, repository", [
    ("nginx", "nginx"),
    ("nginx:1.27", "nginx"),
    ("registry.example.com:5000/team/app:1.0", "registry.example.com:5000/team/app"),
    ("registry.example.com:5000/team/app", "registry.example.com:5000/team/app"),
    ("Quay.io/ArgoProj/argocd@sha256:abc", "quay.io/argoproj/argocd"),
    ("ghcr.io/x/y:v1@sha256:abc", "ghcr.io/x/y"),
])
def test_image_repository(image, repository):
    assert operations.image_repository(image) == repository
