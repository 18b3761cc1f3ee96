# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Results travel as files: each cluster's full assessment is written once to the run directory on the controller,
Ansible variables and job events carry a compact summary and the path, and the report (or a merge of the reports of
partial runs: AWX job slices, several --limit runs) reads the files back."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import contextlib
import datetime
import json
import os
import tempfile

from urllib.parse import quote

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

RESULT_MODE = 0o600  # a result names objects, flags and waivers: readable by the user who ran the assessment
RESULT_DIR_MODE = 0o700
REPORT_FILE = "kubecompass-report.json"


def json_default(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError("%r is not JSON serialisable" % (value,))


def ensure_directory(path, mode, variable):
    """Create path (and parents) with mode unless it is a directory already; variable names it in errors."""
    if os.path.isdir(path):
        return
    if os.path.lexists(path):
        raise KubeCompassError("%s %s exists and is not a directory" % (variable, path), "input")
    try:
        os.makedirs(path, mode)
        os.chmod(path, mode)  # makedirs' mode is filtered by the umask
    except OSError as exc:
        raise KubeCompassError("%s: cannot create directory %s: %s" % (variable, path, exc), "io") from None


def write_atomic(path, text, mode):
    """Write text to path through a temporary file in the same directory, then rename it over path; on any error
    remove the temporary, so a reader never sees a half-written file."""
    directory, name = os.path.split(path)
    handle, temporary = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, (OSError, UnicodeError)):
            raise KubeCompassError("cannot write %s: %s" % (path, exc), "io") from None
        raise


def result_path(run_dir, cluster):
    # Quoted, so two cluster names never share a file and none escapes the directory.
    return os.path.join(run_dir, "%s.json" % quote(cluster, safe=""))


def write_result(run_dir, result):
    """Write one cluster's full result into run_dir; return its path."""
    ensure_directory(run_dir, RESULT_DIR_MODE, "run_dir")
    path = result_path(run_dir, result["cluster"])
    write_atomic(path, json.dumps(result, sort_keys=True, ensure_ascii=False, default=json_default) + "\n",
                 RESULT_MODE)
    return path


def compact(result, path):
    """What an assessed cluster's task returns when its result is in a file: counts, failing and unknown check IDs,
    the cost of gathering, and the path. No per-object outcome, so a job event stays small whatever the cluster."""
    summary = result.get("summary") or {}
    gather = result.get("gather") or {}
    return {
        "cluster": result["cluster"],
        "status": result["status"],
        "distribution": result.get("distribution"),
        "tier": result.get("tier"),
        "result_path": path,
        "summary": {"total": summary.get("total"), "score": summary.get("score"),
                    "by_verdict": dict(summary.get("by_verdict") or {})},
        "failing": [f["check_id"] for f in result.get("findings") or [] if f["verdict"] == "fail"],
        "unknown": [f["check_id"] for f in result.get("findings") or [] if f["verdict"] == "unknown"],
        "expired_waivers": list(result.get("expired_waivers") or []),
        "gather": {"api_requests": gather.get("api_requests"), "kinds_listed": gather.get("kinds_listed"),
                   "timings": dict(gather.get("timings") or {}),
                   "unreadable": [u.get("source") for u in gather.get("unreadable") or []]},
    }


def _load_json(path, what):
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, UnicodeError) as exc:
        raise KubeCompassError("%s: cannot read %s: %s" % (what, path, getattr(exc, "strerror", None) or exc),
                               "input") from None
    except ValueError as exc:
        raise KubeCompassError("%s: %s is not JSON (%s); a partial write?" % (what, path, exc), "input") from None


def load_results(results):
    """The results as report.build_run reads them: an entry with result_path is replaced by the file it names
    (checked to be that cluster's), other entries (full results, records of clusters not assessed) as given."""
    loaded = []
    for index, entry in enumerate(results):
        if not isinstance(entry, dict) or not entry.get("result_path"):
            loaded.append(entry)
            continue
        what = "results[%d] (cluster %s)" % (index, entry.get("cluster"))
        result = _load_json(entry["result_path"], what)
        if not isinstance(result, dict) or result.get("cluster") != entry.get("cluster"):
            raise KubeCompassError("%s: %s holds the result of cluster %r, not of this cluster"
                                   % (what, entry["result_path"], (result or {}).get("cluster")
                                      if isinstance(result, dict) else None), "input")
        loaded.append(result)
    return loaded


def missing_records(results, expected, cause):
    """A record for each cluster the run was asked about (expected) that has no result: status missing."""
    present = {entry.get("cluster") for entry in results if isinstance(entry, dict)}
    return [{"cluster": name, "status": "missing", "error": cause} for name in expected or []
            if name not in present]


def read_reports(sources, schema_version):
    """[(path, report)] for each partial report: a report file, or a directory holding kubecompass-report.json."""
    variable = "kubecompass_merge_sources"
    if not isinstance(sources, list) or not sources:
        raise KubeCompassError("%s must be a non-empty list of report files or directories, not %r"
                               % (variable, sources), "input")
    reports = []
    for index, source in enumerate(sources):
        if not isinstance(source, str) or not source:
            raise KubeCompassError("%s[%d] must be a path, not %r" % (variable, index, source), "input")
        path = os.path.join(source, REPORT_FILE) if os.path.isdir(source) else source
        document = _load_json(path, "%s[%d]" % (variable, index))
        if not isinstance(document, dict) or not isinstance(document.get("clusters"), list):
            raise KubeCompassError("%s[%d]: %s is not a kubecompass report (no clusters list)"
                                   % (variable, index, path), "input")
        version = document.get("schema_version")
        if version != schema_version:
            raise KubeCompassError(
                "%s[%d]: %s has report schema version %r, this collection merges version %r; re-run that slice "
                "with this collection" % (variable, index, path, version, schema_version), "input")
        reports.append((path, document))
    return reports


def merge(reports):
    """The cluster records of every partial report, and the earliest start. A cluster in two reports is an error:
    overlapping slices or a report merged twice would otherwise count one cluster's findings twice."""
    seen = {}
    clusters = []
    for path, document in reports:
        for cluster in document["clusters"]:
            name = cluster.get("cluster") if isinstance(cluster, dict) else None
            if name in seen:
                raise KubeCompassError("kubecompass_merge_sources: cluster %s is in both %s and %s (overlapping "
                                       "slices or a report listed twice)" % (name, seen[name], path), "input")
            seen[name] = path
            clusters.append(cluster)
    starts = [d.get("started") for _path, d in reports if isinstance(d.get("started"), str)]
    return clusters, (min(starts) if starts else None)
