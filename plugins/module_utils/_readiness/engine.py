# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""snapshot -> findings: run every catalog check on one cluster's snapshot, apply waivers, summarise. No I/O."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import controls_for
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    AREAS,
    SEVERITIES,
    VERDICTS,
    Result,
    Unreadable,
)

# Weights for the score: a failed critical item costs ten times a low one.
SEVERITY_WEIGHT = {"critical": 10, "high": 5, "medium": 3, "low": 1, "info": 0}


def _applicability(check, ctx):
    """A not_applicable Result when the check does not concern this cluster, else None."""
    if ctx.distribution not in check.distributions:
        return Result("not_applicable", "applies to %s, not %s" % (", ".join(check.distributions), ctx.distribution))
    if check.scope == "cluster" and ctx.tier not in check.required_for:
        return Result("not_applicable", "not required for tier %s (required for %s)"
                      % (ctx.tier, ", ".join(check.required_for)), tier_rule="cluster tier %s" % ctx.tier)
    return None


def run_check(check, ctx):
    result = _applicability(check, ctx)
    if result is not None:
        return result
    try:
        result = check.evaluate(ctx)
    except Unreadable as exc:
        return Result("unknown", "could not read %s: %s" % (exc.source, exc.cause), {"unreadable": exc.source})
    if not isinstance(result, Result):
        raise TypeError("check %s returned %r" % (check.id, result))
    if result.tier_rule is None and check.scope == "cluster":
        result.tier_rule = "cluster tier %s" % ctx.tier
    return result


def evaluate(checks, snapshot, tier_table, settings=None, active_waivers=(), now=None):
    """Findings for one cluster, in catalog order."""
    ctx = Context(snapshot, tier_table, settings, now)
    findings = []
    for check in checks:
        result = run_check(check, ctx)
        verdict, objects, used = waiver_rules.apply(check.id, result.verdict, result.objects, active_waivers)
        message = result.message
        if used:
            waived = sum(1 for o in objects if o.get("waiver"))
            message = ("waived: %s" % message if verdict == "waived" and not waived
                       else "%s (%d waived by %s)" % (message, waived, ", ".join(sorted({w["ticket"] for w in used}))))
        findings.append({
            "check_id": check.id,
            "title": check.title,
            "area": check.area,
            "severity": check.severity,
            "verdict": verdict,
            "message": message,
            "evidence": result.evidence,
            "objects": objects,
            "tier_rule": result.tier_rule,
            "controls": controls_for(check.item, check.controls),
            "item": check.item,
            "remediation": check.remediation,
            "waivers": used,
        })
    return findings


def summarise(findings):
    """Counts by verdict, area and severity, and a score in percent (None when nothing was decidable).

    The score weighs each applicable, unwaived finding by severity; unknown counts as not passed, because
    a verdict that could not be reached is not evidence of readiness.
    """
    by_verdict = {v: 0 for v in VERDICTS}
    by_area = {a: {v: 0 for v in VERDICTS} for a in AREAS}
    by_severity = {s: {v: 0 for v in VERDICTS} for s in SEVERITIES}
    earned = possible = 0
    for finding in findings:
        verdict = finding["verdict"]
        by_verdict[verdict] += 1
        by_area[finding["area"]][verdict] += 1
        by_severity[finding["severity"]][verdict] += 1
        if verdict in ("pass", "fail", "unknown"):
            weight = SEVERITY_WEIGHT[finding["severity"]]
            possible += weight
            if verdict == "pass":
                earned += weight
    return {
        "total": len(findings),
        "by_verdict": by_verdict,
        "by_area": by_area,
        "by_severity": by_severity,
        "score": round(100.0 * earned / possible, 1) if possible else None,
    }


def failing_at_or_above(findings, threshold):
    """Findings that fail (not waived, not unknown) with severity at or above threshold."""
    limit = SEVERITIES.index(threshold)
    return [f for f in findings if f["verdict"] == "fail" and SEVERITIES.index(f["severity"]) <= limit]
