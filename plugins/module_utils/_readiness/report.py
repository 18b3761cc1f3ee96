# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Findings of one run -> reports: JSON (full), JUnit XML, SARIF 2.1.0, Markdown, AWX stats. Pure, no I/O.

Every renderer reads the same "run" dict that build_run assembles; docs/report-schema.json documents it.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import json
import re
import xml.etree.ElementTree as ET

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.engine import (
    failing_at_or_above,
    summarise,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import SEVERITIES

SCHEMA_VERSION = "1"
TOOL_NAME = "kubecompass.readiness"
# The collection version (galaxy.yml); a unit test keeps the two equal.
TOOL_VERSION = "0.1.0"
TOOL_URI = "https://github.com/kubecompass/kubecompass.readiness"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

CLUSTER_STATUSES = ("assessed", "unreachable", "error")
# Failing objects listed per finding: all of them in JSON and SARIF; JUnit text and Markdown are read by people.
JUNIT_OBJECT_LIMIT = 50
MARKDOWN_OBJECT_LIMIT = 5

SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SARIF_KIND = {"pass": "pass", "fail": "fail", "waived": "fail", "unknown": "review", "not_applicable": "notApplicable"}
# GitHub code scanning ranks security results by this property (CVSS-like, 0.0-10.0).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}


# -- the run -----------------------------------------------------------------------------------------------------------

def _cluster_record(index, cluster):
    where = "results[%d]" % index
    if not isinstance(cluster, dict) or not cluster.get("cluster"):
        raise KubeCompassError("%s needs a cluster name" % where, "input")
    status = cluster.get("status")
    # No status means this is not an assess result (e.g. a failed task registered with ignore_errors): reading it
    # as assessed with no findings would pass a cluster nothing is known about.
    if status not in CLUSTER_STATUSES:
        raise KubeCompassError("%s (cluster %s): status %r is not one of %s"
                               % (where, cluster["cluster"], status, ", ".join(CLUSTER_STATUSES)), "input")
    findings = list(cluster.get("findings") or [])
    summary = cluster.get("summary")
    if summary is None and status == "assessed":
        summary = summarise(findings)
    gather = dict(cluster.get("gather") or {})
    timings = dict(gather.get("timings") or {})
    return {
        "cluster": cluster["cluster"],
        "distribution": cluster.get("distribution"),
        "distribution_evidence": list(cluster.get("distribution_evidence") or []),
        "tier": cluster.get("tier"),
        "status": status,
        "error": cluster.get("error") if status == "assessed" else cluster.get("error") or "no cause recorded",
        "summary": summary,
        "findings": findings,
        "expired_waivers": list(cluster.get("expired_waivers") or []),
        "gather": {
            "api_requests": int(gather.get("api_requests") or 0),
            "kinds_listed": int(gather.get("kinds_listed") or 0),
            "timings": {"gather_seconds": float(timings.get("gather_seconds") or 0.0),
                        "evaluate_seconds": float(timings.get("evaluate_seconds") or 0.0)},
            "unreadable": list(gather.get("unreadable") or []),
        },
    }


def gate(clusters, fail_on, fail_on_unknown=True):
    """Whether the run fails at fail_on: a failing finding at or above it, a cluster that was not assessed, and
    (unless fail_on_unknown is false) an unknown finding at or above it, since unknown is never a pass."""
    failing = []
    undecided = []
    unassessed = []
    limit = SEVERITIES.index(fail_on)
    for cluster in clusters:
        if cluster["status"] != "assessed":
            unassessed.append(cluster["cluster"])
            continue
        for finding in failing_at_or_above(cluster["findings"], fail_on):
            failing.append({"cluster": cluster["cluster"], "check_id": finding["check_id"],
                            "severity": finding["severity"]})
        for finding in cluster["findings"]:
            if finding["verdict"] == "unknown" and SEVERITIES.index(finding["severity"]) <= limit:
                undecided.append({"cluster": cluster["cluster"], "check_id": finding["check_id"],
                                  "severity": finding["severity"]})
    failed = bool(failing or unassessed or (fail_on_unknown and undecided))
    return {"fail_on": fail_on, "fail_on_unknown": fail_on_unknown, "failed": failed, "failing": failing,
            "unknown": undecided, "unreachable": unassessed}


def build_run(clusters, catalog, fail_on="high", started=None, finished=None, fail_on_unknown=True):
    """The run dict every renderer reads: clusters as given (normalised), an aggregate summary and the gate.

    ``clusters`` are assess results (extra keys such as Ansible's ``changed``/``invocation`` are dropped);
    ``catalog`` is ``catalog.entries(checks)``; ``started``/``finished`` are RFC 3339 strings supplied by the
    caller (this module reads no clock).
    """
    if fail_on not in SEVERITIES:
        raise KubeCompassError("fail_on %r is not one of %s" % (fail_on, ", ".join(SEVERITIES)), "input")
    records = [_cluster_record(index, cluster) for index, cluster in enumerate(clusters)]
    names = [r["cluster"] for r in records]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise KubeCompassError("cluster(s) reported twice: %s" % ", ".join(duplicates), "input")
    summary = summarise([f for r in records if r["status"] == "assessed" for f in r["findings"]])
    summary["clusters"] = {status: sum(1 for r in records if r["status"] == status) for status in CLUSTER_STATUSES}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "started": started or finished,
        "finished": finished or started,
        "fail_on": fail_on,
        "summary": summary,
        "gate": gate(records, fail_on, fail_on_unknown),
        "clusters": records,
        "catalog": [dict(entry) for entry in catalog],
    }


# -- shared helpers ----------------------------------------------------------------------------------------------------

def _json_default(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError("%r is not JSON serialisable" % (value,))


def _object_label(entry):
    where = "%s/%s" % (entry["namespace"], entry["name"]) if entry.get("namespace") else entry.get("name")
    return "%s %s" % (entry.get("kind"), where)


def _objects(finding, verdict):
    return [o for o in finding.get("objects") or [] if o.get("verdict") == verdict]


def _waiver_text(waiver):
    return "%s (owner %s, ticket %s, expires %s)" % (waiver["reason"], waiver["owner"], waiver["ticket"],
                                                     waiver["expires"])


def _waiver_scope(waiver):
    target = waiver.get("object")
    if target:
        return _object_label(target)
    if waiver.get("namespace"):
        return "namespace %s" % waiver["namespace"]
    return "whole check"


def _catalog_index(run):
    return {entry["id"]: entry for entry in run["catalog"]}


# -- JSON --------------------------------------------------------------------------------------------------------------

def render_json(run):
    return json.dumps(run, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default) + "\n"


# -- JUnit XML ---------------------------------------------------------------------------------------------------------

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
        objects = _objects(finding, verdict)
        if objects:
            lines.append("%s (%d):" % (heading, len(objects)))
            lines.extend("  %s: %s" % (_object_label(o), o.get("reason")) for o in objects[:JUNIT_OBJECT_LIMIT])
            if len(objects) > JUNIT_OBJECT_LIMIT:
                lines.append("  ... and %d more (see the JSON report)" % (len(objects) - JUNIT_OBJECT_LIMIT))
    if runbook:
        lines.append("runbook: %s" % runbook)
    return _xml("\n".join(lines))


def _junit_case(suite, cluster, name, seconds="0"):
    return ET.SubElement(suite, "testcase", {"classname": _xml(cluster), "name": _xml(name), "time": seconds})


def _junit_suite(parent, cluster, started, catalog):
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    gather = cluster["gather"]
    seconds = gather["timings"]["gather_seconds"] + gather["timings"]["evaluate_seconds"]
    suite = ET.SubElement(parent, "testsuite", {"name": _xml(cluster["cluster"]), "time": "%.3f" % seconds})
    if started:
        suite.set("timestamp", started)
    properties = ET.SubElement(suite, "properties")
    score = (cluster["summary"] or {}).get("score")
    for key, value in (("distribution", cluster["distribution"]), ("tier", cluster["tier"]),
                       ("status", cluster["status"]), ("score", score), ("api_requests", gather["api_requests"])):
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
        if verdict == "fail":
            element = ET.SubElement(case, "failure", {"message": _one_line(finding["message"]),
                                                      "type": finding["severity"]})
            element.text = _junit_detail(finding, runbook)
            counts["failures"] += 1
        elif verdict == "unknown":
            element = ET.SubElement(case, "error", {"message": _one_line(finding["message"]), "type": "unknown"})
            element.text = _junit_detail(finding, None)
            counts["errors"] += 1
        elif verdict == "waived":
            reasons = "; ".join(_waiver_text(w) for w in finding.get("waivers") or []) or finding["message"]
            ET.SubElement(case, "skipped", {"message": _one_line("waived: %s" % reasons)})
            counts["skipped"] += 1
        elif verdict == "not_applicable":
            ET.SubElement(case, "skipped", {"message": _one_line("not applicable: %s" % finding["message"])})
            counts["skipped"] += 1
    notes = ["expired waiver for %s (%s): %s" % (w["check"], _waiver_scope(w), _waiver_text(w))
             for w in cluster["expired_waivers"]]
    notes += ["could not read %s: %s" % (u.get("source"), u.get("cause")) for u in gather["unreadable"]]
    if notes:
        ET.SubElement(suite, "system-out").text = _xml("\n".join(notes))
    for key, value in counts.items():
        suite.set(key, str(value))
    return counts, seconds


def render_junit(run):
    """One <testsuite> per cluster, one <testcase> per check; fail/unknown/waived+n/a map to failure/error/skipped."""
    root = ET.Element("testsuites", {"name": TOOL_NAME})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_seconds = 0.0
    catalog = _catalog_index(run)
    for cluster in run["clusters"]:
        counts, seconds = _junit_suite(root, cluster, run.get("started"), catalog)
        total_seconds += seconds
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "%.3f" % total_seconds)
    _indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- SARIF 2.1.0 -------------------------------------------------------------------------------------------------------

def _rule_name(title):
    """A rule's identifier-like name: the title in UpperCamelCase."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title))


def _sarif_rule(entry):
    controls = [{"framework": c["framework"], "id": c["id"], "basis": c["basis"]} for c in entry.get("controls") or []]
    properties = {
        "area": entry["area"],
        "severity": entry["severity"],
        "item": entry["item"],
        "required_for": list(entry.get("required_for") or []),
        "controls": controls,
        "tags": [entry["area"], entry["item"], entry["severity"]],
    }
    if entry["area"] == "security":
        properties["security-severity"] = SECURITY_SEVERITY[entry["severity"]]
    if entry.get("remediation"):
        properties["remediation"] = entry["remediation"]
    rule = {
        "id": entry["id"],
        "name": _rule_name(entry["title"]),
        "shortDescription": {"text": entry["title"]},
        "defaultConfiguration": {"level": SARIF_LEVEL[entry["severity"]]},
        "properties": properties,
    }
    if entry.get("runbook"):
        rule["help"] = {"text": entry["runbook"]}
    return rule


def _logical(name, fully_qualified, kind):
    return {"name": name, "fullyQualifiedName": fully_qualified, "kind": kind}


def _object_location(cluster, entry, location_id):
    path = [cluster] + ([entry["namespace"]] if entry.get("namespace") else []) + [entry.get("kind"), entry["name"]]
    return {
        "id": location_id,
        "logicalLocations": [_logical(entry["name"], "/".join(str(p) for p in path), "resource")],
        "message": {"text": "%s: %s" % (_object_label(entry), entry.get("reason"))},
        "properties": {"kind": entry.get("kind"), "namespace": entry.get("namespace"), "verdict": entry["verdict"]},
    }


def _sarif_result(cluster, finding, rule_index):
    verdict = finding["verdict"]
    kind = SARIF_KIND[verdict]
    result = {
        "ruleId": finding["check_id"],
        "kind": kind,
        "level": SARIF_LEVEL[finding["severity"]] if kind == "fail" else "none",
        "message": {"text": finding["message"]},
        "locations": [{"logicalLocations": [_logical(cluster, cluster, "resource")]}],
        "partialFingerprints": {"clusterCheck/v1": "%s:%s" % (cluster, finding["check_id"])},
        "properties": {
            "cluster": cluster,
            "verdict": verdict,
            "area": finding["area"],
            "severity": finding["severity"],
            "tier_rule": finding.get("tier_rule"),
            "evidence": finding.get("evidence") or {},
        },
    }
    if finding["check_id"] in rule_index:
        result["ruleIndex"] = rule_index[finding["check_id"]]
    related = [o for o in finding.get("objects") or [] if o.get("verdict") in ("fail", "unknown", "waived")]
    if related:
        result["relatedLocations"] = [_object_location(cluster, o, i) for i, o in enumerate(related)]
    if verdict == "waived":
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": w["reason"],
             "properties": {"owner": w["owner"], "ticket": w["ticket"], "expires": w["expires"],
                            "scope": _waiver_scope(w)}}
            for w in finding.get("waivers") or []
        ] or [{"kind": "external", "status": "accepted", "justification": finding["message"]}]
    elif finding.get("waivers"):
        # Some objects are waived, others still fail: the result stands, the waivers are recorded.
        result["properties"]["waivers"] = finding["waivers"]
    return result


def _notification(level, text, cluster, descriptor):
    return {"level": level, "message": {"text": text}, "descriptor": {"id": descriptor},
            "locations": [{"logicalLocations": [_logical(cluster, cluster, "resource")]}]}


def render_sarif(run):
    """One SARIF run: rules from the catalog, one result per finding, unassessed clusters as notifications."""
    rules = [_sarif_rule(entry) for entry in run["catalog"]]
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    results = []
    notifications = []
    for cluster in run["clusters"]:
        name = cluster["cluster"]
        if cluster["status"] != "assessed":
            notifications.append(_notification("error", "cluster %s not assessed (%s): %s"
                                               % (name, cluster["status"], cluster["error"]), name,
                                               "cluster-%s" % cluster["status"]))
        for source in cluster["gather"]["unreadable"]:
            notifications.append(_notification("warning", "could not read %s: %s"
                                               % (source.get("source"), source.get("cause")), name, "unreadable"))
        for waiver in cluster["expired_waivers"]:
            notifications.append(_notification("warning", "expired waiver for %s (%s) no longer applies: %s"
                                               % (waiver["check"], _waiver_scope(waiver), _waiver_text(waiver)),
                                               name, "waiver-expired"))
        results.extend(_sarif_result(name, finding, rule_index) for finding in cluster["findings"])
    invocation = {
        "executionSuccessful": all(c["status"] == "assessed" for c in run["clusters"]),
        "toolExecutionNotifications": notifications,
        "properties": {"gate": run["gate"]},
    }
    if run.get("started"):
        invocation["startTimeUtc"] = run["started"]
    if run.get("finished"):
        invocation["endTimeUtc"] = run["finished"]
    sarif = {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": TOOL_VERSION, "semanticVersion": TOOL_VERSION,
                                "informationUri": TOOL_URI, "rules": rules}},
            "invocations": [invocation],
            "results": results,
            "properties": {"fail_on": run["fail_on"], "summary": run["summary"]},
        }],
    }
    return json.dumps(sarif, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default) + "\n"


# -- Markdown ----------------------------------------------------------------------------------------------------------

def _md(text):
    """One line of prose: no line breaks, and no pipe that would split a table cell."""
    return " ".join((u"%s" % (text,)).split()).replace("|", "\\|")


def _code(text):
    text = u"%s" % (text,)
    fence = "``" if "`" in text else "`"
    return "%s%s%s" % (fence, text.replace("\n", " "), fence)


def _score(summary):
    score = (summary or {}).get("score")
    return "n/a" if score is None else "%s%%" % score


def _counts_line(by_verdict):
    return "%d pass, %d fail, %d waived, %d unknown, %d not applicable" % tuple(
        by_verdict.get(v, 0) for v in ("pass", "fail", "waived", "unknown", "not_applicable"))


def _object_lines(objects, limit):
    lines = ["  - %s: %s" % (_code(_object_label(o)), _md(o.get("reason"))) for o in objects[:limit]]
    if len(objects) > limit:
        lines.append("  - ... and %d more" % (len(objects) - limit))
    return lines


def _markdown_cluster(cluster, fail_on):
    name = cluster["cluster"]
    facts = ", ".join(p for p in (cluster["distribution"], cluster["tier"] and "tier %s" % cluster["tier"]) if p)
    lines = ["## %s%s" % (_code(name), " (%s)" % facts if facts else ""), ""]
    if cluster["status"] != "assessed":
        lines += ["**Not assessed (%s):** %s" % (cluster["status"], _md(cluster["error"] or "no cause given")), ""]
        return lines
    summary = cluster["summary"]
    gather = cluster["gather"]
    lines += ["**Score %s**: %s." % (_score(summary), _counts_line(summary["by_verdict"])),
              "Gathered with %d API requests in %.1f s, evaluated in %.1f s."
              % (gather["api_requests"], gather["timings"]["gather_seconds"], gather["timings"]["evaluate_seconds"]),
              ""]
    if gather["unreadable"]:
        lines.append("Could not read: %s." % "; ".join("%s (%s)" % (_md(u.get("source")), _md(u.get("cause")))
                                                       for u in gather["unreadable"]))
        lines.append("")
    findings = cluster["findings"]
    failing = [f for f in findings if f["verdict"] == "fail"]
    if failing:
        lines += ["### Failing", ""]
        for severity in SEVERITIES:
            group = [f for f in failing if f["severity"] == severity]
            if not group:
                continue
            gate_note = " (fails the gate)" if SEVERITIES.index(severity) <= SEVERITIES.index(fail_on) else ""
            lines += ["#### %s%s" % (severity, gate_note), ""]
            for finding in group:
                waived = _objects(finding, "waived")
                lines.append("- **%s** %s: %s%s" % (finding["check_id"], _md(finding["title"]), _md(finding["message"]),
                                                    " (%d object(s) waived)" % len(waived) if waived else ""))
                lines += _object_lines(_objects(finding, "fail"), MARKDOWN_OBJECT_LIMIT)
            lines.append("")
    unknown = [f for f in findings if f["verdict"] == "unknown"]
    if unknown:
        lines += ["### Unknown (not counted as passed)", ""]
        for finding in unknown:
            lines.append("- **%s** %s: %s" % (finding["check_id"], _md(finding["title"]), _md(finding["message"])))
            lines += _object_lines(_objects(finding, "unknown"), MARKDOWN_OBJECT_LIMIT)
        lines.append("")
    waived = [f for f in findings if f["verdict"] == "waived"]
    if waived:
        lines += ["### Waived", ""]
        for finding in waived:
            lines.append("- **%s** %s" % (finding["check_id"], _md(finding["title"])))
            lines += ["  - %s: %s" % (_waiver_scope(w), _md(_waiver_text(w))) for w in finding.get("waivers") or []]
        lines.append("")
    if cluster["expired_waivers"]:
        lines += ["### Expired waivers (no longer applied)", ""]
        lines += ["- **%s** %s: %s" % (w["check"], _waiver_scope(w), _md(_waiver_text(w)))
                  for w in cluster["expired_waivers"]]
        lines.append("")
    not_applicable = sum(1 for f in findings if f["verdict"] == "not_applicable")
    lines += ["Not applicable: %d check(s)." % not_applicable, ""]
    return lines


def render_markdown(run):
    """A summary a person reads: the gate, a table of clusters, then per cluster what to act on."""
    result = run["gate"]
    verdict = "FAILED" if result["failed"] else "PASSED"
    reasons = []
    if result["failing"]:
        reasons.append("%d failing finding(s) at or above %s" % (len(result["failing"]), result["fail_on"]))
    if result["unreachable"]:
        reasons.append("not assessed: %s" % ", ".join(result["unreachable"]))
    lines = [
        "# KubeCompass readiness report",
        "",
        "Run %s to %s, %s %s." % (run.get("started"), run.get("finished"), TOOL_NAME, run["tool"]["version"]),
        "",
        "**Gate (fail on %s): %s**%s" % (result["fail_on"], verdict, " - %s." % "; ".join(reasons) if reasons else "."),
        "",
        "| cluster | distribution | tier | status | score | pass | fail | waived | unknown | not applicable |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cluster in run["clusters"]:
        by_verdict = (cluster["summary"] or {}).get("by_verdict") or {}
        cells = [cluster["cluster"], cluster["distribution"] or "-", cluster["tier"] or "-", cluster["status"],
                 _score(cluster["summary"])]
        cells += [str(by_verdict[v]) if by_verdict else "-"
                  for v in ("pass", "fail", "waived", "unknown", "not_applicable")]
        lines.append("| %s |" % " | ".join(_md(c) for c in cells))
    lines.append("")
    for cluster in run["clusters"]:
        lines += _markdown_cluster(cluster, run["fail_on"])
    return "\n".join(lines).rstrip("\n") + "\n"


# -- AWX ---------------------------------------------------------------------------------------------------------------

def awx_stats(run):
    """A small dict for ansible.builtin.set_stats (AWX job artifacts): per cluster score and counts, the gate."""
    clusters = {}
    for cluster in run["clusters"]:
        summary = cluster["summary"] or {}
        clusters[cluster["cluster"]] = {
            "status": cluster["status"],
            "score": summary.get("score"),
            "counts": dict(summary.get("by_verdict") or {}),
        }
    result = run["gate"]
    return {
        "score": run["summary"]["score"],
        "clusters": clusters,
        "gate": {"fail_on": result["fail_on"], "failed": result["failed"],
                 "failing": ["%s:%s" % (f["cluster"], f["check_id"]) for f in result["failing"]],
                 "unreachable": list(result["unreachable"])},
    }


RENDERERS = {
    "json": render_json,
    "junit": render_junit,
    "sarif": render_sarif,
    "markdown": render_markdown,
}
