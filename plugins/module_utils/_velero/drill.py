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

The scratch namespace is in the production cluster, so by default nothing restored may run or take traffic: a
Velero resource modifier holds every workload at zero (replicas 0, CronJobs suspended, Jobs parallelism 0,
DaemonSets on no node) and turns LoadBalancer/NodePort Services into ClusterIP ones, and the Restore leaves out Pods
and what claims production hostnames or load balancers (Ingresses, Gateway API Gateways and routes). Restoring
as-is is an explicit opt-in (live_workloads).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import json
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._apply import MANAGED_BY
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks.disaster_recovery import (
    SCHEDULE_LABEL,
    covers_namespace,
    partial_scope,
    within_rto,
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


MODIFIERS_NAME = "kubecompass-restore-drill-modifiers"
MODIFIERS_KEY = "resource-modifiers.yaml"  # Velero reads the one data key of the ConfigMap, whatever its name
# Pods are left out rather than patched: a restored Pod runs the production containers at once, and its owner
# (held at zero) would only delete it afterwards. So volume data restored through file-system backup (which needs
# the Pod) comes back only with live_workloads; volume snapshots restore into the PVCs either way.
EXCLUDED_RESOURCES = (
    "pods",
    "ingresses.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "grpcroutes.gateway.networking.k8s.io",
    "tlsroutes.gateway.networking.k8s.io",
    "tcproutes.gateway.networking.k8s.io",
    "udproutes.gateway.networking.k8s.io",
)
NO_NODE = {DRILL_LABEL: "no-node"}  # a nodeSelector no node matches


def _patch(operation, path, value):
    # Velero reads every value as a string and sends it to the JSON patch unquoted when it is JSON (a number,
    # true/false, null, an object): "0" becomes 0.
    return {"operation": operation, "path": path, "value": value}


def _rule(group_resource, *patches):
    return {"conditions": {"groupResource": group_resource}, "patches": list(patches)}


# ClusterIP Services take no external address. A failed "test" makes Velero skip the rule without error, so only
# Services of that type change. "add" sets a field whether or not the backup has it (a "remove" of a missing field
# fails the item), so the fields a ClusterIP Service may not carry get their empty value; the one pointer,
# allocateLoadBalancerNodePorts, is removed under a test of each value it can hold. (A loadBalancerClass, or a
# nodePort the owner set by hand, still makes the API refuse the Service: the drill then ends PartiallyFailed,
# never with a live load balancer.)
def _without_load_balancer():
    is_load_balancer = _patch("test", "/spec/type", "LoadBalancer")
    return [
        *(_rule("services", is_load_balancer, _patch("test", "/spec/allocateLoadBalancerNodePorts", flag),
                {"operation": "remove", "path": "/spec/allocateLoadBalancerNodePorts"}) for flag in ("true", "false")),
        _rule("services", is_load_balancer, _patch("replace", "/spec/type", "ClusterIP"),
              _patch("add", "/spec/externalTrafficPolicy", ""), _patch("add", "/spec/healthCheckNodePort", "0"),
              _patch("add", "/spec/loadBalancerIP", ""), _patch("add", "/spec/loadBalancerSourceRanges", "[]")),
        _rule("services", _patch("test", "/spec/type", "NodePort"), _patch("replace", "/spec/type", "ClusterIP"),
              _patch("add", "/spec/externalTrafficPolicy", "")),
    ]


def modifier_rules():
    """The resource modifier document (version v1) that restores every workload held at zero and every Service
    without an external address. "add" rather than "replace": it never fails on a field the backup omits."""
    scale_to_zero = [_rule(resource, _patch("add", "/spec/replicas", "0")) for resource in (
        "deployments.apps", "statefulsets.apps", "replicasets.apps", "replicationcontrollers")]
    return {
        "version": "v1",
        "resourceModifierRules": scale_to_zero + [
            _rule("cronjobs.batch", _patch("add", "/spec/suspend", "true")),
            _rule("jobs.batch", _patch("add", "/spec/parallelism", "0")),
            _rule("daemonsets.apps", _patch("add", "/spec/template/spec/nodeSelector", json.dumps(NO_NODE))),
            *_without_load_balancer(),
        ],
    }


def modifiers_config_map(velero_namespace):
    """The ConfigMap the drill's Restores reference as spec.resourceModifier; one for every drill, never labelled
    as a drill record (the assessment reads those). JSON is YAML, and says exactly which values are strings."""
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": MODIFIERS_NAME, "namespace": velero_namespace, "labels": dict(MANAGED_BY)},
        "data": {MODIFIERS_KEY: json.dumps(modifier_rules(), indent=2, sort_keys=True) + "\n"},
    }


def restore_object(name, velero_namespace, backup_name, namespace, scratch, live_workloads=False):
    """The drill's Restore: workloads held at zero and entry points left out, unless ``live_workloads``."""
    spec = {"backupName": backup_name, "includedNamespaces": [namespace], "namespaceMapping": {namespace: scratch}}
    if not live_workloads:
        spec["excludedResources"] = list(EXCLUDED_RESOURCES)
        spec["resourceModifier"] = {"kind": "ConfigMap", "name": MODIFIERS_NAME}
    return {
        "apiVersion": API_VERSION, "kind": "Restore",
        "metadata": {"name": name, "namespace": velero_namespace,
                     "labels": dict(MANAGED_BY, **{DRILL_LABEL: "true"})},
        "spec": spec,
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
    met = outcome == "Completed" and within_rto(seconds, rto_minutes)
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
        "live_workloads": "true" if "resourceModifier" not in (restore.get("spec") or {}) else "false",
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
