#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: namespace_guardrails
short_description: A ResourceQuota and a LimitRange per application namespace, and no token automount by default
version_added: 0.1.0
description:
  - For every in-scope namespace, the LimitRange C(kubecompass-limits) (container default request, default limit
    and max) and the ResourceQuota C(kubecompass-quota) sized by the namespace's tier, with O(overrides) merged in.
    The LimitRange comes first, so pods without requests or limits are defaulted rather than rejected once the quota
    counts cpu and memory.
  - Objects users created are never changed - a namespace that already has a ResourceQuota (a LimitRange) of
    someone else gets none of ours, and its existing objects that do less than the tier default are reported in
    RV(weaker).
  - With O(automount=true), the namespace's C(default) ServiceAccount gets C(automountServiceAccountToken=false)
    where it does not say false yet. The pods that run as it with its token mounted are reported in RV(token_pods)
    (a pod's own setting wins over the ServiceAccount's).
  - Nothing is allowed to break a running workload later by surprise. A planned object that what runs now would
    conflict with at its next rollout (containers above the LimitRange max, usage above the quota, pods that get
    their token only from the default ServiceAccount) is held and reported in RV(held), unless O(force) names its
    kind. The quota leaves out C(requests.X) and C(limits.X) that no LimitRange defaults, so containers that
    declare none are not rejected.
  - Scope - every namespace except C(kube-system), C(kube-public), C(kube-node-lease), O(excluded_namespaces)
    (names or globs), namespaces labelled C(kubecompass.io/guardrails=skip), terminating namespaces, and namespaces
    whose tier (label C(kubecompass.io/tier), else O(tier)) is not in O(tiers).
  - Applied with server-side apply under the field manager C(kubecompass), after a server-side dry run that
    decides whether anything changes. Check mode uses the dry run only and returns the diff of every object.
  - A namespace that fails (deleted meanwhile, forbidden) is reported with its cause; the others are still handled,
    then the module fails naming them.
author:
  - KubeCompass contributors (@kubecompass)
options:
  overrides:
    description:
      - Changes to the tier defaults - C({tier} -> {quota, limit_range}), where C(quota) maps a resource to a
        quantity and C(limit_range) maps C(default), C(defaultRequest), C(max) or C(min) to resources and
        quantities; a null quantity drops the resource.
      - A C(namespaces) key maps a namespace name to the same settings, merged over its tier's values.
    type: dict
  automount:
    description: Set C(automountServiceAccountToken=false) on the C(default) ServiceAccount of each namespace.
    type: bool
    default: true
  force:
    description:
      - The kinds to apply even where what runs now conflicts with them (they are otherwise held and reported in
        RV(held)). None of them touches a running pod; the conflict shows at the next rollout, reschedule or restart.
      - C(limit_range) - running containers whose limits or requests are above the planned max (or below the min),
        or whose request is above the default limit they would get.
      - C(quota) - usage already above the planned quota (pods, cpu, memory, Services, load balancers, node ports,
        claims, storage), so new ones would be rejected; also keeps C(requests.X) and C(limits.X) that no
        LimitRange defaults (they are otherwise left out of the quota, see RV(namespaces[].adjusted)).
      - C(service_account) - the C(default) ServiceAccount sets C(automountServiceAccountToken=true) explicitly, or
        running pods get the token only from its setting and would start without it when recreated.
    type: list
    elements: str
    choices: [limit_range, quota, service_account]
    default: []
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
- name: Quotas and limits in the best-effort namespaces first, larger for one team
  kubecompass.readiness.namespace_guardrails:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    tiers: [best_effort]
    overrides:
      best_effort:
        quota:
          services.loadbalancers: null
      namespaces:
        batch:
          quota:
            requests.cpu: "8"
            limits.cpu: "16"

- name: Preview every namespace, leaving the default ServiceAccounts alone
  kubecompass.readiness.namespace_guardrails:
    automount: false
  check_mode: true
  diff: true
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
    - {"object": "LimitRange shop/kubecompass-limits", "action": "created", "before": null,
       "after": "sha256:9f2c..."}
namespaces:
  description: One entry per namespace in scope.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: The namespace.
      type: str
    tier:
      description: Its tier.
      type: str
    tier_rule:
      description: How the tier was decided.
      type: str
    applied:
      description: Each object applied (C(object)) and its C(action) (created, updated, unchanged).
      type: list
      elements: dict
    weaker:
      description: Existing objects of others that do less than the tier default.
      type: list
      elements: str
    held:
      description: Planned objects not applied because what runs conflicts with them (C(object), C(reasons)).
      type: list
      elements: dict
    adjusted:
      description: Quota resources left out because no LimitRange defaults them for containers.
      type: list
      elements: str
    warnings:
      description: Conflicts applied anyway because O(force) names their kind; usage not compared.
      type: list
      elements: str
    service_account:
      description:
        - C(exists) (the C(default) ServiceAccount), C(patch) (what is applied, null when nothing), C(held) (why
          the patch is held, else null) and C(forced) (the conflict applied anyway, else null).
      type: dict
    token_pods:
      description: Pods running as the C(default) ServiceAccount with its token mounted.
      type: list
      elements: str
    error:
      description: The cause when this namespace could not be handled, else null.
      type: str
  sample:
    - namespace: shop
      tier: important
      tier_rule: cluster tier important
      applied: [{"object": "LimitRange shop/kubecompass-limits", "action": "created"}]
      weaker: ["ResourceQuota team: requests.cpu 64 is above the important default 8"]
      held: []
      adjusted: []
      warnings: []
      service_account: {"exists": true, "patch": null, "forced": null,
                        "held": "1 running pod(s) get the token from the default ServiceAccount's setting ..."}
      token_pods: ["web-0"]
      error: null
left_alone:
  description:
    - Namespaces left alone, with the reason.
    - Guardrails an active waiver covers (O(waivers)) - C(namespace), C(check) (KC-CMP-003 LimitRange, KC-CMP-002
      ResourceQuota, KC-SEC-014 default ServiceAccount), C(object), C(reason) C(waived by <ticket> until <expires>)
      and C(waiver); a namespace with all three waived is left alone as a whole.
    - Not named C(skipped), which Ansible would read as the whole task being skipped.
  returned: success
  type: list
  elements: dict
expired_waivers:
  description: Expired waivers of this cluster; they protect nothing.
  returned: success
  type: list
  elements: dict
  sample: [{"namespace": "kube-system", "reason": "system namespace"}]
weaker:
  description: Per namespace, the existing objects that do less than the tier default.
  returned: success
  type: dict
  sample: {"shop": ["LimitRange team sets no container max for memory (important default 4Gi)"]}
held:
  description: Per namespace, what was not applied and why (C(object) - C(reasons)).
  returned: success
  type: dict
  sample: {"shop": ["ResourceQuota shop/kubecompass-quota - services.loadbalancers already in use is 1, above the planned best_effort quota 0"]}
token_pods:
  description: Per namespace, the pods that run as the C(default) ServiceAccount with its token mounted.
  returned: success
  type: dict
  sample: {"shop": ["web-0"]}
failed_namespaces:
  description: Namespaces that could not be handled, with the cause.
  returned: always
  type: dict
  sample: {"gone": "namespace no longer exists"}
"""

import datetime


from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import quota
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._runner import (
    NAMESPACE_SCOPE_ARGUMENT_SPEC,
    TIER_CHOICES,
    run_namespace_module,
)


def service_account_object(namespace, patch):
    """The default ServiceAccount carrying only the fields kubecompass sets."""
    obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}}
    obj.update(patch)
    return obj


def planned_objects(entry, automount):
    objects = list(entry["create"])
    patch = entry["service_account"]["patch"]
    if automount and patch:
        objects.append(service_account_object(entry["namespace"], patch))
    return objects


def held_by_namespace(entries, automount):
    """{namespace: ["<object> - <reasons>"]} of every held object, the ServiceAccount patch when automount is on."""
    held = {}
    for entry in entries:
        lines = ["%s - %s" % (item["object"], "; ".join(item["reasons"])) for item in entry["held"]]
        if automount and entry["service_account"]["held"]:
            lines.append("ServiceAccount %s/default - %s" % (entry["namespace"], entry["service_account"]["held"]))
        if lines:
            held[entry["namespace"]] = lines
    return held


def run(client, params, check_mode, today=None):
    tiers = params["tiers"] if params["tiers"] is not None else TIER_CHOICES
    active, expired = waiver_rules.for_remediation(
        params["waivers"], params["cluster_name"], today or datetime.datetime.now(datetime.timezone.utc).date())
    namespaces = client.list("/api/v1/namespaces")
    quotas = client.list("/api/v1/resourcequotas")
    limit_ranges = client.list("/api/v1/limitranges")
    accounts = client.list("/api/v1/serviceaccounts")
    pods = client.list("/api/v1/pods")
    services = client.list("/api/v1/services")
    claims = client.list("/api/v1/persistentvolumeclaims")
    plan = quota.plan_guardrails(namespaces, quotas, limit_ranges, accounts, pods, params["tier"], tiers,
                                 params["excluded_namespaces"], params["overrides"], services=services, claims=claims,
                                 force=params["force"], waivers=active)
    planned = [(entry["namespace"], planned_objects(entry, params["automount"])) for entry in plan["namespaces"]]
    applied, errors = _apply.apply_per_namespace(client, [item for item in planned if item[1]], check_mode)
    results = []
    for entry in plan["namespaces"]:
        item = {key: entry[key] for key in ("namespace", "tier", "tier_rule", "weaker", "held", "adjusted", "warnings",
                                            "service_account", "token_pods")}
        item["applied"] = [{"object": r["object"], "action": r["action"]} for r in applied.get(entry["namespace"], [])]
        item["error"] = errors.get(entry["namespace"])
        results.append(item)
    done = [r for results_of in applied.values() for r in results_of]
    return {"changed": any(r["action"] != "unchanged" for r in done), "namespaces": results,
            # Whole namespaces, then single guardrails a waiver covers (those name the check).
            "left_alone": plan["skipped"] + [dict(item, namespace=e["namespace"]) for e in plan["namespaces"]
                                             for item in e["waived"]],
            "expired_waivers": [waiver_rules.describe(w) for w in expired],
            "weaker": {e["namespace"]: e["weaker"] for e in plan["namespaces"] if e["weaker"]},
            "held": held_by_namespace(plan["namespaces"], params["automount"]),
            "token_pods": {e["namespace"]: e["token_pods"] for e in plan["namespaces"] if e["token_pods"]},
            "failed_namespaces": errors, "diff": _apply.diffs(done), "changed_objects": _apply.changed_objects(done)}


def warnings(result):
    for entry in result["namespaces"]:
        for warning in entry["warnings"]:
            yield "namespace %s: %s" % (entry["namespace"], warning)
    for namespace, lines in sorted(result["held"].items()):
        for line in lines:
            yield "namespace %s: held (force to apply): %s" % (namespace, line)


def main():
    run_namespace_module("namespace guardrails", run, dict(
        NAMESPACE_SCOPE_ARGUMENT_SPEC,
        overrides={"type": "dict"},
        automount={"type": "bool", "default": True},
        force={"type": "list", "elements": "str", "choices": list(quota.FORCE_CHOICES), "default": []},
    ), warnings=warnings)


if __name__ == "__main__":
    main()
