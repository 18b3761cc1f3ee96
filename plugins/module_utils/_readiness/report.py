# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Findings of one run -> the run dict, its gate, the JSON report and AWX stats. Pure, no I/O.

Every renderer (JSON here, JUnit/SARIF/Markdown in formats/) reads the same "run" dict that build_run assembles;
docs/report-schema.json documents it.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import json

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import gating
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.engine import (
    summarise,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.formats import junit, markdown, sarif
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.formats.common import (
    TOOL_NAME,
    TOOL_VERSION,
    json_default,
)

SCHEMA_VERSION = "1"
# missing: the run was asked about the cluster (--limit, a merge's inventory group) but has no result for it.
CLUSTER_STATUSES = ("assessed", "unreachable", "error", "missing")


# -- the run -----------------------------------------------------------------------------------------------------------

def _cluster_record(index, cluster):
    where = "results[%d]" % index
    if not isinstance(cluster, dict) or not cluster.get("cluster"):
        raise KubeCompassError("%s needs a cluster name" % where, "input")
    status = cluster.get("status")
    # No status means this is not an assess result (e.g. a failed task registered with ignore_errors): reading it
    # as assessed with no findings would pass a cluster nothing is known about.
    if status not in CLUSTER_STATUSES:
        raise KubeCompassError("%s (cluster %s): status %r is not one of %s"
                               % (where, cluster["cluster"], status, ", ".join(CLUSTER_STATUSES)), "input")
    findings = list(cluster.get("findings") or [])
    summary = cluster.get("summary")
    if summary is None and status == "assessed":
        summary = summarise(findings)
    gather = dict(cluster.get("gather") or {})
    timings = dict(gather.get("timings") or {})
    return {
        "cluster": cluster["cluster"],
        "distribution": cluster.get("distribution"),
        "distribution_evidence": list(cluster.get("distribution_evidence") or []),
        "tier": cluster.get("tier"),
        "status": status,
        "error": cluster.get("error") if status == "assessed" else cluster.get("error") or "no cause recorded",
        "summary": summary,
        "findings": findings,
        "expired_waivers": list(cluster.get("expired_waivers") or []),
        "gather": {
            "api_requests": int(gather.get("api_requests") or 0),
            "kinds_listed": int(gather.get("kinds_listed") or 0),
            "timings": {"gather_seconds": float(timings.get("gather_seconds") or 0.0),
                        "evaluate_seconds": float(timings.get("evaluate_seconds") or 0.0)},
            "unreadable": list(gather.get("unreadable") or []),
        },
    }


def gate(clusters, fail_on, fail_on_unknown=True, fail_on_unreachable=True):
    """Whether the run fails at fail_on, and one line naming every cause (see gating.decide): it fails closed."""
    return gating.decide(clusters, fail_on, fail_on_unknown, fail_on_unreachable)


def build_run(clusters, catalog, fail_on="high", started=None, finished=None, fail_on_unknown=True,
              fail_on_unreachable=True):
    """The run dict every renderer reads: clusters as given (normalised), an aggregate summary and the gate.

    ``clusters`` are assess results (extra keys such as Ansible's ``changed``/``invocation`` are dropped);
    ``catalog`` is ``catalog.entries(checks)``; ``started``/``finished`` are RFC 3339 strings supplied by the
    caller (this module reads no clock).
    """
    gating.severity_option("kubecompass_fail_on", fail_on)
    records = [_cluster_record(index, cluster) for index, cluster in enumerate(clusters)]
    names = [r["cluster"] for r in records]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise KubeCompassError("cluster(s) reported twice: %s" % ", ".join(duplicates), "input")
    summary = summarise([f for r in records if r["status"] == "assessed" for f in r["findings"]])
    summary["clusters"] = {status: sum(1 for r in records if r["status"] == status) for status in CLUSTER_STATUSES}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "started": started or finished,
        "finished": finished or started,
        "fail_on": fail_on,
        "summary": summary,
        "gate": gate(records, fail_on, fail_on_unknown, fail_on_unreachable),
        "clusters": records,
        "catalog": [dict(entry) for entry in catalog],
    }


# -- JSON --------------------------------------------------------------------------------------------------------------

def render_json(run):
    return json.dumps(run, indent=2, sort_keys=True, ensure_ascii=False, default=json_default) + "\n"


# The formats CI systems read are rendered in formats/; these names stay for report's callers.
render_junit = junit.render_junit
render_sarif = sarif.render_sarif
render_markdown = markdown.render_markdown


# -- AWX ---------------------------------------------------------------------------------------------------------------

def awx_stats(run):
    """A small dict for ansible.builtin.set_stats (AWX job artifacts): per cluster score and counts, the gate
    (its message and check IDs, not every finding)."""
    clusters = {}
    for cluster in run["clusters"]:
        summary = cluster["summary"] or {}
        clusters[cluster["cluster"]] = {
            "status": cluster["status"],
            "score": summary.get("score"),
            "counts": dict(summary.get("by_verdict") or {}),
        }
    # The compact gate: a fleet's per-finding lists would make set_stats (one job event) grow with the fleet.
    return {"score": run["summary"]["score"], "clusters": clusters, "gate": gating.compact(run["gate"])}


RENDERERS = {
    "json": render_json,
    "junit": render_junit,
    "sarif": render_sarif,
    "markdown": render_markdown,
}


def render(fmt, run, junit_fail_below_gate=False):
    """The text of one report format; an option applies only to the format it names."""
    if fmt == "junit":
        return RENDERERS[fmt](run, fail_below_gate=junit_fail_below_gate)
    return RENDERERS[fmt](run)
