"""The gate fails closed: every cause fails it and is named in one line; nothing is passed for want of a result."""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import gating, report
from tests.unit.plugins.module_utils._readiness import report_fixtures as fx


def records(results):
    return [report._cluster_record(i, r) for i, r in enumerate(results)]


def decide(results, **options):
    return gating.decide(records(results), options.pop("fail_on", "high"), **options)


def only(*names):
    return [r for r in fx.results() if r["cluster"] in names]


def test_zero_clusters_assessed_fails_with_its_own_message():
    gate = decide([])
    assert gate["failed"] is True and gate["assessed"] == 0
    assert gate["message"] == "Gate (fail on high): FAILED - no cluster was assessed."


def test_only_unreachable_clusters_fail_even_when_unreachable_is_not_gated():
    gate = decide(only("payments"), fail_on_unreachable=False)
    assert gate["failed"] is True
    assert gate["message"] == (
        "Gate (fail on high): FAILED - 1 cluster(s) unreachable, not gated (kubecompass_fail_on_unreachable is "
        "false): payments (payments: cannot reach https://198.51.100.7:443: connection refused); "
        "no cluster was assessed.")


def test_an_unreachable_cluster_fails_the_gate_unless_told_otherwise():
    clean = [dict(r, findings=[f for f in r["findings"] if f["verdict"] in ("pass", "not_applicable")], summary=None)
             for r in only("staging")]
    assert decide(clean)["failed"] is False
    assert decide(clean + only("payments"))["failed"] is True
    lenient = decide(clean + only("payments"), fail_on_unreachable=False)
    assert lenient["failed"] is False and lenient["unreachable"] == ["payments"]
    assert "PASSED" in lenient["message"] and "payments" in lenient["message"]
    # An input error is never excused: it is the run's own mistake, not the cluster's state.
    assert decide(clean + only("legacy"), fail_on_unreachable=False)["failed"] is True


def test_a_cluster_without_a_result_fails_the_gate_naming_it():
    clean = [dict(r, findings=[], summary=None) for r in only("staging")]
    gate = decide(clean + [{"cluster": "eu-3", "status": "missing", "error": "in none of the merged reports"}],
                  fail_on_unreachable=False)
    assert gate["failed"] is True
    assert "1 cluster(s) no result: eu-3 (in none of the merged reports)" in gate["message"]


def test_the_message_names_every_cause_and_never_an_empty_list():
    gate = decide(fx.results())
    text = gate["message"]
    assert text.startswith("Gate (fail on high): FAILED - 2 finding(s) at or above high failed: "
                           "KC-AVL-901 on prod-eu-1; KC-SEC-901 on staging; ")
    assert ("1 finding(s) at or above high could not be decided: KC-SEC-902 on prod-eu-1 (could not read "
            "networkpolicies") in text
    assert "1 cluster(s) unreachable: payments (payments: cannot reach" in text
    assert "1 cluster(s) stopped on an input error: legacy (kubecompass_tier 'gold' is not one of" in text
    assert "()" not in text and "( " not in text and "\n" not in text


def test_a_gate_failing_only_on_unknown_says_so():
    prod = only("prod-eu-1")
    prod[0]["findings"] = [f for f in prod[0]["findings"] if f["verdict"] != "fail"]
    prod[0]["summary"] = None
    gate = decide(prod)
    assert gate["failed"] is True and gate["failing"] == []
    assert re.match(r"Gate \(fail on high\): FAILED - 1 finding\(s\) at or above high could not be decided: "
                    r"KC-SEC-902 on prod-eu-1 \(could not read networkpolicies", gate["message"])
    assert "not gated" in decide(prod, fail_on_unknown=False)["message"]


def test_a_fleet_message_grows_with_checks_not_clusters():
    fleet = []
    for index in range(100):
        for result in only("prod-eu-1", "payments"):
            fleet.append(dict(result, cluster="%s-%03d" % (result["cluster"], index)))
    gate = decide(fleet)
    assert "KC-AVL-901 on 100 clusters" in gate["message"]
    assert "and 90 more" not in gate["message"]  # unreachable names: the first ten with causes, then names only
    assert "payments-010" in gate["message"] and len(gate["message"]) < 8000
    compact = gating.compact(gate)
    assert compact["failing"] == ["KC-AVL-901"] and compact["counts"]["failing"] == 100
    assert len(json.dumps(compact)) < 16 * 1024


@pytest.mark.parametrize("value, expected", [(True, True), ("yes", True), ("False", False), (0, False)])
def test_boolean_options_read_as_ansible_does(value, expected):
    assert gating.bool_option("kubecompass_fail_on_unknown", value) is expected


@pytest.mark.parametrize("value", ["maybe", [], {"a": 1}, None, 2])
def test_a_malformed_boolean_names_the_variable(value):
    with pytest.raises(KubeCompassError, match=r"^kubecompass_fail_on_unreachable must be true or false, not "):
        gating.bool_option("kubecompass_fail_on_unreachable", value)


@pytest.mark.parametrize("value", ["severe", "", None, ["high"], "HIGH"])
def test_a_malformed_threshold_names_the_variable(value):
    with pytest.raises(KubeCompassError, match=r"^kubecompass_fail_on .* is not one of critical, high, medium, "):
        gating.severity_option("kubecompass_fail_on", value)
