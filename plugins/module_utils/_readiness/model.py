# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Words of the engine (see DESIGN.md section 2) as small, JSON-friendly types."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import DISTRIBUTIONS, TIERS

VERDICTS = ("pass", "fail", "waived", "unknown", "not_applicable")
SEVERITIES = ("critical", "high", "medium", "low", "info")
AREAS = ("availability", "security", "compliance", "disaster_recovery", "operations")

# Verdicts ordered from best to worst, for rolling object results up into one finding.
_VERDICT_RANK = {"not_applicable": 0, "pass": 1, "waived": 2, "unknown": 3, "fail": 4}


def worst(verdicts, default="pass"):
    verdicts = list(verdicts)
    return max(verdicts, key=_VERDICT_RANK.__getitem__) if verdicts else default


def severity_at_least(severity, threshold):
    """True when severity is as severe as threshold or more (critical > high > medium > low > info)."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)


class Unreadable(Exception):
    """A snapshot input a check needs could not be read; the check's verdict becomes unknown with this cause."""

    def __init__(self, source, cause):
        super(Unreadable, self).__init__("%s: %s" % (source, cause))
        self.source = source
        self.cause = cause


class Check:
    """One readiness item: metadata from the catalog plus the pure function that decides it.

    ``evaluate(ctx)`` returns a Result. ``needs`` names the snapshot inputs (kinds, node facts) it reads,
    which is what gather lists; ``thresholds`` names the tier-table keys it uses.
    """

    __slots__ = ("id", "title", "area", "severity", "item", "required_for", "thresholds", "distributions",
                 "needs", "remediation", "runbook", "evaluate", "scope", "controls")

    def __init__(self, id, title, area, severity, item, evaluate, needs, required_for=TIERS, thresholds=(),
                 distributions=DISTRIBUTIONS, remediation=None, runbook="", scope="cluster", controls=None):
        for value, allowed, what in ((area, AREAS, "area"), (severity, SEVERITIES, "severity")):
            if value not in allowed:
                raise ValueError("check %s: %s %r is not one of %s" % (id, what, value, ", ".join(allowed)))
        for values, allowed, what in ((required_for, TIERS, "tier"), (distributions, DISTRIBUTIONS, "distribution")):
            if not set(values) <= set(allowed):
                raise ValueError("check %s: unknown %s in %r" % (id, what, values))
        self.id = id
        self.title = title
        self.area = area
        self.severity = severity
        self.item = item
        self.evaluate = evaluate
        self.needs = tuple(needs)
        self.required_for = tuple(required_for)
        self.thresholds = tuple(thresholds)
        self.distributions = tuple(distributions)
        self.remediation = remediation
        self.runbook = runbook
        self.scope = scope
        # {framework: (control IDs)}: of the item's controls in that framework, the ones this check tests (several
        # checks share an item, and each tests only part of what the item's controls ask). None: all of them.
        self.controls = controls


class Result:
    """What a check decided, before waivers: a verdict, one line why, evidence, and per-object outcomes.

    ``objects`` lists ``{"kind", "namespace", "name", "verdict", "reason"}`` entries; object-scoped waivers
    apply to them, and the check's verdict is recomputed from what remains.
    """

    __slots__ = ("verdict", "message", "evidence", "objects", "tier_rule")

    def __init__(self, verdict, message, evidence=None, objects=None, tier_rule=None):
        if verdict not in VERDICTS:
            raise ValueError("verdict %r is not one of %s" % (verdict, ", ".join(VERDICTS)))
        self.verdict = verdict
        self.message = message
        self.evidence = evidence or {}
        self.objects = objects or []
        self.tier_rule = tier_rule


def obj(kind, namespace, name, verdict, reason):
    return {"kind": kind, "namespace": namespace, "name": name, "verdict": verdict, "reason": reason}


def from_objects(objects, pass_message, fail_message, evidence=None, tier_rule=None, none_message=None):
    """A Result rolled up from per-object outcomes: worst verdict wins, the message counts the failures."""
    if not objects:
        return Result("not_applicable" if none_message else "pass", none_message or pass_message,
                      evidence, objects, tier_rule)
    verdict = worst(o["verdict"] for o in objects)
    failing = [o for o in objects if o["verdict"] == "fail"]
    unknown = [o for o in objects if o["verdict"] == "unknown"]
    if verdict == "fail":
        message = fail_message % len(failing) if "%d" in fail_message else fail_message
    elif verdict == "unknown":
        message = "could not decide %d object(s): %s" % (len(unknown), unknown[0]["reason"])
    else:
        message = pass_message
    return Result(verdict, message, evidence, objects, tier_rule)
