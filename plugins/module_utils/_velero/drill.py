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
import hashlib
import json
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._apply import MANAGED_BY
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import object_meta, object_status
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.velero import (
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
        meta = object_meta(backup)
        if meta.get("namespace") != velero_namespace:
            continue
        if schedule and (meta.get("labels") or {}).get(SCHEDULE_LABEL) != schedule:
            continue
        spec = backup.get("spec") or {}
        if not covers_namespace(spec, namespace):
            continue
        partial = partial_scope(spec)
        finished = parse_time(object_status(backup).get("completionTimestamp"))
        phase = object_status(backup).get("phase") or "no phase"
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
    restored = (object_status(restore).get("progress") or {}).get("itemsRestored")
    if restored == 0:
        return "the Restore completed with 0 items restored: the backup holds nothing of the namespace"
    if not scratch_exists:
        return ("the Restore completed but its scratch namespace does not exist: nothing of the namespace was "
                "restored")
    return None


def duration(restore, wall_seconds):
    """(seconds, source): completionTimestamp - startTimestamp as Velero recorded them, else the wall time the
    module waited (creation to the terminal phase, or to the timeout)."""
    status = object_status(restore)
    started, finished = parse_time(status.get("startTimestamp")), parse_time(status.get("completionTimestamp"))
    if started is not None and finished is not None and finished >= started:
        return int(round((finished - started).total_seconds())), "restore status timestamps"
    return int(round(wall_seconds)), "wall time waited"


def drill_record(restore, outcome, backup_name, namespace, scratch, tier, rto_minutes, seconds, source, now):
    """The drill record ConfigMap. completed_at is the Restore's completionTimestamp (else when the drill ended);
    rto_met holds only for a Completed restore within the tier's RTO."""
    status = object_status(restore)
    finished = parse_time(status.get("completionTimestamp")) or now
    met = outcome == "Completed" and within_rto(seconds, rto_minutes)
    data = {
        "completed_at": rfc3339(finished),
        "outcome": outcome,
        "backup": backup_name,
        "namespace": namespace,
        "duration_seconds": str(seconds),
        "duration_source": source,
        "restore": object_meta(restore).get("name"),
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
    for key, field in (("items_restored", "itemsRestored"), ("items_total", "totalItems")):
        if progress.get(field) is not None:
            data[key] = str(progress[field])
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": object_meta(restore).get("name"), "namespace": object_meta(restore).get("namespace"),
                     "labels": dict(MANAGED_BY, **{DRILL_LABEL: "true"})},
        "data": data,
    }


# -- did the data come back ------------------------------------------------------------------------------------------
#
# Velero lists no per-kind contents of a Backup through the API (they are in the object store), and the Restore's
# progress counts items across every kind. So the drill compares the namespace itself with its restored copy, kind by
# kind and by name: what existed in the namespace when the backup started must exist in the scratch namespace.

# The kinds counted: (Velero's resource name, kind, list path in a namespace). Kinds the Restore excludes are left
# out; Pods are never counted (their owners recreate them); ReplicaSets neither (their Deployments own them).
CENSUS = (
    ("configmaps", "ConfigMap", "/api/v1/namespaces/%s/configmaps"),
    ("secrets", "Secret", "/api/v1/namespaces/%s/secrets"),
    ("serviceaccounts", "ServiceAccount", "/api/v1/namespaces/%s/serviceaccounts"),
    ("services", "Service", "/api/v1/namespaces/%s/services"),
    ("persistentvolumeclaims", "PersistentVolumeClaim", "/api/v1/namespaces/%s/persistentvolumeclaims"),
    ("deployments.apps", "Deployment", "/apis/apps/v1/namespaces/%s/deployments"),
    ("statefulsets.apps", "StatefulSet", "/apis/apps/v1/namespaces/%s/statefulsets"),
    ("daemonsets.apps", "DaemonSet", "/apis/apps/v1/namespaces/%s/daemonsets"),
    ("cronjobs.batch", "CronJob", "/apis/batch/v1/namespaces/%s/cronjobs"),
    ("jobs.batch", "Job", "/apis/batch/v1/namespaces/%s/jobs"),
    ("roles.rbac.authorization.k8s.io", "Role", "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles"),
    ("rolebindings.rbac.authorization.k8s.io", "RoleBinding",
     "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings"),
    ("networkpolicies.networking.k8s.io", "NetworkPolicy", "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies"),
    ("poddisruptionbudgets.policy", "PodDisruptionBudget", "/apis/policy/v1/namespaces/%s/poddisruptionbudgets"),
    ("ingresses.networking.k8s.io", "Ingress", "/apis/networking.k8s.io/v1/namespaces/%s/ingresses"),
)
PVC_KIND = "PersistentVolumeClaim"
EXCLUDE_LABEL = "velero.io/exclude-from-backup"
RESTORE_NAME_LABEL = "velero.io/restore-name"
BACKUP_NAME_LABEL = "velero.io/backup-name"
PVC_UID_LABEL = "velero.io/pvc-uid"
COMPLETE, INCOMPLETE, UNVERIFIED = "complete", "incomplete", "unverified"
FS_BACKUP_NEEDS_LIVE = "volume data not restored: file-system backups need live_workloads"
_MAX_NAMED = 5


def census_kinds(restore):
    """(kind, list path template) of every kind the Restore brings back: CENSUS less its excludedResources."""
    excluded = set((restore.get("spec") or {}).get("excludedResources") or ())
    return [(kind, path) for resource, kind, path in CENSUS if resource not in excluded]


def backup_started(backup):
    """When the backup began reading the namespace: objects created later cannot be in it."""
    status = object_status(backup)
    return parse_time(status.get("startTimestamp")) or parse_time(status.get("completionTimestamp"))


def expected(items, started):
    """Names of the objects a backup that started at ``started`` holds: created before it, not labelled
    velero.io/exclude-from-backup=true, and not owned by a controller (their owner is restored instead, and held at
    zero; its controller, or the garbage collector, decides about them). Only metadata is read."""
    names = set()
    for item in items:
        meta = object_meta(item)
        created = parse_time(meta.get("creationTimestamp"))
        if created is None or started is None or created > started:
            continue
        if (meta.get("labels") or {}).get(EXCLUDE_LABEL) == "true":
            continue
        if any(ref.get("controller") for ref in meta.get("ownerReferences") or []):
            continue
        names.add(meta.get("name"))
    return names


def census(source, restored, started):
    """{kind: {"expected", "restored", "missing"}} from the source namespace's and the scratch namespace's objects,
    both {kind: [items]}. restored counts the expected names found in the scratch namespace."""
    counts = {}
    for kind in sorted(source):
        wanted = expected(source[kind], started)
        present = {object_meta(item).get("name") for item in restored.get(kind) or ()}
        counts[kind] = {"expected": len(wanted), "restored": len(wanted & present),
                        "missing": sorted(wanted - present)}
    return counts


def census_shortfalls(counts):
    """One text per kind short in the scratch namespace: 'ConfigMap 1 of 2 (missing app-config)'."""
    short = []
    for kind, count in sorted(counts.items()):
        if count["missing"]:
            names = count["missing"][:_MAX_NAMED]
            more = " and %d more" % (len(count["missing"]) - len(names)) if len(count["missing"]) > len(names) else ""
            short.append("%s %d of %d (missing %s%s)" % (
                kind, count["restored"], count["expected"], ", ".join(names), more))
    return short


# -- is the content the same ----------------------------------------------------------------------------------------
#
# Counting by name proves an object came back, not what it holds. For ConfigMaps and Secrets the drill also compares
# the content of each expected object with its restored copy, by sha256 digests computed in the module and never kept:
# a digest of a low-entropy Secret value can be brute-forced, so neither a value nor a digest leaves the comparison.

CONTENT_FIELDS = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "type")}
# Velero restores a service account token Secret without its token and ca.crt, for the token controller to issue
# new ones in the scratch namespace (restore action SecretAction): its content differs by design.
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"


def _content_digest(item, fields):
    """sha256 of the content fields in canonical JSON; an empty map and none are the same (the API drops either)."""
    canonical = json.dumps({field: item.get(field) or None for field in fields}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def changed_since(item, started):
    """Whether a manager wrote the object after ``started`` (its metadata.managedFields times). The times have
    whole seconds, so a write in the very second the backup started counts as after: the backup may not hold it."""
    for entry in object_meta(item).get("managedFields") or []:
        written = parse_time(entry.get("time"))
        if written is not None and started is not None and written >= started:
            return True
    return False


def compare_content(source, restored, started):
    """{kind: {"compared", "equal", "differ", "changed"}} for the ConfigMaps and Secrets of both namespaces ({kind:
    [items]}, full objects): each object the backup holds (``expected``) and found in both namespaces is compared by
    content, unless it changed after the backup started ("changed" counts those; they prove nothing either way).
    "differ" names the objects whose content is not the source's. Missing objects are the census's to name."""
    result = {}
    for kind, fields in sorted(CONTENT_FIELDS.items()):
        if kind not in source:
            continue
        wanted = expected(source[kind], started)
        copies = {object_meta(item).get("name"): item for item in restored.get(kind) or ()}
        counts = {"compared": 0, "equal": 0, "differ": [], "changed": 0}
        for item in source[kind]:
            name = object_meta(item).get("name")
            if name not in wanted or name not in copies or item.get("type") == SERVICE_ACCOUNT_TOKEN:
                continue
            if changed_since(item, started):
                counts["changed"] += 1
                continue
            counts["compared"] += 1
            if _content_digest(item, fields) == _content_digest(copies[name], fields):
                counts["equal"] += 1
            else:
                counts["differ"].append(name)
        counts["differ"].sort()
        result[kind] = counts
    return result


def content_mismatches(contents):
    """One text per kind whose restored content differs: 'ConfigMap app-config content differs from the source'.
    Names only: never a value or a digest."""
    texts = []
    for kind, count in sorted((contents or {}).items()):
        if count["differ"]:
            names = count["differ"][:_MAX_NAMED]
            more = " and %d more" % (len(count["differ"]) - len(names)) if len(count["differ"]) > len(names) else ""
            texts.append("%s %s%s content differs from the source" % (kind, ", ".join(names), more))
    return texts


def _snapshots_completed(backup):
    status = object_status(backup)
    return sum(int(status.get(field) or 0) for field in ("volumeSnapshotsCompleted", "csiVolumeSnapshotsCompleted"))


def _completed_for(objects, uid):
    """The Completed PodVolumeBackups/Restores of one claim (label velero.io/pvc-uid, else tag pvc-uid)."""
    return [item for item in objects if object_status(item).get("phase") == "Completed" and uid and (
        (object_meta(item).get("labels") or {}).get(PVC_UID_LABEL) == uid
        or ((item.get("spec") or {}).get("tags") or {}).get("pvc-uid") == uid)]


def _from_snapshot(claim, volume, restore_name):
    """How a restored claim shows its data came from a volume snapshot, or None."""
    if volume is not None and (object_meta(volume).get("labels") or {}).get(RESTORE_NAME_LABEL) == restore_name:
        return "volume snapshot (PersistentVolume %s restored)" % object_meta(volume).get("name")
    spec = claim.get("spec") or {}
    for field in ("dataSourceRef", "dataSource"):
        if (spec.get(field) or {}).get("kind") == "VolumeSnapshot":
            return "CSI volume snapshot %s" % spec[field].get("name")
    return None


def volume_data(source_claims, restored_claims, volumes, backup, pod_volume_backups, pod_volume_restores,
                restore_name, started, live_workloads):
    """{claim name: {"state", "how"}} for every claim the backup holds: state is COMPLETE (its data came back),
    INCOMPLETE (backed up, not restored) or UNVERIFIED (restore not provable by this drill). ``volumes``: the
    restored claims' PersistentVolumes by name; PodVolumeBackups of the backup and PodVolumeRestores of the
    Restore, as listed."""
    wanted = expected(source_claims, started)
    restored = {object_meta(claim).get("name"): claim for claim in restored_claims}
    snapshots = _snapshots_completed(backup)
    result = {}
    for claim in sorted(source_claims, key=lambda c: object_meta(c).get("name")):
        name = object_meta(claim).get("name")
        if name not in wanted or name not in restored:
            continue  # not in the backup, or missing altogether (the census names it)
        restored_claim = restored[name]
        phase = object_status(restored_claim).get("phase") or "no phase"
        volume = volumes.get((restored_claim.get("spec") or {}).get("volumeName") or "")
        backed_up = _completed_for(pod_volume_backups, object_meta(claim).get("uid"))
        snapshot = _from_snapshot(restored_claim, volume, restore_name)
        if phase not in ("Bound", "Pending"):
            entry = (INCOMPLETE, "restored claim is %s" % phase)
        elif backed_up:
            if _completed_for(pod_volume_restores, object_meta(restored_claim).get("uid")):
                entry = (COMPLETE, "file-system backup %s restored" % object_meta(backed_up[0]).get("name"))
            elif not live_workloads:
                entry = (UNVERIFIED, FS_BACKUP_NEEDS_LIVE)
            else:
                entry = (INCOMPLETE, "file-system backup %s has no Completed PodVolumeRestore"
                         % object_meta(backed_up[0]).get("name"))
        elif snapshot:
            entry = (COMPLETE, "restored from %s (%s)" % (snapshot, phase))
        elif snapshots:
            entry = (INCOMPLETE, "the backup completed %d volume snapshot(s) and none came back into this claim"
                     % snapshots)
        else:
            entry = (UNVERIFIED, "volume data not in the backup (no PodVolumeBackup, no volume snapshot)")
        result[name] = {"state": entry[0], "how": entry[1]}
    return result


def data_verdict(counts, volumes, restore, source_present=True, contents=None):
    """(COMPLETE | INCOMPLETE | UNVERIFIED, problems): whether the drill proves the data came back. Objects missing,
    content that differs (``contents``, from compare_content) and volume data not restored make it incomplete; what
    this drill cannot prove makes it unverified; never a silent pass."""
    incomplete = census_shortfalls(counts) + content_mismatches(contents)
    progress = object_status(restore).get("progress") or {}
    total, done = progress.get("totalItems"), progress.get("itemsRestored")
    if isinstance(total, int) and isinstance(done, int) and done < total:
        incomplete.append("Velero restored %d of %d items" % (done, total))
    incomplete += ["PersistentVolumeClaim %s: %s" % (name, v["how"]) for name, v in sorted(volumes.items())
                   if v["state"] == INCOMPLETE]
    unverified = ["PersistentVolumeClaim %s: %s" % (name, v["how"]) for name, v in sorted(volumes.items())
                  if v["state"] == UNVERIFIED]
    if not source_present:
        unverified.append("the namespace is gone, so there is nothing to count the restored objects against")
    if incomplete:
        return INCOMPLETE, incomplete + unverified
    if unverified:
        return UNVERIFIED, unverified
    return COMPLETE, []


def data_evidence(state, problems, counts, volumes, backup, contents=None):
    """The drill record's data keys for what came back (strings, as a ConfigMap holds them). ``content`` counts,
    per kind, the objects compared and those equal; never a value or a digest."""
    data = {"data_restored": state,
            "census": json.dumps({kind: [c["expected"], c["restored"]] for kind, c in counts.items()},
                                 sort_keys=True),
            "volumes": json.dumps(volumes, sort_keys=True)}
    if contents is not None:
        data["content"] = json.dumps({kind: [c["compared"], c["equal"]] for kind, c in contents.items()},
                                     sort_keys=True)
        changed = sum(c["changed"] for c in contents.values())
        if changed:
            data["content_changed_since_backup"] = str(changed)
    if problems:
        data["data_problems"] = "; ".join(problems)
    backed_up = (object_status(backup).get("progress") or {}).get("itemsBackedUp")
    if backed_up is not None:
        data["backup_items"] = str(backed_up)
    return data
