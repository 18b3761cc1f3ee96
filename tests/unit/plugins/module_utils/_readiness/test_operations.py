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
    assert sorted(CHECKS) == ["KC-OPS-001", "KC-OPS-002", "KC-OPS-003", "KC-OPS-004"]
    for check_id, item, severity in (("KC-OPS-001", "monitoring-alerting", "high"),
                                     ("KC-OPS-002", "centralized-logging", "medium"),
                                     ("KC-OPS-003", "gitops-change-management", "medium")):
        check = CHECKS[check_id]
        assert (check.area, check.item, check.severity) == ("operations", item, severity)
        assert check.required_for == ("critical", "important")
        assert check.runbook and check.remediation is None


# -- KC-OPS-001 monitoring and alerting --------------------------------------------------------------------------------

def prometheus(name="k8s", ns="monitoring", replicas=None, rule_selector=None, rule_namespace_selector=None,
               **spec):
    item = {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
            "metadata": {"name": name, "namespace": ns}, "spec": dict(spec)}
    if replicas is not None:
        item["spec"]["replicas"] = replicas
    if rule_selector is not None:
        item["spec"]["ruleSelector"] = rule_selector
    if rule_namespace_selector is not None:
        item["spec"]["ruleNamespaceSelector"] = rule_namespace_selector
    return item


def alertmanager(name="main", ns="monitoring", replicas=None):
    item = {"metadata": {"name": name, "namespace": ns}, "spec": {}}
    if replicas is not None:
        item["spec"]["replicas"] = replicas
    return item


def rule(name="node-alerts", ns="monitoring", labels=None, alert=True):
    entry = {"alert": "NodeDown", "expr": "up == 0"} if alert else {"record": "job:up:sum", "expr": "sum(up)"}
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"groups": [{"name": "g", "rules": [entry]}]}}


RELEASE = {"matchLabels": {"release": "kps"}}
NAMESPACES = [namespace("monitoring"), namespace("shop", team="shop"), namespace("kube-system")]


def monitoring(prometheuses, alertmanagers, rules, tier="important"):
    return run("KC-OPS-001", {"prometheuses": prometheuses, "alertmanagers": alertmanagers,
                              "prometheusrules": rules, "namespaces": NAMESPACES}, tier=tier)


def test_selected_alerting_rule_passes():
    result = monitoring([prometheus(rule_selector=RELEASE)], [alertmanager()], [rule(labels={"release": "kps"})])
    assert result.verdict == "pass"
    assert result.evidence["alerting_rules_loaded"] == {"monitoring/node-alerts": ["monitoring/k8s"]}


def test_rule_not_selected_by_any_prometheus_fails():
    result = monitoring([prometheus(rule_selector=RELEASE)], [alertmanager()], [rule(labels={"app": "x"})])
    assert result.verdict == "fail"
    assert "no Prometheus selects" in result.message and "monitoring/node-alerts" in result.message
    assert result.evidence["rules_selected_by_no_prometheus"] == ["monitoring/node-alerts"]


def test_absent_rule_selector_selects_nothing():
    result = monitoring([prometheus()], [alertmanager()], [rule()])
    assert result.verdict == "fail"


def test_empty_rule_selector_selects_only_its_own_namespace_by_default():
    own = monitoring([prometheus(rule_selector={})], [alertmanager()], [rule(ns="monitoring")])
    other = monitoring([prometheus(rule_selector={})], [alertmanager()], [rule(ns="shop")])
    assert (own.verdict, other.verdict) == ("pass", "fail")


@pytest.mark.parametrize("namespace_selector, verdict", [
    ({}, "pass"),
    ({"matchLabels": {"team": "shop"}}, "pass"),
    ({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop"]}]}, "pass"),
    ({"matchLabels": {"team": "payments"}}, "fail"),
])
def test_rule_namespace_selector(namespace_selector, verdict):
    result = monitoring([prometheus(rule_selector={}, rule_namespace_selector=namespace_selector)],
                        [alertmanager()], [rule(ns="shop")])
    assert result.verdict == verdict


def test_unselected_rules_are_reported_on_a_passing_check():
    result = monitoring([prometheus(rule_selector=RELEASE)], [alertmanager()],
                        [rule(labels={"release": "kps"}), rule("vendor-alerts", labels={"app": "vendor"})])
    assert result.verdict == "pass"
    assert "selected by no Prometheus never load: monitoring/vendor-alerts" in result.message


def test_recording_rules_alone_do_not_alert():
    result = monitoring([prometheus(rule_selector={})], [alertmanager()], [rule(alert=False)])
    assert result.verdict == "fail"
    assert "no PrometheusRule defines an alert" in result.message


def test_missing_alertmanager_and_prometheus_scaled_to_zero_fail():
    result = monitoring([prometheus(rule_selector={}, replicas=0)], [], [rule()])
    assert result.verdict == "fail"
    assert "no running Prometheus (1 defined, all scaled to 0)" in result.message
    assert "no Alertmanager" in result.message


def test_critical_tier_needs_two_replicas():
    single = monitoring([prometheus(rule_selector={})], [alertmanager(replicas=1)], [rule()], tier="critical")
    assert single.verdict == "fail"
    assert "Prometheus monitoring/k8s has 1" in single.message
    assert "Alertmanager monitoring/main has 1" in single.message
    ha = monitoring([prometheus(rule_selector={}, replicas=2)], [alertmanager(replicas=3)], [rule()], tier="critical")
    assert ha.verdict == "pass"


def test_single_replicas_are_fine_below_critical():
    assert monitoring([prometheus(rule_selector={})], [alertmanager()], [rule()]).verdict == "pass"


def test_prometheus_operator_absent_fails():
    result = run("KC-OPS-001", {"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED,
                                "prometheusrules": NOT_SERVED, "namespaces": NAMESPACES})
    assert result.verdict == "fail"
    assert "prometheus-operator API" in result.message


def test_monitoring_unreadable_is_unknown():
    result = run("KC-OPS-001", {"prometheuses": FORBIDDEN, "alertmanagers": [], "prometheusrules": [],
                                "namespaces": NAMESPACES})
    assert result.verdict == "unknown"


def test_monitoring_not_required_for_best_effort():
    assert monitoring([], [], [], tier="best_effort").verdict == "not_applicable"


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
