"""Results travel as files: a cluster's result written atomically (0600 in a 0700 directory), a compact summary
without per-object outcomes, the report reading the files back, and partial reports merged into one."""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import report, runs
from tests.unit.plugins.module_utils._readiness import report_fixtures as fx


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def big_result(namespaces):
    """prod-eu-1 with one failing object per namespace, as a 2,000-namespace cluster gives."""
    result = fx.results()[0]
    finding = next(f for f in result["findings"] if f["check_id"] == "KC-AVL-901")
    finding["objects"] = [{"kind": "Deployment", "namespace": "ns-%04d" % i, "name": "web", "verdict": "fail",
                           "reason": "2 replicas and no PodDisruptionBudget", "waiver": None}
                          for i in range(namespaces)]
    return result


def test_a_result_is_written_whole_and_private(tmp_path):
    run_dir = tmp_path / "reports" / "clusters"
    result = fx.results()[0]
    path = runs.write_result(str(run_dir), result)
    assert path == str(run_dir / "prod-eu-1.json")
    assert mode(run_dir) == 0o700 and mode(path) == 0o600
    assert json.loads(Path(path).read_text()) == json.loads(json.dumps(result, default=runs.json_default))
    assert os.listdir(run_dir) == ["prod-eu-1.json"]


def test_cluster_names_never_escape_the_run_directory_nor_collide(tmp_path):
    first = runs.result_path(str(tmp_path), "../etc/passwd")
    second = runs.result_path(str(tmp_path), "..%2Fetc%2Fpasswd")
    assert os.path.dirname(first) == str(tmp_path) and first != second


def test_a_full_disk_leaves_the_previous_result_and_no_temporary(tmp_path, monkeypatch):
    result = fx.results()[0]
    path = runs.write_result(str(tmp_path), result)
    before = Path(path).read_text()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle, *args, **kwargs):
            self.stream = real_fdopen(handle, *args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

        def write(self, text):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.os, "fdopen", Full)
    with pytest.raises(KubeCompassError, match=r"cannot write .*prod-eu-1.json: \[Errno 28\] No space left"):
        runs.write_result(str(tmp_path), dict(result, tier="important"))
    assert os.listdir(tmp_path) == ["prod-eu-1.json"] and Path(path).read_text() == before


def test_the_compact_summary_carries_counts_ids_and_the_path_but_no_object(tmp_path):
    result = big_result(2000)
    path = runs.write_result(str(tmp_path), result)
    compact = runs.compact(result, path)
    assert compact["result_path"] == path and compact["status"] == "assessed"
    assert compact["failing"] == [f["check_id"] for f in result["findings"] if f["verdict"] == "fail"]
    assert "KC-AVL-901" in compact["failing"] and compact["unknown"] == ["KC-SEC-902"]
    assert compact["summary"]["by_verdict"] == result["summary"]["by_verdict"]
    text = json.dumps(compact)
    assert "ns-0001" not in text and "objects" not in text and len(text) < 2048
    assert os.path.getsize(path) > 200 * 1024  # the file has them all


def test_the_report_reads_results_back_from_their_files(tmp_path):
    results = fx.results()
    entries = [{"cluster": r["cluster"], "status": "assessed", "result_path": runs.write_result(str(tmp_path), r)}
               for r in results[:2]] + results[2:]
    assert fx.run(runs.load_results(entries)) == fx.run(results)


@pytest.mark.parametrize("damage, message", [
    (os.unlink, r"results\[0\] \(cluster prod-eu-1\): cannot read .*prod-eu-1.json: No such file"),
    (lambda path: Path(path).write_text('{"cluster": "prod-eu-1", "find'), r"is not JSON .*a partial write"),
    (lambda path: Path(path).write_text('{"cluster": "staging"}'), r"holds the result of cluster 'staging', not"),
])
def test_a_result_file_that_cannot_be_used_is_named(tmp_path, damage, message):
    path = runs.write_result(str(tmp_path), fx.results()[0])
    damage(path)
    with pytest.raises(KubeCompassError, match=message):
        runs.load_results([{"cluster": "prod-eu-1", "status": "assessed", "result_path": path}])


def test_clusters_without_a_result_become_missing_records():
    assert runs.missing_records(fx.results(), ["staging", "eu-3", "payments"], "no result") == [
        {"cluster": "eu-3", "status": "missing", "error": "no result"}]


# -- merging partial runs --------------------------------------------------------------------------------------------


def write_report(directory, results, started=fx.STARTED):
    directory.mkdir(parents=True, exist_ok=True)
    run = report.build_run(results, fx.catalog_entries(), "high", started, fx.FINISHED)
    (directory / runs.REPORT_FILE).write_text(report.render_json(run))
    return str(directory)


def test_three_slices_merge_into_the_single_run(tmp_path):
    results = fx.results()
    slices = [results[k::3] for k in range(3)]  # AWX's round-robin split
    sources = [write_report(tmp_path / ("slice%d" % k), part, started="2026-11-22T11:5%d:00Z" % (8 - k))
               for k, part in enumerate(slices)]
    clusters, started = runs.merge(runs.read_reports(sources, report.SCHEMA_VERSION))
    merged = report.build_run(clusters, fx.catalog_entries(), "high", started, fx.FINISHED)
    single = fx.run(results)
    assert started == "2026-11-22T11:56:00Z"
    assert sorted(merged["clusters"], key=lambda c: c["cluster"]) == sorted(single["clusters"],
                                                                            key=lambda c: c["cluster"])
    assert merged["summary"] == single["summary"]
    by_cluster = sorted(merged["gate"]["failing"], key=lambda f: (f["cluster"], f["check_id"]))
    assert by_cluster == sorted(single["gate"]["failing"], key=lambda f: (f["cluster"], f["check_id"]))


def test_a_cluster_in_two_reports_fails_the_merge_naming_both(tmp_path):
    first = write_report(tmp_path / "a", fx.results()[:2])
    second = write_report(tmp_path / "b", fx.results()[1:3])
    with pytest.raises(KubeCompassError, match=r"^kubecompass_merge_sources: cluster staging is in both "
                                               r".*/a/kubecompass-report.json and .*/b/kubecompass-report.json"):
        runs.merge(runs.read_reports([first, second], report.SCHEMA_VERSION))


def test_reports_of_another_schema_version_are_not_merged(tmp_path):
    first = write_report(tmp_path / "a", fx.results()[:1])
    path = tmp_path / "b" / runs.REPORT_FILE
    write_report(tmp_path / "b", fx.results()[1:2])
    document = json.loads(path.read_text())
    document["schema_version"] = "2"
    path.write_text(json.dumps(document))
    with pytest.raises(KubeCompassError, match=r"kubecompass_merge_sources\[1\]: .*b/kubecompass-report.json has "
                                               r"report schema version '2', this collection merges version '1'"):
        runs.read_reports([first, str(path)], report.SCHEMA_VERSION)


@pytest.mark.parametrize("sources, message", [
    (None, r"^kubecompass_merge_sources must be a non-empty list of report files or directories, not None"),
    ([], r"^kubecompass_merge_sources must be a non-empty list"),
    ("slice1/", r"^kubecompass_merge_sources must be a non-empty list .* not 'slice1/'"),
    ([7], r"^kubecompass_merge_sources\[0\] must be a path, not 7"),
    (["/nonexistent/report.json"], r"^kubecompass_merge_sources\[0\]: cannot read /nonexistent/report.json"),
])
def test_malformed_merge_sources_are_one_line_naming_the_variable(sources, message):
    with pytest.raises(KubeCompassError, match=message):
        runs.read_reports(sources, report.SCHEMA_VERSION)


def test_a_document_that_is_not_a_report_is_named(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(KubeCompassError, match=r"other.json is not a kubecompass report"):
        runs.read_reports([str(path)], report.SCHEMA_VERSION)


def test_merge_does_not_modify_its_inputs(tmp_path):
    source = write_report(tmp_path / "a", fx.results())
    reports = runs.read_reports([source], report.SCHEMA_VERSION)
    before = copy.deepcopy(reports)
    runs.merge(reports)
    assert reports == before
