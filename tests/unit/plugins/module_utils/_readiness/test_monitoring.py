"""Monitoring checks (KC-OPS-001, 008..011) on recorded objects, run through the engine: pass, fail and unknown per
aspect, for the prometheus-operator, VictoriaMetrics, the Helm chart without an operator and managed offerings."""

from __future__ import annotations

import base64
import copy
import datetime
import gzip
import json

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s import alertmanager as am
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, gather, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import monitoring
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

CHECKS = {c.id: c for c in monitoring.CHECKS}
NOW = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.UTC)
NOT_SERVED = {"error": {"category": "not_found", "message": "the server could not find the requested resource"}}
FORBIDDEN = {"error": {"category": "forbidden", "message": 'forbidden: secrets is forbidden: User "audit" cannot list '
                                                           'resource "secrets" in API group "" at the cluster scope'}}
SLACK = "https://hooks.slack.com/services/T000/B000/very-secret-token"


def ns(name, **labels):
    return {"metadata": {"name": name, "labels": dict({"kubernetes.io/metadata.name": name}, **labels)}}


NAMESPACES = [ns("monitoring"), ns("shop", team="shop")]


def ready_status(available):
    return {"availableReplicas": available, "conditions": [
        {"type": "Available", "status": "True" if available else "False", "message": "pods not ready"},
        {"type": "Reconciled", "status": "True"}]}


def prometheus(replicas=2, available=2, status=True, **spec):
    item = {"metadata": {"name": "k8s", "namespace": "monitoring"},
            "spec": dict({"replicas": replicas, "ruleSelector": {}, "evaluationInterval": "15s"}, **spec)}
    if status:
        item["status"] = ready_status(available)
    return item


def alertmanager_cr(replicas=2, available=2, status=True, **spec):
    item = {"metadata": {"name": "main", "namespace": "monitoring"}, "spec": dict({"replicas": replicas}, **spec)}
    if status:
        item["status"] = ready_status(available)
    return item


WATCHDOG = {"alert": "Watchdog", "expr": "vector(1)", "labels": {"severity": "none"}}
FAST = {"alert": "APIDown", "expr": "up == 0", "for": "1m", "labels": {"severity": "critical"}}
SLOW = {"alert": "KubeAPIDown", "expr": "absent(up)", "for": "15m", "labels": {"severity": "critical"}}


def rule(*rules, name="kc-rules", namespace="monitoring", labels=None):
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"groups": [{"name": "g", "rules": list(rules)}]}}


GOOD_CONFIG = {
    "route": {"receiver": "oncall", "group_wait": "10s", "routes": [
        {"matchers": ["alertname = Watchdog"], "receiver": "deadman"},
        {"matchers": ["alertname = InfoInhibitor"], "receiver": "null"}]},
    "receivers": [{"name": "oncall", "slack_configs": [{"api_url": SLACK}]},
                  {"name": "deadman", "webhook_configs": [{"url": "https://hc-ping.com/uuid"}]},
                  {"name": "null"}],
}
# kube-prometheus' shipped default: every receiver empty.
NULL_CONFIG = {"route": {"receiver": "Default",
                         "routes": [{"matchers": ["alertname = Watchdog"], "receiver": "Watchdog"}]},
               "receivers": [{"name": "Default"}, {"name": "Watchdog"}]}


def secret(config, name="alertmanager-main", namespace="monitoring", gzipped=False):
    text = yaml.safe_dump(config) if isinstance(config, dict) else config
    key = "alertmanager.yaml.gz" if gzipped else "alertmanager.yaml"
    raw = gzip.compress(text.encode()) if gzipped else text.encode()
    return {"metadata": {"name": name, "namespace": namespace}, "type": "Opaque",
            "data": {key: base64.b64encode(raw).decode()}}


def gathered(kind, items):
    """Items as gather leaves them (reduced where gather reduces)."""
    reduce = gather.REDUCERS.get(kind, lambda item: item)
    return [reduce(copy.deepcopy(item)) for item in items]


def kinds(**overrides):
    base = {"prometheuses": [prometheus()], "alertmanagers": [alertmanager_cr()],
            "prometheusrules": [rule(WATCHDOG, FAST)], "alertmanagerconfigs": NOT_SERVED,
            "alertmanager_secrets": [secret(GOOD_CONFIG)], "monitoring_configmaps": [],
            "vmalerts": NOT_SERVED, "vmalertmanagers": NOT_SERVED, "vmrules": NOT_SERVED,
            "deployments": [], "statefulsets": [], "daemonsets": [], "clusterrolebindings": [],
            "namespaces": NAMESPACES}
    base.update(overrides)
    return {k: ({"items": gathered(k, v)} if isinstance(v, list) else v) for k, v in base.items()}


def run(check_id, tier="critical", distribution="kubeadm", provider=None, **overrides):
    snapshot = {"cluster": {"name": "c", "distribution": distribution, "tier": tier},
                "kinds": kinds(**overrides), "provider": provider}
    return engine.run_check(CHECKS[check_id], Context(snapshot, tiers.tier_table(), now=NOW))


def test_catalog():
    assert sorted(CHECKS) == ["KC-OPS-001", "KC-OPS-008", "KC-OPS-009", "KC-OPS-010", "KC-OPS-011"]
    assert {c.item for c in CHECKS.values()} == {"monitoring-alerting"}
    assert CHECKS["KC-OPS-009"].required_for == ("critical",) and CHECKS["KC-OPS-011"].required_for == ("critical",)
    assert set(gather.needed_kinds(CHECKS.values())) <= set(gather.KIND_SPECS)


def test_the_whole_stack_passes_every_aspect():
    for check_id in CHECKS:
        result = run(check_id)
        assert result.verdict == "pass", (check_id, result.message)


# -- KC-OPS-001 status and replicas ----------------------------------------------------------------------------

VM_STATUS = {"updateStatus": "operational"}


def helm_workload(kind_name, ready, replicas=2, namespace="monitoring"):
    return {"metadata": {"name": kind_name, "namespace": namespace}, "spec": {"replicas": replicas},
            "status": {"readyReplicas": ready}}


@pytest.mark.parametrize("overrides, tier, verdict, words", [
    ({"alertmanagers": [alertmanager_cr(available=1)]}, "critical", "fail", "Alertmanager monitoring/main ready 1/2"),
    ({"prometheuses": [prometheus(available=0)]}, "critical", "fail", "Available=False (pods not ready)"),
    ({"prometheuses": [prometheus(status=False)]}, "critical", "fail", "has not reconciled"),
    ({"prometheuses": [prometheus(replicas=1, available=1)]}, "critical", "fail", "no Prometheus with 2 ready"),
    ({"prometheuses": [prometheus(replicas=1, available=1)], "alertmanagers": [alertmanager_cr(1, 1)]},
     "best_effort", "not_applicable", "not required"),
    ({"alertmanagers": []}, "important", "fail", "no Alertmanager"),
    ({"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED}, "critical", "fail", "no Prometheus or Alertmanager"),
    ({"prometheuses": FORBIDDEN}, "critical", "unknown", "cannot list"),
    # VictoriaMetrics operator.
    ({"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED,
      "vmalerts": [{"metadata": {"name": "vma", "namespace": "vm"}, "spec": {"replicaCount": 2}, "status": VM_STATUS}],
      "vmalertmanagers": [{"metadata": {"name": "vmam", "namespace": "vm"}, "spec": {"replicaCount": 2},
                           "status": VM_STATUS}]}, "critical", "pass", "VMAlert vm/vma ready 2/2"),
    ({"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED,
      "vmalerts": [{"metadata": {"name": "vma", "namespace": "vm"}, "spec": {"replicaCount": 2},
                    "status": {"updateStatus": "failed", "reason": "bad rule"}}], "vmalertmanagers": []},
     "critical", "fail", "status failed (bad rule)"),
    # The prometheus-community chart without an operator; the operator's own StatefulSets are not counted twice.
    ({"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED,
      "deployments": [helm_workload("prometheus-server", 2)], "statefulsets": [helm_workload("prometheus-alertmanager",
                                                                                             2)]},
     "critical", "pass", "Deployment monitoring/prometheus-server ready 2/2"),
    ({"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED,
      "deployments": [helm_workload("prometheus-server", 0)], "statefulsets": [dict(
          helm_workload("alertmanager-kps-alertmanager", 2), metadata={
              "name": "alertmanager-kps-alertmanager", "namespace": "monitoring",
              "ownerReferences": [{"kind": "Alertmanager", "name": "kps"}]})]},
     "critical", "fail", "ready 0/2; no Alertmanager"),
])
def test_running(overrides, tier, verdict, words):
    result = run("KC-OPS-001", tier=tier, **overrides)
    assert result.verdict == verdict, result.message
    assert words in result.message


@pytest.mark.parametrize("objects, provider, distribution, words", [
    ({"daemonsets": [{"metadata": {"name": "collector", "namespace": "gmp-system"}}]}, None, "gke",
     "GKE Managed Service for Prometheus (daemonset gmp-system/collector)"),
    ({"deployments": [{"metadata": {"name": "ama-metrics", "namespace": "kube-system"}}]}, None, "aks",
     "Azure Monitor managed Prometheus"),
    ({"clusterrolebindings": [{"metadata": {"name": "aps-collector-user-role-binding"}}]}, None, "eks",
     "Amazon Managed Service for Prometheus collector"),
    ({}, {"sections": {"managed_prometheus": {"enabled": True, "name": "Amazon Managed Service for Prometheus",
                                              "detail": "scraper s-123"}}}, "eks", "scraper s-123"),
])
def test_managed_offerings_are_recognised(objects, provider, distribution, words):
    overrides = dict({"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED}, **objects)
    result = run("KC-OPS-001", distribution=distribution, provider=provider, **overrides)
    assert result.verdict == "pass" and words in result.message, result.message
    # Their rules and routing live in the provider: unknown, never pass, never fail.
    for check_id in ("KC-OPS-008", "KC-OPS-009", "KC-OPS-010", "KC-OPS-011"):
        other = run(check_id, distribution=distribution, provider=provider, **overrides)
        assert other.verdict == "unknown" and "managed offering" in other.message, (check_id, other.message)


# -- KC-OPS-008 rules loaded -------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, verdict, words", [
    ({"prometheusrules": [rule(FAST, labels={"release": "kps"})],
      "prometheuses": [prometheus(ruleSelector={"matchLabels": {"release": "kps"}})]}, "pass", "1 alerting rule"),
    ({"prometheusrules": [rule(FAST, labels={"app": "x"})],
      "prometheuses": [prometheus(ruleSelector={"matchLabels": {"release": "kps"}})]}, "fail",
     "selected by no evaluator (check ruleSelector/ruleNamespaceSelector"),
    ({"prometheusrules": [rule(FAST)], "prometheuses": [prometheus(ruleSelector=None)]}, "fail", "no alerting rule"),
    ({"prometheusrules": [rule(FAST, namespace="shop")]}, "fail", "PrometheusRule shop/kc-rules"),
    ({"prometheusrules": [rule(FAST, namespace="shop")],
      "prometheuses": [prometheus(ruleNamespaceSelector={"matchLabels": {"team": "shop"}})]}, "pass", "loaded"),
    ({"prometheusrules": [rule({"record": "job:up:sum", "expr": "sum(up)"})]}, "fail", "no alerting rule"),
    ({"prometheusrules": NOT_SERVED}, "fail", "no alerting rule"),
    ({"prometheusrules": FORBIDDEN}, "unknown", "could not read prometheusrules"),
    ({"prometheuses": [prometheus(available=0)]}, "fail", "no ready Prometheus or vmalert"),
    # One replica of two ready (Available=False here, Degraded from the operator): the ready one evaluates.
    ({"prometheuses": [prometheus(available=1)]}, "pass", "loaded"),
])
def test_rules_loaded(overrides, verdict, words):
    result = run("KC-OPS-008", **overrides)
    assert result.verdict == verdict, result.message
    assert words in result.message


VMALERT = {"metadata": {"name": "vma", "namespace": "vm"}, "spec": {"replicaCount": 1, "selectAllByDefault": True},
           "status": VM_STATUS}
VM_KINDS = {"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED, "prometheusrules": NOT_SERVED,
            "vmalerts": [VMALERT], "vmalertmanagers": []}


@pytest.mark.parametrize("spec, verdict", [({"selectAllByDefault": True}, "pass"), ({}, "fail"),
                                           ({"ruleSelector": {"matchLabels": {"x": "y"}}}, "fail"),
                                           ({"ruleNamespaceSelector": {}}, "pass")])
def test_vmrules_selected_by_vmalert(spec, verdict):
    vmalert = dict(VMALERT, spec=dict(spec, replicaCount=1))
    kinds = dict(VM_KINDS)
    kinds.update(vmalerts=[vmalert], vmrules=[rule(FAST, name="vmr", namespace="vm")])
    result = run("KC-OPS-008", tier="important", **kinds)
    assert result.verdict == verdict, result.message


HELM_SERVER_CM = {"metadata": {"name": "prometheus-server", "namespace": "monitoring",
                               "labels": {"app.kubernetes.io/name": "prometheus"}},
                  "data": {"prometheus.yml": "global:\n  evaluation_interval: 20s\n",
                           "alerting_rules.yml": yaml.safe_dump({"groups": [{"name": "g", "rules": [WATCHDOG, FAST]}]}),
                           "recording_rules.yml": "{}\n"}}
HELM_AM_CM = {"metadata": {"name": "prometheus-alertmanager", "namespace": "monitoring",
                           "labels": {"app.kubernetes.io/name": "alertmanager"}},
              "data": {"alertmanager.yml": yaml.safe_dump(GOOD_CONFIG)}}
HELM_KINDS = {"prometheuses": NOT_SERVED, "alertmanagers": NOT_SERVED, "prometheusrules": NOT_SERVED,
              "deployments": [helm_workload("prometheus-server", 2)],
              "statefulsets": [helm_workload("prometheus-alertmanager", 2)],
              "monitoring_configmaps": [HELM_SERVER_CM, HELM_AM_CM]}


def test_helm_chart_without_operator_passes_every_aspect():
    for check_id in CHECKS:
        result = run(check_id, **HELM_KINDS)
        assert result.verdict == "pass", (check_id, result.message)
    budget = run("KC-OPS-011", **HELM_KINDS)
    assert budget.evidence["alerts"]["APIDown in ConfigMap monitoring/prometheus-server"].startswith("90s")


def test_helm_alertmanager_configmap_is_reduced_to_its_routing():
    reduced = gathered("monitoring_configmaps", [HELM_AM_CM])[0]
    assert SLACK not in json.dumps(reduced)
    assert reduced["alertmanager_config"]["receivers"]["oncall"] == ["slack_configs"]


# -- KC-OPS-009 dead-man's switch ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rules, tier, verdict", [
    ([WATCHDOG], "critical", "pass"),
    ([{"alert": "DeadMansSwitch", "expr": "1"}], "critical", "pass"),
    ([{"alert": "AlwaysOn", "expr": "vector( 1 )"}], "critical", "pass"),
    ([FAST], "critical", "fail"),
    ([FAST], "important", "not_applicable"),
])
def test_dead_mans_switch(rules, tier, verdict):
    result = run("KC-OPS-009", tier=tier, prometheusrules=[rule(*rules)])
    assert result.verdict == verdict, result.message


def test_dead_mans_switch_in_an_unselected_rule_does_not_count():
    result = run("KC-OPS-009", prometheusrules=[rule(FAST), rule(WATCHDOG, name="dms", namespace="shop")])
    assert result.verdict == "fail" and "1 loaded alerting rule" in result.message


# -- KC-OPS-010 routing ------------------------------------------------------------------------------------------

def amconfig(receivers, route, name="team", namespace="monitoring", labels=None):
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"route": route, "receivers": receivers}}


@pytest.mark.parametrize("overrides, verdict, words", [
    ({"alertmanager_secrets": [secret(GOOD_CONFIG, gzipped=True)]}, "pass", "oncall"),
    ({"alertmanager_secrets": [secret(NULL_CONFIG)]}, "fail", "no route reaches a receiver with an integration"),
    ({"alertmanager_secrets": [secret(dict(GOOD_CONFIG, route=dict(GOOD_CONFIG["route"], routes=[
        {"matchers": ["severity=critical"], "receiver": "null"}])))]}, "fail",
     "(default) > severity=critical -> null (no integrations)"),
    ({"alertmanager_secrets": [secret(dict(GOOD_CONFIG, route={"receiver": "typo"}))]}, "fail",
     "typo (receiver not defined)"),
    ({"alertmanager_secrets": []}, "fail", "Secret monitoring/alertmanager-main absent"),
    ({"alertmanager_secrets": [secret("route: [not, a, mapping")]}, "fail", "does not parse"),
    ({"alertmanager_secrets": FORBIDDEN}, "unknown", 'cannot list resource "secrets"'),
    ({"alertmanagers": [alertmanager_cr(configSecret="am-config")],
      "alertmanager_secrets": [secret(GOOD_CONFIG, name="am-config")]}, "pass", "oncall"),
    # A global AlertmanagerConfig instead of the Secret.
    ({"alertmanagers": [alertmanager_cr(alertmanagerConfiguration={"name": "global"})],
      "alertmanagerconfigs": [amconfig([{"name": "pd", "pagerdutyConfigs": [{"routingKey": {"name": "k"}}]}],
                                       {"receiver": "pd"}, name="global")]}, "pass", "pd"),
    # A selected namespaced AlertmanagerConfig adding a null route.
    ({"alertmanagers": [alertmanager_cr(alertmanagerConfigSelector={})],
      "alertmanagerconfigs": [amconfig([{"name": "void"}], {"receiver": "void", "matchers": [
          {"name": "team", "value": "shop"}]})]}, "fail", "AlertmanagerConfig monitoring/team"),
])
def test_routing(overrides, verdict, words):
    result = run("KC-OPS-010", **overrides)
    assert result.verdict == verdict, result.message
    assert words in result.message
    assert SLACK not in json.dumps(result.evidence) + result.message


def test_vmalertmanager_raw_config_is_reduced_and_judged():
    vmam = {"metadata": {"name": "vmam", "namespace": "vm"},
            "spec": {"replicaCount": 1, "configRawYaml": yaml.safe_dump(GOOD_CONFIG)}, "status": VM_STATUS}
    assert SLACK not in json.dumps(gathered("vmalertmanagers", [vmam]))
    kinds = dict(VM_KINDS)
    kinds["vmalertmanagers"] = [vmam]
    result = run("KC-OPS-010", tier="important", **kinds)
    assert result.verdict == "pass" and "VMAlertmanager vm/vmam -> deadman, oncall" in result.message


def test_secret_values_never_reach_the_snapshot():
    reduced = gathered("alertmanager_secrets", [secret(GOOD_CONFIG), {
        "metadata": {"name": "db", "namespace": "shop"}, "type": "Opaque", "data": {"password": "c2VjcmV0"}}])
    assert all("data" not in item for item in reduced)
    assert SLACK not in json.dumps(reduced) and "c2VjcmV0" not in json.dumps(reduced)


# -- KC-OPS-011 detection-time budget -----------------------------------------------------------------------------

@pytest.mark.parametrize("rules, tier, verdict, words", [
    ([FAST], "critical", "pass", "within 120s"),  # 15s + 60s + 10s
    ([FAST, SLOW], "critical", "fail", "KubeAPIDown in PrometheusRule monitoring/kc-rules 925s"),
    ([dict(FAST, labels={"severity": "warning"})], "critical", "fail", "no loaded alert is labelled"),
    ([dict(FAST, **{"for": "5 minutes"})], "critical", "unknown", "not a Prometheus duration"),
    ([SLOW], "important", "not_applicable", "not required"),
])
def test_detection_budget(rules, tier, verdict, words):
    result = run("KC-OPS-011", tier=tier, prometheusrules=[rule(*rules)])
    assert result.verdict == verdict, result.message
    assert words in result.message


def test_detection_budget_uses_the_routes_group_wait_and_the_tier_table():
    slow_wait = dict(GOOD_CONFIG, route=dict(GOOD_CONFIG["route"], group_wait="2m"))
    assert run("KC-OPS-011", prometheusrules=[rule(FAST)], alertmanager_secrets=[secret(slow_wait)]).verdict == "fail"
    snapshot = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": "critical"},
                "kinds": kinds(prometheusrules=[rule(SLOW)])}
    table = tiers.tier_table({"critical": {"alert_detection_max_seconds": 1000}})
    assert engine.run_check(CHECKS["KC-OPS-011"], Context(snapshot, table, now=NOW)).verdict == "pass"


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("1m30s", 90), ("1d", 86400), ("0", 0), ("500ms", 0.5)])
def test_duration_seconds(text, seconds):
    assert am.duration_seconds(text) == seconds
