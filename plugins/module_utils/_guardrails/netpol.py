# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Default-deny NetworkPolicies: the DNS target, the two policies a namespace gets, and the plan per namespace
(api-checks.md section 3). Pure functions.

Every namespace in scope gets ``kubecompass-default-deny`` (every pod, Ingress and Egress, no rules) and
``kubecompass-allow-dns`` (egress from every pod to the cluster DNS pods on the DNS ports only). Ours are the policies
with those names AND the label app.kubernetes.io/managed-by=kubecompass.readiness; a policy with one of those names
but not that label belongs to a user: the namespace is skipped as a conflict, never overwritten. The plan never
creates an object that modifies or deletes a user-authored policy.

A namespace whose own (user) policies already deny ingress and egress by default gets nothing, not even the DNS
allow: its authors chose their deny, and whether their pods may resolve names is theirs to decide as well.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import fnmatch

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.netpol import (
    native_effect,
    native_policy_types,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_labels,
    object_meta,
    object_name,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SYSTEM_NAMESPACES, TIERS
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import namespace_tier

API_VERSION = "networking.k8s.io/v1"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_LABELS = {MANAGED_BY: "kubecompass.readiness"}
DEFAULT_DENY_NAME = "kubecompass-default-deny"
ALLOW_DNS_NAME = "kubecompass-allow-dns"
POLICY_NAMES = (DEFAULT_DENY_NAME, ALLOW_DNS_NAME)
OPT_OUT_LABEL = "kubecompass.io/network-policy"
# The assessment check this remediation fixes: its active waivers leave a namespace alone.
CHECK_ID = "KC-SEC-016"
# The one value of an opt-out label that leaves a namespace alone (shared with the psa planner).
OPT_OUT_VALUE = "skip"
# Immutable label the control plane sets on every namespace: the only safe way to select one namespace by name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

DNS_NAMESPACE = "kube-system"
DNS_LABEL_KEY = "k8s-app"
DNS_LABEL_VALUE = "kube-dns"
DEFAULT_DNS_PORTS = ({"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53})
DNS_PORT_NAMES = ("dns", "dns-tcp")
PROTOCOLS = ("TCP", "UDP", "SCTP")
# Labels controllers add per revision or per pod: selecting on them would miss the next rollout.
VOLATILE_LABELS = ("pod-template-hash", "controller-revision-hash", "pod-template-generation",
                   "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index")
DNS_SETTING_KEYS = ("namespace", "labels", "ports")


# -- scope (shared with psa) -------------------------------------------------------------------------------------------


def exclusion_patterns(excluded):
    """The excluded namespaces setting as a list of names or fnmatch globs; ValueError when malformed."""
    if excluded is None:
        return []
    if isinstance(excluded, str) or not isinstance(excluded, (list, tuple, set, frozenset)):
        raise ValueError("excluded namespaces must be a list of names or globs, not %r" % (excluded,))
    bad = [pattern for pattern in excluded if not isinstance(pattern, str) or not pattern]
    if bad:
        raise ValueError("excluded namespaces: %r is not a name or glob" % (bad[0],))
    return sorted(excluded)


def out_of_scope(namespace, excluded=None, opt_out_label=OPT_OUT_LABEL):
    """Why a guardrail must leave this namespace alone, or None when it is in scope.

    Out of scope: the system namespaces, names matching an ``excluded`` name or glob, namespaces labelled
    ``<opt_out_label>: skip``, and terminating namespaces.
    """
    meta = object_meta(namespace)
    name = meta.get("name") or ""
    if name in SYSTEM_NAMESPACES:
        return "system namespace"
    for pattern in exclusion_patterns(excluded):
        if fnmatch.fnmatchcase(name, pattern):
            return "excluded" if pattern == name else "excluded by pattern %r" % pattern
    if (meta.get("labels") or {}).get(opt_out_label) == OPT_OUT_VALUE:
        return "opted out: namespace labelled %s=%s" % (opt_out_label, OPT_OUT_VALUE)
    if meta.get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
        return "namespace is terminating"
    return None


def waiver_note(waivers, check_id, namespace):
    """(reason, waiver) when an active waiver of ``check_id`` covers the namespace ``namespace``, else None.

    ``waivers`` are the cluster's active waivers (waivers.for_remediation); the namespace is the object the
    assessment reports for the namespace-scoped checks, so the assessment's scope rules decide.
    """
    waiver = waiver_rules.covering(waivers, check_id, {"kind": "Namespace", "name": namespace, "namespace": namespace})
    if waiver is None:
        return None
    return waiver_rules.left_alone_reason(waiver), waiver_rules.describe(waiver)


# -- DNS target --------------------------------------------------------------------------------------------------------

def _port_number(value):
    """An int port from an int or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _configured_ports(ports):
    if not isinstance(ports, (list, tuple)) or not ports:
        raise ValueError("DNS ports must be a non-empty list (an egress rule without ports allows every port), "
                         "not %r" % (ports,))
    result = []
    for entry in ports:
        number = _port_number(entry)
        if number is not None:
            # A bare number means DNS over UDP and TCP.
            candidates = [{"protocol": "UDP", "port": number}, {"protocol": "TCP", "port": number}]
        elif isinstance(entry, dict) and set(entry) <= {"protocol", "port"} and "port" in entry:
            protocol = entry.get("protocol") or "TCP"
            port = entry["port"]
            number = _port_number(port)
            if protocol not in PROTOCOLS or (number is None and not (isinstance(port, str) and port)):
                raise ValueError("DNS port %r: expected protocol one of %s and a port number or name"
                                 % (entry, ", ".join(PROTOCOLS)))
            candidates = [{"protocol": protocol, "port": port if number is None else number}]
        else:
            raise ValueError("DNS port %r: expected a number or a mapping with port and protocol" % (entry,))
        for candidate in candidates:
            if isinstance(candidate["port"], int) and not 1 <= candidate["port"] <= 65535:
                raise ValueError("DNS port %r is out of range 1-65535" % (candidate["port"],))
        result.extend(candidate for candidate in candidates if candidate not in result)
    return result


def _configured_dns(configured):
    if configured is None:
        return {}
    if not isinstance(configured, dict):
        raise ValueError("the DNS target must be a mapping with namespace, labels and ports, not %r" % (configured,))
    unknown = sorted(set(configured) - set(DNS_SETTING_KEYS))
    if unknown:
        raise ValueError("DNS target: unknown key(s) %s (expected %s)"
                         % (", ".join(unknown), ", ".join(DNS_SETTING_KEYS)))
    result = {}
    if configured.get("namespace") is not None:
        if not isinstance(configured["namespace"], str) or not configured["namespace"]:
            raise ValueError("DNS target namespace must be a namespace name, not %r" % (configured["namespace"],))
        result["namespace"] = configured["namespace"]
    labels = configured.get("labels")
    if labels is not None:
        if (not isinstance(labels, dict) or not labels
                or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in labels.items())):
            raise ValueError("DNS target labels must be a non-empty mapping of label names to string values "
                             "(an empty selector would allow DNS ports to every pod of the namespace), not %r"
                             % (labels,))
        result["labels"] = dict(labels)
    if configured.get("ports") is not None:
        result["ports"] = _configured_ports(configured["ports"])
    return result


def _containers(pod):
    spec = pod.get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def _image_name(image):
    """The last path segment of an image reference without tag or digest: coredns for registry.k8s.io/coredns/..."""
    image = (image or "").lower().split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _looks_like_coredns(pod):
    if any(container.get("name") == "coredns" or "coredns" in _image_name(container.get("image"))
           for container in _containers(pod)):
        return True
    # By pod name only without a container telling otherwise (coredns-autoscaler runs another image).
    name = (object_name(pod) or "").lower()
    return name.startswith("coredns") and "autoscaler" not in name


def _finished(pod):
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _common_labels(pods):
    common = None
    for pod in pods:
        items = {(key, value) for key, value in object_labels(pod).items() if key not in VOLATILE_LABELS}
        common = items if common is None else common & items
    return dict(common or ())


def _detected_ports(pods):
    found = []
    for pod in pods:
        for container in _containers(pod):
            for port in container.get("ports") or []:
                protocol = port.get("protocol") or "TCP"
                number = port.get("containerPort")
                if protocol in ("UDP", "TCP") and (port.get("name") in DNS_PORT_NAMES or number == 53):
                    candidate = {"protocol": protocol, "port": number}
                    if candidate not in found:
                        found.append(candidate)
    return sorted(found, key=lambda port: (port["port"], port["protocol"] != "UDP"))


def dns_selector(kube_system_pods, configured=None):
    """Where the cluster DNS runs: {namespace, labels, ports, evidence}.

    ``kube_system_pods`` are the pods of the DNS namespace (kube-system unless ``configured`` names another; pods
    whose metadata names another namespace are ignored). DNS pods are those labelled k8s-app=kube-dns (CoreDNS on
    kubeadm, k3s, RKE2, EKS, GKE, AKS), else those whose containers are named coredns or run a CoreDNS image, or
    whose name starts with coredns. ``labels`` is the label set all of them share, without per-revision labels,
    reduced to k8s-app when they share it. ``ports`` are the DNS ports their containers declare (named dns/dns-tcp
    or 53), else UDP and TCP 53.

    ``configured`` (namespace, labels, ports; each optional) overrides what is detected: with labels nothing is
    detected, without labels the pods are still searched. Raises ValueError when it is malformed, or when no DNS
    pod is found and no labels are configured.
    """
    settings = _configured_dns(configured)
    namespace = settings.get("namespace", DNS_NAMESPACE)
    evidence = {"source": "configured" if "labels" in settings else "pods"}
    if "labels" in settings:
        ports = settings.get("ports") or [dict(port) for port in DEFAULT_DNS_PORTS]
        evidence["ports_from"] = "configured" if "ports" in settings else "default"
        return {"namespace": namespace, "labels": settings["labels"], "ports": ports, "evidence": evidence}
    pods = [pod for pod in kube_system_pods or []
            if object_meta(pod).get("namespace") in (None, namespace) and not _finished(pod)]
    dns_pods = [pod for pod in pods if (object_meta(pod).get("labels") or {}).get(DNS_LABEL_KEY) == DNS_LABEL_VALUE]
    evidence["matched_by"] = "label %s=%s" % (DNS_LABEL_KEY, DNS_LABEL_VALUE)
    if not dns_pods:
        dns_pods = [pod for pod in pods if _looks_like_coredns(pod)]
        evidence["matched_by"] = "CoreDNS pod name, container name or image"
    if not dns_pods:
        raise ValueError("no cluster DNS pods found in namespace %s among %d pod(s) (looked for label %s=%s and "
                         "CoreDNS pod names, container names and images): configure the DNS target "
                         "(namespace, labels, ports)" % (namespace, len(pods), DNS_LABEL_KEY, DNS_LABEL_VALUE))
    names = sorted(object_name(pod) or "" for pod in dns_pods)
    common = _common_labels(dns_pods)
    if not common:
        raise ValueError("the DNS pods in namespace %s (%s) share no stable label to select them by: configure "
                         "the DNS target (namespace, labels, ports)" % (namespace, ", ".join(names)))
    labels = {DNS_LABEL_KEY: common[DNS_LABEL_KEY]} if DNS_LABEL_KEY in common else common
    if "ports" in settings:
        ports, evidence["ports_from"] = settings["ports"], "configured"
    else:
        ports = _detected_ports(dns_pods)
        evidence["ports_from"] = "pods" if ports else "default"
        ports = ports or [dict(port) for port in DEFAULT_DNS_PORTS]
    evidence["pods"] = names
    return {"namespace": namespace, "labels": labels, "ports": ports, "evidence": evidence}


# -- desired objects ---------------------------------------------------------------------------------------------------

def _policy(namespace, name, spec):
    return {"apiVersion": API_VERSION, "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_LABELS)},
            "spec": spec}


def _check_dns(dns):
    if (not isinstance(dns, dict) or not isinstance(dns.get("namespace"), str) or not dns["namespace"]
            or not isinstance(dns.get("labels"), dict) or not dns["labels"] or not dns.get("ports")):
        raise ValueError("the DNS target must have a namespace, non-empty labels and ports (a dns_selector "
                         "result), not %r" % (dns,))


def desired_policies(namespace, dns):
    """[default-deny, allow-dns]: the two NetworkPolicies a namespace gets, labelled with MANAGED_LABELS.

    The DNS peer is one list item holding both a namespaceSelector (kubernetes.io/metadata.name) and a podSelector,
    so it selects the DNS pods in the DNS namespace only (AND, not OR).
    """
    _check_dns(dns)
    deny = _policy(namespace, DEFAULT_DENY_NAME, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    peer = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: dns["namespace"]}},
            "podSelector": {"matchLabels": dict(dns["labels"])}}
    allow_dns = _policy(namespace, ALLOW_DNS_NAME, {
        "podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [peer], "ports": copy.deepcopy(list(dns["ports"]))}],
    })
    return [deny, allow_dns]


# -- comparison --------------------------------------------------------------------------------------------------------

def _selector_key(selector):
    if selector is None:
        return None
    expressions = sorted(((e.get("key"), e.get("operator"), tuple(sorted(e.get("values") or [])))
                          for e in selector.get("matchExpressions") or []), key=repr)
    return (tuple(sorted((selector.get("matchLabels") or {}).items())), tuple(expressions))


def _peer_key(peer):
    block = peer.get("ipBlock")
    block_key = None if block is None else (block.get("cidr"), tuple(sorted(block.get("except") or [])))
    return (_selector_key(peer.get("namespaceSelector")), _selector_key(peer.get("podSelector")), block_key)


def _rule_key(rule, peers_field):
    peers = sorted((_peer_key(peer) for peer in rule.get(peers_field) or []), key=repr)
    # The apiserver defaults a port's protocol to TCP.
    ports = sorted(((port.get("protocol") or "TCP", port.get("port"), port.get("endPort"))
                    for port in rule.get("ports") or []), key=repr)
    return (tuple(peers), tuple(ports))


def _spec_key(spec):
    """What a NetworkPolicy spec means, ignoring apiserver defaulting and list order inside a rule."""
    spec = spec or {}
    return (_selector_key(spec.get("podSelector") or {}), tuple(sorted(set(native_policy_types(spec)))),
            tuple(_rule_key(rule, "from") for rule in spec.get("ingress") or []),
            tuple(_rule_key(rule, "to") for rule in spec.get("egress") or []))


def is_managed(policy):
    """Whether a NetworkPolicy is ours: one of our names AND our managed-by label (other labels may drift)."""
    labels = object_meta(policy).get("labels") or {}
    return object_name(policy) in POLICY_NAMES and labels.get(MANAGED_BY) == MANAGED_LABELS[MANAGED_BY]


def _drift(live, desired):
    """Why our live policy differs from the desired one, or None."""
    labels = object_meta(live).get("labels") or {}
    if any(labels.get(key) != value for key, value in object_meta(desired)["labels"].items()):
        return "labels differ"
    if _spec_key(live.get("spec")) != _spec_key(desired.get("spec")):
        return "spec differs"
    return None


# -- plan --------------------------------------------------------------------------------------------------------------

def _by_namespace(policies):
    if isinstance(policies, dict):
        return {namespace: list(items or []) for namespace, items in policies.items()}
    grouped = {}
    for policy in policies or []:
        namespace = object_meta(policy).get("namespace")
        if namespace:
            grouped.setdefault(namespace, []).append(policy)
    return grouped


def staged_tiers(tiers):
    """The tiers to remediate now as a set (None: all of them); ValueError for an unknown tier."""
    if tiers is None:
        return set(TIERS)
    if isinstance(tiers, str):
        tiers = [tiers]
    unknown = [tier for tier in tiers if tier not in TIERS]
    if unknown:
        raise ValueError("tiers: %r is not a tier (expected one of %s)" % (unknown[0], ", ".join(TIERS)))
    return set(tiers)


def _allow_all_note(opened):
    return "allow-all %s cancel%s the deny" % (", ".join(opened), "s" if len(opened) == 1 else "")


def _plan_namespace(namespace, policies, dns, cluster_tier, staged, excluded, opt_out_label, waivers):
    name = object_name(namespace)
    user = [policy for policy in policies if not is_managed(policy)]
    effects = {object_name(policy): native_effect(policy) for policy in user}
    opened = sorted("NetworkPolicy %s (%s)" % (policy, ", ".join(sorted(d.lower() for d in effect.opened)))
                    for policy, effect in effects.items() if effect.opened)
    entry = {"namespace": name, "tier": None, "action": "skip", "reason": "", "objects": [],
             "allow_all": sorted(policy for policy, effect in effects.items() if effect.opened),
             "user_policies": sorted(object_name(policy) for policy in user)}
    reason = out_of_scope(namespace, excluded, opt_out_label)
    if reason:
        entry["reason"] = reason
        return entry
    waived = waiver_note(waivers, CHECK_ID, name)
    if waived:
        entry["reason"], entry["waiver"] = waived
        return entry
    tier, rule, error = namespace_tier(namespace, cluster_tier)
    entry["tier"] = tier
    if error:
        entry["reason"] = error
        return entry
    if tier not in staged:
        entry["reason"] = "tier %s is not staged (%s; staged: %s)" % (tier, rule, ", ".join(sorted(staged)) or "none")
        return entry
    conflicts = sorted(object_name(policy) for policy in user if object_name(policy) in POLICY_NAMES)
    if conflicts:
        entry["reason"] = ("conflict: NetworkPolicy %s exists without the label %s=%s, so it is not ours and is "
                           "left untouched; rename it or add the label to let kubecompass manage it"
                           % (", ".join(conflicts), MANAGED_BY, MANAGED_LABELS[MANAGED_BY]))
        return entry
    denying = {direction: sorted(policy for policy, effect in effects.items() if direction in effect.denied)
               for direction in ("Ingress", "Egress")}
    if all(denying.values()):
        entry["action"] = "already"
        entry["reason"] = "user policies already deny ingress (%s) and egress (%s) by default: nothing applied" % (
            ", ".join(denying["Ingress"]), ", ".join(denying["Egress"]))
        if opened:
            entry["reason"] += "; %s" % _allow_all_note(opened)
        return entry
    live = {object_name(policy): policy for policy in policies if is_managed(policy)}
    changes = []
    for desired in desired_policies(name, dns):
        current = live.get(object_name(desired))
        drift = "missing" if current is None else _drift(current, desired)
        if drift:
            entry["objects"].append(desired)
            changes.append("%s %s" % ("creates" if current is None else "updates", object_name(desired))
                           + ("" if current is None else " (%s)" % drift))
    if changes:
        entry["action"] = "apply"
        entry["reason"] = "; ".join(changes)
    else:
        entry["action"] = "already"
        entry["reason"] = "%s in place" % " and ".join(POLICY_NAMES)
    if opened:
        entry["reason"] += "; %s: remove %s to make the deny effective" % (
            _allow_all_note(opened), "it" if len(opened) == 1 else "them")
    return entry


def plan_network_policies(namespaces, policies, dns, cluster_tier, tiers, excluded,
                          opt_out_label=OPT_OUT_LABEL, waivers=()):
    """Per namespace, sorted by name: {namespace, tier, action, reason, objects, allow_all, user_policies}.

    ``policies`` are the live NetworkPolicies (a list across namespaces, or a mapping namespace -> list); ``dns`` is
    a dns_selector result; ``tiers`` the tiers to remediate now (None for all), ``excluded`` names or fnmatch globs
    of namespaces to leave alone (the system namespaces always are), ``waivers`` the cluster's active waivers
    (waivers.for_remediation): a namespace they cover for KC-SEC-016 is skipped with "waived by <ticket> until
    <expires>" and the waiver.

    ``action`` is "apply" (``objects`` holds our desired policies that are missing or whose spec or labels drifted),
    "already" (ours are in place, or the user's own policies deny both directions: nothing to apply) or "skip"
    (out of scope, tier not staged or invalid, or a name conflict with a user policy). ``allow_all`` names the user
    policies that allow all ingress or egress for every pod and so cancel any deny; ``user_policies`` names every
    policy in the namespace that is not ours. ``objects`` never contains a user policy.
    """
    if cluster_tier not in TIERS:
        raise ValueError("cluster tier %r is not a tier (expected one of %s)" % (cluster_tier, ", ".join(TIERS)))
    staged = staged_tiers(tiers)
    exclusion_patterns(excluded)
    _check_dns(dns)
    grouped = _by_namespace(policies)
    plans = [_plan_namespace(namespace, grouped.get(object_name(namespace), []), dns, cluster_tier, staged, excluded,
                             opt_out_label, waivers)
             for namespace in namespaces or []]
    return sorted(plans, key=lambda plan: plan["namespace"] or "")
