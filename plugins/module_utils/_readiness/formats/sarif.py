# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""SARIF 2.1.0 for code scanning. Pure, no I/O."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

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

SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SARIF_KIND = {"pass": "pass", "fail": "fail", "waived": "fail", "unknown": "review", "not_applicable": "notApplicable"}
# GitHub code scanning ranks security results by this property (CVSS-like, 0.0-10.0).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}


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
        "message": {"text": "%s: %s" % (object_label(entry), entry.get("reason"))},
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
                            "scope": waiver_scope(w)}}
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
                                               % (waiver["check"], waiver_scope(waiver), waiver_text(waiver)),
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
    return json.dumps(sarif, indent=2, sort_keys=True, ensure_ascii=False, default=json_default) + "\n"
