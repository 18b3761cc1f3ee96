"""velero_schedules module: per-tier Schedules applied server-side after a dry run, check mode, idempotence, user
Schedules untouched, Velero absent and storage location errors."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import velero_schedules
from tests.unit.plugins.modules.test_pod_security_module import (
    FakeClient,
    namespace,
    only_reads_and_dry_runs,
    run_main,
)

OURS = "/apis/velero.io/v1/namespaces/velero/schedules/kubecompass-%s"
USER = "/apis/velero.io/v1/namespaces/velero/schedules/team-hourly"
MANAGED = {"app.kubernetes.io/managed-by": "kubecompass.readiness"}


def location(name="default", default=True):
    return {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": name, "namespace": "velero"},
            "spec": {"provider": "aws", "default": default, "objectStorage": {"bucket": "backups"}},
            "status": {"phase": "Available"}}


def user_schedule():
    return {"apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": {"name": "team-hourly", "namespace": "velero", "labels": {"team": "platform"}},
            "spec": {"schedule": "0 * * * *", "template": {"includedNamespaces": ["logs", "shop"], "ttl": "720h0m0s"}},
            "status": {"phase": "Enabled", "lastBackup": "2026-03-10T11:00:00Z"}}


def params(**overrides):
    base = {"tier": "important", "tiers": None, "velero_namespace": "velero", "storage_location": None, "ttl": None,
            "volume_backup": "server_default", "near_zero_interval_minutes": 5, "excluded_namespaces": ["velero"],
            "rpo_evidence": [], "tier_thresholds": None, "waivers": [], "cluster_name": None}
    base.update(overrides)
    return base


def cluster(*extra, **options):
    return FakeClient([
        namespace("kube-system"), namespace("velero"), namespace("shop"),
        namespace("vault", **{"kubecompass.io/tier": "critical"}),
        namespace("logs", **{"kubecompass.io/tier": "best_effort"}),
        location(), user_schedule(), *extra], **options)


class NoVelero(FakeClient):
    """The velero.io API is not served: every LIST there answers 404, as for a CRD not installed."""

    def list(self, path, query=None, page_size=500):
        if path.startswith("/apis/velero.io/"):
            raise self.status_error(404, {"message": "the server could not find the requested resource"}, path)
        return super().list(path, query, page_size)


def by_tier(result):
    return {entry["tier"]: entry for entry in result["schedules"]}


def test_check_mode_sends_only_reads_and_dry_runs_and_diffs_every_schedule():
    client = cluster()
    before = copy.deepcopy(client.objects)
    result = velero_schedules.run(client, params(), check_mode=True)
    assert only_reads_and_dry_runs(client) and client.objects == before
    assert result["changed"] is True
    assert [d["before_header"] for d in result["diff"]] == [
        "Schedule velero/kubecompass-critical", "Schedule velero/kubecompass-important"]
    after = json.loads(result["diff"][1]["after"])
    assert after["spec"] == {"schedule": "*/15 * * * *", "template": {
        "includedNamespaces": ["shop"], "ttl": "720h0m0s", "storageLocation": "default"}}
    assert result["diff"][1]["before"] == ""
    assert [(e["tier"], e["action"], e["result"]) for e in result["schedules"]] == [
        ("critical", "apply", "created"), ("important", "apply", "created"), ("best_effort", "none", None)]


def test_lists_once_per_kind_then_applies_server_side_under_kubecompass():
    client = cluster()
    result = velero_schedules.run(client, params(), check_mode=False)
    assert [c[1] for c in client.calls if c[0] == "LIST"] == [
        "/apis/velero.io/v1/schedules", "/apis/velero.io/v1/backupstoragelocations", "/api/v1/namespaces"]
    applies = [c for c in client.calls if c[3] == "application/apply-patch+yaml"]
    assert all(c[2]["fieldManager"] == ["kubecompass"] and c[2]["force"] == ["false"] for c in applies)
    stored = client.stored(OURS % "important")
    assert stored["metadata"]["labels"] == dict(MANAGED, **{"kubecompass.io/tier": "important"})
    assert stored["spec"]["schedule"] == "*/15 * * * *"
    assert client.stored(OURS % "critical")["spec"]["schedule"] == "*/5 * * * *"
    assert client.stored(OURS % "best-effort") is None
    assert result["changed"] is True and result["storage_location"] == "default"
    assert result["inadequate"] == {"velero/team-hourly": [
        "namespace shop (tier important): no Schedule runs at least every 15m (RPO of cluster tier important): "
        "velero/team-hourly (every 1h, ttl 720h)"]}


def test_a_second_run_changes_nothing_and_writes_nothing():
    client = cluster()
    velero_schedules.run(client, params(), check_mode=False)
    client.calls.clear()
    result = velero_schedules.run(client, params(), check_mode=False)
    assert result["changed"] is False and result["diff"] == []
    assert only_reads_and_dry_runs(client)
    assert {e["result"] for e in result["schedules"]} == {"unchanged", None}


def test_the_user_schedule_is_byte_identical_and_never_requested():
    client = cluster()
    before = copy.deepcopy(client.stored(USER))
    velero_schedules.run(client, params(), check_mode=False)
    assert client.stored(USER) == before
    assert [c for c in client.calls if c[1] == USER] == []


def test_a_new_namespace_updates_our_schedule():
    client = cluster()
    velero_schedules.run(client, params(), check_mode=False)
    client.add(namespace("web"))
    result = velero_schedules.run(client, params(), check_mode=False)
    assert by_tier(result)["important"]["result"] == "updated"
    assert client.stored(OURS % "important")["spec"]["template"]["includedNamespaces"] == ["shop", "web"]


def test_main_warns_the_near_zero_gap_and_the_inadequate_user_schedule(monkeypatch, capsys):
    code, result, warned = run_main(velero_schedules, monkeypatch, capsys, cluster(), check=True,
                                    excluded_namespaces=["velero"])
    assert code == 0 and result["changed"] is True and len(result["diff"]) == 2
    # A truthy "skipped" key would make Ansible show (and register) the task as skipped.
    assert "skipped" not in result and result["out_of_scope"] == [
        {"namespace": "velero", "reason": "excluded by pattern 'velero'"}]
    assert any(w.startswith("kubecompass-critical: tier critical needs a near-zero RPO") and "vault" in w
               for w in warned)
    assert any(w.startswith("user Schedule velero/team-hourly falls short (left unchanged)") for w in warned)


def test_main_without_diff_returns_no_diff(monkeypatch, capsys):
    code, result, _warned = run_main(velero_schedules, monkeypatch, capsys, cluster(), check=True, diff=False)
    assert code == 0 and "diff" not in result


def test_velero_absent_fails_with_the_helm_hint(monkeypatch, capsys):
    client = NoVelero([namespace("shop")])
    code, result, _warned = run_main(velero_schedules, monkeypatch, capsys, client)
    assert code == 1 and result["failed"] is True and result["category"] == "not_found"
    assert result["msg"].startswith("velero schedules: Velero is not installed (the velero.io/v1 API is not served")
    assert "helm install velero vmware-tanzu/velero" in result["msg"] and "Traceback" not in result["msg"]
    assert "exception" not in result


def test_a_missing_storage_location_is_an_input_error(monkeypatch, capsys):
    client = FakeClient([namespace("shop"), location("eu", default=False)])
    code, result, _warned = run_main(velero_schedules, monkeypatch, capsys, client)
    assert code == 1 and result["category"] == "input"
    assert "no BackupStorageLocation in Velero's namespace velero is marked default (found: eu)" in result["msg"]
    assert client.writes() == []


def test_a_user_schedule_holding_our_name_fails_after_the_other_tiers(monkeypatch, capsys):
    squatter = {"apiVersion": "velero.io/v1", "kind": "Schedule",
                "metadata": {"name": "kubecompass-important", "namespace": "velero"},
                "spec": {"schedule": "0 3 * * *", "template": {"includedNamespaces": ["other"]}}}
    client = cluster(squatter)
    before = copy.deepcopy(client.stored(OURS % "important"))
    code, result, _warned = run_main(velero_schedules, monkeypatch, capsys, client)
    assert code == 1 and "without the label app.kubernetes.io/managed-by=kubecompass.readiness" in result["msg"]
    assert client.stored(OURS % "important") == before
    assert client.stored(OURS % "critical") is not None  # the other tiers were still handled


def test_a_forbidden_apply_fails_with_its_cause(monkeypatch, capsys):
    client = cluster(fail={OURS % "critical": 403})
    code, result, _warned = run_main(velero_schedules, monkeypatch, capsys, client)
    assert code == 1 and result["category"] == "forbidden"
    assert "Schedule velero/kubecompass-critical" in result["msg"]


def test_list_errors_other_than_404_pass_through():
    class Forbidden(FakeClient):
        def list(self, path, query=None, page_size=500):
            raise self.status_error(403, {"message": "schedules.velero.io is forbidden"}, path)

    with pytest.raises(KubeCompassError) as error:
        velero_schedules.run(Forbidden([]), params(), check_mode=True)
    assert error.value.category == "forbidden" and "Velero is not installed" not in str(error.value)


def test_a_namespace_waived_for_kc_dr_003_is_left_out_of_the_schedules_and_an_expired_waiver_does_not():
    waiver = {"check": "KC-DR-003", "reason": "rebuilt from git, no state", "owner": "team-shop",
              "ticket": "OPS-2007", "expires": "2099-06-30", "namespace": "shop"}
    result = velero_schedules.run(cluster(), params(waivers=[waiver], cluster_name="c1"), check_mode=True)
    important = by_tier(result)["important"]
    assert "shop" not in important["namespaces"] and important["action"] != "apply"
    shop = [e for e in result["out_of_scope"] if e["namespace"] == "shop"][0]
    assert shop["reason"] == "waived by OPS-2007 until 2099-06-30" and shop["waiver"]["owner"] == "team-shop"
    result = velero_schedules.run(cluster(), params(waivers=[dict(waiver, expires="2020-01-01")], cluster_name="c1"),
                                  check_mode=True)
    assert by_tier(result)["important"]["namespaces"] == ["shop"]
    assert [w["ticket"] for w in result["expired_waivers"]] == ["OPS-2007"]
