"""Disaster-recovery checks (KC-DR-*) on crafted Velero objects and node facts, run through the engine."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import disaster_recovery
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

CHECKS = {c.id: c for c in disaster_recovery.CHECKS}
FIXED_NOW = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.UTC)
NOT_SERVED = {"error": {"category": "not_found", "message": "the server could not find the requested resource"}}
FORBIDDEN = {"error": {"category": "forbidden", "message": "forbidden: User \"audit\" cannot list"}}


# -- snapshot builders -----------------------------------------------------------------------------------------------

def snapshot(kinds, tier="important", distribution="kubeadm", hosts=None):
    return {"cluster": {"name": "c", "distribution": distribution, "tier": tier,
                        "version": {"gitVersion": "v1.36.3"}},
            "kinds": {k: ({"items": v} if isinstance(v, list) else v) for k, v in kinds.items()},
            "nodes": None if hosts is None else {"hosts": hosts}}


def run(check_id, kinds, settings=None, overrides=None, **cluster):
    return engine.run_check(CHECKS[check_id], Context(snapshot(kinds, **cluster), tiers.tier_table(overrides),
                                                      settings=settings, now=FIXED_NOW))


def ago(**delta):
    return (FIXED_NOW - datetime.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def verdicts(result):
    return {o["name"]: o["verdict"] for o in result.objects}


def reason(result, name):
    return next(o["reason"] for o in result.objects if o["name"] == name)


def namespace(name, tier=None):
    labels = {"kubernetes.io/metadata.name": name}
    if tier is not None:
        labels[tiers.NAMESPACE_TIER_LABEL] = tier
    return {"metadata": {"name": name, "labels": labels}}


SYSTEM = [namespace("kube-system"), namespace("kube-public"), namespace("kube-node-lease")]


def namespaces(*names, **tiered):
    return SYSTEM + [namespace("velero")] + [namespace(n) for n in names] + [
        namespace(n, t) for n, t in tiered.items()]


def crd(name):
    return {"metadata": {"name": name}}


def deployment(name, image, ns="velero", replicas=1):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}


def schedule(name, cron="*/15 * * * *", ttl="720h0m0s", phase="Enabled", ns="velero", paused=False,
             last_backup=None, **template):
    item = {"apiVersion": "velero.io/v1", "kind": "Schedule", "metadata": {"name": name, "namespace": ns},
            "spec": {"schedule": cron, "paused": paused, "template": dict(template, ttl=ttl)}}
    if phase is not None:
        item["status"] = {"phase": phase}
        if last_backup:
            item["status"]["lastBackup"] = last_backup
    return item


def backup(name, schedule_name, phase, started, completed=None, ns="velero"):
    status = {"phase": phase, "startTimestamp": started}
    if completed:
        status["completionTimestamp"] = completed
    return {"apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": name, "namespace": ns, "labels": {"velero.io/schedule-name": schedule_name}},
            "spec": {"ttl": "720h0m0s"}, "status": status}


def location(name, phase="Available", validated=None, frequency=None, default=False, message=None):
    spec = {"provider": "aws", "objectStorage": {"bucket": "backups"}, "default": default}
    if frequency is not None:
        spec["validationFrequency"] = frequency
    status = {"phase": phase}
    if validated:
        status["lastValidationTime"] = validated
    if message:
        status["message"] = message
    return {"metadata": {"name": name, "namespace": "velero"}, "spec": spec, "status": status}


def restore(name, phase, completed, backup_name="daily-20260101020000"):
    return {"metadata": {"name": name, "namespace": "velero"}, "spec": {"backupName": backup_name},
            "status": {"phase": phase, "startTimestamp": completed, "completionTimestamp": completed}}


def drill(name, outcome, completed_at):
    return {"metadata": {"name": name, "namespace": "velero", "labels": {"kubecompass.io/restore-drill": "true"}},
            "data": {"outcome": outcome, "completed_at": completed_at, "backup": "daily-20260301020000",
                     "namespace": "shop", "duration_seconds": "184"}}


# -- catalog metadata --------------------------------------------------------------------------------------------------

def test_catalog_metadata():
    assert list(CHECKS) == ["KC-DR-00%d" % n for n in range(1, 7)]
    assert {c.area for c in CHECKS.values()} == {"disaster_recovery"}
    assert CHECKS["KC-DR-001"].severity == "critical"
    assert CHECKS["KC-DR-005"].item == "restore-tested"
    assert CHECKS["KC-DR-003"].scope == "namespace"
    assert CHECKS["KC-DR-003"].remediation == {"role": "backups", "tag": "velero_schedules"}
    assert CHECKS["KC-DR-005"].remediation == {"role": "backups", "tag": "restore_drill"}
    assert CHECKS["KC-DR-006"].remediation == {"role": "etcd_snapshots", "tag": "etcd_snapshots"}
    assert CHECKS["KC-DR-001"].remediation is None
    assert CHECKS["KC-DR-006"].distributions == ("kubeadm", "rke2", "k3s")
    assert all(c.runbook for c in CHECKS.values())


# -- KC-DR-001 Velero present ------------------------------------------------------------------------------------------

VELERO_CRDS = [crd("schedules.velero.io"), crd("backups.velero.io"), crd("restores.velero.io")]


def test_velero_present():
    result = run("KC-DR-001", {"customresourcedefinitions": VELERO_CRDS,
                               "deployments": [deployment("velero", "velero/velero:v1.18.1")]})
    assert result.verdict == "pass"
    assert "velero/velero" in result.message


def test_velero_found_by_image_under_a_helm_release_name():
    result = run("KC-DR-001", {"customresourcedefinitions": VELERO_CRDS,
                               "deployments": [deployment("backup-velero", "docker.io/velero/velero:v1.18.1@sha256:ab",
                                                          ns="backup")]})
    assert result.verdict == "pass"


def test_velero_absent_says_how_to_install():
    result = run("KC-DR-001", {"customresourcedefinitions": [], "deployments": [deployment("web", "nginx:1.27")]})
    assert result.verdict == "fail"
    assert "CRD schedules.velero.io" in result.message and "Deployment velero" in result.message
    assert "helm install velero vmware-tanzu/velero -n velero --create-namespace" in result.message


def test_velero_crds_without_controller_fail():
    result = run("KC-DR-001", {"customresourcedefinitions": VELERO_CRDS,
                               "deployments": [deployment("velero", "velero/velero:v1.18.1", replicas=0)]})
    assert result.verdict == "fail"
    assert "scaled to 0" in result.message
    assert "CRD" not in result.message.split("install")[0]


def test_velero_deployment_without_crds_fails():
    result = run("KC-DR-001", {"customresourcedefinitions": [crd("schedules.velero.io")],
                               "deployments": [deployment("velero", "velero/velero:v1.18.1")]})
    assert result.verdict == "fail"
    assert "CRD backups.velero.io" in result.message


def test_velero_unreadable_deployments_are_unknown():
    result = run("KC-DR-001", {"customresourcedefinitions": VELERO_CRDS, "deployments": FORBIDDEN})
    assert result.verdict == "unknown"
    assert "deployments" in result.message


# -- KC-DR-002 BackupStorageLocation -----------------------------------------------------------------------------------

def test_storage_location_available_and_fresh():
    result = run("KC-DR-002", {"velero_backupstoragelocations": [location("default", validated=ago(minutes=1),
                                                                          default=True)]})
    assert result.verdict == "pass"
    assert verdicts(result) == {"default": "pass"}


def test_storage_location_velero_absent():
    result = run("KC-DR-002", {"velero_backupstoragelocations": NOT_SERVED})
    assert result.verdict == "fail"
    assert "Velero not installed" in result.message


def test_storage_location_none_defined():
    result = run("KC-DR-002", {"velero_backupstoragelocations": []})
    assert result.verdict == "fail"
    assert "no BackupStorageLocation" in result.message


def test_storage_location_unavailable_names_the_cause():
    result = run("KC-DR-002", {"velero_backupstoragelocations": [
        location("default", phase="Unavailable", validated=ago(minutes=1), message="AccessDenied on bucket")]})
    assert result.verdict == "fail"
    assert "phase Unavailable: AccessDenied on bucket" in result.message


def test_storage_location_stale_validation_fails():
    result = run("KC-DR-002", {"velero_backupstoragelocations": [location("default", validated=ago(hours=30))]})
    assert result.verdict == "fail"
    assert "last validated 30h ago" in result.message and "older than 24h" in result.message


def test_storage_location_window_follows_a_long_validation_frequency():
    result = run("KC-DR-002", {"velero_backupstoragelocations": [
        location("default", validated=ago(hours=30), frequency="12h0m0s")]})
    assert result.verdict == "pass"
    stale = run("KC-DR-002", {"velero_backupstoragelocations": [
        location("default", validated=ago(hours=37), frequency="12h0m0s")]})
    assert stale.verdict == "fail"
    assert "older than 36h" in stale.message


def test_storage_location_never_validated_fails():
    result = run("KC-DR-002", {"velero_backupstoragelocations": [location("default", frequency="0")]})
    assert result.verdict == "fail"
    assert "never validated" in result.message and "validation is disabled" in result.message


def test_storage_location_one_healthy_is_enough():
    result = run("KC-DR-002", {"velero_backupstoragelocations": [
        location("primary", validated=ago(minutes=5)), location("old", phase="Unavailable")]})
    assert result.verdict == "pass"
    assert verdicts(result) == {"primary": "pass", "old": "fail"}
    assert "1 of 2" in result.message


def test_storage_location_unreadable_is_unknown():
    assert run("KC-DR-002", {"velero_backupstoragelocations": FORBIDDEN}).verdict == "unknown"


# -- KC-DR-003 schedules against RPO and retention ---------------------------------------------------------------------

def coverage(schedules, names=("shop",), settings=None, tier="important", overrides=None, claims=(), pods=(),
             locations=None, **tiered):
    kinds = {"velero_schedules": schedules, "namespaces": namespaces(*names, **tiered),
             "persistentvolumeclaims": list(claims), "pods": list(pods),
             "velero_volumesnapshotlocations": NOT_SERVED if locations is None else locations}
    return run("KC-DR-003", kinds, settings=settings, tier=tier, overrides=overrides)


def test_schedule_meeting_rpo_and_retention_passes():
    result = coverage([schedule("every-15m")])
    assert result.verdict == "pass"
    # Only application namespaces are judged: system namespaces and nothing else.
    assert verdicts(result) == {"velero": "pass", "shop": "pass"}
    assert "every 15m" in reason(result, "shop")


def test_daily_schedule_misses_the_important_rpo():
    result = coverage([schedule("daily", cron="0 2 * * *")])
    assert result.verdict == "fail"
    assert "no Schedule runs at least every 15m" in reason(result, "shop")
    assert "velero/daily (every 24h" in reason(result, "shop")


def test_weekday_schedule_interval_is_the_weekend_gap():
    result = coverage([schedule("weekdays", cron="30 2 * * 1-5")], tier="best_effort",
                      overrides={"best_effort": {"rpo_minutes": 1440}})
    assert result.verdict == "fail"
    assert "every 72h" in reason(result, "shop")


def test_short_ttl_misses_retention():
    result = coverage([schedule("every-15m", ttl="72h")])
    assert result.verdict == "fail"
    assert "no active Schedule keeps its backups for 720h" in reason(result, "shop")


def test_frequent_and_long_lived_schedules_together_pass():
    result = coverage([schedule("frequent", cron="*/15 * * * *", ttl="48h"), schedule("daily", cron="0 2 * * *")])
    assert result.verdict == "pass"
    assert "velero/frequent" in reason(result, "shop") and "kept by velero/daily" in reason(result, "shop")


def test_empty_ttl_counts_as_implicit_720h_and_is_noted():
    result = coverage([schedule("every-15m", ttl="")])
    assert result.verdict == "pass"
    assert "implicit 720h" in reason(result, "shop")


def test_unparseable_ttl_does_not_count():
    result = coverage([schedule("every-15m", ttl="30d")])
    assert result.verdict == "fail"
    assert "invalid template.ttl" in reason(result, "shop")


def test_schedule_without_status_counts_but_is_noted():
    result = coverage([schedule("every-15m", phase=None)])
    assert result.verdict == "pass"
    assert "not validated by Velero yet" in reason(result, "shop")
    assert result.evidence["schedules"]["velero/every-15m"]["phase"] is None


@pytest.mark.parametrize("item, why", [
    (schedule("every-15m", paused=True), "paused"),
    (schedule("every-15m", phase="FailedValidation"), "FailedValidation"),
    (schedule("every-15m", cron="0 0 * * 7"), "invalid schedule"),
    (schedule("every-15m", labelSelector={"matchLabels": {"backup": "yes"}}), "labelSelector"),
    (schedule("every-15m", includedResources=["configmaps"]), "includedResources configmaps"),
    (schedule("every-15m", excludedResources=["secrets", "persistentvolumeclaims"]),
     "excludedResources secrets,persistentvolumeclaims"),
    (schedule("every-15m", includedNamespaceScopedResources=["deployments"]),
     "includedNamespaceScopedResources deployments"),
    (schedule("every-15m", resourcePolicy={"kind": "configmap", "name": "skip-volumes"}), "resourcePolicy skip-volumes"),
])
def test_schedules_that_do_not_count(item, why):
    result = coverage([item])
    assert result.verdict == "fail"
    assert "no active Velero Schedule backs it up" in reason(result, "shop")
    assert why in reason(result, "shop")


def test_namespace_scope_includes_excludes_and_globs():
    result = coverage([
        schedule("shops", includedNamespaces=["shop-*"], excludedNamespaces=["shop-test"]),
        schedule("billing", includedNamespaces=["billing"]),
        schedule("all-but-batch", cron="0 2 * * *", excludedNamespaces=["batch"]),
    ], names=("shop-eu", "shop-test", "billing", "batch", "web"))
    assert verdicts(result) == {"velero": "fail", "shop-eu": "pass", "shop-test": "fail", "billing": "pass",
                                "batch": "fail", "web": "fail"}
    assert "no active Velero Schedule backs it up" in reason(result, "batch")
    assert "every 24h" in reason(result, "shop-test")


def test_wildcard_include_covers_every_namespace():
    result = coverage([schedule("all", includedNamespaces=["*"])], names=("a", "b"))
    assert result.verdict == "pass"


def test_near_zero_rpo_fails_without_replication_evidence():
    result = coverage([schedule("every-5m", cron="*/5 * * * *")], names=(), payments="critical")
    assert verdicts(result)["payments"] == "fail"
    message = reason(result, "payments")
    assert "near-zero RPO" in message and "continuous replication" in message and "rpo_evidence" in message


def test_near_zero_rpo_passes_with_declared_replication_and_retention():
    result = coverage([schedule("daily", cron="0 2 * * *")], names=(), settings={"rpo_evidence": ["payments"]},
                      payments="critical")
    assert verdicts(result)["payments"] == "pass"
    assert "declared replication" in reason(result, "payments")


def test_near_zero_rpo_with_replication_still_needs_retention():
    result = coverage([], names=(), settings={"rpo_evidence": ["payments"]}, payments="critical")
    assert verdicts(result)["payments"] == "fail"
    assert "720h" in reason(result, "payments")


def test_invalid_tier_label_is_unknown():
    result = coverage([schedule("every-15m")], names=(), shop="gold")
    assert verdicts(result)["shop"] == "unknown"
    assert result.verdict == "unknown"


def claim(name, ns="shop"):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"accessModes": ["ReadWriteOnce"]}}


def pod(name, mounts, ns="shop", annotations=None):
    """A pod mounting claims: {volume name: claim name}."""
    return {"metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
            "spec": {"volumes": [{"name": volume, "persistentVolumeClaim": {"claimName": claim_name}}
                                 for volume, claim_name in mounts.items()]}}


def snapshot_location(name="aws-default", ns="velero"):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"provider": "aws"}}


def test_coverage_names_claims_whose_volume_data_no_schedule_holds():
    """Objects only (snapshotVolumes false, no file-system backup): the namespace fails, naming each claim."""
    result = coverage([schedule("every-15m", snapshotVolumes=False)], claims=[claim("db-data"), claim("cache")],
                      pods=[pod("db-0", {"data": "db-data"})], locations=[snapshot_location()])
    assert verdicts(result) == {"velero": "pass", "shop": "fail"}
    text = reason(result, "shop")
    assert "volume data of 2 PersistentVolumeClaim(s) in no backup" in text
    assert "cache (velero/every-15m: snapshotVolumes false; no pod mounts it" in text
    assert "db-data (velero/every-15m: snapshotVolumes false; no defaultVolumesToFsBackup and no pod annotation" in text
    assert sorted(result.evidence["claims_without_volume_data"]["shop"]) == ["cache", "db-data"]


def test_coverage_without_snapshot_location_or_data_movement_is_not_covered():
    """snapshotVolumes left unset asks for snapshots, but with no VolumeSnapshotLocation and no snapshotMoveData
    nothing leaves the cluster (velero.io/v1 VolumeSnapshotLocation not served at all here)."""
    result = coverage([schedule("every-15m")], claims=[claim("db-data")])
    assert verdicts(result)["shop"] == "fail"
    assert "no VolumeSnapshotLocation and no snapshotMoveData" in reason(result, "shop")


@pytest.mark.parametrize("template, pods, locations, how", [
    ({}, [], [snapshot_location()], "volume snapshots (VolumeSnapshotLocation velero/aws-default)"),
    ({"snapshotMoveData": True}, [], [], "snapshotMoveData"),
    ({"snapshotVolumes": False, "defaultVolumesToFsBackup": True}, [pod("db-0", {"data": "db-data"})], [],
     "defaultVolumesToFsBackup"),
    ({"snapshotVolumes": False}, [pod("db-0", {"data": "db-data"}, annotations={
        "backup.velero.io/backup-volumes": "logs, data"})], [], "annotation"),
])
def test_coverage_counts_each_route_for_volume_data(template, pods, locations, how):
    result = coverage([schedule("every-15m", **template)], claims=[claim("db-data")], pods=pods, locations=locations)
    assert verdicts(result)["shop"] == "pass", reason(result, "shop")
    assert result.evidence["claims_without_volume_data"] == {}


def test_coverage_fs_backup_excluded_volume_and_named_snapshot_location_missing():
    """defaultVolumesToFsBackup with the volume excluded on its only pod, and a template naming a
    VolumeSnapshotLocation that does not exist: the claim is in no backup."""
    excluded = pod("db-0", {"data": "db-data"}, annotations={"backup.velero.io/backup-volumes-excludes": "data"})
    result = coverage([schedule("every-15m", defaultVolumesToFsBackup=True, volumeSnapshotLocations=["gcp"])],
                      claims=[claim("db-data")], pods=[excluded], locations=[snapshot_location()])
    text = reason(result, "shop")
    assert verdicts(result)["shop"] == "fail"
    assert "no VolumeSnapshotLocation named gcp" in text and "every pod mounting it excludes the volume" in text


def test_coverage_one_schedule_with_data_is_enough_and_other_namespaces_are_not_touched():
    result = coverage([schedule("objects", snapshotVolumes=False), schedule("data", includedNamespaces=["shop"])],
                      names=("shop", "web"), claims=[claim("db-data")], locations=[snapshot_location()])
    assert verdicts(result) == {"velero": "pass", "shop": "pass", "web": "pass"}


def test_coverage_unreadable_claims_are_unknown():
    result = run("KC-DR-003", {"velero_schedules": [schedule("every-15m")], "namespaces": namespaces("shop"),
                               "persistentvolumeclaims": FORBIDDEN, "pods": [], "velero_volumesnapshotlocations": []})
    assert result.verdict == "unknown"
    assert "persistentvolumeclaims" in result.message


def test_coverage_velero_absent_fails():
    result = run("KC-DR-003", {"velero_schedules": NOT_SERVED, "namespaces": namespaces("shop")})
    assert result.verdict == "fail"
    assert "Velero not installed" in result.message


def test_coverage_without_application_namespaces_is_not_applicable():
    result = run("KC-DR-003", {"velero_schedules": [], "namespaces": SYSTEM},
                 settings={"excluded_namespaces": []})
    assert result.verdict == "not_applicable"


def test_coverage_unreadable_schedules_are_unknown():
    assert coverage(FORBIDDEN).verdict == "unknown"


# -- KC-DR-004 last completed backup per schedule ----------------------------------------------------------------------

def recency(schedules, backups, names=("shop",)):
    return run("KC-DR-004", {"velero_schedules": schedules, "velero_backups": backups,
                             "namespaces": namespaces(*names)})


SIX_HOURLY = schedule("six-hourly", cron="0 */6 * * *")


def test_recent_completed_backup_passes():
    result = recency([SIX_HOURLY], [backup("six-hourly-1", "six-hourly", "Completed", ago(hours=3, minutes=5),
                                           ago(hours=3))])
    assert result.verdict == "pass"
    assert "finished 3h ago" in reason(result, "six-hourly")


def test_margin_is_ten_percent_of_the_interval():
    inside = recency([SIX_HOURLY], [backup("b", "six-hourly", "Completed", ago(hours=7), ago(hours=6, minutes=30))])
    outside = recency([SIX_HOURLY], [backup("b", "six-hourly", "Completed", ago(hours=7), ago(hours=6, minutes=40))])
    assert (inside.verdict, outside.verdict) == ("pass", "fail")
    assert "interval 6h + margin 36m" in reason(outside, "six-hourly")


def test_margin_is_at_least_ten_minutes():
    every_15 = schedule("frequent")
    inside = recency([every_15], [backup("b", "frequent", "Completed", ago(minutes=30), ago(minutes=24))])
    outside = recency([every_15], [backup("b", "frequent", "Completed", ago(minutes=30), ago(minutes=26))])
    assert (inside.verdict, outside.verdict) == ("pass", "fail")


def test_newest_partially_failed_is_skipped_for_the_older_completed_one():
    backups = [backup("six-hourly-new", "six-hourly", "PartiallyFailed", ago(hours=1), ago(minutes=50)),
               backup("six-hourly-old", "six-hourly", "Completed", ago(hours=5), ago(hours=4, minutes=50))]
    result = recency([SIX_HOURLY], backups)
    assert result.verdict == "pass"
    message = reason(result, "six-hourly")
    assert "six-hourly-old" in message
    assert "newest backup six-hourly-new is PartiallyFailed, which does not count" in message


def test_completed_backup_too_old_behind_a_partially_failed_one_fails():
    backups = [backup("six-hourly-new", "six-hourly", "PartiallyFailed", ago(hours=1), ago(minutes=50)),
               backup("six-hourly-old", "six-hourly", "Completed", ago(hours=13), ago(hours=12, minutes=50))]
    result = recency([SIX_HOURLY], backups)
    assert result.verdict == "fail"
    message = reason(result, "six-hourly")
    assert "six-hourly-old finished 12h50m ago" in message and "PartiallyFailed" in message


def test_last_backup_status_without_completed_backup_fails():
    item = schedule("six-hourly", cron="0 */6 * * *", last_backup=ago(minutes=30))
    backups = [backup("six-hourly-1", "six-hourly", "Failed", ago(minutes=30), ago(minutes=20)),
               backup("six-hourly-0", "six-hourly", "InProgress", ago(hours=7))]
    result = recency([item], backups)
    assert result.verdict == "fail"
    message = reason(result, "six-hourly")
    assert "no Completed backup" in message and "status.lastBackup" in message and "only records" in message


def test_backups_of_other_schedules_or_namespaces_do_not_count():
    backups = [backup("other", "other-schedule", "Completed", ago(hours=1), ago(hours=1)),
               backup("synced", "six-hourly", "Completed", ago(hours=1), ago(hours=1), ns="velero-dr")]
    result = recency([SIX_HOURLY], backups)
    assert result.verdict == "fail"
    assert "no Completed backup" in reason(result, "six-hourly")


def test_paused_schedule_is_not_applicable_and_uncovered_schedules_are_skipped():
    paused = schedule("paused", paused=True)
    infra = schedule("velero-only", includedNamespaces=["kube-system"])
    result = recency([paused, infra, SIX_HOURLY],
                     [backup("b", "six-hourly", "Completed", ago(hours=1), ago(hours=1))])
    assert verdicts(result) == {"paused": "not_applicable", "six-hourly": "pass"}
    assert result.verdict == "pass"


def test_failed_validation_schedule_fails():
    result = recency([schedule("broken", phase="FailedValidation")], [])
    assert result.verdict == "fail"
    assert "FailedValidation" in reason(result, "broken")


def test_no_schedule_covering_applications_fails():
    result = recency([schedule("infra", includedNamespaces=["kube-system"])], [])
    assert result.verdict == "fail"
    assert "no Velero Schedule covers an application namespace" in result.message


def test_recency_velero_absent_fails():
    result = run("KC-DR-004", {"velero_schedules": NOT_SERVED, "velero_backups": NOT_SERVED,
                               "namespaces": namespaces("shop")})
    assert result.verdict == "fail"
    assert "Velero not installed" in result.message


def test_recency_without_application_namespaces_is_not_applicable():
    result = run("KC-DR-004", {"velero_schedules": [], "velero_backups": [], "namespaces": SYSTEM})
    assert result.verdict == "not_applicable"


def test_recency_unreadable_backups_are_unknown():
    result = run("KC-DR-004", {"velero_schedules": [SIX_HOURLY], "velero_backups": FORBIDDEN,
                               "namespaces": namespaces("shop")})
    assert result.verdict == "unknown"


# -- KC-DR-005 restore tested ------------------------------------------------------------------------------------------

def restores(items, records=(), overrides=None, names=("shop",), **tiered):
    return run("KC-DR-005", {"velero_restores": items, "kubecompass_drill_records": list(records)
                             if not isinstance(records, dict) else records,
                             "namespaces": namespaces(*names, **tiered)}, overrides=overrides)


def test_completed_restore_within_window_passes():
    result = restores([restore("drill-1", "Completed", ago(days=10))])
    assert result.verdict == "pass"
    assert "velero/drill-1" in result.message and "10 days ago" in result.message


def test_completed_drill_record_passes_when_restores_are_gone():
    result = restores([], [drill("drill-record-1", "Completed", ago(days=60))])
    assert result.verdict == "pass"
    assert "drill record velero/drill-record-1" in result.message and "184s" in result.message


def test_only_a_failed_drill_fails_naming_it():
    result = restores([], [drill("drill-record-2", "Failed", ago(days=5))])
    assert result.verdict == "fail"
    assert "drill record velero/drill-record-2" in result.message and "Failed" in result.message


def test_failed_newest_with_old_success_fails_naming_the_newest():
    result = restores([restore("old", "Completed", ago(days=120))], [drill("drill-record-3", "Failed", ago(days=2))])
    assert result.verdict == "fail"
    assert "newest is drill record velero/drill-record-3" in result.message


def test_old_completed_restore_fails():
    result = restores([restore("old", "Completed", ago(days=91))])
    assert result.verdict == "fail"
    assert "Restore velero/old" in result.message and "91 days ago" in result.message


def test_partially_failed_restore_does_not_count():
    result = restores([restore("partial", "PartiallyFailed", ago(days=1))])
    assert result.verdict == "fail"
    assert "PartiallyFailed" in result.message


def test_no_restore_test_recorded_fails():
    result = restores([], [drill("bad", "Completed", "yesterday")])
    assert result.verdict == "fail"
    assert "no restore test recorded" in result.message
    assert result.evidence["ignored_drill_records"] == ["velero/bad: completed_at 'yesterday' is not an RFC 3339 time"]


def test_strictest_tier_in_use_sets_the_window():
    overrides = {"critical": {"restore_test_max_age_days": 30}}
    restore_45_days = [restore("r", "Completed", ago(days=45))]
    assert restores(restore_45_days, overrides=overrides).verdict == "pass"
    result = restores(restore_45_days, overrides=overrides, payments="critical")
    assert result.verdict == "fail"
    assert "within 30 days" in result.message


def test_restores_velero_absent_fails():
    result = restores(NOT_SERVED, [drill("d", "Completed", ago(days=1))])
    assert result.verdict == "fail"
    assert "Velero not installed" in result.message


def test_unreadable_drill_records_do_not_hide_a_completed_restore():
    assert restores([restore("r", "Completed", ago(days=3))], FORBIDDEN).verdict == "pass"
    unknown = restores([], FORBIDDEN)
    assert unknown.verdict == "unknown"
    assert "kubecompass_drill_records" in unknown.message


# The restore time is judged against the RTO of the restored namespace's tier (important 1 h, critical 15 min).


def timed_drill(name, seconds, namespace="shop", days=3):
    record = drill(name, "Completed", ago(days=days))
    record["data"].update(namespace=namespace, duration_seconds=seconds)
    if seconds is None:
        del record["data"]["duration_seconds"]
    return record


def test_a_drill_slower_than_the_tiers_rto_fails_naming_both_figures():
    result = restores([], [timed_drill("slow", "5400")])
    assert result.verdict == "fail"
    assert "5400s" in result.message and "3600s" in result.message and "important" in result.message
    assert "velero/slow" in result.message


def test_a_drill_within_the_rto_passes_and_says_so():
    result = restores([], [timed_drill("quick", "3600")])
    assert result.verdict == "pass"
    assert "3600s" in result.message and "RTO" in result.message


def test_the_namespace_tier_sets_the_rto():
    assert restores([], [timed_drill("pay", "1000", "pay")], pay="critical").verdict == "fail"
    assert restores([], [timed_drill("pay", "900", "pay")], pay="critical").verdict == "pass"


def test_a_drill_without_a_recorded_duration_does_not_pass():
    for seconds in (None, "", "soon"):
        result = restores([], [timed_drill("untimed", seconds)])
        assert result.verdict != "pass", seconds
        assert "velero/untimed" in result.message and "duration" in result.message


def test_a_restore_slower_than_the_rto_fails_from_its_timestamps():
    slow = restore("slow", "Completed", ago(days=1))
    slow["spec"]["includedNamespaces"] = ["shop"]
    slow["status"]["startTimestamp"] = ago(days=1, hours=2)
    result = restores([slow])
    assert result.verdict == "fail" and "7200s" in result.message and "3600s" in result.message


def test_a_slow_drill_of_one_namespace_is_not_hidden_by_a_quick_one_of_another():
    result = restores([], [timed_drill("quick", "60", "web", days=1), timed_drill("slow", "5400", days=2)],
                      names=("shop", "web"))
    assert result.verdict == "fail" and "velero/slow" in result.message
    newer_and_quick = restores([], [timed_drill("slow", "5400", days=2), timed_drill("quick", "60", days=1)])
    assert newer_and_quick.verdict == "pass"


def data_drill(name, state, problems=None, days=1, namespace="shop"):
    record = drill(name, "Completed", ago(days=days))
    record["data"].update(namespace=namespace, data_restored=state, census='{"ConfigMap": [3, 2]}')
    if problems:
        record["data"]["data_problems"] = problems
    return record


def test_a_drill_whose_data_is_incomplete_fails_naming_the_kinds():
    result = restores([], [data_drill("short", "incomplete", "ConfigMap 2 of 3 (missing app-config)")])
    assert result.verdict == "fail"
    assert "velero/short" in result.message and "ConfigMap 2 of 3 (missing app-config)" in result.message
    assert "data incomplete" in result.message


def test_volume_data_not_restored_is_not_a_pass():
    result = restores([], [data_drill("fs", "unverified", "PersistentVolumeClaim data: volume data not restored: "
                                                          "file-system backups need live_workloads")])
    assert result.verdict == "fail" and "file-system backups need live_workloads" in result.message


def test_an_older_complete_drill_does_not_outweigh_a_newer_one_that_found_data_missing():
    older, newer = data_drill("old", "complete", days=5), data_drill("new", "incomplete", "Secret 0 of 1", days=1)
    assert restores([], [older, newer]).verdict == "fail"
    # The other way round the newest drill proves the data back.
    assert restores([], [data_drill("old", "incomplete", "Secret 0 of 1", days=5),
                         data_drill("new", "complete", days=1)]).verdict == "pass"
    # Another namespace's complete drill proves nothing about this one.
    assert restores([], [data_drill("web", "complete", namespace="web"), newer], names=("shop", "web")).verdict == (
        "fail")


def test_a_complete_drill_and_a_record_from_before_the_census_pass():
    assert restores([], [data_drill("counted", "complete")]).verdict == "pass"
    assert restores([], [drill("legacy", "Completed", ago(days=1))]).verdict == "pass"


# -- KC-DR-006 etcd snapshots ------------------------------------------------------------------------------------------

def node(newest_age=None, snapshots=True, errors=(), count=3):
    facts = {"distribution": "kubeadm", "errors": list(errors), "etcd_snapshots": None}
    if snapshots:
        newest = None if newest_age is None else {
            "path": "/var/lib/etcd-snapshots/snap.db", "mtime": ago(**newest_age), "size": 4096}
        facts["etcd_snapshots"] = {"dirs": ["/var/lib/etcd-snapshots"], "count": count if newest else 0,
                                   "newest": newest}
    return facts


def etcd(hosts, settings=None, distribution="kubeadm"):
    return run("KC-DR-006", {}, settings=settings, hosts=hosts, distribution=distribution)


def test_recent_snapshots_on_every_node_pass():
    result = etcd({"cp1": node({"hours": 2}), "cp2": node({"hours": 3}), "cp3": node({"minutes": 10})})
    assert result.verdict == "pass"
    assert verdicts(result) == {"cp1": "pass", "cp2": "pass", "cp3": "pass"}


def test_old_snapshot_on_one_node_fails():
    result = etcd({"cp1": node({"hours": 2}), "cp2": node({"hours": 30})})
    assert result.verdict == "fail"
    assert verdicts(result) == {"cp1": "pass", "cp2": "fail"}
    assert "taken 30h ago" in reason(result, "cp2") and "older than 24h" in reason(result, "cp2")


def test_no_snapshot_fails():
    result = etcd({"cp1": node(None)})
    assert result.verdict == "fail"
    assert "no etcd snapshot in /var/lib/etcd-snapshots" in reason(result, "cp1")


def test_max_age_setting_overrides_the_default():
    assert etcd({"cp1": node({"hours": 30})}, settings={"etcd_snapshot_max_age_hours": 48}).verdict == "pass"


def test_unread_snapshot_facts_are_unknown_per_node():
    result = etcd({"cp1": node({"hours": 1}),
                   "cp2": node(snapshots=False, errors=[{"what": "etcd snapshot directory /var/lib/etcd-snapshots",
                                                         "cause": "permission denied"}]),
                   "cp3": node({"hours": 1}, errors=[{"what": "etcd snapshot directory /backup",
                                                      "cause": "dir unreadable"}])})
    assert verdicts(result) == {"cp1": "pass", "cp2": "unknown", "cp3": "unknown"}
    assert result.verdict == "unknown"
    assert "permission denied" in reason(result, "cp2")


def test_unrelated_node_errors_do_not_hide_snapshots():
    unrelated = {"what": "etcd sample from https://127.0.0.1:2379", "cause": "connection refused"}
    result = etcd({"cp1": node({"hours": 1}, errors=[unrelated])})
    assert result.verdict == "pass"


def test_node_facts_not_gathered_is_unknown():
    result = etcd(None)
    assert result.verdict == "unknown"
    assert "node facts" in result.message


def test_managed_clusters_are_not_applicable():
    assert etcd(None, distribution="eks").verdict == "not_applicable"
