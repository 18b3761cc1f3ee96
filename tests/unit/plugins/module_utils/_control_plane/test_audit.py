"""The default audit policy, its overrides and rendering, and the audit flags and volumes (CIS minimums)."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import audit, static_pod
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.audit import (
    audit_level_for_secrets,
    summarize_audit_policy,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import host_path, pod_argv
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import load_document
from kclocal import manifests

POLICY_PATH = "/etc/kubernetes/audit/policy.yaml"
LOG_PATH = "/var/log/kubernetes/audit/audit.log"
ADMIN = {"user": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]}
KUBELET = {"user": "system:node:kc-cp1", "groups": ["system:nodes", "system:authenticated"]}
PROXY = {"user": "system:kube-proxy", "groups": ["system:authenticated"]}
KCM = {"user": "system:kube-controller-manager", "groups": ["system:authenticated"]}
ANONYMOUS = {"user": "system:anonymous", "groups": ["system:unauthenticated"]}


def request(who, verb, resource=None, group="", namespace="", subresource="", name="", path=None):
    if path is not None:
        return dict(who, verb=verb, path=path)
    return dict(who, verb=verb, group=group, resource=resource, subresource=subresource, namespace=namespace,
                name=name)


def test_default_policy_is_valid_and_keeps_secret_values_out_of_the_log():
    policy = audit.default_policy()
    summary = summarize_audit_policy(policy)
    assert summary["valid"], summary["error"]
    assert audit_level_for_secrets(policy["rules"]) == "Metadata"
    assert summary["secrets_level"] == "Metadata"
    assert summary["catch_all_level"] == "Metadata"
    assert summary["omit_stages"] == ["RequestReceived"]
    assert summary["levels"] == ["None", "Metadata", "Request", "RequestResponse"]
    assert policy["rules"][0]["level"] == "None"


@pytest.mark.parametrize("req, level", [
    # High-volume read-only noise.
    (request(ANONYMOUS, "get", path="/livez"), "None"),
    (request(ANONYMOUS, "get", path="/readyz/etcd"), "None"),
    (request(ANONYMOUS, "get", path="/healthz"), "None"),
    (request(ADMIN, "get", path="/version"), "None"),
    (request(ADMIN, "get", path="/metrics"), "None"),
    (request(PROXY, "watch", "endpointslices", group="discovery.k8s.io"), "None"),
    (request(PROXY, "list", "services"), "None"),
    (request(KUBELET, "get", "nodes", name="kc-cp1"), "None"),
    (request(KUBELET, "watch", "services"), "None"),
    (request(KCM, "watch", "endpoints"), "None"),
    (request(KUBELET, "update", "leases", group="coordination.k8s.io", namespace="kube-node-lease"), "None"),
    (request(KCM, "update", "leases", group="coordination.k8s.io", namespace="kube-system"), "None"),
    (request(ADMIN, "list", "events", namespace="default"), "None"),
    (request(ADMIN, "watch", "events", group="events.k8s.io"), "None"),
    # Secret values, tokens and config never logged with bodies.
    (request(ADMIN, "get", "secrets", namespace="default", name="db"), "Metadata"),
    (request(ADMIN, "create", "secrets", namespace="default"), "Metadata"),
    (request(KUBELET, "get", "secrets", namespace="default", name="db"), "Metadata"),
    (request(ADMIN, "update", "configmaps", namespace="kube-system"), "Metadata"),
    (request(ADMIN, "create", "tokenreviews", group="authentication.k8s.io"), "Metadata"),
    (request(KUBELET, "create", "serviceaccounts", subresource="token", namespace="default"), "Metadata"),
    # Interactive access and security-relevant writes with request and response.
    (request(ADMIN, "create", "pods", subresource="exec", namespace="default"), "RequestResponse"),
    (request(ADMIN, "get", "pods", subresource="exec", namespace="default"), "RequestResponse"),
    (request(ADMIN, "create", "pods", subresource="attach", namespace="default"), "RequestResponse"),
    (request(ADMIN, "create", "pods", subresource="portforward", namespace="default"), "RequestResponse"),
    (request(ADMIN, "get", "services", subresource="proxy", namespace="default"), "RequestResponse"),
    (request(ADMIN, "get", "nodes", subresource="proxy"), "RequestResponse"),
    (request(ADMIN, "create", "clusterrolebindings", group="rbac.authorization.k8s.io"), "RequestResponse"),
    (request(ADMIN, "patch", "roles", group="rbac.authorization.k8s.io", namespace="default"), "RequestResponse"),
    (request(ADMIN, "create", "pods", namespace="default"), "RequestResponse"),
    (request(ADMIN, "patch", "deployments", group="apps", namespace="default"), "RequestResponse"),
    (request(ADMIN, "delete", "validatingwebhookconfigurations", group="admissionregistration.k8s.io"),
     "RequestResponse"),
    (request(ADMIN, "create", "networkpolicies", group="networking.k8s.io", namespace="default"), "RequestResponse"),
    (request(ADMIN, "create", "poddisruptionbudgets", group="policy", namespace="default"), "RequestResponse"),
    (request(ADMIN, "create", "certificatesigningrequests", group="certificates.k8s.io"), "RequestResponse"),
    # Other writes with the request only; frequent status reports and events without bodies.
    (request(ADMIN, "create", "widgets", group="example.com", namespace="default"), "Request"),
    (request(ADMIN, "update", "horizontalpodautoscalers", group="autoscaling", namespace="default"), "Request"),
    (request(KUBELET, "patch", "pods", subresource="status", namespace="default"), "Metadata"),
    (request(KUBELET, "patch", "nodes", subresource="status", name="kc-cp1"), "Metadata"),
    (request(KCM, "create", "events", namespace="default"), "Metadata"),
    # Everything else: who did what, no bodies.
    (request(ADMIN, "list", "pods", namespace="default"), "Metadata"),
    (request(ADMIN, "get", "clusterroles", group="rbac.authorization.k8s.io"), "Metadata"),
    (request(ADMIN, "get", path="/apis"), "Metadata"),
    (request(KUBELET, "get", "secrets", subresource="", namespace="kube-system"), "Metadata"),
])
def test_default_policy_levels(req, level):
    assert audit.request_level(audit.default_policy(), req) == level


def test_rule_matching_follows_the_apiserver():
    anything_sub = {"level": "Request", "resources": [{"group": "*", "resources": ["*/status"]}]}
    assert audit.rule_matches(anything_sub, request(ADMIN, "patch", "deployments", group="apps", subresource="status"))
    assert not audit.rule_matches(anything_sub, request(ADMIN, "patch", "deployments", group="apps"))
    all_sub = {"level": "Request", "resources": [{"group": "", "resources": ["pods/*"]}]}
    assert audit.rule_matches(all_sub, request(ADMIN, "create", "pods", subresource="exec"))
    named = {"level": "Request", "resources": [{"group": "", "resources": ["configmaps"], "resourceNames": ["a"]}]}
    assert audit.rule_matches(named, request(ADMIN, "get", "configmaps", name="a"))
    assert not audit.rule_matches(named, request(ADMIN, "get", "configmaps", name="b"))
    cluster_scoped = {"level": "Request", "namespaces": [""]}
    assert audit.rule_matches(cluster_scoped, request(ADMIN, "get", "nodes"))
    assert not audit.rule_matches(cluster_scoped, request(ADMIN, "get", "pods", namespace="default"))
    assert not audit.rule_matches(cluster_scoped, request(ADMIN, "get", path="/livez"))
    urls = {"level": "None", "nonResourceURLs": ["/healthz*"]}
    assert not audit.rule_matches(urls, request(ADMIN, "get", "pods"))
    both = {"level": "None", "users": ["system:kube-proxy"], "userGroups": ["system:nodes"]}
    assert not audit.rule_matches(both, request(PROXY, "get", "pods"))  # users and userGroups must both match
    assert audit.request_level({"rules": [urls]}, request(ADMIN, "get", "pods")) == "None"  # no match: None


def test_replacing_the_rules():
    rules = [{"level": "RequestResponse", "resources": [{"group": "apps"}]}, {"level": "Metadata"}]
    policy = audit.default_policy({"rules": rules})
    assert policy["rules"] == rules
    assert audit.request_level(policy, request(ADMIN, "get", "deployments", group="apps")) == "RequestResponse"


def test_prepended_rules_take_precedence():
    policy = audit.default_policy({"prepend_rules": [{"level": "None", "users": ["system:serviceaccount:ci:bot"]}]})
    assert policy["rules"][0] == {"level": "None", "users": ["system:serviceaccount:ci:bot"]}
    assert policy["rules"][1:] == audit.default_rules()
    bot = {"user": "system:serviceaccount:ci:bot", "groups": []}
    assert audit.request_level(policy, request(bot, "create", "pods", namespace="ci")) == "None"


def test_omit_stages_override():
    assert audit.default_policy({"omit_stages": []})["omitStages"] == []


@pytest.mark.parametrize("overrides, message", [
    ({"rulez": []}, "unknown audit policy overrides: rulez"),
    ({"rules": []}, "no rules"),
    ({"rules": [{"level": "Everything"}]}, "level Everything"),
    ({"rules": "level: Metadata"}, "must be a list"),
    ({"omit_stages": ["Sometimes"]}, "unknown stages"),
    ({"prepend_rules": [{"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets"]}]}]},
     "would log Secrets at RequestResponse"),
    ({"rules": [{"level": "Request"}]}, "would log Secrets at Request"),
])
def test_bad_overrides_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        audit.default_policy(overrides)


def test_secret_bodies_only_when_explicitly_allowed():
    policy = audit.default_policy({"rules": [{"level": "RequestResponse"}], "allow_secret_bodies": True})
    assert audit_level_for_secrets(policy["rules"]) == "RequestResponse"


def test_render_policy_is_stable_and_reads_back():
    text = audit.render_policy(audit.default_policy())
    assert text == audit.render_policy(audit.default_policy())
    assert text.startswith("# Managed by kubecompass.readiness")
    assert yaml.safe_load(text) == audit.default_policy()
    assert load_document(text) == audit.default_policy()


def test_audit_flags_meet_cis_and_mount_what_they_need():
    change = audit.audit_flags(POLICY_PATH, LOG_PATH, policy=audit.default_policy())
    assert change["set_flags"] == {"audit-policy-file": POLICY_PATH, "audit-log-path": LOG_PATH,
                                   "audit-log-maxage": "30", "audit-log-maxbackup": "10", "audit-log-maxsize": "100"}
    assert change["remove_flags"] == []
    assert change["volumes"] == [
        {"name": "audit-policy", "host_path": POLICY_PATH, "mount_path": POLICY_PATH, "read_only": True,
         "type": "File"},
        {"name": "audit-log", "host_path": "/var/log/kubernetes/audit", "mount_path": "/var/log/kubernetes/audit",
         "read_only": False, "type": "DirectoryOrCreate"},
    ]
    assert change["files"] == [{"path": POLICY_PATH, "content": audit.render_policy(audit.default_policy()),
                                "mode": "0600", "secret": False}]
    assert any("0700" in note for note in change["notes"])
    assert audit.audit_flags(POLICY_PATH, LOG_PATH)["files"] == []
    raised = audit.audit_flags(POLICY_PATH, LOG_PATH, maxage="90", maxbackup=20, maxsize=200)["set_flags"]
    values = (raised["audit-log-maxage"], raised["audit-log-maxbackup"], raised["audit-log-maxsize"])
    assert values == ("90", "20", "200")


@pytest.mark.parametrize("kwargs, message", [
    ({"maxage": 29}, r"--audit-log-maxage=29 is below the CIS 1\.2\.17 minimum of 30"),
    ({"maxbackup": 9}, r"--audit-log-maxbackup=9 is below the CIS 1\.2\.18 minimum of 10"),
    ({"maxbackup": 0}, r"--audit-log-maxbackup=0 is below"),
    ({"maxsize": 99}, r"--audit-log-maxsize=99 is below the CIS 1\.2\.19 minimum of 100"),
    ({"maxage": "thirty"}, r"--audit-log-maxage='thirty' is not a whole number"),
    ({"maxsize": True}, r"--audit-log-maxsize=True is not a whole number"),
    ({"maxage": -30}, r"--audit-log-maxage=-30 is below"),
])
def test_rotation_below_cis_is_refused_naming_the_flag(kwargs, message):
    with pytest.raises(ValueError, match=message):
        audit.audit_flags(POLICY_PATH, LOG_PATH, **kwargs)


@pytest.mark.parametrize("policy_path, log_path, message", [
    ("/etc/kubernetes/manifests/audit.yaml", LOG_PATH, "inside /etc/kubernetes/manifests"),
    (POLICY_PATH, "/var/lib/rancher/rke2/agent/pod-manifests/audit.log", "inside /var/lib/rancher/rke2/agent"),
    (POLICY_PATH, "-", "absolute path"),
    ("audit.yaml", LOG_PATH, "absolute path"),
    (POLICY_PATH, "/audit.log", "not /"),
    ("/var/log/kubernetes/audit/policy.yaml", LOG_PATH, "must not be in the log directory"),
    (POLICY_PATH, "/var/log/../log/audit.log", "normalised"),
])
def test_bad_paths_are_refused(policy_path, log_path, message):
    with pytest.raises(ValueError, match=message):
        audit.audit_flags(policy_path, log_path)


def test_a_custom_static_pod_directory_is_protected_too():
    with pytest.raises(ValueError, match="inside /srv/static-pods"):
        audit.audit_flags("/srv/static-pods/policy.yaml", LOG_PATH, manifests_dir="/srv/static-pods")


def test_applied_to_a_kubeadm_manifest_node_facts_find_the_files_on_the_host():
    manifest = manifests.apiserver_manifest(manifests.Node("kc-cp1", "127.0.10.1", "198.51.100.1"))
    change = audit.audit_flags(POLICY_PATH, LOG_PATH)
    new, changes = static_pod.plan_manifest(manifest, change["set_flags"], change["remove_flags"], change["volumes"])
    assert len(changes) == 9  # five flags, two volumes, two mounts
    flags = parse_flags(pod_argv(new, "kube-apiserver"))
    assert host_path(flags["audit-log-path"], new, "kube-apiserver") == LOG_PATH
    assert host_path(flags["audit-policy-file"], new, "kube-apiserver") == POLICY_PATH
    assert static_pod.plan_manifest(new, change["set_flags"], change["remove_flags"], change["volumes"])[1] == []
