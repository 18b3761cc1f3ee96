# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Audit semantics on a node: what an audit policy records for Secrets, and the audit log's last event."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    is_missing,
    on_host,
    read_document,
    rfc3339,
)

# Audit levels from least to most detailed (audit.k8s.io/v1 Level).
AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")
AUDIT_STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
# Every verb a request on core/v1 Secrets can carry.
SECRET_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


# -- audit policy --------------------------------------------------------------------------------------------------

def _resource_names_match_secrets(names):
    # k8s.io/apiserver pkg/audit/policy/checker.go ruleMatchesResource for resource "secrets", no subresource:
    # "secrets", "*" and "secrets/*" match ("*/sub" needs a subresource, which secrets do not have).
    return any(name in ("secrets", "*", "secrets/*") for name in names)


def secrets_match(rule):
    """How a policy rule matches requests on core/v1 Secrets: "all", "some" (only some users, verbs,
    namespaces or names) or "none" (checker.go ruleMatches semantics)."""
    conditional = bool(rule.get("users") or rule.get("userGroups"))
    verbs = rule.get("verbs") or []
    if verbs:
        if not set(verbs) & set(SECRET_VERBS):
            return "none"
        conditional = conditional or not set(SECRET_VERBS) <= set(verbs)
    namespaces = rule.get("namespaces") or []
    resources = rule.get("resources") or []
    if namespaces or resources:
        if namespaces:
            if all(ns == "" for ns in namespaces):  # "" selects cluster-scoped objects only
                return "none"
            conditional = True
        if resources:
            best = "none"
            for group_resources in resources:
                if not isinstance(group_resources, dict) or (group_resources.get("group") or "") != "":
                    continue
                names = group_resources.get("resources") or []
                if not names:
                    return "some" if conditional else "all"
                if _resource_names_match_secrets(names):
                    best = "some" if group_resources.get("resourceNames") else "all"
                    if best == "all":
                        break
            if best == "none":
                return "none"
            conditional = conditional or best == "some"
        return "some" if conditional else "all"
    if rule.get("nonResourceURLs"):
        return "none"
    return "some" if conditional else "all"


def audit_level_for_secrets(rules):
    """The most detailed level any request on core Secrets gets: the first rule that matches a request decides
    its level, so every rule that can match some Secrets request counts, up to the first that matches them all;
    requests no rule matches get None."""
    reachable = []
    for rule in rules:
        match = secrets_match(rule)
        if match == "none":
            continue
        reachable.append(rule.get("level"))
        if match == "all":
            break
    else:
        reachable.append("None")
    known = [level for level in reachable if level in AUDIT_LEVELS]
    return max(known, key=AUDIT_LEVELS.index) if known else None


def _matches_everything(rule):
    return not any(rule.get(field) for field in (
        "users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs"))


def summarize_audit_policy(document):
    """Summary of an audit.k8s.io/v1 Policy: rule count, levels used, the catch-all level (the level of the first
    rule matching every request: later rules never see a request, so it is the effective one; None when there is
    no catch-all), policy-wide omitStages, the level Secrets get (audit_level_for_secrets), valid and error."""
    summary = {"valid": False, "error": None, "rule_count": 0, "levels": [], "catch_all_level": None,
               "omit_stages": [], "secrets_level": None}
    if not isinstance(document, dict):
        summary["error"] = "not an audit Policy object"
        return summary
    problems = []
    if document.get("apiVersion") != "audit.k8s.io/v1":
        problems.append("apiVersion is %s, the apiserver reads audit.k8s.io/v1" % document.get("apiVersion"))
    if document.get("kind") != "Policy":
        problems.append("kind is %s, expected Policy" % document.get("kind"))
    rules = document.get("rules")
    if not isinstance(rules, list):
        rules = []
    if not rules:
        problems.append("the policy has no rules, which the apiserver rejects")
    valid_rules = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            problems.append("rules[%d] is not a mapping" % index)
            continue
        if rule.get("level") not in AUDIT_LEVELS:
            problems.append("rules[%d].level %s is not one of %s" % (index, rule.get("level"), ", ".join(AUDIT_LEVELS)))
        bad_stages = [s for s in rule.get("omitStages") or [] if s not in AUDIT_STAGES]
        if bad_stages:
            problems.append("rules[%d].omitStages has unknown stages %s" % (index, ", ".join(map(str, bad_stages))))
        valid_rules.append(rule)
    omit_stages = document.get("omitStages") or []
    if not isinstance(omit_stages, list):
        problems.append("omitStages is not a list")
        omit_stages = []
    bad_stages = [s for s in omit_stages if s not in AUDIT_STAGES]
    if bad_stages:
        problems.append("omitStages has unknown stages %s" % ", ".join(map(str, bad_stages)))
    used = {rule.get("level") for rule in valid_rules}
    catch_all = next((rule for rule in valid_rules if _matches_everything(rule)), None)
    summary.update({
        "valid": not problems,
        "error": "; ".join(problems) or None,
        "rule_count": len(rules),
        "levels": [level for level in AUDIT_LEVELS if level in used],
        "catch_all_level": catch_all.get("level") if catch_all is not None else None,
        "omit_stages": [str(s) for s in omit_stages],
        "secrets_level": audit_level_for_secrets(valid_rules),
    })
    return summary


def read_audit_policy(root, path):
    """Audit policy facts for the file at ``path`` (as on the node); exists false when there is no such file.
    Raises OSError when it cannot be read and DocumentError when it does not parse."""
    exists, document = read_document(root, path)
    summary = {"path": path, "exists": exists}
    summary.update(summarize_audit_policy(document))
    if not exists:
        summary["error"] = None
    return summary


# -- audit log -----------------------------------------------------------------------------------------------------

def last_event_time(data, at_line_start):
    """Timestamp of the last complete JSON audit event in ``data`` (stageTimestamp, else
    requestReceivedTimestamp), or None. The text after the last newline may still be being written and a
    window that does not start at a line start begins with a cut line: neither is read."""
    lines = data.split(b"\n")[:-1]
    if not at_line_start:
        lines = lines[1:]
    for line in reversed(lines):
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except ValueError:
            continue
        if isinstance(event, dict):
            timestamp = event.get("stageTimestamp") or event.get("requestReceivedTimestamp")
            if timestamp:
                return str(timestamp)
    return None


def read_audit_log(root, path, tail_bytes=65536):
    """Audit log facts: existence, size, mtime and the time of the last event, reading only the file's tail."""
    summary = {"path": path, "exists": False, "size": None, "mtime": None, "last_event_time": None, "error": None}
    if path == "-":
        summary["error"] = "audit-log-path is '-' (standard output): there is no log file on the node to inspect"
        return summary
    try:
        with open(on_host(root, path), "rb") as handle:
            st = os.fstat(handle.fileno())
            start = max(0, st.st_size - max(1, int(tail_bytes)))
            at_line_start = start == 0
            if start:
                handle.seek(start - 1)
                at_line_start = handle.read(1) == b"\n"
            data = handle.read(st.st_size - start)
    except OSError as exc:
        if is_missing(exc):
            return summary
        raise
    summary.update({"exists": True, "size": st.st_size, "mtime": rfc3339(st.st_mtime),
                    "last_event_time": last_event_time(data, at_line_start)})
    if data.strip() and summary["last_event_time"] is None:
        summary["error"] = "no complete JSON audit event in the last %d bytes" % len(data)
    return summary
