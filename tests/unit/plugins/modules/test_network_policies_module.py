"""network_policies module: waivers of KC-SEC-016 leave namespaces alone with their reason, expired ones do not."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.modules import network_policies
from tests.unit.plugins.modules.test_pod_security_module import LISTS, FakeClient, namespace, run_main

DNS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": [53]}
WAIVER = {"check": "KC-SEC-016", "reason": "egress to the payment gateway", "owner": "team-pay",
          "ticket": "OPS-2001", "expires": "2099-06-30", "namespace": "pay"}
DENY = "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/kubecompass-default-deny"


@pytest.fixture(autouse=True)
def network_policy_lists(monkeypatch):
    monkeypatch.setitem(LISTS, "/apis/networking.k8s.io/v1/networkpolicies", ("networking.k8s.io/v1", "NetworkPolicy"))
    monkeypatch.setitem(LISTS, "/api/v1/namespaces/kube-system/pods", ("v1", "Pod"))


def cluster():
    return FakeClient([namespace("pay"), namespace("shop")])


def test_a_waived_namespace_gets_no_default_deny_and_the_result_says_why(monkeypatch, capsys):
    client = cluster()
    code, result, _warned = run_main(network_policies, monkeypatch, capsys, client, dns=DNS, cluster_name="c1",
                                     waivers=[WAIVER])
    assert code == 0 and result["changed"]
    assert client.stored(DENY % "pay") is None and client.stored(DENY % "shop") is not None
    pay = [entry for entry in result["left_alone"] if entry["namespace"] == "pay"]
    assert pay[0]["reason"] == "waived by OPS-2001 until 2099-06-30" and pay[0]["waiver"]["owner"] == "team-pay"
    assert result["expired_waivers"] == []


def test_a_waiver_for_another_cluster_or_an_expired_one_does_not_protect(monkeypatch, capsys):
    for waiver in (dict(WAIVER, cluster="c2"), dict(WAIVER, expires="2020-01-01")):
        client = cluster()
        code, result, _warned = run_main(network_policies, monkeypatch, capsys, client, dns=DNS, cluster_name="c1",
                                         waivers=[waiver])
        assert code == 0 and client.stored(DENY % "pay") is not None
        assert [e["namespace"] for e in result["left_alone"] if e["namespace"] == "pay"] == []
    assert [w["ticket"] for w in result["expired_waivers"]] == ["OPS-2001"]


def test_a_malformed_waiver_fails_in_one_line_before_any_request(monkeypatch, capsys):
    client = cluster()
    code, result, _warned = run_main(network_policies, monkeypatch, capsys, client, dns=DNS, cluster_name="c1",
                                     waivers=[dict(WAIVER, ticket="")])
    assert code == 1 and result["msg"] == "network policies: kubecompass_waivers[0]: missing ticket"
    assert client.calls == []
