#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: velero_schedules
short_description: One Velero Schedule per tier, with the interval and TTL the tier's RPO and retention need
version_added: 0.1.0
description:
  - Plans one Velero Schedule per tier, C(kubecompass-critical), C(kubecompass-important) and
    C(kubecompass-best-effort), in Velero's namespace, labelled C(app.kubernetes.io/managed-by=kubecompass.readiness).
  - Its C(spec.schedule) is a cron derived from the tier's RPO (15 minutes gives C(*/15 * * * *), 1 hour
    C(0 * * * *)), its C(template.ttl) the tier's retention as a Go duration (C(720h0m0s)), its
    C(template.includedNamespaces) the namespaces of that tier that no user Schedule already covers adequately, its
    C(template.storageLocation) the named or default BackupStorageLocation, and the volume option of O(volume_backup).
  - A user Schedule covers a namespace adequately when the assessment's own check KC-DR-003 would pass it - active,
    often enough for the RPO, kept long enough for the retention, not limited by label selectors or resource lists.
    Only Schedules in Velero's namespace count, since Velero runs no other.
  - A near-zero RPO (the critical tier by default) cannot be met by scheduled backups alone. Such a tier gets the
    tightest sensible schedule (every O(near_zero_interval_minutes) minutes) and the result says which namespaces
    lack the missing evidence, continuous replication declared in O(rpo_evidence).
  - User Schedules (anything without the managed-by label) are never modified or deleted; those that fall short are
    reported in RV(inadequate). A tier with no namespace to cover gets no Schedule; an existing C(kubecompass-*)
    Schedule of that tier is left in place and reported (action C(keep)), never deleted, and an empty namespace list
    is never applied because Velero would read it as every namespace.
  - Applied with server-side apply under the field manager C(kubecompass), after a server-side dry run that
    decides whether anything changes. Check mode uses the dry run only and returns the diff of every Schedule; a
    second run changes nothing.
  - Fails with how to install Velero (Helm chart C(vmware-tanzu/velero)) when the C(velero.io/v1) API is not served,
    and with an input error when the BackupStorageLocation is neither named and present nor marked default.
author:
  - KubeCompass contributors (@kubecompass)
options:
  tiers:
    description: The tiers to remediate now (staging); all by default. An empty list plans nothing.
    type: list
    elements: str
    choices: [critical, important, best_effort]
  velero_namespace:
    description: The namespace Velero runs in; the Schedules are created there.
    type: str
    default: velero
  storage_location:
    description:
      - The BackupStorageLocation the backups go to, in O(velero_namespace).
      - By default the one marked C(spec.default=true) there.
    type: str
  ttl:
    description:
      - How long each backup is kept, as a Go duration (C(720h), C(2160h0m0s); Go has no C(d) unit).
      - By default each tier's C(backup_retention_hours) (720 hours unless O(tier_thresholds) says otherwise); a
        TTL shorter than a remediated tier's retention is refused.
    type: str
  volume_backup:
    description:
      - How volume data is backed up - C(snapshot) (C(snapshotVolumes=true)), C(fs_backup) (file-system backup of
        every volume, C(defaultVolumesToFsBackup=true)), C(none) (resources only) or C(server_default) (neither field
        set, the velero server's flags decide).
    type: str
    choices: [snapshot, fs_backup, none, server_default]
    default: server_default
  near_zero_interval_minutes:
    description: The interval, in minutes, of the Schedule of a tier whose RPO is near-zero (C(rpo_minutes=0)).
    type: int
    default: 5
  excluded_namespaces:
    description:
      - More namespaces to leave alone besides C(kube-system), C(kube-public), C(kube-node-lease) (names or shell
        globs).
    type: list
    elements: str
    default: []
  rpo_evidence:
    description:
      - Namespaces whose near-zero RPO is met by continuous replication outside Velero, as declared to the assessment
        in C(kubecompass_settings.rpo_evidence).
    type: list
    elements: str
    default: []
  tier_thresholds:
    description:
      - Per-tier threshold overrides, as C(kubecompass_tier_thresholds) (C(rpo_minutes),
        C(backup_retention_hours)).
    type: dict
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.waiver_options
  - kubecompass.readiness.namespace_scope
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Per-tier Velero Schedules writing to the default storage location
  kubecompass.readiness.velero_schedules:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    tier: important
    rpo_evidence: [payments]

- name: Preview file-system backups for the best-effort tier only
  kubecompass.readiness.velero_schedules:
    tiers: [best_effort]
    volume_backup: fs_backup
    storage_location: aws-eu-west-1
  check_mode: true
  diff: true
"""

RETURN = r"""
changed_objects:
  description:
    - The objects changed (in check mode, that would change) - C(object), C(action) (C(created), C(updated)), and
      C(before) and C(after), C(sha256:) digests of the object without server-set fields (null when it did not
      exist), for M(kubecompass.readiness.change_record).
  returned: success
  type: list
  elements: dict
  sample:
    - {"object": "Schedule velero/kubecompass-important", "action": "created", "before": null,
       "after": "sha256:9f2c..."}
schedules:
  description:
    - One entry per tier - C(tier), C(name), C(action) (apply, keep, none, conflict, skip), C(reason), C(namespaces)
      (what it backs up), C(rpo), C(schedule), C(interval), C(ttl), C(retention), C(notes) (near-zero RPO, a
      Schedule of ours that does not run), C(result) (created, updated, unchanged, or null when nothing was applied).
  returned: always
  type: list
  elements: dict
  sample:
    - tier: important
      name: kubecompass-important
      action: apply
      reason: every 15m (RPO 15m), ttl 720h0m0s (retention 720h) for shop
      namespaces: [shop]
      rpo: 15m
      schedule: "*/15 * * * *"
      interval: 15m
      ttl: 720h0m0s
      retention: 720h
      notes: []
      result: created
namespaces:
  description: Per namespace in scope - C(namespace), C(tier), C(tier_rule), C(backed_up_by) (Schedules), C(reason).
  returned: success
  type: list
  elements: dict
  sample:
    - namespace: logs
      tier: best_effort
      tier_rule: namespace label kubecompass.io/tier=best_effort
      backed_up_by: [velero/team-hourly]
      reason: "covered by a user Schedule: RPO 1h met by velero/team-hourly (every 1h, ttl 720h)"
out_of_scope:
  description:
    - Namespaces left alone (excluded, terminating, invalid tier label, tier not remediated, an active waiver of
      KC-DR-003 - reason C(waived by <ticket> until <expires>) and C(waiver)), with the reason.
    - Not called C(skipped), which Ansible would read as the task being skipped.
  returned: success
  type: list
  elements: dict
  sample: [{"namespace": "scratch", "reason": "excluded by pattern 'scratch'"}]
inadequate:
  description: User Schedules that cover a namespace without meeting its tier, with why, per namespace.
  returned: success
  type: dict
  sample: {"velero/nightly": ["namespace shop (tier important): no Schedule runs at least every 15m ..."]}
expired_waivers:
  description: Expired waivers of this cluster; they protect nothing.
  returned: success
  type: list
  elements: dict
ignored:
  description: Schedules outside Velero's namespace (Velero does not run them), with the reason.
  returned: success
  type: list
  elements: dict
  sample: [{"schedule": "shop/daily", "reason": "outside Velero's namespace velero: Velero does not run it"}]
storage_location:
  description: The BackupStorageLocation the Schedules write to.
  returned: success
  type: str
  sample: default
"""

import datetime


from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._runner import (
    NAMESPACE_SCOPE_ARGUMENT_SPEC,
    run_namespace_module,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero import (
    BACKUP_STORAGE_LOCATIONS,
    SCHEDULES,
    list_velero,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero import schedules as planner

OPTIONS = ("tiers", "velero_namespace", "storage_location", "ttl", "volume_backup", "near_zero_interval_minutes",
           "excluded_namespaces", "rpo_evidence", "tier_thresholds")


def run(client, params, check_mode, today=None):
    active, expired = waiver_rules.for_remediation(
        params["waivers"], params["cluster_name"], today or datetime.datetime.now(datetime.timezone.utc).date())
    # The Schedules first: a 404 there means Velero is absent, which says more than a missing storage location.
    schedules = list_velero(client, SCHEDULES)
    locations = list_velero(client, BACKUP_STORAGE_LOCATIONS)
    namespaces = client.list("/api/v1/namespaces")
    plan = planner.plan_schedules(namespaces, schedules, locations, params["tier"],
                                  {key: params[key] for key in OPTIONS}, waivers=active)
    done, entries = [], []
    for entry in plan["schedules"]:
        item = {key: value for key, value in entry.items() if key not in ("object", "near_zero")}
        item["result"] = None
        if entry["object"] is not None:
            applied = _apply.apply(client, entry["object"], check_mode)
            item["result"] = applied["action"]
            done.append(applied)
        entries.append(item)
    return {"changed": any(r["action"] != "unchanged" for r in done), "schedules": entries,
            "namespaces": plan["namespaces"], "out_of_scope": plan["out_of_scope"],
            "inadequate": plan["inadequate"], "ignored": plan["ignored"],
            "storage_location": plan["storage_location"], "diff": _apply.diffs(done),
            "changed_objects": _apply.changed_objects(done),
            "expired_waivers": [waiver_rules.describe(w) for w in expired]}


def warnings(result):
    for entry in result["schedules"]:
        for note in entry["notes"]:
            yield "%s: %s" % (entry["name"], note)
    for ref, reasons in sorted(result["inadequate"].items()):
        yield "user Schedule %s falls short (left unchanged): %s" % (ref, "; ".join(reasons))


def failure(result):
    conflicts = [e for e in result["schedules"] if e["action"] == "conflict"]
    return "; ".join(e["reason"] for e in conflicts) if conflicts else None


def main():
    run_namespace_module("velero schedules", run, dict(
        NAMESPACE_SCOPE_ARGUMENT_SPEC,
        velero_namespace={"type": "str", "default": "velero"},
        storage_location={"type": "str"},
        ttl={"type": "str"},
        volume_backup={"type": "str", "default": "server_default", "choices": list(planner.VOLUME_BACKUP)},
        near_zero_interval_minutes={"type": "int", "default": planner.DEFAULT_NEAR_ZERO_INTERVAL_MINUTES},
        rpo_evidence={"type": "list", "elements": "str", "default": []},
        tier_thresholds={"type": "dict"},
    ), warnings=warnings, failure=failure)


if __name__ == "__main__":
    main()
