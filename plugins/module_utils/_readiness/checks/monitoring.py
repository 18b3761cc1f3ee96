# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Monitoring that works, not monitoring that exists: Prometheus and Alertmanager ready, alerting rules loaded, a
dead-man's switch, routes that reach a receiver, and detection inside the tier's budget.

Stacks recognised: the prometheus-operator (Prometheus, Alertmanager, PrometheusRule, AlertmanagerConfig), the
VictoriaMetrics operator (VMAlert, VMAlertmanager, VMRule), the prometheus-community Helm chart without an operator
(prometheus-server and alertmanager workloads with their ConfigMaps), and the managed offerings (Amazon Managed
Service for Prometheus collectors, GKE Managed Service for Prometheus, Azure Monitor managed Prometheus), whose rules
and routing live in the provider and are reported unknown rather than failed.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core requires PyYAML on the controller, where this runs
    yaml = None

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s import selectors
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.alertmanager import (
    DEFAULT_GROUP_WAIT,
    duration_seconds,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import object_ref
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import Check, Result

OPERATOR_CRDS = "prometheuses/alertmanagers/prometheusrules.monitoring.coreos.com"
# Prometheus' and vmalert's default rule evaluation intervals.
PROMETHEUS_DEFAULT_EVALUATION = "30s"
VMALERT_DEFAULT_EVALUATION = "1m"
# An always-firing alert whose silence means the pipeline is broken (kube-prometheus "Watchdog").
DEAD_MANS_SWITCH_NAMES = ("watchdog", "deadmansswitch", "deadmanssnitch", "heartbeat")
_ALWAYS_TRUE = re.compile(r"^\s*(vector\(\s*1\s*\)|1|1\s*==\s*1)\s*$")
# Routes that end in a receiver without integrations on purpose: kube-prometheus' InfoInhibitor only inhibits.
SILENT_BY_DESIGN = ("alertname=InfoInhibitor",)

# Managed offerings seen from inside the cluster: (name, kind key, namespace, name pattern).
MANAGED_OFFERINGS = (
    ("GKE Managed Service for Prometheus", "daemonsets", "gmp-system", r"^collector$"),
    ("Azure Monitor managed Prometheus", "deployments", "kube-system", r"^ama-metrics$"),
    ("Azure Monitor managed Prometheus", "daemonsets", "kube-system", r"^ama-metrics-node$"),
)
# The Amazon Managed Service for Prometheus agentless collector scrapes through this binding (AWS user guide,
# "Configuring your Amazon EKS cluster" for scrapers); it runs nothing in the cluster.
AMP_SCRAPER_BINDING = "aps-collector-user-role-binding"
OPERATOR_OWNERS = ("Prometheus", "Alertmanager", "VMAlert", "VMAlertmanager", "VMAgent", "VMSingle", "VMCluster")


# -- the stack: what runs, from whichever source the cluster uses --------------------------------------------------

def _spec(item):
    return item.get("spec") or {}


def _replicas(item, field="replicas"):
    value = _spec(item).get(field)
    return 1 if value is None else value  # both operators default to one replica


def _condition(item, kind):
    return next((c for c in (item.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def operator_readiness(item):
    """(ready replicas or None, why not ready) of a prometheus-operator Prometheus or Alertmanager from its status."""
    status = item.get("status")
    if not status:
        return None, "no status: the prometheus-operator has not reconciled it (is the operator running?)"
    available = _condition(item, "Available")
    ready = status.get("availableReplicas") or 0
    if available is not None and available.get("status") != "True":
        return ready, "Available=%s (%s)" % (available.get("status"), available.get("message") or
                                             available.get("reason") or "no reason given")
    return ready, None


def vm_readiness(item):
    status = item.get("status") or {}
    state = status.get("updateStatus") or status.get("status")
    if state == "operational":
        return _replicas(item, "replicaCount"), None
    if not state:
        return None, "no status: the VictoriaMetrics operator has not reconciled it (is the operator running?)"
    return 0, "status %s%s" % (state, " (%s)" % status["reason"] if status.get("reason") else "")


def workload_readiness(item):
    return (item.get("status") or {}).get("readyReplicas") or 0, None


def _owned_by_operator(item):
    return any(o.get("kind") in OPERATOR_OWNERS for o in (item.get("metadata") or {}).get("ownerReferences") or [])


def _helm_workloads(ctx, pattern):
    """(kind, workload) named like the prometheus-community charts' ones and not created by an operator."""
    return [(kind, item) for kind, key in (("Deployment", "deployments"), ("StatefulSet", "statefulsets"))
            for item in ctx.items(key)
            if re.search(pattern, (item.get("metadata") or {}).get("name") or "") and not _owned_by_operator(item)]


def _component(kind, item, ready, problem, replicas, source):
    return {"kind": kind, "ref": object_ref(item), "replicas": replicas, "ready": ready, "problem": problem,
            "source": source, "item": item}


def stack(ctx):
    """{"prometheus": [...], "alertmanager": [...], "sources": [...]} over every recognised self-run stack."""
    prometheus, alertmanagers, sources = [], [], []
    operator_kinds = (("prometheuses", "Prometheus", prometheus), ("alertmanagers", "Alertmanager", alertmanagers))
    for key, kind, out in operator_kinds:
        for item in ctx.optional_items(key) or []:
            ready, problem = operator_readiness(item)
            out.append(_component(kind, item, ready, problem, _replicas(item), "prometheus-operator"))
    vm_kinds = (("vmalerts", "VMAlert", prometheus), ("vmalertmanagers", "VMAlertmanager", alertmanagers))
    for key, kind, out in vm_kinds:
        for item in ctx.optional_items(key) or []:
            ready, problem = vm_readiness(item)
            out.append(_component(kind, item, ready, problem, _replicas(item, "replicaCount"), "victoriametrics"))
    for pattern, out in ((r"(^|-)prometheus-server$", prometheus), (r"(^|-)alertmanager$", alertmanagers)):
        for kind, item in _helm_workloads(ctx, pattern):
            ready, problem = workload_readiness(item)
            out.append(_component(kind, item, ready, problem, _replicas(item), "helm"))
    for component in prometheus + alertmanagers:
        if component["source"] not in sources:
            sources.append(component["source"])
    return {"prometheus": prometheus, "alertmanager": alertmanagers, "sources": sources}


def managed_offering(ctx):
    """[description] of managed Prometheus offerings seen in the cluster objects or the provider facts."""
    found = []
    for name, key, namespace, pattern in MANAGED_OFFERINGS:
        for item in ctx.items(key):
            meta = item.get("metadata") or {}
            if meta.get("namespace") == namespace and re.search(pattern, meta.get("name") or ""):
                found.append("%s (%s %s)" % (name, key[:-1], object_ref(item)))
    for binding in ctx.items("clusterrolebindings"):
        if (binding.get("metadata") or {}).get("name") == AMP_SCRAPER_BINDING:
            found.append("Amazon Managed Service for Prometheus collector (ClusterRoleBinding %s)"
                         % AMP_SCRAPER_BINDING)
    section = ((ctx.snapshot.get("provider") or {}).get("sections") or {}).get("managed_prometheus") or {}
    if section.get("enabled"):
        found.append("%s (provider facts: %s)" % (
            section.get("name") or "managed Prometheus", section.get("detail") or "enabled"))
    return found


def _describe(component):
    return "%s %s ready %s/%s%s" % (component["kind"], component["ref"], "?" if component["ready"] is None
                                    else component["ready"], component["replicas"],
                                    ": %s" % component["problem"] if component["problem"] else "")


def _ready(component, needed):
    return component["problem"] is None and component["replicas"] >= needed and (component["ready"] or 0) >= needed


def _serving(component):
    """At least one replica ready: it evaluates rules or routes alerts, even while degraded (KC-OPS-001 says so)."""
    return (component["ready"] or 0) >= 1


# -- KC-OPS-001 -------------------------------------------------------------------------------------------------

def monitoring_running(ctx):
    found = stack(ctx)
    needed = ctx.threshold(ctx.tier, "min_replicas")
    evidence = {"sources": found["sources"], "min_replicas": needed,
                "components": [_describe(c) for c in found["prometheus"] + found["alertmanager"]]}
    if not found["prometheus"] and not found["alertmanager"]:
        managed = managed_offering(ctx)
        if managed:
            evidence["managed"] = managed
            return Result("pass", "managed Prometheus: %s" % "; ".join(managed), evidence)
        return Result("fail", "no Prometheus or Alertmanager: neither the prometheus-operator (%s), the VictoriaMetrics "
                              "operator, a prometheus-server/alertmanager workload nor a managed Prometheus offering"
                      % OPERATOR_CRDS, evidence)
    problems = []
    for role, components in (("Prometheus", found["prometheus"]), ("Alertmanager", found["alertmanager"])):
        if not components:
            problems.append("no %s" % role)
        elif not any(_ready(c, needed) for c in components):
            problems.append("no %s with %d ready replica(s) (tier %s): %s" % (
                role, needed, ctx.tier, "; ".join(_describe(c) for c in components)))
    if problems:
        return Result("fail", "; ".join(problems), evidence)
    return Result("pass", "; ".join(_describe(c) for c in found["prometheus"] + found["alertmanager"]
                                    if _ready(c, needed)), evidence)


# -- rules: which alerting rules a running Prometheus/vmalert evaluates, and how often --------------------------

def _namespace_labels(ctx):
    return {(ns.get("metadata") or {}).get("name"): (ns.get("metadata") or {}).get("labels") or {}
            for ns in ctx.items("namespaces")}


def _namespace_matches(selector, namespace, own_namespace, labels_by_namespace, absent_means_own=True):
    if selector is None:
        return namespace == own_namespace if absent_means_own else True
    # The API server labels every namespace with its name; add it for namespaces the list did not hold.
    labels = dict({"kubernetes.io/metadata.name": namespace}, **(labels_by_namespace.get(namespace) or {}))
    return selectors.matches(selector, labels)


def prometheus_selects_rule(prometheus, rule, namespace_labels):
    """Whether a Prometheus loads a PrometheusRule: ruleSelector {} = all, absent = none; ruleNamespaceSelector
    {} = every namespace, absent = only the Prometheus' own namespace."""
    spec = _spec(prometheus)
    meta = rule.get("metadata") or {}
    return selectors.matches(spec.get("ruleSelector"), meta.get("labels")) and _namespace_matches(
        spec.get("ruleNamespaceSelector"), meta.get("namespace"), (prometheus.get("metadata") or {}).get("namespace"),
        namespace_labels)


def vmalert_selects_rule(vmalert, rule, namespace_labels):
    """VMAlert: no selectors select every VMRule only with selectAllByDefault; otherwise nil selectors select
    nothing in the other dimension's default (own namespace)."""
    spec = _spec(vmalert)
    meta = rule.get("metadata") or {}
    rule_selector, namespace_selector = spec.get("ruleSelector"), spec.get("ruleNamespaceSelector")
    if rule_selector is None and namespace_selector is None:
        return bool(spec.get("selectAllByDefault"))
    return selectors.matches(rule_selector, meta.get("labels"), none_matches=True) and _namespace_matches(
        namespace_selector, meta.get("namespace"), (vmalert.get("metadata") or {}).get("namespace"), namespace_labels)


def _alerts(groups, default_interval, source, loader):
    alerts = []
    for group in groups or []:
        interval = group.get("interval") or default_interval
        for rule in group.get("rules") or []:
            if rule.get("alert"):
                alerts.append({"alert": rule["alert"], "expr": str(rule.get("expr") or ""),
                               "for": rule.get("for") or "0s", "interval": interval,
                               "severity": (rule.get("labels") or {}).get("severity"),
                               "source": source, "loader": loader})
    return alerts


def _helm_rule_groups(configmap):
    """Rule groups in a prometheus-community server ConfigMap (alerting_rules.yml, rules, and any *.rules/yml)."""
    groups, problems = [], []
    for key, text in sorted(((configmap.get("data") or {}).items())):
        if key == "prometheus.yml" or not (key.endswith((".yml", ".yaml", ".rules")) or key in ("rules", "alerts")):
            continue
        try:
            parsed = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            problems.append("%s key %s does not parse" % (object_ref(configmap), key))
            continue
        if isinstance(parsed, dict):
            groups.extend(g for g in parsed.get("groups") or [] if isinstance(g, dict))
    return groups, problems


def _helm_evaluation_interval(configmaps):
    for configmap in configmaps:
        text = (configmap.get("data") or {}).get("prometheus.yml")
        if text:
            try:
                config = yaml.safe_load(text) or {}
            except yaml.YAMLError:
                continue
            interval = ((config.get("global") or {}) if isinstance(config, dict) else {}).get("evaluation_interval")
            if interval:
                return interval
    return "1m"  # Prometheus' own default when prometheus.yml sets none


def loaded_alerts(ctx, running):
    """(alerts, unselected rule objects, notes) for the running rule evaluators of the stack."""
    namespace_labels = _namespace_labels(ctx)
    alerts, unselected, notes = [], [], []
    operator = [c["item"] for c in running if c["kind"] == "Prometheus"]
    if operator:
        for rule in ctx.optional_items("prometheusrules") or []:
            loaders = [p for p in operator if prometheus_selects_rule(p, rule, namespace_labels)]
            if not loaders:
                unselected.append("PrometheusRule %s" % object_ref(rule))
            for prometheus in loaders:
                alerts += _alerts(_spec(rule).get("groups"), _spec(prometheus).get("evaluationInterval") or
                                  PROMETHEUS_DEFAULT_EVALUATION, "PrometheusRule %s" % object_ref(rule),
                                  object_ref(prometheus))
    vmalerts = [c["item"] for c in running if c["kind"] == "VMAlert"]
    if vmalerts:
        for rule in ctx.optional_items("vmrules") or []:
            loaders = [v for v in vmalerts if vmalert_selects_rule(v, rule, namespace_labels)]
            if not loaders:
                unselected.append("VMRule %s" % object_ref(rule))
            for vmalert in loaders:
                alerts += _alerts(_spec(rule).get("groups"), _spec(vmalert).get("evaluationInterval") or
                                  VMALERT_DEFAULT_EVALUATION, "VMRule %s" % object_ref(rule), object_ref(vmalert))
    helm = [c["item"] for c in running if c["source"] == "helm" and c["kind"] in ("Deployment", "StatefulSet")]
    if helm:
        configmaps = [cm for cm in ctx.items("monitoring_configmaps")
                      if (cm.get("metadata") or {}).get("labels", {}).get("app.kubernetes.io/name") == "prometheus"]
        interval = _helm_evaluation_interval(configmaps)
        for configmap in configmaps:
            groups, problems = _helm_rule_groups(configmap)
            notes += problems
            alerts += _alerts(groups, interval, "ConfigMap %s" % object_ref(configmap), object_ref(configmap))
        if not configmaps:
            notes.append("no ConfigMap labelled app.kubernetes.io/name=prometheus holds the server's rules")
    return alerts, sorted(unselected), notes


def _running_evaluators(ctx):
    found = stack(ctx)
    return [c for c in found["prometheus"] if _serving(c)], found


def _managed_unknown(ctx, what):
    managed = managed_offering(ctx)
    if managed:
        return Result("unknown", "%s of the managed offering live in the provider, which this check does not read: %s"
                      % (what, "; ".join(managed)), {"managed": managed})
    return None


def _no_evaluator(ctx, found, what):
    managed = _managed_unknown(ctx, what)
    if managed is not None and not found["prometheus"]:
        return managed
    return Result("fail", "no ready Prometheus or vmalert evaluates %s (see KC-OPS-001): %s" % (
        what, "; ".join(_describe(c) for c in found["prometheus"]) or "none found"))


# -- KC-OPS-008 rules loaded -------------------------------------------------------------------------------------

def rules_loaded(ctx):
    running, found = _running_evaluators(ctx)
    if not running:
        return _no_evaluator(ctx, found, "alerting rules")
    alerts, unselected, notes = loaded_alerts(ctx, running)
    by_source = {}
    for alert in alerts:
        by_source.setdefault(alert["source"], set()).add(alert["alert"])
    evidence = {"loaded": {k: sorted(v) for k, v in sorted(by_source.items())}, "selected_by_nothing": unselected,
                "notes": notes}
    if not alerts:
        return Result("fail", "no alerting rule is loaded by %s%s%s" % (
            ", ".join(_describe(c) for c in running),
            "; rule objects selected by no evaluator (check ruleSelector/ruleNamespaceSelector against their labels "
            "and namespaces): %s" % ", ".join(unselected) if unselected else "",
            "; %s" % "; ".join(notes) if notes else ""), evidence)
    distinct = len({(a["source"], a["alert"]) for a in alerts})
    message = "%d alerting rule(s) from %d object(s) loaded" % (distinct, len(by_source))
    if unselected:
        message += "; selected by no evaluator, never loaded: %s" % ", ".join(unselected)
    return Result("pass", message, evidence)


# -- KC-OPS-009 dead-man's switch --------------------------------------------------------------------------------

def is_dead_mans_switch(alert):
    return (re.sub(r"[^a-z]", "", alert["alert"].lower()) in DEAD_MANS_SWITCH_NAMES
            or bool(_ALWAYS_TRUE.match(alert["expr"])))


def dead_mans_switch(ctx):
    running, found = _running_evaluators(ctx)
    if not running:
        return _no_evaluator(ctx, found, "a dead-man's switch")
    alerts, _unselected, _notes = loaded_alerts(ctx, running)
    switches = sorted({"%s in %s" % (a["alert"], a["source"]) for a in alerts if is_dead_mans_switch(a)})
    if switches:
        return Result("pass", "always-firing alert loaded: %s" % ", ".join(switches), {"switches": switches})
    return Result("fail", "no always-firing alert (Watchdog-style, expr vector(1)) among the %d loaded alerting rule(s): "
                          "a dead Prometheus or Alertmanager would go unnoticed" % len(alerts), {"switches": []})


# -- KC-OPS-010 routing ------------------------------------------------------------------------------------------

def _leaves(route, path=()):
    here = path + (" ".join(route.get("matchers") or []) or "(default)",)
    children = route.get("routes") or []
    # Alerts no child matches stay with this route, unless a child without matchers catches them all.
    leaves = [] if any(not c.get("matchers") for c in children) else [(here, route)]
    for child in children:
        for leaf_path, leaf in _leaves(child, here):
            if not leaf.get("receiver"):
                leaf = dict(leaf, receiver=route.get("receiver"))  # a child inherits its parent's receiver
            leaves.append((leaf_path, leaf))
    return leaves


def judge_routing(summary):
    """(reaching receivers, null routes, problem) for one Alertmanager routing summary."""
    if "error" in summary:
        return [], [], "configuration %s does not parse: %s" % (summary.get("key"), summary["error"])
    receivers = summary.get("receivers") or {}
    reaching, null = set(), []
    for path, leaf in _leaves(summary["route"]):
        name = leaf.get("receiver")
        if name not in receivers:
            null.append("%s -> %s (receiver not defined)" % (" > ".join(path), name))
        elif receivers[name]:
            reaching.add(name)
        elif re.sub(r"[\s\"']", "", path[-1]) not in SILENT_BY_DESIGN:
            null.append("%s -> %s (no integrations)" % (" > ".join(path), name))
    return sorted(reaching), null, None


def _config_secret(ctx, namespace, name):
    for secret in ctx.items("alertmanager_secrets"):
        meta = secret.get("metadata") or {}
        if meta.get("namespace") == namespace and meta.get("name") == name:
            return secret
    return None


def _amconfig_summary(amconfig):
    """An AlertmanagerConfig (v1alpha1, camelCase) in the routing-summary shape."""
    spec = _spec(amconfig)

    def route(node, wait):
        node = node or {}
        matchers = ["%s%s%s" % (m.get("name"), m.get("matchType") or ("=~" if m.get("regex") else "="), m.get("value"))
                    for m in node.get("matchers") or []]
        wait = node.get("groupWait") or wait
        return {"receiver": node.get("receiver"), "matchers": matchers, "group_wait": wait,
                "routes": [route(child, wait) for child in node.get("routes") or []]}

    receivers = {r.get("name"): sorted(k for k, v in r.items() if k.endswith("Configs") and v)
                 for r in spec.get("receivers") or []}
    return {"route": route(spec.get("route"), DEFAULT_GROUP_WAIT), "receivers": receivers}


def alertmanager_routing(ctx, component):
    """(summary or None, source description, extra summaries from selected AlertmanagerConfigs)."""
    item, spec = component["item"], _spec(component["item"])
    namespace = (item.get("metadata") or {}).get("namespace")
    name = (item.get("metadata") or {}).get("name")
    extra = []
    if component["kind"] == "Alertmanager":
        amconfigs = ctx.optional_items("alertmanagerconfigs") or []
        global_name = (spec.get("alertmanagerConfiguration") or {}).get("name")
        if global_name:
            match = next((c for c in amconfigs if object_ref(c) == "%s/%s" % (namespace, global_name)), None)
            if match is None:
                return None, "AlertmanagerConfig %s/%s (spec.alertmanagerConfiguration) not found" % (
                    namespace, global_name), extra
            summary, source = _amconfig_summary(match), "AlertmanagerConfig %s/%s" % (namespace, global_name)
        else:
            secret_name = spec.get("configSecret") or "alertmanager-%s" % name
            secret = _config_secret(ctx, namespace, secret_name)
            source = "Secret %s/%s" % (namespace, secret_name)
            summary = (secret or {}).get("alertmanager_config")
            if secret is None:
                return None, "%s absent: the operator then routes every alert to its built-in null receiver" % source, \
                    extra
        labels = _namespace_labels(ctx)
        for amconfig in amconfigs:
            meta = amconfig.get("metadata") or {}
            if selectors.matches(spec.get("alertmanagerConfigSelector"), meta.get("labels")) and _namespace_matches(
                    spec.get("alertmanagerConfigNamespaceSelector"), meta.get("namespace"), namespace, labels):
                extra.append(("AlertmanagerConfig %s" % object_ref(amconfig), _amconfig_summary(amconfig)))
        return summary, source, extra
    if component["kind"] == "VMAlertmanager":
        if item.get("alertmanager_config"):
            return item["alertmanager_config"], "VMAlertmanager %s spec.configRawYaml" % object_ref(item), extra
        secret_name = spec.get("configSecret") or "vmalertmanager-%s-config" % name
        secret = _config_secret(ctx, namespace, secret_name)
        source = "Secret %s/%s" % (namespace, secret_name)
        if secret is None:
            return None, "%s absent" % source, extra
        return secret.get("alertmanager_config"), source, extra
    configmaps = [cm for cm in ctx.items("monitoring_configmaps") if cm.get("alertmanager_config")
                  and (cm.get("metadata") or {}).get("namespace") == namespace]
    if not configmaps:
        return None, "no ConfigMap labelled app.kubernetes.io/name=alertmanager with alertmanager.yml in %s" % (
            namespace), extra
    return configmaps[0]["alertmanager_config"], "ConfigMap %s" % object_ref(configmaps[0]), extra


def routing_reaches_receiver(ctx):
    found = stack(ctx)
    running = [c for c in found["alertmanager"] if _serving(c)]
    if not running:
        managed = _managed_unknown(ctx, "alert routing")
        if managed is not None and not found["alertmanager"]:
            return managed
        return Result("fail", "no ready Alertmanager routes alerts (see KC-OPS-001): %s" % (
            "; ".join(_describe(c) for c in found["alertmanager"]) or "none found"))
    evidence, problems, good = {}, [], []
    for component in running:
        summary, source, extra = alertmanager_routing(ctx, component)
        entry = {"config": source}
        evidence["%s %s" % (component["kind"], component["ref"])] = entry
        if summary is None:
            problems.append("%s %s: %s" % (component["kind"], component["ref"], source))
            continue
        if not isinstance(summary, dict) or "route" not in summary and "error" not in summary:
            problems.append("%s %s: %s holds no Alertmanager configuration" % (component["kind"], component["ref"],
                                                                               source))
            continue
        reaching, null, problem = judge_routing(summary)
        for extra_source, extra_summary in extra:
            extra_reaching, extra_null, _extra_problem = judge_routing(extra_summary)
            reaching += extra_reaching
            null += ["%s: %s" % (extra_source, n) for n in extra_null]
        entry.update(receivers_reached=sorted(set(reaching)), null_routes=null,
                     group_wait=(summary.get("route") or {}).get("group_wait"))
        if problem:
            problems.append("%s %s: %s" % (component["kind"], component["ref"], problem))
        elif not reaching:
            problems.append("%s %s: no route reaches a receiver with an integration (%s): %s" % (
                component["kind"], component["ref"], source, "; ".join(null)))
        elif null:
            problems.append("%s %s: route(s) ending in a receiver that notifies nobody: %s" % (
                component["kind"], component["ref"], "; ".join(null)))
        else:
            good.append("%s %s -> %s" % (component["kind"], component["ref"], ", ".join(sorted(set(reaching)))))
    if problems:
        return Result("fail", "; ".join(problems), evidence)
    return Result("pass", "every route reaches a receiver: %s" % "; ".join(good), evidence)


# -- KC-OPS-011 detection-time budget ----------------------------------------------------------------------------

def _group_wait_seconds(ctx, found):
    waits = []
    for component in [c for c in found["alertmanager"] if _serving(c)]:
        summary = alertmanager_routing(ctx, component)[0]
        if isinstance(summary, dict) and summary.get("route"):
            try:
                waits.append(duration_seconds(summary["route"].get("group_wait"), 30.0))
            except ValueError:
                continue
    return max(waits) if waits else duration_seconds(DEFAULT_GROUP_WAIT)


def detection_budget(ctx):
    budget = ctx.threshold(ctx.tier, "alert_detection_max_seconds")
    running, found = _running_evaluators(ctx)
    if not running:
        return _no_evaluator(ctx, found, "alerts whose detection time could be estimated")
    alerts, _unselected, _notes = loaded_alerts(ctx, running)
    paging = [a for a in alerts if a["severity"] == "critical" and not is_dead_mans_switch(a)]
    group_wait = _group_wait_seconds(ctx, found)
    evidence = {"budget_seconds": budget, "group_wait_seconds": group_wait, "alerts": {}}
    if not paging:
        return Result("fail", "no loaded alert is labelled severity=critical, so nothing is known to page within "
                              "the %ds budget of tier %s" % (budget, ctx.tier), evidence)
    slow, bad = [], []
    for alert in paging:
        try:
            seconds = (duration_seconds(alert["interval"], 30.0) + duration_seconds(alert["for"], 0.0) + group_wait)
        except ValueError as exc:
            bad.append("%s in %s: %s" % (alert["alert"], alert["source"], exc))
            continue
        key = "%s in %s" % (alert["alert"], alert["source"])
        evidence["alerts"][key] = "%gs (evaluation %s + for %s + group_wait %gs)" % (
            seconds, alert["interval"], alert["for"], group_wait)
        if seconds > budget:
            slow.append((seconds, key))
    if slow:
        slow.sort(reverse=True)
        return Result("fail", "%d of %d critical alert(s) take longer than the %ds budget of tier %s to reach "
                              "Alertmanager's first notification (evaluation interval + for + group_wait): %s%s" % (
                                  len(slow), len(paging), budget, ctx.tier,
                                  ", ".join("%s %gs" % (k, s) for s, k in slow[:5]),
                                  " and %d more" % (len(slow) - 5) if len(slow) > 5 else ""), evidence)
    if bad:
        return Result("unknown", "cannot estimate: %s" % "; ".join(bad), evidence)
    return Result("pass", "all %d critical alert(s) notify within %ds (slowest %s)" % (
        len(paging), budget, max(evidence["alerts"].items(), key=lambda kv: float(kv[1].split("s", 1)[0]))[0]),
        evidence)


STACK_KINDS = ("prometheuses", "alertmanagers", "vmalerts", "vmalertmanagers", "deployments", "statefulsets",
               "daemonsets", "clusterrolebindings")
RULE_KINDS = STACK_KINDS + ("prometheusrules", "vmrules", "monitoring_configmaps", "namespaces")
ROUTING_KINDS = STACK_KINDS + ("alertmanager_secrets", "alertmanagerconfigs", "monitoring_configmaps", "namespaces")

CHECKS = [
    Check(
        "KC-OPS-001", "Prometheus and Alertmanager running and ready", "operations", "high",
        item="monitoring-alerting", evaluate=monitoring_running, needs=STACK_KINDS,
        required_for=("critical", "important"), thresholds=("min_replicas",),
        runbook="Without a running Prometheus and Alertmanager nobody hears about an outage before users do. Install "
                "kube-prometheus-stack (or the prometheus-operator, the VictoriaMetrics operator, or the provider's "
                "managed Prometheus) and run Prometheus and Alertmanager with the tier's min_replicas replicas, all "
                "ready (the operator's status reports availableReplicas and an Available condition).",
    ),
    Check(
        "KC-OPS-008", "Alerting rules loaded by a running Prometheus", "operations", "high",
        item="monitoring-alerting", evaluate=rules_loaded, needs=RULE_KINDS, required_for=("critical", "important"),
        runbook="A PrometheusRule that no Prometheus selects is never evaluated. Make each Prometheus' ruleSelector "
                "and ruleNamespaceSelector select your PrometheusRules (Helm stacks select release=<name>: label the "
                "rules), or VMAlert's ruleSelector/selectAllByDefault select your VMRules.",
    ),
    Check(
        "KC-OPS-009", "Dead-man's switch alert loaded", "operations", "high",
        item="monitoring-alerting", evaluate=dead_mans_switch, needs=RULE_KINDS, required_for=("critical",),
        runbook="Add an always-firing alert (kube-prometheus' Watchdog: expr vector(1)) and route it to an external "
                "dead-man's-switch service (Healthchecks.io, PagerDuty, Opsgenie heartbeat) that pages when it stops "
                "arriving: it is the only alert that notices a dead Prometheus or Alertmanager.",
    ),
    Check(
        "KC-OPS-010", "Alertmanager routes reach a receiver that notifies someone", "operations", "high",
        item="monitoring-alerting", evaluate=routing_reaches_receiver, needs=ROUTING_KINDS,
        required_for=("critical", "important"),
        runbook="An Alertmanager without its configuration Secret (alertmanager-<name>), or whose routes end in a "
                "receiver without integrations, drops every alert. Give every route a receiver with a slack_configs, "
                "pagerduty_configs, email_configs, webhook_configs (or other) integration, in the Secret or in "
                "AlertmanagerConfig resources the Alertmanager selects.",
    ),
    Check(
        "KC-OPS-011", "Critical alerts notify within the tier's detection budget", "operations", "medium",
        item="monitoring-alerting", evaluate=detection_budget, needs=tuple(dict.fromkeys(RULE_KINDS + ROUTING_KINDS)),
        required_for=("critical",), thresholds=("alert_detection_max_seconds",),
        runbook="Time to the first notification is at worst the rule's evaluation interval + its for: duration + "
                "Alertmanager's group_wait. For the alerts labelled severity=critical, shorten for: (1m rather than "
                "15m), the evaluation interval (spec.evaluationInterval or the group's interval) and group_wait so "
                "the sum stays inside alert_detection_max_seconds.",
    ),
]
