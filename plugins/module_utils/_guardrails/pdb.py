# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""PodDisruptionBudgets planned for multi-replica Deployments and StatefulSets that have none.

Pure functions, no I/O. Coverage follows the assessment (KC-AVL-003, availability.pdb_coverage): a workload is
covered when a PDB in its namespace has a selector that selects its pod template labels (matchLabels AND every
matchExpression). So a broader PDB, whose selector asks for fewer labels than the template carries (selecting
these pods and possibly others), covers the workload; a narrower one that requires a label the template lacks
does not, because it protects some pods at most (reported as a near miss). A PDB is never planned where another
one already covers the pods: the eviction API refuses to evict a pod selected by two budgets.

A budget is named after its workload's kind and name, ``<name>-<kind>-kubecompass``: a Deployment and a StatefulSet
may share a name in one namespace, and each needs a budget of its own.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import hashlib

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails.quota import (
    MANAGED_BY,
    exclusion_reason,
    is_ours,
    validate_tiers,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_meta,
    object_name,
    object_namespace,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.selectors import is_empty, matches
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.workloads import (
    int_or_percent,
    pdb_selector,
    pod_labels,
    replicas,
    unmet_requirements,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import namespace_tier

NAME_SUFFIX = "-kubecompass"
# metadata.name of a PodDisruptionBudget is a DNS subdomain.
MAX_NAME = 253
HASH_LENGTH = 10
WORKLOAD_ANNOTATION = "kubecompass.io/workload"
# The default, IfHealthyBudget, lets a pod that is not Ready be evicted only while the workload's budget still has
# room, so a crash-looping pod of a workload at its budget blocks every drain of its node for good. A budget made
# without its owner's review must not do that: AlwaysAllow lets unhealthy pods go (policy/v1 field, beta and on by
# default since Kubernetes 1.27, GA in 1.31).
UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")
DEFAULT_UNHEALTHY_POD_EVICTION_POLICY = "AlwaysAllow"
KINDS = ("Deployment", "StatefulSet")
# Keys of a workloads mapping (API kind or gather key) and the kind they hold.
_KIND_KEYS = {"Deployment": "Deployment", "StatefulSet": "StatefulSet",
              "deployments": "Deployment", "statefulsets": "StatefulSet"}

# Codes of skipped workloads, stable for roles and tests.
SKIP_REASONS = ("unsupported_kind", "excluded_namespace", "unknown_namespace", "invalid_tier", "tier_not_opted_in",
                "too_few_replicas", "empty_selector", "covered", "overlapping_selector", "name_taken", "waived")
# The assessment check this remediation fixes: its active waivers leave a workload (or namespace) alone.
CHECK_ID = "KC-AVL-003"


def pdb_name(kind, workload_name):
    """``<workload>-<kind>-kubecompass`` (kind lower-cased, e.g. ``web-deployment-kubecompass``); the kind keeps a
    Deployment and a StatefulSet of the same name apart. Above 253 characters the workload name is cut and a hash
    of the full name keeps it unique: ``<cut>-<10 hex>-<kind>-kubecompass``."""
    suffix = "-%s%s" % (kind.lower(), NAME_SUFFIX)
    name = workload_name + suffix
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(workload_name.encode("utf-8")).hexdigest()[:HASH_LENGTH]
    keep = MAX_NAME - len(suffix) - HASH_LENGTH - 1
    # A DNS subdomain label may not end in "-" or ".", so neither may the cut part before "-<hash>".
    return "%s-%s%s" % (workload_name[:keep].rstrip("-."), digest, suffix)


def workload_ref(kind, workload_name):
    """``Kind/name``, the value of the kubecompass.io/workload annotation of the workload's budget."""
    return "%s/%s" % (kind, workload_name)


def validate_max_unavailable(value):
    """maxUnavailable as the API stores it: an int >= 1 or "N%" with 1 <= N <= 100. Zero (or "0%") would block
    every drain, and a plain number as a string is rejected by the API; both raise KubeCompassError."""
    parsed = int_or_percent(value)
    if parsed is None or (isinstance(value, str) and not parsed[1]):
        raise KubeCompassError("max_unavailable %r is neither an integer nor a percentage like \"25%%\"" % (value,),
                               "input")
    number, percent = parsed
    if number < 1 or (percent and number > 100):
        raise KubeCompassError("max_unavailable %r must allow at least one disruption (>= 1, or 1%% to 100%%)"
                               % (value,), "input")
    return "%d%%" % number if percent else number


def validate_unhealthy_pod_eviction_policy(value):
    """One of UNHEALTHY_POD_EVICTION_POLICIES, else KubeCompassError (category input)."""
    if value not in UNHEALTHY_POD_EVICTION_POLICIES:
        raise KubeCompassError("unhealthy_pod_eviction_policy %r is not one of %s"
                               % (value, ", ".join(UNHEALTHY_POD_EVICTION_POLICIES)), "input")
    return value


def _copy_selector(selector):
    """matchLabels and matchExpressions of a LabelSelector, copied (nothing else belongs in a selector)."""
    copied = {}
    for field in ("matchLabels", "matchExpressions"):
        if selector.get(field):
            copied[field] = copy.deepcopy(selector[field])
    return copied


def pdb_object(kind, workload, max_unavailable,
               unhealthy_pod_eviction_policy=DEFAULT_UNHEALTHY_POD_EVICTION_POLICY):
    """The policy/v1 PodDisruptionBudget kubecompass creates for one workload."""
    name = object_name(workload)
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": pdb_name(kind, name), "namespace": object_namespace(workload), "labels": dict(MANAGED_BY),
                     "annotations": {WORKLOAD_ANNOTATION: workload_ref(kind, name)}},
        "spec": {"selector": _copy_selector((workload.get("spec") or {}).get("selector") or {}),
                 "maxUnavailable": max_unavailable,
                 "unhealthyPodEvictionPolicy": unhealthy_pod_eviction_policy},
    }


def _is_ours(budget, kind, name):
    """Whether a budget is the one kubecompass manages for this workload: its name, the managed-by label, and the
    workload annotation naming this very Kind/name (a kubecompass budget made for another workload is not ours)."""
    annotations = object_meta(budget).get("annotations") or {}
    return (is_ours(budget, pdb_name(kind, name))
            and annotations.get(WORKLOAD_ANNOTATION) == workload_ref(kind, name))


def _taken_reason(budget, kind, name):
    owner = (object_meta(budget).get("annotations") or {}).get(WORKLOAD_ANNOTATION)
    if is_ours(budget, object_name(budget)) and owner != workload_ref(kind, name):
        return "a PodDisruptionBudget named %s exists and kubecompass manages it for %s, not %s" % (
            object_name(budget), owner or "no workload (annotation %s missing)" % WORKLOAD_ANNOTATION,
            workload_ref(kind, name))
    return "a PodDisruptionBudget named %s exists and is not managed by kubecompass" % object_name(budget)


def _workload_list(workloads):
    """[(kind, item)] from a list of items carrying ``kind`` or a mapping of kind (or gather key) to items."""
    if isinstance(workloads, dict):
        pairs = []
        for key, items in workloads.items():
            pairs.extend((_KIND_KEYS.get(key, key), item) for item in items or [])
        return pairs
    return [(item.get("kind"), item) for item in workloads or []]


def _skip(kind, workload, code, reason):
    return {"kind": kind, "namespace": object_namespace(workload), "name": object_name(workload), "code": code,
            "reason": reason}


def _near_misses(budgets, labels):
    notes = []
    for budget in sorted(budgets, key=object_name):
        unmet = unmet_requirements(pdb_selector(budget), labels)
        if unmet:
            notes.append("PodDisruptionBudget %s also requires %s, which the pod template lacks"
                         % (object_name(budget), ", ".join(unmet)))
    return notes


def _scope(namespaces, cluster_tier, tiers):
    """{namespace name: (tier, None) or (None, (code, reason))}."""
    scope = {}
    for namespace in namespaces or []:
        name = object_name(namespace)
        reason = exclusion_reason(namespace)
        if reason is not None:
            scope[name] = (None, ("excluded_namespace", reason))
            continue
        tier, rule, error = namespace_tier(namespace, cluster_tier)
        if error:
            scope[name] = (None, ("invalid_tier", error))
        elif tier not in tiers:
            scope[name] = (None, ("tier_not_opted_in", "tier %s (%s) is not opted in (%s)"
                                  % (tier, rule, ", ".join(tiers) or "no tier")))
        else:
            scope[name] = (tier, None)
    return scope


def _judge(kind, workload, scope, budgets, siblings):
    """(code, reason) why a workload gets no planned PDB, or (None, notes) when it gets one."""
    if kind not in KINDS:
        return "unsupported_kind", "kind %s is not a Deployment or StatefulSet" % kind
    entry = scope.get(object_namespace(workload))
    if entry is None:
        return "unknown_namespace", "namespace %s is not among the listed namespaces" % object_namespace(workload)
    if entry[1] is not None:
        return entry[1]
    count = replicas(workload)
    if count < 2:
        return "too_few_replicas", "spec.replicas is %d; a budget needs 2 or more replicas" % count
    selector = (workload.get("spec") or {}).get("selector")
    if selector is None or is_empty(selector):
        return "empty_selector", "spec.selector is empty; a budget with it would select every pod in the namespace"
    labels = pod_labels(workload)
    name = object_name(workload)
    covering = sorted(object_name(b) for b in budgets
                      if matches(pdb_selector(b), labels) and not _is_ours(b, kind, name))
    if covering:
        return "covered", "PodDisruptionBudget %s selects its pods" % ", ".join(covering)
    taken = next((b for b in budgets if object_name(b) == pdb_name(kind, name)), None)
    if taken is not None and not _is_ours(taken, kind, name):
        return "name_taken", _taken_reason(taken, kind, name)
    shared = sorted("%s %s" % (other_kind, object_name(other)) for other_kind, other in siblings
                    if other is not workload and matches(selector, pod_labels(other)))
    if shared:
        return "overlapping_selector", ("spec.selector also selects the pods of %s; a budget would cover them too "
                                        "(give each workload a distinct selector)" % ", ".join(shared))
    return None, _near_misses([b for b in budgets if not _is_ours(b, kind, name)], labels)


def plan_pdbs(workloads, pdbs, namespaces, cluster_tier, tiers, max_unavailable=1,
              unhealthy_pod_eviction_policy=DEFAULT_UNHEALTHY_POD_EVICTION_POLICY, waivers=()):
    """PodDisruptionBudgets for Deployments and StatefulSets with spec.replicas >= 2 in namespaces of an opted-in
    tier that no PDB covers yet.

    ``workloads``: Deployment/StatefulSet items carrying ``kind``, or a mapping of kind (``Deployment`` or
    ``deployments``, ``StatefulSet`` or ``statefulsets``) to list items. ``pdbs``: PodDisruptionBudget items of
    every namespace. ``namespaces``: Namespace items (their tier label decides the tier, else ``cluster_tier``).
    ``tiers``: the tiers opted in. System namespaces and namespaces labelled kubecompass.io/guardrails=skip are
    left alone. A kubecompass PDB that already exists is planned again (applying it is a no-op when unchanged and
    follows a changed selector, max_unavailable or unhealthy_pod_eviction_policy); it is ours only when its name,
    managed-by label and kubecompass.io/workload annotation all point to the workload. ``unhealthy_pod_eviction_policy``
    is the budgets' spec.unhealthyPodEvictionPolicy (AlwaysAllow unless IfHealthyBudget is asked for).
    ``waivers`` are the cluster's active waivers (waivers.for_remediation): a workload an active KC-AVL-003 waiver
    covers (its cluster, namespace or the workload itself) is skipped with code ``waived``, the reason naming the
    ticket and end date, and the waiver.

    Returns ``{"create": [PodDisruptionBudget], "planned": [{"kind", "namespace", "name", "pdb", "notes"}],
    "skipped": [{"kind", "namespace", "name", "code", "reason"}]}``, each sorted by namespace, then name; codes
    are SKIP_REASONS. Raises KubeCompassError (category input) for unknown tiers, a bad max_unavailable or an
    unknown unhealthy_pod_eviction_policy.
    """
    tiers = validate_tiers(tiers)
    max_unavailable = validate_max_unavailable(max_unavailable)
    unhealthy_pod_eviction_policy = validate_unhealthy_pod_eviction_policy(unhealthy_pod_eviction_policy)
    scope = _scope(namespaces, cluster_tier, tiers)
    budgets, siblings = {}, {}
    for budget in pdbs or []:
        budgets.setdefault(object_namespace(budget), []).append(budget)
    pairs = sorted(_workload_list(workloads),
                   key=lambda pair: (object_namespace(pair[1]) or "", object_name(pair[1]) or "", str(pair[0])))
    for kind, workload in pairs:
        if kind in KINDS:
            siblings.setdefault(object_namespace(workload), []).append((kind, workload))
    create, planned, skipped = [], [], []
    for kind, workload in pairs:
        namespace = object_namespace(workload)
        code, detail = _judge(kind, workload, scope, budgets.get(namespace) or [], siblings.get(namespace) or [])
        if code is not None:
            skipped.append(_skip(kind, workload, code, detail))
            continue
        waiver = waiver_rules.covering(waivers, CHECK_ID, {"kind": kind, "name": object_name(workload),
                                                           "namespace": namespace})
        if waiver is not None:
            skipped.append(dict(_skip(kind, workload, "waived", waiver_rules.left_alone_reason(waiver)),
                                waiver=waiver_rules.describe(waiver)))
            continue
        budget = pdb_object(kind, workload, max_unavailable, unhealthy_pod_eviction_policy)
        create.append(budget)
        planned.append({"kind": kind, "namespace": namespace, "name": object_name(workload),
                        "pdb": budget["metadata"]["name"], "notes": detail})
    return {"create": create, "planned": planned, "skipped": skipped}
