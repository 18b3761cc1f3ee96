"""Monitoring that works, on the local control plane with the prometheus-operator CRDs (tests/data/crds): the test
plays the operator, writing each Prometheus' and Alertmanager's status through /status, and the monitoring checks
(KC-OPS-001, 008..011) are run in-process against the real API server (gather, then the engine), so the fail, pass
and unknown stories cost seconds, not playbook runs."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import AUTH_ARG_SPEC
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.assess import assess
from tests.integration import seed

pytestmark = pytest.mark.nodes(1)

NS = "kc-mon"
CHECKS = ["KC-OPS-001", "KC-OPS-008", "KC-OPS-009", "KC-OPS-010", "KC-OPS-011"]
MONITORING = "monitoring.coreos.com/v1"
WEBHOOK = "https://alerts.example.net/hook/secret-token-kc-mon"
PROMETHEUS = {"apiVersion": MONITORING, "kind": "Prometheus", "metadata": {"name": "kc-prom", "namespace": NS},
              "spec": {"replicas": 2, "ruleSelector": {"matchLabels": {"kc-mon": "rules"}}, "evaluationInterval": "15s"}}
ALERTMANAGER = {"apiVersion": MONITORING, "kind": "Alertmanager", "metadata": {"name": "kc-am", "namespace": NS},
                "spec": {"replicas": 2}}
RULES = {"apiVersion": MONITORING, "kind": "PrometheusRule",
         "metadata": {"name": "kc-mon-rules", "namespace": NS, "labels": {"kc-mon": "rules"}},
         "spec": {"groups": [{"name": "kc", "rules": [
             {"alert": "Watchdog", "expr": "vector(1)", "labels": {"severity": "none"}},
             {"alert": "APIDown", "expr": "up{job=\"apiserver\"} == 0", "for": "1m",
              "labels": {"severity": "critical"}}]}]}}
# kube-prometheus' shipped configuration: a route tree whose receivers notify nobody.
NULL_CONFIG = {"route": {"receiver": "Default", "group_wait": "30s",
                         "routes": [{"matchers": ["alertname = Watchdog"], "receiver": "Watchdog"}]},
               "receivers": [{"name": "Default"}, {"name": "Watchdog"}]}
GOOD_CONFIG = {"route": {"receiver": "oncall", "group_wait": "10s",
                         "routes": [{"matchers": ["alertname = Watchdog"], "receiver": "deadman"}]},
               "receivers": [{"name": "oncall", "webhook_configs": [{"url": WEBHOOK}]},
                             {"name": "deadman", "webhook_configs": [{"url": WEBHOOK + "-dms"}]}]}


def available(replicas):
    return {"replicas": 2, "availableReplicas": replicas, "updatedReplicas": replicas,
            "unavailableReplicas": 2 - replicas, "paused": False,
            "conditions": [{"type": "Available", "status": "True" if replicas == 2 else "Degraded",
                            "lastTransitionTime": seed.ago(minutes=1), "reason": "" if replicas == 2 else "SomePodsNotReady",
                            "message": "" if replicas == 2 else "%d/2 pods ready" % replicas},
                           {"type": "Reconciled", "status": "True", "lastTransitionTime": seed.ago(minutes=1)}]}


def config_secret(config):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alertmanager-kc-am", "namespace": NS},
            "type": "Opaque", "data": {"alertmanager.yaml": base64.b64encode(yaml.safe_dump(config).encode()).decode()}}


def run_checks(control_plane, impersonate=None):
    params = {key: spec.get("default") for key, spec in AUTH_ARG_SPEC.items()}
    params.update(kubeconfig=str(control_plane.kubeconfig), impersonate_user=impersonate)
    result = assess(client_from_params(params), "localcp", "critical", distribution="kubeadm", include=CHECKS,
                    settings={"excluded_namespaces": []})
    findings = {f["check_id"]: f for f in result["findings"]}
    assert WEBHOOK not in json.dumps(result)  # the Secret's configuration never leaves gather
    return {c: findings[c]["verdict"] for c in CHECKS}, {c: findings[c]["message"] for c in CHECKS}


@pytest.fixture(scope="module")
def monitored(control_planes):
    control_plane = control_planes.get(1)
    client = control_plane.client()
    seed.install_crds(client, seed.PROMETHEUS_CRDS)
    seed.create(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    yield control_plane, client
    client.request("DELETE", "/api/v1/namespaces/%s" % NS)


def test_monitoring_fail_pass_unknown(monitored):
    control_plane, client = monitored
    for manifest in (PROMETHEUS, ALERTMANAGER, RULES):
        seed.create(client, manifest)
    # Fail: the operator never reconciled (no status), no configuration Secret.
    verdicts, messages = run_checks(control_plane)
    assert verdicts["KC-OPS-001"] == "fail" and "has not reconciled" in messages["KC-OPS-001"], messages
    assert verdicts["KC-OPS-010"] == "fail", messages

    # Fail: one replica of two ready, and kube-prometheus' null receivers.
    seed.write_status(client, PROMETHEUS, available(1))
    seed.write_status(client, ALERTMANAGER, available(1))
    seed.create(client, config_secret(NULL_CONFIG))
    verdicts, messages = run_checks(control_plane)
    assert verdicts["KC-OPS-001"] == "fail" and "Prometheus %s/kc-prom ready 1/2" % NS in messages["KC-OPS-001"]
    assert verdicts["KC-OPS-008"] == "pass" and verdicts["KC-OPS-009"] == "pass", messages  # rules load on 1 of 2
    assert verdicts["KC-OPS-010"] == "fail" and "no route reaches a receiver" in messages["KC-OPS-010"], messages

    # Pass: everything ready, routes reach webhooks, APIDown notifies in 15s + 1m + 10s.
    seed.write_status(client, PROMETHEUS, available(2))
    seed.write_status(client, ALERTMANAGER, available(2))
    seed.create(client, config_secret(GOOD_CONFIG))
    verdicts, messages = run_checks(control_plane)
    assert verdicts == dict.fromkeys(CHECKS, "pass"), messages

    # Unknown: an identity that may read everything the checks list except Secrets.
    from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import gather

    rules = [seed.kind_rule(gather.KIND_SPECS[kind][0], ["list"]) for kind in (
        "prometheuses", "alertmanagers", "prometheusrules", "alertmanagerconfigs", "monitoring_configmaps", "vmalerts",
        "vmalertmanagers", "vmrules", "deployments", "statefulsets", "daemonsets", "clusterrolebindings", "namespaces")]
    seed.grant(client, "kc-mon-no-secrets", "kc-mon-auditor", rules)
    verdicts, messages = run_checks(control_plane, impersonate="kc-mon-auditor")
    assert verdicts["KC-OPS-001"] == "pass" and verdicts["KC-OPS-008"] == "pass", messages
    for check_id in ("KC-OPS-010", "KC-OPS-011"):
        assert verdicts[check_id] == "unknown", messages
        assert 'cannot list resource "secrets"' in messages[check_id], messages
    for kind in ("ClusterRoleBinding", "ClusterRole"):
        client.request("DELETE", "/apis/rbac.authorization.k8s.io/v1/%ss/kc-mon-no-secrets" % kind.lower())
