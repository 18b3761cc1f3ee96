#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: restore_drill
short_description: Restore a namespace's latest Velero backup into a scratch namespace and record the outcome
version_added: 0.1.0
description:
  - Finds the latest Backup in Velero's namespace with phase C(Completed) (newest C(completionTimestamp)) that covers
    O(namespace) whole, from O(schedule) when given, else from any schedule or none.
  - Creates a Velero Restore of it in Velero's namespace with C(includedNamespaces=[namespace]) and
    C(namespaceMapping) to O(scratch_namespace), then waits until the Restore's C(status.phase) is terminal
    (C(Completed), C(PartiallyFailed), C(Failed), C(FailedValidation)) or O(timeout) passes.
  - The scratch namespace is in the same cluster as production, so by default nothing restored runs or takes
    traffic. The Restore references a Velero resource modifier, the ConfigMap
    C(kubecompass-restore-drill-modifiers) in Velero's namespace (applied first), that restores Deployments,
    StatefulSets, ReplicaSets and ReplicationControllers with 0 replicas, CronJobs suspended, Jobs with parallelism
    0, DaemonSets on no node, and LoadBalancer and NodePort Services as ClusterIP Services; and it excludes Pods,
    Ingresses and Gateway API Gateways and routes (C(spec.excludedResources)). Needs Velero 1.12 or later.
  - Volume data comes back from volume snapshots either way; data in file-system backups needs the restored Pods,
    so only O(live_workloads) restores it.
  - Records the drill in a ConfigMap in Velero's namespace, named after the Restore and labelled
    C(kubecompass.io/restore-drill=true), with the data keys the assessment's check KC-DR-005 reads
    (C(completed_at), C(outcome), C(backup), C(namespace), C(duration_seconds)) plus C(restore),
    C(scratch_namespace), C(tier), C(rto_target_seconds) and C(rto_met). Velero deletes Restores together with
    expired backups; the record stays.
  - The duration is C(completionTimestamp - startTimestamp) of the Restore, else the wall time waited. The RTO
    target is the C(rto_minutes) of the namespace's tier (label C(kubecompass.io/tier), else O(tier)).
  - Then deletes the scratch namespace and waits up to O(cleanup_timeout) seconds for it to go. After a timeout the
    Restore may still be writing into it, so it is kept and reported.
  - After a C(Completed) restore, proves the data came back before the scratch namespace goes. Velero lists no
    per-kind contents of a backup through its API, so the namespace is counted against its restored copy, kind by
    kind and by name (ConfigMaps, Secrets, ServiceAccounts, Services, PersistentVolumeClaims, Deployments,
    StatefulSets, DaemonSets, CronJobs, Jobs, Roles, RoleBindings, NetworkPolicies, PodDisruptionBudgets, Ingresses;
    less what the Restore excludes). Expected are the objects created before the backup started, not labelled
    C(velero.io/exclude-from-backup=true) and not owned by a controller.
  - The content of each expected ConfigMap (C(data), C(binaryData)) and Secret (C(data), C(type)) found in both
    namespaces is compared with its restored copy by sha256 digests computed in the module. Secret values are read
    for that alone; neither a value nor a digest is returned, recorded or logged. An object whose
    C(metadata.managedFields) show a write after the backup started is not compared (the backup may hold an older
    content), nor is a service account token Secret (Velero restores it without its token for Kubernetes to issue
    a new one). Content that differs makes the data C(incomplete), naming the object.
  - Each restored claim's volume data counts as restored when a Completed PodVolumeRestore of the Restore carries
    its C(velero.io/pvc-uid), or its PersistentVolume carries the Restore's C(velero.io/restore-name) label, or it
    was provisioned from a CSI VolumeSnapshot. A claim backed up by a PodVolumeBackup or a volume snapshot and not
    restored makes the data C(incomplete); data in file-system backups without O(live_workloads), or a claim whose
    data is in no backup, leaves it C(unverified).
  - The record keeps C(data_restored) (complete, incomplete, unverified), C(census) (per kind, expected and
    restored counts), C(content) (per kind, objects compared and equal), C(content_changed_since_backup) (objects
    not compared because they changed after the backup, when any), C(volumes) and C(data_problems); KC-DR-005
    passes no drill whose data is incomplete or unverified.
  - A restore that does not end C(Completed), or whose data is not complete, is recorded as what it is, then the
    module fails saying so.
  - The scratch namespace must not exist before the drill, because the drill deletes it afterwards.
  - Check mode finds the backup and returns the Restore it would create (validated by a server-side dry run);
    nothing is created, recorded or deleted.
  - Fails with how to install Velero (Helm chart C(vmware-tanzu/velero)) when the C(velero.io/v1) API is not served,
    and naming the namespace when no Completed backup covers it.
author:
  - KubeCompass contributors (@kubecompass)
options:
  namespace:
    description: The namespace whose backup is restored.
    type: str
    required: true
  schedule:
    description: Restore only backups of this Velero Schedule (label C(velero.io/schedule-name)).
    type: str
  scratch_namespace:
    description: The namespace to restore into, deleted afterwards; C(<namespace>-drill) by default.
    type: str
  velero_namespace:
    description: The namespace Velero runs in; the Restore and the drill record are created there.
    type: str
    default: velero
  tier:
    description: The cluster's tier, for a namespace without a C(kubecompass.io/tier) label (or no longer present).
    type: str
    choices: [critical, important, best_effort]
    default: important
  tier_thresholds:
    description: Per-tier threshold overrides, as C(kubecompass_tier_thresholds) (C(rto_minutes)).
    type: dict
  timeout:
    description: Seconds to wait for the Restore to reach a terminal phase; the drill is recorded as C(TimedOut) after.
    type: int
    default: 3600
  poll_interval:
    description: Seconds between two reads of the Restore or the scratch namespace.
    type: int
    default: 5
  cleanup_timeout:
    description: Seconds to wait for the scratch namespace to be gone after deleting it.
    type: int
    default: 300
  keep_scratch:
    description: Leave the scratch namespace in place for inspection instead of deleting it.
    type: bool
    default: false
  live_workloads:
    description:
      - Restore as-is, without the resource modifier or the exclusions - a second running copy of the namespace's
        workloads, Ingresses and load balancers in this cluster. Only for a cluster where that is safe.
    type: bool
    default: false
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the Restore that is (or would be) created.
"""

EXAMPLES = r"""
- name: Restore the latest backup of shop into shop-drill and record the outcome
  kubecompass.readiness.restore_drill:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    namespace: shop
    schedule: kubecompass-important
    timeout: 1800

- name: Show the Restore a drill would create
  kubecompass.readiness.restore_drill:
    namespace: payments
    scratch_namespace: payments-restore-test
  check_mode: true
"""

RETURN = r"""
namespace:
  description: The namespace restored.
  returned: always
  type: str
  sample: shop
tier:
  description: Its tier, and C(tier_rule) says how it was decided.
  returned: success
  type: str
  sample: important
tier_rule:
  description: How the tier was decided.
  returned: success
  type: str
  sample: cluster tier important
backup:
  description: The Backup restored.
  returned: success
  type: str
  sample: kubecompass-important-20260310114500
restore:
  description: The name of the Restore created (or that would be created).
  returned: success
  type: str
  sample: kubecompass-drill-shop-20260310120000
restore_object:
  description: The Restore as created (or as it would be created in check mode).
  returned: success
  type: dict
  sample: {"apiVersion": "velero.io/v1", "kind": "Restore",
           "metadata": {"name": "kubecompass-drill-shop-20260310120000", "namespace": "velero"},
           "spec": {"backupName": "kubecompass-important-20260310114500", "includedNamespaces": ["shop"],
                    "namespaceMapping": {"shop": "shop-drill"}, "excludedResources": ["pods"],
                    "resourceModifier": {"kind": "ConfigMap", "name": "kubecompass-restore-drill-modifiers"}}}
modifiers:
  description: The resource modifier ConfigMap (C(namespace/name)) the Restore references; null with O(live_workloads).
  returned: success
  type: str
  sample: velero/kubecompass-restore-drill-modifiers
live_workloads:
  description: Whether the restore ran the workloads as they were (O(live_workloads)).
  returned: success
  type: bool
  sample: false
scratch_namespace:
  description: The namespace restored into.
  returned: success
  type: str
  sample: shop-drill
outcome:
  description: The Restore's terminal phase, C(TimedOut) when none was reached in time; null in check mode.
  returned: success
  type: str
  sample: Completed
duration_seconds:
  description: How long the restore took; null in check mode.
  returned: success
  type: int
  sample: 312
duration_source:
  description: Where the duration comes from (restore status timestamps, or the wall time waited).
  returned: success
  type: str
  sample: restore status timestamps
rto_target_seconds:
  description: The RTO of the namespace's tier, in seconds.
  returned: success
  type: int
  sample: 3600
rto_met:
  description: Whether the restore completed within the RTO; null in check mode.
  returned: success
  type: bool
  sample: true
data_restored:
  description: Whether the data came back - C(complete), C(incomplete) or C(unverified); null in check mode and
    when the restore did not complete.
  returned: success
  type: str
  sample: complete
record:
  description: The drill record ConfigMap (C(namespace/name)) and its data (the keys the description lists, C(content)
    among them); null in check mode.
  returned: success
  type: dict
  sample: {"name": "velero/kubecompass-drill-shop-20260310120000", "data": {"outcome": "Completed",
           "completed_at": "2026-03-10T12:05:12Z", "backup": "kubecompass-important-20260310114500",
           "namespace": "shop", "duration_seconds": "312", "rto_met": "true", "data_restored": "complete",
           "census": "{\"ConfigMap\": [2, 2], \"Secret\": [1, 1]}",
           "content": "{\"ConfigMap\": [2, 2], \"Secret\": [1, 1]}"}}
cleanup:
  description: What became of the scratch namespace - C(state) (deleted, absent, kept, timeout, failed) and C(message).
  returned: success
  type: dict
  sample: {"state": "deleted", "message": "namespace shop-drill deleted in 4s"}
"""

import datetime
import json
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    auth_argument_spec,
    mask_credentials,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.velero import SCHEDULE_LABEL
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import (
    namespace_tier,
    tier_table,
    validate_tier,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero import BACKUPS, drill, list_velero
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import TIERS

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported
    quote = None

TIER_CHOICES = list(TIERS)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _namespace_path(name):
    return "/api/v1/namespaces/%s" % quote(name, safe="")


def _validate(params):
    for key, low in (("timeout", 1), ("poll_interval", 1), ("cleanup_timeout", 0)):
        if params[key] < low:
            raise KubeCompassError("%s must be at least %d seconds, not %d" % (key, low, params[key]), "input")
    if not params["velero_namespace"]:
        raise KubeCompassError("velero_namespace must name Velero's namespace", "input")
    validate_tier(params["tier"], "tier")


def wait_for_restore(client, path, timeout, poll, clock, sleep):
    """(restore, terminal, wall seconds): the Restore read until its phase is terminal or ``timeout`` passes."""
    started = clock()
    while True:
        restore = _apply.get(client, path)
        if restore is None:
            raise KubeCompassError("the Restore %s disappeared while the drill waited for it (deleted by someone?)"
                                   % path.rsplit("/", 1)[-1], "not_found", 404)
        if ((restore.get("status") or {}).get("phase")) in drill.TERMINAL_PHASES:
            return restore, True, clock() - started
        waited = clock() - started
        if waited >= timeout:
            return restore, False, waited
        sleep(min(poll, timeout - waited))


def remove_scratch(client, scratch, timeout, poll, clock, sleep):
    """Delete the scratch namespace and wait for it to be gone: {"state", "message"}. Never raises: the drill is
    recorded by then, and a namespace left behind is reported, not a reason to lose that result."""
    path = _namespace_path(scratch)
    started = clock()
    try:
        status, body, _headers = client.request("DELETE", path)
        if status == 404:
            return {"state": "absent", "message": "namespace %s was not there: nothing was restored into it" % scratch}
        if status >= 300:
            return {"state": "failed", "message": "deleting namespace %s: %s" % (
                scratch, client.status_error(status, body, path))}
        while _apply.get(client, path) is not None:
            waited = clock() - started
            if waited >= timeout:
                return {"state": "timeout", "message": "namespace %s is still terminating after %ds; it goes once its "
                        "finalizers are done" % (scratch, timeout)}
            sleep(min(poll, timeout - waited))
    except KubeCompassError as exc:
        return {"state": "failed", "message": "deleting namespace %s: %s" % (scratch, exc)}
    return {"state": "deleted", "message": "namespace %s deleted in %ds" % (scratch, int(round(clock() - started)))}


def _read_census(client, namespace, kinds):
    """{kind: items} of one namespace; metadata only but for claims (their phase and volume are needed) and for
    ConfigMaps and Secrets, whose content is compared in-process and never returned."""
    full = (drill.PVC_KIND,) + tuple(drill.CONTENT_FIELDS)
    return {kind: client.list(path % quote(namespace, safe=""), metadata_only=kind not in full)
            for kind, path in kinds}


def _list_volume_transfers(client, velero_namespace, resource, label, name):
    """PodVolumeBackups or PodVolumeRestores of one Backup or Restore; none where Velero serves no such API."""
    try:
        return client.list("/apis/velero.io/v1/namespaces/%s/%s" % (quote(velero_namespace, safe=""), resource),
                           {"labelSelector": "%s=%s" % (label, name)})
    except KubeCompassError as exc:
        if exc.status == 404:
            return []
        raise


def what_came_back(client, restore, backup, namespace, scratch, source_present, velero_namespace, live):
    """The drill record's keys for what came back: the namespace counted against its restored copy, kind by kind,
    the content of its ConfigMaps and Secrets compared, and each claim's volume data. What cannot be read leaves the
    data unverified, never a silent pass."""
    try:
        kinds = drill.census_kinds(restore)
        source = _read_census(client, namespace, kinds) if source_present else {kind: [] for kind, _path in kinds}
        restored = _read_census(client, scratch, kinds)
        started = drill.backup_started(backup)
        counts = drill.census(source, restored, started)
        contents = drill.compare_content(source, restored, started)
        volumes = {}
        if drill.expected(source.get(drill.PVC_KIND) or [], started):
            name = restore["metadata"]["name"]
            pvbs = _list_volume_transfers(client, velero_namespace, "podvolumebackups", drill.BACKUP_NAME_LABEL,
                                          backup["metadata"]["name"])
            pvrs = _list_volume_transfers(client, velero_namespace, "podvolumerestores", drill.RESTORE_NAME_LABEL,
                                          name)
            pvs = {}
            for claim in restored.get(drill.PVC_KIND) or []:
                volume_name = (claim.get("spec") or {}).get("volumeName")
                if volume_name:
                    pvs[volume_name] = _apply.get(client, "/api/v1/persistentvolumes/%s" % quote(volume_name, safe=""))
            volumes = drill.volume_data(source[drill.PVC_KIND], restored[drill.PVC_KIND], pvs, backup, pvbs, pvrs,
                                        name, started, live)
    except KubeCompassError as exc:
        return {"data_restored": drill.UNVERIFIED, "data_problems": "what came back could not be read: %s" % exc}
    state, problems = drill.data_verdict(counts, volumes, restore, source_present, contents)
    return drill.data_evidence(state, problems, counts, volumes, backup, contents)


def run(client, params, check_mode, clock=None, sleep=None, now=None):
    """The drill; ``clock`` (seconds, monotonic), ``sleep`` and ``now`` (aware datetime) are replaceable for tests."""
    clock, sleep, now = clock or time.monotonic, sleep or time.sleep, now or _utcnow
    _validate(params)
    namespace, velero_namespace, schedule = params["namespace"], params["velero_namespace"], params["schedule"]
    scratch = drill.scratch_namespace(namespace, params["scratch_namespace"])
    table = tier_table(params["tier_thresholds"] or None)
    backups = list_velero(client, BACKUPS, {"labelSelector": "%s=%s" % (SCHEDULE_LABEL, schedule)} if schedule
                          else None)
    # The namespace may be gone (restoring it is the real disaster case): its tier is then the cluster's.
    source_namespace = _apply.get(client, _namespace_path(namespace))
    tier, rule, error = namespace_tier(source_namespace or {}, params["tier"])
    if error:
        raise KubeCompassError("namespace %s: %s" % (namespace, error), "input")
    backup = drill.latest_backup(backups, namespace, velero_namespace, schedule)
    backup_name = backup["metadata"]["name"]
    if _apply.get(client, _namespace_path(scratch)) is not None:
        raise KubeCompassError("scratch namespace %s already exists; the drill deletes its scratch namespace "
                               "afterwards, so it only restores into one it creates (delete it or set "
                               "scratch_namespace)" % scratch, "input")
    live = params["live_workloads"]
    restore = drill.restore_object(drill.restore_name(namespace, now()), velero_namespace, backup_name, namespace,
                                   scratch, live_workloads=live)
    modifiers = None if live else drill.modifiers_config_map(velero_namespace)
    name = restore["metadata"]["name"]
    rto_minutes = table[tier]["rto_minutes"]
    result = {"changed": True, "namespace": namespace, "tier": tier, "tier_rule": rule, "backup": backup_name,
              "restore": name, "restore_object": restore, "scratch_namespace": scratch, "outcome": None,
              "live_workloads": live,
              "modifiers": None if live else "%s/%s" % (velero_namespace, drill.MODIFIERS_NAME),
              "duration_seconds": None, "duration_source": None, "rto_target_seconds": int(rto_minutes * 60),
              "rto_met": None, "data_restored": None, "record": None, "cleanup": None,
              "diff": [{"before_header": "Restore %s/%s" % (velero_namespace, name), "before": "",
                        "after_header": "Restore %s/%s" % (velero_namespace, name),
                        "after": json.dumps(restore, indent=2, sort_keys=True) + "\n"}]}
    if check_mode:
        # The server validates both; nothing is created.
        if modifiers:
            _apply.server_side_apply(client, modifiers, dry_run=True)
        _apply.server_side_apply(client, restore, dry_run=True)
        return result
    path = _apply.object_path(restore)
    if _apply.get(client, path) is not None:
        raise KubeCompassError("Restore %s/%s already exists; run the drill again" % (velero_namespace, name),
                               "conflict", 409)
    if modifiers:
        _apply.server_side_apply(client, modifiers, dry_run=False)  # before the Restore that references it
    _apply.server_side_apply(client, restore, dry_run=False)
    started = clock()
    try:
        current, terminal, wall = wait_for_restore(client, path, params["timeout"], params["poll_interval"], clock,
                                                   sleep)
    except KubeCompassError as exc:
        # The drill ran but its end is not known (the Restore deleted meanwhile, the API unreadable): that is
        # recorded too, as Unknown, before failing - never left without a record.
        record = drill.drill_record(restore, drill.UNKNOWN, backup_name, namespace, scratch, tier, rto_minutes,
                                    int(round(clock() - started)), "wall time waited", now())
        record["data"]["failure_reason"] = "the drill lost track of the Restore: %s" % exc
        try:
            _apply.server_side_apply(client, record, dry_run=False)
            where = "recorded as %s in ConfigMap %s/%s" % (drill.UNKNOWN, velero_namespace, name)
        except KubeCompassError as record_error:
            where = "and the drill record could not be written either (%s)" % record_error
        raise KubeCompassError("%s; %s; namespace %s is left in place" % (exc, where, scratch), exc.category,
                               exc.status) from None
    outcome = current["status"]["phase"] if terminal else drill.TIMED_OUT
    empty = drill.empty_restore(current, _apply.get(client, _namespace_path(scratch)) is not None) if (
        outcome == "Completed") else None
    if empty:
        outcome = drill.EMPTY
    seconds, timing = drill.duration(current, wall) if terminal else (int(round(wall)), "wall time waited")
    record = drill.drill_record(current, outcome, backup_name, namespace, scratch, tier, rto_minutes, seconds,
                                timing, now())
    if empty:
        record["data"]["failure_reason"] = empty
    elif outcome == "Completed":
        record["data"].update(what_came_back(client, current, backup, namespace, scratch,
                                             source_namespace is not None, velero_namespace, live))
    _apply.server_side_apply(client, record, dry_run=False)
    if not terminal:
        cleanup = {"state": "kept", "message": "the Restore is still running after %ds, so namespace %s is left in "
                   "place; delete it once the Restore ends" % (params["timeout"], scratch)}
    elif params["keep_scratch"]:
        cleanup = {"state": "kept", "message": "namespace %s kept for inspection (keep_scratch)" % scratch}
    else:
        cleanup = remove_scratch(client, scratch, params["cleanup_timeout"], params["poll_interval"], clock, sleep)
    result.update(outcome=outcome, duration_seconds=seconds, duration_source=timing,
                  data_restored=record["data"].get("data_restored"),
                  rto_met=record["data"]["rto_met"] == "true", cleanup=cleanup, restore_object=current,
                  record={"name": "%s/%s" % (velero_namespace, record["metadata"]["name"]), "data": record["data"]})
    return result


def failure_message(result):
    """Why a drill that ran did not prove a restore, for fail_json."""
    data = result["record"]["data"]
    if result["outcome"] == "Completed":
        return ("restore drill of namespace %s: Restore %s of backup %s completed, but the data restored is %s: %s; "
                "recorded in ConfigMap %s" % (result["namespace"], result["restore"], result["backup"],
                                              data.get("data_restored"), data.get("data_problems"),
                                              result["record"]["name"]))
    detail = "; ".join("%s %s" % (key.replace("_", " "), data[key]) for key in ("failure_reason", "errors")
                       if key in data)
    how = ("did not reach a terminal phase within the timeout" if result["outcome"] == drill.TIMED_OUT
           else "ended %s" % result["outcome"])
    return "restore drill of namespace %s: Restore %s of backup %s %s%s after %ss; recorded as %s in ConfigMap %s" % (
        result["namespace"], result["restore"], result["backup"], how, " (%s)" % detail if detail else "",
        result["duration_seconds"], result["outcome"], result["record"]["name"])


def main():
    spec = auth_argument_spec()
    spec.update(
        namespace={"type": "str", "required": True},
        schedule={"type": "str"},
        scratch_namespace={"type": "str"},
        velero_namespace={"type": "str", "default": "velero"},
        tier={"type": "str", "default": "important", "choices": TIER_CHOICES},
        tier_thresholds={"type": "dict"},
        timeout={"type": "int", "default": 3600},
        poll_interval={"type": "int", "default": 5},
        cleanup_timeout={"type": "int", "default": 300},
        keep_scratch={"type": "bool", "default": False},
        live_workloads={"type": "bool", "default": False},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    mask_credentials(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        result = run(client_from_params(module.params), module.params, module.check_mode)
    except KubeCompassError as exc:
        module.fail_json(msg="restore drill of namespace %s: %s" % (module.params["namespace"], exc),
                         category=exc.category)
    if not module._diff:
        result.pop("diff")
    if result["cleanup"] and result["cleanup"]["state"] in ("timeout", "failed"):
        module.warn(result["cleanup"]["message"])
    if result["outcome"] is not None and (result["outcome"] != "Completed"
                                          or result["data_restored"] != drill.COMPLETE):
        module.fail_json(msg=failure_message(result), **result)
    if result["rto_met"] is False:
        module.warn("the restore took %ss, longer than the %s tier's RTO of %ss: KC-DR-005 fails on this drill" % (
            result["duration_seconds"], result["tier"], result["rto_target_seconds"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
