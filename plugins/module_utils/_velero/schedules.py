# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Velero Schedules per tier, planned from listed Namespaces, Schedules and BackupStorageLocations. Pure functions,
no I/O.

One Schedule per tier, ``kubecompass-<tier>`` (``best_effort`` spelled ``best-effort``: object names allow no
underscore), in Velero's namespace. Its cron comes from the tier's RPO, its TTL from the tier's retention, and it
includes the namespaces of that tier that no user Schedule already covers adequately. "Adequately" is the
assessment's own KC-DR-003 judgement (``_k8s.velero.judge_coverage``), so a namespace left to a user Schedule
is one the assessment passes. A Schedule is ours when it carries the label app.kubernetes.io/managed-by=
kubecompass.readiness; every other Schedule is the user's and is never modified or deleted, only reported when it
falls short.

Near-zero RPO (rpo_minutes 0) cannot be met by scheduled backups: such a tier still gets the tightest schedule
that makes sense (every 5 minutes by default), and the plan says what evidence is missing (continuous replication,
declared per namespace in kubecompass_settings.rpo_evidence).

A tier that has no namespace left to cover gets no Schedule. Our existing Schedule for it is left in place and
reported, never deleted: deleting a backup schedule is a decision for its operator (its backups expire with their
TTL either way), and an empty ``includedNamespaces`` would mean "every namespace" to Velero, so it is never applied.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import fnmatch

from ansible_collections.kubecompass.readiness.plugins.module_utils._apply import MANAGED_BY
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails.netpol import waiver_note
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails.quota import (
    exclusion_patterns,
    validate_tiers,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import (
    format_duration,
    longest_interval,
    parse_go_duration,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_meta,
    object_name,
    object_ref,
    object_status,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.velero import ScheduleFacts, judge_coverage
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import TIERS
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import (
    NAMESPACE_TIER_LABEL,
    tier_table,
    validate_tier,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero import API_VERSION

NAME_PREFIX = "kubecompass-"
DEFAULT_NEAR_ZERO_INTERVAL_MINUTES = 5
# template fields per volume option; "server_default" sets neither and leaves it to the velero server's flags.
VOLUME_BACKUP = {
    "snapshot": {"snapshotVolumes": True, "defaultVolumesToFsBackup": False},
    "fs_backup": {"snapshotVolumes": False, "defaultVolumesToFsBackup": True},
    "none": {"snapshotVolumes": False, "defaultVolumesToFsBackup": False},
    "server_default": {},
}
_HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)  # divisors of 24: every gap of "0 */N * * *" is then exactly N hours
_MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)  # divisors of 60, for the same reason


def _input(message):
    return KubeCompassError(message, "input")


def schedule_name(tier):
    return NAME_PREFIX + tier.replace("_", "-")


def is_ours(item):
    return (object_meta(item).get("labels") or {}).get("app.kubernetes.io/managed-by") == MANAGED_BY[
        "app.kubernetes.io/managed-by"]


# -- cron and TTL -----------------------------------------------------------------------------------------------------


def cron_for_minutes(minutes):
    """A 5-field cron whose longest gap is at most ``minutes``: the largest step of the minute (or hour) field that
    divides the hour (the day) evenly and is not above the target; daily for a day or more."""
    if minutes < 1:
        raise _input("an interval of %r minutes cannot be scheduled: cron fires at most once a minute" % minutes)
    minutes = int(minutes)
    if minutes < 60:
        step = max(s for s in _MINUTE_STEPS if s <= minutes)
        return "* * * * *" if step == 1 else "*/%d * * * *" % step
    if minutes < 24 * 60:
        step = max(s for s in _HOUR_STEPS if s <= minutes // 60)
        return "0 * * * *" if step == 1 else "0 */%d * * *" % step
    return "0 0 * * *"


def go_duration(delta):
    """A timedelta as Go's time.Duration.String() writes it for whole seconds ("720h0m0s", "1h30m0s", "45m0s"):
    what ``velero schedule create --ttl`` stores, so a schedule written either way compares equal."""
    total = int(delta.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return "%dh%dm%ds" % (hours, minutes, seconds)
    if minutes:
        return "%dm%ds" % (minutes, seconds)
    return "%ds" % seconds


def _ttl_option(ttl):
    if ttl is None or str(ttl).strip() == "":
        return None
    try:
        parsed = parse_go_duration(ttl)
    except ValueError as exc:
        raise _input("ttl: %s" % exc) from None
    if parsed <= datetime.timedelta(0):
        raise _input("ttl %r must be positive (Velero would expire the backups at once)" % ttl)
    return parsed


# -- inputs -----------------------------------------------------------------------------------------------------------


def storage_location(locations, velero_namespace, name=None):
    """The BackupStorageLocation the schedules write to: ``name`` in Velero's namespace, else the one marked
    spec.default there. Any other case is an input error naming what exists."""
    here = [loc for loc in locations or [] if object_meta(loc).get("namespace") == velero_namespace]
    names = sorted(object_meta(loc).get("name") for loc in here)
    existing = ", ".join(names) or "none"
    if name:
        if name not in names:
            raise _input("BackupStorageLocation %r not found in Velero's namespace %s (found: %s)"
                         % (name, velero_namespace, existing))
        return name
    defaults = sorted(object_meta(loc).get("name") for loc in here if (loc.get("spec") or {}).get("default"))
    if not defaults:
        raise _input("no BackupStorageLocation in Velero's namespace %s is marked default (found: %s); name one with "
                     "storage_location or create one (velero backup-location create --default)"
                     % (velero_namespace, existing))
    if len(defaults) > 1:
        raise _input("several BackupStorageLocations in %s are marked default (%s); name one with storage_location"
                     % (velero_namespace, ", ".join(defaults)))
    return defaults[0]


def _validate(options):
    velero_namespace = options.get("velero_namespace")
    if not velero_namespace or not isinstance(velero_namespace, str):
        raise _input("velero_namespace must name Velero's namespace, not %r" % (velero_namespace,))
    volume_backup = options.get("volume_backup") or "server_default"
    if volume_backup not in VOLUME_BACKUP:
        raise _input("volume_backup %r is not one of %s" % (volume_backup, ", ".join(VOLUME_BACKUP)))
    near_zero = options.get("near_zero_interval_minutes")
    near_zero = DEFAULT_NEAR_ZERO_INTERVAL_MINUTES if near_zero is None else near_zero
    if isinstance(near_zero, bool) or not isinstance(near_zero, int) or near_zero < 1:
        raise _input("near_zero_interval_minutes must be a whole number of minutes, at least 1, not %r" % (near_zero,))
    evidence = options.get("rpo_evidence") or []
    if isinstance(evidence, str) or not all(isinstance(name, str) for name in evidence):
        raise _input("rpo_evidence must be a list of namespace names, not %r" % (evidence,))
    return velero_namespace, volume_backup, near_zero, set(evidence)


# -- what each tier needs ------------------------------------------------------------------------------------------


def _floor_table(table, near_zero):
    """The tier table as scheduled backups can meet it: a near-zero RPO replaced by the tightest schedule. A user
    Schedule that meets this floor is as good as any schedule, so it is not duplicated by ours."""
    floor = {tier: dict(values) for tier, values in table.items()}
    for values in floor.values():
        if values["rpo_minutes"] == 0:
            values["rpo_minutes"] = near_zero
    return floor


def tier_targets(table, tier, near_zero, ttl=None):
    """{rpo, interval_minutes, schedule, ttl, retention, near_zero} for one tier's Schedule."""
    rpo_minutes = table[tier]["rpo_minutes"]
    if 0 < rpo_minutes < 1:
        raise _input("tier %s: an RPO of %r minutes cannot be met by cron schedules; use 0 (near-zero, with "
                     "replication evidence) or at least 1" % (tier, rpo_minutes))
    interval = near_zero if rpo_minutes == 0 else rpo_minutes
    cron = cron_for_minutes(interval)
    retention = datetime.timedelta(hours=table[tier]["backup_retention_hours"])
    keep = retention if ttl is None else ttl
    if keep < retention:
        raise _input("ttl %s is shorter than the %s tier's retention %s (backup_retention_hours); raise ttl or leave "
                     "it unset to use each tier's retention" % (format_duration(keep), tier,
                                                                format_duration(retention)))
    return {
        "rpo": "near-zero" if rpo_minutes == 0 else format_duration(datetime.timedelta(minutes=rpo_minutes)),
        "schedule": cron,
        "interval": format_duration(longest_interval(cron)),
        "ttl": go_duration(keep),
        "retention": format_duration(retention),
        "near_zero": rpo_minutes == 0,
    }


def schedule_object(tier, velero_namespace, namespaces, targets, location, volume_backup):
    """Our Schedule for a tier, carrying only the fields kubecompass sets (server-side apply owns just those)."""
    template = {"includedNamespaces": sorted(namespaces), "ttl": targets["ttl"], "storageLocation": location}
    template.update(VOLUME_BACKUP[volume_backup])
    return {
        "apiVersion": API_VERSION, "kind": "Schedule",
        "metadata": {"name": schedule_name(tier), "namespace": velero_namespace,
                     "labels": dict(MANAGED_BY, **{NAMESPACE_TIER_LABEL: tier})},
        "spec": {"schedule": targets["schedule"], "template": template},
    }


def near_zero_note(tier, targets, namespaces, declared):
    """What a near-zero RPO tier gets from schedules, and the evidence still missing for ``namespaces``."""
    missing = sorted(n for n in namespaces if n not in declared)
    text = ("tier %s needs a near-zero RPO, which scheduled backups alone cannot meet: the tightest schedule backs up "
            "every %s, so up to %s of changes can be lost" % (tier, targets["interval"], targets["interval"]))
    if missing:
        text += ("; the missing evidence is continuous replication (storage or database replication) of %s - once it "
                 "is in place, list them in kubecompass_settings.rpo_evidence (rpo_evidence); until then KC-DR-003 "
                 "fails for them" % ", ".join(missing))
    else:
        text += "; replication is declared (rpo_evidence) for all of them, the schedules keep the restore points"
    return text


def _selected(ctx, tiers, excluded):
    """([(name, tier, rule)], [{"namespace", "reason"}]): the namespaces to back up and every other one with why.
    Scope and tiers come from the assessment's Context (system namespaces out, the kubecompass.io/tier label
    first), plus the ``excluded`` globs and namespaces being deleted."""
    selected, out_of_scope = [], []
    for namespace, tier, rule, error in sorted(ctx.application_namespaces(), key=lambda e: object_name(e[0])):
        name = object_meta(namespace).get("name")
        pattern = next((p for p in excluded if fnmatch.fnmatchcase(name, p)), None)
        if pattern is not None:
            reason = "excluded by pattern %r" % pattern
        elif object_meta(namespace).get("deletionTimestamp") or object_status(namespace).get("phase") == "Terminating":
            reason = "namespace is terminating"
        elif error:
            reason = error
        elif tier not in tiers:
            reason = "tier %s (%s) is not one of %s" % (tier, rule, ", ".join(tiers) or "the selected tiers")
        else:
            selected.append((name, tier, rule))
            continue
        out_of_scope.append({"namespace": name, "reason": reason})
    return selected, out_of_scope


def _split_schedules(schedules, velero_namespace):
    """(user ScheduleFacts, {name: our Schedule}, ignored): Velero runs only the Schedules in its own namespace, so
    the others are reported and never counted as coverage."""
    users, ours, ignored = [], {}, []
    for item in schedules or []:
        if object_meta(item).get("namespace") != velero_namespace:
            ignored.append({"schedule": object_ref(item), "reason": "outside Velero's namespace %s: Velero does not run it%s"
                            % (velero_namespace, " (a kubecompass schedule; delete it if Velero moved)"
                               if is_ours(item) else "")})
        elif is_ours(item):
            ours[object_meta(item).get("name")] = item
        else:
            users.append(ScheduleFacts(item))
    return users, ours, ignored


def _decide_namespaces(selected, users, contexts, declared, velero_namespace):
    """({tier: [namespaces ours must cover]}, [per-namespace decision], {user schedule ref: [why it falls short]})."""
    ctx, floor_ctx = contexts
    by_tier, decided, inadequate = {}, [], {}
    for name, tier, rule in selected:
        covering = [s for s in users if s.covers(name)]
        entry = {"namespace": name, "tier": tier, "tier_rule": rule}
        verdict, reason = "fail", "no user Schedule covers it"
        if covering:
            # Declared replication makes a near-zero tier judgeable as the assessment does; without it the best a
            # schedule can do is the floor, and a user Schedule meeting it is left to do the job.
            judge = ctx if name in declared or ctx.threshold(tier, "rpo_minutes") else floor_ctx
            verdict, reason = judge_coverage(name, tier, rule, covering, judge, declared)
        if verdict == "pass":
            entry.update(backed_up_by=[s.ref for s in covering], reason="covered by a user Schedule: %s" % reason)
        else:
            for schedule in covering:
                inadequate.setdefault(schedule.ref, []).append("namespace %s (tier %s): %s" % (name, tier, reason))
            by_tier.setdefault(tier, []).append(name)
            entry.update(backed_up_by=["%s/%s" % (velero_namespace, schedule_name(tier))],
                         reason="backed up by %s: %s" % (schedule_name(tier), reason))
        decided.append(entry)
    return by_tier, decided, inadequate


def _tier_entry(tier, targets, covered, existing, users, velero_namespace):
    """The plan for one remediated tier's Schedule, without its object (the caller builds it for "apply")."""
    name = schedule_name(tier)
    entry = dict(targets, tier=tier, name=name, object=None, namespaces=[], notes=[])
    problem = ScheduleFacts(existing).problem if existing is not None else None
    if problem:
        entry["notes"].append("%s/%s does not run: %s" % (velero_namespace, name, problem))
    user_named = next((s for s in users if s.name == name), None)
    if not covered and existing is not None:
        entry.update(action="keep", reason="no namespace of tier %s needs it; %s/%s is left in place, delete it "
                     "yourself if it is no longer wanted" % (tier, velero_namespace, name))
    elif not covered:
        entry.update(action="none", reason="no namespace of tier %s needs it" % tier)
    elif user_named is not None:
        entry.update(action="conflict", namespaces=covered, reason=(
            "Schedule %s exists without the label app.kubernetes.io/managed-by=kubecompass.readiness, so it is the "
            "user's and is left alone; %s stay without an adequate backup until it is renamed or labelled"
            % (user_named.ref, ", ".join(covered))))
    else:
        entry.update(action="apply", namespaces=covered,
                     reason="every %s (RPO %s), ttl %s (retention %s) for %s" % (
                         targets["interval"], targets["rpo"], targets["ttl"], targets["retention"],
                         ", ".join(covered)))
    return entry


# The assessment check the Schedules fix: a namespace an active waiver of it covers is not backed up by them.
CHECK_ID = "KC-DR-003"


def plan_schedules(namespaces, schedules, locations, cluster_tier, options, waivers=()):
    """The Schedules to apply, one entry per tier, and what was decided for each namespace.

    ``options``: tiers (None = all), velero_namespace, storage_location (None = the default BSL), ttl (None = each
    tier's backup_retention_hours), volume_backup (a VOLUME_BACKUP key), excluded_namespaces (names or globs),
    tier_thresholds (kubecompass_tier_thresholds), rpo_evidence (namespaces with declared continuous
    replication), near_zero_interval_minutes. ``waivers``: the cluster's active waivers (waivers.for_remediation); a
    namespace an active KC-DR-003 waiver covers is out of scope, the reason naming the ticket and end date.

    Returns {"velero_namespace", "storage_location", "schedules": [{tier, name, action (apply|keep|none|conflict|
    skip), object, namespaces, reason, notes, rpo, schedule, interval, ttl, retention, near_zero}], "namespaces":
    [{namespace, tier, tier_rule, backed_up_by, reason}], "out_of_scope": [{namespace, reason}], "inadequate":
    {schedule ref: [why, per namespace]}, "ignored": [{schedule, reason}]}. Raises KubeCompassError("input").
    """
    validate_tier(cluster_tier, "tier")
    velero_namespace, volume_backup, near_zero, declared = _validate(options)
    tiers = list(TIERS) if options.get("tiers") is None else validate_tiers(options.get("tiers"))
    excluded = exclusion_patterns(options.get("excluded_namespaces"))
    table = tier_table(options.get("tier_thresholds") or None)
    ttl = _ttl_option(options.get("ttl"))
    targets = {tier: tier_targets(table, tier, near_zero, ttl) for tier in tiers}
    location = storage_location(locations, velero_namespace, options.get("storage_location"))

    snapshot = {"cluster": {"tier": cluster_tier}, "kinds": {"namespaces": {"items": list(namespaces or [])}}}
    ctx = Context(snapshot, table)
    selected, out_of_scope = _selected(ctx, tiers, excluded)
    for name, _tier, _rule in list(selected):
        waived = waiver_note(waivers, CHECK_ID, name)
        if waived:
            selected = [entry for entry in selected if entry[0] != name]
            out_of_scope.append({"namespace": name, "reason": waived[0], "waiver": waived[1]})
    users, ours, ignored = _split_schedules(schedules, velero_namespace)
    by_tier, decided, inadequate = _decide_namespaces(
        selected, users, (ctx, Context(snapshot, _floor_table(table, near_zero))), declared, velero_namespace)

    planned = []
    for tier in TIERS:
        if tier not in tiers:
            planned.append({"tier": tier, "name": schedule_name(tier), "object": None, "namespaces": [], "notes": [],
                            "action": "skip", "reason": "tier %s is not among the tiers to remediate" % tier})
            continue
        entry = _tier_entry(tier, targets[tier], by_tier.get(tier, []), ours.get(schedule_name(tier)), users,
                            velero_namespace)
        if entry["action"] == "apply":
            entry["object"] = schedule_object(tier, velero_namespace, entry["namespaces"], targets[tier], location,
                                              volume_backup)
        in_tier = [name for name, namespace_tier, _rule in selected if namespace_tier == tier]
        if targets[tier]["near_zero"] and in_tier:
            entry["notes"].append(near_zero_note(tier, targets[tier], in_tier, declared))
        planned.append(entry)
    return {"velero_namespace": velero_namespace, "storage_location": location, "schedules": planned,
            "namespaces": decided, "out_of_scope": out_of_scope, "inadequate": inadequate, "ignored": ignored}
