"""Control-plane checks on the recorded kubeadm cluster and on crafted node facts."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import control_plane
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
RECORDED = yaml.safe_load((Path(__file__).resolve().parents[3] / "fixtures" / "kubeadm_3_nodes.yml").read_text())
CHECKS = {c.id: c for c in control_plane.CHECKS}

HARDENED = {
    "advertise-address": "198.51.100.1", "authorization-mode": "Node,RBAC", "anonymous-auth": "false",
    "profiling": "false", "enable-admission-plugins": "NodeRestriction", "tls-min-version": "VersionTLS12",
    "audit-policy-file": "/etc/kubernetes/audit-policy.yaml", "audit-log-path": "/var/log/kubernetes/audit/audit.log",
    "audit-log-maxage": "30", "audit-log-maxbackup": "10", "audit-log-maxsize": "100",
    "encryption-provider-config": "/etc/kubernetes/enc/enc.yaml", "oidc-issuer-url": "https://sso.example.net",
    "etcd-servers": "https://127.0.10.1:2379", "etcd-cafile": "/etc/kubernetes/pki/etcd/ca.crt",
    "etcd-certfile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
    "etcd-keyfile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
}
ETCD = {"client-cert-auth": "true", "peer-client-cert-auth": "true", "cert-file": "/p/server.crt",
        "key-file": "/p/server.key", "trusted-ca-file": "/p/ca.crt"}


def node(**overrides):
    facts = {
        "distribution": "kubeadm",
        "apiserver": {"source": "/etc/kubernetes/manifests/kube-apiserver.yaml", "flags": dict(HARDENED),
                      "running_flags": dict(HARDENED)},
        "etcd_flags": dict(ETCD),
        "files": {},
        "audit_policy": {"path": "/etc/kubernetes/audit-policy.yaml", "exists": True, "valid": True, "error": None,
                         "rule_count": 4, "levels": ["None", "Metadata", "RequestResponse"],
                         "catch_all_level": "Metadata", "omit_stages": ["RequestReceived"], "secrets_level": "Metadata"},
        "audit_log": {"path": "/var/log/kubernetes/audit/audit.log", "exists": True, "size": 1000,
                      "mtime": "2026-11-22T11:59:00Z", "last_event_time": "2026-11-22T11:59:30Z", "error": None},
        "encryption_config": {"path": "/etc/kubernetes/enc/enc.yaml", "exists": True, "valid": True, "error": None,
                              "resources": [{"resources": ["secrets"], "providers": [
                                  {"type": "secretbox", "key_names": ["key1"], "kms_api_version": None},
                                  {"type": "identity", "key_names": [], "kms_api_version": None}]}]},
        "etcd_sample": {"endpoint": "https://127.0.10.1:2379", "error": None, "total_keys": 3, "sampled": 3,
                        "prefixes": [{"key": "/registry/secrets/default/s%d" % i,
                                      "encoding": "k8s:enc:secretbox:v1:key1"} for i in range(3)]},
        "authentication_config": None,
        "etcd_snapshots": None,
        "errors": [],
    }
    for key, value in overrides.items():
        facts[key] = value
    return facts


def run(check_id, hosts=None, distribution="kubeadm", settings=None, pods=True):
    kinds = {"pods": {"items": copy.deepcopy(RECORDED["kube_system_pods"]) if pods else []}}
    snap = {"cluster": {"name": "c", "distribution": distribution, "tier": "critical", "version": RECORDED["version"]},
            "kinds": kinds, "nodes": {"hosts": hosts} if hosts is not None else None}
    return engine.run_check(CHECKS[check_id], Context(snap, tiers.tier_table(), settings or {}, NOW))


# -- recorded kubeadm defaults, judged from the mirror pods alone ---------------------------------------------------

@pytest.mark.parametrize("check_id,verdict,fragment", [
    ("KC-SEC-001", "fail", "--audit-policy-file and --audit-log-path not set"),
    ("KC-SEC-002", "fail", "--audit-log-path not set"),
    ("KC-SEC-004", "fail", "--encryption-provider-config not set"),
    ("KC-SEC-006", "fail", "--anonymous-auth not set (defaults to true)"),
    ("KC-SEC-007", "pass", "--authorization-mode=Node,RBAC"),
    ("KC-SEC-008", "fail", "--profiling not set"),
    ("KC-SEC-009", "pass", "NodeRestriction enabled"),
    ("KC-SEC-010", "fail", "--tls-min-version not set"),
    ("KC-SEC-015", "fail", "neither --oidc-issuer-url"),
    ("KC-SEC-024", "pass", "etcd requires client and peer certificates"),
    ("KC-CMP-001", "fail", "0 days on the node do not satisfy 30 days required by cis_kubernetes"),
])
def test_kubeadm_defaults_from_mirror_pods(check_id, verdict, fragment):
    result = run(check_id)
    reasons = [o["reason"] for o in result.objects]
    assert result.verdict == verdict, (result.message, reasons)
    assert any(fragment in r for r in reasons), reasons
    assert {o["name"] for o in result.objects} >= {"kc-cp1", "kc-cp2", "kc-cp3"}
    assert all("mirror pod" in r for r in reasons)


@pytest.mark.parametrize("check_id", ["KC-SEC-003", "KC-SEC-005"])
def test_node_only_checks_are_unknown_without_node_facts(check_id):
    result = run(check_id)
    assert result.verdict == "unknown" and "control-plane node facts" in result.message


def test_policy_content_unknown_without_node_facts_even_when_flags_are_set():
    hosts = None
    result = run("KC-SEC-001", hosts)
    assert result.verdict == "fail"  # the recorded cluster has no audit flags at all
    flags_only = {"pods": {"items": copy.deepcopy(RECORDED["kube_system_pods"])}}
    for pod in flags_only["pods"]["items"]:
        if pod["metadata"]["name"].startswith("kube-apiserver"):
            pod["spec"]["containers"][0]["command"] += ["--audit-policy-file=/p.yaml", "--audit-log-path=/l.log"]
    snap = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": "critical", "version": RECORDED["version"]},
            "kinds": flags_only, "nodes": None}
    result = engine.run_check(CHECKS["KC-SEC-001"], Context(snap, tiers.tier_table(), {}, NOW))
    assert result.verdict == "unknown"


# -- hardened node facts --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_hardened_nodes_pass_everything(check_id):
    hosts = {"cp1": node(), "cp2": node()}
    result = run(check_id, hosts, pods=False)
    assert result.verdict == "pass", (result.message, result.objects)


def test_running_flags_win_over_configured_ones():
    stale = node()
    stale["apiserver"]["running_flags"] = dict(HARDENED, profiling="true")
    result = run("KC-SEC-008", {"cp1": stale}, pods=False)
    assert result.verdict == "fail" and "running process" in result.objects[0]["reason"]


def test_audit_policy_all_none_and_missing():
    silent = node(audit_policy=dict(node()["audit_policy"], levels=["None"]))
    missing = node(audit_policy=dict(node()["audit_policy"], exists=False))
    result = run("KC-SEC-001", {"cp1": silent, "cp2": missing}, pods=False)
    assert result.verdict == "fail"
    assert [o["reason"] for o in result.objects] == [
        "every rule of /etc/kubernetes/audit-policy.yaml is level None",
        "policy file /etc/kubernetes/audit-policy.yaml does not exist"]


def test_audit_log_silent_for_too_long():
    stale = node(audit_log=dict(node()["audit_log"], last_event_time="2026-11-22T09:00:00Z"))
    result = run("KC-SEC-003", {"cp1": stale}, pods=False)
    assert result.verdict == "fail" and "180 min ago" in result.objects[0]["reason"]


@pytest.mark.parametrize("providers,fragment", [
    ([{"type": "identity", "key_names": []}, {"type": "aescbc", "key_names": ["k"]}], "identity"),
    ([{"type": "aesgcm", "key_names": ["k"]}], "aesgcm"),
])
def test_weak_encryption_providers(providers, fragment):
    config = dict(node()["encryption_config"], resources=[{"resources": ["secrets"], "providers": providers}])
    result = run("KC-SEC-004", {"cp1": node(encryption_config=config)}, pods=False)
    assert result.verdict == "fail" and fragment in result.objects[0]["reason"]


def test_nodes_with_different_keys_fail():
    other = dict(node()["encryption_config"], resources=[{"resources": ["secrets"], "providers": [
        {"type": "secretbox", "key_names": ["key2"], "kms_api_version": None}]}])
    result = run("KC-SEC-004", {"cp1": node(), "cp2": node(encryption_config=other)}, pods=False)
    assert result.verdict == "fail" and "disagree" in result.message


def test_plaintext_secret_in_etcd():
    sample = dict(node()["etcd_sample"], prefixes=[
        {"key": "/registry/secrets/default/a", "encoding": "k8s:enc:secretbox:v1:key1"},
        {"key": "/registry/secrets/default/b", "encoding": "plaintext"}])
    result = run("KC-SEC-005", {"cp1": node(etcd_sample=sample)}, pods=False)
    assert result.verdict == "fail" and "/registry/secrets/default/b" in result.objects[0]["reason"]


def test_unreachable_node_makes_flag_checks_unknown():
    hosts = {"cp1": node(), "cp2": {"errors": [{"what": "node cp2", "cause": "unreachable"}]}}
    result = run("KC-SEC-006", hosts, pods=False)
    assert result.verdict == "unknown" and "cp2" in result.message and "unreachable" in result.message


def test_managed_without_provider_facts_is_unknown_and_k3s_without_sources_too():
    audit = run("KC-SEC-001", distribution="eks")
    assert audit.verdict == "unknown" and "eks provider API" in audit.message
    assert run("KC-SEC-006", distribution="k3s", pods=False).verdict == "unknown"


def test_flags_the_provider_operates_are_not_applicable_on_managed_clusters():
    result = run("KC-SEC-006", distribution="eks")
    assert result.verdict == "not_applicable" and "not eks" in result.message


def test_audit_retention_against_pci():
    result = run("KC-CMP-001", {"cp1": node()}, settings={"frameworks": ["cis_kubernetes", "pci_dss_v4"]}, pods=False)
    assert result.verdict == "fail"
    assert "30 days on the node do not satisfy 365 days required by pci_dss_v4" in result.objects[0]["reason"]
    assert "missing evidence: off-cluster retention" in result.objects[0]["reason"]
    declared = run("KC-CMP-001", {"cp1": node()}, pods=False,
                   settings={"frameworks": ["pci_dss_v4"], "audit_offcluster_retention_days": 400})
    assert declared.verdict == "pass" and "not verified" in declared.objects[0]["reason"]


@pytest.mark.parametrize("config,verdict,fragment", [
    ({"path": "/etc/kubernetes/authn.yaml", "exists": True, "valid": True, "error": None,
      "anonymous": {"configured": True, "enabled": True, "paths": ["/livez", "/readyz"]}}, "pass", "restricted to"),
    ({"path": "/etc/kubernetes/authn.yaml", "exists": True, "valid": True, "error": None,
      "anonymous": {"configured": True, "enabled": False, "paths": []}}, "pass", "anonymous disabled"),
    ({"path": "/etc/kubernetes/authn.yaml", "exists": True, "valid": True, "error": None,
      "anonymous": {"configured": True, "enabled": True, "paths": None}}, "fail", "every path"),
    ({"path": "/etc/kubernetes/authn.yaml", "exists": True, "valid": True, "error": None,
      "anonymous": {"configured": True, "enabled": True, "paths": ["/livez", "/api"]}}, "fail", "/api"),
    ({"path": "/etc/kubernetes/authn.yaml", "exists": True, "valid": True, "error": None,
      "anonymous": {"configured": False, "enabled": None, "paths": None}}, "fail", "no anonymous section"),
    ({"path": "/etc/kubernetes/authn.yaml", "exists": False, "valid": False, "error": None,
      "anonymous": {"configured": False, "enabled": None, "paths": None}}, "fail", "is missing"),
    (None, "unknown", "was not read"),
])
def test_anonymous_access_through_an_authentication_configuration(config, verdict, fragment):
    flags = {k: v for k, v in HARDENED.items() if k != "anonymous-auth"}
    flags["authentication-config"] = "/etc/kubernetes/authn.yaml"
    facts = node(authentication_config=config)
    facts["apiserver"] = {"source": "manifest", "flags": flags, "running_flags": flags}
    result = run("KC-SEC-006", {"cp1": facts}, pods=False)
    assert result.verdict == verdict and fragment in result.objects[0]["reason"], result.objects


def test_authentication_config_without_node_facts_is_unknown():
    pods = copy.deepcopy(RECORDED["kube_system_pods"])
    for pod in pods:
        if pod["metadata"]["name"].startswith("kube-apiserver"):
            pod["spec"]["containers"][0]["command"].append("--authentication-config=/etc/kubernetes/authn.yaml")
    snap = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": "critical", "version": RECORDED["version"]},
            "kinds": {"pods": {"items": pods}}, "nodes": None}
    result = engine.run_check(CHECKS["KC-SEC-006"], Context(snap, tiers.tier_table(), {}, NOW))
    assert result.verdict == "unknown" and "read only from node facts" in result.objects[0]["reason"]
