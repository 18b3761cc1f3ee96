"""namespace_guardrails module: quota, limits and the default ServiceAccount applied per namespace, server-side."""

from __future__ import annotations

import copy
import json

from ansible_collections.kubecompass.readiness.plugins.modules import namespace_guardrails
from tests.unit.plugins.modules.test_pod_security_module import (
    FakeClient,
    namespace,
    only_reads_and_dry_runs,
    run_main,
)

QUOTA = "/api/v1/namespaces/%s/resourcequotas/kubecompass-quota"
LIMITS = "/api/v1/namespaces/%s/limitranges/kubecompass-limits"
ACCOUNT = "/api/v1/namespaces/%s/serviceaccounts/default"


def account(ns, automount=None):
    obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}
    if automount is not None:
        obj["automountServiceAccountToken"] = automount
    return obj


def pod(ns, name, service_account="default", automount=None):
    spec = {"serviceAccountName": service_account, "containers": [
        {"name": "app", "image": "registry.example/app:1",
         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec,
            "status": {"phase": "Running"}}


def user_quota(ns):
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "team", "namespace": ns},
            "spec": {"hard": {"requests.cpu": "64", "requests.memory": "16Gi", "limits.cpu": "16",
                              "limits.memory": "32Gi", "pods": "100", "services.loadbalancers": "1",
                              "persistentvolumeclaims": "20"}}}


def params(**overrides):
    base = {"tier": "important", "tiers": None, "excluded_namespaces": [], "overrides": None, "automount": True,
            "force": [], "waivers": [], "cluster_name": None}
    base.update(overrides)
    return base


def cluster(**options):
    return FakeClient([
        namespace("kube-system"), account("kube-system"),
        # web-0 asks for the token itself: it keeps it after the default ServiceAccount stops automounting.
        namespace("shop"), account("shop"), pod("shop", "web-0", automount=True), pod("shop", "api-0", automount=False),
        namespace("team"), account("team", automount=False), user_quota("team"), pod("team", "job-0", "runner"),
    ], **options)


def by_name(result):
    return {entry["namespace"]: entry for entry in result["namespaces"]}


def test_check_mode_sends_only_reads_and_dry_runs_and_diffs_every_object():
    client = cluster()
    before = copy.deepcopy(client.objects)
    result = namespace_guardrails.run(client, params(), check_mode=True)
    assert only_reads_and_dry_runs(client) and client.objects == before
    assert result["changed"] is True
    assert [d["before_header"] for d in result["diff"]] == [
        "LimitRange shop/kubecompass-limits", "ResourceQuota shop/kubecompass-quota", "ServiceAccount shop/default",
        "LimitRange team/kubecompass-limits"]
    account_diff = result["diff"][2]
    assert "automountServiceAccountToken" not in json.loads(account_diff["before"])
    assert json.loads(account_diff["after"])["automountServiceAccountToken"] is False
    assert by_name(result)["shop"]["applied"][0] == {"object": "LimitRange shop/kubecompass-limits",
                                                     "action": "created"}


def test_objects_are_applied_limit_range_first_and_the_default_account_stops_automounting():
    client = cluster()
    result = namespace_guardrails.run(client, params(), check_mode=False)
    writes = [c[1] for c in client.writes()]
    assert writes == [LIMITS % "shop", QUOTA % "shop", ACCOUNT % "shop", LIMITS % "team"]
    sent = [c[4] for c in client.writes()]
    assert sent[2] == {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": "default", "namespace": "shop"}, "automountServiceAccountToken": False}
    assert client.stored(QUOTA % "shop")["spec"]["hard"]["requests.cpu"] == "8"
    assert client.stored(LIMITS % "shop")["spec"]["limits"][0]["type"] == "Container"
    assert client.stored(ACCOUNT % "shop")["automountServiceAccountToken"] is False
    # team has a quota of its own: none of ours, the weaker one reported.
    assert client.stored(QUOTA % "team") is None
    assert result["weaker"] == {"team": ["ResourceQuota team: requests.cpu 64 is above the important default 8"]}
    assert result["token_pods"] == {"shop": ["web-0"]}
    assert [s["namespace"] for s in result["left_alone"]] == ["kube-system"]
    assert result["failed_namespaces"] == {}


def test_a_second_run_changes_nothing():
    client = cluster()
    namespace_guardrails.run(client, params(), check_mode=False)
    client.calls.clear()
    result = namespace_guardrails.run(client, params(), check_mode=False)
    assert result["changed"] is False and client.writes() == [] and result["diff"] == []
    assert {a["action"] for e in result["namespaces"] for a in e["applied"]} == {"unchanged"}
    # Ours exists now, but it is judged as ours: it is re-applied, not reported as weaker.
    assert result["weaker"] == {"team": ["ResourceQuota team: requests.cpu 64 is above the important default 8"]}


def test_automount_false_leaves_the_default_accounts_alone():
    client = cluster()
    result = namespace_guardrails.run(client, params(automount=False), check_mode=False)
    assert ACCOUNT % "shop" not in [c[1] for c in client.calls if c[0] == "PATCH"]
    assert "automountServiceAccountToken" not in client.stored(ACCOUNT % "shop")
    assert by_name(result)["shop"]["service_account"]["patch"] == {"automountServiceAccountToken": False}


def test_a_failing_namespace_is_reported_and_the_others_are_handled():
    client = cluster(fail={LIMITS % "shop": 403, LIMITS % "team": 404})
    result = namespace_guardrails.run(client, params(), check_mode=False)
    assert result["failed_namespaces"]["team"] == "namespace no longer exists"
    assert result["failed_namespaces"]["shop"].startswith("LimitRange shop/kubecompass-limits: forbidden")
    # shop stopped at its first object: no quota without the LimitRange that defaults the pods.
    assert client.stored(QUOTA % "shop") is None and by_name(result)["shop"]["applied"] == []
    assert by_name(result)["shop"]["error"] == result["failed_namespaces"]["shop"]

    client = cluster(fail={LIMITS % "team": 404})
    result = namespace_guardrails.run(client, params(), check_mode=False)
    assert list(result["failed_namespaces"]) == ["team"]
    assert client.stored(QUOTA % "shop") is not None and result["changed"] is True


def test_tiers_overrides_and_exclusions_reach_the_plan():
    client = cluster()
    result = namespace_guardrails.run(client, params(
        tiers=["important"], excluded_namespaces=["team"],
        overrides={"namespaces": {"shop": {"quota": {"requests.cpu": "12", "limits.cpu": "24"}}}}), check_mode=False)
    assert client.stored(QUOTA % "shop")["spec"]["hard"]["requests.cpu"] == "12"
    assert [s["namespace"] for s in result["left_alone"]] == ["kube-system", "team"]
    client = cluster()
    result = namespace_guardrails.run(client, params(tiers=["critical"]), check_mode=False)
    assert result["namespaces"] == [] and client.writes() == []


def test_main_holds_a_quota_running_pods_exceed_and_fails_naming_the_failed_namespace(monkeypatch, capsys):
    client = cluster(fail={LIMITS % "team": 403})
    for index in range(3):
        client.add(pod("shop", "batch-%d" % index, automount=True))
    code, result, warned = run_main(
        namespace_guardrails, monkeypatch, capsys, client, host="https://fake:6443",
        overrides={"important": {"quota": {"pods": "2"}}})
    assert code == 1 and "(team: LimitRange team/kubecompass-limits: forbidden" in result["msg"]
    assert "namespace shop: held (force to apply): ResourceQuota shop/kubecompass-quota - pods already in use is 5, " \
           "above the planned important quota 2" in warned
    assert result["held"] == {"shop": ["ResourceQuota shop/kubecompass-quota - pods already in use is 5, above the "
                                       "planned important quota 2"]}
    assert client.stored(QUOTA % "shop") is None and client.stored(LIMITS % "shop") is not None

    code, result, warned = run_main(
        namespace_guardrails, monkeypatch, capsys, client, host="https://fake:6443",
        overrides={"important": {"quota": {"pods": "2"}}}, force=["quota"])
    assert client.stored(QUOTA % "shop")["spec"]["hard"]["pods"] == "2" and "shop" not in result["held"]
    assert any("ResourceQuota shop/kubecompass-quota forced: pods already in use is 5" in w for w in warned)


def test_default_account_is_left_alone_while_pods_depend_on_it_unless_forced():
    client = cluster()
    client.add(pod("shop", "worker-0"))
    result = namespace_guardrails.run(client, params(), check_mode=False)
    assert "automountServiceAccountToken" not in client.stored(ACCOUNT % "shop")
    assert result["held"]["shop"][0].startswith(
        "ServiceAccount shop/default - 1 running pod(s) get the token from the default ServiceAccount's setting")
    assert client.stored(QUOTA % "shop") is not None and result["changed"] is True
    # automount off: the ServiceAccount is not the module's business, so nothing about it is held either.
    assert "shop" not in namespace_guardrails.run(client, params(automount=False), check_mode=True)["held"]
    result = namespace_guardrails.run(client, params(force=["service_account"]), check_mode=False)
    assert client.stored(ACCOUNT % "shop")["automountServiceAccountToken"] is False and result["held"] == {}


def guardrail_waiver(check, **scope):
    return dict({"check": check, "reason": "batch jobs size themselves", "owner": "team-shop", "ticket": "OPS-2003",
                 "expires": "2099-06-30"}, **scope)


def test_a_waived_guardrail_is_left_alone_in_its_namespace_and_the_others_are_applied():
    client = cluster()
    result = namespace_guardrails.run(client, params(waivers=[guardrail_waiver("KC-CMP-002", namespace="shop")],
                                                     cluster_name="c1"), check_mode=False)
    assert client.stored(QUOTA % "shop") is None
    assert client.stored(LIMITS % "shop") is not None and client.stored(ACCOUNT % "shop")["automountServiceAccountToken"] is False
    waived = [e for e in result["left_alone"] if e.get("check")]
    assert [(e["namespace"], e["check"], e["object"], e["reason"]) for e in waived] == [
        ("shop", "KC-CMP-002", "ResourceQuota", "waived by OPS-2003 until 2099-06-30")]


def test_a_namespace_with_every_guardrail_waived_is_left_alone_and_an_expired_waiver_does_not_protect():
    waivers = [guardrail_waiver(check, namespace="shop") for check in ("KC-CMP-002", "KC-CMP-003", "KC-SEC-014")]
    client = cluster()
    result = namespace_guardrails.run(client, params(waivers=waivers, cluster_name="c1"), check_mode=False)
    assert [c[1] for c in client.writes()] == [LIMITS % "team"]
    shop = [e for e in result["left_alone"] if e["namespace"] == "shop"]
    assert len(shop) == 1 and "ResourceQuota: waived by OPS-2003 until 2099-06-30" in shop[0]["reason"]
    client = cluster()
    expired = [dict(w, expires="2020-01-01") for w in waivers]
    result = namespace_guardrails.run(client, params(waivers=expired, cluster_name="c1"), check_mode=False)
    assert client.stored(QUOTA % "shop") is not None and len(result["expired_waivers"]) == 3
