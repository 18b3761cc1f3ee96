"""Namespace guardrail planning (ResourceQuota, LimitRange, default ServiceAccount) on hand-written API objects."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import quota

ALL_TIERS = ("critical", "important", "best_effort")
MANAGED = {"app.kubernetes.io/managed-by": "kubecompass.readiness"}


# -- builders (plain dicts shaped as the API lists them: no kind, no apiVersion) -------------------------------------

def namespace(name, tier=None, **labels):
    labels = dict(labels, **{"kubernetes.io/metadata.name": name})
    if tier is not None:
        labels["kubecompass.io/tier"] = tier
    return {"metadata": {"name": name, "labels": labels}, "status": {"phase": "Active"}}


def resource_quota(name, ns, hard=None, labels=None, **spec):
    item = {"metadata": {"name": name, "namespace": ns}, "spec": dict(spec)}
    if hard is not None:
        item["spec"]["hard"] = hard
    if labels:
        item["metadata"]["labels"] = labels
    return item


def limit_range(name, ns, *limits, labels=None):
    item = {"metadata": {"name": name, "namespace": ns}, "spec": {"limits": list(limits)}}
    if labels:
        item["metadata"]["labels"] = labels
    return item


def container_item(**fields):
    return dict(fields, type="Container")


def service_account(ns, name="default", automount=None):
    item = {"metadata": {"name": name, "namespace": ns}}
    if automount is not None:
        item["automountServiceAccountToken"] = automount
    return item


def pod(name, ns, account=None, automount=None, legacy_account=None):
    spec = {"containers": [{"name": "app", "image": "registry.example.com/app:1"}]}
    if account is not None:
        spec["serviceAccountName"] = account
    if legacy_account is not None:
        spec["serviceAccount"] = legacy_account
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def plan(namespaces, quotas=(), limit_ranges=(), accounts=(), pods=(), cluster_tier="important", tiers=ALL_TIERS,
         excluded=(), overrides=None):
    return quota.plan_guardrails(list(namespaces), list(quotas), list(limit_ranges), list(accounts), list(pods),
                                 cluster_tier, list(tiers), list(excluded), overrides)


def entry(result, name):
    return next(e for e in result["namespaces"] if e["namespace"] == name)


def kinds(entry_):
    return [(o["kind"], o["metadata"]["name"]) for o in entry_["create"]]


# -- quantities -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("250m", Fraction(1, 4)), ("1", Fraction(1)), (4, Fraction(4)), ("1Ki", Fraction(1024)),
    ("1.5Gi", Fraction(3 * 1024 ** 3, 2)), ("2e3", Fraction(2000)), ("1E3", Fraction(1000)),
    ("1E", Fraction(10 ** 18)), ("5M", Fraction(5 * 10 ** 6)), (".5", Fraction(1, 2)), ("100n", Fraction(1, 10 ** 7)),
    ("16000m", Fraction(16)), (" 2 ", Fraction(2)),
])
def test_parse_quantity(value, expected):
    assert quota.parse_quantity(value) == expected


@pytest.mark.parametrize("value", ["abc", "1e", "1Gb", "", None, True, "1.2.3", "Mi"])
def test_parse_quantity_rejects_what_is_not_a_quantity(value):
    assert quota.parse_quantity(value) is None


# -- defaults and overrides -------------------------------------------------------------------------------------------

def test_defaults_cover_every_tier_resource_and_a_valid_limit_order():
    wanted = {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods", "services.loadbalancers",
              "persistentvolumeclaims"}
    order = ("defaultRequest", "default", "max")
    for tier in ALL_TIERS:
        spec = quota.DEFAULTS[tier]
        assert set(spec["quota"]) == wanted
        assert all(quota.parse_quantity(v) is not None for v in spec["quota"].values())
        for resource in ("cpu", "memory"):
            values = [quota.parse_quantity(spec["limit_range"][field][resource]) for field in order]
            assert values == sorted(values)
            # limits quota is at least the requests quota, and one max-sized container fits the quota.
            assert quota.parse_quantity(spec["quota"]["limits.%s" % resource]) >= quota.parse_quantity(
                spec["quota"]["requests.%s" % resource]) >= values[-1]
    for resource in wanted:
        sizes = [quota.parse_quantity(quota.DEFAULTS[t]["quota"][resource]) for t in ALL_TIERS]
        assert sizes == sorted(sizes, reverse=True), resource


def test_guardrail_defaults_merge_overrides_without_touching_defaults():
    before = copy.deepcopy(quota.DEFAULTS)
    table = quota.guardrail_defaults({
        "critical": {"quota": {"pods": "500", "services.loadbalancers": None, "count/secrets": "100"}},
        "best_effort": {"limit_range": {"max": {"cpu": "2"}, "min": {"memory": "16Mi"}}},
        "namespaces": {"ignored": {"quota": {"pods": "1"}}},
    })
    assert table["critical"]["quota"]["pods"] == "500"
    assert "services.loadbalancers" not in table["critical"]["quota"]
    assert table["critical"]["quota"]["count/secrets"] == "100"
    assert table["best_effort"]["limit_range"]["max"] == {"cpu": "2", "memory": "2Gi"}
    assert table["best_effort"]["limit_range"]["min"] == {"memory": "16Mi"}
    assert table["important"] == before["important"]
    assert before == quota.DEFAULTS
    assert quota.guardrail_defaults() == before


@pytest.mark.parametrize("overrides, message", [
    ("nope", "must be a mapping of tier"),
    ({"gold": {}}, "unknown key 'gold'"),
    ({"critical": "big"}, "must be a mapping with quota"),
    ({"critical": {"quotas": {}}}, "unknown key 'quotas'"),
    ({"critical": {"quota": ["pods"]}}, "must be a mapping of resource"),
    ({"critical": {"quota": {"pods": "many"}}}, "'many' is not a Kubernetes quantity"),
    ({"critical": {"limit_range": "x"}}, "limit_range must be a mapping"),
    ({"critical": {"limit_range": {"maxLimitRequestRatio": {}}}}, "unknown field 'maxLimitRequestRatio'"),
    ({"critical": {"limit_range": {"defaultRequest": {"cpu": "2"}}}}, "defaultRequest.cpu 2 is above default.cpu 1"),
    ({"critical": {"limit_range": {"min": {"memory": "16Gi"}}}}, "min.memory 16Gi is above defaultRequest.memory"),
    ({"namespaces": ["shop"]}, "namespaces must be a mapping"),
])
def test_guardrail_defaults_reject_bad_overrides(overrides, message):
    with pytest.raises(KubeCompassError) as error:
        quota.guardrail_defaults(overrides)
    assert message in str(error.value)
    assert error.value.category == "input"


def test_bad_namespace_override_is_reported_when_its_namespace_is_planned():
    with pytest.raises(KubeCompassError, match="overrides.namespaces.shop.quota.pods"):
        plan([namespace("shop")], overrides={"namespaces": {"shop": {"quota": {"pods": "lots"}}}})


def test_unknown_tier_in_tiers_is_an_input_error():
    with pytest.raises(KubeCompassError, match="'gold' is not a tier"):
        plan([namespace("shop")], tiers=["critical", "gold"])


# -- creation ---------------------------------------------------------------------------------------------------------

def test_empty_namespace_gets_limit_range_first_then_quota_at_its_tier():
    result = plan([namespace("shop", "critical"), namespace("lab")], cluster_tier="best_effort")
    shop, lab = entry(result, "shop"), entry(result, "lab")
    assert (shop["tier"], lab["tier"]) == ("critical", "best_effort")
    assert "namespace label" in shop["tier_rule"] and "cluster tier" in lab["tier_rule"]
    assert kinds(shop) == [("LimitRange", "kubecompass-limits"), ("ResourceQuota", "kubecompass-quota")]
    limits, hard = shop["create"]
    assert limits == {
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": {"name": "kubecompass-limits", "namespace": "shop", "labels": MANAGED},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "1", "memory": "1Gi"},
                             "defaultRequest": {"cpu": "250m", "memory": "256Mi"},
                             "max": {"cpu": "4", "memory": "8Gi"}}]}}
    assert hard["apiVersion"] == "v1" and hard["metadata"] == {"name": "kubecompass-quota", "namespace": "shop",
                                                               "labels": MANAGED}
    assert hard["spec"]["hard"] == quota.DEFAULTS["critical"]["quota"]
    assert lab["create"][1]["spec"]["hard"] == quota.DEFAULTS["best_effort"]["quota"]
    assert shop["weaker"] == [] and result["skipped"] == []
    # The planned objects are copies: changing one does not change the defaults.
    hard["spec"]["hard"]["pods"] = "1"
    assert quota.DEFAULTS["critical"]["quota"]["pods"] == "200"


def test_namespaces_are_sorted_and_overrides_apply_per_tier_and_per_namespace():
    result = plan([namespace("zeta"), namespace("alpha")], overrides={
        "important": {"quota": {"pods": "300"}},
        "namespaces": {"zeta": {"quota": {"pods": "900"}, "limit_range": {"max": {"memory": None}}}},
    })
    assert [e["namespace"] for e in result["namespaces"]] == ["alpha", "zeta"]
    assert entry(result, "alpha")["create"][1]["spec"]["hard"]["pods"] == "300"
    zeta = entry(result, "zeta")
    assert zeta["create"][1]["spec"]["hard"]["pods"] == "900"
    assert zeta["create"][0]["spec"]["limits"][0]["max"] == {"cpu": "2"}


def test_nothing_to_create_when_overrides_empty_a_kind():
    empty_quota = {resource: None for resource in quota.DEFAULTS["important"]["quota"]}
    empty_limits = {field: {"cpu": None, "memory": None} for field in ("default", "defaultRequest", "max")}
    result = plan([namespace("shop")], overrides={"important": {"quota": empty_quota, "limit_range": empty_limits}})
    assert entry(result, "shop")["create"] == []


def test_existing_user_objects_are_never_planned_and_never_changed():
    user_quota = resource_quota("compute", "shop", {"requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8",
                                                    "limits.memory": "16Gi", "pods": "50",
                                                    "services.loadbalancers": "0", "persistentvolumeclaims": "10"})
    user_limits = limit_range("defaults", "web", container_item(
        default={"cpu": "500m", "memory": "512Mi"}, defaultRequest={"cpu": "100m", "memory": "128Mi"},
        max={"cpu": "2", "memory": "4Gi"}))
    inputs = [user_quota, user_limits]
    snapshot = copy.deepcopy(inputs)
    result = plan([namespace("shop"), namespace("web")], quotas=[user_quota], limit_ranges=[user_limits])
    assert kinds(entry(result, "shop")) == [("LimitRange", "kubecompass-limits")]
    assert kinds(entry(result, "web")) == [("ResourceQuota", "kubecompass-quota")]
    assert entry(result, "shop")["weaker"] == [] and entry(result, "web")["weaker"] == []
    assert inputs == snapshot


def test_own_objects_alone_are_planned_again_so_a_tier_change_reaches_them():
    ours_quota = resource_quota("kubecompass-quota", "shop", {"pods": "50"}, labels=MANAGED)
    ours_limits = limit_range("kubecompass-limits", "shop", container_item(max={"cpu": "1"}), labels=MANAGED)
    shop = entry(plan([namespace("shop", "critical")], quotas=[ours_quota], limit_ranges=[ours_limits]), "shop")
    assert kinds(shop) == [("LimitRange", "kubecompass-limits"), ("ResourceQuota", "kubecompass-quota")]
    assert shop["create"][1]["spec"]["hard"]["pods"] == "200"
    assert shop["weaker"] == []


def test_a_user_object_named_like_ours_without_our_label_is_the_users():
    theirs = resource_quota("kubecompass-quota", "shop", {"pods": "10"})
    shop = entry(plan([namespace("shop")], quotas=[theirs]), "shop")
    assert kinds(shop) == [("LimitRange", "kubecompass-limits")]
    assert "ResourceQuota kubecompass-quota does not limit requests.cpu (important default 8)" in shop["weaker"]


def test_own_object_next_to_a_user_object_is_left_alone_and_judged_with_it():
    ours = resource_quota("kubecompass-quota", "shop", dict(quota.DEFAULTS["critical"]["quota"]), labels=MANAGED)
    theirs = resource_quota("team", "shop", {"pods": "1000"})
    shop = entry(plan([namespace("shop", "critical")], quotas=[ours, theirs]), "shop")
    assert kinds(shop) == [("LimitRange", "kubecompass-limits")]
    # Both quotas apply, so ours (stricter) is the effective cap and nothing is weaker.
    assert shop["weaker"] == []


# -- weaker than the tier default -------------------------------------------------------------------------------------

def test_weaker_quota_values_and_missing_resources_are_reported():
    theirs = resource_quota("compute", "shop", {"cpu": "64", "requests.memory": "32Gi", "limits.cpu": "64000m",
                                                "limits.memory": "1Ti", "pods": "200",
                                                "count/persistentvolumeclaims": "40"})
    shop = entry(plan([namespace("shop", "critical")], quotas=[theirs]), "shop")
    assert shop["weaker"] == [
        "ResourceQuota compute: limits.cpu 64000m is above the critical default 32",
        "ResourceQuota compute: limits.memory 1Ti is above the critical default 64Gi",
        "ResourceQuota compute: requests.cpu 64 is above the critical default 16",
        "ResourceQuota compute does not limit services.loadbalancers (critical default 2)",
    ]


def test_quotas_combine_to_the_tightest_cap_and_aliases_fold():
    loose = resource_quota("loose", "shop", {"requests.cpu": "100", "pods": "1000"})
    tight = resource_quota("tight", "shop", {"cpu": "2", "requests.cpu": "50", "pods": "10"})
    weaker = quota.weaker_quota([loose, tight], {"requests.cpu": "4", "pods": "20"}, "important")
    assert weaker == []
    weaker = quota.weaker_quota([loose, tight], {"requests.cpu": "1", "pods": "5"}, "important")
    assert weaker == ["ResourceQuota tight: pods 10 is above the important default 5",
                      "ResourceQuota tight: requests.cpu 2 is above the important default 1"]


def test_scoped_quota_does_not_cap_the_namespace():
    scoped = resource_quota("best-effort-pods", "shop", {"pods": "10"}, scopes=["BestEffort"])
    selected = resource_quota("high", "shop", {"requests.cpu": "1"},
                              scopeSelector={"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                                                   "values": ["high"]}]})
    weaker = quota.weaker_quota([scoped, selected], {"pods": "50", "requests.cpu": "4", "limits.cpu": "8"}, "important")
    assert weaker == [
        "ResourceQuota best-effort-pods, high does not limit limits.cpu (important default 8)",
        "ResourceQuota best-effort-pods limits pods only for pods in its scope (important default 50)",
        "ResourceQuota high limits requests.cpu only for pods in its scope (important default 4)",
    ]


def test_quota_without_hard_and_with_unparseable_values():
    empty = resource_quota("placeholder", "shop")
    assert quota.weaker_quota([empty], {"pods": "50"}, "important") == [
        "ResourceQuota placeholder does not limit pods (important default 50)"]
    odd = resource_quota("odd", "shop", {"pods": "lots", "count/persistentvolumeclaims": "bad",
                                         "persistentvolumeclaims": "5"})
    assert quota.weaker_quota([odd], {"pods": "50", "persistentvolumeclaims": "10"}, "important") == [
        "ResourceQuota odd: pods 'lots' is not a quantity, cannot compare with the important default 50"]
    # A parseable alias beats an unparseable one whatever the order.
    odd["spec"]["hard"] = {"persistentvolumeclaims": "bad", "count/persistentvolumeclaims": "50"}
    assert quota.weaker_quota([odd], {"persistentvolumeclaims": "10"}, "important") == [
        "ResourceQuota odd: persistentvolumeclaims 50 is above the important default 10"]


def test_weaker_limit_ranges():
    wanted = quota.DEFAULTS["important"]["limit_range"]
    partial = limit_range("partial", "shop",
                          container_item(defaultRequest={"cpu": "100m"}, default={"cpu": "1"}, max={"cpu": "8"}),
                          {"type": "Pod", "max": {"memory": "1Gi"}})
    other = limit_range("other", "shop", container_item(defaultRequest={"memory": "64Mi"}, max={"cpu": "4"}))
    assert quota.weaker_limit_ranges([partial, other], wanted, "important") == [
        "LimitRange other, partial sets no container default limit for memory (important default 512Mi)",
        "LimitRange other: container max cpu 4 is above the important default 2",
        "LimitRange other, partial sets no container max for memory (important default 4Gi)",
    ]
    pod_only = limit_range("pods", "shop", {"type": "Pod", "max": {"cpu": "1"}})
    assert len(quota.weaker_limit_ranges([pod_only], wanted, "important")) == 6
    odd = limit_range("odd", "shop", container_item(defaultRequest={"cpu": "1m", "memory": "1Mi"},
                                                    default={"cpu": "1m", "memory": "1Mi"},
                                                    max={"cpu": "huge", "memory": "1Gi"}))
    assert quota.weaker_limit_ranges([odd], wanted, "important") == [
        "LimitRange odd: max cpu 'huge' is not a quantity, cannot compare with the important default 2"]


def test_weaker_findings_come_from_plan_for_both_kinds():
    shop = entry(plan([namespace("shop")], quotas=[resource_quota("q", "shop", {"pods": "500"})],
                      limit_ranges=[limit_range("l", "shop", container_item(max={"cpu": "1"}))]), "shop")
    assert shop["create"] == []
    assert "LimitRange l sets no container default request for cpu (important default 100m)" in shop["weaker"]
    assert "ResourceQuota q: pods 500 is above the important default 100" in shop["weaker"]
    # LimitRange findings come first, as the LimitRange is planned first.
    assert shop["weaker"][0].startswith("LimitRange")


# -- scope ------------------------------------------------------------------------------------------------------------

def test_excluded_opted_out_terminating_and_unselected_namespaces_are_skipped_with_reasons():
    terminating = namespace("leaving")
    terminating["status"]["phase"] = "Terminating"
    deleted = namespace("deleted")
    deleted["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    result = plan([namespace("kube-system"), namespace("kube-public"), namespace("team-a"), namespace("team-b"),
                   namespace("ci-runner"), namespace("legacy", **{"kubecompass.io/guardrails": "skip"}),
                   namespace("kept", **{"kubecompass.io/guardrails": "yes"}), terminating, deleted,
                   namespace("bad", "gold"), namespace("lab", "best_effort"), namespace("shop")],
                  tiers=["critical", "important"], excluded=["team-*", "ci-?unner"])
    assert [e["namespace"] for e in result["namespaces"]] == ["kept", "shop"]
    reasons = {s["namespace"]: s["reason"] for s in result["skipped"]}
    assert reasons == {
        "kube-system": "system namespace", "kube-public": "system namespace",
        "team-a": "excluded by pattern 'team-*'", "team-b": "excluded by pattern 'team-*'",
        "ci-runner": "excluded by pattern 'ci-?unner'",
        "legacy": "opted out with label kubecompass.io/guardrails=skip",
        "leaving": "namespace is terminating", "deleted": "namespace is terminating",
        "bad": reasons["bad"],
        "lab": "tier best_effort (namespace label kubecompass.io/tier=best_effort) is not one of critical, important",
    }
    assert "kubecompass.io/tier='gold' is not a tier" in reasons["bad"]
    assert [s["namespace"] for s in result["skipped"]] == sorted(reasons)


def test_glob_patterns_are_case_sensitive_and_no_tiers_selects_nothing():
    result = plan([namespace("Team-A"), namespace("shop")], excluded=["team-*"], tiers=[])
    assert result["namespaces"] == []
    reason = "tier important (cluster tier important) is not one of the selected tiers"
    assert result["skipped"][0] == {"namespace": "Team-A", "reason": reason}


# -- default ServiceAccount and token pods ----------------------------------------------------------------------------

def test_default_service_account_patch_only_when_needed_and_an_explicit_true_is_held():
    result = plan([namespace("none"), namespace("unset"), namespace("true"), namespace("false")], accounts=[
        service_account("unset"), service_account("true", automount=True), service_account("false", automount=False),
        service_account("none", name="builder"), service_account("unset", name="builder", automount=True)])
    patch = {"automountServiceAccountToken": False}
    nothing = {"patch": None, "held": None, "forced": None}
    assert entry(result, "none")["service_account"] == dict(nothing, exists=False)
    assert entry(result, "unset")["service_account"] == dict(nothing, exists=True, patch=patch)
    assert entry(result, "false")["service_account"] == dict(nothing, exists=True)
    # true was set by someone on purpose: reported, not overwritten.
    explicit = "the default ServiceAccount sets automountServiceAccountToken: true explicitly"
    assert entry(result, "true")["service_account"] == dict(nothing, exists=True, held=explicit)
    forced = quota.plan_guardrails([namespace("true")], [], [], [service_account("true", automount=True)], [],
                                   "important", ALL_TIERS, [], force=["service_account"])
    assert entry(forced, "true")["service_account"] == dict(nothing, exists=True, patch=patch, forced=explicit)


def test_service_account_patch_is_held_while_running_pods_get_the_token_from_it():
    pods = [pod("inherits", "shop"), pod("own-setting", "shop", automount=True), pod("builder", "shop", "builder"),
            dict(pod("finished", "shop"), status={"phase": "Succeeded"})]
    shop = entry(plan([namespace("shop")], accounts=[service_account("shop")], pods=pods), "shop")
    assert shop["service_account"]["patch"] is None
    assert shop["service_account"]["held"].startswith(
        "1 running pod(s) get the token from the default ServiceAccount's setting and would start without it when "
        "recreated (inherits)")
    # Pods that say true themselves keep their token after the change: no reason to hold.
    alone = entry(plan([namespace("shop")], accounts=[service_account("shop")], pods=pods[1:]), "shop")
    assert alone["service_account"]["patch"] == {"automountServiceAccountToken": False}
    many = [pod("p%d" % i, "shop") for i in range(7)]
    held = entry(plan([namespace("shop")], accounts=[service_account("shop")], pods=many), "shop")
    assert "(p0, p1, p2, p3, p4 and 2 more)" in held["service_account"]["held"]


def test_token_pods_are_those_running_as_default_with_the_token_mounted():
    pods = [pod("plain", "shop"), pod("empty-name", "shop", account=""),
            pod("named-default", "shop", account="default"), pod("opted-out", "shop", automount=False),
            pod("own-sa", "shop", account="builder"),
            pod("legacy-field", "shop", legacy_account="builder"), pod("elsewhere", "lab")]
    shop = entry(plan([namespace("shop"), namespace("lab")], accounts=[service_account("shop")], pods=pods), "shop")
    assert shop["token_pods"] == ["empty-name", "named-default", "plain"]
    # With no default ServiceAccount listed, nothing disables the token either.
    assert entry(plan([namespace("lab")], pods=pods), "lab")["token_pods"] == ["elsewhere"]


def test_token_pods_when_the_service_account_already_disables_automount():
    pods = [pod("inherits", "shop"), pod("opts-in", "shop", automount=True)]
    shop = entry(plan([namespace("shop")], accounts=[service_account("shop", automount=False)], pods=pods), "shop")
    assert shop["service_account"]["patch"] is None
    assert shop["token_pods"] == ["opts-in"]


@pytest.mark.parametrize("excluded", ["team-*", [""], [3], {"team-*": True}])
def test_malformed_exclusions_are_input_errors(excluded):
    with pytest.raises(KubeCompassError, match="excluded namespaces"):
        quota.plan_guardrails([namespace("shop")], [], [], [], [], "important", ["important"], excluded)


def test_no_exclusions_given():
    result = quota.plan_guardrails([namespace("shop")], [], [], [], [], "important", ["important"], None)
    assert [e["namespace"] for e in result["namespaces"]] == ["shop"]


# -- running pods against a planned quota -----------------------------------------------------------------------------

def sized(name, ns, cpu=None, memory=None, limit_cpu=None, limit_memory=None, phase="Running", **spec):
    item = pod(name, ns)
    resources = {"requests": {}, "limits": {}}
    for field, resource, value in (("requests", "cpu", cpu), ("requests", "memory", memory),
                                   ("limits", "cpu", limit_cpu), ("limits", "memory", limit_memory)):
        if value is not None:
            resources[field][resource] = value
    item["spec"]["containers"][0]["resources"] = resources
    item["spec"].update(spec)
    item["status"] = {"phase": phase}
    return item


def test_pod_usage_follows_the_quota_controller():
    pods = [
        sized("a", "shop", cpu="500m", memory="1Gi", limit_cpu="1", limit_memory="1Gi"),
        sized("b", "shop", cpu="250m", initContainers=[{"name": "init", "resources": {"requests": {"cpu": "2"}}}],
              overhead={"cpu": "10m", "memory": "1Mi"}),
        sized("done", "shop", cpu="64", phase="Succeeded"),
        sized("failed", "shop", cpu="64", phase="Failed"),
        pod("bare", "shop"),
    ]
    usage = quota.pod_usage(pods)
    assert usage == {"pods": 3, "requests.cpu": Fraction(5, 2) + Fraction(1, 100),
                     "requests.memory": 1024 ** 3 + 1024 ** 2, "limits.cpu": Fraction(101, 100),
                     "limits.memory": 1024 ** 3 + 1024 ** 2}


def test_running_pods_above_a_planned_quota_hold_it_unless_forced():
    pods = [sized("p%d" % i, "shop", cpu="200m", memory="100Mi", limit_memory="200Mi") for i in range(3)]
    overrides = {"best_effort": {"quota": {"pods": "2", "requests.cpu": "500m"}}}
    shop = entry(plan([namespace("shop", "best_effort")], pods=pods, overrides=overrides), "shop")
    assert kinds(shop) == [("LimitRange", "kubecompass-limits")]
    assert shop["held"] == [{"object": "ResourceQuota shop/kubecompass-quota", "reasons": [
        "pods already in use is 3, above the planned best_effort quota 2",
        "requests.cpu already in use is 600m, above the planned best_effort quota 500m"]}]
    fits = entry(plan([namespace("shop", "critical")], pods=pods), "shop")
    assert fits["held"] == [] and kinds(fits) == [("LimitRange", "kubecompass-limits"),
                                                  ("ResourceQuota", "kubecompass-quota")]
    forced = entry(quota.plan_guardrails([namespace("shop", "best_effort")], [], [], [], pods, "important", ALL_TIERS,
                                         [], overrides, force=["quota"]), "shop")
    assert ("ResourceQuota", "kubecompass-quota") in kinds(forced) and forced["held"] == []
    assert forced["warnings"] == ["ResourceQuota shop/kubecompass-quota forced: pods already in use is 3, above the "
                                  "planned best_effort quota 2; requests.cpu already in use is 600m, above the planned "
                                  "best_effort quota 500m"]
    # No quota planned (a user quota exists): nothing held, the user's quota already applies.
    theirs = entry(plan([namespace("shop", "best_effort")], quotas=[resource_quota("q", "shop", {"pods": "1"})],
                        pods=pods, overrides=overrides), "shop")
    assert theirs["held"] == []


def service(name, ns, kind="ClusterIP", node_ports=0):
    ports = [{"port": 80 + i, "nodePort": 30000 + i} for i in range(node_ports)] or [{"port": 80}]
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"type": kind, "ports": ports}}


def claim(name, ns, storage):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"resources": {"requests": {"storage": storage}}}}


def test_services_and_claims_in_use_are_compared_with_the_planned_quota():
    usage = quota.object_usage([service("web", "shop", "LoadBalancer", 2), service("api", "shop", "NodePort", 1),
                                service("db", "shop")], [claim("data", "shop", "10Gi"), claim("logs", "shop", "512Mi")])
    assert usage == {"services": 3, "services.loadbalancers": 1, "services.nodeports": 3, "persistentvolumeclaims": 2,
                     "requests.storage": 10 * 1024 ** 3 + 512 * 1024 ** 2}
    overrides = {"best_effort": {"quota": {"persistentvolumeclaims": "1", "requests.storage": "5Gi",
                                           "configmaps": "10"}}}
    result = quota.plan_guardrails([namespace("shop", "best_effort")], [], [], [], [], "important", ALL_TIERS, [],
                                   overrides, services=[service("web", "shop", "LoadBalancer")],
                                   claims=[claim("data", "shop", "10Gi"), claim("logs", "shop", "1Gi")])
    shop = entry(result, "shop")
    assert shop["held"][0]["reasons"] == [
        "persistentvolumeclaims already in use is 2, above the planned best_effort quota 1",
        "requests.storage already in use is 11264Mi, above the planned best_effort quota 5Gi",
        # best_effort namespaces get no load balancer by default
        "services.loadbalancers already in use is 1, above the planned best_effort quota 0"]
    assert shop["warnings"] == ["usage of configmaps is not compared with the planned quota"]


# -- the LimitRange against running containers --------------------------------------------------------------------------

def test_defaulted_item_follows_the_api_server():
    item = quota.defaulted_item({"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "10m"},
                                 "default": {"memory": "512Mi"}})
    assert item["default"] == {"cpu": "2", "memory": "512Mi"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "512Mi"}
    only_min = quota.defaulted_item({"type": "Container", "min": {"cpu": "10m"}})
    assert only_min["default"] == {} and only_min["defaultRequest"] == {"cpu": "10m"}


def test_running_containers_the_planned_limit_range_would_refuse_hold_it():
    pods = [sized("big", "shop", cpu="3", limit_cpu="6"),
            sized("greedy", "shop", memory="1Gi"),            # no limit: gets the default 256Mi, below its request
            sized("fine", "shop", cpu="100m", limit_cpu="500m"),
            sized("tiny", "shop", cpu="1m", phase="Running"),
            sized("done", "shop", cpu="64", limit_cpu="64", phase="Succeeded")]
    pods[0]["spec"]["initContainers"] = [{"name": "setup", "resources": {"limits": {"memory": "4Gi"}}}]
    overrides = {"best_effort": {"limit_range": {"min": {"cpu": "10m"}}}}
    shop = entry(plan([namespace("shop", "best_effort")], pods=pods, overrides=overrides), "shop")
    assert shop["held"][0]["object"] == "LimitRange shop/kubecompass-limits"
    assert shop["held"][0]["reasons"] == [
        "pod big container app: cpu limit 6 is above the max 1; cpu request 3 is above the max 1",
        "pod big init container setup: memory limit 4Gi is above the max 2Gi",
        "pod greedy container app: memory request 1Gi is above the default limit 256Mi it would get",
        "pod tiny container app: cpu request 1m is below the min 10m"]
    # Held LimitRange: the quota may not count what nothing defaults, so it drops requests.* and limits.*.
    assert kinds(shop) == [("ResourceQuota", "kubecompass-quota")]
    assert sorted(shop["create"][0]["spec"]["hard"]) == ["persistentvolumeclaims", "pods", "services.loadbalancers"]
    assert len(shop["adjusted"]) == 4
    forced = entry(quota.plan_guardrails([namespace("shop", "best_effort")], [], [], [], pods, "important", ALL_TIERS,
                                         [], overrides, force=["limit_range"]), "shop")
    assert [kind for kind, _name in kinds(forced)] == ["LimitRange", "ResourceQuota"] and forced["adjusted"] == []
    assert forced["warnings"][0].startswith("LimitRange shop/kubecompass-limits forced: pod big container app")


def test_quota_leaves_out_what_a_user_limit_range_does_not_default():
    # The user's LimitRange (stored, so already defaulted by the API server) defaults cpu only.
    theirs = limit_range("team", "shop", container_item(default={"cpu": "1"}, defaultRequest={"cpu": "500m"}))
    shop = entry(plan([namespace("shop", "critical")], limit_ranges=[theirs]), "shop")
    hard = shop["create"][0]["spec"]["hard"]
    assert "requests.cpu" in hard and "limits.cpu" in hard
    assert "requests.memory" not in hard and "limits.memory" not in hard
    assert shop["adjusted"] == [
        "limits.memory left out of the quota: no LimitRange in the namespace gives containers a default memory limit, "
        "so new pods without one would be rejected",
        "requests.memory left out of the quota: no LimitRange in the namespace gives containers a default memory "
        "request, so new pods without one would be rejected"]
    forced = entry(quota.plan_guardrails([namespace("shop", "critical")], [], [theirs], [], [], "important", ALL_TIERS,
                                         [], force=["quota"]), "shop")
    assert "limits.memory" in forced["create"][0]["spec"]["hard"] and forced["adjusted"] == []
    assert forced["warnings"][0].startswith("limits.memory kept in the quota (forced)")
    # The alias "memory" means requests.memory: left out the same way.
    overrides = {"namespaces": {"shop": {"quota": {"memory": "1Gi", "requests.memory": None}}}}
    aliased = entry(plan([namespace("shop", "critical")], limit_ranges=[theirs], overrides=overrides), "shop")
    assert "memory" not in aliased["create"][0]["spec"]["hard"]


def test_bad_force_kind_is_an_input_error():
    with pytest.raises(KubeCompassError, match="force: 'pods' is not one of"):
        quota.plan_guardrails([namespace("shop")], [], [], [], [], "important", ALL_TIERS, [], force=["pods"])


def test_memory_usage_is_shown_in_mebibytes_rounded_up():
    pods = [sized("big", "shop", memory="9000Mi", limit_memory="18000001k")]
    # The pod is above the LimitRange max as well; forcing that keeps requests.memory and limits.memory in the quota.
    result = quota.plan_guardrails([namespace("shop", "best_effort")], [], [], [], pods, "important", ALL_TIERS, [],
                                   force=["limit_range"])
    reasons = entry(result, "shop")["held"][0]["reasons"]
    assert [r.split(",")[0] for r in reasons] == ["limits.memory already in use is 17167Mi",
                                                  "requests.memory already in use is 9000Mi"]
