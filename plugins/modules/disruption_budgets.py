#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: disruption_budgets
short_description: PodDisruptionBudgets for multi-replica Deployments and StatefulSets that have none
version_added: 0.1.0
description:
  - For every Deployment and StatefulSet with 2 or more replicas, in a namespace whose tier is opted in with
    O(tiers), that no PodDisruptionBudget covers yet, a C(policy/v1) PodDisruptionBudget named
    C(<workload>-<kind>-kubecompass) (for example C(web-deployment-kubecompass) and C(web-statefulset-kubecompass),
    so a Deployment and a StatefulSet of the same name each get their own) with the workload's own selector,
    C(maxUnavailable) O(max_unavailable) and C(unhealthyPodEvictionPolicy) O(unhealthy_pod_eviction_policy) (so it
    never blocks a node drain).
  - A budget is kubecompass's own, and kept up to date, only when its name, its label
    C(app.kubernetes.io/managed-by=kubecompass.readiness) and its annotation C(kubecompass.io/workload) (C(Kind/name))
    all match the workload; any other budget of that name is left alone and the workload skipped as C(name_taken).
  - A workload is covered when a budget in its namespace selects its pod template labels; a budget is never planned
    where another one covers the pods (the eviction API refuses to evict a pod selected by two budgets), nor for a
    workload whose selector also selects another workload's pods. Skipped workloads are returned with the reason.
  - Creating budgets is opt-in per tier - O(tiers) has no default.
  - Scope - namespaces other than C(kube-system), C(kube-public), C(kube-node-lease), not labelled
    C(kubecompass.io/guardrails=skip) and not terminating; the tier is the label C(kubecompass.io/tier), else O(tier).
  - Applied with server-side apply under the field manager C(kubecompass), after a server-side dry run that
    decides whether anything changes. Check mode uses the dry run only and returns the diff of every budget.
  - A namespace that fails (deleted meanwhile, forbidden) is reported with its cause; the others are still handled,
    then the module fails naming them.
author:
  - KubeCompass contributors (@kubecompass)
options:
  tiers:
    description: The tiers whose workloads get budgets (opt-in, no default).
    type: list
    elements: str
    choices: [critical, important, best_effort]
    required: true
  max_unavailable:
    description:
      - The C(maxUnavailable) of the budgets - an integer of 1 or more, or a percentage string such as C("25%").
      - A string of digits only is taken as that integer. Zero would block every drain and is refused.
    type: raw
    default: 1
  unhealthy_pod_eviction_policy:
    description:
      - The C(unhealthyPodEvictionPolicy) of the budgets (C(policy/v1), beta and on by default since Kubernetes 1.27,
        GA in 1.31).
      - V(AlwaysAllow) lets pods that are not Ready be evicted whatever the budget says, so a crash-looping pod of a
        workload at its budget cannot block node drains forever.
      - V(IfHealthyBudget), the Kubernetes default, evicts such pods only while the workload's budget has room.
    type: str
    choices: [AlwaysAllow, IfHealthyBudget]
    default: AlwaysAllow
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.waiver_options
  - kubecompass.readiness.namespace_scope.TIER
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Budgets for the critical tier's workloads
  kubecompass.readiness.disruption_budgets:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    tiers: [critical]

- name: Preview budgets allowing a quarter of the pods down, for two tiers
  kubecompass.readiness.disruption_budgets:
    tiers: [critical, important]
    max_unavailable: "25%"
    unhealthy_pod_eviction_policy: IfHealthyBudget
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
    - {"object": "PodDisruptionBudget shop/web-deployment-kubecompass", "action": "created", "before": null,
       "after": "sha256:9f2c..."}
created:
  description: The budgets created (in check mode, that would be created), as C(namespace/name).
  returned: always
  type: list
  elements: str
  sample: ["shop/web-deployment-kubecompass"]
planned:
  description: One entry per workload that gets a budget.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: C(Deployment) or C(StatefulSet).
      type: str
    namespace:
      description: The namespace.
      type: str
    name:
      description: The workload.
      type: str
    pdb:
      description: The budget's name.
      type: str
    notes:
      description: Budgets that almost cover the workload (they require a label its pods lack).
      type: list
      elements: str
    action:
      description: C(created), C(updated) or C(unchanged); null when its namespace failed first.
      type: str
    error:
      description: The cause when its namespace could not be handled, else null.
      type: str
  sample:
    - kind: Deployment
      namespace: shop
      name: web
      pdb: web-deployment-kubecompass
      notes: []
      action: created
      error: null
left_alone:
  description:
    - Workloads that get no budget, with a stable C(code) and the C(reason); code C(waived) - an active waiver of
      KC-AVL-003 (O(waivers)) covers the workload, reason C(waived by <ticket> until <expires>), and C(waiver).
    - Not named C(skipped), which Ansible would read as the whole task being skipped.
  returned: success
  type: list
  elements: dict
  sample:
    - kind: Deployment
      namespace: shop
      name: cron-ui
      code: too_few_replicas
      reason: spec.replicas is 1; a budget needs 2 or more replicas
failed_namespaces:
  description: Namespaces that could not be handled, with the cause.
  returned: always
  type: dict
  sample: {"gone": "namespace no longer exists"}
expired_waivers:
  description: Expired waivers of this cluster; they protect nothing.
  returned: success
  type: list
  elements: dict
"""

import datetime


from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import pdb
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._runner import (
    TIER_ARGUMENT_SPEC,
    TIER_CHOICES,
    run_namespace_module,
)

EVICTION_POLICY_CHOICES = list(pdb.UNHEALTHY_POD_EVICTION_POLICIES)


def max_unavailable(value):
    """The option as the planner takes it: a string of digits (a templated number) becomes that integer."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def run(client, params, check_mode, today=None):
    active, expired = waiver_rules.for_remediation(
        params["waivers"], params["cluster_name"], today or datetime.datetime.now(datetime.timezone.utc).date())
    workloads = {"deployments": client.list("/apis/apps/v1/deployments"),
                 "statefulsets": client.list("/apis/apps/v1/statefulsets")}
    budgets = client.list("/apis/policy/v1/poddisruptionbudgets")
    namespaces = client.list("/api/v1/namespaces")
    plan = pdb.plan_pdbs(workloads, budgets, namespaces, params["tier"], params["tiers"],
                         max_unavailable(params["max_unavailable"]), params["unhealthy_pod_eviction_policy"],
                         waivers=active)
    grouped = {}
    for budget in plan["create"]:
        grouped.setdefault(budget["metadata"]["namespace"], []).append(budget)
    applied, errors = _apply.apply_per_namespace(client, sorted(grouped.items()), check_mode)
    actions = {r["object"]: r["action"] for done in applied.values() for r in done}
    planned = []
    for entry in plan["planned"]:
        item = dict(entry)
        item["action"] = actions.get("PodDisruptionBudget %s/%s" % (entry["namespace"], entry["pdb"]))
        item["error"] = errors.get(entry["namespace"])
        planned.append(item)
    done = [r for results in applied.values() for r in results]
    return {"changed": any(r["action"] != "unchanged" for r in done),
            "created": ["%s/%s" % (e["namespace"], e["pdb"]) for e in planned if e["action"] == "created"],
            "planned": planned, "left_alone": plan["skipped"], "failed_namespaces": errors, "diff": _apply.diffs(done),
            "changed_objects": _apply.changed_objects(done),
            "expired_waivers": [waiver_rules.describe(w) for w in expired]}


def main():
    run_namespace_module("disruption budgets", run, dict(
        TIER_ARGUMENT_SPEC,
        tiers={"type": "list", "elements": "str", "choices": TIER_CHOICES, "required": True},
        max_unavailable={"type": "raw", "default": 1},
        unhealthy_pod_eviction_policy={"type": "str", "default": pdb.DEFAULT_UNHEALTHY_POD_EVICTION_POLICY,
                                       "choices": EVICTION_POLICY_CHOICES},
    ))


if __name__ == "__main__":
    main()
