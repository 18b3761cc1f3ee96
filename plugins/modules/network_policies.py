#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: network_policies
short_description: Default-deny NetworkPolicies with a DNS egress allow in every application namespace
version_added: 0.1.0
description:
  - For every in-scope namespace, a default-deny policy (ingress and egress, C(kubecompass-default-deny)) and an
    egress allow to the cluster DNS (C(kubecompass-allow-dns)), selected by the DNS pods' real labels in
    C(kube-system) on UDP and TCP 53 (or O(dns)).
  - Scope - every namespace except C(kube-system), C(kube-public), C(kube-node-lease), O(excluded_namespaces)
    (names or globs), namespaces labelled C(kubecompass.io/network-policy=skip), and namespaces whose tier (label
    C(kubecompass.io/tier), else O(tier)) is not in O(tiers).
  - Applied with server-side apply under the field manager C(kubecompass), after a server-side dry run that
    decides whether anything changes. User-authored policies are never modified or deleted; a user policy
    holding one of our names leaves that namespace alone (reported as a conflict). Allow-all policies that
    cancel the deny are reported.
  - Check mode uses the server-side dry run only and returns the diff of every object.
  - A namespace an active waiver of KC-SEC-016 covers (O(waivers)) is left alone, reported in RV(left_alone) with
    the reason C(waived by <ticket> until <expires>).
  - A namespace that fails (deleted meanwhile, forbidden) is reported with its cause; the others are still handled,
    then the module fails naming them.
author:
  - KubeCompass contributors (@kubecompass)
options:
  dns:
    description:
      - The DNS pods to allow, when they cannot be found by their labels (C(k8s-app=kube-dns) or CoreDNS) -
        C(namespace), C(labels), C(ports) (numbers or C({protocol, port})).
    type: dict
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.waiver_options
  - kubecompass.readiness.namespace_scope
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Default-deny in the critical tier's namespaces first
  kubecompass.readiness.network_policies:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    tiers: [critical]
    excluded_namespaces: [calico-system, tigera-operator]
"""

RETURN = r"""
changed_objects:
  description:
    - The objects changed (in check mode, that would change) - C(object), C(action) (C(created), C(updated)), and
      C(before) and C(after), C(sha256:) digests of the object without server-set fields (null when it did not
      exist), for M(kubecompass.readiness.change_record).
  returned: success
  type: list
  elements: dict
  sample:
    - {"object": "NetworkPolicy shop/kubecompass-default-deny", "action": "created", "before": null,
       "after": "sha256:9f2c..."}
namespaces:
  description: One entry per namespace - C(namespace), C(tier), C(action) (apply, already, skip), C(reason),
    C(applied) (object and action per policy), C(allow_all) (user policies cancelling the deny), C(error).
  returned: always
  type: list
  elements: dict
dns:
  description: The DNS pods the allow selects and why.
  returned: success
  type: dict
allow_all:
  description: Every user policy that allows all ingress or egress, as C(namespace/name).
  returned: success
  type: list
  elements: str
failed_namespaces:
  description: Namespaces that could not be handled, with the cause.
  returned: always
  type: dict
left_alone:
  description: The namespaces left alone and why - C(namespace), C(reason) (for a waiver C(waived by <ticket> until
    <expires>)) and C(waiver) when one covers it.
  returned: success
  type: list
  elements: dict
expired_waivers:
  description: Expired waivers of this cluster; they protect nothing.
  returned: success
  type: list
  elements: dict
"""

import datetime


from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import netpol
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._runner import (
    NAMESPACE_SCOPE_ARGUMENT_SPEC,
    run_namespace_module,
)


def run(client, params, check_mode, today=None):
    active, expired = waiver_rules.for_remediation(
        params["waivers"], params["cluster_name"], today or datetime.datetime.now(datetime.timezone.utc).date())
    namespaces = client.list("/api/v1/namespaces")
    policies = client.list("/apis/networking.k8s.io/v1/networkpolicies")
    try:
        dns_namespace = (params["dns"] or {}).get("namespace") or "kube-system"
        dns = netpol.dns_selector(client.list("/api/v1/namespaces/%s/pods" % dns_namespace), params["dns"])
        planned = netpol.plan_network_policies(namespaces, policies, dns, params["tier"], params["tiers"],
                                               params["excluded_namespaces"], waivers=active)
    except ValueError as exc:
        raise KubeCompassError(str(exc), "input") from None
    applied, errors = _apply.apply_per_namespace(
        client, [(entry["namespace"], entry["objects"]) for entry in planned if entry["objects"]], check_mode)
    results = []
    for entry in planned:
        item = {key: entry[key] for key in ("namespace", "tier", "action", "reason", "allow_all", "user_policies")}
        item["applied"] = [{"object": r["object"], "action": r["action"]} for r in applied.get(entry["namespace"], [])]
        item["error"] = errors.get(entry["namespace"])
        results.append(item)
    changed = any(r["action"] != "unchanged" for done in applied.values() for r in done)
    return {"changed": changed, "namespaces": results, "dns": dns, "failed_namespaces": errors,
            "allow_all": ["%s/%s" % (e["namespace"], name) for e in planned for name in e["allow_all"]],
            "left_alone": [dict({"namespace": e["namespace"], "reason": e["reason"]},
                                **({"waiver": e["waiver"]} if "waiver" in e else {}))
                           for e in planned if e["action"] == "skip"],
            "expired_waivers": [waiver_rules.describe(w) for w in expired],
            "diff": _apply.diffs([r for done in applied.values() for r in done]),
            "changed_objects": _apply.changed_objects([r for done in applied.values() for r in done])}


def main():
    run_namespace_module("network policies", run, dict(NAMESPACE_SCOPE_ARGUMENT_SPEC, dns={"type": "dict"}))


if __name__ == "__main__":
    main()
