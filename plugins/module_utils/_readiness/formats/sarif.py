# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""SARIF 2.1.0 that GitHub code scanning ingests. Pure, no I/O.

Code scanning turns every result into an alert whatever its ``kind``, and ignores ``suppressions``, so only what
needs acting on becomes a result: each failing or undecided object (or the cluster, for a cluster-wide check).
Passed, not-applicable and waived outcomes are counted in the run's properties; the JSON report has them all.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import gzip
import hashlib
import json
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.formats.common import (
    TOOL_NAME,
    TOOL_URI,
    TOOL_VERSION,
    json_default,
    object_label,
    waiver_scope,
    waiver_text,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import SEVERITIES

SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SARIF_KIND = {"fail": "fail", "unknown": "review"}
# GitHub ranks and labels results by the rule's security-severity (over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium,
# 0.1-3.9 low; 0.0 means none, so info rules carry none).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
PROBLEM_SEVERITY = {"critical": "error", "high": "error", "medium": "warning", "low": "recommendation",
                    "info": "recommendation"}

# GitHub's documented ingestion limits ("SARIF support for code scanning"; "SARIF results exceed limit"): above a
# maximum the whole file is rejected; only the first 5,000 results by severity and 10 tags per rule are shown.
GITHUB_LIMITS = {
    "runs": 20,
    "results": 25000,
    "results_shown": 5000,
    "rules": 25000,
    "tags": 20,
    "tags_shown": 10,
    "locations": 1000,
    "rule_name": 255,
    "description": 1024,
    "gzip_bytes": 10 * 1000 * 1000,
}
# What this renderer emits stays inside what GitHub shows, with room to spare on the compressed size.
RESULT_LIMIT = GITHUB_LIMITS["results_shown"]
TAG_LIMIT = GITHUB_LIMITS["tags_shown"]
TEXT_LIMIT = GITHUB_LIMITS["description"]
GZIP_BUDGET = GITHUB_LIMITS["gzip_bytes"] // 2
# Objects named in a finding-level summary result (when a check's objects are folded into one result).
SUMMARY_OBJECT_LIMIT = 10

# Results point at the cluster objects themselves under this base: <cluster>, <cluster>/<Kind>/<name> (cluster-scoped)
# or <cluster>/namespaces/<namespace>/<Kind>/<name>. Stable across runs, so alerts keep their identity.
URI_BASE_ID = "KUBECOMPASS_CLUSTERS"
URI_BASE_DESCRIPTION = ("Kubernetes objects of the assessed clusters: <cluster>, <cluster>/<Kind>/<name> for a "
                        "cluster-scoped object, <cluster>/namespaces/<namespace>/<Kind>/<name> for a namespaced one.")
# No line in a cluster object: the whole object is line 1 (what peers such as trivy do).
REGION = {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 2}
_URI_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]")


def _text(value, limit=TEXT_LIMIT):
    """A non-empty single text within limit characters (GitHub rejects empty required strings)."""
    text = " ".join((u"%s" % (value,)).split()) or "-"
    return text if len(text) <= limit else text[:limit - 1] + u"\u2026"


def _segment(value):
    return _URI_UNSAFE.sub(lambda m: "".join("%%%02X" % b for b in m.group().encode("utf-8")), u"%s" % (value,))


def object_uri(cluster, entry=None):
    """The stable relative URI of a cluster or of one of its objects."""
    parts = [cluster]
    if entry is not None:
        if entry.get("namespace"):
            parts += ["namespaces", entry["namespace"]]
        parts += [entry.get("kind") or "object", entry["name"]]
    return "/".join(_segment(p) for p in parts)


def fingerprint(cluster, check_id, entry=None):
    """Code scanning keys alerts on primaryLocationLineHash; hashing identity (never messages) keeps it stable."""
    identity = "\x00".join([cluster, check_id] + ([] if entry is None else [
        entry.get("kind") or "", entry.get("namespace") or "", entry["name"]]))
    return "%s:1" % hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def _rule_name(title):
    """A rule's identifier-like name: the title in UpperCamelCase."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title))


def _rule_help(entry):
    runbook = entry.get("runbook") or entry["title"]
    remediation = entry.get("remediation") or {}
    controls = ["%s %s (%s)" % (c["framework"], c["id"], c["basis"]) for c in entry.get("controls") or []]
    text = [runbook, "Severity: %s, area: %s." % (entry["severity"], entry["area"])]
    markdown = ["**%s** (%s, %s severity)" % (entry["title"], entry["area"], entry["severity"]), "", runbook]
    if remediation.get("role"):
        fix = "Remediation: role kubecompass.readiness.%s, tag %s." % (remediation["role"], remediation.get("tag"))
        text.append(fix)
        markdown += ["", "Remediation: role `kubecompass.readiness.%s`, tag `%s`."
                     % (remediation["role"], remediation.get("tag"))]
    if controls:
        text.append("Controls: %s." % ", ".join(controls))
        markdown += ["", "Controls: %s." % ", ".join(controls)]
    return {"text": "\n".join(text), "markdown": "\n".join(markdown)}


def _sarif_rule(entry):
    controls = [{"framework": c["framework"], "id": c["id"], "basis": c["basis"]} for c in entry.get("controls") or []]
    tags = ["kubernetes", entry["area"], entry["item"], entry["severity"]]
    if entry["area"] == "security":
        tags.insert(0, "security")
    properties = {
        "area": entry["area"],
        "severity": entry["severity"],
        "item": entry["item"],
        "required_for": list(entry.get("required_for") or []),
        "controls": controls,
        "tags": list(dict.fromkeys(tags))[:TAG_LIMIT],
        "precision": "high",
        "problem.severity": PROBLEM_SEVERITY[entry["severity"]],
    }
    if entry["severity"] in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[entry["severity"]]
    if entry.get("remediation"):
        properties["remediation"] = entry["remediation"]
    return {
        "id": entry["id"],
        "name": _rule_name(entry["title"])[:GITHUB_LIMITS["rule_name"]],
        "shortDescription": {"text": _text(entry["title"])},
        "fullDescription": {"text": _text(entry.get("runbook") or entry["title"])},
        "help": _rule_help(entry),
        "helpUri": "%s/blob/main/docs/catalog.md" % TOOL_URI,
        "defaultConfiguration": {"level": SARIF_LEVEL[entry["severity"]]},
        "properties": properties,
    }


def _location(cluster, entry=None):
    location = {"physicalLocation": {"artifactLocation": {"uri": object_uri(cluster, entry), "uriBaseId": URI_BASE_ID},
                                     "region": dict(REGION)}}
    if entry is None:
        location["logicalLocations"] = [{"name": cluster, "fullyQualifiedName": cluster, "kind": "resource"}]
    else:
        path = [cluster] + ([entry["namespace"]] if entry.get("namespace") else []) + [entry.get("kind"), entry["name"]]
        location["logicalLocations"] = [{"name": entry["name"], "fullyQualifiedName": "/".join(str(p) for p in path),
                                         "kind": "resource"}]
    return location


def _result(cluster, finding, verdict, rule_index, entry=None, message=None):
    kind = SARIF_KIND[verdict]
    result = {
        "ruleId": finding["check_id"],
        "kind": kind,
        "level": SARIF_LEVEL[finding["severity"]] if kind == "fail" else "none",
        "message": {"text": _text(message or finding["message"])},
        "locations": [_location(cluster, entry)],
        "partialFingerprints": {"primaryLocationLineHash": fingerprint(cluster, finding["check_id"], entry)},
        # Area and severity are the rule's; a result carries only what is its own.
        "properties": {"cluster": cluster, "verdict": verdict},
    }
    if finding.get("tier_rule"):
        result["properties"]["tier_rule"] = finding["tier_rule"]
    if finding["check_id"] in rule_index:
        result["ruleIndex"] = rule_index[finding["check_id"]]
    if entry is None and finding.get("waivers"):
        # Some objects are waived, others still fail: the result stands, the waivers are recorded.
        result["properties"]["waivers"] = finding["waivers"]
    return result


def _object_message(cluster, finding, entry):
    # GitHub shows the first sentence as the alert title: the object and why, then the check.
    reason = _text(entry.get("reason"), 300).rstrip(".")
    return "%s in cluster %s: %s. %s." % (object_label(entry), cluster, reason, finding["title"])


def _finding_results(cluster, finding, rule_index):
    """The results of one fail/unknown finding: one per failing or undecided object, else one for the cluster."""
    verdict = finding["verdict"]
    objects = [o for o in finding.get("objects") or [] if o.get("verdict") in SARIF_KIND]
    if not objects:
        return [_result(cluster, finding, verdict, rule_index,
                        message="%s in cluster %s: %s" % (finding["title"], cluster, finding["message"]))]
    return [_result(cluster, finding, o["verdict"], rule_index, o, _object_message(cluster, finding, o))
            for o in objects]


def _summary_result(cluster, finding, results, rule_index):
    """One result standing for all the objects of a finding, when there are too many to list one by one."""
    names = [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results]
    shown = ", ".join(names[:SUMMARY_OBJECT_LIMIT]) + (", ..." if len(names) > SUMMARY_OBJECT_LIMIT else "")
    message = "%s in cluster %s: %d objects (%s). %s. The JSON report lists every object." % (
        finding["title"], cluster, len(names), shown, finding["message"])
    result = _result(cluster, finding, finding["verdict"], rule_index, message=message)
    result["properties"]["objects"] = len(names)
    return result


def _priority(finding):
    """Worst first, as GitHub keeps the first results by severity: by severity, failing before undecided."""
    return (SEVERITIES.index(finding["severity"]), 0 if finding["verdict"] == "fail" else 1, finding["check_id"])


def _capped_results(groups, rule_index, limit):
    """Fold the largest findings into one summary result each until the run fits limit, then drop the least
    severe; returns (results, {"folded": findings folded, "dropped": results dropped})."""
    groups = sorted(groups, key=lambda g: (_priority(g[1]), g[0]))
    total = sum(len(g[2]) for g in groups)
    folded = 0
    for index in sorted(range(len(groups)), key=lambda i: -len(groups[i][2])):
        if total <= limit:
            break
        cluster, finding, results = groups[index]
        if len(results) > 1:
            groups[index] = (cluster, finding, [_summary_result(cluster, finding, results, rule_index)])
            total -= len(results) - 1
            folded += 1
    flat = [r for g in groups for r in g[2]]
    return flat[:limit], {"folded": folded, "dropped": max(0, len(flat) - limit)}


def _notification(level, text, descriptor, cluster=None):
    notification = {"level": level, "message": {"text": _text(text)}, "descriptor": {"id": descriptor}}
    if cluster:
        notification["locations"] = [{"logicalLocations": [{"name": cluster, "fullyQualifiedName": cluster,
                                                            "kind": "resource"}]}]
    return notification


def _notifications(run):
    notifications = []
    for cluster in run["clusters"]:
        name = cluster["cluster"]
        if cluster["status"] != "assessed":
            notifications.append(_notification("error", "cluster %s not assessed (%s): %s"
                                               % (name, cluster["status"], cluster["error"]),
                                               "cluster-%s" % cluster["status"], name))
        for source in cluster["gather"]["unreadable"]:
            notifications.append(_notification("warning", "could not read %s: %s"
                                               % (source.get("source"), source.get("cause")), "unreadable", name))
        for waiver in cluster["expired_waivers"]:
            notifications.append(_notification("warning", "expired waiver for %s (%s) no longer applies: %s"
                                               % (waiver["check"], waiver_scope(waiver), waiver_text(waiver)),
                                               "waiver-expired", name))
    return notifications


def _document(run, rules, results, notifications, omitted):
    invocation = {
        "executionSuccessful": all(c["status"] == "assessed" for c in run["clusters"]),
        "toolExecutionNotifications": notifications,
        "properties": {"gate": run["gate"]},
    }
    if run.get("started"):
        invocation["startTimeUtc"] = run["started"]
    if run.get("finished"):
        invocation["endTimeUtc"] = run["finished"]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": TOOL_VERSION, "semanticVersion": TOOL_VERSION,
                                "informationUri": TOOL_URI, "rules": rules}},
            "originalUriBaseIds": {URI_BASE_ID: {"description": {"text": URI_BASE_DESCRIPTION}}},
            "invocations": [invocation],
            "results": results,
            "properties": {"fail_on": run["fail_on"], "summary": run["summary"], "left_out": omitted},
        }],
    }


def _dumps(document):
    # Compact: the file is read by code scanning and SARIF viewers, and indenting thousands of results doubles it.
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=json_default) + "\n"


def render_sarif(run, limit=RESULT_LIMIT, gzip_budget=GZIP_BUDGET):
    """One SARIF run: rules from the catalog, a located result per failing or undecided object (worst first, at most
    limit, folded and summarised beyond), unassessed clusters and unreadable kinds as notifications."""
    rules = [_sarif_rule(entry) for entry in run["catalog"]]
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    groups = []
    omitted = {"pass": 0, "not_applicable": 0, "waived": 0}
    for cluster in run["clusters"]:
        for finding in cluster["findings"]:
            if finding["verdict"] in SARIF_KIND:
                groups.append((cluster["cluster"], finding, _finding_results(cluster["cluster"], finding, rule_index)))
            else:
                omitted[finding["verdict"]] += 1
    notifications = _notifications(run)
    while True:
        results, cut = _capped_results(list(groups), rule_index, limit)
        extra = []
        if cut["folded"] or cut["dropped"]:
            extra.append(_notification(
                "warning", "%d finding(s) folded into one result each and %d result(s) left out to stay within "
                "GitHub code scanning's limits (%d results shown per run, %d MB compressed); the JSON report has "
                "every object." % (cut["folded"], cut["dropped"], RESULT_LIMIT, GITHUB_LIMITS["gzip_bytes"] // 10 ** 6),
                "results-capped"))
        text = _dumps(_document(run, rules, results, notifications + extra, dict(omitted, **cut)))
        if limit <= 1 or len(gzip.compress(text.encode("utf-8"))) <= gzip_budget:
            return text
        limit //= 2
