# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Waivers: exceptions as data, validated strictly, applied by scope, ignored (and reported) once expired."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_date

REQUIRED = ("check", "reason", "owner", "ticket", "expires")
OPTIONAL = ("cluster", "namespace", "object")
OBJECT_KEYS = ("kind", "name", "namespace")


def validate(waivers, known_check_ids):
    """Return normalised waivers; raise on the first malformed one, naming it and the problem."""
    if waivers is None:
        return []
    if not isinstance(waivers, list):
        raise KubeCompassError("kubecompass_waivers must be a list of waivers", "input")
    normalised = []
    for index, waiver in enumerate(waivers):
        where = "kubecompass_waivers[%d]" % index
        if not isinstance(waiver, dict):
            raise KubeCompassError("%s must be a mapping" % where, "input")
        unknown = sorted(set(waiver) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise KubeCompassError("%s: unknown key(s) %s" % (where, ", ".join(unknown)), "input")
        missing = [k for k in REQUIRED if waiver.get(k) in (None, "")]
        if missing:
            raise KubeCompassError("%s: missing %s" % (where, ", ".join(missing)), "input")
        if waiver["check"] not in known_check_ids:
            raise KubeCompassError("%s: unknown check ID %r" % (where, waiver["check"]), "input")
        entry = {k: waiver.get(k) for k in REQUIRED + OPTIONAL}
        for key in ("check", "reason", "owner", "ticket"):
            entry[key] = str(entry[key])  # YAML turns `ticket: 1234` into an int
        entry["expires"] = parse_date(waiver["expires"], where, "expires")
        entry["index"] = index
        target = waiver.get("object")
        if target is not None:
            if not isinstance(target, dict) or not target.get("kind") or not target.get("name"):
                raise KubeCompassError("%s: object needs kind and name" % where, "input")
            extra = sorted(set(target) - set(OBJECT_KEYS))
            if extra:
                raise KubeCompassError("%s: object has unknown key(s) %s" % (where, ", ".join(extra)), "input")
            entry["object"] = {"kind": target["kind"], "name": target["name"],
                               "namespace": target.get("namespace", waiver.get("namespace"))}
        normalised.append(entry)
    return normalised


def describe(waiver):
    return {"check": waiver["check"], "cluster": waiver.get("cluster"), "namespace": waiver.get("namespace"),
            "object": waiver.get("object"), "reason": waiver["reason"], "owner": waiver["owner"],
            "ticket": waiver["ticket"], "expires": waiver["expires"].isoformat()}


def _matches_object(waiver, entry):
    target = waiver.get("object")
    if target is not None:
        return (target["kind"] == entry.get("kind") and target["name"] == entry.get("name")
                and (target.get("namespace") or None) == (entry.get("namespace") or None))
    if waiver.get("namespace"):
        return waiver["namespace"] == entry.get("namespace")
    return True


def covering(active, check_id, entry):
    """The active waiver of ``check_id`` that covers ``entry`` ({kind, name, namespace}), or None.

    The scope rules are the assessment's: a waiver without namespace or object covers the whole cluster, a
    namespace waiver the objects in that namespace, an object waiver that object only.
    """
    return next((w for w in active if w["check"] == check_id and _matches_object(w, entry)), None)


def left_alone_reason(waiver):
    """Why a remediation leaves something alone: the ticket and the date the exception ends."""
    return "waived by %s until %s" % (waiver["ticket"], waiver["expires"].isoformat())


# The options of every remediation module that honours waivers (documented by the waiver_options doc fragment).
REMEDIATION_ARGUMENT_SPEC = {
    "waivers": {"type": "list", "elements": "dict", "default": []},
    "cluster_name": {"type": "str"},
}


def for_remediation(waivers, cluster, today):
    """(active, expired) waivers of this cluster, validated exactly as the assessment validates them.

    A remediation leaves alone what an active waiver covers; expired waivers protect nothing, as in the assessment.
    """
    return split(validate(waivers, {c.id for c in catalog.all_checks()}), cluster, today)


def cluster_waived(active, check_ids):
    """[{check, reason, waiver}]: the checks of ``check_ids`` an active waiver without namespace or object covers.

    For the remediations that change the cluster as a whole (control plane, provider settings, etcd snapshots): a
    namespace or object waiver cannot cover what they change.
    """
    cluster_wide = [w for w in active if not w.get("namespace") and not w.get("object")]
    waived = []
    for check_id in check_ids:
        waiver = covering(cluster_wide, check_id, {})
        if waiver is not None:
            waived.append({"check": check_id, "reason": left_alone_reason(waiver), "waiver": describe(waiver)})
    return waived


def split(waivers, cluster, today):
    """(active, expired) waivers that concern this cluster."""
    mine = [w for w in waivers if w.get("cluster") in (None, "", "*", cluster)]
    return [w for w in mine if w["expires"] >= today], [w for w in mine if w["expires"] < today]


def apply(check_id, verdict, objects, active):
    """Apply active waivers to one check's outcome.

    Returns (verdict, objects, waivers used). A waiver without namespace or object waives the whole check.
    A scoped waiver waives the objects it matches; the check is waived when every failing object is, and
    keeps failing otherwise. unknown is never waived away: a waiver accepts a known gap, not an unknown one.
    """
    relevant = [w for w in active if w["check"] == check_id]
    if not relevant or verdict in ("pass", "not_applicable"):
        return verdict, objects, []
    used = []
    whole = [w for w in relevant if not w.get("namespace") and not w.get("object")]
    if whole and verdict == "fail":
        return "waived", objects, [describe(w) for w in whole]
    updated = []
    for entry in objects:
        if entry["verdict"] == "fail":
            match = next((w for w in relevant if (w.get("namespace") or w.get("object"))
                          and _matches_object(w, entry)), None)
            if match is not None:
                entry = dict(entry, verdict="waived", waiver=describe(match))
                if describe(match) not in used:
                    used.append(describe(match))
        updated.append(entry)
    remaining = [e["verdict"] for e in updated]
    if "fail" in remaining:
        new_verdict = "fail"
    elif "unknown" in remaining:
        new_verdict = "unknown"
    elif used:
        new_verdict = "waived"
    else:
        new_verdict = verdict
    return new_verdict, updated, used
