"""Audit policy semantics for Secrets and the audit log's last event."""

from __future__ import annotations

import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.audit import (
    last_event_time,
    read_audit_log,
    read_audit_policy,
    summarize_audit_policy,
)
from tests.unit.plugins.module_utils._node.test_gather import AUDIT_EVENTS, audit_log_bytes, write


# -- audit policy first-match semantics -----------------------------------------------------------------------------
def policy(*rules, **extra):
    document = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": list(rules)}
    document.update(extra)
    return summarize_audit_policy(document)


def test_secrets_rule_at_metadata_before_catch_all_request_response():
    summary = policy({"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
                     {"level": "RequestResponse"})
    assert summary["secrets_level"] == "Metadata"
    assert summary["catch_all_level"] == "RequestResponse"
    assert summary["valid"] is True and summary["error"] is None


def test_catch_all_before_the_secrets_rule_wins():
    summary = policy({"level": "RequestResponse"},
                     {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]})
    assert summary["secrets_level"] == "RequestResponse"


def test_a_rule_for_some_verbs_only_lets_other_verbs_fall_through():
    summary = policy({"level": "None", "verbs": ["get", "list", "watch"],
                      "resources": [{"group": "", "resources": ["secrets"]}]},
                     {"level": "RequestResponse"})
    assert summary["secrets_level"] == "RequestResponse"  # create/update/patch still log the secret's data


def test_rules_that_cannot_match_core_secrets_are_skipped():
    summary = policy({"level": "RequestResponse", "resources": [{"group": "apps", "resources": ["secrets"]}]},
                     {"level": "RequestResponse", "nonResourceURLs": ["/api*"]},
                     {"level": "RequestResponse", "verbs": ["impersonate"]},
                     {"level": "RequestResponse", "namespaces": [""]},
                     {"level": "RequestResponse", "resources": [{"group": "", "resources": ["pods/exec"]}]},
                     {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets/*"]}]},
                     {"level": "Request"})
    assert summary["secrets_level"] == "Metadata"
    assert summary["catch_all_level"] == "Request"


def test_user_and_namespace_rules_only_cover_some_secrets_requests():
    summary = policy({"level": "None", "users": ["system:apiserver"]},
                     {"level": "Request", "namespaces": ["kube-system"],
                      "resources": [{"group": "", "resources": ["*"]}]},
                     {"level": "Metadata", "resources": [{"group": ""}]},
                     {"level": "RequestResponse"})
    assert summary["secrets_level"] == "Request"


def test_named_secrets_rule_is_conditional():
    summary = policy({"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"],
                                                          "resourceNames": ["one"]}]},
                     {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]})
    assert summary["secrets_level"] == "Metadata"


def test_requests_no_rule_matches_are_not_logged():
    summary = policy({"level": "RequestResponse", "resources": [{"group": "", "resources": ["pods"]}]})
    assert summary["secrets_level"] == "None"
    assert summary["catch_all_level"] is None


def test_first_catch_all_is_the_effective_one():
    summary = policy({"level": "None"}, {"level": "Metadata"})
    assert summary["catch_all_level"] == "None" and summary["secrets_level"] == "None"
    assert summary["levels"] == ["None", "Metadata"]


@pytest.mark.parametrize("document, error", [
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": []},
     "the policy has no rules, which the apiserver rejects"),
    ({"apiVersion": "audit.k8s.io/v1beta1", "kind": "Policy", "rules": [{"level": "Metadata"}]},
     "apiVersion is audit.k8s.io/v1beta1, the apiserver reads audit.k8s.io/v1"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Everything"}]},
     "rules[0].level Everything is not one of None, Metadata, Request, RequestResponse"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["Done"], "rules": [{"level": "None"}]},
     "omitStages has unknown stages Done"),
])
def test_invalid_policies(document, error):
    summary = summarize_audit_policy(document)
    assert summary["valid"] is False and summary["error"] == error


def test_missing_policy_file_is_a_fact(tmp_path):
    assert read_audit_policy(str(tmp_path), "/etc/none.yaml") == {
        "path": "/etc/none.yaml", "exists": False, "valid": False, "error": None, "rule_count": 0, "levels": [],
        "catch_all_level": None, "omit_stages": [], "secrets_level": None}


# -- audit log tail -------------------------------------------------------------------------------------------------

def test_last_complete_event_only(tmp_path):
    partial = b'{"kind":"Event","stageTimestamp":"2026-11-22T03:00:00.000000Z"'  # still being written
    write(tmp_path, "/log/audit.log", audit_log_bytes(AUDIT_EVENTS, partial))
    summary = read_audit_log(str(tmp_path), "/log/audit.log")
    assert summary["last_event_time"] == "2026-11-22T02:59:59.300000Z"
    assert summary["size"] == len(audit_log_bytes(AUDIT_EVENTS, partial)) and summary["error"] is None


def test_tail_window_skips_the_cut_first_line(tmp_path):
    events = [dict(AUDIT_EVENTS[0], stageTimestamp="2026-11-22T02:00:%02d.000000Z" % i) for i in range(50)]
    write(tmp_path, "/log/audit.log", audit_log_bytes(events))
    line = len(audit_log_bytes(events[:1]))
    summary = read_audit_log(str(tmp_path), "/log/audit.log", tail_bytes=line + 10)
    assert summary["last_event_time"] == "2026-11-22T02:00:49.000000Z"
    # A window holding only part of the last line finds no complete event and says so.
    summary = read_audit_log(str(tmp_path), "/log/audit.log", tail_bytes=line - 5)
    assert summary["last_event_time"] is None
    assert summary["error"] == "no complete JSON audit event in the last %d bytes" % (line - 5)


def test_request_received_timestamp_when_stage_timestamp_is_absent():
    data = json.dumps({"requestReceivedTimestamp": "2026-11-22T01:00:00Z"}).encode() + b"\nnot json\n"
    assert last_event_time(data, True) == "2026-11-22T01:00:00Z"


def test_empty_missing_and_stdout_logs(tmp_path):
    write(tmp_path, "/log/empty.log", b"")
    empty = read_audit_log(str(tmp_path), "/log/empty.log")
    assert empty["exists"] is True and empty["size"] == 0 and empty["last_event_time"] is None
    assert empty["error"] is None
    assert read_audit_log(str(tmp_path), "/log/none.log")["exists"] is False
    assert read_audit_log(str(tmp_path), "-")["error"].startswith("audit-log-path is '-'")
