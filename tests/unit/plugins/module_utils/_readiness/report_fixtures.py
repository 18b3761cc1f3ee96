"""A realistic run for the report tests: findings made by the real engine from crafted API objects and waivers."""

from __future__ import annotations

import datetime

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import (
    catalog,
    engine,
    report,
    tiers,
    waivers,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import operations
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Result,
    from_objects,
    obj,
)

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
STARTED = "2026-11-22T11:58:30Z"
FINISHED = "2026-11-22T12:00:00Z"


def _deployments_without_pdb(ctx):
    covered = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in ctx.items("poddisruptionbudgets")}
    objects = []
    for deployment in ctx.items("deployments"):
        meta = deployment["metadata"]
        if meta["namespace"] == "kube-system" or deployment["spec"]["replicas"] < 2:
            continue
        covered_here = (meta["namespace"], meta["name"]) in covered
        objects.append(obj("Deployment", meta["namespace"], meta["name"], "pass" if covered_here else "fail",
                           "PDB %s" % meta["name"] if covered_here else
                           "%d replicas and no PodDisruptionBudget" % deployment["spec"]["replicas"]))
    return from_objects(objects, "every multi-replica workload has a PDB", "%d workload(s) without a PDB")


def _anonymous_auth(ctx):
    return Result("fail", "kube-apiserver runs with --anonymous-auth=true", {"anonymous-auth": "true"})


def _default_deny(ctx):
    policies = ctx.items("networkpolicies")
    return Result("pass", "%d policies" % len(policies))


def _velero(ctx):
    return Result("fail", "no Velero deployment found", {"namespaces_searched": ["velero"]})


def _quotas(ctx):
    with_quota = {q["metadata"]["namespace"] for q in ctx.items("resourcequotas")}
    objects = [obj("Namespace", None, ns["metadata"]["name"],
                   "pass" if ns["metadata"]["name"] in with_quota else "fail",
                   "ResourceQuota present" if ns["metadata"]["name"] in with_quota else "no ResourceQuota")
               for ns, _tier, _rule, _error in ctx.application_namespaces()]
    return from_objects(objects, "every application namespace has a ResourceQuota",
                        "%d namespace(s) without a ResourceQuota")


def _log_agent(ctx):
    return Result("pass", "DaemonSet logging/fluent-bit runs on every node")


CHECKS = [
    Check("KC-AVL-901", "PodDisruptionBudget for every multi-replica workload", "availability", "high",
          "pod-disruption-budgets", _deployments_without_pdb, ("deployments", "poddisruptionbudgets"),
          scope="namespace", remediation={"role": "availability", "tag": "pdb"},
          runbook="Workloads with several replicas need a PodDisruptionBudget so node drains keep them serving. "
                  "Create one whose selector matches the pod template."),
    Check("KC-SEC-901", "Anonymous authentication disabled", "security", "critical", "anonymous-auth-disabled",
          _anonymous_auth, (), runbook="Set --anonymous-auth=false on every kube-apiserver."),
    Check("KC-SEC-902", "Default-deny NetworkPolicy in every application namespace", "security", "high",
          "network-policies-default-deny", _default_deny, ("networkpolicies",),
          runbook="Add a NetworkPolicy with podSelector {} and both policy types in each namespace."),
    Check("KC-CMP-901", "ResourceQuota in application namespaces", "compliance", "low",
          "resource-quotas-limitranges", _quotas, ("namespaces", "resourcequotas"), scope="namespace",
          runbook="Give every application namespace a ResourceQuota."),
    Check("KC-DR-901", "Velero installed", "disaster_recovery", "medium", "backups", _velero, (),
          required_for=("critical",), runbook="Install Velero with a BackupStorageLocation."),
    Check("KC-OPS-901", "Log shipping agent present", "operations", "info", "centralized-logging", _log_agent, (),
          runbook="Run a log shipping DaemonSet."),
] + [c for c in operations.CHECKS if c.id == "KC-OPS-004"]  # a real check, to keep the fixture honest


def _meta(namespace, name, **extra):
    meta = {"name": name, "uid": "uid-%s-%s" % (namespace, name)}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def _namespace(name):
    return {"metadata": _meta(None, name, labels={"kubernetes.io/metadata.name": name})}


def _deployment(namespace, name, replicas):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(namespace, name),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}}}}


def _pdb(namespace, name):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(namespace, name),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": name}}}}


def _quota(namespace):
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(namespace, "default"),
            "spec": {"hard": {"requests.cpu": "8"}}}


WAIVERS = [
    {"check": "KC-SEC-901", "cluster": "prod-eu-1", "reason": "kubelet health checks of the legacy LB need it",
     "owner": "platform-team", "ticket": "SEC-42", "expires": "2027-03-31"},
    {"check": "KC-AVL-901", "object": {"kind": "Deployment", "namespace": "payments-api", "name": "ledger"},
     "reason": "single-writer ledger", "owner": "payments-team", "ticket": "PAY-7", "expires": "2027-01-31"},
    {"check": "KC-DR-901", "cluster": "prod-eu-1", "reason": "Velero rollout in progress", "owner": "dr-team",
     "ticket": "DR-3", "expires": "2026-10-01"},
]

FORBIDDEN = {"error": {"category": "forbidden", "message": "networkpolicies.networking.k8s.io is forbidden: User "
                                                           "\"system:serviceaccount:ops:kubecompass\" cannot list"}}


def assessed(name, distribution, tier, kinds, api_requests):
    """An assess-module result for crafted kinds (the same keys the assess module returns)."""
    snapshot = {"cluster": {"name": name, "distribution": distribution, "tier": tier,
                            "version": {"gitVersion": "v1.36.3"}},
                "kinds": {k: v if isinstance(v, dict) else {"items": v} for k, v in kinds.items()}}
    normalised = waivers.validate(WAIVERS, {c.id for c in CHECKS})
    active, expired = waivers.split(normalised, name, NOW.date())
    findings = engine.evaluate(CHECKS, snapshot, tiers.tier_table(), {}, active, NOW)
    return {
        "cluster": name, "status": "assessed", "error": None, "distribution": distribution,
        "distribution_evidence": ["declared by kubecompass_distribution"], "tier": tier,
        "findings": findings, "summary": engine.summarise(findings),
        "expired_waivers": [waivers.describe(w) for w in expired],
        "gather": {"api_requests": api_requests, "kinds_listed": len(kinds),
                   "timings": {"gather_seconds": 0.84, "evaluate_seconds": 0.06},
                   "unreadable": [{"source": k, "cause": v["error"]["message"]}
                                  for k, v in sorted(kinds.items()) if isinstance(v, dict)]},
        # What a registered result carries besides the module's own keys.
        "changed": False, "failed": False, "invocation": {"module_args": {"cluster_name": name}},
    }


def results():
    prod = assessed("prod-eu-1", "kubeadm", "critical", {
        "namespaces": [_namespace("kube-system"), _namespace("shop"), _namespace("payments-api")],
        "deployments": [_deployment("shop", "web", 3), _deployment("shop", "cart", 2),
                        _deployment("payments-api", "ledger", 2), _deployment("kube-system", "coredns", 2)],
        "poddisruptionbudgets": [_pdb("shop", "cart")],
        "networkpolicies": FORBIDDEN,
        "resourcequotas": [_quota("shop")],
    }, api_requests=7)
    staging = assessed("staging", "k3s", "important", {
        "namespaces": [_namespace("kube-system"), _namespace("shop")],
        "deployments": [_deployment("shop", "web", 2)],
        "poddisruptionbudgets": [_pdb("shop", "web")],
        "networkpolicies": [],
        "resourcequotas": [_quota("shop")],
    }, api_requests=6)
    # As the playbook's rescue records a cluster it could not assess (timings {} and a templated count).
    payments = {"cluster": "payments", "status": "unreachable", "distribution": "eks", "tier": "critical",
                "error": "payments: cannot reach https://198.51.100.7:443: connection refused", "findings": [],
                "summary": None, "expired_waivers": [],
                "gather": {"api_requests": "1", "timings": {}, "unreadable": []}}
    legacy = {"cluster": "legacy", "status": "error", "distribution": None, "tier": "gold",
              "error": "kubecompass_tier 'gold' is not one of critical, important, best_effort", "findings": [],
              "summary": None, "expired_waivers": [], "gather": {}}
    return [prod, staging, payments, legacy]


def catalog_entries():
    return catalog.entries(CHECKS)


def run(clusters=None, fail_on="high"):
    return report.build_run(results() if clusters is None else clusters, catalog_entries(), fail_on, STARTED,
                            FINISHED)
