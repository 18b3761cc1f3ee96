"""JUnit and Markdown as CI systems show them: a test widget red exactly when the gate fails, a summary that fits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from junitparser import Error, Failure, JUnitXml, Skipped

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import report
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import SEVERITIES
from ansible_collections.kubecompass.readiness.plugins.modules import report as module
from tests.unit.plugins.module_utils._readiness import report_fixtures as fx

REPO = Path(__file__).resolve().parents[5]


@pytest.fixture(scope="module")
def run():
    return fx.run()


def suites(text):
    return {suite.name: suite for suite in JUnitXml.fromstring(text.encode("utf-8"))}


def outcome(suite, check_id):
    (case,) = [case for case in suite if case.name.startswith(check_id + " ")]
    return case.result[0] if case.result else None


# -- JUnit ---------------------------------------------------------------------------------------------------------


def test_junit_failures_below_the_gate_are_skipped_with_their_details(run):
    prod = suites(report.render_junit(run))["prod-eu-1"]
    high = outcome(prod, "KC-AVL-901")
    assert isinstance(high, Failure) and high.type == "high"
    medium = outcome(prod, "KC-DR-901")
    assert isinstance(medium, Skipped)
    assert medium.message.startswith("medium failure below the gate (fail on high), not counted: no Velero")
    assert "runbook: Install Velero" in medium.text
    low = outcome(prod, "KC-CMP-901")
    assert isinstance(low, Skipped) and "failing objects (1):\n  Namespace payments-api: no ResourceQuota" in low.text
    assert isinstance(outcome(prod, "KC-SEC-902"), Error)  # unknown at the threshold fails the gate: red
    assert (prod.failures, prod.errors) == (1, 1)


def test_junit_fail_below_gate_turns_every_failure_red(run):
    prod = suites(report.render_junit(run, fail_below_gate=True))["prod-eu-1"]
    assert [type(outcome(prod, c)) for c in ("KC-AVL-901", "KC-DR-901", "KC-CMP-901", "KC-SEC-902")] == [
        Failure, Failure, Failure, Error]
    assert prod.failures == run["clusters"][0]["summary"]["by_verdict"]["fail"]


def test_junit_unknown_the_gate_does_not_count_is_skipped():
    run = report.build_run(fx.results()[:1], fx.catalog_entries(), "high", fx.STARTED, fx.FINISHED,
                           fail_on_unknown=False)
    unknown = outcome(suites(report.render_junit(run))["prod-eu-1"], "KC-SEC-902")
    assert isinstance(unknown, Skipped)
    assert unknown.message.startswith("undecided, not counted by the gate (fail on high, unknown not counted): ")


@pytest.mark.parametrize("fail_on", SEVERITIES)
def test_junit_is_red_exactly_when_the_findings_fail_the_gate(fail_on):
    run = fx.run(fx.results()[:2], fail_on=fail_on)
    parsed = JUnitXml.fromstring(report.render_junit(run).encode("utf-8"))
    red = {(suite.name, case.name.split(" ")[0]) for suite in parsed for case in suite
           if case.result and isinstance(case.result[0], (Failure, Error))}
    gate = run["gate"]
    assert red == {(f["cluster"], f["check_id"]) for f in gate["failing"] + gate["unknown"]}
    assert bool(red) == gate["failed"]


def test_junit_suite_properties_carry_tier_distribution_and_threshold(run):
    for name, suite in suites(report.render_junit(run)).items():
        properties = {p.name: p.value for p in suite.properties()}
        cluster = next(c for c in run["clusters"] if c["cluster"] == name)
        assert properties["tier"] == (cluster["tier"] or "unknown")
        assert properties["distribution"] == (cluster["distribution"] or "unknown")
        assert properties["fail_on"] == "high"
    assert {p.name: p.value for p in suites(report.render_junit(run))["legacy"].properties()}["distribution"] == \
        "unknown"


def test_the_report_module_writes_junit_with_the_option(tmp_path):
    strict = module.produce(fx.results(), str(tmp_path / "strict"), ["junit"], "high", fx.STARTED, fx.FINISHED,
                            fx.CHECKS, junit_fail_below_gate=True)
    default = module.produce(fx.results(), str(tmp_path / "default"), ["junit"], "high", fx.STARTED, fx.FINISHED,
                             fx.CHECKS)
    failures = {name: JUnitXml.fromfile(result["paths"]["junit"]).failures
                for name, result in (("strict", strict), ("default", default))}
    assert failures == {"strict": 4, "default": 2}  # prod-eu-1's medium and low failures are red only when asked


def test_the_assess_playbook_passes_kubecompass_junit_fail_below_gate():
    plays = yaml.safe_load((REPO / "playbooks" / "assess.yml").read_text())
    tasks = [t for play in plays for t in play.get("tasks") or [] if "kubecompass.readiness.report" in t]
    assert [t["kubecompass.readiness.report"]["junit_fail_below_gate"] for t in tasks] == [
        "{{ kubecompass_junit_fail_below_gate | default(false) }}"]


# -- Markdown ------------------------------------------------------------------------------------------------------


def gate_line(text):
    return next(line for line in text.splitlines() if line.startswith("**Gate "))


def test_markdown_says_why_when_the_gate_fails_only_on_unknown_findings():
    clusters = fx.results()[:1]
    for finding in clusters[0]["findings"]:
        if finding["verdict"] == "fail":
            finding.update(verdict="pass", objects=[], message="fixed")
    line = gate_line(report.render_markdown(fx.run(clusters)))
    assert line.startswith("**Gate (fail on high): FAILED**") and not line.endswith("FAILED**.")
    assert "could not be decided" in line and "KC-SEC-902" in line and "networkpolicies" in line


def test_markdown_keeps_an_input_error_apart_from_unreachable(run):
    line = gate_line(report.render_markdown(run))
    (unreachable,) = [cause for cause in line.split(";") if "unreachable" in cause]
    assert "payments" in unreachable and "legacy" not in unreachable
    assert "legacy" in line


def test_markdown_lists_clusters_worst_first(run):
    text = report.render_markdown(run)
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:] == ["legacy", "payments", "prod-eu-1", "staging"]  # not assessed, then most failing the gate
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.split("`")[1] for h in headings] == rows[1:]


def _fleet(size):
    clusters = []
    for index in range(size):
        (prod,) = fx.results()[:1]
        prod["cluster"] = "prod-%04d" % index
        clusters.append(prod)
    return fx.run(clusters)


def test_markdown_is_cut_to_its_size_limit_with_a_note():
    fleet = _fleet(60)
    text = report.render_markdown(fleet, limit=20 * 1024)
    assert len(text.encode("utf-8")) <= 20 * 1024
    shown = sum(1 for line in text.splitlines() if line.startswith("## "))
    assert 0 < shown < 60
    assert text.rstrip().endswith("kubecompass-report.json has everything.")
    assert "**Summary cut here to stay under 20 KiB**" in text and "of 60 cluster section(s) shown in full" in text


def test_markdown_of_a_large_fleet_fits_a_github_step_summary():
    text = report.render_markdown(_fleet(400))
    assert len(text.encode("utf-8")) <= 256 * 1024 < 1024 * 1024
    assert "**Summary cut here" in text


def test_markdown_within_the_limit_is_not_cut(run):
    assert "Summary cut here" not in report.render_markdown(run)
