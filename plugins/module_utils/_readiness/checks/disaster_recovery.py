# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Disaster recovery: Velero present, storage available, schedules meeting each tier's RPO and retention, backups
actually completing, restores tested, etcd snapshots on self-managed control planes.

Backups are judged from what Velero records on Backup and Restore objects (phase and completionTimestamp), never
from Schedule.status.lastBackup, which Velero sets when it submits a backup, not when one succeeds.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import format_duration, parse_go_duration
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_meta,
    object_name,
    object_namespace,
    object_ref,
    object_status,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.velero import (
    SCHEDULE_LABEL,
    VELERO_INSTALL,
    ScheduleFacts,
    claim_mounts,
    judge_coverage,
    volume_data_route,
    within_rto,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks.operations import (
    crd_names,
    find_workloads,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_time
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import NIST
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Result,
    Unreadable,
    from_objects,
    obj,
)

BACKUP_ROLE = {"role": "backups", "tag": "velero_schedules"}
DRILL_ROLE = {"role": "backups", "tag": "restore_drill"}
ETCD_ROLE = {"role": "etcd_snapshots", "tag": "etcd_snapshots"}

VELERO_CRDS = ("schedules.velero.io", "backups.velero.io")
VELERO_ABSENT = "Velero not installed (the velero.io API is not served); see KC-DR-001"

FAILED_PHASES = ("PartiallyFailed", "Failed", "FailedValidation")
BSL_VALIDATION_WINDOW = datetime.timedelta(hours=24)
ETCD_SNAPSHOT_MAX_AGE_HOURS = 24


# -- small helpers ---------------------------------------------------------------------------------------------------


def _age(delta):
    """How long ago, readable: days beyond two days, else hours and minutes."""
    if delta >= datetime.timedelta(days=2):
        return "%d days" % delta.days
    return format_duration(datetime.timedelta(minutes=int(delta.total_seconds() // 60)))


def _at(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- Velero schedules -----------------------------------------------------------------------------------------------


def _schedules(ctx):
    schedules = ctx.optional_items("velero_schedules")
    return None if schedules is None else [ScheduleFacts(s) for s in schedules]


# -- KC-DR-001 -------------------------------------------------------------------------------------------------------


def velero_present(ctx):
    crds = crd_names(ctx)
    missing = [crd for crd in VELERO_CRDS if crd not in crds]
    found, idle = find_workloads(ctx.items("deployments"), "Deployment", r"^velero$", r"(^|/)velero$")
    evidence = {"crds_missing": missing, "deployments": found, "scaled_to_zero": idle}
    absent = ["CRD %s" % crd for crd in missing]
    if not found:
        absent.append("Deployment velero%s" % (" (%s)" % ", ".join(idle) if idle else ""))
    if absent:
        return Result("fail", "Velero is not installed (missing %s): %s" % (", ".join(absent), VELERO_INSTALL),
                      evidence)
    return Result("pass", "Velero installed: %s" % ", ".join(found), evidence)


# -- KC-DR-002 -------------------------------------------------------------------------------------------------------


def _judge_location(location, now):
    spec = location.get("spec") or {}
    status = object_status(location)
    window = BSL_VALIDATION_WINDOW
    note = ""
    try:
        frequency = parse_go_duration(spec.get("validationFrequency"))
    except ValueError:
        frequency = None
        note = "; validationFrequency %r is not a duration" % spec.get("validationFrequency")
    if frequency is not None and frequency * 3 > window:
        window = frequency * 3
    if frequency == datetime.timedelta(0):
        note = "; validation is disabled (validationFrequency 0)"
    phase = status.get("phase")
    if phase != "Available":
        detail = ": %s" % status["message"] if status.get("message") else ""
        return "fail", "phase %s%s%s" % (phase or "not set", detail, note)
    validated = parse_time(status.get("lastValidationTime"))
    if validated is None:
        return "fail", "Available but never validated (no status.lastValidationTime)%s" % note
    age = now - validated
    if age > window:
        return "fail", "Available but last validated %s ago (%s), older than %s%s" % (
            _age(age), _at(validated), format_duration(window), note)
    return "pass", "Available, validated %s ago%s" % (_age(max(age, datetime.timedelta(0))), note)


def storage_location_available(ctx):
    locations = ctx.optional_items("velero_backupstoragelocations")
    if locations is None:
        return Result("fail", VELERO_ABSENT)
    if not locations:
        return Result("fail", "no BackupStorageLocation: Velero has nowhere to write backups")
    objects = []
    for location in locations:
        verdict, reason = _judge_location(location, ctx.now)
        if (location.get("spec") or {}).get("default"):
            reason += " (default)"
        objects.append(obj("BackupStorageLocation", object_namespace(location), object_name(location),
                           verdict, reason))
    usable = ["%s/%s" % (o["namespace"], o["name"]) for o in objects if o["verdict"] == "pass"]
    evidence = {"available": usable}
    if usable:
        # One healthy location is enough to hold backups; the others are listed for the reader.
        return Result("pass", "%d of %d BackupStorageLocation(s) Available and recently validated: %s"
                      % (len(usable), len(objects), ", ".join(usable)), evidence, objects)
    return Result("fail", "no BackupStorageLocation is Available and validated recently: %s"
                  % "; ".join("%s/%s %s" % (o["namespace"], o["name"], o["reason"]) for o in objects),
                  evidence, objects)


# -- KC-DR-003 -------------------------------------------------------------------------------------------------------


def _claims_without_data(ctx, namespace, schedules):
    """{claim: why} for the namespace's PersistentVolumeClaims whose volume data no active Schedule's backups hold
    (the objects alone restore an empty volume). No active Schedule at all: judge_coverage already says so."""
    claims = ctx.by_namespace("persistentvolumeclaims").get(namespace) or []
    if not claims or not schedules:
        return {}
    mounts = claim_mounts(ctx.by_namespace("pods").get(namespace) or [])
    locations = [object_ref(v) for v in ctx.optional_items("velero_volumesnapshotlocations") or []]
    uncovered = {}
    for claim in claims:
        name = object_name(claim)
        reasons = []
        for schedule in schedules:
            names = [ref.split("/", 1)[1] for ref in locations if ref.split("/", 1)[0] == schedule.namespace]
            how, why = volume_data_route(schedule.template, mounts.get(name) or [], names)
            if how:
                break
            reasons.append("%s: %s" % (schedule.ref, why))
        else:
            uncovered[name] = "; ".join(reasons)
    return uncovered


def schedules_cover_namespaces(ctx):
    schedules = _schedules(ctx)
    if schedules is None:
        return Result("fail", VELERO_ABSENT)
    declared = set(ctx.settings.get("rpo_evidence") or [])
    claims_without_data = {}
    objects = []
    for namespace, tier, rule, error in ctx.application_namespaces():
        name = object_meta(namespace).get("name")
        if error:
            objects.append(obj("Namespace", name, name, "unknown", error))
            continue
        covering = [s for s in schedules if s.covers(name)]
        verdict, reason = judge_coverage(name, tier, rule, covering, ctx, declared)
        uncovered = _claims_without_data(ctx, name, [s for s in covering if s.counts])
        if uncovered:
            claims_without_data[name] = uncovered
            verdict = "fail" if verdict == "pass" else verdict
            reason += "; volume data of %d PersistentVolumeClaim(s) in no backup: %s" % (len(uncovered), "; ".join(
                "%s (%s)" % (claim, why) for claim, why in sorted(uncovered.items())))
        objects.append(obj("Namespace", name, name, verdict, reason))
    evidence = {"schedules": {s.ref: s.evidence() for s in schedules}, "rpo_evidence": sorted(declared),
                "claims_without_volume_data": claims_without_data}
    return from_objects(objects, "every application namespace is backed up within its tier's RPO and retention",
                        "%d namespace(s) not backed up within their tier's RPO or retention", evidence,
                        tier_rule="per namespace: label kubecompass.io/tier, else cluster tier %s" % ctx.tier,
                        none_message="no application namespaces")


# -- KC-DR-004 -------------------------------------------------------------------------------------------------------


def _backup_started(backup):
    status = object_status(backup)
    return (parse_time(status.get("startTimestamp")) or parse_time(object_meta(backup).get("creationTimestamp"))
            or parse_time(status.get("completionTimestamp")))


def _judge_backups(schedule, backups, now):
    if schedule.problem:
        return "fail", "%s: it makes no usable backups" % schedule.problem
    limit = schedule.interval + max(datetime.timedelta(minutes=10), schedule.interval / 10)
    dated = [b for b in backups if _backup_started(b) is not None]
    newest = max(dated, key=_backup_started) if dated else None
    newest_note = ""
    if newest is not None and object_status(newest).get("phase") in FAILED_PHASES:
        newest_note = "; the newest backup %s is %s, which does not count" % (
            object_meta(newest).get("name"), object_status(newest).get("phase"))
    completed = [(parse_time(object_status(b).get("completionTimestamp")), b) for b in backups
                 if object_status(b).get("phase") == "Completed"
                 and parse_time(object_status(b).get("completionTimestamp"))]
    if not completed:
        submitted = ("; status.lastBackup %s only records that a backup was submitted" % schedule.last_submitted
                     if schedule.last_submitted else "")
        return "fail", "no Completed backup labelled %s=%s in %s%s%s" % (
            SCHEDULE_LABEL, schedule.name, schedule.namespace, newest_note, submitted)
    finished, backup = max(completed, key=lambda pair: pair[0])
    age = now - finished
    window = "interval %s + margin %s" % (format_duration(schedule.interval),
                                          format_duration(limit - schedule.interval))
    if age > limit:
        return "fail", "last Completed backup %s finished %s ago (%s), older than %s%s" % (
            object_meta(backup).get("name"), _age(age), _at(finished), window, newest_note)
    return "pass", "last Completed backup %s finished %s ago, within %s%s" % (
        object_meta(backup).get("name"), _age(max(age, datetime.timedelta(0))), window, newest_note)


def backups_recent(ctx):
    schedules = _schedules(ctx)
    backups = ctx.optional_items("velero_backups")
    if schedules is None or backups is None:
        return Result("fail", VELERO_ABSENT)
    namespaces = [object_meta(ns).get("name") for ns, _tier, _rule, _error in ctx.application_namespaces()]
    if not namespaces:
        return Result("not_applicable", "no application namespaces")
    by_schedule = {}
    for backup in backups:
        key = (object_meta(backup).get("namespace"), (object_meta(backup).get("labels") or {}).get(SCHEDULE_LABEL))
        by_schedule.setdefault(key, []).append(backup)
    objects = []
    for schedule in schedules:
        covered = [name for name in namespaces if schedule.covers(name)]
        if not covered:
            continue
        if schedule.paused:
            objects.append(obj("Schedule", schedule.namespace, schedule.name, "not_applicable",
                               "paused: it makes no backups (KC-DR-003 judges the coverage it leaves)"))
            continue
        verdict, reason = _judge_backups(schedule, by_schedule.get((schedule.namespace, schedule.name)) or [],
                                         ctx.now)
        objects.append(obj("Schedule", schedule.namespace, schedule.name, verdict, reason))
    if not objects:
        return Result("fail", "no Velero Schedule covers an application namespace, so no backup is being made")
    return from_objects(objects, "every Schedule covering application namespaces has a recent Completed backup",
                        "%d Schedule(s) without a Completed backup within their interval")


# -- KC-DR-005 -------------------------------------------------------------------------------------------------------


# A drill record's data_restored values that prove no restore (the drill module writes complete otherwise).
DATA_NOT_PROVEN = ("incomplete", "unverified")


def _recorded_seconds(value):
    """A drill record's duration_seconds as whole seconds; None when it is missing or not a number."""
    try:
        seconds = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def _restore_seconds(status):
    started, finished = parse_time(status.get("startTimestamp")), parse_time(status.get("completionTimestamp"))
    if started is None or finished is None or finished < started:
        return None
    return int(round((finished - started).total_seconds()))


def _restore_tests(restores, records):
    """Restore tests from Restores and drill records, each {finished, outcome, what, namespaces (restored, None
    for all), seconds (None when not recorded)}; and the records that could not be read."""
    tests = []
    ignored = []
    for restore in restores:
        status, spec = object_status(restore), restore.get("spec") or {}
        finished = parse_time(status.get("completionTimestamp"))
        if finished is None:
            continue  # still running, or never started
        included = spec.get("includedNamespaces") or []
        tests.append({"finished": finished, "outcome": status.get("phase") or "unknown",
                      "what": "Restore %s of backup %s" % (
                          object_ref(restore), spec.get("backupName") or "of schedule %s" % spec.get("scheduleName")),
                      "namespaces": None if not included or "*" in included else tuple(sorted(included)),
                      "seconds": _restore_seconds(status)})
    for record in records:
        data = record.get("data") or {}
        finished = parse_time(data.get("completed_at"))
        if finished is None:
            ignored.append("%s: completed_at %r is not an RFC 3339 time" % (
                object_ref(record), data.get("completed_at")))
            continue
        seconds = _recorded_seconds(data.get("duration_seconds"))
        outcome = data.get("outcome") or "unknown"
        # A restore that completed without its data proves no restore (records from before the census have no
        # data_restored and are judged by their outcome).
        short = data.get("data_restored") in DATA_NOT_PROVEN and outcome == "Completed"
        if short:
            problems = data.get("data_problems") or "no detail recorded"
            outcome = "Completed with data %s (%s)" % (data["data_restored"], problems)
        tests.append({"finished": finished, "outcome": outcome, "data_short": short,
                      "what": "drill record %s (backup %s into namespace %s, %s)" % (
                          object_ref(record), data.get("backup"), data.get("namespace"),
                          "no duration recorded" if seconds is None else "%ss" % seconds),
                      "namespaces": (data.get("namespace"),) if data.get("namespace") else None,
                      "seconds": seconds})
    return tests, ignored


def _data_short(tests, window_start):
    """The newest drill of each namespace within the window when it found data missing: an older complete drill
    does not outweigh it."""
    newest = {}
    for test in sorted(tests, key=lambda t: t["finished"]):
        if test["finished"] >= window_start:
            newest[test["namespaces"]] = test
    return [t for t in newest.values() if t.get("data_short")]


def _rto(ctx, test, tiers_in_use):
    """(RTO seconds, tier) a restore test is judged by: the strictest RTO of the tiers of the namespaces it restored
    (of every tier in use when it names none, or none has a valid tier)."""
    tiers = {tier for tier, _rule, error in (ctx.tier_of(name) for name in test["namespaces"] or ()) if not error}
    tier = min(sorted(tiers or tiers_in_use), key=lambda t: ctx.threshold(t, "rto_minutes"))
    return ctx.threshold(tier, "rto_minutes"), tier


def _judge_rto(ctx, passed, tiers_in_use):
    """The newest successful test of each set of namespaces restored, judged against its RTO: (judged, slow,
    untimed), each test given rto_seconds and tier. A restore without a duration proves no RTO."""
    newest = {}
    for test in sorted(passed, key=lambda t: t["finished"]):
        newest[test["namespaces"]] = test
    judged = sorted(newest.values(), key=lambda t: t["finished"])
    slow, untimed = [], []
    for test in judged:
        rto_minutes, test["tier"] = _rto(ctx, test, tiers_in_use)
        test["rto_seconds"] = int(rto_minutes * 60)
        if test["seconds"] is None:
            untimed.append(test)
        elif not within_rto(test["seconds"], rto_minutes):
            slow.append(test)
    return judged, slow, untimed


def restore_tested(ctx):
    restores = ctx.optional_items("velero_restores")
    if restores is None:
        return Result("fail", VELERO_ABSENT)
    tiers = {ctx.tier} | {tier for _ns, tier, _rule, error in ctx.application_namespaces() if not error}
    max_days = min(ctx.threshold(tier, "restore_test_max_age_days") for tier in tiers)
    tier_rule = ("strictest restore_test_max_age_days of the tiers in use (%s); RTO of each restored namespace's "
                 "tier" % ", ".join(sorted(tiers)))
    window = datetime.timedelta(days=max_days)
    try:
        records = ctx.items("kubecompass_drill_records")
        unreadable = None
    except Unreadable as exc:
        records, unreadable = [], exc  # Restores alone may still prove a test; otherwise this is unknown
    tests, ignored = _restore_tests(restores, records)
    passed = [t for t in tests if t["outcome"] == "Completed" and ctx.now - t["finished"] <= window]
    evidence = {"window_days": max_days,
                "tests": [{"finished": _at(t["finished"]), "outcome": t["outcome"], "what": t["what"],
                           "duration_seconds": t["seconds"]}
                          for t in sorted(tests, key=lambda t: t["finished"], reverse=True)[:10]],
                "ignored_drill_records": ignored}
    short = _data_short(tests, ctx.now - window)
    if short:
        return Result("fail", "restore drill without its data: %s" % "; ".join(
            "%s: %s" % (t["what"], t["outcome"]) for t in sorted(short, key=lambda t: t["finished"])),
            evidence, tier_rule=tier_rule)
    if passed:
        judged, slow, untimed = _judge_rto(ctx, passed, tiers)
        evidence["rto"] = [{"what": t["what"], "duration_seconds": t["seconds"], "tier": t["tier"],
                            "rto_seconds": t["rto_seconds"]} for t in judged]
        if slow:
            return Result("fail", "restore slower than the RTO: %s" % "; ".join(
                "%s took %ds, over the %s tier's RTO of %ds" % (t["what"], t["seconds"], t["tier"], t["rto_seconds"])
                for t in slow), evidence, tier_rule=tier_rule)
        if untimed:
            return Result("fail", "restore time not proven: %s" % "; ".join(
                "%s records no restore duration to judge against the %s tier's RTO of %ds"
                % (t["what"], t["tier"], t["rto_seconds"]) for t in untimed), evidence, tier_rule=tier_rule)
        newest = judged[-1]
        return Result("pass", "restore tested %s ago: %s %s in %ds, within the %s tier's RTO of %ds (window %d "
                      "days)" % (_age(max(ctx.now - newest["finished"], datetime.timedelta(0))), newest["what"],
                                 newest["outcome"], newest["seconds"], newest["tier"], newest["rto_seconds"],
                                 max_days), evidence, tier_rule=tier_rule)
    if unreadable is not None:
        raise unreadable
    if not tests:
        return Result("fail", "no restore test recorded: no Completed Restore and no drill record within %d days%s"
                      % (max_days, " (%d unreadable drill record(s))" % len(ignored) if ignored else ""),
                      evidence, tier_rule=tier_rule)
    newest = max(tests, key=lambda t: t["finished"])
    return Result("fail", "no successful restore test within %d days; the newest is %s: %s at %s (%s ago)" % (
        max_days, newest["what"], newest["outcome"], _at(newest["finished"]),
        _age(max(ctx.now - newest["finished"], datetime.timedelta(0)))), evidence, tier_rule=tier_rule)


# -- KC-DR-006 -------------------------------------------------------------------------------------------------------


def _snapshot_errors(node):
    return "; ".join("%s: %s" % (e.get("what"), e.get("cause")) for e in node.get("errors") or []
                     if "snapshot" in str(e.get("what") or ""))


def etcd_snapshots_recent(ctx):
    facts = ctx.node_facts()
    if not facts:
        raise Unreadable("control-plane node facts", "the control-plane group has no hosts")
    hours = ctx.settings.get("etcd_snapshot_max_age_hours")
    max_age = datetime.timedelta(hours=ETCD_SNAPSHOT_MAX_AGE_HOURS if hours is None else hours)
    objects = []
    for host in sorted(facts):
        node = facts[host] or {}
        snapshots = node.get("etcd_snapshots")
        errors = _snapshot_errors(node)
        if snapshots is None or errors:
            cause = errors or "; ".join("%s: %s" % (e.get("what"), e.get("cause")) for e in node.get("errors") or [])
            objects.append(obj("Node", None, host, "unknown", "etcd snapshots not read: %s" % (
                cause or "the node facts hold no etcd_snapshots")))
            continue
        newest = snapshots.get("newest")
        where = ", ".join(snapshots.get("dirs") or []) or "no snapshot directory"
        if not newest:
            objects.append(obj("Node", None, host, "fail", "no etcd snapshot in %s" % where))
            continue
        taken = parse_time(newest.get("mtime"))
        if taken is None:
            objects.append(obj("Node", None, host, "unknown", "snapshot %s has no readable mtime (%r)"
                               % (newest.get("path"), newest.get("mtime"))))
            continue
        age = ctx.now - taken
        verdict = "fail" if age > max_age else "pass"
        objects.append(obj("Node", None, host, verdict, "newest snapshot %s taken %s ago (%s), %s %s; %d in %s" % (
            newest.get("path"), _age(max(age, datetime.timedelta(0))), _at(taken),
            "older than" if verdict == "fail" else "within", format_duration(max_age), snapshots.get("count") or 0,
            where)))
    return from_objects(objects, "every control-plane node has an etcd snapshot younger than %s"
                        % format_duration(max_age),
                        "%%d control-plane node(s) without an etcd snapshot younger than %s" % format_duration(max_age),
                        {"max_age_hours": max_age.total_seconds() / 3600})


CHECKS = [
    Check(
        "KC-DR-001", "Velero installed", "disaster_recovery", "critical",
        item="backups", evaluate=velero_present, needs=("customresourcedefinitions", "deployments"),
        controls={NIST: ("CP-9",)},
        runbook="Without a backup controller nothing in the cluster can be recovered after deletion, corruption or "
                "loss of the cluster. Install Velero with the vmware-tanzu Helm chart (helm install velero "
                "vmware-tanzu/velero -n velero --create-namespace, with your object storage provider plugin, "
                "bucket and credentials) so the velero.io CRDs and the velero Deployment exist.",
    ),
    Check(
        "KC-DR-002", "Backup storage location Available and recently validated", "disaster_recovery", "high",
        item="backups", evaluate=storage_location_available, needs=("velero_backupstoragelocations",),
        controls={NIST: ("CP-9", "CP-6")},
        runbook="Velero writes backups to a BackupStorageLocation; when it is Unavailable or no longer validated, "
                "scheduled backups fail. Check the bucket, credentials and network path (kubectl -n velero "
                "describe backupstoragelocation, velero backup-location get) until the phase is Available and "
                "status.lastValidationTime is recent.",
    ),
    Check(
        "KC-DR-003", "Backup schedules meet each namespace's RPO and retention", "disaster_recovery", "high",
        item="backups", evaluate=schedules_cover_namespaces, controls={NIST: ("CP-9",)},
        needs=("velero_schedules", "namespaces", "persistentvolumeclaims", "pods", "velero_volumesnapshotlocations"),
        thresholds=("rpo_minutes", "backup_retention_hours"), remediation=BACKUP_ROLE, scope="namespace",
        runbook="A namespace no active Schedule covers, or covers less often than its tier's RPO or with a TTL "
                "shorter than the retention, loses data beyond what its tier allows. Run the backups role "
                "(tag velero_schedules) to create per-tier Schedules, or adjust spec.schedule and "
                "spec.template.ttl of your own. Near-zero RPO needs continuous replication: declare the "
                "replicated namespaces in kubecompass_settings.rpo_evidence. A backup without the volume data of a "
                "namespace's PersistentVolumeClaims restores empty volumes: give the Schedule volume snapshots "
                "(snapshotVolumes with a VolumeSnapshotLocation, or snapshotMoveData for CSI snapshots) or "
                "file-system backup (defaultVolumesToFsBackup, or the pod annotation backup.velero.io/backup-volumes "
                "naming the volume).",
    ),
    Check(
        "KC-DR-004", "Scheduled backups complete on time", "disaster_recovery", "high",
        item="backups", evaluate=backups_recent, needs=("velero_schedules", "velero_backups", "namespaces"),
        controls={NIST: ("CP-9",)},
        runbook="A Schedule whose newest Completed Backup is older than its interval is not producing usable "
                "backups: PartiallyFailed and Failed backups do not count. Read velero backup describe/logs for the "
                "newest backups of the schedule, fix the cause (storage location, volume snapshots, hooks) and "
                "confirm the next backup reaches phase Completed.",
    ),
    Check(
        "KC-DR-005", "Restore tested recently", "disaster_recovery", "high",
        item="restore-tested", evaluate=restore_tested,
        needs=("velero_restores", "kubecompass_drill_records", "namespaces"),
        thresholds=("restore_test_max_age_days", "rto_minutes"), remediation=DRILL_ROLE,
        runbook="A backup never restored is not known to work, and the restore time is the evidence for the RTO: "
                "the newest successful restore of each namespace must take no longer than its tier's RTO. "
                "Run playbooks/restore_drill.yml (backups role, tag restore_drill): it restores the latest "
                "Completed backup into a scratch namespace, with workloads held at zero, counts what came back "
                "kind by kind against the namespace, compares the content of its ConfigMaps and Secrets (by digest, "
                "never recorded) and checks each claim's volume data, and keeps a drill record of both and of its "
                "duration, because Velero deletes Restore objects together with expired backups. A drill that found "
                "objects or volume data missing, or content that differs (data_restored incomplete), points at the "
                "backup: read velero backup describe --details for what it skipped. Volume data in file-system backups "
                "comes back only with backups_drill_live_workloads (data_restored unverified otherwise). A restore "
                "slower than the RTO needs a faster path (smaller backups, volume snapshots instead of file-system "
                "backup, a faster storage location) or a tier whose RTO the team can meet.",
    ),
    Check(
        "KC-DR-006", "etcd snapshots taken on every control-plane node", "disaster_recovery", "high",
        item="backups", evaluate=etcd_snapshots_recent, needs=("node_facts",), distributions=SELF_MANAGED,
        controls={NIST: ("CP-9",)},
        remediation=ETCD_ROLE,
        runbook="Velero backs up API objects, not etcd; losing etcd quorum without a snapshot means rebuilding the "
                "cluster. Run the etcd_snapshots role (tag etcd_snapshots) to install a scheduled etcdctl snapshot "
                "(systemd timer or cron) with retention, or enable the distribution's own snapshots "
                "(rke2/k3s etcd-snapshot-schedule-cron).",
    ),
]
