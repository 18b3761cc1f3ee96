# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""JUnit XML: one testsuite per cluster, one testcase per check. Pure, no I/O."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
import xml.etree.ElementTree as ET

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.formats.common import (
    TOOL_NAME,
    catalog_index,
    gate_blocking,
    object_label,
    objects_with,
    waiver_scope,
    waiver_text,
)

# Failing objects listed per finding in a testcase's text, which people read.
JUNIT_OBJECT_LIMIT = 50

# XML 1.0 forbids most control characters even when escaped; API messages may carry them.
_XML_INVALID = re.compile(u"[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text):
    return _XML_INVALID.sub(u"\ufffd", u"%s" % (text,))


def _one_line(text):
    return " ".join(_xml(text).split())


def _indent(element, level=0):
    """Pretty-print in place (ElementTree.indent exists only from Python 3.9)."""
    pad = "\n" + "  " * level
    if len(element):
        if not (element.text or "").strip():
            element.text = pad + "  "
        for child in element:
            _indent(child, level + 1)
        if not (child.tail or "").strip():
            child.tail = pad
    if level and not (element.tail or "").strip():
        element.tail = pad


def _junit_detail(finding, runbook):
    lines = [finding["message"], "severity: %s, area: %s" % (finding["severity"], finding["area"])]
    if finding.get("tier_rule"):
        lines.append("tier rule: %s" % finding["tier_rule"])
    for verdict, heading in (("fail", "failing objects"), ("unknown", "undecided objects"),
                             ("waived", "waived objects")):
        objects = objects_with(finding, verdict)
        if objects:
            lines.append("%s (%d):" % (heading, len(objects)))
            lines.extend("  %s: %s" % (object_label(o), o.get("reason")) for o in objects[:JUNIT_OBJECT_LIMIT])
            if len(objects) > JUNIT_OBJECT_LIMIT:
                lines.append("  ... and %d more (see the JSON report)" % (len(objects) - JUNIT_OBJECT_LIMIT))
    if runbook:
        lines.append("runbook: %s" % runbook)
    return _xml("\n".join(lines))


def _junit_case(suite, cluster, name, seconds="0"):
    return ET.SubElement(suite, "testcase", {"classname": _xml(cluster), "name": _xml(name), "time": seconds})


def _below_gate(case, finding, runbook, why):
    """A failure the gate does not count: reported in full, but as skipped so the suite stays green."""
    element = ET.SubElement(case, "skipped", {"message": _one_line("%s: %s" % (why, finding["message"]))})
    element.text = _junit_detail(finding, runbook)


def _not_counted(finding, gate):
    if finding["verdict"] == "fail":
        return "%s failure below the gate (fail on %s), not counted" % (finding["severity"], gate["fail_on"])
    unknown_off = "" if gate.get("fail_on_unknown", True) else ", unknown not counted"
    return "undecided, not counted by the gate (fail on %s%s)" % (gate["fail_on"], unknown_off)


def _junit_suite(parent, cluster, started, catalog, red, gate):
    """One cluster's testsuite; findings in red are failures/errors, other fail/unknown findings are skipped."""
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    gather = cluster["gather"]
    seconds = gather["timings"]["gather_seconds"] + gather["timings"]["evaluate_seconds"]
    suite = ET.SubElement(parent, "testsuite", {"name": _xml(cluster["cluster"]), "time": "%.3f" % seconds})
    if started:
        suite.set("timestamp", started)
    properties = ET.SubElement(suite, "properties")
    score = (cluster["summary"] or {}).get("score")
    for key, value in (("distribution", cluster["distribution"] or "unknown"), ("tier", cluster["tier"] or "unknown"),
                       ("status", cluster["status"]), ("score", score), ("api_requests", gather["api_requests"]),
                       ("fail_on", gate["fail_on"])):
        if value is not None:
            ET.SubElement(properties, "property", {"name": key, "value": _xml(value)})
    if cluster["status"] != "assessed":
        name = "cluster reachable" if cluster["status"] == "unreachable" else "cluster assessed"
        case = _junit_case(suite, cluster["cluster"], name)
        error = ET.SubElement(case, "error", {"message": _one_line(cluster["error"] or cluster["status"]),
                                              "type": cluster["status"]})
        error.text = _xml(cluster["error"] or "")
        counts["tests"] = counts["errors"] = 1
    for finding in cluster["findings"]:
        case = _junit_case(suite, cluster["cluster"], "%s %s" % (finding["check_id"], finding["title"]))
        counts["tests"] += 1
        verdict = finding["verdict"]
        runbook = (catalog.get(finding["check_id"]) or {}).get("runbook")
        if verdict in ("fail", "unknown") and (cluster["cluster"], finding["check_id"]) not in red:
            _below_gate(case, finding, runbook if verdict == "fail" else None, _not_counted(finding, gate))
            counts["skipped"] += 1
        elif verdict == "fail":
            element = ET.SubElement(case, "failure", {"message": _one_line(finding["message"]),
                                                      "type": finding["severity"]})
            element.text = _junit_detail(finding, runbook)
            counts["failures"] += 1
        elif verdict == "unknown":
            element = ET.SubElement(case, "error", {"message": _one_line(finding["message"]), "type": "unknown"})
            element.text = _junit_detail(finding, None)
            counts["errors"] += 1
        elif verdict == "waived":
            reasons = "; ".join(waiver_text(w) for w in finding.get("waivers") or []) or finding["message"]
            ET.SubElement(case, "skipped", {"message": _one_line("waived: %s" % reasons)})
            counts["skipped"] += 1
        elif verdict == "not_applicable":
            ET.SubElement(case, "skipped", {"message": _one_line("not applicable: %s" % finding["message"])})
            counts["skipped"] += 1
    notes = ["expired waiver for %s (%s): %s" % (w["check"], waiver_scope(w), waiver_text(w))
             for w in cluster["expired_waivers"]]
    notes += ["could not read %s: %s" % (u.get("source"), u.get("cause")) for u in gather["unreadable"]]
    if notes:
        ET.SubElement(suite, "system-out").text = _xml("\n".join(notes))
    for key, value in counts.items():
        suite.set(key, str(value))
    return counts, seconds


def render_junit(run, fail_below_gate=False):
    """One <testsuite> per cluster, one <testcase> per check; fail/unknown/waived+n/a map to failure/error/skipped.

    A fail or unknown finding the gate does not count (below fail_on) is skipped, with its details, so CI test
    widgets go red exactly when the gate fails; fail_below_gate=True makes every fail/unknown red.
    """
    if fail_below_gate:
        red = {(c["cluster"], f["check_id"]) for c in run["clusters"] for f in c["findings"]
               if f["verdict"] in ("fail", "unknown")}
    else:
        red = gate_blocking(run)
    root = ET.Element("testsuites", {"name": TOOL_NAME})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_seconds = 0.0
    catalog = catalog_index(run)
    for cluster in run["clusters"]:
        counts, seconds = _junit_suite(root, cluster, run.get("started"), catalog, red, run["gate"])
        total_seconds += seconds
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "%.3f" % total_seconds)
    _indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
