"""waived_checks: the cluster-wide waivers that make a control-plane remediation leave the cluster alone."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.action import waived_checks
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

TODAY = datetime.date(2026, 12, 7)
AUDIT = ["KC-SEC-001", "KC-SEC-002", "KC-SEC-003"]


def waiver(**overrides):
    entry = {"check": "KC-SEC-001", "reason": "SIEM ingests the provider log", "owner": "team-platform",
             "ticket": "OPS-2001", "expires": "2027-06-30"}
    entry.update(overrides)
    return entry


def run(waivers, checks=None, cluster="c1"):
    checks = AUDIT if checks is None else checks
    return waived_checks.waived_checks({"waivers": waivers, "cluster_name": cluster, "checks": checks}, TODAY)


def test_a_cluster_wide_waiver_of_a_check_the_role_fixes_is_reported_with_ticket_and_end_date():
    result = run([waiver(), waiver(check="KC-SEC-016", ticket="OPS-9")])
    assert [item["check"] for item in result["waived"]] == ["KC-SEC-001"]
    assert result["message"] == "KC-SEC-001 waived by OPS-2001 until 2027-06-30"


def test_namespace_object_other_cluster_and_expired_waivers_do_not_cover_the_cluster():
    result = run([waiver(namespace="shop"), waiver(object={"kind": "Pod", "name": "x", "namespace": "shop"}),
                  waiver(cluster="c2"), waiver(expires="2026-12-06")])
    assert result["waived"] == [] and result["message"] == ""
    assert [w["expires"] for w in result["expired_waivers"]] == ["2026-12-06"]
    assert run([waiver(cluster="c1")])["waived"][0]["waiver"]["cluster"] == "c1"


def test_bad_waivers_and_unknown_checks_fail_in_one_line():
    with pytest.raises(KubeCompassError, match=r"kubecompass_waivers\[0\]: missing owner"):
        run([waiver(owner=None)])
    with pytest.raises(KubeCompassError, match="checks: unknown check ID KC-NOPE-1"):
        run([], checks=["KC-NOPE-1"])
