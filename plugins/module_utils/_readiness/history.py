# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The run history: when previous assessments of a cluster ran, read from a directory of earlier JSON reports
(kubecompass_history_dir), so "assessments scheduled" is judged from what ran, not from what was meant to."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import json
import os

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_time

VARIABLE = "kubecompass_history_dir"
DEFAULT_INTERVAL_DAYS = 30
# A run a day late still keeps the schedule (a weekly job that slipped over midnight, a retried AWX job).
GRACE_DAYS = 1
RUNS_JUDGED = 3


def _report_files(directory):
    """JSON files in the directory and one level below (one directory per archived run)."""
    found = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isdir(path):
            found.extend(os.path.join(path, name) for name in sorted(os.listdir(path)) if name.endswith(".json"))
        elif entry.endswith(".json"):
            found.append(path)
    return found


def read(directory, cluster):
    """{"runs": [start times of the previous reports that assessed the cluster, oldest first], "skipped": [...]}, or
    {"error": cause} when the directory cannot be read. Files that are not reports are skipped and named."""
    if not directory:
        return None
    try:
        files = _report_files(directory)
    except OSError as exc:
        return {"error": "%s %s cannot be read: %s" % (VARIABLE, directory, exc.strerror or exc)}
    runs, skipped = [], []
    for path in files:
        try:
            with open(path, encoding="utf-8") as stream:
                report = json.load(stream)
        except (OSError, UnicodeError, ValueError) as exc:
            skipped.append("%s: %s" % (path, getattr(exc, "strerror", None) or exc))
            continue
        started = parse_time(report.get("started")) if isinstance(report, dict) else None
        clusters = report.get("clusters") if isinstance(report, dict) else None
        if started is None or not isinstance(clusters, list):
            skipped.append("%s: not a kubecompass report (no started time or clusters list)" % path)
            continue
        if any(isinstance(c, dict) and c.get("cluster") == cluster and c.get("status") == "assessed"
               for c in clusters):
            runs.append(started)
    return {"runs": sorted(set(runs)), "skipped": skipped}


def judge(history, interval_days, now):
    """(verdict, message, evidence) for the schedule: the last runs no further apart than the interval, the newest
    no older than it. One run shows no schedule; no history directory is a fail that says how to keep one."""
    interval = datetime.timedelta(days=interval_days + GRACE_DAYS)
    if history is None:
        return ("fail", "no run history to judge the schedule by: archive each run's kubecompass-report.json in a "
                        "directory (one sub-directory per run) and set %s to it; the cadence is "
                        "kubecompass_settings.assessment_interval_days (default %d)" % (VARIABLE, DEFAULT_INTERVAL_DAYS),
                {"history_dir": None})
    if "error" in history:
        return "unknown", history["error"], {"history_dir_error": history["error"]}
    runs = [run for run in history["runs"] if run <= now][-RUNS_JUDGED:]
    evidence = {"previous_runs": [run.isoformat() for run in runs], "interval_days": interval_days,
                "skipped_files": history["skipped"]}
    if len(runs) < 2:
        return ("fail", "%d previous run(s) of this cluster in %s; a schedule shows as at least two runs at most %d "
                        "days apart" % (len(runs), VARIABLE, interval_days), evidence)
    pairs = [(runs[index], runs[index + 1]) for index in range(len(runs) - 1)]
    late = [(earlier, later) for earlier, later in pairs if later - earlier > interval]
    if late:
        earlier, later = late[-1]
        return ("fail", "runs of %s and %s are %d days apart, more than the declared %d"
                % (earlier.date().isoformat(), later.date().isoformat(), (later - earlier).days, interval_days),
                evidence)
    if now - runs[-1] > interval:
        return ("fail", "the last run was on %s, %d days ago, more than the declared %d"
                % (runs[-1].date().isoformat(), (now - runs[-1]).days, interval_days), evidence)
    return ("pass", "the last %d runs are at most %d days apart, the newest on %s"
            % (len(runs), interval_days, runs[-1].date().isoformat()), evidence)
