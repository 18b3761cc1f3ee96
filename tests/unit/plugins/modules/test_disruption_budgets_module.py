"""disruption_budgets module: PodDisruptionBudgets for uncovered multi-replica workloads, opt-in per tier."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import disruption_budgets
from tests.unit.plugins.modules.test_pod_security_module import (
    FakeClient,
    namespace,
    only_reads_and_dry_runs,
    run_main,
)

PDB = "/apis/policy/v1/namespaces/%s/poddisruptionbudgets/%s"


def workload(kind, ns, name, replicas, labels=None):
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels, tier="backend")},
                                  "spec": {"containers": [{"name": name, "image": "registry.example/%s:1" % name}]}}}}


def budget(ns, name, match_labels):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": ns},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": match_labels}}}


def params(**overrides):
    base = {"tier": "important", "tiers": ["critical", "important"], "max_unavailable": 1,
            "unhealthy_pod_eviction_policy": "AlwaysAllow", "waivers": [], "cluster_name": None}
    base.update(overrides)
    return base


def cluster(**options):
    return FakeClient([
        namespace("kube-system"), workload("Deployment", "kube-system", "coredns", 2),
        namespace("shop", **{"kubecompass.io/tier": "critical"}),
        workload("Deployment", "shop", "web", 3), workload("StatefulSet", "shop", "db", 2),
        workload("Deployment", "shop", "cron-ui", 1),
        workload("Deployment", "shop", "cart", 2), budget("shop", "cart", {"app": "cart"}),
        namespace("lab", **{"kubecompass.io/tier": "best_effort"}), workload("Deployment", "lab", "demo", 2),
        namespace("api"), workload("Deployment", "api", "gateway", 2),
    ], **options)


def codes(result):
    return {(s["namespace"], s["name"]): s["code"] for s in result["left_alone"]}


def test_check_mode_sends_only_reads_and_dry_runs_and_reports_what_would_be_created():
    client = cluster()
    before = copy.deepcopy(client.objects)
    result = disruption_budgets.run(client, params(), check_mode=True)
    assert only_reads_and_dry_runs(client) and client.objects == before
    assert result["changed"] is True
    assert result["created"] == ["api/gateway-deployment-kubecompass", "shop/db-statefulset-kubecompass", "shop/web-deployment-kubecompass"]
    assert [d["before_header"] for d in result["diff"]] == [
        "PodDisruptionBudget api/gateway-deployment-kubecompass", "PodDisruptionBudget shop/db-statefulset-kubecompass",
        "PodDisruptionBudget shop/web-deployment-kubecompass"]
    assert json.loads(result["diff"][0]["after"])["spec"]["maxUnavailable"] == 1
    assert [c[1] for c in client.calls if c[0] == "LIST"] == [
        "/apis/apps/v1/deployments", "/apis/apps/v1/statefulsets", "/apis/policy/v1/poddisruptionbudgets",
        "/api/v1/namespaces"]


def test_budgets_are_applied_with_the_workload_selector_and_skips_carry_their_code():
    client = cluster()
    result = disruption_budgets.run(client, params(), check_mode=False)
    stored = client.stored(PDB % ("shop", "web-deployment-kubecompass"))
    assert stored["spec"] == {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1,
                              "unhealthyPodEvictionPolicy": "AlwaysAllow"}
    assert stored["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubecompass.readiness"}
    assert client.stored(PDB % ("shop", "db-statefulset-kubecompass"))["metadata"]["annotations"] == {
        "kubecompass.io/workload": "StatefulSet/db"}
    assert codes(result) == {("kube-system", "coredns"): "excluded_namespace", ("lab", "demo"): "tier_not_opted_in",
                             ("shop", "cart"): "covered", ("shop", "cron-ui"): "too_few_replicas"}
    assert {(p["namespace"], p["name"], p["action"], p["error"]) for p in result["planned"]} == {
        ("api", "gateway", "created", None), ("shop", "db", "created", None), ("shop", "web", "created", None)}
    assert all(c[2]["fieldManager"] == ["kubecompass"] for c in client.writes())


def test_a_second_run_changes_nothing_and_a_changed_max_unavailable_updates():
    client = cluster()
    disruption_budgets.run(client, params(), check_mode=False)
    client.calls.clear()
    result = disruption_budgets.run(client, params(), check_mode=False)
    assert result["changed"] is False and client.writes() == [] and result["created"] == []
    assert {p["action"] for p in result["planned"]} == {"unchanged"}
    result = disruption_budgets.run(client, params(max_unavailable="25%"), check_mode=False)
    assert {p["action"] for p in result["planned"]} == {"updated"} and result["created"] == []
    assert client.stored(PDB % ("api", "gateway-deployment-kubecompass"))["spec"]["maxUnavailable"] == "25%"


def test_only_the_opted_in_tiers_get_budgets():
    client = cluster()
    result = disruption_budgets.run(client, params(tiers=["best_effort"]), check_mode=False)
    assert result["created"] == ["lab/demo-deployment-kubecompass"]
    assert codes(result)[("shop", "web")] == "tier_not_opted_in"
    client = cluster()
    result = disruption_budgets.run(client, params(tiers=[]), check_mode=False)
    assert result["planned"] == [] and client.writes() == []


def test_max_unavailable_digits_become_an_integer_and_zero_is_refused_before_any_write():
    client = cluster()
    disruption_budgets.run(client, params(max_unavailable="2"), check_mode=False)
    assert client.stored(PDB % ("api", "gateway-deployment-kubecompass"))["spec"]["maxUnavailable"] == 2
    for bad in (0, "0%", "many", "150%"):
        client = cluster()
        with pytest.raises(KubeCompassError) as raised:
            disruption_budgets.run(client, params(max_unavailable=bad), check_mode=False)
        assert raised.value.category == "input" and client.writes() == []


def test_a_failing_namespace_is_reported_and_the_others_are_handled():
    client = cluster(fail={PDB % ("shop", "db-statefulset-kubecompass"): 403, PDB % ("api", "gateway-deployment-kubecompass"): 404})
    result = disruption_budgets.run(client, params(), check_mode=False)
    assert result["failed_namespaces"]["api"] == "namespace no longer exists"
    assert result["failed_namespaces"]["shop"].startswith("PodDisruptionBudget shop/db-statefulset-kubecompass: forbidden")
    planned = {p["name"]: p for p in result["planned"]}
    assert planned["db"]["action"] is None and planned["db"]["error"] == result["failed_namespaces"]["shop"]
    assert planned["web"]["action"] is None  # same namespace, after the failure: not attempted
    client = cluster(fail={PDB % ("api", "gateway-deployment-kubecompass"): 404})
    result = disruption_budgets.run(client, params(), check_mode=False)
    assert result["created"] == ["shop/db-statefulset-kubecompass", "shop/web-deployment-kubecompass"]


def test_main_requires_tiers_and_fails_naming_the_failed_namespace(monkeypatch, capsys):
    code, result, warned = run_main(
        disruption_budgets, monkeypatch, capsys, cluster(), host="https://fake:6443")
    assert code == 1 and "tiers" in result["msg"]
    client = cluster(fail={PDB % ("api", "gateway-deployment-kubecompass"): 403})
    code, result, warned = run_main(
        disruption_budgets, monkeypatch, capsys, client, host="https://fake:6443",
        tiers=["critical", "important"], max_unavailable="1")
    assert code == 1 and "(api: PodDisruptionBudget api/gateway-deployment-kubecompass: forbidden" in result["msg"]
    assert result["created"] == ["shop/db-statefulset-kubecompass", "shop/web-deployment-kubecompass"]


def test_a_deployment_and_a_statefulset_of_one_name_keep_their_own_budgets_run_after_run():
    client = cluster()
    client.add(workload("StatefulSet", "shop", "web", 2, labels={"app": "web-store"}))
    result = disruption_budgets.run(client, params(), check_mode=False)
    assert {"shop/web-deployment-kubecompass", "shop/web-statefulset-kubecompass"} <= set(result["created"])
    assert client.stored(PDB % ("shop", "web-deployment-kubecompass"))["metadata"]["annotations"] == {
        "kubecompass.io/workload": "Deployment/web"}
    stored = client.stored(PDB % ("shop", "web-statefulset-kubecompass"))
    assert stored["metadata"]["annotations"] == {"kubecompass.io/workload": "StatefulSet/web"}
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "web-store"}}
    client.calls.clear()
    result = disruption_budgets.run(client, params(), check_mode=False)
    assert result["changed"] is False and client.writes() == []


def test_unhealthy_pod_eviction_policy_is_applied_and_a_change_updates():
    client = cluster()
    disruption_budgets.run(client, params(), check_mode=False)
    result = disruption_budgets.run(client, params(unhealthy_pod_eviction_policy="IfHealthyBudget"), check_mode=False)
    assert {p["action"] for p in result["planned"]} == {"updated"}
    assert client.stored(PDB % ("shop", "web-deployment-kubecompass"))["spec"]["unhealthyPodEvictionPolicy"] == (
        "IfHealthyBudget")


def test_main_defaults_to_always_allow_and_refuses_other_policies(monkeypatch, capsys):
    client = cluster()
    code, result, warned = run_main(disruption_budgets, monkeypatch, capsys, client, host="https://fake:6443",
                                    tiers=["critical"])
    assert code == 0
    assert client.stored(PDB % ("shop", "web-deployment-kubecompass"))["spec"]["unhealthyPodEvictionPolicy"] == (
        "AlwaysAllow")
    client = cluster()
    code, result, warned = run_main(disruption_budgets, monkeypatch, capsys, client, host="https://fake:6443",
                                    tiers=["critical"], unhealthy_pod_eviction_policy="Never")
    assert code == 1 and "unhealthy_pod_eviction_policy" in result["msg"] and client.writes() == []


def test_an_object_waiver_leaves_its_workload_without_a_budget_and_an_expired_one_does_not():
    waiver = {"check": "KC-AVL-003", "reason": "single-writer, drained by hand", "owner": "team-shop",
              "ticket": "OPS-2004", "expires": "2099-06-30",
              "object": {"kind": "StatefulSet", "name": "db", "namespace": "shop"}}
    client = cluster()
    result = disruption_budgets.run(client, params(waivers=[waiver], cluster_name="c1"), check_mode=False)
    assert client.stored(PDB % ("shop", "db-statefulset-kubecompass")) is None
    assert client.stored(PDB % ("shop", "web-deployment-kubecompass")) is not None
    db = [s for s in result["left_alone"] if s["name"] == "db"][0]
    assert (db["code"], db["reason"], db["waiver"]["ticket"]) == (
        "waived", "waived by OPS-2004 until 2099-06-30", "OPS-2004")
    client = cluster()
    result = disruption_budgets.run(client, params(waivers=[dict(waiver, expires="2020-01-01")], cluster_name="c1"),
                                    check_mode=False)
    assert client.stored(PDB % ("shop", "db-statefulset-kubecompass")) is not None
    assert [w["ticket"] for w in result["expired_waivers"]] == ["OPS-2004"]


def test_a_namespace_waiver_covers_every_workload_there():
    waiver = {"check": "KC-AVL-003", "reason": "batch namespace", "owner": "team-api", "ticket": "OPS-2005",
              "expires": "2099-06-30", "namespace": "api"}
    result = disruption_budgets.run(cluster(), params(waivers=[waiver], cluster_name="c1"), check_mode=True)
    assert codes(result)[("api", "gateway")] == "waived" and "api/gateway-deployment-kubecompass" not in result["created"]
