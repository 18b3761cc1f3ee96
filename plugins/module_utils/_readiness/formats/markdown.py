# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Markdown summary a person reads. Pure, no I/O."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.formats.common import (
    TOOL_NAME,
    gate_blocking,
    object_label,
    objects_with,
    waiver_scope,
    waiver_text,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import SEVERITIES

MARKDOWN_OBJECT_LIMIT = 5
# GitHub takes at most 1 MiB of $GITHUB_STEP_SUMMARY per step (and fails the upload above it); stay well under.
MARKDOWN_BYTE_LIMIT = 256 * 1024


def _md(text):
    """One line of prose: no line breaks, and no pipe that would split a table cell."""
    return " ".join((u"%s" % (text,)).split()).replace("|", "\\|")


def _code(text):
    text = u"%s" % (text,)
    fence = "``" if "`" in text else "`"
    return "%s%s%s" % (fence, text.replace("\n", " "), fence)


def _score(summary):
    score = (summary or {}).get("score")
    return "n/a" if score is None else "%s%%" % score


def _counts_line(by_verdict):
    return "%d pass, %d fail, %d waived, %d unknown, %d not applicable" % tuple(
        by_verdict.get(v, 0) for v in ("pass", "fail", "waived", "unknown", "not_applicable"))


def _object_lines(objects, limit):
    lines = ["  - %s: %s" % (_code(object_label(o)), _md(o.get("reason"))) for o in objects[:limit]]
    if len(objects) > limit:
        lines.append("  - ... and %d more" % (len(objects) - limit))
    return lines


def _markdown_cluster(cluster, fail_on):
    name = cluster["cluster"]
    facts = ", ".join(p for p in (cluster["distribution"], cluster["tier"] and "tier %s" % cluster["tier"]) if p)
    lines = ["## %s%s" % (_code(name), " (%s)" % facts if facts else ""), ""]
    if cluster["status"] != "assessed":
        lines += ["**Not assessed (%s):** %s" % (cluster["status"], _md(cluster["error"] or "no cause given")), ""]
        return lines
    summary = cluster["summary"]
    gather = cluster["gather"]
    lines += ["**Score %s**: %s." % (_score(summary), _counts_line(summary["by_verdict"])),
              "Gathered with %d API requests in %.1f s, evaluated in %.1f s."
              % (gather["api_requests"], gather["timings"]["gather_seconds"], gather["timings"]["evaluate_seconds"]),
              ""]
    if gather["unreadable"]:
        lines.append("Could not read: %s." % "; ".join("%s (%s)" % (_md(u.get("source")), _md(u.get("cause")))
                                                       for u in gather["unreadable"]))
        lines.append("")
    findings = cluster["findings"]
    failing = [f for f in findings if f["verdict"] == "fail"]
    if failing:
        lines += ["### Failing", ""]
        for severity in SEVERITIES:
            group = [f for f in failing if f["severity"] == severity]
            if not group:
                continue
            gate_note = " (fails the gate)" if SEVERITIES.index(severity) <= SEVERITIES.index(fail_on) else ""
            lines += ["#### %s%s" % (severity, gate_note), ""]
            for finding in group:
                waived = objects_with(finding, "waived")
                lines.append("- **%s** %s: %s%s" % (finding["check_id"], _md(finding["title"]), _md(finding["message"]),
                                                    " (%d object(s) waived)" % len(waived) if waived else ""))
                lines += _object_lines(objects_with(finding, "fail"), MARKDOWN_OBJECT_LIMIT)
            lines.append("")
    unknown = [f for f in findings if f["verdict"] == "unknown"]
    if unknown:
        lines += ["### Unknown (not counted as passed)", ""]
        for finding in unknown:
            lines.append("- **%s** %s: %s" % (finding["check_id"], _md(finding["title"]), _md(finding["message"])))
            lines += _object_lines(objects_with(finding, "unknown"), MARKDOWN_OBJECT_LIMIT)
        lines.append("")
    waived = [f for f in findings if f["verdict"] == "waived"]
    if waived:
        lines += ["### Waived", ""]
        for finding in waived:
            lines.append("- **%s** %s" % (finding["check_id"], _md(finding["title"])))
            lines += ["  - %s: %s" % (waiver_scope(w), _md(waiver_text(w))) for w in finding.get("waivers") or []]
        lines.append("")
    if cluster["expired_waivers"]:
        lines += ["### Expired waivers (no longer applied)", ""]
        lines += ["- **%s** %s: %s" % (w["check"], waiver_scope(w), _md(waiver_text(w)))
                  for w in cluster["expired_waivers"]]
        lines.append("")
    not_applicable = sum(1 for f in findings if f["verdict"] == "not_applicable")
    lines += ["Not applicable: %d check(s)." % not_applicable, ""]
    return lines


def _gate_line(run):
    """The gate's own one-line message (gating.message names every cause), its verdict in bold."""
    verdict, _sep, causes = run["gate"]["message"].partition(" - ")
    return "**%s**%s" % (_md(verdict), " - %s" % _md(causes) if causes else "")


def _worst_first(run):
    """Clusters not assessed first, then by findings failing the gate, failures, and lowest score."""
    blocking = gate_blocking(run)

    def badness(cluster):
        failing = sum(1 for f in cluster["findings"] if f["verdict"] == "fail")
        mine = sum(1 for key in blocking if key[0] == cluster["cluster"])
        score = (cluster["summary"] or {}).get("score")
        return (cluster["status"] == "assessed", -mine, -failing, 100.0 if score is None else score, cluster["cluster"])

    return sorted(run["clusters"], key=badness)


def _cut(lines, sections, limit):
    """The lines that fit in limit bytes of UTF-8, and a closing note when some did not."""
    note = ("", "**Summary cut here to stay under %d KiB** (a CI job summary takes at most 1 MiB per step): "
            "%%d of %d cluster section(s) shown in full; kubecompass-report.json has everything." % (
                limit // 1024, len(sections)))
    budget = limit - sum(len(n.encode("utf-8")) + 1 for n in note) - 16
    size = 0
    for index, line in enumerate(lines):
        size += len(line.encode("utf-8")) + 1
        if size > budget:
            shown = sum(1 for end in sections if end < index)
            return lines[:index] + [note[0], note[1] % shown]
    return lines


def render_markdown(run, limit=MARKDOWN_BYTE_LIMIT):
    """A summary a person reads, sized for $GITHUB_STEP_SUMMARY: the gate and its causes, a table of clusters
    worst first, then per cluster what to act on (most severe first); cut with a note beyond limit bytes."""
    lines = [
        "# KubeCompass readiness report",
        "",
        "Run %s to %s, %s %s." % (run.get("started"), run.get("finished"), TOOL_NAME, run["tool"]["version"]),
        "",
        _gate_line(run),
        "",
        "| cluster | distribution | tier | status | score | pass | fail | waived | unknown | not applicable |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    clusters = _worst_first(run)
    for cluster in clusters:
        by_verdict = (cluster["summary"] or {}).get("by_verdict") or {}
        cells = [cluster["cluster"], cluster["distribution"] or "-", cluster["tier"] or "-", cluster["status"],
                 _score(cluster["summary"])]
        cells += [str(by_verdict[v]) if by_verdict else "-"
                  for v in ("pass", "fail", "waived", "unknown", "not_applicable")]
        lines.append("| %s |" % " | ".join(_md(c) for c in cells))
    lines.append("")
    sections = []
    for cluster in clusters:
        lines += _markdown_cluster(cluster, run["fail_on"])
        sections.append(len(lines) - 1)
    return "\n".join(_cut(lines, sections, limit)).rstrip("\n") + "\n"
