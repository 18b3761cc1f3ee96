"""Engine, tiers, waivers and selectors: the rules every check relies on."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers, waivers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context, parse_time
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import Check, Result, obj

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)


def snapshot(tier="critical", distribution="kubeadm", **kinds):
    return {"cluster": {"name": "c1", "distribution": distribution, "tier": tier, "version": {"gitVersion": "v1.36.3"}},
            "kinds": {k: ({"items": v} if isinstance(v, list) else v) for k, v in kinds.items()}}


def ns(name, tier=None):
    labels = {"kubernetes.io/metadata.name": name}
    if tier is not None:
        labels[tiers.NAMESPACE_TIER_LABEL] = tier
    return {"metadata": {"name": name, "labels": labels}}


def objects_check(ctx):
    return Result("fail", "two bad", objects=[obj("Deployment", "a", "x", "fail", "bad"),
                                              obj("Deployment", "b", "y", "fail", "bad")])


def pods_check(ctx):
    ctx.items("pods")
    return Result("pass", "fine")


CHECK_OBJECTS = Check("KC-AVL-901", "objects", "availability", "high", "pod-disruption-budgets", objects_check, ())
CHECK_PODS = Check("KC-SEC-901", "pods", "security", "critical", "audit-logging", pods_check, ("pods",))
CHECK_IMPORTANT_ONLY = Check("KC-OPS-901", "important only", "operations", "low", "monitoring-alerting",
                             lambda ctx: Result("pass", "x"), (), required_for=("important",))
CHECK_MANAGED_ONLY = Check("KC-OPS-902", "eks only", "operations", "low", "monitoring-alerting",
                           lambda ctx: Result("pass", "x"), (), distributions=("eks",))


def waiver(**overrides):
    base = {"check": "KC-AVL-901", "reason": "legacy", "owner": "team-a", "ticket": "OPS-1", "expires": "2027-01-31"}
    base.update(overrides)
    return base


def run(checks, snap, active=()):
    return engine.evaluate(checks, snap, tiers.tier_table(), {}, active, NOW)


# -- verdict plumbing -------------------------------------------------------------------------------------------


def test_unreadable_kind_makes_only_its_checks_unknown():
    snap = snapshot(pods={"error": {"category": "forbidden", "message": "forbidden: pods is forbidden"}})
    findings = {f["check_id"]: f for f in run([CHECK_PODS, CHECK_OBJECTS], snap)}
    assert findings["KC-SEC-901"]["verdict"] == "unknown"
    assert findings["KC-SEC-901"]["message"] == "could not read pods: forbidden: pods is forbidden"
    assert findings["KC-AVL-901"]["verdict"] == "fail"


def test_not_gathered_is_unknown_not_pass():
    findings = run([CHECK_PODS], snapshot())
    assert findings[0]["verdict"] == "unknown" and "not gathered" in findings[0]["message"]


def test_tier_and_distribution_applicability():
    findings = {f["check_id"]: f for f in run([CHECK_IMPORTANT_ONLY, CHECK_MANAGED_ONLY], snapshot("critical"))}
    assert findings["KC-OPS-901"]["verdict"] == "not_applicable"
    assert "not required for tier critical" in findings["KC-OPS-901"]["message"]
    assert findings["KC-OPS-902"]["verdict"] == "not_applicable"


def test_findings_carry_controls_and_tier_rule():
    finding = run([CHECK_PODS], snapshot(pods=[]))[0]
    assert finding["tier_rule"] == "cluster tier critical"
    assert {"framework": "cis_kubernetes", "id": "1.2.16", "basis": "direct"}.items() <= finding["controls"][0].items()


# -- waivers ----------------------------------------------------------------------------------------------------


def test_waiver_validation_messages():
    known = {"KC-AVL-901"}
    with pytest.raises(KubeCompassError, match=r"kubecompass_waivers\[0\]: unknown check ID 'KC-NOPE-001'"):
        waivers.validate([waiver(check="KC-NOPE-001")], known)
    with pytest.raises(KubeCompassError, match=r"\[0\]: missing expires"):
        waivers.validate([{k: v for k, v in waiver().items() if k != "expires"}], known)
    with pytest.raises(KubeCompassError, match=r"expires '31/01/2027' is not a date"):
        waivers.validate([waiver(expires="31/01/2027")], known)
    with pytest.raises(KubeCompassError, match="unknown key"):
        waivers.validate([waiver(scope="cluster")], known)
    with pytest.raises(KubeCompassError, match="must be a list"):
        waivers.validate({"check": "x"}, known)


def test_whole_check_waiver_and_expiry():
    valid = waivers.validate([waiver(), waiver(ticket="OPS-0", expires="2026-01-01")], {"KC-AVL-901"})
    active, expired = waivers.split(valid, "c1", NOW.date())
    assert [w["ticket"] for w in active] == ["OPS-1"] and [w["ticket"] for w in expired] == ["OPS-0"]
    finding = run([CHECK_OBJECTS], snapshot(), active)[0]
    assert finding["verdict"] == "waived" and finding["waivers"][0]["owner"] == "team-a"
    assert finding["message"] == "waived: two bad"
    finding = run([CHECK_OBJECTS], snapshot(), [])[0]
    assert finding["verdict"] == "fail"


def test_object_waiver_waives_only_its_object():
    valid = waivers.validate([waiver(namespace="a", object={"kind": "Deployment", "name": "x"})], {"KC-AVL-901"})
    finding = run([CHECK_OBJECTS], snapshot(), valid)[0]
    assert finding["verdict"] == "fail"
    assert [(o["name"], o["verdict"]) for o in finding["objects"]] == [("x", "waived"), ("y", "fail")]
    assert finding["message"] == "two bad (1 waived by OPS-1)"
    both = waivers.validate([waiver(namespace="a"), waiver(namespace="b")], {"KC-AVL-901"})
    assert run([CHECK_OBJECTS], snapshot(), both)[0]["verdict"] == "waived"


def test_waiver_for_another_cluster_does_not_apply():
    valid = waivers.validate([waiver(cluster="other")], {"KC-AVL-901"})
    active, _expired = waivers.split(valid, "c1", NOW.date())
    assert active == []


def test_unknown_is_never_waived():
    verdict, _objects, used = waivers.apply("KC-AVL-901", "unknown", [], waivers.validate([waiver()], {"KC-AVL-901"}))
    assert verdict == "unknown" and used == []


# -- summary and gate -------------------------------------------------------------------------------------------


def test_summary_score_counts_unknown_as_not_passed():
    findings = [
        {"check_id": "a", "area": "security", "severity": "critical", "verdict": "pass"},
        {"check_id": "b", "area": "security", "severity": "critical", "verdict": "unknown"},
        {"check_id": "c", "area": "availability", "severity": "low", "verdict": "waived"},
        {"check_id": "d", "area": "availability", "severity": "high", "verdict": "not_applicable"},
    ]
    summary = engine.summarise(findings)
    assert summary["score"] == 50.0
    assert summary["by_verdict"]["unknown"] == 1 and summary["by_area"]["availability"]["waived"] == 1
    assert engine.summarise([])["score"] is None


def test_failing_at_or_above():
    findings = [{"check_id": "a", "severity": "medium", "verdict": "fail"},
                {"check_id": "b", "severity": "critical", "verdict": "fail"},
                {"check_id": "c", "severity": "critical", "verdict": "unknown"}]
    assert [f["check_id"] for f in engine.failing_at_or_above(findings, "high")] == ["b"]
    assert [f["check_id"] for f in engine.failing_at_or_above(findings, "low")] == ["a", "b"]


# -- tiers ------------------------------------------------------------------------------------------------------


def test_tier_table_overrides_are_validated():
    assert tiers.tier_table({"critical": {"min_replicas": 3}})["critical"]["min_replicas"] == 3
    with pytest.raises(KubeCompassError, match="unknown tier 'gold'"):
        tiers.tier_table({"gold": {}})
    with pytest.raises(KubeCompassError, match="unknown threshold 'replicas'"):
        tiers.tier_table({"critical": {"replicas": 3}})
    with pytest.raises(KubeCompassError, match="non-negative number"):
        tiers.tier_table({"critical": {"min_replicas": "three"}})
    with pytest.raises(KubeCompassError, match="'gold' is not a tier"):
        tiers.validate_tier("gold")


def test_namespace_tier_label():
    ctx = Context(snapshot("important", namespaces=[ns("a"), ns("b", "critical"), ns("c", "gold"), ns("kube-system")]),
                  tiers.tier_table())
    assert [n["metadata"]["name"] for n, *_rest in ctx.application_namespaces()] == ["a", "b", "c"]
    assert ctx.tier_of("a")[0] == "important"
    assert ctx.tier_of("b")[:2] == ("critical", "namespace label kubecompass.io/tier=critical")
    tier, _rule, error = ctx.tier_of("c")
    assert tier is None and "'gold' is not a tier" in error


# -- time -----------------------------------------------------------------------------------------------


def test_parse_time_forms():
    assert parse_time("2026-11-22T10:00:00Z") == datetime.datetime(2026, 11, 22, 10, tzinfo=datetime.UTC)
    assert parse_time("2026-11-22T10:00:00.123456789Z").microsecond == 123456
    assert parse_time("not a time") is None and parse_time(None) is None
