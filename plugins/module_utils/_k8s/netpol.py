# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""What network policies do to the pods they select: native NetworkPolicy, Cilium and Calico (cluster-wide) rules."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import object_name
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.selectors import is_empty


DIRECTIONS = ("Ingress", "Egress")
_NATIVE_FIELDS = {"Ingress": ("ingress", "from"), "Egress": ("egress", "to")}
_WHOLE_INTERNET = ("0.0.0.0/0", "::/0")
CILIUM_NAMESPACE_KEYS = ("k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace",
                         "any:io.kubernetes.pod.namespace")
# direction -> (allow rules, deny rules, entity peers, enableDefaultDeny key)
_CILIUM_FIELDS = {"Ingress": ("ingress", "ingressDeny", "fromEntities", "ingress"),
                  "Egress": ("egress", "egressDeny", "toEntities", "egress")}
# Labels Calico matches namespaces by: on workload endpoints (selector) and on namespaces (namespaceSelector).
CALICO_KEYS = {"selector": "projectcalico.org/namespace", "namespaceSelector": "projectcalico.org/name"}
_CALICO_NOT_IN = re.compile(r"^([\w./-]+)\s+not\s+in\s*\{([^}]*)\}$")
_DNS_PORTS = ("53", "dns", "dns-tcp")


class Effect:
    """What one policy (or one Cilium rule) does to the pods it selects, per direction."""

    __slots__ = ("label", "denied", "opened", "caveats")

    def __init__(self, label):
        self.label = label
        self.denied = set()
        self.opened = set()
        self.caveats = []


def native_policy_types(spec):
    if spec.get("policyTypes"):
        return spec["policyTypes"]
    # The apiserver's default for objects written without policyTypes.
    return ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def _peer_is_everything(peer):
    block = peer.get("ipBlock")
    if block:
        return block.get("cidr") in _WHOLE_INTERNET and not block.get("except")
    return is_empty(peer.get("namespaceSelector")) and is_empty(peer.get("podSelector") or {})


def _native_rule_allows_all(rule, peers_field):
    if rule.get("ports"):
        return False
    peers = rule.get(peers_field) or []
    return not peers or any(_peer_is_everything(peer) for peer in peers)


def native_effect(policy):
    effect = Effect("NetworkPolicy/%s" % object_name(policy))
    spec = policy.get("spec") or {}
    # podSelector is a required struct: absent decodes to {} (every pod in the namespace).
    if not is_empty(spec.get("podSelector") or {}):
        return effect
    for direction in native_policy_types(spec):
        rules_field, peers_field = _NATIVE_FIELDS.get(direction, (None, None))
        if rules_field is None:
            continue
        rules = spec.get(rules_field) or []
        if not rules:
            effect.denied.add(direction)
        elif any(_native_rule_allows_all(rule, peers_field) for rule in rules):
            effect.opened.add(direction)
    return effect


def cilium_rules(policy):
    spec = policy.get("spec")
    return ([spec] if spec else []) + list(policy.get("specs") or [])


def cilium_excluded_namespaces(selector):
    """Namespaces a 'select every endpoint' selector leaves out (NotIn on the namespace label), None if narrower."""
    if selector is None or selector.get("matchLabels"):
        return None
    excluded = set()
    for expression in selector.get("matchExpressions") or []:
        if expression.get("key") not in CILIUM_NAMESPACE_KEYS or expression.get("operator") != "NotIn":
            return None
        excluded.update(expression.get("values") or [])
    return excluded


def cilium_effect(label, rule):
    # In Cilium an empty rule {} allows nothing (the opposite of NetworkPolicy); allow-all is the entity "all".
    effect = Effect(label)
    default_deny = rule.get("enableDefaultDeny") or {}
    for direction, (allow_field, deny_field, entities_field, switch) in _CILIUM_FIELDS.items():
        allows = rule.get(allow_field) or []
        for allow in allows:
            entities = set(allow.get(entities_field) or [])
            if not allow.get("toPorts") and ("all" in entities or {"world", "cluster"} <= entities):
                effect.opened.add(direction)
        if direction in effect.opened or not (allows or rule.get(deny_field)):
            continue
        if default_deny.get(switch) is False:
            effect.caveats.append("%s sets enableDefaultDeny.%s false" % (label, switch))
        else:
            effect.denied.add(direction)
    return effect


def calico_excluded(text, key):
    """Namespaces excluded by a Calico selector we recognise as 'every workload', else None."""
    excluded = set()
    for term in (part.strip() for part in (text or "").split("&&")):
        if term in ("", "all()", "has(%s)" % key):
            continue
        match = _CALICO_NOT_IN.match(term)
        if not match or match.group(1) not in CALICO_KEYS.values():
            return None
        excluded.update(value.strip().strip("'\"") for value in match.group(2).split(",") if value.strip())
    return excluded


def _calico_dns_rule(rule):
    ports = (rule.get("destination") or {}).get("ports") or []
    return bool(ports) and all(str(port).lower() in _DNS_PORTS for port in ports)


def _calico_unconstrained(rule):
    return not any(value for field, value in rule.items() if field not in ("action", "metadata", "ipVersion"))


def calico_effect(policy):
    label = "GlobalNetworkPolicy/%s" % object_name(policy)
    effect = Effect(label)
    spec = policy.get("spec") or {}
    # Calico's default: Ingress, plus Egress when egress rules exist.
    types = spec.get("types") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
    for direction in DIRECTIONS:
        if direction not in types:
            continue
        allowing = [rule for rule in spec.get(direction.lower()) or [] if rule.get("action") in ("Allow", "Pass")]
        if any(rule.get("action") == "Allow" and _calico_unconstrained(rule) for rule in allowing):
            effect.opened.add(direction)
        elif any(not _calico_dns_rule(rule) for rule in allowing):
            effect.caveats.append("%s allows %s beyond DNS" % (label, direction.lower()))
        else:
            effect.denied.add(direction)
    return effect
