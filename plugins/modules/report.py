#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: report
short_description: Write the readiness reports of a run (JSON, JUnit XML, SARIF, Markdown) and decide the gate
version_added: 0.1.0
description:
  - Takes the per-cluster results of M(kubecompass.readiness.assess) (read from the files its O(kubecompass.readiness.assess#module:run_dir)
    wrote, and the records of clusters that could not be assessed), or merges the JSON reports of partial runs
    (O(sources) - AWX job slices, several C(--limit) runs), and writes one report per format into O(dest) -
    C(kubecompass-report.json) (the full report, schema in C(docs/report-schema.json)),
    C(kubecompass-report.junit.xml), C(kubecompass-report.sarif) (SARIF 2.1.0) and C(kubecompass-report.md).
  - Decides the gate, failing closed - the run fails when a finding at or above O(fail_on) failed (waived findings
    do not count), when one is unknown (unless O(fail_on_unknown=false)), when a cluster could not be reached
    (unless O(fail_on_unreachable=false)), when a cluster stopped on an input error, when a cluster of O(expected)
    has no result, and when no cluster was assessed at all. RV(gate.message) names every cause in one line.
  - Returns paths and compact summaries only - per-object outcomes stay in the files, so the task's job event
    stays small whatever the fleet.
  - Run it once per run on the controller (a play on C(localhost)); it contacts no cluster.
  - Each file is written to a temporary file in O(dest) and renamed over the target, so a reader never sees a
    partial report; every format is rendered before any file is written, so a failure leaves no new file.
  - Reports are artifacts of the run, not managed state - they are written in check mode too, and the module
    always returns C(changed=false).
author:
  - KubeCompass contributors (@kubecompass)
options:
  results:
    description:
      - One entry per cluster - C(cluster), C(status) C(assessed) and C(result_path) (the file
        M(kubecompass.readiness.assess) wrote with O(kubecompass.readiness.assess#module:run_dir)); or a full result as
        returned by M(kubecompass.readiness.assess); or for a cluster that could not be assessed a dict with
        C(cluster), C(status) (C(unreachable) or C(error)), C(error) (one line), and optionally C(distribution) and
        C(tier).
      - Other keys (for example Ansible's C(changed) and C(invocation) in a registered result) are ignored.
      - Exactly one of O(results) and O(sources) is required.
    type: list
    elements: dict
  sources:
    description:
      - The JSON reports of partial runs to merge (C(kubecompass_merge_sources) in the C(report_merge) playbook),
        each a C(kubecompass-report.json) file or the directory holding one.
      - They must share this collection's report schema version, and no cluster may be in two of them.
    type: raw
  expected:
    description:
      - The clusters the run was asked about. Each one without an entry in O(results) or O(sources) is reported
        with status C(missing), which fails the gate naming it (a slice that did not report, a play that stopped).
    type: list
    elements: str
  dest:
    description:
      - Directory to write the reports to (C(kubecompass_report_dir)). Created with mode C(0755) when missing
        (parents too).
      - Existing reports of the same names are replaced.
    type: path
    required: true
  formats:
    description: Report formats to write.
    type: list
    elements: str
    choices: [json, junit, sarif, markdown]
    default: [json, junit, sarif, markdown]
  fail_on:
    description:
      - Gate threshold (C(kubecompass_fail_on)), one of C(critical), C(high), C(medium), C(low), C(info). A failed
        finding of this severity or a more severe one fails the gate. Another value fails with one line naming
        C(kubecompass_fail_on).
    type: raw
    default: high
  fail_on_unknown:
    description:
      - Whether a finding at or above O(fail_on) that could not be decided (C(unknown)) fails the gate too
        (C(kubecompass_fail_on_unknown), a boolean).
        Unknown is never a pass; set false only to gate on known failures while access is being sorted out.
    type: raw
    default: true
  fail_on_unreachable:
    description:
      - Whether a cluster that could not be reached fails the gate (C(kubecompass_fail_on_unreachable), a boolean).
        A cluster stopped by an input error, a cluster without a result, and a run that assessed no cluster fail it
        whatever this says.
    type: raw
    default: true
  junit_fail_below_gate:
    description:
      - Whether the JUnit report marks every failed finding C(<failure>) and every unknown one C(<error>), also those
        the gate does not count (below O(fail_on), or unknown with O(fail_on_unknown=false))
        (C(kubecompass_junit_fail_below_gate), a boolean).
      - By default those are C(<skipped>) with their details, so a CI test widget turns red exactly when findings
        fail the gate.
    type: raw
    default: false
  started:
    description:
      - When the run started (RFC 3339, for example C(2026-11-22T08:00:00Z); a time without offset is taken as
        UTC). Defaults to the time the report is written.
    type: str
notes:
  - The module does not fail when the gate fails; assert on RV(gate.failed) after publishing the reports, so a
    failing run still leaves its reports behind (see C(playbooks/assess.yml)).
  - Report files are written with mode C(0644). They name objects, flags and waivers, never key material.
attributes:
  check_mode:
    support: full
    details:
      - Writes report files in check mode too; they are artifacts of the run, not managed state.
  diff_mode:
    support: N/A
    details:
      - Reports are not managed state; there is nothing to diff.
extends_documentation_fragment:
  - kubecompass.readiness.attributes
seealso:
  - module: kubecompass.readiness.assess
"""

EXAMPLES = r"""
- name: Write every report into ./reports and keep the result for the gate
  kubecompass.readiness.report:
    results: "{{ groups['k8s_clusters'] | map('extract', hostvars, 'assessment') | list }}"
    expected: "{{ groups['k8s_clusters'] }}"
    dest: "{{ playbook_dir }}/reports"
    fail_on: high
  register: report

- name: Publish the summary to AWX / Automation Controller
  ansible.builtin.set_stats:
    data:
      kubecompass: "{{ report.awx_stats }}"

- name: Fail the run on findings at or above the threshold
  ansible.builtin.assert:
    that: not report.gate.failed
    fail_msg: "{{ report.gate.message }} See {{ report.paths.markdown }}"

- name: Only SARIF for code scanning, gating on critical findings
  kubecompass.readiness.report:
    results: "{{ results }}"
    dest: /var/tmp/kubecompass
    formats: [sarif]
    fail_on: critical
    started: "{{ run_started }}"

- name: Merge the reports of three job slices into one, gating on every cluster of the group
  kubecompass.readiness.report:
    sources: [/srv/reports/slice1, /srv/reports/slice2, /srv/reports/slice3]
    expected: "{{ groups['k8s_clusters'] }}"
    dest: /srv/reports/merged
"""

RETURN = r"""
paths:
  description: Path of each report written, by format.
  returned: success
  type: dict
  sample:
    json: /srv/reports/kubecompass-report.json
    junit: /srv/reports/kubecompass-report.junit.xml
    sarif: /srv/reports/kubecompass-report.sarif
    markdown: /srv/reports/kubecompass-report.md
gate:
  description:
    - The gate decision, compact - the full lists (every failing and unknown finding with its cluster) are in the
      JSON report.
  returned: success
  type: dict
  contains:
    fail_on:
      description: The threshold used.
      type: str
      sample: high
    fail_on_unknown:
      description: Whether unknown findings counted.
      type: bool
      sample: true
    fail_on_unreachable:
      description: Whether unreachable clusters counted.
      type: bool
      sample: true
    failed:
      description: True when any cause failed the gate (see the module description).
      type: bool
      sample: true
    message:
      description: One line - the verdict and every cause (failing check IDs and their clusters, unknown check IDs
        with a reason, clusters unreachable, stopped on an input error or without a result, no cluster assessed).
      type: str
      sample: "Gate (fail on high): FAILED - 1 finding(s) at or above high failed: KC-SEC-003 on prod-eu-1; 1 cluster(s)
        unreachable: payments (payments: cannot reach https://198.51.100.7:443: connection refused)."
    assessed:
      description: Number of clusters assessed.
      type: int
      sample: 1
    failing:
      description: IDs of the checks failing at or above O(fail_on) on some cluster.
      type: list
      elements: str
      sample: ["KC-SEC-003"]
    unknown:
      description: IDs of the checks unknown at or above O(fail_on) on some cluster.
      type: list
      elements: str
      sample: ["KC-SEC-005"]
    unreachable:
      description: Clusters that were not assessed (unreachable, stopped on an input error, or without a result).
      type: list
      elements: str
      sample: ["payments"]
    counts:
      description: Number of failing findings, unknown findings and clusters not assessed.
      type: dict
      sample: {"failing": 1, "unknown": 0, "not_assessed": 1}
summary:
  description:
    - Counts of the findings of all assessed clusters by verdict, area and severity, their score in percent,
      and the number of clusters by status.
  returned: success
  type: dict
  sample:
    total: 58
    score: 71.4
    by_verdict: {"pass": 30, "fail": 12, "waived": 2, "unknown": 4, "not_applicable": 10}
    clusters: {"assessed": 2, "unreachable": 1, "error": 0, "missing": 0}
awx_stats:
  description: A small summary for M(ansible.builtin.set_stats) - overall score, per cluster status, score and
    counts by verdict, and the compact gate (as RV(gate)).
  returned: success
  type: dict
  sample:
    score: 71.4
    clusters:
      prod-eu-1: {"status": "assessed", "score": 68.2,
                  "counts": {"pass": 15, "fail": 7, "waived": 1, "unknown": 2, "not_applicable": 4}}
      payments: {"status": "unreachable", "score": null, "counts": {}}
    gate: {"fail_on": "high", "failed": true, "message": "Gate (fail on high): FAILED - ...", "failing": ["KC-SEC-003"]}
overview:
  description:
    - The gate's message, then one line per cluster (status, score and counts, or why it was not assessed), worst
      first, at most 20 clusters (the reports list them all).
  returned: success
  type: list
  elements: str
  sample: ["Gate (fail on high): PASSED - no finding at or above high failed in 1 cluster(s).",
           "prod-eu-1: score 100.0%, 30 pass, 0 fail, 0 waived, 0 unknown, 4 not applicable"]
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog, gating, runs
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import report as renderers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_time

FILE_NAMES = {
    "json": runs.REPORT_FILE,
    "junit": "kubecompass-report.junit.xml",
    "sarif": "kubecompass-report.sarif",
    "markdown": "kubecompass-report.md",
}
DIRECTORY_MODE = 0o755
REPORT_MODE = 0o644
OVERVIEW_CLUSTERS = 20
NO_RESULT = "selected by this run, but no assessment was recorded for it (its play stopped before; see the output above)"
NOT_MERGED = "in the inventory group, but in none of the merged reports (a slice or --limit run that did not report?)"


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_reports(run, dest, formats, junit_fail_below_gate=False):
    """Render every requested format, then write each atomically; returns {format: path}.

    Rendering everything first means a renderer that raises leaves no new file behind.
    """
    texts = [(fmt, renderers.render(fmt, run, junit_fail_below_gate)) for fmt in formats]
    runs.ensure_directory(dest, DIRECTORY_MODE, "kubecompass_report_dir")
    paths = {}
    for fmt, text in texts:
        path = os.path.join(dest, FILE_NAMES[fmt])
        runs.write_atomic(path, text, REPORT_MODE)
        paths[fmt] = path
    return paths


def _badness(cluster):
    return cluster["status"] == "assessed", (cluster["summary"] or {}).get("score") or 0.0


def overview(run):
    """The gate's message, then a line per cluster, worst first (not assessed, then lowest score), at most
    OVERVIEW_CLUSTERS of them, so the job output and its event stay small for a fleet."""
    lines = [run["gate"]["message"]]
    worst_first = sorted(run["clusters"], key=_badness)
    for cluster in worst_first[:OVERVIEW_CLUSTERS]:
        if cluster["status"] != "assessed":
            lines.append("%s: %s - %s" % (cluster["cluster"], cluster["status"], cluster["error"]))
            continue
        summary = cluster["summary"]
        counts = summary["by_verdict"]
        lines.append("%s: score %s, %s" % (
            cluster["cluster"], "n/a" if summary["score"] is None else "%s%%" % summary["score"],
            ", ".join("%d %s" % (counts.get(v, 0), v.replace("_", " "))
                      for v in ("pass", "fail", "waived", "unknown", "not_applicable"))))
    if len(worst_first) > OVERVIEW_CLUSTERS:
        lines.append("... and %d more cluster(s), in the reports" % (len(worst_first) - OVERVIEW_CLUSTERS))
    return lines


def produce(results, dest, formats, fail_on, started, finished, checks, fail_on_unknown=True,
            fail_on_unreachable=True, expected=None, sources=None, junit_fail_below_gate=False):
    """Build the run from the per-cluster results (or merge partial reports), write the reports, and return the
    module's result: paths and compact summaries only, so the task's job event stays small for any fleet."""
    unique_formats = []
    for fmt in formats:
        if fmt not in FILE_NAMES:
            raise KubeCompassError("unknown report format %r (expected one of %s)"
                                   % (fmt, ", ".join(FILE_NAMES)), "input")
        if fmt not in unique_formats:
            unique_formats.append(fmt)
    fail_on = gating.severity_option("kubecompass_fail_on", fail_on)
    fail_on_unknown = gating.bool_option("kubecompass_fail_on_unknown", fail_on_unknown)
    fail_on_unreachable = gating.bool_option("kubecompass_fail_on_unreachable", fail_on_unreachable)
    junit_fail_below_gate = gating.bool_option("kubecompass_junit_fail_below_gate", junit_fail_below_gate)
    if sources is not None:
        if results:
            raise KubeCompassError("results and kubecompass_merge_sources exclude each other: report one run, or "
                                   "merge the reports of several", "input")
        records, merged_start = runs.merge(runs.read_reports(sources, renderers.SCHEMA_VERSION))
        started = merged_start or started
        missing_cause = NOT_MERGED
    else:
        records = runs.load_results(results or [])
        missing_cause = NO_RESULT
    records = records + runs.missing_records(records, expected, missing_cause)
    run = renderers.build_run(records, catalog.entries(checks), fail_on, started, finished, fail_on_unknown,
                              fail_on_unreachable)
    paths = write_reports(run, dest, unique_formats, junit_fail_below_gate)
    return {
        "paths": paths,
        "gate": gating.compact(run["gate"]),
        "summary": run["summary"],
        "awx_stats": renderers.awx_stats(run),
        "overview": overview(run),
    }


def argument_spec():
    return {
        "results": {"type": "list", "elements": "dict"},
        "sources": {"type": "raw"},  # checked by runs.read_reports, which names kubecompass_merge_sources
        "expected": {"type": "list", "elements": "str"},
        "dest": {"type": "path", "required": True},
        "formats": {"type": "list", "elements": "str", "choices": list(FILE_NAMES),
                    "default": list(FILE_NAMES)},
        # Checked by the gate, which names the playbook variables.
        "fail_on": {"type": "raw", "default": "high"},
        "fail_on_unknown": {"type": "raw", "default": True},
        "fail_on_unreachable": {"type": "raw", "default": True},
        "junit_fail_below_gate": {"type": "raw", "default": False},
        "started": {"type": "str"},
    }


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    finished = datetime.datetime.now(datetime.timezone.utc)
    try:
        started = finished
        if params["started"]:
            started = parse_time(params["started"])
            if started is None:
                raise KubeCompassError("started %r is not an RFC 3339 time" % params["started"], "input")
        if params["results"] is None and params["sources"] is None:
            raise KubeCompassError("nothing to report: give results (one run) or kubecompass_merge_sources "
                                   "(the reports of partial runs to merge)", "input")
        result = produce(params["results"], params["dest"], params["formats"], params["fail_on"],
                         rfc3339(started), rfc3339(finished), catalog.all_checks(), params["fail_on_unknown"],
                         params["fail_on_unreachable"], params["expected"], params["sources"],
                         params["junit_fail_below_gate"])
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
