"""The report module's core: files written atomically, nothing partial left behind when rendering or writing fails."""

from __future__ import annotations

import datetime
import json
import os
import stat

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
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
    assert (dest / "kubecompass-report.md").read_text() == result["markdown"] == renderers.render_markdown(run)
    assert result["gate"] == run["gate"] and result["awx_stats"] == renderers.awx_stats(run)


def test_selected_formats_only_and_markdown_returned_anyway(tmp_path):
    result = produce(tmp_path, formats=["sarif", "sarif"])
    assert listing(tmp_path) == ["kubecompass-report.sarif"]
    assert list(result["paths"]) == ["sarif"] and result["markdown"].startswith("# KubeCompass readiness report")


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
        module.write_atomic(str(target), "half written \ud800 then an unencodable character")
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
