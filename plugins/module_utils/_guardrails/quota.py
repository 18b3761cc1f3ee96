# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Namespace guardrails planned from listed objects: a ResourceQuota and a LimitRange per application namespace,
the default ServiceAccount's token automount, and the pods that mount that token.

Pure functions, no I/O. Objects a user created are never changed: kubecompass objects are planned only where a
namespace has no ResourceQuota (no LimitRange) of anyone else, and existing ones that are weaker than the tier's
default are reported, not edited. The one change to an existing object is the default ServiceAccount's
``automountServiceAccountToken: false`` patch, planned only where it is not already false.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import fnmatch
import re
from fractions import Fraction

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails.netpol import waiver_note
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_meta,
    object_name,
    object_namespace,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SYSTEM_NAMESPACES, TIERS
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.workloads import (
    container_items,
    mounts_token,
    service_account_of,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import namespace_tier

# Same label as _apply.MANAGED_BY: marks the objects kubecompass owns (and may re-apply).
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "kubecompass.readiness"
MANAGED_BY = {MANAGED_BY_KEY: MANAGED_BY_VALUE}
# A namespace labelled kubecompass.io/guardrails=skip is never touched by any guardrail remediation.
OPT_OUT_LABEL = "kubecompass.io/guardrails"
OPT_OUT_VALUE = "skip"
QUOTA_NAME = "kubecompass-quota"
LIMITS_NAME = "kubecompass-limits"
LIMIT_FIELDS = ("default", "defaultRequest", "max", "min")

# Starting points a platform team sizes per namespace, not capacity planning. Reasoning:
# - requests.* caps what the scheduler reserves for the namespace; limits.* is set to twice the requests, the
#   burst headroom most teams run with; a quota on limits.cpu/limits.memory makes every container need limits,
#   which the LimitRange below defaults (so the LimitRange is applied first).
# - pods caps runaway controllers (a crash-looping Job creating pods); persistentvolumeclaims caps storage sprawl.
# - services.loadbalancers: each one is a paid cloud load balancer; best-effort namespaces get none and share an
#   Ingress instead.
# - LimitRange (type Container): defaultRequest is what a container without requests reserves, default is its
#   limit, max the largest single container; defaultRequest <= default <= max, as the API requires.
DEFAULTS = {
    "critical": {
        "quota": {
            "requests.cpu": "16", "requests.memory": "32Gi", "limits.cpu": "32", "limits.memory": "64Gi",
            "pods": "200", "services.loadbalancers": "2", "persistentvolumeclaims": "40",
        },
        "limit_range": {
            "defaultRequest": {"cpu": "250m", "memory": "256Mi"},
            "default": {"cpu": "1", "memory": "1Gi"},
            "max": {"cpu": "4", "memory": "8Gi"},
        },
    },
    "important": {
        "quota": {
            "requests.cpu": "8", "requests.memory": "16Gi", "limits.cpu": "16", "limits.memory": "32Gi",
            "pods": "100", "services.loadbalancers": "1", "persistentvolumeclaims": "20",
        },
        "limit_range": {
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "default": {"cpu": "500m", "memory": "512Mi"},
            "max": {"cpu": "2", "memory": "4Gi"},
        },
    },
    "best_effort": {
        "quota": {
            "requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8", "limits.memory": "16Gi",
            "pods": "50", "services.loadbalancers": "0", "persistentvolumeclaims": "10",
        },
        "limit_range": {
            "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
            "default": {"cpu": "250m", "memory": "256Mi"},
            "max": {"cpu": "1", "memory": "2Gi"},
        },
    },
}

# ResourceQuota names that mean the same resource (the API documents cpu/memory as requests.cpu/memory).
QUOTA_ALIASES = {
    "cpu": "requests.cpu",
    "memory": "requests.memory",
    "ephemeral-storage": "requests.ephemeral-storage",
    "count/persistentvolumeclaims": "persistentvolumeclaims",
}

# -- quantities -------------------------------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value):
    """A Kubernetes resource.Quantity ("250m", "1Gi", "2e3", 4) as an exact Fraction; None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Fraction(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * 1024 ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * Fraction(10) ** _DECIMAL[suffix]
    if suffix:
        return number * Fraction(10) ** int(suffix[1:])
    return number


# -- defaults and overrides -------------------------------------------------------------------------------------------

def _input_error(message):
    return KubeCompassError(message, "input")


def _merge_quantities(target, values, where):
    """Merge {resource: quantity or None} into target; None removes the resource."""
    if not isinstance(values, dict):
        raise _input_error("%s must be a mapping of resource to quantity" % where)
    for resource, value in values.items():
        if value is None:
            target.pop(resource, None)
            continue
        if parse_quantity(value) is None:
            raise _input_error("%s.%s: %r is not a Kubernetes quantity" % (where, resource, value))
        target[resource] = str(value)


def _merge_spec(spec, override, where):
    if not isinstance(override, dict):
        raise _input_error("%s must be a mapping with quota and/or limit_range" % where)
    for key, values in override.items():
        if key == "quota":
            _merge_quantities(spec["quota"], values, "%s.quota" % where)
        elif key == "limit_range":
            if not isinstance(values, dict):
                raise _input_error("%s.limit_range must be a mapping" % where)
            for field, quantities in values.items():
                if field not in LIMIT_FIELDS:
                    raise _input_error("%s.limit_range: unknown field %r (expected one of %s)"
                                       % (where, field, ", ".join(LIMIT_FIELDS)))
                target = spec["limit_range"].setdefault(field, {})
                _merge_quantities(target, quantities, "%s.limit_range.%s" % (where, field))
        else:
            raise _input_error("%s: unknown key %r (expected quota or limit_range)" % (where, key))
    _check_limit_order(spec["limit_range"], where)
    return spec


_LIMIT_ORDER = (("min", "defaultRequest"), ("defaultRequest", "default"), ("default", "max"), ("min", "max"))


def _check_limit_order(limit_range, where):
    """min <= defaultRequest <= default <= max per resource, or the API rejects the LimitRange."""
    for lower, upper in _LIMIT_ORDER:
        for resource, value in (limit_range.get(lower) or {}).items():
            bound = (limit_range.get(upper) or {}).get(resource)
            if bound is not None and parse_quantity(value) > parse_quantity(bound):
                raise _input_error("%s.limit_range: %s.%s %s is above %s.%s %s" % (
                    where, lower, resource, value, upper, resource, bound))


def _validate_overrides(overrides):
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise _input_error("guardrail overrides must be a mapping of tier (or namespaces) to settings")
    for key in overrides:
        if key not in TIERS and key != "namespaces":
            raise _input_error("guardrail overrides: unknown key %r (expected one of %s or namespaces)"
                               % (key, ", ".join(TIERS)))
    if not isinstance(overrides.get("namespaces") or {}, dict):
        raise _input_error("guardrail overrides.namespaces must be a mapping of namespace to settings")
    return overrides


def guardrail_defaults(overrides=None):
    """DEFAULTS with per-tier overrides merged: {tier: {"quota": {...}, "limit_range": {...}}}.

    ``overrides``: ``{tier: {"quota": {resource: quantity}, "limit_range": {field: {resource: quantity}}}}``;
    a None quantity drops that resource. A ``namespaces`` key is accepted (see plan_guardrails) and not used here.
    Unknown tiers, keys or fields, malformed quantities and an impossible LimitRange order raise KubeCompassError.
    """
    overrides = _validate_overrides(overrides)
    table = copy.deepcopy(DEFAULTS)
    for tier in TIERS:
        if overrides.get(tier) is not None:
            _merge_spec(table[tier], overrides[tier], "guardrail overrides.%s" % tier)
    return table


def _namespace_spec(table, overrides, tier, namespace):
    spec = copy.deepcopy(table[tier])
    override = ((overrides or {}).get("namespaces") or {}).get(namespace)
    if override is not None:
        _merge_spec(spec, override, "guardrail overrides.namespaces.%s" % namespace)
    return spec


# -- scope ------------------------------------------------------------------------------------------------------------


def _group(items):
    grouped = {}
    for item in items or []:
        grouped.setdefault(object_namespace(item), []).append(item)
    return grouped


def is_ours(item, name):
    """Whether an object is the one kubecompass creates under ``name`` (name and managed-by label both match)."""
    return object_name(item) == name and (object_meta(item).get("labels") or {}).get(MANAGED_BY_KEY) == MANAGED_BY_VALUE


def validate_tiers(tiers, source="tiers"):
    tiers = list(tiers or [])
    unknown = [tier for tier in tiers if tier not in TIERS]
    if unknown:
        raise _input_error("%s: %r is not a tier (expected one of %s)" % (source, unknown[0], ", ".join(TIERS)))
    return tiers


def exclusion_patterns(excluded):
    """The excluded-namespaces setting as a list of names or fnmatch globs; KubeCompassError when malformed."""
    if excluded is None:
        return []
    if isinstance(excluded, str) or not isinstance(excluded, (list, tuple, set, frozenset)):
        raise _input_error("excluded namespaces must be a list of names or globs, not %r" % (excluded,))
    bad = [pattern for pattern in excluded if not isinstance(pattern, str) or not pattern]
    if bad:
        raise _input_error("excluded namespaces: %r is not a name or glob" % (bad[0],))
    return list(excluded)


def exclusion_reason(namespace, excluded=()):
    """Why guardrails leave a Namespace object alone, or None: a system namespace, a name matching one of the
    ``excluded`` glob patterns (fnmatch, case-sensitive), the opt-out label, or a namespace being deleted."""
    name = object_name(namespace)
    if name in SYSTEM_NAMESPACES:
        return "system namespace"
    pattern = next((p for p in excluded or () if fnmatch.fnmatchcase(name, p)), None)
    if pattern is not None:
        return "excluded by pattern %r" % pattern
    if (object_meta(namespace).get("labels") or {}).get(OPT_OUT_LABEL) == OPT_OUT_VALUE:
        return "opted out with label %s=%s" % (OPT_OUT_LABEL, OPT_OUT_VALUE)
    if object_meta(namespace).get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
        return "namespace is terminating"
    return None


def guarded_namespaces(namespaces, cluster_tier, tiers, excluded=()):
    """([(name, tier, tier rule)], [{"namespace", "reason"}]): the namespaces a guardrail acts on, sorted by name,
    and every other one with the reason (excluded, opted out, terminating, invalid tier label, tier not in
    ``tiers``)."""
    excluded = exclusion_patterns(excluded)
    selected, skipped = [], []
    for namespace in sorted(namespaces or [], key=object_name):
        name = object_name(namespace)
        reason = exclusion_reason(namespace, excluded)
        if reason is None:
            tier, rule, error = namespace_tier(namespace, cluster_tier)
            if error:
                reason = error
            elif tier not in tiers:
                reason = "tier %s (%s) is not one of %s" % (tier, rule, ", ".join(tiers) or "the selected tiers")
            else:
                selected.append((name, tier, rule))
                continue
        skipped.append({"namespace": name, "reason": reason})
    return selected, skipped


# -- objects ----------------------------------------------------------------------------------------------------------

def quota_object(namespace, hard):
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
            "spec": {"hard": dict(hard)}}


def limit_range_object(namespace, limit_range):
    item = {"type": "Container"}
    for field in LIMIT_FIELDS:
        if limit_range.get(field):
            item[field] = dict(limit_range[field])
    return {"apiVersion": "v1", "kind": "LimitRange",
            "metadata": {"name": LIMITS_NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
            "spec": {"limits": [item]}}


# -- weaker than the tier default -------------------------------------------------------------------------------------

def _names(items):
    return ", ".join(sorted(object_name(i) for i in items))


def _scoped(quota):
    spec = quota.get("spec") or {}
    return bool(spec.get("scopes") or (spec.get("scopeSelector") or {}).get("matchExpressions"))


def _quota_hard(quota):
    """spec.hard with alias names folded into their canonical name (the smaller value wins)."""
    hard = {}
    for resource, value in ((quota.get("spec") or {}).get("hard") or {}).items():
        canonical = QUOTA_ALIASES.get(resource, resource)
        parsed = parse_quantity(value)
        previous = hard.get(canonical)
        if previous is None or previous[1] is None or (parsed is not None and parsed < previous[1]):
            hard[canonical] = (value, parsed)
    return hard


def _tightest(entries):
    """(value, owner, comparable) of the smallest quantity among [(value, parsed, owner)]; when no value parses,
    the first one with comparable False."""
    parsed = [e for e in entries if e[1] is not None]
    if not parsed:
        return entries[0][0], entries[0][2], False
    best = min(parsed, key=lambda e: e[1])
    return best[0], best[2], True


def weaker_quota(quotas, wanted, tier):
    """Findings where the namespace's ResourceQuotas, together, cap less than ``wanted`` (the tier's hard limits).

    Every quota applies at once, so a resource's effective cap is the smallest value any unscoped quota sets.
    A scoped quota (spec.scopes / scopeSelector) caps only some pods, so it does not count as a namespace cap.
    """
    findings = []
    unscoped = [q for q in quotas if not _scoped(q)]
    scoped = [q for q in quotas if _scoped(q)]
    for resource, default in sorted(wanted.items()):
        entries = [_quota_hard(q)[resource] + (object_name(q),) for q in unscoped if resource in _quota_hard(q)]
        if not entries:
            partial = sorted(object_name(q) for q in scoped if resource in _quota_hard(q))
            if partial:
                findings.append("ResourceQuota %s limits %s only for pods in its scope (%s default %s)"
                                % (", ".join(partial), resource, tier, default))
            else:
                findings.append("ResourceQuota %s does not limit %s (%s default %s)"
                                % (_names(unscoped or quotas), resource, tier, default))
            continue
        value, owner, comparable = _tightest(entries)
        if not comparable:
            findings.append("ResourceQuota %s: %s %r is not a quantity, cannot compare with the %s default %s"
                            % (owner, resource, value, tier, default))
        elif parse_quantity(value) > parse_quantity(default):
            findings.append("ResourceQuota %s: %s %s is above the %s default %s"
                            % (owner, resource, value, tier, default))
    return findings


_FIELD_WORDS = {"default": "default limit", "defaultRequest": "default request", "max": "max", "min": "min"}


def weaker_limit_ranges(limit_ranges, wanted, tier):
    """Findings where the namespace's LimitRanges do less than ``wanted`` for containers: no default request or
    default limit for a resource (any Container item providing one is enough), or no max / a max above the tier's
    (every item applies, so the smallest max counts). ``min`` is not judged: a missing minimum is not weaker."""
    findings = []
    items = [(object_name(lr), item) for lr in limit_ranges for item in container_items(lr)]
    names = _names(limit_ranges)
    for field in ("defaultRequest", "default"):
        for resource, default in sorted((wanted.get(field) or {}).items()):
            if not any(resource in (item.get(field) or {}) for owner, item in items):
                findings.append("LimitRange %s sets no container %s for %s (%s default %s)"
                                % (names, _FIELD_WORDS[field], resource, tier, default))
    for resource, default in sorted((wanted.get("max") or {}).items()):
        entries = [((item.get("max") or {})[resource], parse_quantity((item.get("max") or {})[resource]), owner)
                   for owner, item in items if resource in (item.get("max") or {})]
        if not entries:
            findings.append("LimitRange %s sets no container max for %s (%s default %s)"
                            % (names, resource, tier, default))
            continue
        value, owner, comparable = _tightest(entries)
        if not comparable:
            findings.append("LimitRange %s: max %s %r is not a quantity, cannot compare with the %s default %s"
                            % (owner, resource, value, tier, default))
        elif parse_quantity(value) > parse_quantity(default):
            findings.append("LimitRange %s: container max %s %s is above the %s default %s"
                            % (owner, resource, value, tier, default))
    return findings


# -- what would break later ------------------------------------------------------------------------------------------
#
# None of these objects touches a running pod: a quota, a LimitRange or a ServiceAccount setting is checked or
# applied when a pod is created. So what breaks is the next rollout, reschedule or restart of a workload that runs
# fine today. Each planned object is compared with what runs now, and held (reported, not applied) where it would
# reject or change those pods, unless the user forces that kind.

FORCE_CHOICES = ("limit_range", "quota", "service_account")
CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
SHOWN = 5


def validate_force(force):
    force = list(force or [])
    unknown = [kind for kind in force if kind not in FORCE_CHOICES]
    if unknown:
        raise _input_error("force: %r is not one of %s" % (unknown[0], ", ".join(FORCE_CHOICES)))
    return force


def _first_names(names):
    more = len(names) - SHOWN
    return ", ".join(names[:SHOWN]) + (" and %d more" % more if more > 0 else "")


def _running(pods):
    """The pods that are not terminal: the ones their controllers keep, and recreate when evicted or rolled."""
    return [pod for pod in pods or [] if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def _containers(pod):
    spec = pod.get("spec") or {}
    return [("init container " if init else "container ", container)
            for init, containers in ((True, spec.get("initContainers")), (False, spec.get("containers")))
            for container in containers or []]


def defaulted_item(item):
    """A Container LimitRange item as the API server stores it (SetDefaults_LimitRangeItem): a missing default
    limit is the max; a missing default request is the default limit, else the min."""
    item = copy.deepcopy(item)
    default = dict(item.get("max") or {})
    default.update(item.get("default") or {})
    request = dict(item.get("min") or {})
    request.update(default)
    request.update(item.get("defaultRequest") or {})
    item["default"], item["defaultRequest"] = default, request
    return item


def container_defaults(limit_ranges):
    """{"default": set, "defaultRequest": set}: the resources the namespace's LimitRanges fill in on containers."""
    provided = {"default": set(), "defaultRequest": set()}
    for limit_range in limit_ranges:
        for item in container_items(limit_range):
            item = defaulted_item(item)
            for field, resources in provided.items():
                resources.update(item[field])
    return provided


def _container_resource(canonical):
    """("requests" or "limits", resource) of a quota resource that every container must then declare, else None.
    requests.storage is PersistentVolumeClaim storage, not a container resource."""
    field, _dot, resource = canonical.partition(".")
    if field in ("requests", "limits") and (resource in CONTAINER_RESOURCES or resource.startswith("hugepages-")):
        return field, resource
    return None


def undefaulted_quota(hard, provided):
    """{quota resource: why}: the requests.X and limits.X of ``hard`` that no LimitRange of the namespace defaults.

    Once a quota counts requests.cpu (limits.cpu), the API rejects every new container without a cpu request
    (limit): workloads that declare none would fail at their next rollout unless a LimitRange fills it in."""
    missing = {}
    for resource in hard:
        needs = _container_resource(QUOTA_ALIASES.get(resource, resource))
        if needs is None:
            continue
        field, word = ("defaultRequest", "request") if needs[0] == "requests" else ("default", "limit")
        if needs[1] not in provided[field]:
            missing[resource] = ("no LimitRange in the namespace gives containers a default %s %s, so new pods "
                                 "without one would be rejected" % (needs[1], word))
    return missing


def limit_range_conflicts(pods, item):
    """What the running pods' containers would be refused by the LimitRange item when recreated: a limit or request
    above its max, a request or limit below its min, or a request above the default limit it would give them
    (a container's request may not exceed its limit). One line per pod and container, sorted."""
    item = defaulted_item(item)
    checked = sorted(set(item.get("max") or {}) | set(item.get("min") or {}) | set(item["default"]))
    conflicts = []
    for pod in _running(pods):
        for what, container in _containers(pod):
            problems = []
            for resource in checked:
                problems.extend(_container_conflicts(item, container.get("resources") or {}, resource))
            if problems:
                conflicts.append("pod %s %s%s: %s" % (
                    object_name(pod), what, container.get("name"), "; ".join(problems)))
    return sorted(conflicts)


def _container_conflicts(item, resources, resource):
    """The LimitRanger's verdicts on one resource of one container, after it filled in the defaults."""
    def declared(field, fallback):
        value = (resources.get(field) or {}).get(resource)
        return (value, parse_quantity(value)) if value is not None else (fallback, parse_quantity(fallback))

    problems = []
    limit = declared("limits", item["default"].get(resource))
    request = declared("requests", item["defaultRequest"].get(resource))
    if (resources.get("limits") or {}).get(resource) is None and limit[1] is not None and request[1] is not None \
            and (resources.get("requests") or {}).get(resource) is not None and request[1] > limit[1]:
        problems.append("%s request %s is above the default limit %s it would get" % (resource, request[0], limit[0]))
    top, bottom = (item.get("max") or {}).get(resource), (item.get("min") or {}).get(resource)
    for name, (text, value) in (("limit", limit), ("request", request)):
        if top is not None and value is not None and value > parse_quantity(top):
            problems.append("%s %s %s is above the max %s" % (resource, name, text, top))
        if bottom is not None and (value is None or value < parse_quantity(bottom)):
            problems.append("%s %s %s is below the min %s" % (resource, name, text or "(none)", bottom))
    return problems


# -- usage of what already runs ---------------------------------------------------------------------------------------

USAGE_RESOURCES = ("pods", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
OBJECT_USAGE = ("services", "services.loadbalancers", "services.nodeports", "persistentvolumeclaims",
                "requests.storage")


def _container_sum(containers, field, resource):
    return sum((parse_quantity(((c.get("resources") or {}).get(field) or {}).get(resource)) or Fraction(0)
                for c in containers or []), Fraction(0))


def pod_usage(pods):
    """What the non-terminal pods charge against a quota: {"pods", "requests.cpu", ... "limits.memory"} as
    Fractions. A pod charges max(sum of its containers, largest init container) plus spec.overhead, as the quota
    controller computes it; terminal pods (Succeeded, Failed) charge nothing."""
    usage = dict.fromkeys(USAGE_RESOURCES, Fraction(0))
    for pod in _running(pods):
        spec = pod.get("spec") or {}
        usage["pods"] += 1
        for field in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                init = [_container_sum([c], field, resource) for c in spec.get("initContainers") or []]
                charged = max([_container_sum(spec.get("containers"), field, resource)] + init)
                charged += parse_quantity((spec.get("overhead") or {}).get(resource)) or Fraction(0)
                usage["%s.%s" % (field, resource)] += charged
    return usage


def object_usage(services, claims):
    """What Services and PersistentVolumeClaims charge: every Service, the LoadBalancer ones, every allocated node
    port (of NodePort and LoadBalancer Services), every claim and the storage the claims request."""
    usage = dict.fromkeys(OBJECT_USAGE, Fraction(0))
    for service in services or []:
        spec = service.get("spec") or {}
        usage["services"] += 1
        if spec.get("type") == "LoadBalancer":
            usage["services.loadbalancers"] += 1
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            usage["services.nodeports"] += sum(1 for port in spec.get("ports") or [] if port.get("nodePort"))
    for claim in claims or []:
        usage["persistentvolumeclaims"] += 1
        requested = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        usage["requests.storage"] += parse_quantity(requested) or Fraction(0)
    return usage


def _show(resource, value):
    if resource.endswith(".cpu"):
        return "%dm" % -(-value * 1000 // 1)
    if resource.endswith(".memory") or resource == "requests.storage":
        return "%dMi" % -(-value // 1024 ** 2)
    return "%d" % value


def over_quota(usage, hard, tier):
    """(reasons, not compared): where what already runs uses more than a planned quota allows (it keeps running,
    but the quota would reject every new pod, Service or claim - rollouts, rescheduled replicas - until usage
    drops), and the quota resources whose usage is not computed here."""
    reasons, unknown = [], []
    for resource, value in sorted(hard.items()):
        canonical = QUOTA_ALIASES.get(resource, resource)
        if canonical not in usage:
            unknown.append(resource)
            continue
        cap = parse_quantity(value)
        if cap is not None and usage[canonical] > cap:
            reasons.append("%s already in use is %s, above the planned %s quota %s" % (
                canonical, _show(canonical, usage[canonical]), tier, value))
    return reasons, unknown


# -- default ServiceAccount -------------------------------------------------------------------------------------------

def _default_account(accounts):
    return next((sa for sa in accounts or [] if object_name(sa) == "default"), None)


def service_account_plan(accounts, pods=(), force=False):
    """{"exists", "patch", "held", "forced"}: the patch that stops the namespace's default ServiceAccount
    automounting its token (None when there is none, it already says false, or the change is held), and why it
    is held (or forced).

    Held unless ``force``: the ServiceAccount says true explicitly (someone chose it), or running pods get the
    token only from the ServiceAccount's setting (their own is unset) and would start without it when recreated.
    """
    default = _default_account(accounts)
    if default is None:
        return {"exists": False, "patch": None, "held": None, "forced": None}
    setting = default.get("automountServiceAccountToken")
    if setting is False:
        return {"exists": True, "patch": None, "held": None, "forced": None}
    reasons = []
    if setting is True:
        reasons.append("the default ServiceAccount sets automountServiceAccountToken: true explicitly")
    dependent = sorted(object_name(pod) for pod in _running(pods) if service_account_of(pod) == "default"
                       and (pod.get("spec") or {}).get("automountServiceAccountToken") is None)
    if dependent:
        reasons.append("%d running pod(s) get the token from the default ServiceAccount's setting and would start "
                       "without it when recreated (%s); give them their own ServiceAccount or set "
                       "automountServiceAccountToken: true in their spec" % (len(dependent), _first_names(dependent)))
    reason = "; ".join(reasons) or None
    if reason and not force:
        return {"exists": True, "patch": None, "held": reason, "forced": None}
    return {"exists": True, "patch": {"automountServiceAccountToken": False}, "held": None, "forced": reason}


def token_pods(pods, accounts):
    """Names of the pods that run as the default ServiceAccount (serviceAccountName default or empty) with its
    token mounted: neither the pod nor the ServiceAccount (absent counts as true) disables automount; the pod's
    own setting wins, as in the assessment (KC-SEC-014)."""
    default = _default_account(accounts)
    account_mounts = default is None or default.get("automountServiceAccountToken") is not False
    return sorted(object_name(pod) for pod in pods or []
                  if service_account_of(pod) == "default" and mounts_token(pod, account_mounts))


# -- plan -------------------------------------------------------------------------------------------------------------

def _others(existing, our_name):
    """The existing objects of one kind in a namespace that kubecompass did not create."""
    return [item for item in existing or [] if not is_ours(item, our_name)]


def _object_name(obj):
    return "%s %s/%s" % (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])


def _decide(obj, reasons, kind, force, decision):
    """Put ``obj`` in decision["create"] unless something running conflicts with it and ``kind`` is not forced
    (then in decision["held"]). Returns whether it is applied."""
    if reasons and kind not in force:
        decision["held"].append({"object": _object_name(obj), "reasons": reasons})
        return False
    if reasons:
        decision["warnings"].append("%s forced: %s" % (_object_name(obj), "; ".join(reasons)))
    decision["create"].append(obj)
    return True


def _plan_limit_range(name, spec, existing, pods, tier, force, decision):
    """Plan (or judge) the LimitRange; returns the LimitRanges that will be in place, for the quota's check."""
    if _others(existing, LIMITS_NAME):
        decision["weaker"].extend(weaker_limit_ranges(existing, spec["limit_range"], tier))
        return existing
    if not any(spec["limit_range"].get(field) for field in LIMIT_FIELDS):
        return existing
    planned = limit_range_object(name, spec["limit_range"])
    conflicts = limit_range_conflicts(pods, planned["spec"]["limits"][0])
    shown = conflicts[:SHOWN] + (["... %d more" % (len(conflicts) - SHOWN)] if len(conflicts) > SHOWN else [])
    if _decide(planned, shown, "limit_range", force, decision):
        return [planned]
    return existing


def _plan_quota(name, spec, existing, in_place, usage, tier, force, decision):
    if _others(existing, QUOTA_NAME):
        decision["weaker"].extend(weaker_quota(existing, spec["quota"], tier))
        return
    missing = undefaulted_quota(spec["quota"], container_defaults(in_place))
    hard = dict(spec["quota"])
    for resource, why in sorted(missing.items()):
        if "quota" in force:
            decision["warnings"].append("%s kept in the quota (forced): %s" % (resource, why))
        else:
            decision["adjusted"].append("%s left out of the quota: %s" % (resource, why))
            del hard[resource]
    if not hard:
        return
    planned = quota_object(name, hard)
    reasons, unknown = over_quota(usage, hard, tier)
    if unknown:
        decision["warnings"].append("usage of %s is not compared with the planned quota" % ", ".join(unknown))
    _decide(planned, reasons, "quota", force, decision)


# The assessment checks each guardrail fixes: an active waiver of one leaves that guardrail alone in the namespaces
# it covers.
WAIVABLE = (("limit_range", "KC-CMP-003", "LimitRange"), ("quota", "KC-CMP-002", "ResourceQuota"),
            ("service_account", "KC-SEC-014", "default ServiceAccount"))


def _waived_guardrails(waivers, name):
    """{guardrail: {"check", "object", "reason", "waiver"}} of the guardrails an active waiver covers here."""
    waived = {}
    for guardrail, check_id, what in WAIVABLE:
        note = waiver_note(waivers, check_id, name)
        if note:
            waived[guardrail] = {"check": check_id, "object": what, "reason": note[0], "waiver": note[1]}
    return waived


def plan_guardrails(namespaces, quotas, limit_ranges, service_accounts, pods, cluster_tier, tiers, excluded,
                    overrides=None, services=(), claims=(), force=(), waivers=()):
    """Plan the guardrails of every application namespace whose tier is one of ``tiers``.

    Inputs are API list items (Namespaces; ResourceQuotas, LimitRanges, ServiceAccounts, Pods, Services and
    PersistentVolumeClaims of every namespace). ``excluded`` holds glob patterns of namespace names; system
    namespaces and namespaces labelled kubecompass.io/guardrails=skip are always left alone. ``overrides`` is a
    guardrail_defaults() override, plus ``namespaces: {name: {"quota": ..., "limit_range": ...}}`` merged over that
    namespace's tier values. ``force`` lists the kinds (FORCE_CHOICES) applied even where they conflict with what
    runs. ``waivers`` are the cluster's active waivers (waivers.for_remediation): a guardrail whose check
    (WAIVABLE) one covers is not planned in that namespace, and a namespace with all three waived is skipped.

    Returns ``{"namespaces": [entry], "skipped": [{"namespace", "reason"}]}`` with, per namespace (by name)::

        {"namespace", "tier", "tier_rule",
         "create": [LimitRange kubecompass-limits, ResourceQuota kubecompass-quota],  # only kinds no one else has
         "held": [{"object", "reasons"}],        # planned, but what runs now would be rejected when recreated
         "adjusted": ["..."],                    # quota resources left out (no LimitRange default for them)
         "weaker": ["..."],                      # existing objects of others doing less than the tier default
         "warnings": ["..."],                    # forced conflicts, usage not compared
         "service_account": {"exists", "patch", "held", "forced"},
         "token_pods": ["pod", ...],
         "waived": [{"check", "object", "reason", "waiver"}]}  # guardrails left alone: a waiver covers them

    The LimitRange comes first: once a quota covers cpu/memory, pods without requests/limits are rejected
    unless a LimitRange defaults them, so the quota only counts what the LimitRange in place will default.
    Raises KubeCompassError (category input) for bad tiers, overrides or force kinds.
    """
    tiers = validate_tiers(tiers)
    force = validate_force(force)
    overrides = _validate_overrides(overrides)
    table = guardrail_defaults(overrides)
    selected, skipped = guarded_namespaces(namespaces, cluster_tier, tiers, excluded)
    quotas, limit_ranges = _group(quotas), _group(limit_ranges)
    accounts, pods = _group(service_accounts), _group(pods)
    services, claims = _group(services), _group(claims)
    entries = []
    for name, tier, rule in selected:
        waived = _waived_guardrails(waivers, name)
        if len(waived) == len(WAIVABLE):
            skipped.append({"namespace": name, "reason": "; ".join(
                "%s: %s" % (item["object"], item["reason"]) for item in waived.values()),
                "waiver": waived["limit_range"]["waiver"]})
            continue
        spec = _namespace_spec(table, overrides, tier, name)
        here = pods.get(name) or []
        decision = {"create": [], "held": [], "adjusted": [], "weaker": [], "warnings": []}
        # Ours is planned (created, or re-applied so a changed tier or override reaches it) only while no one
        # else's object of the kind exists; otherwise every existing object, ours included, is judged.
        in_place = limit_ranges.get(name) or []
        if "limit_range" not in waived:
            in_place = _plan_limit_range(name, spec, in_place, here, tier, force, decision)
        usage = dict(pod_usage(here), **object_usage(services.get(name), claims.get(name)))
        if "quota" not in waived:
            _plan_quota(name, spec, quotas.get(name) or [], in_place, usage, tier, force, decision)
        account = service_account_plan(accounts.get(name), here, "service_account" in force)
        if "service_account" in waived:
            account = dict(account, patch=None, held=None, forced=None)
        entry = {"namespace": name, "tier": tier, "tier_rule": rule, "service_account": account,
                 "token_pods": token_pods(here, accounts.get(name)), "waived": list(waived.values())}
        entry.update(decision)
        entries.append(entry)
    return {"namespaces": entries, "skipped": skipped}
