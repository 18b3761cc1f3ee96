"""Managed control planes judged from provider facts (the provider-neutral sections of module_utils/_providers)."""

from __future__ import annotations

import copy
import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog, engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.assess import assess
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
CHECKS = {c.id: c for c in catalog.all_checks()}

COMPLIANT = {
    "audit_logging": {"enabled": True, "detail": "audit in clusterLogging", "retention_days": 400,
                      "retention_detail": "CloudWatch log group retention 400 days"},
    "secrets_encryption": {"state": "on", "key": "arn:aws:kms:eu-west-1:1:key/k", "detail": "encryptionConfig"},
    "control_plane_ha": {"ha": True, "detail": "EKS runs the control plane across three zones"},
    "endpoint": {"public": True, "private": True, "public_cidrs": ["203.0.113.0/24"], "detail": "public+private"},
    "node_pools": {"pools": [{"name": "ng-1", "zones": ["a", "b", "c"], "autoscaling": True, "min": 3, "max": 9}],
                   "detail": "1 node group"},
    "autoscaling": {"enabled": True, "detail": "node group ng-1 scales 3..9"},
    "version": {"version": "1.33", "support": "standard", "end_of_support": "2026-07-29", "detail": "STANDARD_SUPPORT"},
    "people_auth": {"sso": True, "detail": "people sign in through IAM (authenticationMode API)"},
}


def facts(**sections):
    merged = copy.deepcopy(COMPLIANT)
    errors = {}
    for name, value in sections.items():
        if isinstance(value, str):
            merged.pop(name)
            errors[name] = value
        else:
            merged[name] = dict(merged[name], **value)
    return {"provider": "eks", "id": "arn:aws:eks:eu-west-1:1:cluster/prod", "name": "prod", "location": "eu-west-1",
            "sections": merged, "errors": errors}


def run(check_id, provider, tier="critical", settings=None, distribution="eks"):
    snap = {"cluster": {"name": "prod", "distribution": distribution, "tier": tier,
                        "version": {"gitVersion": "v1.33.4-eks-1"}},
            "kinds": {"pods": {"items": []}, "deployments": {"items": []}, "nodes": {"items": []}},
            "nodes": None, "provider": provider}
    return engine.run_check(CHECKS[check_id], Context(snap, tiers.tier_table(), settings or {}, NOW))


@pytest.mark.parametrize("check_id", ["KC-SEC-001", "KC-SEC-004", "KC-SEC-015", "KC-SEC-025", "KC-AVL-001",
                                      "KC-AVL-002", "KC-AVL-009", "KC-OPS-004", "KC-CMP-001"])
def test_compliant_provider_facts_pass(check_id):
    result = run(check_id, facts())
    assert result.verdict == "pass", result.message


@pytest.mark.parametrize("check_id,section,change,fragment", [
    ("KC-SEC-001", "audit_logging", {"enabled": False, "detail": "audit not in any enabled group"},
     "EKS audit logging off: audit not in any enabled group"),
    ("KC-SEC-004", "secrets_encryption", {"state": "off", "key": None, "detail": "no encryptionConfig"},
     "Secrets encryption with a customer key is off: no encryptionConfig"),
    ("KC-SEC-004", "secrets_encryption", {"state": "error", "detail": "KMS key disabled"}, "in error: KMS key disabled"),
    ("KC-SEC-015", "people_auth", {"sso": False, "detail": "local accounts enabled"}, "local accounts enabled"),
    ("KC-SEC-025", "endpoint", {"public_cidrs": ["0.0.0.0/0"]}, "open to the whole internet (0.0.0.0/0)"),
    ("KC-AVL-001", "control_plane_ha", {"ha": False, "detail": "zonal cluster europe-west1-b: one control plane"},
     "zonal cluster"),
    ("KC-AVL-009", "autoscaling", {"enabled": False, "detail": "every node group has min == max"},
     "node autoscaling is off: every node group has min == max"),
    ("KC-OPS-004", "version", {"support": "unsupported", "detail": "UNSUPPORTED"}, "is out of support"),
    ("KC-OPS-004", "version", {"support": "extended"}, "the critical tier needs standard support"),
    ("KC-CMP-001", "audit_logging", {"enabled": False}, "audit logging is off"),
])
def test_non_compliant_provider_facts_fail_with_the_reason(check_id, section, change, fragment):
    result = run(check_id, facts(**{section: change}))
    assert result.verdict == "fail"
    assert fragment in result.message
    assert result.evidence["provider"]["detail"] == facts(**{section: change})["sections"][section]["detail"]


def test_node_pools_are_judged_one_by_one_against_the_tier():
    pools = {"pools": [{"name": "system", "zones": ["a", "b", "c"]}, {"name": "batch", "zones": ["a", "b"]}]}
    result = run("KC-AVL-002", facts(node_pools=pools))
    assert result.verdict == "fail" and result.message == "1 node pool(s) span fewer than 3 zone(s)"
    assert [(o["name"], o["verdict"]) for o in result.objects] == [("system", "pass"), ("batch", "fail")]
    assert run("KC-AVL-002", facts(node_pools=pools), tier="important").verdict == "pass"


def test_an_unreadable_section_is_unknown_with_the_providers_cause_never_pass():
    result = run("KC-SEC-001", facts(audit_logging="aks:DiagnosticSettings.List: 403 AuthorizationFailed"))
    assert result.verdict == "unknown"
    assert "eks provider API (audit logging)" in result.message and "403 AuthorizationFailed" in result.message
    failed = run("KC-SEC-004", {"error": "eks:DescribeCluster: unreachable"})
    assert failed.verdict == "unknown" and "eks:DescribeCluster: unreachable" in failed.message


def test_pending_encryption_is_unknown_and_extended_support_passes_below_critical():
    assert run("KC-SEC-004", facts(secrets_encryption={"state": "pending"})).verdict == "unknown"
    assert run("KC-OPS-004", facts(version={"support": "extended"}), tier="important").verdict == "pass"
    assert run("KC-OPS-004", facts(version={"support": None, "detail": "not read"})).verdict == "unknown"


def test_audit_retention_falls_back_to_the_declared_store_when_the_provider_cannot_say():
    unknown_retention = facts(audit_logging={"retention_days": None, "retention_detail": "set by the destination"})
    pci = {"frameworks": ["pci_dss_v4"]}
    result = run("KC-CMP-001", unknown_retention, settings=pci)
    assert result.verdict == "unknown" and "does not say how long the audit log is kept" in result.message
    declared = run("KC-CMP-001", unknown_retention, settings=dict(pci, audit_offcluster_retention_days=400))
    assert declared.verdict == "pass" and "not verified" in declared.message
    short = run("KC-CMP-001", facts(audit_logging={"retention_days": 90}), settings=pci)
    assert short.verdict == "fail" and "90 days" in short.message


def test_endpoint_check_is_not_applicable_on_self_managed_and_private_endpoints_pass():
    assert run("KC-SEC-025", None, distribution="kubeadm").verdict == "not_applicable"
    closed = run("KC-SEC-025", facts(endpoint={"public_cidrs": [], "detail": "authorized networks on, none listed"}))
    assert closed.verdict == "pass" and "no address may reach it" in closed.message
    private = run("KC-SEC-025", facts(endpoint={"public": False, "detail": "private only"}))
    assert private.verdict == "pass" and "private only" in private.message


def test_in_cluster_autoscaler_still_passes_without_provider_autoscaling():
    deployment = {"metadata": {"name": "cluster-autoscaler", "namespace": "kube-system"},
                  "spec": {"replicas": 1, "template": {"spec": {"containers": [
                      {"name": "ca", "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.0"}]}}}}
    snap = {"cluster": {"name": "prod", "distribution": "eks", "tier": "critical", "version": {}},
            "kinds": {"deployments": {"items": [deployment]}}, "nodes": None,
            "provider": facts(autoscaling={"enabled": False})}
    result = engine.run_check(CHECKS["KC-AVL-009"], Context(snap, tiers.tier_table(), {}, NOW))
    assert result.verdict == "pass" and "cluster-autoscaler" in result.message


def test_without_a_kubernetes_api_only_provider_backed_checks_reach_a_verdict():
    result = assess(None, "eks-eu-west-1-prod", "critical", distribution="eks", provider_facts=facts(), now=NOW)
    verdicts = {f["check_id"]: (f["verdict"], f["message"]) for f in result["findings"]}
    assert result["gather"]["api_requests"] == 0
    assert {c for c, (v, _message) in verdicts.items() if v == "pass"} == {
        "KC-SEC-001", "KC-SEC-004", "KC-SEC-015", "KC-SEC-025", "KC-AVL-001", "KC-AVL-002", "KC-OPS-004",
        "KC-CMP-001"}
    verdict, message = verdicts["KC-SEC-016"]
    assert verdict == "unknown" and "no Kubernetes API connection for this cluster" in message
    assert not any(v == "pass" for c, (v, _message) in verdicts.items() if c in ("KC-AVL-003", "KC-SEC-011"))
    with pytest.raises(KubeCompassError, match="set kubecompass_distribution"):
        assess(None, "x", "critical", provider_facts=facts(), now=NOW)


def test_without_node_pools_from_the_provider_the_nodes_zone_labels_decide():
    def node(name, zone):
        return {"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}}}

    snap = {"cluster": {"name": "prod", "distribution": "eks", "tier": "important", "version": {}},
            "kinds": {"nodes": {"items": [node("n1", "eu-west-1a"), node("n2", "eu-west-1b")]}}, "nodes": None,
            "provider": facts(node_pools={"pools": [], "detail": "self-managed nodes are not read"})}
    result = engine.run_check(CHECKS["KC-AVL-002"], Context(snap, tiers.tier_table(), {}, NOW))
    assert result.verdict == "pass" and "worker nodes span 2 zone(s)" in result.message
    snap["kinds"]["nodes"]["items"].pop()
    assert engine.run_check(CHECKS["KC-AVL-002"], Context(snap, tiers.tier_table(), {}, NOW)).verdict == "fail"
