"""Default-deny NetworkPolicy planning: DNS target detection, desired objects and the per-namespace plan, on objects
shaped as the Kubernetes API returns them (kubeadm CoreDNS, apiserver-defaulted NetworkPolicies)."""

from __future__ import annotations

import copy
import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import netpol
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers

MANAGED = {"app.kubernetes.io/managed-by": "kubecompass.readiness"}
KUBE_DNS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"},
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def coredns_pod(name, template_hash="668d6bf9bc"):
    """A CoreDNS pod as kubeadm v1.36 deploys it (Deployment coredns in kube-system), trimmed to what matters."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "kube-system", "generateName": "coredns-%s-" % template_hash,
            "uid": "0b5e2f3c-1111-4c1d-9f6e-3a0f1c2b4d5e", "resourceVersion": "512",
            "labels": {"k8s-app": "kube-dns", "pod-template-hash": template_hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "coredns-%s" % template_hash,
                                 "uid": "9d7c1e3a-2222-4b8e-8a1f-5c6d7e8f9a0b", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "priorityClassName": "system-cluster-critical", "serviceAccountName": "coredns",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{
                "name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.12.1",
                "args": ["-conf", "/etc/coredns/Corefile"],
                "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                          {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}],
            }],
        },
        "status": {"phase": "Running", "podIP": "10.244.0.3"},
    }


def system_pod(name, labels, image, container=None):
    return {"metadata": {"name": name, "namespace": "kube-system", "labels": labels},
            "spec": {"containers": [{"name": container or name.split("-")[0], "image": image}]},
            "status": {"phase": "Running"}}


KUBE_SYSTEM = [
    coredns_pod("coredns-668d6bf9bc-7x2kq"),
    coredns_pod("coredns-668d6bf9bc-wq9zt"),
    system_pod("kube-proxy-5lh8m", {"k8s-app": "kube-proxy", "controller-revision-hash": "6c9b7d8f5",
                                    "pod-template-generation": "1"}, "registry.k8s.io/kube-proxy:v1.36.3"),
    system_pod("etcd-kc-cp1", {"component": "etcd", "tier": "control-plane"}, "registry.k8s.io/etcd:3.6.4-0"),
]


def namespace(name, labels=None, **extra):
    meta = {"name": name, "labels": dict({"kubernetes.io/metadata.name": name}, **(labels or {}))}
    meta.update(extra)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta, "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}}


def policy(ns, name, spec, labels=None):
    """A NetworkPolicy as the apiserver returns it: server metadata, policyTypes defaulted."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns, "uid": "u-%s-%s" % (ns, name), "resourceVersion": "77",
                         "generation": 1, "creationTimestamp": "2026-03-01T10:00:00Z",
                         **({"labels": labels} if labels else {})},
            "spec": spec}


def live_ours(ns, dns=None):
    """Our two policies as read back from the API (extra metadata, protocol defaulted, labels kept)."""
    objects = copy.deepcopy(netpol.desired_policies(ns, dns or KUBE_DNS))
    for item in objects:
        item["metadata"].update(uid="u-%s" % item["metadata"]["name"], resourceVersion="90", generation=1)
    return objects


DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
DENY_INGRESS = {"podSelector": {}, "policyTypes": ["Ingress"]}
DENY_EGRESS = {"podSelector": {}, "policyTypes": ["Egress"]}
ALLOW_ALL_INGRESS = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}


def plan(namespaces, policies=(), cluster_tier="critical", tiers=None, excluded=None, dns=None, **kwargs):
    plans = netpol.plan_network_policies(namespaces, list(policies), dns or KUBE_DNS, cluster_tier, tiers, excluded,
                                         **kwargs)
    return {entry["namespace"]: entry for entry in plans}


# -- dns_selector ------------------------------------------------------------------------------------------------------

def test_dns_labels_and_ports_from_kubeadm_coredns_pods():
    dns = netpol.dns_selector(KUBE_SYSTEM)
    assert dns["namespace"] == "kube-system"
    assert dns["labels"] == {"k8s-app": "kube-dns"}  # pod-template-hash dropped, k8s-app preferred
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]  # metrics 9153 not
    assert dns["evidence"] == {"source": "pods", "matched_by": "label k8s-app=kube-dns", "ports_from": "pods",
                               "pods": ["coredns-668d6bf9bc-7x2kq", "coredns-668d6bf9bc-wq9zt"]}


def test_dns_pods_from_two_replicasets_during_a_rollout_share_only_stable_labels():
    pods = [coredns_pod("coredns-668d6bf9bc-7x2kq"), coredns_pod("coredns-7d9f8c6b5-k2m4p", "7d9f8c6b5")]
    assert netpol.dns_selector(pods)["labels"] == {"k8s-app": "kube-dns"}


def test_dns_pods_found_by_coredns_container_when_not_labelled_kube_dns():
    pods = []
    for name, template_hash in (("coredns-5d78c9869d-abcde", "5d78c9869d"), ("coredns-5d78c9869d-fghij", "5d78c9869d")):
        pod = coredns_pod(name, template_hash)
        pod["metadata"]["labels"] = {"app.kubernetes.io/name": "coredns", "app.kubernetes.io/instance": "coredns",
                                     "pod-template-hash": template_hash}
        pods.append(pod)
    autoscaler = system_pod("coredns-autoscaler-6b8c7d9f4-zz9xy", {"app": "coredns-autoscaler"},
                            "registry.k8s.io/cpa/cluster-proportional-autoscaler:v1.9.0", "autoscaler")
    dns = netpol.dns_selector(pods + [autoscaler] + KUBE_SYSTEM[2:])
    assert dns["labels"] == {"app.kubernetes.io/name": "coredns", "app.kubernetes.io/instance": "coredns"}
    assert dns["evidence"]["matched_by"] == "CoreDNS pod name, container name or image"
    assert dns["evidence"]["pods"] == ["coredns-5d78c9869d-abcde", "coredns-5d78c9869d-fghij"]


def test_dns_pods_found_by_pod_name_alone():
    pod = system_pod("coredns-abc12", {"app": "dns"}, "example.org/resolver:1", "resolver")
    dns = netpol.dns_selector([pod])
    assert dns["labels"] == {"app": "dns"}
    assert dns["evidence"]["ports_from"] == "default"
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_openshift_dns_namespace_configured_labels_and_ports_detected():
    pod = {"metadata": {"name": "dns-default-x7k2p", "namespace": "openshift-dns",
                        "labels": {"dns.operator.openshift.io/daemonset-dns": "default",
                                   "controller-revision-hash": "7f9c6d5b8", "pod-template-generation": "3"}},
           "spec": {"containers": [
               {"name": "dns", "image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:0a1b",
                "ports": [{"name": "dns", "containerPort": 5353, "protocol": "UDP"},
                          {"name": "dns-tcp", "containerPort": 5353, "protocol": "TCP"}]},
               {"name": "kube-rbac-proxy", "image": "quay.io/openshift/origin-kube-rbac-proxy:4.18",
                "ports": [{"name": "metrics", "containerPort": 9154, "protocol": "TCP"}]}]}}
    with pytest.raises(ValueError, match="no cluster DNS pods found in namespace openshift-dns"):
        netpol.dns_selector([pod], {"namespace": "openshift-dns"})  # image digest only, name dns: not recognisable
    pod["spec"]["containers"][0]["image"] = "quay.io/openshift/origin-coredns:4.18"
    dns = netpol.dns_selector([pod], {"namespace": "openshift-dns"})
    assert dns["namespace"] == "openshift-dns"
    assert dns["labels"] == {"dns.operator.openshift.io/daemonset-dns": "default"}
    assert dns["ports"] == [{"protocol": "UDP", "port": 5353}, {"protocol": "TCP", "port": 5353}]


def test_configured_labels_override_detection_entirely():
    dns = netpol.dns_selector([], {"labels": {"k8s-app": "node-local-dns"}})
    assert dns == {"namespace": "kube-system", "labels": {"k8s-app": "node-local-dns"},
                   "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                   "evidence": {"source": "configured", "ports_from": "default"}}
    ports = [5353, "53", {"port": "dns-tcp"}, {"port": 853, "protocol": "TCP"}]
    dns = netpol.dns_selector(KUBE_SYSTEM, {"namespace": "dns", "labels": {"app": "unbound"}, "ports": ports})
    assert dns["labels"] == {"app": "unbound"}
    assert dns["ports"] == [{"protocol": "UDP", "port": 5353}, {"protocol": "TCP", "port": 5353},
                            {"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53},
                            {"protocol": "TCP", "port": "dns-tcp"}, {"protocol": "TCP", "port": 853}]
    assert dns["evidence"]["ports_from"] == "configured"


def test_configured_ports_alone_keep_detected_labels():
    dns = netpol.dns_selector(KUBE_SYSTEM, {"ports": [{"protocol": "UDP", "port": 53}]})
    assert dns["labels"] == {"k8s-app": "kube-dns"}
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}]
    assert dns["evidence"]["ports_from"] == "configured"


def test_finished_pods_and_pods_of_other_namespaces_are_not_dns_pods():
    failed = coredns_pod("coredns-668d6bf9bc-old11")
    failed["status"]["phase"] = "Failed"
    elsewhere = coredns_pod("coredns-668d6bf9bc-other")
    elsewhere["metadata"]["namespace"] = "tenant"
    with pytest.raises(ValueError, match="no cluster DNS pods found in namespace kube-system among 1 pod"):
        netpol.dns_selector([failed, elsewhere, KUBE_SYSTEM[2]])


def test_no_dns_pods_and_nothing_configured_is_an_error():
    with pytest.raises(ValueError, match="configure the DNS target"):
        netpol.dns_selector(KUBE_SYSTEM[2:])
    with pytest.raises(ValueError, match="no cluster DNS pods"):
        netpol.dns_selector(None)


def test_dns_pods_without_a_shared_stable_label_are_an_error():
    first = system_pod("coredns-a", {"pod-template-hash": "1"}, "coredns/coredns:1.12.1")
    second = system_pod("coredns-b", {"app": "x"}, "coredns/coredns:1.12.1")
    with pytest.raises(ValueError, match=r"\(coredns-a, coredns-b\) share no stable label"):
        netpol.dns_selector([first, second])


@pytest.mark.parametrize("configured, message", [
    ("kube-dns", "must be a mapping"),
    ({"namespace": "kube-system", "selector": {}}, "unknown key"),
    ({"namespace": ""}, "namespace must be a namespace name"),
    ({"labels": {}}, "non-empty mapping"),
    ({"labels": {"k8s-app": 1}}, "non-empty mapping"),
    ({"labels": {"k8s-app": "kube-dns"}, "ports": []}, "non-empty list"),
    ({"labels": {"k8s-app": "kube-dns"}, "ports": 53}, "non-empty list"),
    ({"labels": {"k8s-app": "kube-dns"}, "ports": [{"port": 53, "protocol": "ICMP"}]}, "expected protocol"),
    ({"labels": {"k8s-app": "kube-dns"}, "ports": [{"port": 53, "proto": "UDP"}]}, "expected a number or a mapping"),
    ({"labels": {"k8s-app": "kube-dns"}, "ports": [70000]}, "out of range"),
    ({"labels": {"k8s-app": "kube-dns"}, "ports": [True]}, "expected a number"),
    ({"labels": {"k8s-app": "kube-dns"}, "ports": ["dns"]}, "expected a number"),
])
def test_malformed_dns_configuration_is_rejected(configured, message):
    with pytest.raises(ValueError, match=message):
        netpol.dns_selector(KUBE_SYSTEM, configured)


# -- desired_policies --------------------------------------------------------------------------------------------------

def test_desired_policies_are_default_deny_and_dns_egress_with_and_peer():
    deny, allow_dns = netpol.desired_policies("shop", KUBE_DNS)
    assert deny == {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": "kubecompass-default-deny", "namespace": "shop", "labels": MANAGED},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    assert allow_dns == {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "kubecompass-allow-dns", "namespace": "shop", "labels": MANAGED},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
            # One peer holding both selectors: DNS pods AND in the DNS namespace.
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
    }
    assert netpol.MANAGED_LABELS == MANAGED


def test_desired_policies_do_not_share_state_with_the_dns_target():
    dns = copy.deepcopy(KUBE_DNS)
    objects = netpol.desired_policies("shop", dns)
    objects[1]["spec"]["egress"][0]["ports"].append({"protocol": "TCP", "port": 1})
    objects[0]["metadata"]["labels"]["x"] = "y"
    assert dns == KUBE_DNS
    assert netpol.MANAGED_LABELS == MANAGED


def test_desired_policies_need_a_dns_target():
    with pytest.raises(ValueError, match="dns_selector result"):
        netpol.desired_policies("shop", {"namespace": "kube-system", "labels": {}, "ports": [53]})


# -- plan_network_policies ---------------------------------------------------------------------------------------------

def test_new_namespace_gets_both_policies():
    entry = plan([namespace("shop")])["shop"]
    assert entry["action"] == "apply"
    assert entry["tier"] == "critical"
    assert entry["objects"] == netpol.desired_policies("shop", KUBE_DNS)
    assert entry["reason"] == "creates kubecompass-default-deny; creates kubecompass-allow-dns"
    assert entry["allow_all"] == [] and entry["user_policies"] == []


def test_policies_read_back_from_the_api_are_already_in_place():
    live = live_ours("shop")
    # Apiserver defaulting: protocol TCP may be omitted; order of ports is not meaning.
    live[1]["spec"]["egress"][0]["ports"] = [{"port": 53}, {"protocol": "UDP", "port": 53}]
    live[0]["spec"]["ingress"] = []
    entry = plan([namespace("shop")], live)["shop"]
    assert entry["action"] == "already"
    assert entry["objects"] == []
    assert entry["reason"] == "kubecompass-default-deny and kubecompass-allow-dns in place"
    assert entry["user_policies"] == []


def test_only_our_drifted_or_missing_policy_is_applied():
    live = live_ours("shop")
    live[1]["spec"]["egress"][0]["ports"] = [{"protocol": "UDP", "port": 5353}]
    entry = plan([namespace("shop")], live)["shop"]
    assert entry["action"] == "apply"
    assert [o["metadata"]["name"] for o in entry["objects"]] == ["kubecompass-allow-dns"]
    assert entry["objects"][0]["spec"]["egress"][0]["ports"] == KUBE_DNS["ports"]
    assert entry["reason"] == "updates kubecompass-allow-dns (spec differs)"
    entry = plan([namespace("shop")], live[1:])["shop"]
    assert [o["metadata"]["name"] for o in entry["objects"]] == ["kubecompass-default-deny", "kubecompass-allow-dns"]


def test_our_policy_missing_one_of_our_labels_is_updated(monkeypatch):
    live = live_ours("shop")
    monkeypatch.setitem(netpol.MANAGED_LABELS, "app.kubernetes.io/part-of", "kubecompass")
    entry = plan([namespace("shop")], live)["shop"]
    assert entry["reason"] == ("updates kubecompass-default-deny (labels differ); updates kubecompass-allow-dns "
                               "(labels differ)")
    assert entry["objects"][0]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kubecompass"


def test_dns_peer_that_became_an_or_is_drift():
    live = live_ours("shop")
    peer = live[1]["spec"]["egress"][0]["to"][0]
    live[1]["spec"]["egress"][0]["to"] = [{"namespaceSelector": peer["namespaceSelector"]},
                                          {"podSelector": peer["podSelector"]}]
    entry = plan([namespace("shop")], live)["shop"]
    assert entry["reason"] == "updates kubecompass-allow-dns (spec differs)"


def test_dns_target_change_updates_our_allow():
    live = live_ours("shop")
    other = dict(KUBE_DNS, labels={"k8s-app": "coredns"})
    entry = plan([namespace("shop")], live, dns=other)["shop"]
    assert [o["metadata"]["name"] for o in entry["objects"]] == ["kubecompass-allow-dns"]
    assert entry["objects"][0]["spec"]["egress"][0]["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "coredns"}}


def test_user_policy_with_our_name_is_never_touched():
    spec = {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]}
    user_deny = policy("shop", "kubecompass-default-deny", spec, labels={"app.kubernetes.io/managed-by": "Helm"})
    before = copy.deepcopy(user_deny)
    entry = plan([namespace("shop")], [user_deny])["shop"]
    assert entry["action"] == "skip"
    assert entry["objects"] == []  # not even the allow-dns that does not clash
    assert entry["reason"].startswith("conflict: NetworkPolicy kubecompass-default-deny exists without the label "
                                      "app.kubernetes.io/managed-by=kubecompass.readiness")
    assert entry["user_policies"] == ["kubecompass-default-deny"]
    assert user_deny == before


def test_user_policy_with_our_name_and_no_labels_is_a_conflict_too():
    entry = plan([namespace("shop")], [policy("shop", "kubecompass-allow-dns", DENY_EGRESS)])["shop"]
    assert entry["action"] == "skip" and "conflict: NetworkPolicy kubecompass-allow-dns" in entry["reason"]


def test_our_label_on_another_name_does_not_make_a_policy_ours():
    stray = policy("shop", "kubecompass-old", DENY_INGRESS, labels=dict(MANAGED))
    entry = plan([namespace("shop")], [stray])["shop"]
    assert entry["user_policies"] == ["kubecompass-old"]
    assert entry["action"] == "apply" and len(entry["objects"]) == 2
    assert not netpol.is_managed(stray)


def test_allow_all_user_policy_is_reported_and_left_alone():
    allow_all = policy("shop", "allow-everything", ALLOW_ALL_INGRESS)
    internet = policy("shop", "egress-internet", {"podSelector": {}, "policyTypes": ["Egress"],
                                                  "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})
    web_only = policy("shop", "web-from-anywhere", {"podSelector": {"matchLabels": {"app": "web"}},
                                                    "policyTypes": ["Ingress"], "ingress": [{}]})
    entry = plan([namespace("shop")], [allow_all, internet, web_only])["shop"]
    assert entry["action"] == "apply"
    assert entry["allow_all"] == ["allow-everything", "egress-internet"]
    assert entry["user_policies"] == ["allow-everything", "egress-internet", "web-from-anywhere"]
    assert entry["reason"].endswith("allow-all NetworkPolicy allow-everything (ingress), NetworkPolicy "
                                    "egress-internet (egress) cancel the deny: remove them to make the deny effective")
    assert all(netpol.is_managed(o) for o in entry["objects"])


def test_allow_all_is_reported_when_ours_are_in_place():
    entry = plan([namespace("shop")], live_ours("shop") + [policy("shop", "open", ALLOW_ALL_INGRESS)])["shop"]
    assert entry["action"] == "already"
    assert entry["allow_all"] == ["open"]
    assert entry["reason"].endswith("; allow-all NetworkPolicy open (ingress) cancels the deny: remove it to make "
                                    "the deny effective")


def test_namespace_denied_by_user_policies_gets_nothing():
    policies = [policy("shop", "deny-in", DENY_INGRESS), policy("shop", "deny-out", DENY_EGRESS)]
    entry = plan([namespace("shop")], policies)["shop"]
    assert entry["action"] == "already"
    assert entry["objects"] == []
    assert entry["reason"] == ("user policies already deny ingress (deny-in) and egress (deny-out) by default: "
                               "nothing applied")
    entry = plan([namespace("shop")], policies + [policy("shop", "open", ALLOW_ALL_INGRESS)])["shop"]
    assert entry["action"] == "already"
    assert entry["allow_all"] == ["open"]
    assert entry["reason"].endswith("; allow-all NetworkPolicy open (ingress) cancels the deny")


def test_policy_written_without_policy_types_denies_ingress_only():
    # The apiserver stores {podSelector: {}} as policyTypes [Ingress]: egress still needs our deny.
    entry = plan([namespace("shop")], [policy("shop", "deny", {"podSelector": {}})])["shop"]
    assert entry["action"] == "apply"
    assert len(entry["objects"]) == 2


def test_ingress_only_user_deny_still_gets_ours():
    entry = plan([namespace("shop")], [policy("shop", "deny-in", DENY_INGRESS)])["shop"]
    assert entry["action"] == "apply"
    assert entry["user_policies"] == ["deny-in"]


def test_scope_system_excluded_opted_out_and_terminating_namespaces():
    namespaces = [
        namespace("kube-system"), namespace("kube-public"), namespace("kube-node-lease"),
        namespace("calico-system"), namespace("openshift-monitoring"), namespace("payments"),
        namespace("legacy", {"kubecompass.io/network-policy": "skip"}),
        namespace("keep", {"kubecompass.io/network-policy": "enabled"}),
        namespace("leaving", deletionTimestamp="2026-03-02T08:00:00Z"),
        dict(namespace("gone"), status={"phase": "Terminating"}),
        namespace("default"),
    ]
    plans = plan(namespaces, excluded=["calico-system", "openshift-*"])
    reasons = {name: entry["reason"] for name, entry in plans.items() if entry["action"] == "skip"}
    assert reasons == {
        "kube-system": "system namespace", "kube-public": "system namespace", "kube-node-lease": "system namespace",
        "calico-system": "excluded", "openshift-monitoring": "excluded by pattern 'openshift-*'",
        "legacy": "opted out: namespace labelled kubecompass.io/network-policy=skip",
        "leaving": "namespace is terminating", "gone": "namespace is terminating",
    }
    assert {name for name, entry in plans.items() if entry["action"] == "apply"} == {"payments", "keep", "default"}
    assert all(plans[name]["objects"] == [] for name in reasons)
    assert list(plans) == sorted(plans)


def test_custom_opt_out_label():
    plans = plan([namespace("a", {"example.com/netpol": "skip"})], opt_out_label="example.com/netpol")
    assert plans["a"]["action"] == "skip"


def test_staging_by_tier():
    namespaces = [namespace("pay", {"kubecompass.io/tier": "critical"}),
                  namespace("blog", {"kubecompass.io/tier": "best_effort"}),
                  namespace("shop"), namespace("odd", {"kubecompass.io/tier": "gold"})]
    plans = plan(namespaces, cluster_tier="important", tiers=["critical"])
    assert plans["pay"]["action"] == "apply" and plans["pay"]["tier"] == "critical"
    assert plans["blog"]["action"] == "skip"
    assert plans["blog"]["reason"] == ("tier best_effort is not staged (namespace label kubecompass.io/tier="
                                       "best_effort; staged: critical)")
    assert plans["shop"]["tier"] == "important"
    assert plans["shop"]["reason"] == "tier important is not staged (cluster tier important; staged: critical)"
    assert plans["odd"]["action"] == "skip" and plans["odd"]["tier"] is None
    assert "is not a tier" in plans["odd"]["reason"]
    assert plan(namespaces, tiers="important")["shop"]["action"] == "skip"  # shop is critical here
    assert plan(namespaces, tiers=[])["pay"]["reason"].endswith("staged: none)")


def active_waivers(*entries, cluster="c1", today=datetime.date(2026, 12, 7)):
    base = {"check": "KC-SEC-016", "reason": "egress to the payment gateway", "owner": "team-pay",
            "ticket": "OPS-2001", "expires": "2027-06-30"}
    return waivers.for_remediation([dict(base, **entry) for entry in entries], cluster, today)[0]


def test_a_namespace_waived_for_default_deny_is_left_alone_with_the_ticket_and_end_date():
    namespaces = [namespace("pay"), namespace("shop")]
    plans = plan(namespaces, waivers=active_waivers({"namespace": "pay"}))
    assert plans["pay"]["action"] == "skip" and plans["pay"]["objects"] == []
    assert plans["pay"]["reason"] == "waived by OPS-2001 until 2027-06-30"
    assert plans["pay"]["waiver"]["owner"] == "team-pay"
    assert plans["shop"]["action"] == "apply"


def test_an_object_waiver_on_the_namespace_and_a_cluster_waiver_leave_namespaces_alone():
    target = {"kind": "Namespace", "name": "pay", "namespace": "pay"}
    plans = plan([namespace("pay"), namespace("shop")], waivers=active_waivers({"object": target}))
    assert plans["pay"]["action"] == "skip" and plans["shop"]["action"] == "apply"
    plans = plan([namespace("pay"), namespace("shop")], waivers=active_waivers({"ticket": "SEC-9"}))
    assert {entry["reason"] for entry in plans.values()} == {"waived by SEC-9 until 2027-06-30"}


def test_an_expired_waiver_or_one_of_another_check_does_not_protect():
    expired = active_waivers({"namespace": "pay", "expires": "2026-12-06"})
    assert expired == []
    assert plan([namespace("pay")], waivers=expired)["pay"]["action"] == "apply"
    other_check = active_waivers({"namespace": "pay", "check": "KC-SEC-017"})
    assert plan([namespace("pay")], waivers=other_check)["pay"]["action"] == "apply"


def test_policies_as_a_mapping_and_other_namespaces_do_not_leak():
    policies = {"shop": [policy("shop", "deny-in", DENY_INGRESS), policy("shop", "deny-out", DENY_EGRESS)]}
    plans = netpol.plan_network_policies([namespace("shop"), namespace("blog")], policies, KUBE_DNS, "critical",
                                         None, None)
    assert [p["action"] for p in plans] == ["apply", "already"]
    assert [p["namespace"] for p in plans] == ["blog", "shop"]


def test_plan_does_not_mutate_its_inputs():
    namespaces = [namespace("shop"), namespace("blog")]
    policies = live_ours("shop") + [policy("blog", "open", ALLOW_ALL_INGRESS)]
    before = copy.deepcopy((namespaces, policies, KUBE_DNS))
    plans = netpol.plan_network_policies(namespaces, policies, KUBE_DNS, "critical", None, [])
    for entry in plans:
        for item in entry["objects"]:
            item["metadata"]["labels"]["x"] = "y"
    assert (namespaces, policies, KUBE_DNS) == before


@pytest.mark.parametrize("kwargs, message", [
    ({"cluster_tier": "gold"}, "cluster tier 'gold' is not a tier"),
    ({"tiers": ["gold"]}, "tiers: 'gold' is not a tier"),
    ({"excluded": "kube-*"}, "must be a list"),
    ({"excluded": [""]}, "is not a name or glob"),
    ({"dns": {"namespace": "kube-system"}}, "dns_selector result"),
])
def test_plan_rejects_malformed_settings(kwargs, message):
    arguments = {"cluster_tier": "critical", "tiers": None, "excluded": None, "dns": KUBE_DNS}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        netpol.plan_network_policies([namespace("shop")], [], arguments["dns"], arguments["cluster_tier"],
                                     arguments["tiers"], arguments["excluded"])


def test_out_of_scope_is_none_for_an_application_namespace():
    assert netpol.out_of_scope(namespace("shop"), ["kube-*"]) is None
    assert netpol.out_of_scope(namespace("kube-flannel"), ("kube-*",)) == "excluded by pattern 'kube-*'"
