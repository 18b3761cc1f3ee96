# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""A restore drill planned and recorded from listed objects. Pure functions, no I/O.

The drill restores the latest Completed backup of one namespace into a scratch namespace (Velero's
namespaceMapping), and keeps a drill record: a ConfigMap in Velero's namespace labelled
kubecompass.io/restore-drill=true, with exactly the data keys the assessment's KC-DR-005 reads (completed_at,
outcome, backup, namespace, duration_seconds) plus the RTO evidence. Velero deletes Restores together with expired
backups, so the record is what proves the test later.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._apply import MANAGED_BY
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks.disaster_recovery import (
    SCHEDULE_LABEL,
    covers_namespace,
    partial_scope,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_time
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero import API_VERSION

DRILL_LABEL = "kubecompass.io/restore-drill"  # the label the assessment's gather selects drill records by
# Restore phases after which Velero does nothing more (v1.18 restore_types.go).
TERMINAL_PHASES = ("Completed", "PartiallyFailed", "Failed", "FailedValidation")
TIMED_OUT = "TimedOut"
# Outcomes the drill records besides Velero's phases: a Completed Restore that brought nothing back proves no
# restore, and a Restore the drill lost track of has no known end. Neither is Completed, so KC-DR-005 does not pass.
EMPTY = "CompletedEmpty"
UNKNOWN = "Unknown"
NAME_PREFIX = "kubecompass-drill-"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_LABEL = 63


def _meta(item):
    return item.get("metadata") or {}


def _status(item):
    return item.get("status") or {}


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dns_label(value, what):
    if not isinstance(value, str) or len(value) > _MAX_LABEL or not _DNS_LABEL.match(value):
        raise KubeCompassError("%s %r is not a namespace name (lowercase letters, digits and '-', at most %d)"
                               % (what, value, _MAX_LABEL), "input")
    return value


def scratch_namespace(namespace, scratch=None):
    """The namespace the drill restores into: ``scratch``, else ``<namespace>-drill``. Never the namespace itself."""
    _dns_label(namespace, "namespace")
    if scratch is None:
        scratch = "%s-drill" % namespace
        if len(scratch) > _MAX_LABEL:
            raise KubeCompassError("namespace %s is too long to derive a scratch namespace from; set "
                                   "scratch_namespace" % namespace, "input")
    _dns_label(scratch, "scratch_namespace")
    if scratch == namespace:
        raise KubeCompassError("scratch_namespace must differ from the namespace restored (%s): the drill deletes "
                               "it afterwards" % namespace, "input")
    return scratch


def restore_name(namespace, now):
    """A unique Restore name, short enough for the velero.io/restore-name label Velero puts on what it restores."""
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
    room = _MAX_LABEL - len(NAME_PREFIX) - len(stamp) - 1
    return "%s%s-%s" % (NAME_PREFIX, namespace[:room].rstrip("-"), stamp)


def latest_backup(backups, namespace, velero_namespace, schedule=None):
    """The Backup to restore: in Velero's namespace, of ``schedule`` when given (label velero.io/schedule-name),
    covering ``namespace`` whole (no label selector or resource allow-list), phase Completed, newest by
    completionTimestamp. A KubeCompassError ("not_found") says what was found instead."""
    covering, passed_over = [], []
    for backup in backups or []:
        meta = _meta(backup)
        if meta.get("namespace") != velero_namespace:
            continue
        if schedule and (meta.get("labels") or {}).get(SCHEDULE_LABEL) != schedule:
            continue
        spec = backup.get("spec") or {}
        if not covers_namespace(spec, namespace):
            continue
        partial = partial_scope(spec)
        finished = parse_time(_status(backup).get("completionTimestamp"))
        phase = _status(backup).get("phase") or "no phase"
        if partial:
            passed_over.append("%s %s" % (meta.get("name"), partial))
        elif phase != "Completed" or finished is None:
            what = phase if phase != "Completed" else "Completed without completionTimestamp"
            passed_over.append("%s is %s" % (meta.get("name"), what))
        else:
            covering.append((finished, meta.get("name"), backup))
    if not covering:
        source = "of schedule %s " % schedule if schedule else ""
        raise KubeCompassError("no Completed backup %sin %s covers namespace %s%s" % (
            source, velero_namespace, namespace,
            " (passed over: %s)" % "; ".join(sorted(passed_over)[:5]) if passed_over else ""), "not_found")
    return max(covering, key=lambda entry: (entry[0], entry[1]))[2]


def restore_object(name, velero_namespace, backup_name, namespace, scratch):
    return {
        "apiVersion": API_VERSION, "kind": "Restore",
        "metadata": {"name": name, "namespace": velero_namespace,
                     "labels": dict(MANAGED_BY, **{DRILL_LABEL: "true"})},
        "spec": {"backupName": backup_name, "includedNamespaces": [namespace],
                 "namespaceMapping": {namespace: scratch}},
    }


def empty_restore(restore, scratch_exists):
    """Why a Completed Restore proves nothing, or None: it restored no item (status.progress.itemsRestored 0), or
    the scratch namespace it maps to does not exist (nothing of the namespace was in the backup)."""
    restored = (_status(restore).get("progress") or {}).get("itemsRestored")
    if restored == 0:
        return "the Restore completed with 0 items restored: the backup holds nothing of the namespace"
    if not scratch_exists:
        return ("the Restore completed but its scratch namespace does not exist: nothing of the namespace was "
                "restored")
    return None


def duration(restore, wall_seconds):
    """(seconds, source): completionTimestamp - startTimestamp as Velero recorded them, else the wall time the
    module waited (creation to the terminal phase, or to the timeout)."""
    status = _status(restore)
    started, finished = parse_time(status.get("startTimestamp")), parse_time(status.get("completionTimestamp"))
    if started is not None and finished is not None and finished >= started:
        return int(round((finished - started).total_seconds())), "restore status timestamps"
    return int(round(wall_seconds)), "wall time waited"


def drill_record(restore, outcome, backup_name, namespace, scratch, tier, rto_minutes, seconds, source, now):
    """The drill record ConfigMap. completed_at is the Restore's completionTimestamp (else when the drill ended);
    rto_met holds only for a Completed restore within the tier's RTO."""
    status = _status(restore)
    finished = parse_time(status.get("completionTimestamp")) or now
    met = outcome == "Completed" and seconds <= rto_minutes * 60
    data = {
        "completed_at": rfc3339(finished),
        "outcome": outcome,
        "backup": backup_name,
        "namespace": namespace,
        "duration_seconds": str(seconds),
        "duration_source": source,
        "restore": _meta(restore).get("name"),
        "scratch_namespace": scratch,
        "tier": tier,
        "rto_target_seconds": str(int(rto_minutes * 60)),
        "rto_met": "true" if met else "false",
    }
    for key, field in (("failure_reason", "failureReason"), ("errors", "errors"), ("warnings", "warnings")):
        if status.get(field) not in (None, ""):
            data[key] = str(status[field])
    progress = status.get("progress") or {}
    if progress.get("itemsRestored") is not None:
        data["items_restored"] = str(progress["itemsRestored"])
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": _meta(restore).get("name"), "namespace": _meta(restore).get("namespace"),
                     "labels": dict(MANAGED_BY, **{DRILL_LABEL: "true"})},
        "data": data,
    }
