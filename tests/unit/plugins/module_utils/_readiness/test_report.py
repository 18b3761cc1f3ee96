"""Reports: the run and its gate, and every format checked by a consumer (JSON Schema, junitparser, SARIF schema)."""

from __future__ import annotations

import copy
import datetime
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from junitparser import Error, Failure, JUnitXml, Skipped

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import (
    catalog,
    engine,
    gather,
    report,
    tiers,
)
from tests.unit.plugins.module_utils._readiness import report_fixtures as fx

REPO = Path(__file__).resolve().parents[5]
REPORT_SCHEMA = json.loads((REPO / "docs" / "report-schema.json").read_text())
SARIF_SCHEMA = json.loads((REPO / "tests" / "unit" / "fixtures" / "sarif-schema-2.1.0.json").read_text())

# jsonschema checks date-time only with an optional package installed; check RFC 3339 here so the format is tested.
FORMATS = jsonschema.FormatChecker()
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value):
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def report_errors(document):
    validator = jsonschema.Draft202012Validator(REPORT_SCHEMA, format_checker=FORMATS)
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(document)]


def sarif_errors(document):
    validator = jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=FORMATS)
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def run():
    return fx.run()


def cluster_of(run, name):
    return next(c for c in run["clusters"] if c["cluster"] == name)


def finding_of(cluster, check_id):
    return next(f for f in cluster["findings"] if f["check_id"] == check_id)


# -- the run and the gate ------------------------------------------------------------------------------------------


def test_fixture_covers_every_verdict_and_status(run):
    verdicts = {(c["cluster"], f["check_id"]): f["verdict"] for c in run["clusters"] for f in c["findings"]}
    assert verdicts[("prod-eu-1", "KC-AVL-901")] == "fail"
    assert verdicts[("prod-eu-1", "KC-SEC-901")] == "waived"
    assert verdicts[("prod-eu-1", "KC-SEC-902")] == "unknown"
    assert verdicts[("prod-eu-1", "KC-OPS-004")] == "pass"
    assert verdicts[("staging", "KC-DR-901")] == "not_applicable"
    assert [c["status"] for c in run["clusters"]] == ["assessed", "assessed", "unreachable", "error"]
    ledger = next(o for o in finding_of(cluster_of(run, "prod-eu-1"), "KC-AVL-901")["objects"]
                  if o["name"] == "ledger")
    assert ledger["verdict"] == "waived" and ledger["waiver"]["owner"] == "payments-team"


def test_gate_counts_failures_at_or_above_threshold_and_every_unassessed_cluster(run):
    gate = run["gate"]
    assert gate["failed"] is True and gate["fail_on"] == "high"
    # The waived critical finding does not fail the gate; medium and low are below it; the unknown high
    # finding is listed apart (it fails the gate unless fail_on_unknown is false).
    assert gate["failing"] == [{"cluster": "prod-eu-1", "check_id": "KC-AVL-901", "severity": "high"},
                               {"cluster": "staging", "check_id": "KC-SEC-901", "severity": "critical"}]
    assert gate["unknown"] == [{"cluster": "prod-eu-1", "check_id": "KC-SEC-902", "severity": "high",
                                "reason": finding_of(cluster_of(run, "prod-eu-1"), "KC-SEC-902")["message"]}]
    assert gate["unreachable"] == ["payments", "legacy"]
    not_assessed = [(c["cluster"], c["status"]) for c in gate["not_assessed"]]
    assert not_assessed == [("payments", "unreachable"), ("legacy", "error")]


def test_unknown_at_the_threshold_fails_the_gate_unless_told_otherwise():
    prod = fx.results()[:1]
    strict = fx.run(prod, fail_on="high")["gate"]
    assert strict["failed"] is True and [(u["cluster"], u["check_id"]) for u in strict["unknown"]] == [
        ("prod-eu-1", "KC-SEC-902")]
    without_failures = [dict(prod[0], findings=[f for f in prod[0]["findings"] if f["verdict"] != "fail"])]
    assert fx.run(without_failures, fail_on="high")["gate"]["failed"] is True
    lenient = report.gate(without_failures, "high", fail_on_unknown=False)
    assert lenient["failed"] is False and lenient["unknown"] == strict["unknown"]


def test_gate_threshold_moves_with_fail_on():
    assessed = fx.results()[:2]
    low = fx.run(assessed, fail_on="low")["gate"]
    assert [(f["cluster"], f["check_id"]) for f in low["failing"]] == [
        ("prod-eu-1", "KC-AVL-901"), ("prod-eu-1", "KC-CMP-901"), ("prod-eu-1", "KC-DR-901"),
        ("staging", "KC-SEC-901")]
    only_prod = fx.run(assessed[:1], fail_on="critical")["gate"]
    assert only_prod == {"fail_on": "critical", "fail_on_unknown": True, "fail_on_unreachable": True,
                         "failed": False, "assessed": 1, "failing": [], "unknown": [], "unreachable": [],
                         "not_assessed": [],
                         "message": "Gate (fail on critical): PASSED - no finding at or above critical failed in "
                                    "1 cluster(s)."}


def test_unreachable_cluster_alone_fails_the_gate():
    gate = fx.run(fx.results()[2:3], fail_on="critical")["gate"]
    assert gate["failed"] is True and gate["failing"] == [] and gate["unreachable"] == ["payments"]


def test_aggregate_summary_sums_assessed_clusters(run):
    prod, staging = cluster_of(run, "prod-eu-1"), cluster_of(run, "staging")
    summary = run["summary"]
    for verdict, count in summary["by_verdict"].items():
        assert count == prod["summary"]["by_verdict"][verdict] + staging["summary"]["by_verdict"][verdict]
    assert summary["total"] == len(prod["findings"]) + len(staging["findings"]) == 14
    assert summary["clusters"] == {"assessed": 2, "unreachable": 1, "error": 1, "missing": 0}
    assert summary["score"] is not None and 0 < summary["score"] < 100


def test_cluster_records_keep_report_keys_only_and_normalise_the_rescue_record(run):
    prod = cluster_of(run, "prod-eu-1")
    assert "invocation" not in prod and "changed" not in prod
    assert prod["gather"]["kinds_listed"] == 5
    payments = cluster_of(run, "payments")
    assert payments["gather"] == {"api_requests": 1, "kinds_listed": 0,
                                  "timings": {"gather_seconds": 0.0, "evaluate_seconds": 0.0}, "unreadable": []}
    assert payments["summary"] is None and payments["findings"] == []


def test_summary_is_computed_when_an_assessed_result_lacks_one():
    prod = fx.results()[0]
    expected = prod.pop("summary")
    assert fx.run([prod])["clusters"][0]["summary"] == expected


@pytest.mark.parametrize("mutate, message", [
    (lambda rs: rs.append(dict(rs[0])), "reported twice: prod-eu-1"),
    (lambda rs: rs[2].update(status="down"),
     "results[2] (cluster payments): status 'down' is not one of assessed, unreachable, error"),
    (lambda rs: rs[1].pop("status"), "results[1] (cluster staging): status None is not one of"),
    (lambda rs: rs[0].pop("cluster"), "results[0] needs a cluster name"),
])
def test_malformed_results_are_rejected_with_the_cause(mutate, message):
    results = fx.results()
    mutate(results)
    with pytest.raises(KubeCompassError, match=re.escape(message)):
        fx.run(results)


def test_unknown_fail_on_is_rejected():
    with pytest.raises(KubeCompassError, match="fail_on 'severe' is not one of"):
        fx.run(fail_on="severe")


def test_tool_version_is_the_collection_version():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert galaxy["version"] == report.TOOL_VERSION


# -- JSON ----------------------------------------------------------------------------------------------------------


def test_json_report_validates_against_the_documented_schema(run):
    document = json.loads(report.render_json(run))
    assert report_errors(document) == []
    assert document == run


def test_report_schema_documents_every_field():
    undocumented = []

    def walk(node, path):
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if "description" not in sub:
                    undocumented.append("%s.%s" % (path, name))
            for key, value in node.items():
                walk(value, "%s/%s" % (path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, "%s[%d]" % (path, index))

    walk(REPORT_SCHEMA, "")
    assert undocumented == []


@pytest.mark.parametrize("break_it", [
    lambda d: d["clusters"][0]["findings"][0].update(verdict="maybe"),
    lambda d: d.pop("gate"),
    lambda d: d["clusters"][0].update(summary=None),
    lambda d: d["clusters"][2].update(summary=d["clusters"][0]["summary"]),
    lambda d: d["clusters"][0]["findings"][0].update(extra=1),
    lambda d: d["clusters"][0]["expired_waivers"][0].update(expires="31/12/2026"),
    lambda d: d.update(started="2026-11-22 11:58"),
    lambda d: d["catalog"][0].update(id="KC-XYZ-1"),
])
def test_report_schema_rejects_malformed_reports(run, break_it):
    document = json.loads(report.render_json(run))
    break_it(document)
    assert report_errors(document)


def test_json_is_stable_and_sorted(run):
    text = report.render_json(run)
    assert text == report.render_json(copy.deepcopy(run))
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert text.startswith('{\n  "catalog": [') and text.endswith("}\n")


def test_json_renders_dates_in_evidence():
    clusters = fx.results()[:1]
    clusters[0]["findings"][0]["evidence"]["last_backup"] = datetime.date(2026, 11, 21)
    assert '"last_backup": "2026-11-21"' in report.render_json(fx.run(clusters))


def test_every_catalog_check_produces_findings_that_fit_both_schemas():
    """The schema is a contract for every real check, not only the crafted ones: run the whole catalog."""
    checks = catalog.all_checks()
    kinds = {kind: {"items": []} for kind in gather.KIND_SPECS}
    kinds["namespaces"] = {"items": [fx._namespace("kube-system"), fx._namespace("shop")]}
    kinds["deployments"] = {"items": [fx._deployment("shop", "web", 3)]}
    kinds["pods"] = {"error": {"category": "forbidden", "message": "pods is forbidden"}}
    snapshot = {"cluster": {"name": "lab", "distribution": "kubeadm", "tier": "critical",
                            "version": {"gitVersion": "v1.36.3"}}, "kinds": kinds, "nodes": None}
    findings = engine.evaluate(checks, snapshot, tiers.tier_table(), {}, (), fx.NOW)
    result = {"cluster": "lab", "status": "assessed", "distribution": "kubeadm", "tier": "critical",
              "findings": findings, "gather": {"api_requests": len(kinds)}}
    run = report.build_run([result], catalog.entries(checks), "high", fx.STARTED, fx.FINISHED)
    assert {f["verdict"] for f in findings} >= {"pass", "fail", "unknown"}
    assert report_errors(json.loads(report.render_json(run))) == []
    assert sarif_errors(json.loads(report.render_sarif(run))) == []
    assert len(list(parse_junit(run))[0]) == len(checks)


# -- JUnit ---------------------------------------------------------------------------------------------------------


def parse_junit(run):
    return JUnitXml.fromstring(report.render_junit(run).encode("utf-8"))


def test_junit_parses_with_one_suite_per_cluster_and_correct_counts(run):
    xml = parse_junit(run)
    suites = list(xml)
    assert [s.name for s in suites] == ["prod-eu-1", "staging", "payments", "legacy"]
    for suite in suites:
        cases = list(suite)
        results = [type(r) for case in cases for r in case.result]
        assert suite.tests == len(cases)
        assert suite.failures == results.count(Failure)
        assert suite.errors == results.count(Error)
        assert suite.skipped == results.count(Skipped)
        assert all(case.classname == suite.name for case in cases)
    prod = suites[0]
    by_verdict = cluster_of(run, "prod-eu-1")["summary"]["by_verdict"]
    # Failures the gate counts are red; the medium and low ones below it are skipped (test_report_formats_ci.py).
    counted = sum(1 for f in run["gate"]["failing"] if f["cluster"] == "prod-eu-1")
    assert (prod.tests, prod.failures, prod.errors, prod.skipped) == (
        len(fx.CHECKS), counted, by_verdict["unknown"],
        by_verdict["waived"] + by_verdict["not_applicable"] + by_verdict["fail"] - counted)
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (
        sum(s.tests for s in suites), sum(s.failures for s in suites), sum(s.errors for s in suites),
        sum(s.skipped for s in suites))


def test_junit_maps_each_verdict_to_its_element(run):
    cases = {case.name: case for case in list(parse_junit(run))[0]}
    pdb = cases["KC-AVL-901 PodDisruptionBudget for every multi-replica workload"]
    (failure,) = pdb.result
    assert isinstance(failure, Failure) and failure.type == "high"
    assert failure.message == finding_of(cluster_of(run, "prod-eu-1"), "KC-AVL-901")["message"]
    assert "failing objects (1):\n  Deployment shop/web: 3 replicas and no PodDisruptionBudget" in failure.text
    assert "waived objects (1):\n  Deployment payments-api/ledger" in failure.text
    assert "runbook: Workloads with several replicas" in failure.text
    (error,) = cases["KC-SEC-902 Default-deny NetworkPolicy in every application namespace"].result
    assert isinstance(error, Error) and "could not read networkpolicies" in error.message
    (waived,) = cases["KC-SEC-901 Anonymous authentication disabled"].result
    assert isinstance(waived, Skipped) and "owner platform-team, ticket SEC-42" in waived.message
    assert cases["KC-OPS-004 Control-plane version inside the upstream support window"].result == []
    staging = {case.name: case for case in list(parse_junit(run))[1]}
    (not_applicable,) = staging["KC-DR-901 Velero installed"].result
    assert isinstance(not_applicable, Skipped) and not_applicable.message.startswith("not applicable: not required")


def test_junit_unreachable_cluster_is_one_error(run):
    suites = list(parse_junit(run))
    (case,) = list(suites[2])
    assert case.name == "cluster reachable" and case.classname == "payments"
    (error,) = case.result
    assert isinstance(error, Error) and "connection refused" in error.message
    (case,) = list(suites[3])
    assert case.name == "cluster assessed" and "'gold'" in case.result[0].message


def test_junit_survives_control_characters_in_messages():
    clusters = fx.results()[:1]
    clusters[0]["findings"][0]["message"] = "bad \x00 byte \x1b[31m"
    xml = JUnitXml.fromstring(report.render_junit(fx.run(clusters)).encode("utf-8"))
    assert list(list(xml)[0])[0].result[0].message == "bad \ufffd byte \ufffd[31m"


# -- SARIF ---------------------------------------------------------------------------------------------------------


def test_sarif_validates_against_the_oasis_schema(run):
    document = json.loads(report.render_sarif(run))
    assert sarif_errors(document) == []
    assert document["version"] == "2.1.0" and len(document["runs"]) == 1


def test_the_vendored_sarif_schema_rejects_what_it_should(run):
    document = json.loads(report.render_sarif(run))
    document["runs"][0]["results"][0]["level"] = "fatal"
    document["runs"][0]["results"][1]["suppressions"] = [{"kind": "forgotten"}]
    assert len(sarif_errors(document)) >= 2


def test_sarif_rules_come_from_the_catalog(run):
    driver = json.loads(report.render_sarif(run))["runs"][0]["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == [c.id for c in fx.CHECKS]
    rule = driver["rules"][0]
    assert rule["name"] == "PodDisruptionBudgetForEveryMultiReplicaWorkload"
    assert rule["shortDescription"] == {"text": "PodDisruptionBudget for every multi-replica workload"}
    assert rule["help"]["text"].startswith(fx.CHECKS[0].runbook)
    assert rule["properties"]["area"] == "availability" and rule["properties"]["severity"] == "high"
    assert {"framework": "cis_kubernetes", "id": "1.2.1", "basis": "direct"} in driver["rules"][1]["properties"][
        "controls"]
    assert driver["rules"][1]["properties"]["security-severity"] == "9.5"


def test_sarif_results_map_verdicts_to_kinds_and_levels_without_suppressions(run):
    """Code scanning opens an alert for every result and ignores suppressions: only fail/unknown are results
    (test_report_sarif_github.py holds the rest of GitHub's rules)."""
    sarif = json.loads(report.render_sarif(run))["runs"][0]
    rules = sarif["tool"]["driver"]["rules"]
    results = {(r["properties"]["cluster"], r["ruleId"]): r for r in sarif["results"]}
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in sarif["results"])
    expected = {
        ("prod-eu-1", "KC-AVL-901"): ("fail", "error"),
        ("prod-eu-1", "KC-SEC-902"): ("review", "none"),
        ("prod-eu-1", "KC-DR-901"): ("fail", "warning"),
        ("prod-eu-1", "KC-CMP-901"): ("fail", "note"),
        ("staging", "KC-SEC-901"): ("fail", "error"),
    }
    assert {key: (r["kind"], r["level"]) for key, r in results.items()} == expected
    assert not any(r.get("suppressions") for r in sarif["results"])
    # The ledger Deployment is waived: the PDB result stands for web alone, and the waiver is in the JSON report.
    assert [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in sarif["results"]
            if r["ruleId"] == "KC-AVL-901"] == ["prod-eu-1/shop/Deployment/web"]


def test_sarif_invocation_reports_unassessed_clusters_and_expired_waivers(run):
    invocation = json.loads(report.render_sarif(run))["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["startTimeUtc"] == fx.STARTED and invocation["endTimeUtc"] == fx.FINISHED
    notes = [(n["level"], n["descriptor"]["id"], n["locations"][0]["logicalLocations"][0]["name"])
             for n in invocation["toolExecutionNotifications"]]
    assert notes == [("warning", "unreadable", "prod-eu-1"), ("warning", "waiver-expired", "prod-eu-1"),
                     ("error", "cluster-unreachable", "payments"), ("error", "cluster-error", "legacy")]
    all_assessed = json.loads(report.render_sarif(fx.run(fx.results()[:2])))
    assert all_assessed["runs"][0]["invocations"][0]["executionSuccessful"] is True
    assert sarif_errors(all_assessed) == []


# -- Markdown ------------------------------------------------------------------------------------------------------


def test_markdown_reads_as_a_summary(run):
    text = report.render_markdown(run)
    prod = cluster_of(run, "prod-eu-1")["summary"]
    # The gate line names every cause (test_report_formats_ci.py holds the details).
    gate_line = next(line for line in text.splitlines() if line.startswith("**Gate "))
    assert gate_line.startswith("**Gate (fail on high): FAILED** - ")
    assert all(name in gate_line for name in ("KC-AVL-901", "KC-SEC-902", "payments", "legacy"))
    assert "| prod-eu-1 | kubeadm | critical | assessed | %s%% | 2 | 3 | 1 | 1 | 0 |" % prod["score"] in text
    assert "| payments | eks | critical | unreachable | n/a | - | - | - | - | - |" in text
    section = text.split("## `prod-eu-1` (kubeadm, tier critical)")[1].split("## `staging`")[0]
    assert "**Score %s%%**: 2 pass, 3 fail, 1 waived, 1 unknown, 0 not applicable." % prod["score"] in section
    assert "Gathered with 7 API requests in 0.8 s, evaluated in 0.1 s." in section
    failing = section.split("### Failing")[1].split("### Unknown")[0]
    assert failing.index("#### high (fails the gate)") < failing.index("KC-AVL-901") < failing.index(
        "#### medium") < failing.index("KC-DR-901") < failing.index("#### low") < failing.index("KC-CMP-901")
    pdb_message = finding_of(cluster_of(run, "prod-eu-1"), "KC-AVL-901")["message"]
    assert "- **KC-AVL-901** PodDisruptionBudget for every multi-replica workload: %s (1 object(s) waived)\n" \
           "  - `Deployment shop/web`: 3 replicas and no PodDisruptionBudget\n\n" % pdb_message in failing
    unknown = section.split("### Unknown (not counted as passed)")[1].split("### Waived")[0]
    assert "**KC-SEC-902**" in unknown and "is forbidden" in unknown
    waived = section.split("### Waived")[1].split("### Expired")[0]
    assert "- **KC-SEC-901** Anonymous authentication disabled\n  - whole check: kubelet health checks of the " \
           "legacy LB need it (owner platform-team, ticket SEC-42, expires 2027-03-31)" in waived
    expired = section.split("### Expired waivers (no longer applied)")[1]
    assert "- **KC-DR-901** whole check: Velero rollout in progress (owner dr-team, ticket DR-3, " \
           "expires 2026-10-01)" in expired
    assert "Not applicable: 0 check(s)." in section
    assert "Not applicable: 1 check(s)." in text.split("## `staging`")[1]
    assert "**Not assessed (unreachable):** payments: cannot reach https://198.51.100.7:443: connection refused" \
        in text
    assert "Could not read: networkpolicies (networkpolicies.networking.k8s.io is forbidden" in section


def test_markdown_lists_only_the_first_objects():
    clusters = fx.results()[:1]
    finding = finding_of(clusters[0], "KC-AVL-901")
    finding["objects"] = [{"kind": "Deployment", "namespace": "shop", "name": "app-%d" % i, "verdict": "fail",
                           "reason": "no PDB"} for i in range(8)]
    text = report.render_markdown(fx.run(clusters))
    assert "`Deployment shop/app-4`" in text and "app-5" not in text and "  - ... and 3 more" in text


def test_markdown_passed_gate():
    text = report.render_markdown(fx.run(fx.results()[:1], fail_on="critical"))
    assert "**Gate (fail on critical): PASSED**" in text and "FAILED" not in text


# -- AWX -----------------------------------------------------------------------------------------------------------


def test_awx_stats(run):
    stats = report.awx_stats(run)
    prod = cluster_of(run, "prod-eu-1")["summary"]
    assert stats["score"] == run["summary"]["score"]
    assert stats["clusters"]["prod-eu-1"] == {"status": "assessed", "score": prod["score"],
                                              "counts": prod["by_verdict"]}
    assert stats["clusters"]["payments"] == {"status": "unreachable", "score": None, "counts": {}}
    # The compact gate: check IDs and the message, not one entry per finding (a fleet would outgrow a job event).
    assert stats["gate"] == {"fail_on": "high", "fail_on_unknown": True, "fail_on_unreachable": True, "failed": True,
                             "message": run["gate"]["message"], "assessed": 2,
                             "failing": ["KC-AVL-901", "KC-SEC-901"], "unknown": ["KC-SEC-902"],
                             "unreachable": ["payments", "legacy"],
                             "counts": {"failing": 2, "unknown": 1, "not_assessed": 2}}
    json.dumps(stats)  # set_stats data must be plain JSON
