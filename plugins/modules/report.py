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
  - Takes the per-cluster results of M(kubecompass.readiness.assess) (and the records of clusters that could not
    be assessed), and writes one report per format into O(dest) - C(kubecompass-report.json) (the full report,
    schema in C(docs/report-schema.json)), C(kubecompass-report.junit.xml), C(kubecompass-report.sarif)
    (SARIF 2.1.0) and C(kubecompass-report.md).
  - Decides the gate - the run fails when a finding at or above O(fail_on) failed (waived findings do not
    count), when one is unknown (unless O(fail_on_unknown=false)), or when a cluster could not be assessed,
    because nothing is known about it.
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
      - One entry per cluster, as returned by M(kubecompass.readiness.assess), or for a cluster that could not
        be assessed a dict with C(cluster), C(status) (C(unreachable) or C(error)), C(error) (one line),
        and optionally C(distribution) and C(tier).
      - Other keys (for example Ansible's C(changed) and C(invocation) in a registered result) are ignored.
    type: list
    elements: dict
    required: true
  dest:
    description:
      - Directory to write the reports to. Created with mode C(0755) when missing (parents too).
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
      - Gate threshold. A failed finding of this severity or a more severe one fails the gate.
    type: str
    choices: [critical, high, medium, low, info]
    default: high
  fail_on_unknown:
    description:
      - Whether a finding at or above O(fail_on) that could not be decided (C(unknown)) fails the gate too.
        Unknown is never a pass; set false only to gate on known failures while access is being sorted out.
    type: bool
    default: true
  junit_fail_below_gate:
    description:
      - Whether the JUnit report marks every failed finding C(<failure>) and every unknown one C(<error>), also those
        the gate does not count (below O(fail_on), or unknown with O(fail_on_unknown=false))
        (C(kubecompass_junit_fail_below_gate), a boolean).
      - By default those are C(<skipped>) with their details, so a CI test widget turns red exactly when findings
        fail the gate.
    type: bool
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
    results: "{{ groups['k8s_clusters'] | map('extract', hostvars, '__kubecompass_assessment') | list }}"
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
    fail_msg: "{{ report.gate.failing | length }} failing finding(s); see {{ report.paths.markdown }}"

- name: Only SARIF for code scanning, gating on critical findings
  kubecompass.readiness.report:
    results: "{{ results }}"
    dest: /var/tmp/kubecompass
    formats: [sarif]
    fail_on: critical
    started: "{{ run_started }}"
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
  description: The gate decision.
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
    failed:
      description: True when a finding at or above O(fail_on) failed (or was unknown, with O(fail_on_unknown)) or a
        cluster was not assessed.
      type: bool
      sample: true
    failing:
      description: Failing findings at or above O(fail_on), each with C(cluster), C(check_id) and C(severity).
      type: list
      elements: dict
      sample: [{"cluster": "prod-eu-1", "check_id": "KC-SEC-003", "severity": "critical"}]
    unknown:
      description: Unknown findings at or above O(fail_on), each with C(cluster), C(check_id) and C(severity).
      type: list
      elements: dict
      sample: [{"cluster": "prod-eu-1", "check_id": "KC-SEC-005", "severity": "critical"}]
    unreachable:
      description: Clusters that were not assessed (unreachable or stopped on an input error).
      type: list
      elements: str
      sample: ["payments"]
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
    clusters: {"assessed": 2, "unreachable": 1, "error": 0}
awx_stats:
  description: A small summary for M(ansible.builtin.set_stats) - overall score, per cluster status, score and
    counts by verdict, and the gate with failing findings as C(cluster:check_id).
  returned: success
  type: dict
  sample:
    score: 71.4
    clusters:
      prod-eu-1: {"status": "assessed", "score": 68.2,
                  "counts": {"pass": 15, "fail": 7, "waived": 1, "unknown": 2, "not_applicable": 4}}
      payments: {"status": "unreachable", "score": null, "counts": {}}
    gate: {"fail_on": "high", "fail_on_unknown": true, "failed": true, "failing": ["prod-eu-1:KC-SEC-003"],
           "unknown": [], "unreachable": ["payments"]}
markdown:
  description: The Markdown summary, also when C(markdown) is not among O(formats).
  returned: success
  type: str
  sample: "# KubeCompass readiness report\n\n..."
"""

import contextlib
import datetime
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import report as renderers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_time
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import SEVERITIES

FILE_NAMES = {
    "json": "kubecompass-report.json",
    "junit": "kubecompass-report.junit.xml",
    "sarif": "kubecompass-report.sarif",
    "markdown": "kubecompass-report.md",
}
DIRECTORY_MODE = 0o755
REPORT_MODE = 0o644


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ensure_directory(dest):
    if os.path.isdir(dest):
        return
    if os.path.lexists(dest):
        raise KubeCompassError("dest %s exists and is not a directory" % dest, "input")
    try:
        os.makedirs(dest, DIRECTORY_MODE)
        os.chmod(dest, DIRECTORY_MODE)  # makedirs' mode is filtered by the umask
    except OSError as exc:
        raise KubeCompassError("cannot create report directory %s: %s" % (dest, exc), "io") from None


def write_atomic(path, text):
    """Write text to path through a temporary file in the same directory; on any error remove the temporary."""
    directory, name = os.path.split(path)
    handle, temporary = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, REPORT_MODE)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, (OSError, UnicodeError)):
            raise KubeCompassError("cannot write %s: %s" % (path, exc), "io") from None
        raise


def write_reports(run, dest, formats, junit_fail_below_gate=False):
    """Render every requested format, then write each atomically; returns {format: path}.

    Rendering everything first means a renderer that raises leaves no new file behind.
    """
    texts = [(fmt, renderers.render(fmt, run, junit_fail_below_gate)) for fmt in formats]
    ensure_directory(dest)
    paths = {}
    for fmt, text in texts:
        path = os.path.join(dest, FILE_NAMES[fmt])
        write_atomic(path, text)
        paths[fmt] = path
    return paths


def produce(results, dest, formats, fail_on, started, finished, checks, fail_on_unknown=True,
            junit_fail_below_gate=False):
    """Build the run from the per-cluster results, write the reports, and return the module's result."""
    unique_formats = []
    for fmt in formats:
        if fmt not in FILE_NAMES:
            raise KubeCompassError("unknown report format %r (expected one of %s)"
                                   % (fmt, ", ".join(FILE_NAMES)), "input")
        if fmt not in unique_formats:
            unique_formats.append(fmt)
    run = renderers.build_run(results, catalog.entries(checks), fail_on, started, finished, fail_on_unknown)
    paths = write_reports(run, dest, unique_formats, junit_fail_below_gate)
    return {
        "paths": paths,
        "gate": run["gate"],
        "summary": run["summary"],
        "awx_stats": renderers.awx_stats(run),
        "markdown": renderers.render_markdown(run),
    }


def argument_spec():
    return {
        "results": {"type": "list", "elements": "dict", "required": True},
        "dest": {"type": "path", "required": True},
        "formats": {"type": "list", "elements": "str", "choices": list(FILE_NAMES),
                    "default": list(FILE_NAMES)},
        "fail_on": {"type": "str", "choices": list(SEVERITIES), "default": "high"},
        "fail_on_unknown": {"type": "bool", "default": True},
        "junit_fail_below_gate": {"type": "bool", "default": False},
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
        result = produce(params["results"], params["dest"], params["formats"], params["fail_on"],
                         rfc3339(started), rfc3339(finished), catalog.all_checks(), params["fail_on_unknown"],
                         params["junit_fail_below_gate"])
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
