# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Process items no program can observe, judged from attestations (kubecompass_attestations), and whether
assessments run on schedule, judged from the history of previous reports (kubecompass_history_dir)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import attestations, history
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import Check, Result

ATTEST = ("Record the evidence as inventory data: kubecompass_attestations, one entry per item with evidence (URL, "
          "document or ticket), owner, attested date and an optional review_interval. An attestation counts until "
          "its review interval runs out; review the item and update the date.")


def _attested(item):
    def evaluate(ctx):
        return attestations.judge(ctx.snapshot.get("attestations"), item, ctx.now.date())

    evaluate.__name__ = "attested_%s" % item.replace("-", "_")
    return evaluate


def frameworks_identified(ctx):
    """The declared frameworks count only when an unexpired attestation says they are the ones that apply."""
    declared = list(ctx.settings.get("frameworks") or [])
    result = attestations.judge(ctx.snapshot.get("attestations"), "compliance-frameworks", ctx.now.date())
    evidence = dict(result.evidence, declared_frameworks=declared)
    if not declared:
        return Result("fail", "no compliance framework declared: set kubecompass_settings.frameworks (for example "
                              "[cis_kubernetes, soc2_tsc]) and attest it (%s)"
                      % attestations.how_to_attest("compliance-frameworks", ctx.now.date()), evidence)
    if result.verdict != "pass":
        return Result(result.verdict, "declared frameworks %s do not count until attested: %s"
                      % (", ".join(declared), result.message), evidence)
    return Result("pass", "%s: %s" % (", ".join(declared), result.message), evidence)


def assessments_scheduled(ctx):
    interval = ctx.settings.get("assessment_interval_days") or history.DEFAULT_INTERVAL_DAYS
    verdict, message, evidence = history.judge(ctx.snapshot.get("history"), interval, ctx.now)
    return Result(verdict, message, evidence)


CHECKS = [
    Check("KC-CMP-004", "Compliance frameworks identified and attested", "compliance", "medium",
          item="compliance-frameworks", evaluate=frameworks_identified, needs=(),
          runbook="The frameworks in kubecompass_settings.frameworks decide the audit retention KC-CMP-001 asks for "
                  "and the controls a report lists; a list nobody owns is a guess. Declare them and attest them "
                  "(item compliance-frameworks, evidence: the scoping document or audit plan). " + ATTEST),
    Check("KC-CMP-005", "Incident response plan attested", "compliance", "high",
          item="incident-response", evaluate=_attested("incident-response-plan"), needs=(),
          runbook="Who decides, who communicates and how an incident ends must be written down before one starts. "
                  "Attest the plan (item incident-response-plan). " + ATTEST),
    Check("KC-CMP-006", "On-call rotation and escalation attested", "compliance", "high",
          item="on-call-escalation", evaluate=_attested("on-call-escalation"), needs=(),
          runbook="An alert that pages nobody is not monitoring. Attest the paging schedule and escalation policy "
                  "(item on-call-escalation, reviewed quarterly by default). " + ATTEST),
    Check("KC-CMP-007", "Runbooks for common incidents attested", "compliance", "medium",
          item="incident-runbooks", evaluate=_attested("incident-runbooks"), needs=(),
          runbook="The person paged at night needs the steps for node loss, a full disk, an expired certificate "
                  "and a failed rollout. Attest the runbook index (item incident-runbooks). " + ATTEST),
    Check("KC-CMP-008", "Disaster recovery runbooks attested", "compliance", "high",
          item="dr-runbooks", evaluate=_attested("dr-runbooks"), needs=(),
          runbook="Backups and restore drills (KC-DR-*) show the data can come back; the DR runbook says who "
                  "restores what, in which order, to meet the tier's RTO. Attest it (item dr-runbooks). " + ATTEST),
    Check("KC-CMP-009", "Failover capability tested twice a year", "compliance", "high",
          item="failover", evaluate=_attested("failover-test"), needs=(), required_for=("critical",),
          runbook="A critical tier's RTO assumes the service can move to another cluster or region; only a test "
                  "shows it can. Attest the last failover test (item failover-test, every 183 days by default). "
                  + ATTEST),
    Check("KC-CMP-010", "Access reviews on cadence", "compliance", "medium",
          item="access-reviews", evaluate=_attested("access-review"), needs=(),
          runbook="KC-SEC-011 and KC-SEC-012 judge what bindings allow; whether each person still needs the "
                  "access is a review. Attest the last one (item access-review, quarterly by default). " + ATTEST),
    Check("KC-CMP-011", "Assessments run on the declared cadence", "compliance", "medium",
          item="assessments-scheduled", evaluate=assessments_scheduled, needs=(),
          runbook="Readiness drifts; an assessment that runs once proves one day. Archive each run's "
                  "kubecompass-report.json (one directory per run) in kubecompass_history_dir and declare the "
                  "cadence in kubecompass_settings.assessment_interval_days (default 30); the last three runs "
                  "must be at most that far apart, the newest no older."),
]
