"""Availability checks (KC-AVL-*) on crafted API objects, run through the engine as the assessment runs them."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import availability, guardrails
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import controls_for
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

CHECKS = {c.id: c for c in availability.CHECKS + guardrails.CHECKS}
ZONE = "topology.kubernetes.io/zone"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
# Kind keys the gather step knows (briefing); a check needing anything else could never be fed.
SNAPSHOT_KINDS = {
    "namespaces", "nodes", "pods", "deployments", "statefulsets", "daemonsets", "poddisruptionbudgets",
    "horizontalpodautoscalers", "services", "ingresses", "networkpolicies", "serviceaccounts", "clusterroles",
    "clusterrolebindings", "roles", "rolebindings", "resourcequotas", "limitranges", "customresourcedefinitions",
    "validatingwebhookconfigurations", "mutatingwebhookconfigurations", "validatingadmissionpolicies",
    "validatingadmissionpolicybindings", "kube_system_configmaps", "kubernetes_endpointslices",
}


# -- snapshot builders (plain dicts shaped as the API lists them) ----------------------------------------------------

def forbidden(kind):
    return {"error": {"category": "forbidden", "message": "%s is forbidden: User \"audit\" cannot list" % kind}}


def snapshot(tier="critical", distribution="kubeadm", **kinds):
    """{"cluster": ..., "kinds": {kind: {"items": [...]}}}; pass a dict (e.g. forbidden(kind)) for an error entry."""
    return {"cluster": {"name": "c1", "distribution": distribution, "tier": tier, "version": {"gitVersion": "v1.33.4"}},
            "kinds": {k: ({"items": v} if isinstance(v, list) else v) for k, v in kinds.items()}}


def run(check_id, snap, overrides=None, settings=None):
    return engine.run_check(CHECKS[check_id], Context(snap, tiers.tier_table(overrides), settings))


def verdicts(result):
    return {(o["kind"], o["namespace"], o["name"]): o["verdict"] for o in result.objects}


def reason(result, name):
    return next(o["reason"] for o in result.objects if o["name"] == name)


def namespace(name, tier=None):
    labels = {"kubernetes.io/metadata.name": name}
    if tier is not None:
        labels[tiers.NAMESPACE_TIER_LABEL] = tier
    return {"metadata": {"name": name, "labels": labels}}


def container(name="app", probes=True, resources=True, **fields):
    item = {"name": name, "image": "registry.example.com/%s:1.0" % name}
    if probes:
        item["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}
        item["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}}
    if resources is True:
        item["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    elif resources:
        item["resources"] = resources
    item.update(fields)
    return item


def workload(name, ns="shop", replicas=2, labels=None, containers=None, **pod_spec):
    """A Deployment/StatefulSet as listed (spec.replicas defaulted); pod_spec adds template spec fields."""
    labels = {"app": name} if labels is None else labels
    spec = {"containers": [container()] if containers is None else containers}
    spec.update(pod_spec)
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": spec}}}


def daemonset(name, ns="shop", containers=None):
    item = workload(name, ns, containers=containers)
    del item["spec"]["replicas"]
    return item


def pdb(name, ns="shop", match_labels=None, expressions=None, **spec):
    selector = {}
    if match_labels is not None:
        selector["matchLabels"] = match_labels
    if expressions is not None:
        selector["matchExpressions"] = expressions
    if "minAvailable" not in spec:
        spec.setdefault("maxUnavailable", 1)
    return {"metadata": {"name": name, "namespace": ns}, "spec": dict(spec, selector=selector)}


def hpa(name, target, ns="shop", min_replicas=2, kind="Deployment"):
    spec = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target}, "maxReplicas": 10}
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def node(name, zone=None, control_plane=False, labels=None):
    node_labels = dict(labels or {})
    if zone:
        node_labels[ZONE] = zone
    spec = {"taints": [CONTROL_PLANE_TAINT]} if control_plane else {}
    return {"metadata": {"name": name, "labels": node_labels}, "spec": spec}


def pod(name, ns, labels, annotations=None, node_name=None, phase="Running"):
    meta = {"name": name, "namespace": ns, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": phase}}


def etcd_pod(node_name, ns="kube-system"):
    return pod("etcd-" + node_name, ns, {"component": "etcd", "tier": "control-plane"},
               {"kubernetes.io/config.mirror": "0f1e2d"}, node_name)


def endpoint_slice(*addresses, address_type="IPv4", ready=True):
    return {"metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": address_type, "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": ready}} for a in addresses]}


def zones(*names):
    return [node("w%d" % i, zone) for i, zone in enumerate(names)]


# -- catalog entries -------------------------------------------------------------------------------------------------

def test_catalog_entries_are_complete_and_use_known_inputs():
    ids = [c.id for c in availability.CHECKS] + [c.id for c in guardrails.CHECKS]
    assert ids == ["KC-AVL-%03d" % n for n in range(1, 12)] + ["KC-CMP-002", "KC-CMP-003"]
    for check in CHECKS.values():
        assert set(check.needs) <= SNAPSHOT_KINDS, check.id
        assert controls_for(check.item), check.id
        assert 2 <= check.runbook.count(". ") + 1 <= 4, check.id
        for key in check.thresholds:
            assert key in tiers.DEFAULT_TIER_TABLE["critical"], check.id
    assert CHECKS["KC-AVL-003"].remediation == {"role": "disruption_budgets", "tag": "pdb"}
    assert CHECKS["KC-AVL-001"].severity == "critical" and CHECKS["KC-AVL-002"].severity == "high"
    assert CHECKS["KC-AVL-011"].severity == "medium"
    assert [c.id for c in CHECKS.values() if c.remediation] == ["KC-AVL-003", "KC-CMP-002", "KC-CMP-003"]


class RecordingKinds(dict):
    """The snapshot's kinds map, remembering which kinds a check asked for."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_checks_read_only_the_kinds_they_declare(check_id):
    rich = snapshot(
        namespaces=[namespace("shop"), namespace("batch", "important")],
        nodes=zones("a", "b", "c"), pods=[etcd_pod("cp1")], kubernetes_endpointslices=[endpoint_slice("10.0.0.1")],
        deployments=[workload("web", replicas=3), workload("api", "batch", replicas=2)],
        statefulsets=[workload("db")], daemonsets=[daemonset("agent")],
        poddisruptionbudgets=[pdb("orphan", match_labels={"app": "gone"}, minAvailable=1)],
        horizontalpodautoscalers=[hpa("web", "web")], limitranges=[], resourcequotas=[])
    recording = RecordingKinds(rich["kinds"])
    rich["kinds"] = recording
    run(check_id, rich)
    assert recording.read <= set(CHECKS[check_id].needs)


# -- KC-AVL-001 HA control plane -------------------------------------------------------------------------------------

def control_plane(etcd_nodes, addresses, distribution="kubeadm", tier="critical", nodes=(), **kinds):
    return snapshot(tier, distribution, pods=[etcd_pod(n) for n in etcd_nodes],
                    kubernetes_endpointslices=[endpoint_slice(*addresses)], nodes=list(nodes), **kinds)


def test_ha_control_plane_passes_with_three_apiservers_and_three_etcd_mirror_pods():
    result = run("KC-AVL-001", control_plane(["cp1", "cp2", "cp3"], ["10.0.0.1", "10.0.0.2", "10.0.0.3"]))
    assert result.verdict == "pass", result.message
    assert result.evidence["etcd_members"] == ["cp1", "cp2", "cp3"]
    assert result.evidence["apiserver_endpoints"] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert result.evidence["threshold"] == 3
    assert result.tier_rule == "cluster tier critical"


@pytest.mark.parametrize(("tier", "verdict"), [("important", "pass"), ("critical", "fail")])
def test_ha_control_plane_threshold_follows_the_cluster_tier(tier, verdict):
    result = run("KC-AVL-001", control_plane(["cp1", "cp2"], ["10.0.0.1", "10.0.0.2"], tier=tier))
    assert result.verdict == verdict, result.message


def test_ha_control_plane_fails_on_a_single_etcd_member_and_names_it():
    result = run("KC-AVL-001", control_plane(["cp1"], ["10.0.0.1", "10.0.0.2", "10.0.0.3"]))
    assert result.verdict == "fail"
    assert result.message == "1 etcd member(s), tier critical needs 3"


def test_ha_control_plane_ignores_etcd_pods_that_are_not_kube_system_mirror_pods():
    impostors = [pod("etcd-0", "kube-system", {"component": "etcd"}, node_name="w1"),  # no mirror annotation
                 etcd_pod("cp9", ns="tenant")]
    snap = control_plane(["cp1", "cp2"], ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    snap["kinds"]["pods"]["items"] += impostors
    result = run("KC-AVL-001", snap)
    assert result.verdict == "fail"
    assert result.evidence["etcd_members"] == ["cp1", "cp2"]


def test_ha_control_plane_counts_only_ready_apiserver_endpoints():
    snap = control_plane(["cp1", "cp2", "cp3"], ["10.0.0.1", "10.0.0.2"])
    snap["kinds"]["kubernetes_endpointslices"]["items"].append(endpoint_slice("10.0.0.3", ready=False))
    result = run("KC-AVL-001", snap)
    assert result.verdict == "fail"
    assert result.message == "2 ready API server endpoint(s), tier critical needs 3"
    assert result.evidence["apiserver_not_ready"] == ["10.0.0.3"]


def test_ha_control_plane_counts_a_dual_stack_apiserver_once():
    snap = control_plane(["cp1", "cp2"], ["10.0.0.1"], tier="important")
    snap["kinds"]["kubernetes_endpointslices"]["items"].append(endpoint_slice("fd00::1", address_type="IPv6"))
    result = run("KC-AVL-001", snap)
    assert result.verdict == "fail"
    assert result.message.startswith("1 ready API server endpoint(s)")


def test_ha_control_plane_k3s_reads_etcd_members_from_node_roles():
    servers = [node("s%d" % i, labels={"node-role.kubernetes.io/etcd": "true"}) for i in range(3)]
    result = run("KC-AVL-001", control_plane([], ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "k3s", nodes=servers))
    assert result.verdict == "pass", result.message
    assert result.evidence["etcd_members"] == ["s0", "s1", "s2"]


def test_ha_control_plane_rke2_joins_mirror_pods_and_node_roles():
    servers = [node("s%d" % i, labels={"node-role.kubernetes.io/etcd": "true"}) for i in (1, 2)]
    snap = control_plane(["s1", "s3"], ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "rke2", nodes=servers)
    result = run("KC-AVL-001", snap)
    assert result.verdict == "pass", result.message
    assert result.evidence["etcd_members"] == ["s1", "s2", "s3"]


def test_ha_control_plane_is_unknown_when_no_etcd_member_is_visible():
    """k3s with an external datastore: three servers, nothing says how redundant the datastore is."""
    result = run("KC-AVL-001", control_plane([], ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "k3s", nodes=zones("a")))
    assert result.verdict == "unknown"
    assert "no etcd member is visible" in result.message


def test_ha_control_plane_fails_a_single_server_even_when_etcd_is_invisible():
    result = run("KC-AVL-001", control_plane([], ["10.0.0.1"], "k3s"))
    assert result.verdict == "fail"


@pytest.mark.parametrize("distribution", ["eks", "gke", "aks"])
def test_ha_control_plane_on_managed_clusters_waits_for_provider_facts(distribution):
    result = run("KC-AVL-001", control_plane([], ["10.0.0.1", "10.0.0.2", "10.0.0.3"], distribution))
    assert result.verdict == "unknown"
    assert "provider" in result.message


def test_ha_control_plane_unknown_when_endpointslices_are_forbidden():
    snap = control_plane(["cp1", "cp2", "cp3"], [])
    snap["kinds"]["kubernetes_endpointslices"] = forbidden("endpointslices.discovery.k8s.io")
    result = run("KC-AVL-001", snap)
    assert result.verdict == "unknown"
    assert result.message.startswith("could not read kubernetes_endpointslices: endpointslices")


def test_ha_control_plane_not_required_for_best_effort_clusters():
    result = run("KC-AVL-001", control_plane(["cp1"], ["10.0.0.1"], tier="best_effort"))
    assert result.verdict == "not_applicable"


# -- KC-AVL-002 worker zones -----------------------------------------------------------------------------------------

def test_worker_zones_pass_across_three_zones():
    result = run("KC-AVL-002", snapshot(nodes=zones("a", "b", "c", "a")))
    assert result.verdict == "pass", result.message
    assert result.evidence["zones"] == {"a": 2, "b": 1, "c": 1}


def test_worker_zones_ignore_control_plane_only_nodes_and_report_unlabelled_ones():
    nodes = zones("a", "b") + [node("cp1", "c", control_plane=True), node("w-bare")]
    result = run("KC-AVL-002", snapshot(nodes=nodes))
    assert result.verdict == "fail"
    assert result.message == ("worker nodes span 2 zone(s), tier critical needs 3; "
                              "1 worker node(s) have no topology.kubernetes.io/zone label")
    assert result.evidence["unlabelled_nodes"] == ["w-bare"]
    assert result.evidence["worker_nodes"] == 3


def test_worker_zones_count_schedulable_servers_as_workers():
    """k3s/rke2 servers without the control-plane taint run workloads, so their zones count."""
    nodes = zones("a") + [node("server", "b", labels={"node-role.kubernetes.io/control-plane": "true"})]
    assert run("KC-AVL-002", snapshot("important", nodes=nodes)).verdict == "pass"


def test_worker_zones_fail_without_worker_nodes():
    result = run("KC-AVL-002", snapshot("important", nodes=[node("cp1", "a", control_plane=True)]))
    assert result.verdict == "fail"
    assert result.message.startswith("no worker nodes")


def test_worker_zones_unknown_and_not_applicable():
    assert run("KC-AVL-002", snapshot(nodes=forbidden("nodes"))).verdict == "unknown"
    assert run("KC-AVL-002", snapshot("best_effort", nodes=zones("a"))).verdict == "not_applicable"


# -- KC-AVL-003 PodDisruptionBudget coverage -------------------------------------------------------------------------

def test_pdb_coverage_passes_when_a_budget_selects_every_pod():
    snap = snapshot(namespaces=[namespace("shop")],
                    deployments=[workload("web", labels={"app": "web", "tier": "frontend"})],
                    statefulsets=[workload("db", replicas=3)],
                    poddisruptionbudgets=[pdb("web", match_labels={"app": "web"}),
                                          pdb("db", expressions=[{"key": "app", "operator": "In", "values": ["db"]}])])
    result = run("KC-AVL-003", snap)
    assert result.verdict == "pass", result.message
    assert verdicts(result) == {("Deployment", "shop", "web"): "pass", ("StatefulSet", "shop", "db"): "pass"}
    assert reason(result, "web") == "PodDisruptionBudget web selects its pods"
    assert result.tier_rule.startswith("namespaces of tier critical or important")


def test_pdb_coverage_names_a_budget_that_selects_only_some_pods_as_near_miss():
    snap = snapshot(namespaces=[namespace("shop")], deployments=[workload("web")], statefulsets=[],
                    poddisruptionbudgets=[pdb("web-frontend", match_labels={"app": "web", "tier": "frontend"})])
    result = run("KC-AVL-003", snap)
    assert result.verdict == "fail"
    assert result.message == "1 multi-replica workload(s) have no PodDisruptionBudget selecting all their pods"
    assert reason(result, "web") == ("no PodDisruptionBudget selects all its pods; near miss: PodDisruptionBudget "
                                     "web-frontend also requires tier=frontend, which the pod template lacks")


def test_pdb_coverage_near_miss_describes_unmet_expressions():
    budget = pdb("web", match_labels={"app": "web"}, expressions=[{"key": "env", "operator": "In", "values": ["prod"]}])
    snap = snapshot(namespaces=[namespace("shop")], deployments=[workload("web")], statefulsets=[],
                    poddisruptionbudgets=[budget])
    assert "also requires env In (prod)" in reason(run("KC-AVL-003", snap), "web")


def test_pdb_coverage_ignores_budgets_elsewhere_and_null_selectors():
    null_selector = {"metadata": {"name": "null", "namespace": "shop"}, "spec": {"maxUnavailable": 1}}
    snap = snapshot(namespaces=[namespace("shop"), namespace("other")], deployments=[workload("web")],
                    statefulsets=[], poddisruptionbudgets=[pdb("web", "other", match_labels={"app": "web"}),
                                                           null_selector])
    result = run("KC-AVL-003", snap)
    assert result.verdict == "fail"
    assert reason(result, "web") == "no PodDisruptionBudget selects its pods"


def test_pdb_coverage_skips_single_replicas_best_effort_and_system_namespaces():
    snap = snapshot(namespaces=[namespace("shop"), namespace("lab", "best_effort"), namespace("kube-system")],
                    deployments=[workload("single", replicas=1), workload("lab", "lab"),
                                 workload("coredns", "kube-system")],
                    statefulsets=[], poddisruptionbudgets=[])
    result = run("KC-AVL-003", snap)
    assert result.verdict == "not_applicable"
    assert result.objects == []


def test_pdb_coverage_unknown_for_invalid_tier_label_and_unreadable_budgets():
    snap = snapshot(namespaces=[namespace("shop", "gold")], deployments=[workload("web")], statefulsets=[],
                    poddisruptionbudgets=[])
    result = run("KC-AVL-003", snap)
    assert result.verdict == "unknown"
    assert "namespace label kubecompass.io/tier='gold' is not a tier" in result.message
    assert verdicts(result) == {("Deployment", "shop", "web"): "unknown"}

    snap = snapshot(namespaces=[namespace("shop")], deployments=[workload("web")], statefulsets=[],
                    poddisruptionbudgets=forbidden("poddisruptionbudgets.policy"))
    result = run("KC-AVL-003", snap)
    assert result.verdict == "unknown"
    assert result.evidence == {"unreadable": "poddisruptionbudgets"}


def test_pdb_coverage_fail_outranks_unknown():
    snap = snapshot(namespaces=[namespace("shop"), namespace("odd", "gold")],
                    deployments=[workload("web"), workload("web", "odd")], statefulsets=[], poddisruptionbudgets=[])
    result = run("KC-AVL-003", snap)
    assert result.verdict == "fail"
    assert result.evidence["failing"] == 1 and result.evidence["unknown"] == 1


# -- KC-AVL-004 PodDisruptionBudgets that block drains ---------------------------------------------------------------

@pytest.mark.parametrize(("spec", "verdict", "text"), [
    ({"maxUnavailable": 0}, "fail", "maxUnavailable 0 allows no voluntary disruption"),
    ({"maxUnavailable": "0%"}, "fail", "maxUnavailable 0% allows no voluntary disruption"),
    ({"minAvailable": "100%"}, "fail", "minAvailable 100% allows no voluntary disruption"),
    ({"minAvailable": 3}, "fail", "minAvailable 3 keeps all 3 pod(s) of Deployment web up"),
    ({"minAvailable": "90%"}, "fail", "minAvailable 90% keeps all 3 pod(s)"),  # 2.7 rounds up to 3
    ({"minAvailable": 2}, "pass", "minAvailable 2 of 3 pod(s) (Deployment web) allows 1 disruption(s)"),
    ({"minAvailable": "50%"}, "pass", "allows 1 disruption(s)"),
    ({"maxUnavailable": "10%"}, "pass", "maxUnavailable 10%"),
    ({"maxUnavailable": 1}, "pass", "maxUnavailable 1"),
    ({}, "pass", "sets neither minAvailable nor maxUnavailable"),
    ({"minAvailable": "most"}, "unknown", "minAvailable 'most' is neither an integer nor a percentage"),
])
def test_blocking_budgets_judge_each_form(spec, verdict, text):
    budget = pdb("web", match_labels={"app": "web"})
    budget["spec"] = dict(spec, selector=budget["spec"]["selector"])
    snap = snapshot(namespaces=[namespace("shop")], poddisruptionbudgets=[budget],
                    deployments=[workload("web", replicas=3)], statefulsets=[], pods=[])
    result = run("KC-AVL-004", snap)
    assert result.verdict == verdict, result.objects
    assert text in reason(result, "web")


def test_blocking_budgets_sum_every_workload_the_budget_selects():
    snap = snapshot(namespaces=[namespace("shop")], pods=[],
                    poddisruptionbudgets=[pdb("shared", match_labels={"team": "x"},
                                              minAvailable=3)],
                    deployments=[workload("a", labels={"team": "x", "app": "a"})],
                    statefulsets=[workload("b", labels={"team": "x", "app": "b"})])
    result = run("KC-AVL-004", snap)
    assert result.verdict == "pass"
    assert reason(result, "shared") == "minAvailable 3 of 4 pod(s) (Deployment a, StatefulSet b) allows 1 disruption(s)"


def test_blocking_budgets_count_pods_of_other_controllers_and_say_unknown_when_nothing_is_selected():
    operator_pods = [pod("pg-%d" % i, "shop", {"cnpg.io/cluster": "pg"}) for i in (1, 2)]
    operator_pods.append(pod("pg-old", "shop", {"cnpg.io/cluster": "pg"}, phase="Succeeded"))
    snap = snapshot(namespaces=[namespace("shop")], deployments=[], statefulsets=[], pods=operator_pods,
                    poddisruptionbudgets=[pdb("pg", match_labels={"cnpg.io/cluster": "pg"},
                                              minAvailable=2),
                                          pdb("gone", match_labels={"app": "gone"},
                                              minAvailable=1)])
    result = run("KC-AVL-004", snap)
    assert verdicts(result) == {("PodDisruptionBudget", "shop", "pg"): "fail",
                                ("PodDisruptionBudget", "shop", "gone"): "unknown"}
    assert reason(result, "pg") == ("minAvailable 2 keeps all 2 pod(s) of 2 pod(s) up, "
                                    "so no voluntary disruption is allowed")
    assert reason(result, "gone") == ("selects no Deployment, StatefulSet or Pod, "
                                      "so minAvailable 1 cannot be compared")


def test_blocking_budgets_scope_and_tier_errors():
    budgets = [pdb("a", "lab", match_labels={"app": "a"}, maxUnavailable=0),
               pdb("b", "odd", match_labels={"app": "b"}, maxUnavailable=0)]
    snap = snapshot(namespaces=[namespace("lab", "best_effort"), namespace("odd", "platinum")],
                    poddisruptionbudgets=budgets, deployments=[], statefulsets=[], pods=[])
    result = run("KC-AVL-004", snap)
    assert result.verdict == "unknown"
    assert verdicts(result) == {("PodDisruptionBudget", "odd", "b"): "unknown"}

    snap["kinds"]["namespaces"]["items"] = [namespace("lab", "best_effort")]
    result = run("KC-AVL-004", snap)
    assert result.verdict == "not_applicable"
    assert result.message == "no PodDisruptionBudget in critical or important namespaces"


def test_blocking_budgets_unknown_when_budgets_are_forbidden():
    snap = snapshot(namespaces=[namespace("shop")], poddisruptionbudgets=forbidden("poddisruptionbudgets.policy"),
                    deployments=[], statefulsets=[], pods=[])
    assert run("KC-AVL-004", snap).verdict == "unknown"


# -- KC-AVL-005 replicas / KC-AVL-008 HPAs ---------------------------------------------------------------------------

def test_replica_floor_judges_the_hpa_instead_of_replicas():
    snap = snapshot(namespaces=[namespace("shop")], statefulsets=[],
                    deployments=[workload("web", replicas=4), workload("api", replicas=1), workload("solo", replicas=1),
                                 workload("worker", replicas=3)],
                    horizontalpodautoscalers=[hpa("web", "web", min_replicas=1), hpa("api", "api", min_replicas=2),
                                              hpa("worker", "worker", min_replicas=None)])
    result = run("KC-AVL-005", snap)
    assert verdicts(result) == {("Deployment", "shop", "web"): "fail", ("Deployment", "shop", "api"): "pass",
                                ("Deployment", "shop", "solo"): "fail", ("Deployment", "shop", "worker"): "fail"}
    assert reason(result, "web") == "HorizontalPodAutoscaler web minReplicas 1 is below 2 needed for tier critical"
    assert reason(result, "worker").startswith("HorizontalPodAutoscaler worker minReplicas 1")
    assert reason(result, "solo") == "replicas 1 is below 2 needed for tier critical"
    assert result.message == "3 critical workload(s) can run fewer replicas than the tier needs"


def test_replica_floor_matches_hpa_by_kind_and_name_in_the_same_namespace():
    snap = snapshot(namespaces=[namespace("shop")], deployments=[workload("db", replicas=3)], statefulsets=[],
                    horizontalpodautoscalers=[hpa("db", "db", min_replicas=1, kind="StatefulSet"),
                                              hpa("db2", "db", ns="other", min_replicas=1)])
    result = run("KC-AVL-005", snap)
    assert result.verdict == "pass"
    assert reason(result, "db") == "replicas 3, tier critical needs 2"


def test_replica_floor_uses_the_overridden_threshold_and_only_critical_namespaces():
    snap = snapshot(namespaces=[namespace("shop"), namespace("back", "important")], statefulsets=[],
                    deployments=[workload("web", replicas=2), workload("api", "back", replicas=1)],
                    horizontalpodautoscalers=[])
    assert run("KC-AVL-005", snap).verdict == "pass"
    result = run("KC-AVL-005", snap, overrides={"critical": {"min_replicas": 3}})
    assert verdicts(result) == {("Deployment", "shop", "web"): "fail"}


def test_replica_floor_unknown_and_not_applicable():
    snap = snapshot(namespaces=[namespace("shop")], deployments=[workload("web")], statefulsets=[],
                    horizontalpodautoscalers=forbidden("horizontalpodautoscalers.autoscaling"))
    assert run("KC-AVL-005", snap).verdict == "unknown"
    snap = snapshot(namespaces=[namespace("shop", "critcal")], deployments=[workload("web")], statefulsets=[],
                    horizontalpodautoscalers=[])
    assert run("KC-AVL-005", snap).verdict == "unknown"
    snap = snapshot("important", namespaces=[namespace("shop")], deployments=[workload("web")], statefulsets=[],
                    horizontalpodautoscalers=forbidden("horizontalpodautoscalers.autoscaling"))
    result = run("KC-AVL-005", snap)
    assert result.verdict == "not_applicable"
    assert result.message == "no Deployment or StatefulSet in critical namespaces"


def test_hpa_coverage():
    snap = snapshot(namespaces=[namespace("shop"), namespace("back", "important")],
                    deployments=[workload("web"), workload("api"), workload("cron", "back")],
                    statefulsets=[workload("db")],
                    horizontalpodautoscalers=[hpa("web", "web", min_replicas=3), hpa("api", "api", min_replicas=1)])
    result = run("KC-AVL-008", snap)
    assert result.verdict == "fail"
    assert verdicts(result) == {("Deployment", "shop", "web"): "pass", ("Deployment", "shop", "api"): "fail",
                                ("StatefulSet", "shop", "db"): "fail"}
    assert reason(result, "db") == "no HorizontalPodAutoscaler targets it"
    assert reason(result, "api") == "HorizontalPodAutoscaler api minReplicas 1 is below 2"

    snap["kinds"]["statefulsets"]["items"] = []
    snap["kinds"]["horizontalpodautoscalers"]["items"][1]["spec"]["minReplicas"] = 2
    assert run("KC-AVL-008", snap).verdict == "pass"
    snap["kinds"]["namespaces"]["items"][0] = namespace("shop", "best_effort")
    assert run("KC-AVL-008", snap).verdict == "not_applicable"
    snap["kinds"]["namespaces"]["items"][0] = namespace("shop", "Critical")
    assert run("KC-AVL-008", snap).verdict == "unknown"


# -- KC-AVL-006 / KC-AVL-007 probes ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("check_id", "probe"), [("KC-AVL-006", "livenessProbe"), ("KC-AVL-007", "readinessProbe")])
def test_probes_on_every_regular_container(check_id, probe):
    sidecar = container("proxy")
    del sidecar[probe]
    init = container("migrate", probes=False)
    snap = snapshot(namespaces=[namespace("shop"), namespace("lab", "best_effort")],
                    deployments=[workload("web", containers=[container(), sidecar]),
                                 workload("ok", initContainers=[init]),
                                 workload("lab", "lab", containers=[container(probes=False)])],
                    statefulsets=[workload("db", replicas=1)],
                    daemonsets=[daemonset("agent", containers=[container("agent", probes=False)])])
    result = run(check_id, snap)
    assert result.verdict == "fail"
    assert verdicts(result) == {("Deployment", "shop", "web"): "fail", ("Deployment", "shop", "ok"): "pass",
                                ("StatefulSet", "shop", "db"): "pass", ("DaemonSet", "shop", "agent"): "fail"}
    assert reason(result, "web") == "container(s) proxy have no %s" % probe
    assert result.message == "2 workload(s) have containers without a %s" % probe


@pytest.mark.parametrize(("check_id", "probe"), [("KC-AVL-006", "livenessProbe"), ("KC-AVL-007", "readinessProbe")])
def test_startup_probe_is_recognised_and_stands_in_for_no_other_probe(check_id, probe):
    slow = container("slow", startupProbe={"httpGet": {"path": "/started", "port": 8080}, "failureThreshold": 30})
    started_only = container("legacy", probes=False, startupProbe={"tcpSocket": {"port": 8080}})
    snap = snapshot(namespaces=[namespace("shop")], deployments=[workload("web", containers=[slow]),
                                                                 workload("old", containers=[started_only])],
                    statefulsets=[], daemonsets=[])
    result = run(check_id, snap)
    assert reason(result, "web") == "every container has a %s; startupProbe on slow holds it off until the " \
                                    "container has started" % probe
    assert reason(result, "old") == "container(s) legacy have no %s (the startupProbe of legacy checks only the " \
                                    "start)" % probe
    assert result.verdict == "fail"


@pytest.mark.parametrize("check_id", ["KC-AVL-006", "KC-AVL-007"])
def test_probes_pass_unknown_and_not_applicable(check_id):
    kinds = {"deployments": [workload("web")], "statefulsets": [], "daemonsets": []}
    assert run(check_id, snapshot(namespaces=[namespace("shop", "important")], **kinds)).verdict == "pass"
    assert run(check_id, snapshot(namespaces=[namespace("shop", "gold")], **kinds)).verdict == "unknown"
    assert run(check_id, snapshot(namespaces=[namespace("shop", "best_effort")], **kinds)).verdict == "not_applicable"
    unreadable = dict(kinds)
    unreadable["daemonsets"] = forbidden("daemonsets.apps")
    assert run(check_id, snapshot(namespaces=[namespace("shop")], **unreadable)).verdict == "unknown"


# -- KC-AVL-009 cluster autoscaler -----------------------------------------------------------------------------------

def test_cluster_autoscaler_found_by_name_or_image():
    by_name = workload("cluster-autoscaler", "kube-system", replicas=1)
    by_image = workload("controller", "kube-system", replicas=1,
                        containers=[container("controller", image="public.ecr.aws/karpenter/controller:1.6.0")])
    result = run("KC-AVL-009", snapshot(deployments=[by_name]))
    assert result.verdict == "pass"
    assert result.evidence["autoscalers"] == ["kube-system/cluster-autoscaler (cluster-autoscaler)"]
    result = run("KC-AVL-009", snapshot("important", "eks", deployments=[by_image]))
    assert result.verdict == "pass"
    assert result.evidence["autoscalers"] == ["kube-system/controller (karpenter)"]


def test_cluster_autoscaler_missing_or_scaled_to_zero_fails_on_self_managed_clusters():
    idle = workload("cluster-autoscaler", "kube-system", replicas=0)
    result = run("KC-AVL-009", snapshot(deployments=[workload("web"), idle]))
    assert result.verdict == "fail"
    assert result.message == ("no cluster-autoscaler or Karpenter Deployment runs "
                              "(scaled to zero: kube-system/cluster-autoscaler (cluster-autoscaler))")


def test_cluster_autoscaler_on_managed_clusters_defers_to_the_provider():
    result = run("KC-AVL-009", snapshot("critical", "gke", deployments=[workload("web")]))
    assert result.verdict == "unknown"
    assert "gke provider API" in result.message


def test_cluster_autoscaler_unknown_and_not_applicable():
    assert run("KC-AVL-009", snapshot(deployments=forbidden("deployments.apps"))).verdict == "unknown"
    assert run("KC-AVL-009", snapshot("best_effort", deployments=[])).verdict == "not_applicable"


# -- KC-AVL-010 zone spread ------------------------------------------------------------------------------------------

def spread(key=ZONE, labels=None, max_skew=1):
    return [{"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": labels or {"app": "web"}}}]


def anti_affinity(kind, key=ZONE, labels=None, **term_fields):
    term = dict({"topologyKey": key, "labelSelector": {"matchLabels": labels or {"app": "web"}}}, **term_fields)
    if kind == "required":
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": term}]}}


@pytest.mark.parametrize(("pod_spec", "verdict"), [
    ({"topologySpreadConstraints": spread()}, "pass"),
    ({"affinity": anti_affinity("required")}, "pass"),
    ({"affinity": anti_affinity("preferred")}, "pass"),
    ({"affinity": anti_affinity("preferred", namespaceSelector={})}, "pass"),
    ({}, "fail"),
    ({"topologySpreadConstraints": spread(key="kubernetes.io/hostname")}, "fail"),
    ({"topologySpreadConstraints": spread(labels={"app": "other"})}, "fail"),
    ({"affinity": anti_affinity("required", key="kubernetes.io/hostname")}, "fail"),
    ({"affinity": anti_affinity("preferred", labels={"app": "web", "track": "canary"})}, "fail"),
    ({"affinity": anti_affinity("required", namespaces=["elsewhere"])}, "fail"),
])
def test_zone_spread_accepts_zone_constraints_selecting_own_pods(pod_spec, verdict):
    snap = snapshot(namespaces=[namespace("shop")], nodes=zones("a", "b", "c"),
                    deployments=[workload("web", **pod_spec)], statefulsets=[workload("single", replicas=1)])
    result = run("KC-AVL-010", snap)
    assert result.verdict == verdict, reason(result, "web")
    assert list(verdicts(result)) == [("Deployment", "shop", "web")]


@pytest.mark.parametrize(("nodes", "message"), [
    (zones("a", "a"), "worker nodes span one zone (a), so there is nothing to spread across"),
    (zones(None, None), "worker nodes span no labelled zone, so there is nothing to spread across"),
    (zones("a", "b")[:1] + [node("cp", "b", control_plane=True)],
     "worker nodes span one zone (a), so there is nothing to spread across"),
])
def test_zone_spread_not_applicable_in_a_single_zone(nodes, message):
    snap = snapshot(namespaces=[namespace("shop")], nodes=nodes, deployments=[workload("web")], statefulsets=[])
    result = run("KC-AVL-010", snap)
    assert result.verdict == "not_applicable"
    assert result.message == message


def test_zone_spread_unknown_and_important_namespaces_out_of_scope():
    kinds = {"nodes": zones("a", "b"), "deployments": [workload("web")], "statefulsets": []}
    assert run("KC-AVL-010", snapshot(namespaces=[namespace("shop", "tier1")], **kinds)).verdict == "unknown"
    unreadable_nodes = dict(kinds)
    unreadable_nodes["nodes"] = forbidden("nodes")
    assert run("KC-AVL-010", snapshot(namespaces=[namespace("shop")], **unreadable_nodes)).verdict == "unknown"
    result = run("KC-AVL-010", snapshot(namespaces=[namespace("shop", "important")], **kinds))
    assert result.verdict == "not_applicable"
    assert result.evidence["zones"] == {"a": 1, "b": 1}


# -- KC-AVL-011 resource requests ------------------------------------------------------------------------------------

def limitrange(name, ns="shop", kind="Container", **fields):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"limits": [dict(fields, type=kind)]}}


def test_resource_requests_report_each_missing_field():
    bare = container("bare", resources=False)
    cpu_only = container("cpu-only", resources={"requests": {"cpu": "1"}})
    limits_only = container("limits", resources={"limits": {"cpu": "1", "memory": "1Gi"}})
    init = container("init", resources=False)
    snap = snapshot(namespaces=[namespace("shop")], limitranges=[], statefulsets=[],
                    deployments=[workload("web", containers=[container(), bare, cpu_only]),
                                 workload("limits", containers=[limits_only]),
                                 workload("job", initContainers=[init])],
                    daemonsets=[daemonset("agent")])
    result = run("KC-AVL-011", snap)
    assert result.verdict == "fail"
    assert verdicts(result) == {("Deployment", "shop", "web"): "fail", ("Deployment", "shop", "limits"): "pass",
                                ("Deployment", "shop", "job"): "fail", ("DaemonSet", "shop", "agent"): "pass"}
    assert reason(result, "web") == ("container bare lacks requests.cpu, requests.memory, limits.memory; "
                                     "container cpu-only lacks requests.memory, limits.memory")
    assert reason(result, "job") == "init container init lacks requests.cpu, requests.memory, limits.memory"


def test_resource_requests_accept_limitrange_defaults_of_the_same_namespace():
    bare = [container("bare", resources=False)]
    full = limitrange("defaults", default={"cpu": "500m", "memory": "512Mi"},
                      defaultRequest={"cpu": "100m", "memory": "128Mi"})
    partial = limitrange("cpu", "back", defaultRequest={"cpu": "100m"})
    snap = snapshot(namespaces=[namespace("shop"), namespace("back")], statefulsets=[], daemonsets=[],
                    deployments=[workload("web", containers=bare), workload("api", "back", containers=bare)],
                    limitranges=[full, partial, limitrange("pod", "back", "Pod", max={"memory": "1Gi"})])
    result = run("KC-AVL-011", snap)
    assert verdicts(result) == {("Deployment", "shop", "web"): "pass", ("Deployment", "back", "api"): "fail"}
    assert reason(result, "api") == "container bare lacks requests.memory, limits.memory"


def test_resource_requests_unknown_and_not_applicable():
    kinds = {"deployments": [workload("web")], "statefulsets": [], "daemonsets": []}
    assert run("KC-AVL-011", snapshot(namespaces=[namespace("shop")], limitranges=forbidden("limitranges"),
                                      **kinds)).verdict == "unknown"
    assert run("KC-AVL-011", snapshot(namespaces=[namespace("shop", "x")], limitranges=[],
                                      **kinds)).verdict == "unknown"
    assert run("KC-AVL-011", snapshot("best_effort", namespaces=[namespace("shop")], limitranges=[],
                                      **kinds)).verdict == "not_applicable"
    assert run("KC-AVL-011", snapshot(namespaces=[namespace("shop")], limitranges=[], **kinds)).verdict == "pass"
