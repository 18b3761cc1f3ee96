# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Availability: control-plane redundancy, zones, disruption budgets, replicas, probes, autoscaling, spread."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import CIS
from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import (
    api_endpoints,
    control_plane_components,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_labels,
    object_meta,
    object_name,
    object_namespace,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.selectors import matches
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import MANAGED, NAMESPACE_TIER_LABEL
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.workloads import (
    int_or_percent,
    pdb_selector,
    pod_labels,
    pod_template,
    replicas,
    unmet_requirements,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import managed
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks.guardrails import (
    container_defaults,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Result,
    from_objects,
    obj,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import RANCHER

ZONE_LABEL = "topology.kubernetes.io/zone"
ETCD_ROLE_LABEL = "node-role.kubernetes.io/etcd"
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
AUTOSCALER_MARKERS = ("cluster-autoscaler", "karpenter")
HA_TIERS = ("critical", "important")
CRITICAL_TIER = ("critical",)
REPLICATED = (("deployments", "Deployment"), ("statefulsets", "StatefulSet"))
POD_CONTROLLERS = REPLICATED + (("daemonsets", "DaemonSet"),)
PDB = (("poddisruptionbudgets", "PodDisruptionBudget"),)
# Evidence lists object names, never whole objects, and at most this many of them (counts carry the rest).
SAMPLE = 20


# -- object accessors ------------------------------------------------------------------------------------------------


def _pod_spec(workload):
    return pod_template(workload).get("spec") or {}


def _sample(names):
    return sorted(names)[:SAMPLE]


# -- nodes -----------------------------------------------------------------------------------------------------------

def is_control_plane_only(node):
    """A node whose control-plane taint keeps ordinary workloads off it."""
    return any(t.get("key") in CONTROL_PLANE_TAINTS and t.get("effect") in ("NoSchedule", "NoExecute")
               for t in (node.get("spec") or {}).get("taints") or [])


def worker_zones(nodes):
    """({zone: [worker node names]}, [worker node names without a zone label], worker count)."""
    zones, unlabelled, workers = {}, [], 0
    for node in nodes:
        if is_control_plane_only(node):
            continue
        workers += 1
        zone = (object_meta(node).get("labels") or {}).get(ZONE_LABEL)
        if zone:
            zones.setdefault(zone, []).append(object_name(node))
        else:
            unlabelled.append(object_name(node))
    return zones, unlabelled, workers


def _zone_evidence(zones, unlabelled, workers):
    return {"worker_nodes": workers, "zones": {zone: len(names) for zone, names in sorted(zones.items())},
            "unlabelled_nodes": _sample(unlabelled), "unlabelled_count": len(unlabelled)}


# -- scope: application namespaces by tier ---------------------------------------------------------------------------

def _tier_rule(ctx, tiers):
    return "namespaces of tier %s (label %s, else cluster tier %s)" % (" or ".join(tiers), NAMESPACE_TIER_LABEL,
                                                                       ctx.tier)


def _in_scope(ctx, kinds, tiers):
    """[(Kind, item, tier, tier error)] for items of ``kinds`` in application namespaces whose tier is one of
    ``tiers`` or whose tier label is invalid (then tier is None and the error says why)."""
    scope = {}
    for namespace, tier, _rule, error in ctx.application_namespaces():
        if error or tier in tiers:
            scope[object_name(namespace)] = (tier, error)
    found = []
    if not scope:
        return found
    for kind, label in kinds:
        for item in ctx.items(kind):
            entry = scope.get(object_namespace(item))
            if entry is not None:
                found.append((label, item) + entry)
    return found


def _judge_in_scope(ctx, kinds, tiers, judge, keep=None):
    """Object outcomes: ``judge(kind, item, tier) -> (verdict, reason)`` for each in-scope item that ``keep``s;
    items in a namespace with an invalid tier label are unknown with that error."""
    objects = []
    for kind, item, tier, error in _in_scope(ctx, kinds, tiers):
        if keep is not None and not keep(item):
            continue
        verdict, reason = ("unknown", error) if error else judge(kind, item, tier)
        objects.append(obj(kind, object_namespace(item), object_name(item), verdict, reason))
    return objects


def _rollup(ctx, tiers, objects, pass_message, fail_message, none_message, evidence=None):
    counts = {"checked": len(objects),
              "failing": sum(1 for o in objects if o["verdict"] == "fail"),
              "unknown": sum(1 for o in objects if o["verdict"] == "unknown")}
    counts.update(evidence or {})
    return from_objects(objects, pass_message, fail_message, counts, _tier_rule(ctx, tiers), none_message)


# -- KC-AVL-001 HA control plane -------------------------------------------------------------------------------------

def _apiserver_count(endpoints):
    """Distinct ready API servers: a dual-stack server has one address per family, so count the largest family."""
    families = {}
    for endpoint in endpoints:
        if endpoint["ready"]:
            families.setdefault(endpoint["address_type"], set()).add(endpoint["address"])
    return max([len(addresses) for addresses in families.values()] or [0])


def _etcd_members(ctx):
    """({member node names}, [sources]) from etcd mirror pods (kubeadm, rke2) and etcd-role nodes (rke2, k3s)."""
    members, sources = set(), []
    if ctx.distribution in ("kubeadm", "rke2"):
        pods = [p for p in ctx.items("pods") if object_namespace(p) == "kube-system"]
        mirrors = [c for c in control_plane_components(pods) if c["component"] == "etcd"]
        members.update(c["node"] or c["pod"] for c in mirrors)
        sources.append("%d etcd mirror pod(s) in kube-system" % len(mirrors))
    if ctx.distribution in RANCHER:
        labelled = [object_name(n) for n in ctx.items("nodes")
                    if (object_meta(n).get("labels") or {}).get(ETCD_ROLE_LABEL) == "true"]
        members.update(labelled)
        sources.append("%d node(s) labelled %s=true" % (len(labelled), ETCD_ROLE_LABEL))
    return members, sources


def ha_control_plane(ctx):
    if ctx.distribution in MANAGED:
        return managed.control_plane_ha(ctx)
    needed = ctx.threshold(ctx.tier, "min_control_plane_nodes")
    endpoints = api_endpoints(ctx.items("kubernetes_endpointslices"))
    apiservers = _apiserver_count(endpoints)
    members, sources = _etcd_members(ctx)
    evidence = {
        "threshold": needed,
        "apiserver_endpoints": sorted(set(e["address"] for e in endpoints if e["ready"])),
        "apiserver_not_ready": sorted(set(e["address"] for e in endpoints if not e["ready"])),
        "etcd_members": _sample(members),
        "etcd_sources": sources,
    }
    problems = []
    if apiservers < needed:
        problems.append("%d ready API server endpoint(s)" % apiservers)
    if members and len(members) < needed:
        problems.append("%d etcd member(s)" % len(members))
    if problems:
        return Result("fail", "%s, tier %s needs %d" % (" and ".join(problems), ctx.tier, needed), evidence)
    if not members:
        return Result("unknown", "%d API server endpoint(s), but no etcd member is visible through the API (%s): "
                      "etcd is external or the datastore is not etcd" % (apiservers, "; ".join(sources)), evidence)
    return Result("pass", "%d API server endpoint(s) and %d etcd member(s), tier %s needs %d"
                  % (apiservers, len(members), ctx.tier, needed), evidence)


# -- KC-AVL-002 worker zones -----------------------------------------------------------------------------------------

def worker_zone_count(ctx):
    needed = ctx.threshold(ctx.tier, "min_zones")
    if ctx.distribution in MANAGED:
        pools = managed.node_pool_zones(ctx, needed)
        if pools is not None:
            return pools
    zones, unlabelled, workers = worker_zones(ctx.items("nodes"))
    evidence = dict(_zone_evidence(zones, unlabelled, workers), threshold=needed)
    unlabelled_note = "; %d worker node(s) have no %s label" % (len(unlabelled), ZONE_LABEL) if unlabelled else ""
    if not workers:
        return Result("fail", "no worker nodes: every node is control-plane-only or none is registered", evidence)
    if len(zones) < needed:
        return Result("fail", "worker nodes span %d zone(s), tier %s needs %d%s"
                      % (len(zones), ctx.tier, needed, unlabelled_note), evidence)
    return Result("pass", "worker nodes span %d zone(s) (%s), tier %s needs %d%s"
                  % (len(zones), ", ".join(sorted(zones)), ctx.tier, needed, unlabelled_note), evidence)


# -- KC-AVL-003 / KC-AVL-004 PodDisruptionBudgets --------------------------------------------------------------------

def _multi_replica(workload):
    return replicas(workload) >= 2


def pdb_coverage(ctx):
    def judge(kind, workload, tier):
        labels = pod_labels(workload)
        budgets = ctx.by_namespace("poddisruptionbudgets").get(object_namespace(workload)) or []
        covering = sorted(object_name(b) for b in budgets if matches(pdb_selector(b), labels))
        if covering:
            return "pass", "PodDisruptionBudget %s selects its pods" % ", ".join(covering)
        near = []
        for budget in sorted(budgets, key=object_name):
            unmet = unmet_requirements(pdb_selector(budget), labels)
            if unmet:
                near.append("PodDisruptionBudget %s also requires %s, which the pod template lacks"
                            % (object_name(budget), ", ".join(unmet)))
        if near:
            return "fail", "no PodDisruptionBudget selects all its pods; near miss: %s" % "; ".join(near)
        return "fail", "no PodDisruptionBudget selects its pods"

    objects = _judge_in_scope(ctx, REPLICATED, HA_TIERS, judge, keep=_multi_replica)
    return _rollup(ctx, HA_TIERS, objects,
                   "every multi-replica Deployment/StatefulSet has a PodDisruptionBudget selecting all its pods",
                   "%d multi-replica workload(s) have no PodDisruptionBudget selecting all their pods",
                   "no Deployment or StatefulSet with 2+ replicas in critical or important namespaces")


def _pods_budgeted(ctx, pdb):
    """(pod count, what it was counted from) for the pods a PDB selects, or (None, None) when it selects nothing."""
    namespace, selector = object_namespace(pdb), pdb_selector(pdb)
    selected = [(label, w) for kind, label in REPLICATED for w in ctx.by_namespace(kind).get(namespace) or []
                if matches(selector, pod_labels(w))]
    if selected:
        return sum(replicas(w) for _kind, w in selected), ", ".join(
            "%s %s" % (label, object_name(w)) for label, w in sorted(selected, key=lambda s: (s[0], object_name(s[1]))))
    # Pods of other controllers (operators, ReplicaSets without a Deployment) still count for the budget.
    pods = [p for p in ctx.by_namespace("pods").get(namespace) or []
            if matches(selector, object_meta(p).get("labels") or {})
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    if pods:
        return len(pods), "%d pod(s)" % len(pods)
    return None, None


def _judge_budget(ctx, pdb):
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        value = spec["maxUnavailable"]
        parsed = int_or_percent(value)
        if parsed is None:
            return "unknown", "maxUnavailable %r is neither an integer nor a percentage" % (value,)
        if parsed[0] <= 0:
            return "fail", "maxUnavailable %s allows no voluntary disruption" % value
        return "pass", "maxUnavailable %s" % value
    value = spec.get("minAvailable")
    if value is None:
        return "pass", "sets neither minAvailable nor maxUnavailable, so it never blocks an eviction"
    parsed = int_or_percent(value)
    if parsed is None:
        return "unknown", "minAvailable %r is neither an integer nor a percentage" % (value,)
    number, percent = parsed
    if percent and number >= 100:
        return "fail", "minAvailable %s allows no voluntary disruption" % value
    pods, source = _pods_budgeted(ctx, pdb)
    if pods is None:
        return "unknown", "selects no Deployment, StatefulSet or Pod, so minAvailable %s cannot be compared" % value
    if pods == 0:
        return "pass", "selects only %s, scaled to zero" % source
    # The disruption controller rounds a percentage of the expected pods up.
    desired = -(-number * pods // 100) if percent else number
    if desired >= pods:
        return "fail", "minAvailable %s keeps all %d pod(s) of %s up, so no voluntary disruption is allowed" % (
            value, pods, source)
    return "pass", "minAvailable %s of %d pod(s) (%s) allows %d disruption(s)" % (
        value, pods, source, pods - desired)


def blocking_budgets(ctx):
    objects = _judge_in_scope(ctx, PDB, HA_TIERS, lambda kind, pdb, tier: _judge_budget(ctx, pdb))
    return _rollup(ctx, HA_TIERS, objects, "no PodDisruptionBudget blocks every voluntary disruption",
                   "%d PodDisruptionBudget(s) allow zero voluntary disruptions and block node drains",
                   "no PodDisruptionBudget in critical or important namespaces")


# -- KC-AVL-005 / KC-AVL-008 replicas and HPAs -----------------------------------------------------------------------

def hpa_for(ctx, kind, workload):
    """The autoscaling/v2 HPA whose scaleTargetRef names this workload in its namespace (first by name), or None."""
    hpas = ctx.by_namespace("horizontalpodautoscalers").get(object_namespace(workload)) or []
    targets = [h for h in hpas if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == kind
               and ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == object_name(workload)]
    return min(targets, key=object_name) if targets else None


def hpa_min_replicas(hpa):
    value = (hpa.get("spec") or {}).get("minReplicas")
    return 1 if value is None else int(value)


def replica_floor(ctx):
    def judge(kind, workload, tier):
        needed = ctx.threshold(tier, "min_replicas")
        hpa = hpa_for(ctx, kind, workload)
        if hpa is None:
            floor, what = replicas(workload), "replicas %d" % replicas(workload)
        else:
            floor = hpa_min_replicas(hpa)
            what = "HorizontalPodAutoscaler %s minReplicas %d" % (object_name(hpa), floor)
        if floor >= needed:
            return "pass", "%s, tier %s needs %d" % (what, tier, needed)
        return "fail", "%s is below %d needed for tier %s" % (what, needed, tier)

    objects = _judge_in_scope(ctx, REPLICATED, CRITICAL_TIER, judge)
    return _rollup(ctx, CRITICAL_TIER, objects, "every critical Deployment/StatefulSet keeps enough replicas",
                   "%d critical workload(s) can run fewer replicas than the tier needs",
                   "no Deployment or StatefulSet in critical namespaces")


def hpa_coverage(ctx):
    def judge(kind, workload, tier):
        needed = ctx.threshold(tier, "min_replicas")
        hpa = hpa_for(ctx, kind, workload)
        if hpa is None:
            return "fail", "no HorizontalPodAutoscaler targets it"
        floor = hpa_min_replicas(hpa)
        if floor >= needed:
            return "pass", "HorizontalPodAutoscaler %s minReplicas %d" % (object_name(hpa), floor)
        return "fail", "HorizontalPodAutoscaler %s minReplicas %d is below %d" % (object_name(hpa), floor, needed)

    objects = _judge_in_scope(ctx, REPLICATED, CRITICAL_TIER, judge)
    return _rollup(ctx, CRITICAL_TIER, objects,
                   "every critical Deployment/StatefulSet has an HPA with enough minReplicas",
                   "%d critical workload(s) have no HPA with enough minReplicas",
                   "no Deployment or StatefulSet in critical namespaces")


# -- KC-AVL-006 / KC-AVL-007 probes ----------------------------------------------------------------------------------

def _probe_check(field):
    def evaluate(ctx):
        def judge(kind, workload, tier):
            containers = _pod_spec(workload).get("containers") or []
            missing = [c.get("name") for c in containers if not c.get(field)]
            # A startupProbe is optional (slow starters): it holds the other probes off until the container has
            # started, and stands in for neither afterwards.
            started = [c.get("name") for c in containers if c.get("startupProbe")]
            if missing:
                covered = [name for name in missing if name in started]
                return "fail", "container(s) %s have no %s%s" % (", ".join(missing), field, (
                    " (the startupProbe of %s checks only the start)" % ", ".join(covered) if covered else ""))
            return "pass", "every container has a %s%s" % (field, (
                "; startupProbe on %s holds it off until the container has started" % ", ".join(started)
                if started else ""))

        objects = _judge_in_scope(ctx, POD_CONTROLLERS, HA_TIERS, judge)
        return _rollup(ctx, HA_TIERS, objects, "every container of every workload has a %s" % field,
                       "%%d workload(s) have containers without a %s" % field,
                       "no Deployment, StatefulSet or DaemonSet in critical or important namespaces")
    return evaluate


# -- KC-AVL-009 cluster autoscaler -----------------------------------------------------------------------------------

def _autoscaler_marker(deployment):
    texts = [(object_name(deployment) or "").lower()] + [
        (c.get("image") or "").lower() for c in _pod_spec(deployment).get("containers") or []]
    return next((m for m in AUTOSCALER_MARKERS if any(m in text for text in texts)), None)


def cluster_autoscaler(ctx):
    running, idle = [], []
    for deployment in ctx.items("deployments"):
        marker = _autoscaler_marker(deployment)
        if marker is not None:
            entry = "%s/%s (%s)" % (object_namespace(deployment), object_name(deployment), marker)
            (running if replicas(deployment) > 0 else idle).append(entry)
    evidence = {"autoscalers": _sample(running), "scaled_to_zero": _sample(idle)}
    if running:
        return Result("pass", "node autoscaler running: %s" % ", ".join(_sample(running)), evidence)
    if ctx.distribution in MANAGED:
        return managed.autoscaling(ctx)
    idle_note = " (scaled to zero: %s)" % ", ".join(_sample(idle)) if idle else ""
    return Result("fail", "no cluster-autoscaler or Karpenter Deployment runs%s" % idle_note, evidence)


# -- KC-AVL-010 zone spread ------------------------------------------------------------------------------------------

def _term_covers_namespace(term, namespace, namespace_labels):
    """Whether a pod (anti-)affinity term counts pods of the workload's own namespace."""
    names = term.get("namespaces") or []
    selector = term.get("namespaceSelector")
    if not names and selector is None:
        return True
    return namespace in names or matches(selector, namespace_labels)


def _zone_spread(workload, namespace_labels):
    """How the workload spreads its own pods across zones, or None."""
    labels, spec = pod_labels(workload), _pod_spec(workload)
    for constraint in spec.get("topologySpreadConstraints") or []:
        if (constraint.get("topologyKey") == ZONE_LABEL and (constraint.get("maxSkew") or 0) > 0
                and matches(constraint.get("labelSelector"), labels)):
            return "topologySpreadConstraint on %s" % ZONE_LABEL
    anti = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = [("required", t) for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []]
    terms += [("preferred", (t or {}).get("podAffinityTerm") or {})
              for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    for how, term in terms:
        if (term.get("topologyKey") == ZONE_LABEL and matches(term.get("labelSelector"), labels)
                and _term_covers_namespace(term, object_namespace(workload), namespace_labels)):
            return "%s podAntiAffinity on %s" % (how, ZONE_LABEL)
    return None


def zone_spread(ctx):
    zones, unlabelled, workers = worker_zones(ctx.items("nodes"))
    evidence = _zone_evidence(zones, unlabelled, workers)
    if len(zones) < 2:
        where = "one zone (%s)" % next(iter(zones)) if zones else "no labelled zone"
        return Result("not_applicable", "worker nodes span %s, so there is nothing to spread across" % where,
                      evidence, tier_rule=_tier_rule(ctx, CRITICAL_TIER))
    namespace_labels = {object_name(ns): object_labels(ns) for ns, _t, _r, _e in ctx.application_namespaces()}

    def judge(kind, workload, tier):
        how = _zone_spread(workload, namespace_labels.get(object_namespace(workload)) or {})
        if how:
            return "pass", how
        return "fail", ("no topologySpreadConstraint (maxSkew > 0) or podAntiAffinity on %s selecting its own pods"
                        % ZONE_LABEL)

    objects = _judge_in_scope(ctx, REPLICATED, CRITICAL_TIER, judge, keep=_multi_replica)
    return _rollup(ctx, CRITICAL_TIER, objects, "every multi-replica critical workload spreads across zones",
                   "%d multi-replica critical workload(s) do not spread across zones",
                   "no Deployment or StatefulSet with 2+ replicas in critical namespaces", evidence)


# -- KC-AVL-011 resource requests ------------------------------------------------------------------------------------

def _missing_resources(container, defaults):
    """Which of requests.cpu, requests.memory, limits.memory neither the container nor a LimitRange sets."""
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    missing = []
    for resource in ("cpu", "memory"):
        # Pod defaulting copies a limit into a missing request, so a limit alone also sets the request.
        if resource not in requests and resource not in limits and resource not in defaults["defaultRequest"]:
            missing.append("requests.%s" % resource)
    if "memory" not in limits and "memory" not in defaults["default"]:
        missing.append("limits.memory")
    return missing


def resource_requests(ctx):
    def judge(kind, workload, tier):
        defaults = container_defaults(ctx.by_namespace("limitranges").get(object_namespace(workload)) or [])
        spec = _pod_spec(workload)
        gaps = []
        for role, field in (("container", "containers"), ("init container", "initContainers")):
            for container in spec.get(field) or []:
                missing = _missing_resources(container, defaults)
                if missing:
                    gaps.append("%s %s lacks %s" % (role, container.get("name"), ", ".join(missing)))
        if gaps:
            return "fail", "; ".join(gaps)
        return "pass", "every container has cpu/memory requests and a memory limit (set or LimitRange default)"

    objects = _judge_in_scope(ctx, POD_CONTROLLERS, HA_TIERS, judge)
    return _rollup(ctx, HA_TIERS, objects,
                   "every container sets cpu/memory requests and a memory limit, or a LimitRange defaults them",
                   "%d workload(s) have containers without cpu/memory requests or a memory limit",
                   "no Deployment, StatefulSet or DaemonSet in critical or important namespaces")


CHECKS = [
    Check(
        "KC-AVL-001", "Highly available control plane (API servers and etcd members)", "availability", "critical",
        item="multi-zone", evaluate=ha_control_plane, needs=("kubernetes_endpointslices", "pods", "nodes"),
        required_for=HA_TIERS, thresholds=("min_control_plane_nodes",),
        runbook="Fewer API server endpoints or etcd members than the tier needs means one failed control-plane "
                "node takes the cluster API down, and losing etcd quorum loses writes. Add control-plane nodes "
                "(kubeadm join --control-plane, or another RKE2/k3s server) until both counts reach the tier's "
                "min_control_plane_nodes, keeping an odd number of etcd members.",
    ),
    Check(
        "KC-AVL-002", "Worker nodes span enough zones", "availability", "high",
        item="multi-zone", evaluate=worker_zone_count, needs=("nodes",), required_for=HA_TIERS,
        thresholds=("min_zones",),
        runbook="Worker nodes in fewer zones than the tier needs mean one zone outage removes all capacity. Add "
                "worker nodes (or node pools) in further zones and make sure every node carries the "
                "topology.kubernetes.io/zone label (the cloud controller sets it; set it by hand on bare metal).",
    ),
    Check(
        "KC-AVL-003", "PodDisruptionBudget for every multi-replica workload", "availability", "high",
        item="pod-disruption-budgets", evaluate=pdb_coverage,
        needs=("namespaces", "deployments", "statefulsets", "poddisruptionbudgets"), required_for=HA_TIERS,
        remediation={"role": "disruption_budgets", "tag": "pdb"}, scope="namespace",
        runbook="A Deployment or StatefulSet with two or more replicas has no PodDisruptionBudget whose selector "
                "matches all its pod template labels, so a node drain can evict every replica at once. Create a "
                "policy/v1 PodDisruptionBudget in the same namespace with the workload's own spec.selector and "
                "maxUnavailable: 1, or run the disruption_budgets role (tag pdb).",
    ),
    Check(
        "KC-AVL-004", "No PodDisruptionBudget allows zero disruptions", "availability", "medium",
        item="pod-disruption-budgets", evaluate=blocking_budgets,
        needs=("namespaces", "poddisruptionbudgets", "deployments", "statefulsets", "pods"),
        required_for=HA_TIERS, scope="namespace",
        runbook="A PodDisruptionBudget with maxUnavailable 0, minAvailable 100% or minAvailable at least the "
                "replica count never allows an eviction, so node drains and upgrades hang. Change it to "
                "maxUnavailable: 1 (kubectl edit pdb NAME -n NAMESPACE), or raise the workload's replicas above "
                "minAvailable.",
    ),
    Check(
        "KC-AVL-005", "Critical workloads run enough replicas", "availability", "high",
        item="autoscaling", evaluate=replica_floor,
        needs=("namespaces", "deployments", "statefulsets", "horizontalpodautoscalers"),
        required_for=CRITICAL_TIER, thresholds=("min_replicas",), scope="namespace",
        runbook="A Deployment or StatefulSet in a critical namespace runs fewer replicas than the tier's "
                "min_replicas (or its HorizontalPodAutoscaler may scale it that low), so one pod or node failure "
                "is an outage. Raise spec.replicas (kubectl scale) or the HPA's spec.minReplicas.",
    ),
    Check(
        "KC-AVL-006", "Liveness probes on workload containers", "availability", "medium",
        item="health-probes", evaluate=_probe_check("livenessProbe"),
        needs=("namespaces", "deployments", "statefulsets", "daemonsets"), required_for=HA_TIERS,
        scope="namespace",
        runbook="Containers without a livenessProbe are never restarted when they hang, so a deadlocked process "
                "keeps serving nothing. Add a livenessProbe (httpGet, tcpSocket, grpc or exec) to every container "
                "of the pod template, distinct from the readiness probe and tolerant of slow starts.",
    ),
    Check(
        "KC-AVL-007", "Readiness probes on workload containers", "availability", "high",
        item="health-probes", evaluate=_probe_check("readinessProbe"),
        needs=("namespaces", "deployments", "statefulsets", "daemonsets"), required_for=HA_TIERS,
        scope="namespace",
        runbook="Containers without a readinessProbe receive traffic before they can serve it and keep receiving "
                "it when they cannot, and rolling updates cannot tell a broken release. Add a readinessProbe to "
                "every container of the pod template that checks the container can serve requests.",
    ),
    Check(
        "KC-AVL-008", "HorizontalPodAutoscaler for critical workloads", "availability", "medium",
        item="autoscaling", evaluate=hpa_coverage,
        needs=("namespaces", "deployments", "statefulsets", "horizontalpodautoscalers"),
        required_for=CRITICAL_TIER, thresholds=("min_replicas",), scope="namespace",
        runbook="A Deployment or StatefulSet in a critical namespace has no autoscaling/v2 HorizontalPodAutoscaler "
                "with minReplicas of at least the tier's min_replicas, so it cannot absorb load peaks without "
                "manual scaling. Create one (kubectl autoscale, or an HPA manifest) targeting the workload with "
                "minReplicas >= 2 and resource or custom metrics.",
    ),
    Check(
        "KC-AVL-009", "Cluster autoscaler present", "availability", "medium",
        item="autoscaling", evaluate=cluster_autoscaler, needs=("deployments",), required_for=HA_TIERS,
        runbook="No cluster-autoscaler or Karpenter runs, so pending pods wait for a person to add nodes and a "
                "lost node's capacity is not replaced. Deploy cluster-autoscaler for your node groups or "
                "Karpenter, or on a managed cluster enable the provider's node-pool autoscaling.",
    ),
    Check(
        "KC-AVL-010", "Critical workloads spread across zones", "availability", "medium",
        item="multi-zone", evaluate=zone_spread, needs=("namespaces", "nodes", "deployments", "statefulsets"),
        required_for=CRITICAL_TIER, scope="namespace",
        runbook="A multi-replica critical workload has no topologySpreadConstraint or podAntiAffinity on "
                "topology.kubernetes.io/zone selecting its own pods, so the scheduler may place every replica in "
                "one zone. Add a topologySpreadConstraint with topologyKey topology.kubernetes.io/zone, maxSkew 1 "
                "and a labelSelector matching the pod template labels.",
    ),
    Check(
        "KC-AVL-011", "Resource requests and memory limits on workload containers", "availability", "medium",
        controls={CIS: ()}, item="resource-quotas-limitranges", evaluate=resource_requests,
        needs=("namespaces", "deployments", "statefulsets", "daemonsets", "limitranges"), required_for=HA_TIERS,
        scope="namespace",
        runbook="Containers without cpu/memory requests are scheduled blind and evicted first under pressure, and "
                "without a memory limit one leak can exhaust the node. Set resources.requests.cpu, "
                "resources.requests.memory and resources.limits.memory on every container, or give the namespace "
                "a LimitRange (type Container) with defaultRequest and default values.",
    ),
]
