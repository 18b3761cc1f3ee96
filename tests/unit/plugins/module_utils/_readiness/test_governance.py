"""Attestations (kubecompass_attestations) and the run history (kubecompass_history_dir): the process items no
program can observe (KC-CMP-004..010) and whether assessments run on schedule (KC-CMP-011), on a fixed clock."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import (
    attestations,
    catalog,
    engine,
    history,
    tiers,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.assess import assess
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import governance
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

CHECKS = {c.id: c for c in governance.CHECKS}
NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.UTC)
TODAY = NOW.date()
ATTESTED_CHECKS = {"KC-CMP-005": "incident-response-plan", "KC-CMP-006": "on-call-escalation",
                   "KC-CMP-007": "incident-runbooks", "KC-CMP-008": "dr-runbooks", "KC-CMP-009": "failover-test",
                   "KC-CMP-010": "access-review"}


def attestation(item, attested, **extra):
    return dict({"item": item, "evidence": "https://wiki.example/%s" % item, "owner": "team-platform",
                 "attested": attested}, **extra)


def run(check_id, entries=(), tier="critical", settings=None, history_entry=None, now=NOW):
    snapshot = {"cluster": {"name": "c1", "distribution": "kubeadm", "tier": tier}, "kinds": {}, "nodes": None,
                "attestations": attestations.validate(list(entries), now.date()), "history": history_entry}
    return engine.run_check(CHECKS[check_id], Context(snapshot, tiers.tier_table(), settings or {}, now=now))


def days_ago(days):
    return (TODAY - datetime.timedelta(days=days)).isoformat()


def test_catalog_entries():
    assert sorted(CHECKS) == ["KC-CMP-0%02d" % n for n in range(4, 12)]
    assert {c.area for c in CHECKS.values()} == {"compliance"}
    assert CHECKS["KC-CMP-009"].required_for == ("critical",)
    assert {c.id for c in catalog.all_checks()} >= set(CHECKS)


# -- malformed input: one line naming the entry and the problem ---------------------------------------------------

MALFORMED = [
    ({"item": "dr-runbooks"}, "kubecompass_attestations must be a list of attestations, not {'item': 'dr-runbooks'}"),
    (["dr-runbooks"], "kubecompass_attestations[0] must be a mapping, not 'dr-runbooks'"),
    ([attestation("dr-runbooks", "2026-11-01", ticket="OPS-1")], "kubecompass_attestations[0]: unknown key(s) ticket"),
    ([{"item": "dr-runbooks", "owner": "team"}], "kubecompass_attestations[0]: missing evidence, attested"),
    ([attestation("dr-runbooks", "2026-11-01"), attestation("dr-runbook", "2026-11-01")],
     "kubecompass_attestations[1]: unknown item 'dr-runbook' (expected one of compliance-frameworks, "
     "incident-response-plan, on-call-escalation, incident-runbooks, dr-runbooks, failover-test, access-review)"),
    ([attestation("dr-runbooks", "01/11/2026")],
     "kubecompass_attestations[0]: attested '01/11/2026' is not a date (YYYY-MM-DD)"),
    ([attestation("dr-runbooks", "2026-12-08")], "kubecompass_attestations[0]: attested 2026-12-08 is in the future"),
    ([attestation("dr-runbooks", "2026-11-01", review_interval=0)],
     "kubecompass_attestations[0]: review_interval 0 must be a number of days from 1 to 3660 or one of monthly, "
     "quarterly, twice_a_year, yearly"),
    ([attestation("dr-runbooks", "2026-11-01", review_interval="weekly")],
     "kubecompass_attestations[0]: review_interval 'weekly' must be a number of days"),
    ([attestation("dr-runbooks", "2026-11-01", review_interval=True)],
     "kubecompass_attestations[0]: review_interval True must be"),
]


@pytest.mark.parametrize("entries, message", MALFORMED)
def test_a_malformed_attestation_is_one_line_naming_it(entries, message):
    with pytest.raises(KubeCompassError) as raised:
        attestations.validate(entries, TODAY)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert raised.value.category == "input"


def test_assess_refuses_a_malformed_attestation_before_any_request():
    with pytest.raises(KubeCompassError, match=r"^kubecompass_attestations\[0\]: missing owner$"):
        assess(None, "c1", "critical", distribution="eks", now=NOW,
               attestations=[{"item": "dr-runbooks", "evidence": "DR-1", "attested": "2026-11-01"}])


def test_yaml_scalars_are_normalised():
    [entry] = attestations.validate([attestation("access-review", datetime.date(2026, 11, 1), evidence=4711,
                                                 review_interval="quarterly")], TODAY)
    assert (entry["evidence"], entry["attested"], entry["review_interval_days"]) == (
        "4711", datetime.date(2026, 11, 1), 92)


# -- verdicts on a fixed clock -------------------------------------------------------------------------------------

VERDICTS = [
    # (entries, verdict, words in the message)
    ([], "fail", ["no attestation of disaster recovery runbooks",
                  "add to kubecompass_attestations: {item: dr-runbooks, evidence: <the DR runbook: URL, document or "
                  "ticket>, owner: <team>, attested: 2026-12-07, review_interval: 366}"]),
    ([attestation("dr-runbooks", days_ago(0))], "pass", ["attested by team-platform on 2026-12-07",
                                                         "next review by 2027-12-08"]),
    ([attestation("dr-runbooks", days_ago(366))], "pass", ["next review by 2026-12-07"]),
    ([attestation("dr-runbooks", days_ago(367))], "fail", ["expired on 2026-12-06 (review every 366 days)",
                                                           "kubecompass_attestations[0]"]),
    ([attestation("dr-runbooks", days_ago(40), review_interval=30)], "fail", ["expired on 2026-11-27"]),
    ([attestation("dr-runbooks", days_ago(400)), attestation("dr-runbooks", days_ago(10))], "pass",
     ["on 2026-11-27"]),
    ([attestation("dr-runbooks", days_ago(10), cluster="other")], "fail", ["no attestation"]),
    ([attestation("dr-runbooks", days_ago(10), cluster="c1")], "pass", ["on 2026-11-27"]),
    ([attestation("incident-runbooks", days_ago(10))], "fail", ["no attestation of disaster recovery runbooks"]),
]


@pytest.mark.parametrize("entries, verdict, words", VERDICTS)
def test_dr_runbooks_verdicts(entries, verdict, words):
    entries = attestations.for_cluster(attestations.validate(entries, TODAY), "c1")
    result = attestations.judge(entries, "dr-runbooks", TODAY)
    assert result.verdict == verdict
    for word in words:
        assert word in result.message


@pytest.mark.parametrize("check_id, item", sorted(ATTESTED_CHECKS.items()))
def test_each_process_check_passes_only_on_unexpired_evidence(check_id, item):
    default_days = attestations.ITEMS[item][0]
    assert run(check_id).verdict == "fail"
    assert "add to kubecompass_attestations: {item: %s" % item in run(check_id).message
    fresh = run(check_id, [attestation(item, days_ago(default_days))])
    assert fresh.verdict == "pass" and fresh.evidence["attestation"]["owner"] == "team-platform"
    assert run(check_id, [attestation(item, days_ago(default_days + 1))]).verdict == "fail"


def test_the_review_interval_defaults_follow_the_definition():
    assert attestations.ITEMS["failover-test"][0] == 183  # twice a year
    assert attestations.ITEMS["access-review"][0] == attestations.NAMED_INTERVALS["quarterly"]


def test_failover_is_judged_on_critical_clusters_only():
    assert run("KC-CMP-009", tier="important").verdict == "not_applicable"
    assert run("KC-CMP-009", tier="critical").verdict == "fail"


def test_the_clock_decides_expiry():
    entries = [attestation("on-call-escalation", "2026-09-01")]
    assert run("KC-CMP-006", entries, now=NOW.replace(month=10)).verdict == "pass"
    assert run("KC-CMP-006", entries, now=NOW).verdict == "fail"


FRAMEWORKS = [
    ({}, [], "fail", "no compliance framework declared"),
    ({}, [attestation("compliance-frameworks", days_ago(1))], "fail", "no compliance framework declared"),
    ({"frameworks": ["hipaa_security_rule"]}, [], "fail",
     "declared frameworks hipaa_security_rule do not count until attested: no attestation"),
    ({"frameworks": ["soc2_tsc"]}, [attestation("compliance-frameworks", days_ago(400))], "fail",
     "declared frameworks soc2_tsc do not count until attested: the attestation"),
    ({"frameworks": ["soc2_tsc", "fedramp_moderate"]}, [attestation("compliance-frameworks", days_ago(1))], "pass",
     "soc2_tsc, fedramp_moderate: the compliance frameworks"),
]


@pytest.mark.parametrize("settings, entries, verdict, words", FRAMEWORKS)
def test_declared_frameworks_count_only_when_attested(settings, entries, verdict, words):
    result = run("KC-CMP-004", entries, settings=settings)
    assert (result.verdict, words in result.message) == (verdict, True), result.message


# -- assessments scheduled: the run history --------------------------------------------------------------------------

def write_report(directory, started, clusters, name="kubecompass-report.json"):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps({"schema_version": 1, "started": started, "clusters": clusters}))


def assessed(cluster="c1", status="assessed"):
    return {"cluster": cluster, "status": status}


def test_history_reads_the_runs_that_assessed_the_cluster(tmp_path):
    write_report(tmp_path / "run-1", "2026-11-20T03:00:00Z", [assessed(), assessed("c2")])
    write_report(tmp_path / "run-2", "2026-11-27T03:00:00Z", [assessed("c1", "error")])
    write_report(tmp_path / "run-3", "2026-12-04T03:00:00Z", [assessed()])
    write_report(tmp_path, "2026-10-01T03:00:00Z", [assessed()], name="old.json")
    (tmp_path / "run-4").mkdir()
    (tmp_path / "run-4" / "kubecompass-report.json").write_text("{truncated")
    write_report(tmp_path / "run-5", None, [assessed()])
    read = history.read(str(tmp_path), "c1")
    assert [run.date().isoformat() for run in read["runs"]] == ["2026-10-01", "2026-11-20", "2026-12-04"]
    assert len(read["skipped"]) == 2 and "run-4" in read["skipped"][0] and "not a kubecompass report" in \
        read["skipped"][1]


def test_an_unreadable_history_dir_is_unknown_with_the_cause(tmp_path):
    read = history.read(str(tmp_path / "missing"), "c1")
    result = run("KC-CMP-011", history_entry=read)
    assert result.verdict == "unknown" and "kubecompass_history_dir" in result.message


def runs_at(*days):
    return {"runs": [NOW - datetime.timedelta(days=d) for d in sorted(days, reverse=True)], "skipped": []}


SCHEDULES = [
    (None, {}, "fail", "no run history to judge the schedule by"),
    (runs_at(), {}, "fail", "0 previous run(s)"),
    (runs_at(3), {}, "fail", "1 previous run(s)"),
    (runs_at(3, 33, 63), {}, "pass", "the last 3 runs are at most 30 days apart"),
    (runs_at(3, 40, 63), {}, "fail", "37 days apart, more than the declared 30"),
    (runs_at(40, 70), {}, "fail", "the last run was on 2026-10-28, 40 days ago"),
    (runs_at(1, 8, 15), {"assessment_interval_days": 7}, "pass", "at most 7 days apart"),
    (runs_at(1, 12, 15), {"assessment_interval_days": 7}, "fail", "11 days apart, more than the declared 7"),
    (runs_at(-1, 3, 33), {}, "pass", "the last 2 runs"),  # a report dated after now is not a previous run
]


@pytest.mark.parametrize("entry, settings, verdict, words", SCHEDULES)
def test_assessments_scheduled(entry, settings, verdict, words):
    result = run("KC-CMP-011", settings=settings, history_entry=entry)
    assert (result.verdict, words in result.message) == (verdict, True), result.message


def test_assess_judges_the_history_dir_and_attestations_with_the_injected_clock(tmp_path):
    for index, day in enumerate((20, 13, 6)):
        write_report(tmp_path / str(index), (NOW - datetime.timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     [assessed("c1")])
    result = assess(None, "c1", "critical", distribution="eks", now=NOW, history_dir=str(tmp_path),
                    settings={"assessment_interval_days": 7},
                    attestations=[attestation("failover-test", days_ago(100), cluster="c1"),
                                  attestation("access-review", days_ago(100))],
                    include=["KC-CMP-009", "KC-CMP-010", "KC-CMP-011"])
    verdicts = {f["check_id"]: f["verdict"] for f in result["findings"]}
    assert verdicts == {"KC-CMP-009": "pass", "KC-CMP-010": "fail", "KC-CMP-011": "pass"}
