"""Restore drill planning and recording on hand-written Velero objects: which backup, the Restore, the duration, and
a drill record the assessment's KC-DR-005 reads."""

from __future__ import annotations

import datetime
import hashlib
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


def test_what_velero_itself_excludes_from_every_backup_still_covers_the_namespace_whole():
    """Velero 1.18 writes its automatic exclusions of CSI snapshot objects into the spec of every Backup it runs
    (backup_controller.go autoExclude*): the new scoped filters for a template without resource filters, the old
    ones for a template with them. Recorded from a backup of real Velero on the local control plane."""
    made_by_velero = backup("kubecompass-important-20261207185207", completed=at(minutes=1),
                            includedNamespaces=["shop"], storageLocation="default", ttl="720h0m0s",
                            excludedNamespaceScopedResources=["volumesnapshots.snapshot.storage.k8s.io"],
                            excludedClusterScopedResources=["volumesnapshotcontents.snapshot.storage.k8s.io"])
    old_filters = backup("old-filters", completed=at(minutes=2), includedNamespaces=["shop"], includedResources=["*"],
                         excludedResources=["volumesnapshots.snapshot.storage.k8s.io",
                                            "volumesnapshotcontents.snapshot.storage.k8s.io"])
    assert drill.latest_backup([made_by_velero], "shop", "velero")["metadata"]["name"] == made_by_velero[
        "metadata"]["name"]
    assert drill.latest_backup([old_filters], "shop", "velero")["metadata"]["name"] == "old-filters"
    # An exclusion of the user's own still leaves part of the namespace out.
    secrets_left_out = backup("no-secrets", completed=at(minutes=1), includedNamespaces=["shop"],
                              excludedNamespaceScopedResources=["volumesnapshots.snapshot.storage.k8s.io", "secrets"])
    with pytest.raises(KubeCompassError, match="excludedNamespaceScopedResources secrets select"):
        drill.latest_backup([secrets_left_out], "shop", "velero")


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


# -- did the data come back ------------------------------------------------------------------------------------------

STARTED = NOW - datetime.timedelta(hours=1)  # the backup's startTimestamp
BACKUP = {"metadata": {"name": "b1", "namespace": "velero"},
          "status": {"phase": "Completed", "startTimestamp": at(hours=1), "completionTimestamp": at(minutes=55),
                     "progress": {"itemsBackedUp": 9}}}


def meta(name, created=None, labels=None, owners=None, uid=None):
    """An item as a metadata-only list returns it."""
    metadata = {"name": name, "namespace": "shop", "creationTimestamp": created or at(days=2),
                "uid": uid or "uid-%s" % name}
    if labels:
        metadata["labels"] = labels
    if owners:
        metadata["ownerReferences"] = owners
    return {"metadata": metadata}


def claim(name, phase="Bound", volume=None, uid=None, **spec):
    item = meta(name, uid=uid)
    item["spec"] = dict(spec, **({"volumeName": volume} if volume else {}))
    item["status"] = {"phase": phase}
    return item


def completed_restore(total=None, restored=None):
    status = {"phase": "Completed"}
    if total is not None:
        status["progress"] = {"totalItems": total, "itemsRestored": restored}
    return {"metadata": {"name": "r1", "namespace": "velero"}, "status": status}


def test_census_kinds_leave_out_what_the_restore_excludes():
    held = dict(census_kind for census_kind in drill.census_kinds(drill.restore_object("r", "v", "b", "s", "s-d")))
    live = dict(drill.census_kinds(drill.restore_object("r", "v", "b", "s", "s-d", live_workloads=True)))
    assert "Ingress" not in held and "Ingress" in live and "Pod" not in live
    assert {"ConfigMap", "Secret", "Service", "Deployment", "StatefulSet", "CronJob", "Job", "PersistentVolumeClaim",
            "ServiceAccount", "Role", "RoleBinding"} <= set(held)
    assert held["ConfigMap"] % "shop" == "/api/v1/namespaces/shop/configmaps"


def test_a_missing_config_map_is_named_with_the_counts():
    source = {"ConfigMap": [meta("app-config"), meta("feature-flags"), meta("kube-root-ca.crt")]}
    restored = {"ConfigMap": [meta("feature-flags"), meta("kube-root-ca.crt")]}
    counts = drill.census(source, restored, STARTED)
    assert counts == {"ConfigMap": {"expected": 3, "restored": 2, "missing": ["app-config"]}}
    assert drill.census_shortfalls(counts) == ["ConfigMap 2 of 3 (missing app-config)"]
    state, problems = drill.data_verdict(counts, {}, completed_restore())
    assert state == "incomplete" and problems == ["ConfigMap 2 of 3 (missing app-config)"]


def test_objects_created_after_the_backup_started_are_not_expected():
    source = {"Secret": [meta("db-password"), meta("rotated-later", created=at(minutes=30))],
              "Deployment": [meta("web", created=at(hours=1))]}  # created the second the backup started: in it
    restored = {"Secret": [meta("db-password")], "Deployment": [meta("web")]}
    counts = drill.census(source, restored, STARTED)
    assert counts["Secret"] == {"expected": 1, "restored": 1, "missing": []}
    assert counts["Deployment"]["expected"] == 1
    assert drill.data_verdict(counts, {}, completed_restore(9, 9)) == ("complete", [])


def test_owned_and_excluded_from_backup_objects_are_not_expected():
    owner = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "controller": True}]
    source = {"Job": [meta("nightly-123", owners=owner), meta("one-off")],
              "ConfigMap": [meta("cache", labels={"velero.io/exclude-from-backup": "true"})]}
    counts = drill.census(source, {"Job": [meta("one-off")]}, STARTED)
    assert counts == {"Job": {"expected": 1, "restored": 1, "missing": []},
                      "ConfigMap": {"expected": 0, "restored": 0, "missing": []}}


def test_excluded_kinds_are_not_counted_and_secrets_are_counted_from_metadata_alone():
    restore = drill.restore_object("r", "velero", "b", "shop", "shop-drill")
    kinds = dict(drill.census_kinds(restore))
    # An Ingress in the namespace is never expected back by default: its kind is not listed at all.
    source = {kind: [] for kind in kinds}
    source["Secret"] = [meta("tls")]  # metadata only: no data, no stringData, no type
    counts = drill.census(source, {"Secret": [meta("tls")]}, STARTED)
    assert "Ingress" not in counts and counts["Secret"] == {"expected": 1, "restored": 1, "missing": []}
    evidence = drill.data_evidence("complete", [], counts, {}, BACKUP)
    assert json.loads(evidence["census"])["Secret"] == [1, 1] and evidence["backup_items"] == "9"
    assert "tls" not in evidence["census"]


def test_velero_restoring_fewer_items_than_it_counted_is_incomplete():
    assert drill.data_verdict({}, {}, completed_restore(12, 11)) == (
        "incomplete", ["Velero restored 11 of 12 items"])


def test_long_lists_of_missing_names_are_cut():
    source = {"ConfigMap": [meta("cm-%d" % i) for i in range(8)]}
    (text,) = drill.census_shortfalls(drill.census(source, {}, STARTED))
    assert text == "ConfigMap 0 of 8 (missing cm-0, cm-1, cm-2, cm-3, cm-4 and 3 more)"


def volumes(source_claims, restored_claims, pvs=None, backup=None, pvbs=(), pvrs=(), live=False):
    return drill.volume_data(source_claims, restored_claims, pvs or {}, backup or BACKUP, list(pvbs), list(pvrs),
                             "r1", STARTED, live)


def pod_volume(kind, name, pvc_uid, phase="Completed"):
    return {"kind": kind, "metadata": {"name": name, "namespace": "velero", "labels": {"velero.io/pvc-uid": pvc_uid}},
            "status": {"phase": phase}}


def test_file_system_backed_up_data_needs_live_workloads_and_is_never_a_silent_pass():
    pvb = pod_volume("PodVolumeBackup", "b1-abcde", "uid-data")
    result = volumes([claim("data", uid="uid-data")], [claim("data", phase="Pending", uid="uid-copy")], pvbs=[pvb])
    assert result == {"data": {"state": "unverified", "how": drill.FS_BACKUP_NEEDS_LIVE}}
    state, problems = drill.data_verdict({}, result, completed_restore())
    assert state == "unverified" and problems == [
        "PersistentVolumeClaim data: volume data not restored: file-system backups need live_workloads"]


def test_file_system_backed_up_data_restored_with_live_workloads_or_not():
    source = [claim("data", uid="uid-data")]
    restored = [claim("data", uid="uid-copy", volume="pv-1")]
    pvb = pod_volume("PodVolumeBackup", "b1-abcde", "uid-data")
    done = volumes(source, restored, pvbs=[pvb], pvrs=[pod_volume("PodVolumeRestore", "r1-x", "uid-copy")], live=True)
    assert done["data"]["state"] == "complete" and "b1-abcde restored" in done["data"]["how"]
    failed = pod_volume("PodVolumeRestore", "r1-x", "uid-copy", phase="Failed")
    lost = volumes(source, restored, pvbs=[pvb], pvrs=[failed], live=True)
    assert lost["data"] == {"state": "incomplete",
                            "how": "file-system backup b1-abcde has no Completed PodVolumeRestore"}
    assert drill.data_verdict({}, lost, completed_restore())[0] == "incomplete"


def test_volume_snapshots_restored_into_the_claim_or_not():
    snapshotted = dict(BACKUP, status=dict(BACKUP["status"], volumeSnapshotsCompleted=1))
    source = [claim("data")]
    pv = {"metadata": {"name": "pv-1", "labels": {"velero.io/restore-name": "r1"}}}
    done = volumes(source, [claim("data", volume="pv-1")], pvs={"pv-1": pv}, backup=snapshotted)
    assert done["data"] == {"state": "complete",
                            "how": "restored from volume snapshot (PersistentVolume pv-1 restored) (Bound)"}
    csi = volumes(source, [claim("data", phase="Pending", dataSourceRef={"kind": "VolumeSnapshot", "name": "vs-1"})],
                  backup=snapshotted)
    assert csi["data"]["state"] == "complete" and "CSI volume snapshot vs-1" in csi["data"]["how"]
    missed = volumes(source, [claim("data", volume="pv-fresh")], pvs={"pv-fresh": {"metadata": {"name": "pv-fresh"}}},
                     backup=snapshotted)
    assert missed["data"] == {"state": "incomplete",
                              "how": "the backup completed 1 volume snapshot(s) and none came back into this claim"}


def test_a_claim_whose_data_is_in_no_backup_or_that_is_lost_does_not_pass():
    nothing = volumes([claim("data")], [claim("data")])
    assert nothing["data"]["state"] == "unverified" and "not in the backup" in nothing["data"]["how"]
    lost = volumes([claim("data")], [claim("data", phase="Lost")])
    assert lost["data"] == {"state": "incomplete", "how": "restored claim is Lost"}
    # A claim missing altogether is the census's to name; one created after the backup is not expected.
    assert volumes([claim("data"), claim("later") | {"metadata": meta("later", created=at(minutes=1))["metadata"]}],
                   []) == {}


def test_a_namespace_that_is_gone_leaves_the_data_unverified():
    state, problems = drill.data_verdict({"ConfigMap": {"expected": 0, "restored": 0, "missing": []}}, {},
                                         completed_restore(), source_present=False)
    assert state == "unverified" and "namespace is gone" in problems[0]


# -- is the content the same ---------------------------------------------------------------------------------------

SECRET_VALUE = "czNjcjN0"  # base64 of a low-entropy password: neither it nor its digest may leave the comparison


def config_map(name, data=None, binary=None, written=None, **meta_fields):
    item = meta(name, **meta_fields)
    if data is not None:
        item["data"] = data
    if binary is not None:
        item["binaryData"] = binary
    if written:
        item["metadata"]["managedFields"] = [
            {"manager": "kubectl-client-side-apply", "operation": "Update", "time": at(days=2)},
            {"manager": "kubectl-edit", "operation": "Update", "time": written}]
    return item


def secret(name, value=SECRET_VALUE, kind_of="Opaque", **fields):
    return dict(config_map(name, data={"password": value}, **fields), type=kind_of)


def test_equal_content_is_compared_and_counted():
    source = {"ConfigMap": [config_map("app-config", {"mode": "prod"}), config_map("empty")],
              "Secret": [secret("db-password")]}
    restored = {"ConfigMap": [config_map("app-config", {"mode": "prod"}), config_map("empty", {})],
                "Secret": [secret("db-password")]}
    contents = drill.compare_content(source, restored, STARTED)
    assert contents == {"ConfigMap": {"compared": 2, "equal": 2, "differ": [], "changed": 0},
                        "Secret": {"compared": 1, "equal": 1, "differ": [], "changed": 0}}
    counts = drill.census(source, restored, STARTED)
    assert drill.data_verdict(counts, {}, completed_restore(), contents=contents) == ("complete", [])
    evidence = drill.data_evidence("complete", [], counts, {}, BACKUP, contents)
    assert json.loads(evidence["content"]) == {"ConfigMap": [2, 2], "Secret": [1, 1]}
    assert "content_changed_since_backup" not in evidence


def test_a_config_map_whose_data_changed_in_the_restore_is_named_and_incomplete():
    source = {"ConfigMap": [config_map("app-config", {"mode": "prod"}), config_map("flags", {"beta": "on"})]}
    restored = {"ConfigMap": [config_map("app-config", {"mode": "staging"}), config_map("flags", {"beta": "on"})]}
    contents = drill.compare_content(source, restored, STARTED)
    assert contents["ConfigMap"] == {"compared": 2, "equal": 1, "differ": ["app-config"], "changed": 0}
    state, problems = drill.data_verdict(drill.census(source, restored, STARTED), {}, completed_restore(),
                                         contents=contents)
    assert state == "incomplete" and problems == ["ConfigMap app-config content differs from the source"]


def test_binary_data_is_content_too():
    source = {"ConfigMap": [config_map("logo", binary={"logo.png": "iVBORw0KGgo="})]}
    restored = {"ConfigMap": [config_map("logo", binary={"logo.png": "iVBORw0KGgp="})]}
    assert drill.compare_content(source, restored, STARTED)["ConfigMap"]["differ"] == ["logo"]
    moved = {"ConfigMap": [config_map("logo", data={"logo.png": "iVBORw0KGgo="})]}  # same bytes, other field
    assert drill.compare_content(source, moved, STARTED)["ConfigMap"]["differ"] == ["logo"]


def test_a_secret_that_differs_is_named_and_neither_its_value_nor_its_digest_is_anywhere():
    source = {"Secret": [secret("db-password")]}
    restored = {"Secret": [secret("db-password", value="b3RoZXI=")]}
    contents = drill.compare_content(source, restored, STARTED)
    counts = drill.census(source, restored, STARTED)
    state, problems = drill.data_verdict(counts, {}, completed_restore(), contents=contents)
    assert state == "incomplete" and problems == ["Secret db-password content differs from the source"]
    evidence = drill.data_evidence(state, problems, counts, {}, BACKUP, contents)
    text = json.dumps([contents, problems, evidence])
    for secret_text in (SECRET_VALUE, "b3RoZXI=", "s3cr3t", "other"):
        assert secret_text not in text
    for item in source["Secret"] + restored["Secret"]:
        for fields in (("data", "type"), ("data",)):
            canonical = {field: item.get(field) for field in fields}
            compact = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
            for form in (json.dumps(canonical, sort_keys=True), compact):
                assert hashlib.sha256(form.encode()).hexdigest() not in text
    # A Secret of another type, same data, differs too (type is content).
    typed = drill.compare_content(source, {"Secret": [secret("db-password", kind_of="kubernetes.io/basic-auth")]},
                                  STARTED)
    assert typed["Secret"]["differ"] == ["db-password"]


def test_an_object_written_after_the_backup_started_is_not_compared_but_counted():
    source = {"ConfigMap": [config_map("app-config", {"mode": "canary"}, written=at(minutes=10)),
                            config_map("at-the-start", {"k": "v2"}, written=at(hours=1)),
                            config_map("before", {"k": "v"}, written=at(hours=2))]}
    restored = {"ConfigMap": [config_map("app-config", {"mode": "prod"}), config_map("at-the-start", {"k": "v"}),
                              config_map("before", {"k": "v"})]}
    contents = drill.compare_content(source, restored, STARTED)
    assert contents["ConfigMap"] == {"compared": 1, "equal": 1, "differ": [], "changed": 2}
    counts = drill.census(source, restored, STARTED)
    assert drill.data_verdict(counts, {}, completed_restore(), contents=contents) == ("complete", [])
    evidence = drill.data_evidence("complete", [], counts, {}, BACKUP, contents)
    assert json.loads(evidence["content"]) == {"ConfigMap": [1, 1]}
    assert evidence["content_changed_since_backup"] == "2"


def test_a_missing_object_is_the_census_s_to_name_not_a_content_mismatch():
    later = config_map("later", {"x": "1"}, created=at(minutes=5))
    source = {"ConfigMap": [config_map("app-config", {"mode": "prod"}), later],
              "Secret": [secret("db-password"), secret("cache", labels={"velero.io/exclude-from-backup": "true"})]}
    restored = {"ConfigMap": [], "Secret": [secret("cache", value="b3RoZXI=")]}
    contents = drill.compare_content(source, restored, STARTED)
    assert contents == {"ConfigMap": {"compared": 0, "equal": 0, "differ": [], "changed": 0},
                        "Secret": {"compared": 0, "equal": 0, "differ": [], "changed": 0}}
    state, problems = drill.data_verdict(drill.census(source, restored, STARTED), {}, completed_restore(),
                                         contents=contents)
    assert state == "incomplete" and problems == ["ConfigMap 0 of 1 (missing app-config)",
                                                  "Secret 0 of 1 (missing db-password)"]


def test_service_account_token_secrets_are_not_compared():
    # Velero restores them without token and ca.crt, for the token controller to issue new ones.
    source = {"Secret": [secret("ci-token", kind_of="kubernetes.io/service-account-token")]}
    restored = {"Secret": [secret("ci-token", value="bmV3", kind_of="kubernetes.io/service-account-token")]}
    assert drill.compare_content(source, restored, STARTED)["Secret"] == {
        "compared": 0, "equal": 0, "differ": [], "changed": 0}


def test_long_lists_of_differing_names_are_cut():
    source = {"ConfigMap": [config_map("cm-%d" % i, {"v": "1"}) for i in range(7)]}
    restored = {"ConfigMap": [config_map("cm-%d" % i, {"v": "2"}) for i in range(7)]}
    assert drill.content_mismatches(drill.compare_content(source, restored, STARTED)) == [
        "ConfigMap cm-0, cm-1, cm-2, cm-3, cm-4 and 2 more content differs from the source"]
