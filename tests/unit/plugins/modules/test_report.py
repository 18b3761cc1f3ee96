"""The report module's core: files written atomically, nothing partial left behind when rendering or writing fails."""

from __future__ import annotations

import datetime
import json
import os
import stat

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import gating, runs
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import report as renderers
from ansible_collections.kubecompass.readiness.plugins.modules import report as module
from tests.unit.plugins.module_utils._readiness import report_fixtures as fx

ALL_FORMATS = ("json", "junit", "sarif", "markdown")


def produce(dest, formats=ALL_FORMATS, fail_on="high"):
    return module.produce(fx.results(), str(dest), list(formats), fail_on, fx.STARTED, fx.FINISHED, fx.CHECKS)


def listing(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else None


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_every_format_into_a_new_directory(tmp_path):
    dest = tmp_path / "reports" / "nightly"
    result = produce(dest)
    assert result["paths"] == {fmt: str(dest / name) for fmt, name in module.FILE_NAMES.items()}
    assert listing(dest) == ["kubecompass-report.json", "kubecompass-report.junit.xml", "kubecompass-report.md",
                             "kubecompass-report.sarif"]
    assert mode(dest) == 0o755
    assert all(mode(path) == 0o644 for path in result["paths"].values())
    run = fx.run()
    assert json.loads((dest / "kubecompass-report.json").read_text()) == json.loads(renderers.render_json(run))
    assert (dest / "kubecompass-report.md").read_text() == renderers.render_markdown(run)
    assert result["gate"] == gating.compact(run["gate"]) and result["awx_stats"] == renderers.awx_stats(run)
    assert result["overview"][0] == run["gate"]["message"]
    assert result["overview"][1] == "payments: unreachable - payments: cannot reach https://198.51.100.7:443: " \
                                    "connection refused"
    assert result["overview"][3].startswith("prod-eu-1: score ") and len(result["overview"]) == 5


def test_selected_formats_only(tmp_path):
    result = produce(tmp_path, formats=["sarif", "sarif"])
    assert listing(tmp_path) == ["kubecompass-report.sarif"]
    assert list(result["paths"]) == ["sarif"]


def test_a_renderer_that_raises_leaves_no_file_and_keeps_previous_reports(tmp_path, monkeypatch):
    produce(tmp_path, formats=["json", "markdown"])
    before = {name: (tmp_path / name).read_text() for name in listing(tmp_path)}

    def broken(run):
        raise ValueError("renderer bug")

    monkeypatch.setitem(renderers.RENDERERS, "sarif", broken)
    with pytest.raises(ValueError, match="renderer bug"):
        produce(tmp_path, fail_on="critical")
    assert {name: (tmp_path / name).read_text() for name in listing(tmp_path)} == before

    fresh = tmp_path / "fresh"
    with pytest.raises(ValueError):
        produce(fresh)
    assert listing(fresh) is None


def test_a_failed_write_removes_its_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "kubecompass-report.md"
    target.write_text("previous report\n")
    with pytest.raises(KubeCompassError, match="cannot write .*kubecompass-report.md"):
        runs.write_atomic(str(target), "half written \ud800 then an unencodable character", module.REPORT_MODE)
    assert listing(tmp_path) == ["kubecompass-report.md"]
    assert target.read_text() == "previous report\n"


def test_a_failed_rename_mid_run_leaves_complete_files_only(tmp_path, monkeypatch):
    real_replace = os.replace
    calls = []

    def replace_then_fail(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(module.os, "replace", replace_then_fail)
    with pytest.raises(KubeCompassError, match="No space left on device"):
        produce(tmp_path)
    assert listing(tmp_path) == ["kubecompass-report.json"]
    assert json.loads((tmp_path / "kubecompass-report.json").read_text())["schema_version"] == "1"


def test_dest_that_is_a_file_is_a_clear_error(tmp_path):
    dest = tmp_path / "reports"
    dest.write_text("not a directory")
    with pytest.raises(KubeCompassError, match="exists and is not a directory"):
        produce(dest)


def test_unknown_format_is_rejected_before_anything_is_written(tmp_path):
    with pytest.raises(KubeCompassError, match="unknown report format 'html'"):
        produce(tmp_path / "r", formats=["json", "html"])
    assert listing(tmp_path) == []


def test_times_are_rfc3339_utc():
    moment = datetime.datetime(2026, 11, 22, 13, 30, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert module.rfc3339(moment) == "2026-11-22T12:30:05Z"


def fleet(clusters, namespaces):
    """A fleet of prod-eu-1 copies whose first check fails on one object per namespace."""
    results = []
    for index in range(clusters):
        result = fx.results()[0]
        result["cluster"] = "prod-%03d" % index
        result["findings"][0]["objects"] = [
            {"kind": "Deployment", "namespace": "ns-%04d" % n, "name": "web", "verdict": "fail",
             "reason": "2 replicas and no PodDisruptionBudget", "waiver": None} for n in range(namespaces)]
        results.append(result)
    return results


def test_the_result_carries_no_object_whatever_the_fleet(tmp_path):
    run_dir = tmp_path / "clusters"
    records = [{"cluster": r["cluster"], "status": "assessed", "result_path": runs.write_result(str(run_dir), r)}
               for r in fleet(100, 50)]
    result = module.produce(records, str(tmp_path), ["json"], "high", fx.STARTED, fx.FINISHED, fx.CHECKS,
                            expected=[r["cluster"] for r in records])
    text = json.dumps(result)
    assert "ns-0001" not in text and len(text) < 32 * 1024, len(text)
    assert len(result["overview"]) == 22 and result["overview"][-1] == "... and 80 more cluster(s), in the reports"
    assert len(json.dumps(records)) < 16 * 1024  # what the report task's invocation carries
    report = json.loads((tmp_path / "kubecompass-report.json").read_text())
    assert len(report["clusters"]) == 100 and len(report["clusters"][0]["findings"][0]["objects"]) == 50


def test_a_cluster_the_run_was_asked_about_without_a_result_fails_the_gate(tmp_path):
    result = module.produce(fx.results()[:2], str(tmp_path), ["json"], "critical", fx.STARTED, fx.FINISHED,
                            fx.CHECKS, expected=["prod-eu-1", "staging", "eu-3"])
    assert result["gate"]["failed"] is True and result["gate"]["unreachable"] == ["eu-3"]
    assert "1 cluster(s) no result: eu-3 (selected by this run, but no assessment was recorded" in result["gate"][
        "message"]
    report = json.loads((tmp_path / "kubecompass-report.json").read_text())
    assert report["clusters"][-1]["status"] == "missing" and report["summary"]["clusters"]["missing"] == 1


def test_nothing_selected_is_a_failed_gate_with_its_own_message(tmp_path):
    result = module.produce([], str(tmp_path), ["json"], "high", fx.STARTED, fx.FINISHED, fx.CHECKS, expected=[])
    assert result["gate"]["failed"] is True
    assert result["gate"]["message"] == "Gate (fail on high): FAILED - no cluster was assessed."


def test_merging_partial_reports_writes_one_report_and_gate(tmp_path):
    results = fx.results()
    sources = []
    for index in range(2):
        part = tmp_path / ("slice%d" % index)
        module.produce(results[index::2], str(part), ["json"], "high", fx.STARTED, fx.FINISHED, fx.CHECKS)
        sources.append(str(part))
    merged = module.produce(None, str(tmp_path / "merged"), ["json"], "high", fx.STARTED, fx.FINISHED, fx.CHECKS,
                            expected=[r["cluster"] for r in results] + ["eu-3"], sources=sources)
    single = fx.run(results)
    assert merged["summary"]["by_verdict"] == single["summary"]["by_verdict"]
    assert merged["gate"]["failing"] == gating.compact(single["gate"])["failing"]
    assert merged["gate"]["unreachable"] == ["payments", "legacy", "eu-3"]
    assert "eu-3 (in the inventory group, but in none of the merged reports" in merged["gate"]["message"]
    with pytest.raises(KubeCompassError, match="results and kubecompass_merge_sources exclude each other"):
        module.produce(results, str(tmp_path / "m2"), ["json"], "high", fx.STARTED, fx.FINISHED, fx.CHECKS,
                       sources=sources)


@pytest.mark.parametrize("option, value, message", [
    ("fail_on", "severe", "kubecompass_fail_on 'severe' is not one of critical, high, medium, low, info"),
    ("fail_on_unknown", "maybe", "kubecompass_fail_on_unknown must be true or false, not 'maybe'"),
    ("fail_on_unreachable", [1], "kubecompass_fail_on_unreachable must be true or false, not [1]"),
])
def test_a_malformed_gate_variable_is_one_line_naming_it(tmp_path, option, value, message):
    options = {"fail_on": "high", "fail_on_unknown": True, "fail_on_unreachable": True, option: value}
    with pytest.raises(KubeCompassError) as raised:
        module.produce(fx.results(), str(tmp_path / "r"), ["json"], options["fail_on"], fx.STARTED, fx.FINISHED,
                       fx.CHECKS, options["fail_on_unknown"], options["fail_on_unreachable"])
    assert str(raised.value) == message
    assert listing(tmp_path) == []


def test_a_report_dir_that_is_a_file_names_the_variable(tmp_path):
    dest = tmp_path / "reports"
    dest.write_text("not a directory")
    with pytest.raises(KubeCompassError, match="^kubecompass_report_dir .*reports exists and is not a directory"):
        produce(dest)
