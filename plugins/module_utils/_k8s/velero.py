# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Velero: which namespaces a Schedule's template covers, and how well (scope, interval, retention, RTO)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s import selectors
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import (
    CronError,
    format_duration,
    longest_interval,
    parse_go_duration,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_meta,
    object_ref,
    object_status,
)


VELERO_INSTALL = ("install it with the vmware-tanzu Helm chart: helm repo add vmware-tanzu "
                  "https://vmware-tanzu.github.io/helm-charts && helm install velero vmware-tanzu/velero -n velero "
                  "--create-namespace --set-file credentials.secretContents.cloud=<credentials file> "
                  "--set configuration.backupStorageLocation[0].provider=<provider> "
                  "--set configuration.backupStorageLocation[0].bucket=<bucket> "
                  "--set initContainers[0]=<provider plugin>")
SCHEDULE_LABEL = "velero.io/schedule-name"
DEFAULT_TTL = datetime.timedelta(hours=720)  # velero server --default-backup-ttl


def _glob_regex(pattern):
    """Velero namespace globs (*, ?, [...], {a,b}) as an anchored regex."""
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and "]" in pattern[index + 1:]:
            end = pattern.index("]", index + 1)
            body = pattern[index + 1:end]
            out.append("[%s]" % (("^" + body[1:]) if body.startswith("!") else body))
            index = end
        elif char == "{" and "}" in pattern[index + 1:]:
            end = pattern.index("}", index + 1)
            out.append("(?:%s)" % "|".join(re.escape(alt) for alt in pattern[index + 1:end].split(",")))
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "^%s$" % "".join(out)


def _namespace_matches(pattern, namespace):
    if not any(char in pattern for char in "*?[{"):
        return pattern == namespace
    return re.match(_glob_regex(pattern), namespace) is not None


def covers_namespace(template, namespace):
    """Velero's include/exclude rule: excludes win; no includes (or "*") means every namespace."""
    included = template.get("includedNamespaces") or []
    if any(_namespace_matches(pattern, namespace) for pattern in template.get("excludedNamespaces") or []):
        return False
    return not included or any(_namespace_matches(pattern, namespace) for pattern in included)


# What Velero itself adds to the exclusions of every Backup it runs (1.14+, backup_controller.go): CSI snapshot
# objects are intermediate, and Velero handles the ones it creates during the backup. Not a gap in the namespace.
VELERO_AUTO_EXCLUDED = frozenset(("volumesnapshots.snapshot.storage.k8s.io",
                                  "volumesnapshotcontents.snapshot.storage.k8s.io"))


def partial_scope(template):
    """Why a backup template takes only part of a namespace (label selectors, a resource allow- or deny-list, a
    resource policy), or None. Public: the Schedule remediation and the restore drill judge coverage with it too."""
    reasons = []
    if not selectors.is_empty(template.get("labelSelector") or {}):
        reasons.append("labelSelector")
    if template.get("orLabelSelectors"):
        reasons.append("orLabelSelectors")
    for field in ("includedResources", "includedNamespaceScopedResources"):
        resources = template.get(field) or []
        if resources and "*" not in resources:
            reasons.append("%s %s" % (field, ",".join(resources)))
    for field in ("excludedResources", "excludedNamespaceScopedResources"):
        excluded = [resource for resource in template.get(field) or [] if resource not in VELERO_AUTO_EXCLUDED]
        if excluded:
            reasons.append("%s %s" % (field, ",".join(excluded)))
    # A resource policy (a ConfigMap of skip rules for volumes) may leave data out; what it skips is not visible here.
    if (template.get("resourcePolicy") or {}).get("name"):
        reasons.append("resourcePolicy %s" % template["resourcePolicy"]["name"])
    return "backs up only what its %s select(s)" % " and ".join(reasons) if reasons else None


class ScheduleFacts:
    """What one Velero Schedule does: whether it runs, how often, how long its backups live, what it covers."""

    def __init__(self, schedule):
        spec = schedule.get("spec") or {}
        self.ref = object_ref(schedule)
        self.namespace = object_meta(schedule).get("namespace")
        self.name = object_meta(schedule).get("name")
        self.template = spec.get("template") or {}
        self.cron = spec.get("schedule")
        self.phase = object_status(schedule).get("phase") or ""
        self.last_submitted = object_status(schedule).get("lastBackup")
        self.notes = []
        self.paused = bool(spec.get("paused"))
        self.problem = None  # why it makes no usable backup at all
        if self.paused:
            self.problem = "paused"
        elif self.phase == "FailedValidation":
            self.problem = "FailedValidation (%s)" % ("; ".join(object_status(schedule).get("validationErrors") or [])
                                                      or "no reason recorded")
        elif self.phase in ("", "New"):
            self.notes.append("not validated by Velero yet (no status.phase Enabled)")
        self.interval = None
        try:
            self.interval = longest_interval(self.cron)
        except CronError as exc:
            self.problem = self.problem or "invalid schedule: %s" % exc
        self.ttl = None
        try:
            self.ttl = parse_go_duration(self.template.get("ttl"))
        except ValueError as exc:
            self.problem = self.problem or "invalid template.ttl: %s" % exc
        if self.ttl is None and not self.problem:
            self.ttl = DEFAULT_TTL
            self.notes.append("ttl empty: implicit 720h (the server default --default-backup-ttl)")
        # It runs, but a backup holds only part of each namespace: it cannot stand for the namespace's backup.
        self.partial = partial_scope(self.template)

    @property
    def counts(self):
        return not self.problem and not self.partial

    def covers(self, namespace):
        return covers_namespace(self.template, namespace)

    def describe(self):
        interval = format_duration(self.interval) if self.interval else "?"
        ttl = format_duration(self.ttl) if self.ttl is not None else "?"
        return "%s (every %s, ttl %s%s)" % (self.ref, interval, ttl, "".join("; %s" % n for n in self.notes))

    def evidence(self):
        return {
            "schedule": self.cron,
            "interval": format_duration(self.interval) if self.interval else None,
            "ttl": format_duration(self.ttl) if self.ttl is not None else None,
            "phase": self.phase or None,
            "included_namespaces": self.template.get("includedNamespaces") or [],
            "excluded_namespaces": self.template.get("excludedNamespaces") or [],
            "problem": self.problem,
            "partial": self.partial,
            "notes": self.notes,
        }


def judge_coverage(name, tier, rule, covering, ctx, declared):
    """(verdict, reason) of one namespace's backup coverage by ``covering`` (ScheduleFacts). Public: the Velero
    schedule remediation decides with it whether a user Schedule already covers a namespace adequately."""
    rpo_minutes = ctx.threshold(tier, "rpo_minutes")
    retention = datetime.timedelta(hours=ctx.threshold(tier, "backup_retention_hours"))
    tier_text = rule if rule.startswith("cluster tier") else "tier %s (%s)" % (tier, rule)
    active = [s for s in covering if s.counts]
    idle = "".join("; %s does not count: %s" % (s.ref, s.problem or s.partial) for s in covering if not s.counts)
    keeping = [s for s in active if s.ttl >= retention]
    retention_text = ("kept by %s" % ", ".join(s.describe() for s in keeping) if keeping else
                      "no active Schedule keeps its backups for %s%s" % (
                          format_duration(retention), ": %s" % ", ".join(s.describe() for s in active)
                          if active else ""))
    if rpo_minutes == 0:
        if name not in declared:
            return "fail", ("%s requires a near-zero RPO, which scheduled backups cannot meet: it needs continuous "
                            "replication evidence (e.g. storage replication) that the collection cannot see; once "
                            "replication is in place, list the namespace in kubecompass_settings.rpo_evidence"
                            % tier_text)
        if not keeping:
            return "fail", "near-zero RPO by declared replication (rpo_evidence), but %s%s" % (retention_text, idle)
        return "pass", "near-zero RPO by declared replication (rpo_evidence); %s" % retention_text
    rpo = datetime.timedelta(minutes=rpo_minutes)
    if not active:
        return "fail", "no active Velero Schedule backs it up (%s, RPO %s)%s" % (
            tier_text, format_duration(rpo), idle)
    frequent = [s for s in active if s.interval <= rpo]
    problems = []
    if not frequent:
        problems.append("no Schedule runs at least every %s (RPO of %s): %s" % (
            format_duration(rpo), tier_text, ", ".join(s.describe() for s in active)))
    if not keeping:
        problems.append(retention_text)
    if problems:
        return "fail", "; ".join(problems) + idle
    return "pass", "RPO %s met by %s; %s" % (format_duration(rpo), ", ".join(s.describe() for s in frequent),
                                             retention_text)


def within_rto(seconds, rto_minutes):
    """Whether a restore that took ``seconds`` meets an RTO of ``rto_minutes``: the one judgement both the drill
    record and KC-DR-005 make."""
    return seconds <= rto_minutes * 60


# Pod annotations that opt volumes into (or, under defaultVolumesToFsBackup, out of) file-system backup.
FS_BACKUP_VOLUMES = "backup.velero.io/backup-volumes"
FS_BACKUP_EXCLUDES = "backup.velero.io/backup-volumes-excludes"


def _annotated_volumes(pod, annotation):
    value = (object_meta(pod).get("annotations") or {}).get(annotation) or ""
    return {name.strip() for name in value.split(",") if name.strip()}


def claim_mounts(pods):
    """{claim name: [(pod, volume name)]}: the pods of one namespace and the volumes through which they mount each
    PersistentVolumeClaim (file-system backup reads a claim's data only through a pod that mounts it)."""
    mounts = {}
    for pod in pods:
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                mounts.setdefault(claim, []).append((pod, volume.get("name")))
    return mounts


def volume_data_route(template, mounts, snapshot_locations):
    """(how, None) when backups of ``template`` hold a claim's volume data, else (None, why not). ``mounts``: the
    claim's (pod, volume name) pairs; ``snapshot_locations``: names of the VolumeSnapshotLocations in Velero's
    namespace. CSI snapshots left in the cluster's storage without data movement are not counted: they do not leave
    with the backup and go when the volume's storage goes."""
    snapshots = template.get("snapshotVolumes") is not False
    if snapshots and template.get("snapshotMoveData"):
        return "CSI snapshot data movement (snapshotMoveData)", None
    wanted = template.get("volumeSnapshotLocations") or []
    locations = [name for name in snapshot_locations if not wanted or name in wanted]
    if snapshots and locations:
        return "volume snapshots (VolumeSnapshotLocation %s)" % ", ".join(sorted(locations)), None
    fs_default = template.get("defaultVolumesToFsBackup", template.get("defaultVolumesToRestic"))
    for pod, volume in mounts:
        if fs_default and volume not in _annotated_volumes(pod, FS_BACKUP_EXCLUDES):
            return "file-system backup (defaultVolumesToFsBackup; pod %s volume %s)" % (
                object_meta(pod).get("name"), volume), None
        if not fs_default and volume in _annotated_volumes(pod, FS_BACKUP_VOLUMES):
            return "file-system backup (pod %s annotation %s)" % (object_meta(pod).get("name"), FS_BACKUP_VOLUMES), None
    why = ["snapshotVolumes false" if not snapshots else
           "no VolumeSnapshotLocation%s and no snapshotMoveData" % (" named %s" % ", ".join(wanted) if wanted else "")]
    if not mounts:
        why.append("no pod mounts it for a file-system backup")
    elif fs_default:
        why.append("every pod mounting it excludes the volume (%s)" % FS_BACKUP_EXCLUDES)
    else:
        why.append("no defaultVolumesToFsBackup and no pod annotation %s naming its volume" % FS_BACKUP_VOLUMES)
    return None, "; ".join(why)
