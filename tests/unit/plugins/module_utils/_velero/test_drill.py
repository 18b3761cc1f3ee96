"""Restore drill planning and recording on hand-written Velero objects: which backup, the Restore, the duration, and
a drill record the assessment's KC-DR-005 reads."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero import drill

NOW = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.UTC)


def at(**delta):
    return (NOW - datetime.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def backup(name, phase="Completed", completed=None, schedule="kubecompass-important", ns="velero", **spec):
    status = {"phase": phase, "startTimestamp": completed or at(hours=1)}
    if completed is not None:
        status["completionTimestamp"] = completed
    labels = {"velero.io/schedule-name": schedule} if schedule else {}
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec, "status": status}


def test_scratch_namespace_defaults_and_validation():
    assert drill.scratch_namespace("shop") == "shop-drill"
    assert drill.scratch_namespace("shop", "shop-restore-test") == "shop-restore-test"
    for namespace, scratch, message in (("shop", "shop", "must differ"), ("shop", "Shop_Test", "not a namespace name"),
                                        ("x" * 60, None, "too long"), ("bad/ns", None, "not a namespace name")):
        with pytest.raises(KubeCompassError) as error:
            drill.scratch_namespace(namespace, scratch)
        assert error.value.category == "input" and message in str(error.value)


def test_restore_names_are_unique_per_second_and_fit_a_label_value():
    assert drill.restore_name("shop", NOW) == "kubecompass-drill-shop-20260310120000"
    long_name = drill.restore_name("a" * 29 + "-" + "b" * 30, NOW)
    assert len(long_name) <= 63 and long_name.endswith("-20260310120000") and "--" not in long_name


def test_the_latest_completed_backup_covering_the_namespace_whole():
    backups = [
        backup("old", completed=at(hours=3)),
        backup("newest-partial", phase="PartiallyFailed", completed=at(minutes=5)),
        backup("newest-completed", completed=at(minutes=20), includedNamespaces=["shop", "web"]),
        backup("other-namespace", completed=at(minutes=1), includedNamespaces=["web"]),
        backup("selected-only", completed=at(minutes=2), labelSelector={"matchLabels": {"app": "db"}}),
        backup("excluded", completed=at(minutes=3), excludedNamespaces=["shop"]),
        backup("elsewhere", completed=at(minutes=1), ns="backup-system"),
        backup("running", phase="InProgress"),
    ]
    assert drill.latest_backup(backups, "shop", "velero")["metadata"]["name"] == "newest-completed"


def test_a_schedule_narrows_the_choice():
    backups = [backup("mine", completed=at(hours=2)),
               backup("theirs", completed=at(minutes=1), schedule="team-nightly"),
               backup("manual", completed=at(minutes=1), schedule=None)]
    assert drill.latest_backup(backups, "shop", "velero", "kubecompass-important")["metadata"]["name"] == "mine"
    assert drill.latest_backup(backups, "shop", "velero")["metadata"]["name"] in ("manual", "theirs")


def test_no_completed_backup_names_the_namespace_and_what_was_passed_over():
    backups = [backup("failed", phase="Failed", completed=at(minutes=1)),
               backup("partial", completed=at(minutes=1), includedResources=["configmaps"])]
    with pytest.raises(KubeCompassError) as error:
        drill.latest_backup(backups, "shop", "velero", "kubecompass-important")
    text = str(error.value)
    assert error.value.category == "not_found"
    assert text.startswith("no Completed backup of schedule kubecompass-important in velero covers namespace shop")
    assert "failed is Failed" in text and "partial backs up only what its includedResources configmaps" in text
    with pytest.raises(KubeCompassError, match="^no Completed backup in velero covers namespace shop$"):
        drill.latest_backup([], "shop", "velero")


def test_the_restore_maps_the_namespace_into_the_scratch_one():
    assert drill.restore_object("r1", "velero", "b1", "shop", "shop-drill", live_workloads=True) == {
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": "r1", "namespace": "velero",
                     "labels": {"app.kubernetes.io/managed-by": "kubecompass.readiness",
                                "kubecompass.io/restore-drill": "true"}},
        "spec": {"backupName": "b1", "includedNamespaces": ["shop"], "namespaceMapping": {"shop": "shop-drill"}}}


def test_by_default_the_restore_references_the_modifiers_and_leaves_out_pods_and_entry_points():
    spec = drill.restore_object("r1", "velero", "b1", "shop", "shop-drill")["spec"]
    assert spec["namespaceMapping"] == {"shop": "shop-drill"}
    assert spec["resourceModifier"] == {"kind": "ConfigMap", "name": "kubecompass-restore-drill-modifiers"}
    assert spec["excludedResources"][:2] == ["pods", "ingresses.networking.k8s.io"]
    assert all(r.endswith(".gateway.networking.k8s.io") for r in spec["excludedResources"][2:])


def test_the_modifier_document_is_velero_v1_with_string_values_only():
    config_map = drill.modifiers_config_map("backup-system")
    assert config_map["metadata"] == {"name": "kubecompass-restore-drill-modifiers", "namespace": "backup-system",
                                      "labels": {"app.kubernetes.io/managed-by": "kubecompass.readiness"}}
    (text,) = config_map["data"].values()
    document = json.loads(text)
    assert document == drill.modifier_rules() and document["version"] == "v1"
    for rule in document["resourceModifierRules"]:
        assert set(rule) == {"conditions", "patches"} and set(rule["conditions"]) == {"groupResource"}
        for patch in rule["patches"]:
            assert patch["operation"] in ("add", "replace", "remove", "test")
            assert isinstance(patch.get("value", ""), str), patch  # Velero's JSONPatch.Value is a string
    groups = [rule["conditions"]["groupResource"] for rule in document["resourceModifierRules"]]
    assert {"deployments.apps", "statefulsets.apps", "cronjobs.batch", "jobs.batch", "services"} <= set(groups)


def test_duration_from_the_restore_timestamps_else_the_wall_time():
    timed = {"status": {"startTimestamp": at(minutes=5), "completionTimestamp": at(seconds=10)}}
    assert drill.duration(timed, 999.4) == (290, "restore status timestamps")
    assert drill.duration({"status": {"startTimestamp": at(minutes=5)}}, 12.6) == (13, "wall time waited")
    backwards = {"status": {"startTimestamp": at(minutes=1), "completionTimestamp": at(minutes=5)}}
    assert drill.duration(backwards, 3) == (3, "wall time waited")


def test_the_drill_record_carries_what_the_assessment_reads_and_the_rto_evidence():
    restore = {"metadata": {"name": "kubecompass-drill-shop-1", "namespace": "velero"},
               "status": {"phase": "Completed", "completionTimestamp": "2026-03-10T11:59:00.123456Z",
                          "progress": {"itemsRestored": 42}, "warnings": 2}}
    record = drill.drill_record(restore, "Completed", "b1", "shop", "shop-drill", "important", 60, 312,
                                "restore status timestamps", NOW)
    assert record["metadata"] == {"name": "kubecompass-drill-shop-1", "namespace": "velero",
                                  "labels": {"app.kubernetes.io/managed-by": "kubecompass.readiness",
                                             "kubecompass.io/restore-drill": "true"}}
    assert record["data"] == {
        "completed_at": "2026-03-10T11:59:00Z", "outcome": "Completed", "backup": "b1", "namespace": "shop",
        "duration_seconds": "312", "duration_source": "restore status timestamps",
        "restore": "kubecompass-drill-shop-1", "scratch_namespace": "shop-drill", "tier": "important",
        "rto_target_seconds": "3600", "rto_met": "true", "live_workloads": "true", "warnings": "2",
        "items_restored": "42"}
    assert all(isinstance(value, str) for value in record["data"].values())


def test_rto_is_met_only_by_a_completed_restore_within_the_target():
    restore = {"metadata": {"name": "r", "namespace": "velero"}, "status": {"failureReason": "bucket gone"}}
    failed = drill.drill_record(restore, "Failed", "b", "shop", "s", "critical", 15, 10, "wall time waited", NOW)
    assert failed["data"]["rto_met"] == "false" and failed["data"]["failure_reason"] == "bucket gone"
    assert failed["data"]["completed_at"] == "2026-03-10T12:00:00Z"  # no completionTimestamp: when the drill ended
    slow = drill.drill_record(restore, "Completed", "b", "shop", "s", "critical", 15, 901, "wall time waited", NOW)
    assert slow["data"]["rto_met"] == "false"
