"""Velero Schedule planning per tier on hand-written API objects: cron from the RPO, TTL from the retention,
namespaces no user Schedule covers adequately (as the assessment's KC-DR-003 judges), user Schedules untouched."""

from __future__ import annotations

import copy
import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import (
    longest_interval,
    parse_go_duration,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import disaster_recovery
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero import schedules

MANAGED = {"app.kubernetes.io/managed-by": "kubecompass.readiness"}
KC_DR_003 = next(c for c in disaster_recovery.CHECKS if c.id == "KC-DR-003")
NOW = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.UTC)


# -- builders ----------------------------------------------------------------------------------------------------------

def namespace(name, tier=None, terminating=False):
    labels = {"kubernetes.io/metadata.name": name}
    if tier is not None:
        labels["kubecompass.io/tier"] = tier
    item = {"metadata": {"name": name, "labels": labels}, "status": {"phase": "Active"}}
    if terminating:
        item["metadata"]["deletionTimestamp"] = "2026-03-10T11:00:00Z"
        item["status"]["phase"] = "Terminating"
    return item


def schedule(name, cron="0 * * * *", ttl="720h0m0s", ns="velero", labels=None, paused=False, phase="Enabled",
             **template):
    item = {"apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})},
            "spec": {"schedule": cron, "template": dict(template, ttl=ttl)}, "status": {"phase": phase}}
    if paused:
        item["spec"]["paused"] = True
    return item


def location(name="default", ns="velero", default=True):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"provider": "aws", "default": default}}


SYSTEM = [namespace("kube-system"), namespace("kube-public"), namespace("kube-node-lease")]
CLUSTER = SYSTEM + [namespace("velero"), namespace("shop"), namespace("vault", "critical"),
                    namespace("logs", "best_effort")]


def options(**overrides):
    base = {"tiers": None, "velero_namespace": "velero", "storage_location": None, "ttl": None,
            "volume_backup": "server_default", "near_zero_interval_minutes": 5, "excluded_namespaces": ["velero"],
            "rpo_evidence": [], "tier_thresholds": None}
    base.update(overrides)
    return base


def plan(namespaces=None, user=(), locations=None, tier="important", **overrides):
    return schedules.plan_schedules(CLUSTER if namespaces is None else namespaces, list(user),
                                    [location()] if locations is None else locations, tier, options(**overrides))


def by_tier(result):
    return {entry["tier"]: entry for entry in result["schedules"]}


def by_namespace(result):
    return {entry["namespace"]: entry for entry in result["namespaces"]}


def assess_coverage(namespaces, items, settings=None, tier="important", overrides=None):
    """KC-DR-003 as the assessment decides it, on the given Schedules."""
    snapshot = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": tier},
                "kinds": {"namespaces": {"items": namespaces}, "velero_schedules": {"items": items},
                          "persistentvolumeclaims": {"items": []}, "pods": {"items": []}}}
    return engine.run_check(KC_DR_003, Context(snapshot, tiers.tier_table(overrides), settings=settings, now=NOW))


# -- cron and TTL ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("minutes, cron", [
    (1, "* * * * *"), (5, "*/5 * * * *"), (7, "*/6 * * * *"), (15, "*/15 * * * *"), (25, "*/20 * * * *"),
    (59, "*/30 * * * *"), (60, "0 * * * *"), (90, "0 * * * *"), (120, "0 */2 * * *"), (300, "0 */4 * * *"),
    (720, "0 */12 * * *"), (1440, "0 0 * * *"), (10080, "0 0 * * *"),
])
def test_the_cron_comes_from_the_interval(minutes, cron):
    assert schedules.cron_for_minutes(minutes) == cron


def test_every_derived_cron_fires_at_least_as_often_as_asked():
    for minutes in range(1, 3000):
        cron = schedules.cron_for_minutes(minutes)
        assert longest_interval(cron) <= datetime.timedelta(minutes=minutes), (minutes, cron)


def test_an_interval_below_a_minute_is_refused():
    with pytest.raises(KubeCompassError) as error:
        schedules.cron_for_minutes(0)
    assert error.value.category == "input"


@pytest.mark.parametrize("delta, text", [
    (datetime.timedelta(hours=720), "720h0m0s"), (datetime.timedelta(minutes=90), "1h30m0s"),
    (datetime.timedelta(minutes=45), "45m0s"), (datetime.timedelta(seconds=30), "30s"),
    (datetime.timedelta(hours=2160, seconds=5), "2160h0m5s"),
])
def test_ttls_are_written_as_go_durations(delta, text):
    assert schedules.go_duration(delta) == text
    assert parse_go_duration(text) == delta


# -- the plan ----------------------------------------------------------------------------------------------------------

def test_one_schedule_per_tier_with_the_tier_targets():
    result = plan()
    planned = by_tier(result)
    assert [e["name"] for e in result["schedules"]] == [
        "kubecompass-critical", "kubecompass-important", "kubecompass-best-effort"]
    assert {t: (e["schedule"], e["ttl"], e["namespaces"]) for t, e in planned.items()} == {
        "critical": ("*/5 * * * *", "720h0m0s", ["vault"]),
        "important": ("*/15 * * * *", "720h0m0s", ["shop"]),
        "best_effort": ("0 * * * *", "720h0m0s", ["logs"])}
    assert planned["important"]["object"] == {
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "kubecompass-important", "namespace": "velero",
                     "labels": dict(MANAGED, **{"kubecompass.io/tier": "important"})},
        "spec": {"schedule": "*/15 * * * *",
                 "template": {"includedNamespaces": ["shop"], "ttl": "720h0m0s", "storageLocation": "default"}}}
    assert all(e["action"] == "apply" for e in result["schedules"])
    assert result["storage_location"] == "default" and result["inadequate"] == {} and result["ignored"] == []
    assert result["out_of_scope"] == [{"namespace": "velero", "reason": "excluded by pattern 'velero'"}]


def test_the_planned_schedules_pass_the_assessments_coverage_check_for_every_tier():
    """One serves both: what the planner applies is what KC-DR-003 passes (critical with declared replication)."""
    result = plan(rpo_evidence=["vault"])
    applied = [copy.deepcopy(e["object"]) for e in result["schedules"] if e["object"]]
    verdict = assess_coverage(CLUSTER, applied, settings={"excluded_namespaces": ["velero"], "rpo_evidence": ["vault"]})
    assert verdict.verdict == "pass", [(o["name"], o["reason"]) for o in verdict.objects]


def test_near_zero_rpo_is_scheduled_as_tightly_as_configured_and_the_missing_evidence_is_named():
    result = plan(near_zero_interval_minutes=10)
    critical = by_tier(result)["critical"]
    assert critical["schedule"] == "*/10 * * * *" and critical["rpo"] == "near-zero" and critical["near_zero"]
    [note] = critical["notes"]
    assert "cannot meet" in note and "every 10m" in note
    assert "continuous replication" in note and "vault" in note and "rpo_evidence" in note
    # The assessment agrees: without declared replication the critical namespace fails, and says why.
    applied = [e["object"] for e in result["schedules"] if e["object"]]
    verdict = assess_coverage(CLUSTER, applied, settings={"excluded_namespaces": ["velero"]})
    vault = next(o for o in verdict.objects if o["name"] == "vault")
    assert vault["verdict"] == "fail" and "near-zero RPO" in vault["reason"]


def test_declared_replication_is_acknowledged_in_the_note():
    note = by_tier(plan(rpo_evidence=["vault"]))["critical"]["notes"][0]
    assert "declared" in note and "missing evidence" not in note


def test_a_user_schedule_that_meets_the_tier_keeps_its_namespaces_and_is_never_planned():
    hourly = schedule("team-hourly", "0 * * * *", includedNamespaces=["logs", "shop"])
    before = copy.deepcopy(hourly)
    result = plan(user=[hourly])
    planned = by_tier(result)
    assert planned["best_effort"]["action"] == "none" and planned["best_effort"]["object"] is None
    assert by_namespace(result)["logs"]["backed_up_by"] == ["velero/team-hourly"]
    # shop is important (RPO 15m): hourly is not enough, so ours covers it and the user schedule is reported.
    assert planned["important"]["namespaces"] == ["shop"]
    assert by_namespace(result)["shop"]["backed_up_by"] == ["velero/kubecompass-important"]
    [why] = result["inadequate"]["velero/team-hourly"]
    assert why.startswith("namespace shop (tier important): no Schedule runs at least every 15m")
    assert hourly == before
    assert all(e["object"] is None or e["object"]["metadata"]["name"].startswith("kubecompass-")
               for e in result["schedules"])


@pytest.mark.parametrize("user, problem", [
    (schedule("short", "*/15 * * * *", ttl="72h0m0s", includedNamespaces=["shop"]), "720h"),
    (schedule("paused", "*/15 * * * *", paused=True, includedNamespaces=["shop"]), "paused"),
    (schedule("broken", "*/15 * * * *", phase="FailedValidation", includedNamespaces=["shop"]), "FailedValidation"),
    (schedule("partial", "*/15 * * * *", includedNamespaces=["shop"], labelSelector={"matchLabels": {"app": "db"}}),
     "labelSelector"),
])
def test_user_schedules_that_fall_short_are_reported_and_the_namespace_gets_ours(user, problem):
    result = plan(user=[user])
    assert by_tier(result)["important"]["namespaces"] == ["shop"]
    ref = "velero/%s" % user["metadata"]["name"]
    assert problem in result["inadequate"][ref][0]


def test_a_critical_namespace_left_to_a_user_schedule_at_the_scheduled_floor():
    every_five = schedule("team-5m", "*/5 * * * *", includedNamespaces=["vault"])
    result = plan(user=[every_five])
    critical = by_tier(result)["critical"]
    assert critical["action"] == "none" and critical["namespaces"] == []
    assert by_namespace(result)["vault"]["backed_up_by"] == ["velero/team-5m"]
    # Still said: the schedule is the best scheduled backups do, replication evidence is missing.
    assert "vault" in critical["notes"][0] and "missing evidence" in critical["notes"][0]


def test_declared_replication_needs_only_the_retention_from_a_user_schedule():
    nightly = schedule("team-nightly", "0 2 * * *", includedNamespaces=["vault"])
    assert by_tier(plan(user=[nightly], rpo_evidence=["vault"]))["critical"]["action"] == "none"
    assert by_tier(plan(user=[nightly]))["critical"]["namespaces"] == ["vault"]


def test_user_schedules_outside_velero_namespace_do_not_count_and_are_reported():
    elsewhere = schedule("team", "*/5 * * * *", ns="shop", includedNamespaces=["shop"])
    ours_elsewhere = schedule("kubecompass-important", "*/15 * * * *", ns="old-velero", labels=MANAGED)
    result = plan(user=[elsewhere, ours_elsewhere])
    assert by_tier(result)["important"]["namespaces"] == ["shop"]
    assert [i["schedule"] for i in result["ignored"]] == ["shop/team", "old-velero/kubecompass-important"]
    assert "Velero does not run it" in result["ignored"][0]["reason"]
    assert "delete it if Velero moved" in result["ignored"][1]["reason"]


def test_our_own_schedule_never_counts_as_user_coverage():
    """Otherwise a rerun would find the namespaces covered by ours, drop them, and flip back the run after."""
    ours = schedule("kubecompass-important", "*/15 * * * *", labels=MANAGED, includedNamespaces=["shop"])
    result = plan(user=[ours])
    assert by_tier(result)["important"]["action"] == "apply"
    assert by_tier(result)["important"]["namespaces"] == ["shop"] and result["inadequate"] == {}


def test_a_tier_with_nothing_to_cover_keeps_our_existing_schedule_and_says_so():
    ours = schedule("kubecompass-best-effort", "0 * * * *", labels=MANAGED, includedNamespaces=["old"])
    result = plan(namespaces=SYSTEM + [namespace("shop")], user=[ours])
    best_effort = by_tier(result)["best_effort"]
    assert best_effort["action"] == "keep" and best_effort["object"] is None
    assert "left in place" in best_effort["reason"] and "velero/kubecompass-best-effort" in best_effort["reason"]
    assert by_tier(result)["critical"]["action"] == "none"


def test_an_empty_namespace_list_is_never_planned():
    result = plan(namespaces=SYSTEM)
    assert [e["action"] for e in result["schedules"]] == ["none", "none", "none"]


def test_a_user_schedule_holding_our_name_is_a_conflict_not_a_takeover():
    squatter = schedule("kubecompass-important", "0 3 * * *", includedNamespaces=["other"])
    result = plan(user=[squatter])
    important = by_tier(result)["important"]
    assert important["action"] == "conflict" and important["object"] is None
    assert "velero/kubecompass-important" in important["reason"] and "shop" in important["reason"]


def test_a_paused_schedule_of_ours_is_noted():
    ours = schedule("kubecompass-important", "*/15 * * * *", labels=MANAGED, paused=True, includedNamespaces=["shop"])
    important = by_tier(plan(user=[ours]))["important"]
    assert important["action"] == "apply"
    assert important["notes"] == ["velero/kubecompass-important does not run: paused"]


def test_scope_excluded_terminating_bad_label_and_unselected_tiers():
    cluster = CLUSTER + [namespace("scratch-1"), namespace("gone", terminating=True), namespace("odd", "gold")]
    result = plan(namespaces=cluster, tiers=["important"], excluded_namespaces=["velero", "scratch-*"])
    skipped = {s["namespace"]: s["reason"] for s in result["out_of_scope"]}
    assert skipped["scratch-1"] == "excluded by pattern 'scratch-*'"
    assert skipped["gone"] == "namespace is terminating"
    assert "'gold' is not a tier" in skipped["odd"]
    assert skipped["vault"].startswith("tier critical") and skipped["logs"].startswith("tier best_effort")
    assert "kube-system" not in skipped
    planned = by_tier(result)
    assert planned["critical"]["action"] == "skip" and planned["best_effort"]["action"] == "skip"
    assert planned["important"]["namespaces"] == ["shop"]


def test_an_empty_tier_list_plans_nothing():
    assert {e["action"] for e in plan(tiers=[])["schedules"]} == {"skip"}


@pytest.mark.parametrize("choice, fields", [
    ("snapshot", {"snapshotVolumes": True, "defaultVolumesToFsBackup": False}),
    ("fs_backup", {"snapshotVolumes": False, "defaultVolumesToFsBackup": True}),
    ("none", {"snapshotVolumes": False, "defaultVolumesToFsBackup": False}),
    ("server_default", {}),
])
def test_volume_backup_choice(choice, fields):
    template = by_tier(plan(volume_backup=choice))["important"]["object"]["spec"]["template"]
    assert {k: template[k] for k in ("snapshotVolumes", "defaultVolumesToFsBackup") if k in template} == fields


def test_thresholds_and_ttl_options():
    result = plan(tier_thresholds={"important": {"rpo_minutes": 30, "backup_retention_hours": 2160}}, ttl="2400h")
    important = by_tier(result)["important"]
    assert important["schedule"] == "*/30 * * * *" and important["ttl"] == "2400h0m0s"
    assert important["retention"] == "2160h"
    assert by_tier(plan(tier_thresholds={"important": {"backup_retention_hours": 2160}}))["important"]["ttl"] == \
        "2160h0m0s"


def test_storage_location_named_or_default():
    locations = [location("default"), location("eu", default=False), location("other-ns", ns="backup")]
    assert plan(locations=locations, storage_location="eu")["storage_location"] == "eu"
    assert plan(locations=locations)["storage_location"] == "default"


@pytest.mark.parametrize("locations, name, message", [
    ([location("default")], "eu", "BackupStorageLocation 'eu' not found in Velero's namespace velero (found: default)"),
    ([location("eu", default=False)], None, "no BackupStorageLocation in Velero's namespace velero is marked default"),
    ([location("a"), location("b")], None, "several BackupStorageLocations in velero are marked default (a, b)"),
    ([location("default", ns="elsewhere")], None, "(found: none)"),
])
def test_storage_location_errors_are_input_errors(locations, name, message):
    with pytest.raises(KubeCompassError) as error:
        plan(locations=locations, storage_location=name)
    assert error.value.category == "input" and message in str(error.value)


@pytest.mark.parametrize("overrides, message", [
    ({"ttl": "30d"}, "no d"),
    ({"ttl": "0s"}, "must be positive"),
    ({"ttl": "240h"}, "ttl 240h is shorter than the critical tier's retention 720h"),
    ({"near_zero_interval_minutes": 0}, "near_zero_interval_minutes"),
    ({"volume_backup": "tape"}, "volume_backup 'tape'"),
    ({"tiers": ["gold"]}, "'gold' is not a tier"),
    ({"velero_namespace": ""}, "velero_namespace"),
    ({"excluded_namespaces": "velero"}, "must be a list"),
    ({"rpo_evidence": "vault"}, "rpo_evidence"),
    ({"tier_thresholds": {"important": {"rpo": 5}}}, "unknown threshold 'rpo'"),
    ({"tier_thresholds": {"important": {"rpo_minutes": 0.5}}}, "cannot be met by cron schedules"),
])
def test_bad_options_are_input_errors(overrides, message):
    with pytest.raises(KubeCompassError) as error:
        plan(**overrides)
    assert error.value.category == "input" and message in str(error.value)


def test_an_unknown_cluster_tier_is_an_input_error():
    with pytest.raises(KubeCompassError) as error:
        plan(tier="gold")
    assert error.value.category == "input" and "tier 'gold'" in str(error.value)
