"""Waivers as remediation reads them: the assessment's validation, expiry and scope rules, one implementation."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers

TODAY = datetime.date(2026, 12, 7)


def waiver(**overrides):
    entry = {"check": "KC-SEC-016", "reason": "egress to the payment gateway", "owner": "team-pay",
             "ticket": "OPS-2001", "expires": "2027-06-30"}
    entry.update(overrides)
    return entry


def namespace_object(name):
    return {"kind": "Namespace", "name": name, "namespace": name}


def test_a_namespace_waiver_covers_its_namespace_only_and_says_why():
    active, _expired = waivers.for_remediation([waiver(namespace="pay")], "c1", TODAY)
    covering = waivers.covering(active, "KC-SEC-016", namespace_object("pay"))
    assert waivers.left_alone_reason(covering) == "waived by OPS-2001 until 2027-06-30"
    assert waivers.covering(active, "KC-SEC-016", namespace_object("shop")) is None
    assert waivers.covering(active, "KC-SEC-017", namespace_object("pay")) is None


def test_a_cluster_waiver_covers_every_object_of_its_check_on_its_cluster_only():
    active, _expired = waivers.for_remediation([waiver(cluster="c1")], "c1", TODAY)
    assert waivers.covering(active, "KC-SEC-016", namespace_object("anything")) is not None
    assert waivers.covering(active, "KC-SEC-016", {"kind": None, "name": None, "namespace": None}) is not None
    other, _expired = waivers.for_remediation([waiver(cluster="c1")], "c2", TODAY)
    assert other == []


def test_an_object_waiver_covers_that_object_only():
    target = {"kind": "Deployment", "name": "web", "namespace": "shop"}
    active, _expired = waivers.for_remediation([waiver(check="KC-AVL-004", object=target)], "c1", TODAY)
    assert waivers.covering(active, "KC-AVL-004", dict(target)) is not None
    assert waivers.covering(active, "KC-AVL-004", dict(target, name="api")) is None
    assert waivers.covering(active, "KC-AVL-004", namespace_object("shop")) is None


def test_an_expired_waiver_protects_nothing_and_is_returned_as_expired():
    active, expired = waivers.for_remediation([waiver(namespace="pay", expires="2026-12-06")], "c1", TODAY)
    assert active == [] and [w["ticket"] for w in expired] == ["OPS-2001"]
    # The last day still protects.
    active, _expired = waivers.for_remediation([waiver(namespace="pay", expires="2026-12-07")], "c1", TODAY)
    assert waivers.covering(active, "KC-SEC-016", namespace_object("pay")) is not None


def test_malformed_waivers_fail_with_the_assessments_messages():
    with pytest.raises(KubeCompassError, match=r"kubecompass_waivers\[0\]: missing ticket"):
        waivers.for_remediation([waiver(ticket="")], "c1", TODAY)
    with pytest.raises(KubeCompassError, match=r"kubecompass_waivers\[1\]: unknown check ID 'KC-NOPE-001'"):
        waivers.for_remediation([waiver(), waiver(check="KC-NOPE-001")], "c1", TODAY)
