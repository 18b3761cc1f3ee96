"""Namespace guardrail checks (KC-CMP-002 ResourceQuota, KC-CMP-003 LimitRange) on crafted API objects."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import guardrails
from tests.unit.plugins.module_utils._readiness.test_availability import (
    forbidden,
    limitrange,
    namespace,
    run,
    snapshot,
    verdicts,
)


def quota(name, ns, hard=None):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"hard": hard or {}}}


def test_guardrail_checks_are_namespace_scoped_for_every_tier_and_remediable():
    for check in guardrails.CHECKS:
        assert (check.area, check.item, check.scope, check.severity) == (
            "compliance", "resource-quotas-limitranges", "namespace", "medium")
        assert check.required_for == ("critical", "important", "best_effort")
        assert check.remediation == {"role": "namespace_guardrails", "tag": "guardrails"}


def test_resource_quota_per_application_namespace():
    snap = snapshot(
        "best_effort",
        namespaces=[namespace("shop"), namespace("lab", "best_effort"), namespace("empty"), namespace("kube-system"),
                    namespace("ops")],
        resourcequotas=[quota("compute", "shop", {"requests.cpu": "10", "pods": "50"}), quota("placeholder", "empty")])
    result = run("KC-CMP-002", snap, settings={"excluded_namespaces": ["ops"]})
    assert result.verdict == "fail"
    assert verdicts(result) == {("Namespace", "shop", "shop"): "pass", ("Namespace", "lab", "lab"): "fail",
                                ("Namespace", "empty", "empty"): "fail"}
    reasons = {o["name"]: o["reason"] for o in result.objects}
    assert reasons == {"shop": "ResourceQuota compute sets hard limits", "lab": "no ResourceQuota",
                       "empty": "ResourceQuota placeholder sets no hard limits"}
    assert result.message == "2 application namespace(s) have no ResourceQuota with hard limits"
    assert result.evidence == {"namespaces": 3, "failing": 2, "unknown": 0}


def test_limit_range_needs_a_container_item_with_default_and_default_request():
    snap = snapshot(
        namespaces=[namespace("shop"), namespace("pods-only"), namespace("half"), namespace("none")],
        limitranges=[limitrange("defaults", "shop", default={"memory": "512Mi"}, defaultRequest={"memory": "256Mi"}),
                     limitrange("pod-max", "pods-only", "Pod", max={"memory": "2Gi"}),
                     limitrange("requests", "half", defaultRequest={"cpu": "100m"})])
    result = run("KC-CMP-003", snap)
    assert result.verdict == "fail"
    reasons = {o["name"]: (o["verdict"], o["reason"]) for o in result.objects}
    assert reasons == {
        "shop": ("pass", "LimitRange defaults defaults container requests and limits"),
        "pods-only": ("fail", "LimitRange pod-max has no Container item with both default and defaultRequest"),
        "half": ("fail", "LimitRange requests has no Container item with both default and defaultRequest"),
        "none": ("fail", "no LimitRange"),
    }


@pytest.mark.parametrize(("check_id", "kind", "good"), [
    ("KC-CMP-002", "resourcequotas", quota("q", "shop", {"pods": "10"})),
    ("KC-CMP-003", "limitranges", limitrange("l", "shop", default={"cpu": "1"}, defaultRequest={"cpu": "1"})),
])
def test_guardrails_pass_unknown_and_not_applicable(check_id, kind, good):
    result = run(check_id, snapshot(namespaces=[namespace("shop")], **{kind: [good]}))
    assert result.verdict == "pass"
    assert result.tier_rule == guardrails.EVERY_NAMESPACE

    result = run(check_id, snapshot(namespaces=[namespace("shop", "prod")], **{kind: [good]}))
    assert result.verdict == "unknown"
    assert "kubecompass.io/tier='prod' is not a tier" in result.message

    result = run(check_id, snapshot(namespaces=[namespace("shop")], **{kind: forbidden(kind)}))
    assert result.verdict == "unknown"
    assert result.evidence == {"unreadable": kind}

    result = run(check_id, snapshot(namespaces=[namespace("kube-system"), namespace("kube-public")], **{kind: []}))
    assert result.verdict == "not_applicable"
    assert result.message == "no application namespaces"
