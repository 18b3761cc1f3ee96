# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The gate of a run: whether it fails, and one line naming every cause. Pure, no I/O.

It fails closed: a run that did not judge every cluster it was asked about fails, and says which.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.engine import failing_at_or_above
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import SEVERITIES

# Cluster names listed in the message before the rest are only counted; the report lists them all.
NAMES_SHOWN = 10
REASON_CHARS = 160


def severity_option(variable, value):
    if value not in SEVERITIES:
        raise KubeCompassError("%s %r is not one of %s" % (variable, value, ", ".join(SEVERITIES)), "input")
    return value


def bool_option(variable, value):
    """A boolean as Ansible reads one (true/false, yes/no, 1/0), or an input error naming the variable."""
    if isinstance(value, bool):
        return value
    normalised = value.lower() if isinstance(value, str) else value
    try:
        if normalised in BOOLEANS_TRUE:
            return True
        if normalised in BOOLEANS_FALSE:
            return False
    except TypeError:  # unhashable: a list or a mapping
        pass
    raise KubeCompassError("%s must be true or false, not %r" % (variable, value), "input")


def decide(clusters, fail_on, fail_on_unknown=True, fail_on_unreachable=True):
    """The gate over normalised cluster records (see report.build_run).

    It fails on a failing finding at or above fail_on; on an unknown one at or above it (unknown is never a pass)
    unless fail_on_unknown is false; on a cluster that could not be reached unless fail_on_unreachable is false; and
    always on a cluster stopped by an input error, on a cluster the run was asked about but has no result for, and
    when no cluster was assessed at all.
    """
    failing = []
    undecided = []
    not_assessed = []
    limit = SEVERITIES.index(fail_on)
    for cluster in clusters:
        name = cluster["cluster"]
        if cluster["status"] != "assessed":
            not_assessed.append({"cluster": name, "status": cluster["status"], "cause": cluster.get("error")})
            continue
        for finding in failing_at_or_above(cluster["findings"], fail_on):
            failing.append({"cluster": name, "check_id": finding["check_id"], "severity": finding["severity"]})
        for finding in cluster["findings"]:
            if finding["verdict"] == "unknown" and SEVERITIES.index(finding["severity"]) <= limit:
                undecided.append({"cluster": name, "check_id": finding["check_id"], "severity": finding["severity"],
                                  "reason": finding.get("message")})
    assessed = len(clusters) - len(not_assessed)
    blocking = [c for c in not_assessed if fail_on_unreachable or c["status"] != "unreachable"]
    failed = bool(failing or blocking or (fail_on_unknown and undecided) or not assessed)
    result = {"fail_on": fail_on, "fail_on_unknown": fail_on_unknown, "fail_on_unreachable": fail_on_unreachable,
              "failed": failed, "assessed": assessed, "failing": failing, "unknown": undecided,
              "unreachable": [c["cluster"] for c in not_assessed], "not_assessed": not_assessed}
    result["message"] = message(result)
    return result


def _names(names):
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown if len(names) <= NAMES_SHOWN else "%s and %d more" % (shown, len(names) - NAMES_SHOWN)


def _one_line(text, limit=REASON_CHARS):
    text = " ".join(("%s" % (text,)).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _by_check(entries):
    """{check_id: [clusters]} in first-seen order, so a fleet's message grows with checks, not with clusters."""
    grouped = {}
    for entry in entries:
        grouped.setdefault(entry["check_id"], []).append(entry)
    return grouped


def _where(entries):
    clusters = [e["cluster"] for e in entries]
    return "on %s" % (_names(clusters) if len(clusters) <= 3 else "%d clusters" % len(clusters))


def message(result):
    """One line: the verdict, then every cause (never an empty list in parentheses)."""
    causes = []
    if result["failing"]:
        grouped = _by_check(result["failing"])
        causes.append("%d finding(s) at or above %s failed: %s" % (
            len(result["failing"]), result["fail_on"],
            "; ".join("%s %s" % (check_id, _where(entries)) for check_id, entries in grouped.items())))
    if result["unknown"]:
        grouped = _by_check(result["unknown"])
        note = "" if result["fail_on_unknown"] else ", not gated (kubecompass_fail_on_unknown is false)"
        causes.append("%d finding(s) at or above %s could not be decided%s: %s" % (
            len(result["unknown"]), result["fail_on"], note,
            "; ".join("%s %s (%s)" % (check_id, _where(entries), _one_line(entries[0]["reason"] or "no reason given"))
                      for check_id, entries in grouped.items())))
    for status, heading in (("unreachable", "unreachable"), ("error", "stopped on an input error"),
                            ("missing", "no result")):
        entries = [c for c in result["not_assessed"] if c["status"] == status]
        if not entries:
            continue
        note = ", not gated (kubecompass_fail_on_unreachable is false)" if (
            status == "unreachable" and not result["fail_on_unreachable"]) else ""
        shown = ["%s (%s)" % (c["cluster"], _one_line(c["cause"] or "no cause recorded"))
                 for c in entries[:NAMES_SHOWN]]
        rest = [c["cluster"] for c in entries[NAMES_SHOWN:]]
        tail = ", and %s" % ", ".join(rest) if rest else ""
        causes.append("%d cluster(s) %s%s: %s%s" % (len(entries), heading, note, ", ".join(shown), tail))
    if not result["assessed"]:
        causes.append("no cluster was assessed")
    verdict = "FAILED" if result["failed"] else "PASSED"
    if not causes:
        causes.append("no finding at or above %s failed in %d cluster(s)" % (result["fail_on"], result["assessed"]))
    return "Gate (fail on %s): %s - %s." % (result["fail_on"], verdict, "; ".join(causes))


def compact(result):
    """The gate without per-finding lists, for Ansible variables, job events and set_stats (a fleet's failing
    findings are in the report files): the decision, its message, and the check IDs and clusters behind it."""
    return {
        "fail_on": result["fail_on"],
        "fail_on_unknown": result["fail_on_unknown"],
        "fail_on_unreachable": result["fail_on_unreachable"],
        "failed": result["failed"],
        "message": result["message"],
        "assessed": result["assessed"],
        "failing": sorted({f["check_id"] for f in result["failing"]}),
        "unknown": sorted({f["check_id"] for f in result["unknown"]}),
        "unreachable": list(result["unreachable"]),
        "counts": {"failing": len(result["failing"]), "unknown": len(result["unknown"]),
                   "not_assessed": len(result["not_assessed"])},
    }
