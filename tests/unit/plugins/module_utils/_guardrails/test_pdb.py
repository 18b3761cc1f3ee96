"""PodDisruptionBudget planning for multi-replica workloads on hand-written API objects."""

from __future__ import annotations

import copy
import hashlib

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import pdb
from tests.unit.plugins.module_utils._readiness.test_availability import run, snapshot, verdicts

MANAGED = {"app.kubernetes.io/managed-by": "kubecompass.readiness"}


def namespace(name, tier=None, **labels):
    labels = dict(labels, **{"kubernetes.io/metadata.name": name})
    if tier is not None:
        labels["kubecompass.io/tier"] = tier
    return {"metadata": {"name": name, "labels": labels}}


def workload(name, ns="shop", replicas=3, labels=None, selector=None, kind="Deployment"):
    """A Deployment/StatefulSet with ``kind`` set (None leaves it out, as API list items do)."""
    labels = {"app": name} if labels is None else labels
    item = {"metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": dict(labels)} if selector is None else selector,
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{"name": "app"}]}}}}
    if replicas is not None:
        item["spec"]["replicas"] = replicas
    if kind is not None:
        item["kind"] = kind
    return item


def budget(name, ns="shop", selector=None, labels=None, workload=None, **spec):
    """A PodDisruptionBudget; ``workload`` ("Kind/name") sets the kubecompass.io/workload annotation."""
    item = {"metadata": {"name": name, "namespace": ns}, "spec": dict(spec, selector=selector)}
    if labels:
        item["metadata"]["labels"] = labels
    if workload:
        item["metadata"]["annotations"] = {"kubecompass.io/workload": workload}
    return item


NAMESPACES = [namespace("shop", "critical"), namespace("web", "important"), namespace("lab", "best_effort"),
              namespace("kube-system"), namespace("legacy", "critical", **{"kubecompass.io/guardrails": "skip"}),
              namespace("odd", "gold")]


def plan(workloads, pdbs=(), namespaces=None, tiers=("critical", "important"), **kwargs):
    namespaces = NAMESPACES if namespaces is None else namespaces
    return pdb.plan_pdbs(workloads, list(pdbs), namespaces, "important", list(tiers), **kwargs)


def skipped(result):
    return {(s["namespace"], s["name"]): s["code"] for s in result["skipped"]}


def reason_of(result, name):
    return next(s["reason"] for s in result["skipped"] if s["name"] == name)


# -- names and maxUnavailable -----------------------------------------------------------------------------------------

def test_pdb_name_carries_the_kind():
    assert pdb.pdb_name("Deployment", "web") == "web-deployment-kubecompass"
    assert pdb.pdb_name("StatefulSet", "web") == "web-statefulset-kubecompass"


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_pdb_name_truncated_with_hash_keeps_the_kind(kind):
    suffix = "-%s-kubecompass" % kind.lower()
    fits = "a" * (253 - len(suffix))
    assert pdb.pdb_name(kind, fits) == fits + suffix
    assert len(pdb.pdb_name(kind, fits + "a")) == 253
    long_one, long_two = "b" * 250 + "-one", "b" * 250 + "-two"
    first, second = pdb.pdb_name(kind, long_one), pdb.pdb_name(kind, long_two)
    assert len(first) == 253 and len(second) == 253
    assert first.endswith(suffix) and first != second
    assert first == pdb.pdb_name(kind, long_one)
    keep = 253 - len(suffix) - 11
    assert first == "b" * keep + "-" + hashlib.sha256(long_one.encode()).hexdigest()[:10] + suffix
    # A cut landing on "-" or "." is trimmed so the name stays a valid DNS subdomain.
    dashed = "c" * (keep - 1) + "-.d" * 10
    name = pdb.pdb_name(kind, dashed)
    assert name.startswith("c" * (keep - 1) + "-") and name.endswith(suffix)
    assert "--" not in name and ".-" not in name and len(name) <= 253


def test_long_names_of_both_kinds_stay_apart():
    long_name = "w" * 250
    assert pdb.pdb_name("Deployment", long_name) != pdb.pdb_name("StatefulSet", long_name)


@pytest.mark.parametrize("value, stored", [(1, 1), (3, 3), ("25%", "25%"), ("100%", "100%"), (" 50% ", "50%")])
def test_valid_max_unavailable(value, stored):
    assert pdb.validate_max_unavailable(value) == stored


@pytest.mark.parametrize("value", [0, -1, "0%", "101%", "1", "abc", None, True, 1.5])
def test_invalid_max_unavailable_is_an_input_error(value):
    with pytest.raises(KubeCompassError) as error:
        pdb.validate_max_unavailable(value)
    assert error.value.category == "input"


def test_bad_max_unavailable_or_tier_fails_the_plan():
    with pytest.raises(KubeCompassError, match="at least one disruption"):
        plan([workload("web")], max_unavailable="0%")
    with pytest.raises(KubeCompassError, match="'gold' is not a tier"):
        plan([workload("web")], tiers=["gold"])


@pytest.mark.parametrize("value", ["Always", "alwaysallow", "", None, 1])
def test_unknown_unhealthy_pod_eviction_policy_is_an_input_error(value):
    with pytest.raises(KubeCompassError) as error:
        plan([workload("web")], unhealthy_pod_eviction_policy=value)
    assert error.value.category == "input"
    assert "unhealthy_pod_eviction_policy" in str(error.value)


# -- planned objects --------------------------------------------------------------------------------------------------

def test_multi_replica_workload_gets_a_pdb_with_its_own_selector():
    selector = {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable"]}]}
    web = workload("web", labels={"app": "web", "track": "stable"}, selector=selector)
    web["spec"]["selector"]["unexpected"] = "dropped"
    db = workload("db", kind="StatefulSet", replicas=2)
    before = copy.deepcopy([web, db])
    result = plan([web, db], max_unavailable="50%")
    assert result["skipped"] == []
    assert [b["metadata"]["name"] for b in result["create"]] == ["db-statefulset-kubecompass",
                                                                 "web-deployment-kubecompass"]
    assert result["create"][1] == {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web-deployment-kubecompass", "namespace": "shop", "labels": MANAGED,
                     "annotations": {"kubecompass.io/workload": "Deployment/web"}},
        "spec": {"selector": {"matchLabels": {"app": "web"},
                              "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable"]}]},
                 "maxUnavailable": "50%", "unhealthyPodEvictionPolicy": "AlwaysAllow"}}
    assert result["create"][0]["metadata"]["annotations"] == {"kubecompass.io/workload": "StatefulSet/db"}
    assert result["create"][0]["spec"]["maxUnavailable"] == "50%"
    assert result["planned"] == [
        {"kind": "StatefulSet", "namespace": "shop", "name": "db", "pdb": "db-statefulset-kubecompass", "notes": []},
        {"kind": "Deployment", "namespace": "shop", "name": "web", "pdb": "web-deployment-kubecompass", "notes": []}]
    # The selector is a copy: the input workloads are untouched, now and after editing the plan.
    result["create"][1]["spec"]["selector"]["matchExpressions"][0]["values"].append("canary")
    assert [web, db] == before


def test_default_max_unavailable_is_one():
    assert plan([workload("web")])["create"][0]["spec"]["maxUnavailable"] == 1


def test_unhealthy_pods_are_always_evictable_unless_asked_otherwise():
    assert plan([workload("web")])["create"][0]["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    result = plan([workload("web"), workload("db", kind="StatefulSet")],
                  unhealthy_pod_eviction_policy="IfHealthyBudget")
    assert [b["spec"]["unhealthyPodEvictionPolicy"] for b in result["create"]] == ["IfHealthyBudget"] * 2


def test_a_deployment_and_a_statefulset_of_one_name_get_two_budgets():
    web = workload("web", labels={"app": "web", "role": "front"})
    web_db = workload("web", kind="StatefulSet", labels={"app": "web-db"})
    result = plan([web, web_db])
    assert result["skipped"] == []
    assert [(b["metadata"]["name"], b["metadata"]["annotations"]["kubecompass.io/workload"])
            for b in result["create"]] == [("web-deployment-kubecompass", "Deployment/web"),
                                           ("web-statefulset-kubecompass", "StatefulSet/web")]
    assert [(p["kind"], p["pdb"]) for p in result["planned"]] == [
        ("Deployment", "web-deployment-kubecompass"), ("StatefulSet", "web-statefulset-kubecompass")]
    # Applied, both are ours on the next run: each is planned again as it is, neither takes the other's name.
    again = plan([web, web_db], result["create"])
    assert again["skipped"] == [] and again["create"] == result["create"]


def test_workloads_as_a_mapping_of_kind_to_list_items():
    deployments = [workload("web", kind=None)]
    statefulsets = [workload("db", kind=None)]
    daemonsets = [workload("agent", kind=None)]
    result = plan({"deployments": deployments, "StatefulSet": statefulsets, "DaemonSet": daemonsets})
    assert [(p["kind"], p["name"]) for p in result["planned"]] == [("StatefulSet", "db"), ("Deployment", "web")]
    assert skipped(result) == {("shop", "agent"): "unsupported_kind"}
    assert reason_of(result, "agent") == "kind DaemonSet is not a Deployment or StatefulSet"


def test_list_items_without_kind_are_unsupported():
    result = plan([workload("web", kind=None)])
    assert skipped(result) == {("shop", "web"): "unsupported_kind"}


# -- what is skipped and why ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("replicas, shown", [(1, 1), (0, 0), (None, 1)])
def test_fewer_than_two_replicas(replicas, shown):
    result = plan([workload("web", replicas=replicas)])
    assert result["create"] == []
    assert skipped(result) == {("shop", "web"): "too_few_replicas"}
    assert reason_of(result, "web") == "spec.replicas is %d; a budget needs 2 or more replicas" % shown


def test_tiers_are_opt_in():
    workloads = [workload("a", "shop"), workload("b", "web"), workload("c", "lab")]
    result = plan(workloads, tiers=["critical"])
    assert [p["name"] for p in result["planned"]] == ["a"]
    assert skipped(result) == {("web", "b"): "tier_not_opted_in", ("lab", "c"): "tier_not_opted_in"}
    assert reason_of(result, "b") == ("tier important (namespace label kubecompass.io/tier=important) is not opted "
                                      "in (critical)")
    result = plan(workloads, tiers=["best_effort"])
    assert [p["name"] for p in result["planned"]] == ["c"]
    assert all(s["code"] == "tier_not_opted_in" for s in plan(workloads, tiers=[])["skipped"])


def test_cluster_tier_applies_to_unlabelled_namespaces():
    result = pdb.plan_pdbs([workload("web", "plain")], [], [namespace("plain")], "best_effort", ["critical"])
    assert reason_of(result, "web") == "tier best_effort (cluster tier best_effort) is not opted in (critical)"


def test_excluded_unknown_and_invalid_tier_namespaces():
    workloads = [workload("dns", "kube-system"), workload("old", "legacy"), workload("x", "odd"),
                 workload("ghost", "missing")]
    result = plan(workloads)
    assert skipped(result) == {("kube-system", "dns"): "excluded_namespace", ("legacy", "old"): "excluded_namespace",
                               ("odd", "x"): "invalid_tier", ("missing", "ghost"): "unknown_namespace"}
    assert reason_of(result, "dns") == "system namespace"
    assert reason_of(result, "old") == "opted out with label kubecompass.io/guardrails=skip"
    assert "is not a tier" in reason_of(result, "x")
    assert reason_of(result, "ghost") == "namespace missing is not among the listed namespaces"


@pytest.mark.parametrize("selector", [{}, {"matchLabels": {}, "matchExpressions": []}])
def test_empty_selector(selector):
    result = plan([workload("web", selector=selector)])
    assert skipped(result) == {("shop", "web"): "empty_selector"}


def test_missing_selector():
    web = workload("web")
    del web["spec"]["selector"]
    assert skipped(plan([web])) == {("shop", "web"): "empty_selector"}


# -- coverage: the assessment's matching rule -------------------------------------------------------------------------

TEMPLATE = {"app": "web", "tier": "frontend"}


@pytest.mark.parametrize("selector", [
    {"matchLabels": {"app": "web", "tier": "frontend"}},                       # exact
    {"matchLabels": {"app": "web"}},                                           # broader: fewer labels required
    {},                                                                        # policy/v1: every pod in the namespace
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]},
                          {"key": "canary", "operator": "DoesNotExist"}]},
])
def test_a_pdb_selecting_the_pod_template_labels_covers(selector):
    result = plan([workload("web", labels=TEMPLATE)], [budget("user-pdb", selector=selector, maxUnavailable=1)])
    assert result["create"] == []
    assert skipped(result) == {("shop", "web"): "covered"}
    assert reason_of(result, "web") == "PodDisruptionBudget user-pdb selects its pods"


def test_pdbs_that_do_not_cover():
    budgets = [
        budget("null-selector", selector=None),
        budget("other-namespace", ns="web", selector={"matchLabels": {"app": "web"}}),
        budget("narrower", selector={"matchLabels": {"app": "web", "version": "v2"}}),
        budget("unrelated", selector={"matchLabels": {"app": "db"}}),
        budget("bad-operator", selector={"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}),
    ]
    result = plan([workload("web", labels=TEMPLATE)], budgets)
    assert [b["metadata"]["name"] for b in result["create"]] == ["web-deployment-kubecompass"]
    assert result["planned"][0]["notes"] == [
        "PodDisruptionBudget narrower also requires version=v2, which the pod template lacks"]


def test_coverage_agrees_with_the_assessment():
    """KC-AVL-003 passes exactly the workloads the plan reports as covered, and fails exactly those it plans."""
    workloads = [workload("exact", labels={"app": "exact"}), workload("broad", labels={"app": "broad", "x": "1"}),
                 workload("narrow", labels={"app": "narrow"}), workload("none", labels={"app": "none"})]
    budgets = [budget("p-exact", selector={"matchLabels": {"app": "exact"}}),
               budget("p-broad", selector={"matchLabels": {"app": "broad"}}),
               budget("p-narrow", selector={"matchLabels": {"app": "narrow", "extra": "y"}})]
    snap = snapshot("critical", namespaces=[namespace("shop")], deployments=[dict(w) for w in workloads],
                    statefulsets=[], poddisruptionbudgets=budgets)
    assessed = {name: verdict for (kind, ns, name), verdict in verdicts(run("KC-AVL-003", snap)).items()}
    result = pdb.plan_pdbs(workloads, budgets, [namespace("shop")], "critical", ["critical"])
    assert {n for n, v in assessed.items() if v == "pass"} == {s["name"] for s in result["skipped"]
                                                               if s["code"] == "covered"}
    assert {n for n, v in assessed.items() if v == "fail"} == {p["name"] for p in result["planned"]}


# -- names in use and overlaps ----------------------------------------------------------------------------------------

def test_a_user_pdb_with_our_name_that_does_not_cover_blocks_the_name():
    theirs = budget("web-deployment-kubecompass", selector={"matchLabels": {"app": "other"}})
    result = plan([workload("web")], [theirs])
    assert skipped(result) == {("shop", "web"): "name_taken"}
    assert reason_of(result, "web") == ("a PodDisruptionBudget named web-deployment-kubecompass exists and is not "
                                        "managed by kubecompass")


def test_a_user_pdb_with_our_name_that_covers_is_coverage():
    theirs = budget("web-deployment-kubecompass", selector={"matchLabels": {"app": "web"}})
    assert skipped(plan([workload("web")], [theirs])) == {("shop", "web"): "covered"}


@pytest.mark.parametrize("owner, shown", [
    ("StatefulSet/web", "StatefulSet/web"),
    ("Deployment/other", "Deployment/other"),
    (None, "no workload (annotation kubecompass.io/workload missing)"),
])
def test_a_managed_pdb_with_our_name_made_for_another_workload_blocks_the_name(owner, shown):
    """Our name and label are not enough: the annotation must name this very workload."""
    foreign = budget("web-deployment-kubecompass", selector={"matchLabels": {"app": "web-db"}}, labels=MANAGED,
                     workload=owner, maxUnavailable=1)
    result = plan([workload("web")], [foreign])
    assert result["create"] == []
    assert skipped(result) == {("shop", "web"): "name_taken"}
    assert reason_of(result, "web") == ("a PodDisruptionBudget named web-deployment-kubecompass exists and "
                                        "kubecompass manages it for %s, not Deployment/web" % shown)


@pytest.mark.parametrize("selector", [{"matchLabels": {"app": "web"}}, {"matchLabels": {"app": "old-name"}}])
def test_our_existing_pdb_is_planned_again(selector):
    ours = budget("web-deployment-kubecompass", selector=selector, labels=MANAGED, workload="Deployment/web",
                  maxUnavailable=1, unhealthyPodEvictionPolicy="IfHealthyBudget")
    result = plan([workload("web")], [ours], max_unavailable=2)
    assert result["skipped"] == [] and result["planned"][0]["notes"] == []
    assert result["create"][0]["spec"] == {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 2,
                                           "unhealthyPodEvictionPolicy": "AlwaysAllow"}


def test_a_budget_under_the_name_before_the_kind_was_in_it_counts_as_coverage():
    """A budget of an earlier version (``<name>-kubecompass``) is not renamed: it covers until deleted."""
    legacy = budget("web-kubecompass", selector={"matchLabels": {"app": "web"}}, labels=MANAGED,
                    workload="Deployment/web", maxUnavailable=1)
    result = plan([workload("web")], [legacy])
    assert skipped(result) == {("shop", "web"): "covered"}
    assert reason_of(result, "web") == "PodDisruptionBudget web-kubecompass selects its pods"


def test_a_user_pdb_covering_next_to_ours_wins():
    ours = budget("web-deployment-kubecompass", selector={"matchLabels": {"app": "web"}}, labels=MANAGED,
                  workload="Deployment/web")
    theirs = budget("team", selector={"matchLabels": {"app": "web"}})
    result = plan([workload("web")], [ours, theirs])
    assert reason_of(result, "web") == "PodDisruptionBudget team selects its pods"


def test_overlapping_selectors_get_no_budget():
    shared = {"matchLabels": {"team": "shop"}}
    api = workload("api", labels={"team": "shop", "app": "api"}, selector=shared)
    worker = workload("worker", labels={"team": "shop", "app": "worker"}, selector={"matchLabels": {"app": "worker"}})
    other_ns = workload("api", ns="web", labels={"team": "shop", "app": "api"})
    result = plan([api, worker, other_ns])
    assert skipped(result) == {("shop", "api"): "overlapping_selector"}
    assert reason_of(result, "api").startswith("spec.selector also selects the pods of Deployment worker")
    assert [(p["namespace"], p["name"]) for p in result["planned"]] == [("shop", "worker"), ("web", "api")]
