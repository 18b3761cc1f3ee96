"""restore_drill module: the latest Completed backup restored into a scratch namespace, the wait for a terminal
phase, an honest drill record the assessment reads, clean-up, check mode, and the failures."""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import types

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import disaster_recovery
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context
from ansible_collections.kubecompass.readiness.plugins.modules import restore_drill
from tests.unit.plugins.modules.test_pod_security_module import (
    FakeClient,
    namespace,
    only_reads_and_dry_runs,
    run_main,
)

NOW = datetime.datetime(2026, 3, 10, 12, 0, 0, tzinfo=datetime.UTC)
RESTORES = "/apis/velero.io/v1/namespaces/velero/restores/"
RESTORE = RESTORES + "kubecompass-drill-shop-20260310120000"
RECORD = "/api/v1/namespaces/velero/configmaps/kubecompass-drill-shop-20260310120000"
MODIFIERS = "/api/v1/namespaces/velero/configmaps/kubecompass-restore-drill-modifiers"
SCRATCH = "/api/v1/namespaces/shop-drill"
KC_DR_005 = next(c for c in disaster_recovery.CHECKS if c.id == "KC-DR-005")


def backup(name, phase, completed, schedule="kubecompass-important", **spec):
    return {"apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": name, "namespace": "velero", "labels": {"velero.io/schedule-name": schedule}},
            "spec": dict({"includedNamespaces": ["shop", "web"], "ttl": "720h0m0s"}, **spec),
            "status": {"phase": phase, "startTimestamp": completed, "completionTimestamp": completed}}


BACKUPS = [
    backup("kubecompass-important-20260310110000", "Completed", "2026-03-10T11:00:40Z"),
    backup("kubecompass-important-20260310114500", "PartiallyFailed", "2026-03-10T11:45:50Z"),
    backup("team-nightly-20260310020000", "Completed", "2026-03-10T02:05:00Z", schedule="team-nightly"),
]


def cluster(*extra, **options):
    return FakeClient([namespace("kube-system"), namespace("velero"),
                       namespace("shop", **{"kubecompass.io/tier": "critical"}), *BACKUPS, *extra], **options)


class Velero:
    """Plays the Velero controller: each sleep moves the drill's Restore to the next of ``phases`` (InProgress
    creates the scratch namespace, as the restore of the Namespace object does) and advances the clock."""

    def __init__(self, client, phases=("InProgress", "Completed"), **status):
        self.client = client
        self.phases = list(phases)
        self.status = status
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        paths = [path for path in self.client.objects if path.startswith(RESTORES)]
        if not paths or not self.phases:
            return
        restore = self.client.objects[paths[0]]
        phase = self.phases.pop(0)
        restore["status"] = dict(self.status, phase=phase, startTimestamp="2026-03-10T12:00:02Z")
        if phase == "InProgress" and self.client.stored(SCRATCH) is None:
            self.client.add(namespace("shop-drill"))
        if phase in ("Completed", "PartiallyFailed", "Failed"):
            restore["status"]["completionTimestamp"] = "2026-03-10T12:03:14Z"  # 192 s after the start


def params(**overrides):
    base = {"namespace": "shop", "schedule": None, "scratch_namespace": None, "velero_namespace": "velero",
            "tier": "important", "tier_thresholds": None, "timeout": 600, "poll_interval": 5, "cleanup_timeout": 60,
            "keep_scratch": False, "live_workloads": False}
    base.update(overrides)
    return base


def drill(client, velero=None, check_mode=False, **overrides):
    velero = velero or Velero(client)
    return restore_drill.run(client, params(**overrides), check_mode, clock=velero.clock, sleep=velero.sleep,
                             now=lambda: NOW)


def assessed(record):
    """KC-DR-005 as the assessment decides it from the drill record alone (Velero may have deleted the Restore)."""
    snapshot = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": "important"},
                "kinds": {"namespaces": {"items": [namespace("shop")]}, "velero_restores": {"items": []},
                          "kubecompass_drill_records": {"items": [record]}}}
    now = NOW + datetime.timedelta(days=1)
    return engine.run_check(KC_DR_005, Context(snapshot, tiers.tier_table(), now=now))


# -- a completed drill ---------------------------------------------------------------------------------------------

def test_a_completed_drill_restores_the_latest_completed_backup_into_the_scratch_namespace():
    client = cluster()
    result = drill(client)
    restore = client.stored(RESTORE)
    assert {k: restore["spec"][k] for k in ("backupName", "includedNamespaces", "namespaceMapping")} == {
        "backupName": "kubecompass-important-20260310110000", "includedNamespaces": ["shop"],
        "namespaceMapping": {"shop": "shop-drill"}}
    assert restore["metadata"]["labels"]["kubecompass.io/restore-drill"] == "true"
    assert result["changed"] is True and result["outcome"] == "Completed"
    assert result["backup"] == "kubecompass-important-20260310110000"
    assert result["duration_seconds"] == 192 and result["duration_source"] == "restore status timestamps"
    # shop is labelled critical: its RTO (15 min) is the target.
    assert result["tier"] == "critical" and result["rto_target_seconds"] == 900 and result["rto_met"] is True


def test_the_drill_record_is_what_the_assessment_reads_and_it_passes():
    client = cluster()
    drill(client)
    record = client.stored(RECORD)
    assert record["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubecompass.readiness",
                                            "kubecompass.io/restore-drill": "true"}
    data = record["data"]
    assert {k: data[k] for k in ("completed_at", "outcome", "backup", "namespace", "duration_seconds")} == {
        "completed_at": "2026-03-10T12:03:14Z", "outcome": "Completed",
        "backup": "kubecompass-important-20260310110000", "namespace": "shop", "duration_seconds": "192"}
    assert data["restore"] == "kubecompass-drill-shop-20260310120000" and data["scratch_namespace"] == "shop-drill"
    assert data["tier"] == "critical" and data["rto_target_seconds"] == "900" and data["rto_met"] == "true"
    result = assessed(record)
    assert result.verdict == "pass" and "drill record velero/kubecompass-drill-shop-20260310120000" in result.message


def test_the_scratch_namespace_is_deleted_and_waited_for():
    client = cluster()
    result = drill(client)
    assert client.stored(SCRATCH) is None
    assert ("DELETE", SCRATCH) in client.methods()
    assert result["cleanup"]["state"] == "deleted"


def test_keep_scratch_leaves_it_for_inspection():
    client = cluster()
    result = drill(client, keep_scratch=True)
    assert client.stored(SCRATCH) is not None and result["cleanup"]["state"] == "kept"
    assert ("DELETE", SCRATCH) not in client.methods()


def test_the_restore_and_the_record_are_applied_under_kubecompass_and_created_once():
    client = cluster()
    drill(client)
    writes = [(c[0], c[1]) for c in client.writes()]
    assert writes == [("PATCH", MODIFIERS), ("PATCH", RESTORE), ("PATCH", RECORD), ("DELETE", SCRATCH)]
    applies = [c for c in client.calls if c[3] == "application/apply-patch+yaml"]
    assert all(c[2]["fieldManager"] == ["kubecompass"] for c in applies)


def test_a_schedule_narrows_the_backup_and_without_timestamps_the_wall_time_counts():
    client = cluster()
    velero = Velero(client, phases=("Completed",))
    velero.status = {}
    original = velero.sleep

    def sleep_without_completion(seconds):
        original(seconds)
        client.objects[RESTORE]["status"].pop("completionTimestamp", None)

    velero.sleep = sleep_without_completion
    result = drill(client, velero, schedule="team-nightly")
    assert result["backup"] == "team-nightly-20260310020000"
    assert result["duration_source"] == "wall time waited" and result["duration_seconds"] == 5
    assert client.stored(RECORD)["data"]["completed_at"] == "2026-03-10T12:00:00Z"


def test_a_namespace_that_is_gone_is_restored_with_the_cluster_tier():
    client = FakeClient([namespace("velero"), *BACKUPS])
    result = drill(client, tier="best_effort")
    assert result["tier"] == "best_effort" and result["tier_rule"] == "cluster tier best_effort"
    assert result["rto_target_seconds"] == 14400


# -- failures recorded honestly ------------------------------------------------------------------------------------

def test_a_failed_restore_is_recorded_as_failed_and_the_assessment_fails():
    client = cluster()
    velero = Velero(client, phases=("InProgress", "Failed"), failureReason="error getting backup: bucket gone",
                    errors=3)
    result = drill(client, velero)
    assert result["outcome"] == "Failed" and result["rto_met"] is False
    data = client.stored(RECORD)["data"]
    assert data["outcome"] == "Failed" and data["rto_met"] == "false"
    assert data["failure_reason"] == "error getting backup: bucket gone" and data["errors"] == "3"
    assert result["cleanup"]["state"] == "deleted"  # what a failed restore left behind goes too
    verdict = assessed(client.stored(RECORD))
    assert verdict.verdict == "fail" and "Failed" in verdict.message


def test_main_fails_after_recording_a_failed_restore(monkeypatch, capsys):
    client = cluster()
    velero = Velero(client, phases=("InProgress", "PartiallyFailed"), errors=1)
    monkeypatch.setattr(restore_drill, "time", types.SimpleNamespace(monotonic=velero.clock, sleep=velero.sleep))
    monkeypatch.setattr(restore_drill, "_utcnow", lambda: NOW)
    code, result, _warned = run_main(restore_drill, monkeypatch, capsys, client, namespace="shop")
    assert code == 1 and result["outcome"] == "PartiallyFailed"
    assert result["msg"] == (
        "restore drill of namespace shop: Restore kubecompass-drill-shop-20260310120000 of backup "
        "kubecompass-important-20260310110000 ended PartiallyFailed (errors 1) after 192s; recorded as "
        "PartiallyFailed in ConfigMap velero/kubecompass-drill-shop-20260310120000")
    assert client.stored(RECORD)["data"]["outcome"] == "PartiallyFailed"


def test_a_restore_that_never_ends_is_recorded_as_timed_out_and_its_namespace_kept():
    client = cluster()
    velero = Velero(client, phases=("InProgress",) * 50)
    result = drill(client, velero, timeout=30)
    assert result["outcome"] == "TimedOut" and result["duration_seconds"] == 30
    assert velero.sleeps == [5, 5, 5, 5, 5, 5]
    assert client.stored(RECORD)["data"]["outcome"] == "TimedOut"
    assert result["cleanup"]["state"] == "kept" and client.stored(SCRATCH) is not None
    assert ("DELETE", SCRATCH) not in client.methods()


def test_main_success_and_a_slow_restore_warns_about_the_rto(monkeypatch, capsys):
    client = cluster()
    velero = Velero(client)
    monkeypatch.setattr(restore_drill, "time", types.SimpleNamespace(monotonic=velero.clock, sleep=velero.sleep))
    monkeypatch.setattr(restore_drill, "_utcnow", lambda: NOW)
    code, result, warned = run_main(restore_drill, monkeypatch, capsys, client, namespace="shop",
                                    tier_thresholds={"critical": {"rto_minutes": 2}})
    assert code == 0 and result["outcome"] == "Completed" and result["rto_met"] is False
    assert warned == ["the restore took 192s, longer than the critical tier's RTO of 120s: KC-DR-005 fails on this "
                      "drill"]
    assert result["diff"][0]["after_header"] == "Restore velero/kubecompass-drill-shop-20260310120000"


def test_a_cleanup_that_is_refused_is_warned_not_fatal(monkeypatch, capsys):
    client = cluster(fail={SCRATCH: 403})
    velero = Velero(client)
    monkeypatch.setattr(restore_drill, "time", types.SimpleNamespace(monotonic=velero.clock, sleep=velero.sleep))
    monkeypatch.setattr(restore_drill, "_utcnow", lambda: NOW)
    code, result, warned = run_main(restore_drill, monkeypatch, capsys, client, namespace="shop")
    assert code == 0 and result["cleanup"]["state"] == "failed"
    assert warned and warned[0].startswith("deleting namespace shop-drill: forbidden")


# -- check mode and bad input ------------------------------------------------------------------------------------

def test_check_mode_reports_the_restore_and_creates_nothing():
    client = cluster()
    before = copy.deepcopy(client.objects)
    result = drill(client, check_mode=True)
    assert only_reads_and_dry_runs(client) and client.objects == before
    assert result["changed"] is True and result["outcome"] is None and result["record"] is None
    assert result["restore_object"]["spec"]["namespaceMapping"] == {"shop": "shop-drill"}
    assert '"backupName": "kubecompass-important-20260310110000"' in result["diff"][0]["after"]
    assert [(c[1], c[2].get("dryRun")) for c in client.calls if c[0] == "PATCH"] == [
        (MODIFIERS, ["All"]), (RESTORE, ["All"])]
    assert client.stored(MODIFIERS) is None and result["modifiers"] == "velero/kubecompass-restore-drill-modifiers"
    assert result["restore_object"]["spec"]["resourceModifier"] == {
        "kind": "ConfigMap", "name": "kubecompass-restore-drill-modifiers"}


def test_no_backup_fails_naming_the_namespace(monkeypatch, capsys):
    client = FakeClient([namespace("velero"), namespace("web"), BACKUPS[1]])
    code, result, _warned = run_main(restore_drill, monkeypatch, capsys, client, namespace="web")
    assert code == 1 and result["category"] == "not_found"
    assert result["msg"].startswith("restore drill of namespace web: no Completed backup in velero covers namespace "
                                    "web (passed over: kubecompass-important-20260310114500 is PartiallyFailed)")
    assert client.writes() == []


def test_an_existing_scratch_namespace_is_refused_before_anything_is_created():
    client = cluster(namespace("shop-drill"))
    with pytest.raises(KubeCompassError) as error:
        drill(client)
    assert error.value.category == "input" and "scratch namespace shop-drill already exists" in str(error.value)
    assert client.writes() == []


def test_velero_absent_fails_with_the_helm_hint(monkeypatch, capsys):
    class NoVelero(FakeClient):
        def list(self, path, query=None, page_size=500):
            raise self.status_error(404, {"message": "the server could not find the requested resource"}, path)

    code, result, _warned = run_main(restore_drill, monkeypatch, capsys, NoVelero([]), namespace="shop")
    assert code == 1 and "helm install velero vmware-tanzu/velero" in result["msg"]
    assert result["msg"].startswith("restore drill of namespace shop: Velero is not installed")


@pytest.mark.parametrize("overrides, message", [
    ({"timeout": 0}, "timeout must be at least 1 seconds"),
    ({"poll_interval": 0}, "poll_interval must be at least 1"),
    ({"scratch_namespace": "shop"}, "must differ"),
    ({"velero_namespace": ""}, "velero_namespace"),
])
def test_bad_options_are_input_errors(overrides, message):
    with pytest.raises(KubeCompassError) as error:
        drill(cluster(), **overrides)
    assert error.value.category == "input" and message in str(error.value)


def test_a_bad_tier_label_on_the_namespace_is_an_input_error():
    client = FakeClient([namespace("velero"), namespace("shop", **{"kubecompass.io/tier": "gold"}), *BACKUPS])
    with pytest.raises(KubeCompassError, match="namespace shop: namespace label kubecompass.io/tier='gold'"):
        drill(client)


# -- drills that prove nothing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("phases, status, why", [
    # The backup held nothing of shop: Velero completes with 0 items and never creates the scratch namespace.
    (("Completed",), {"progress": {"totalItems": 0, "itemsRestored": 0}}, "0 items restored"),
    (("Completed",), {}, "scratch namespace does not exist"),
])
def test_a_completed_restore_that_brought_nothing_back_is_not_a_success(phases, status, why):
    client = cluster()
    result = drill(client, Velero(client, phases=phases, **status))
    data = client.stored(RECORD)["data"]
    assert result["outcome"] == data["outcome"] == "CompletedEmpty" and data["rto_met"] == "false"
    assert why in data["failure_reason"]
    assert assessed(client.stored(RECORD)).verdict == "fail"
    assert "ended CompletedEmpty" in restore_drill.failure_message(result)


def test_a_restore_deleted_while_the_drill_waits_is_recorded_as_unknown():
    client = cluster()
    velero = Velero(client)

    def sleep_and_lose_it(seconds):
        velero.sleep(seconds)
        for path in [p for p in client.objects if p.startswith(RESTORES)]:
            del client.objects[path]

    with pytest.raises(KubeCompassError, match="disappeared while the drill waited.*recorded as Unknown"):
        restore_drill.run(client, params(), False, clock=velero.clock, sleep=sleep_and_lose_it, now=lambda: NOW)
    data = client.stored(RECORD)["data"]
    assert data["outcome"] == "Unknown" and "lost track of the Restore" in data["failure_reason"]
    assert assessed(client.stored(RECORD)).verdict == "fail"


# -- no second live copy of production ------------------------------------------------------------------------------

def apply_rules(document, group_resource, obj):
    """The rules of a resource modifier document applied to ``obj`` as Velero does (internal/resourcemodifiers):
    each rule whose groupResource matches is one JSON patch, its string values decoded as JSON unless they are
    plain words; a failed ``test`` skips the rule, any other failure is an error."""
    obj = copy.deepcopy(obj)
    for rule in document["resourceModifierRules"]:
        if rule["conditions"]["groupResource"] != group_resource:
            continue
        patched = copy.deepcopy(obj)
        for patch in rule["patches"]:
            value = patch.get("value", "")
            assert isinstance(value, str), "Velero reads every patch value as a string: %r" % (patch,)
            assert value != "null", "null values depend on the json-patch version Velero was built with"
            with contextlib.suppress(ValueError):
                value = json.loads(value)
            *parents, leaf = [part.replace("~1", "/").replace("~0", "~") for part in patch["path"].split("/")[1:]]
            target = patched
            for part in parents:
                target = target[part]  # a missing parent is an error in Velero too
            if patch["operation"] == "test":
                if leaf not in target or target[leaf] != value:
                    break
            elif patch["operation"] in ("replace", "remove"):
                assert leaf in target, "%s of a missing %s fails the item" % (patch["operation"], patch["path"])
                if patch["operation"] == "remove":
                    del target[leaf]
                else:
                    target[leaf] = value
            else:
                assert patch["operation"] == "add", patch
                target[leaf] = value
        else:
            obj = patched
    return obj


def modifier_document(client):
    config_map = client.stored(MODIFIERS)
    assert list(config_map["data"]) == ["resource-modifiers.yaml"]  # Velero refuses a ConfigMap of more keys
    return yaml.safe_load(config_map["data"]["resource-modifiers.yaml"])


LIVE_SERVICE = {"spec": {"type": "LoadBalancer", "ports": [{"port": 443}], "externalTrafficPolicy": "Local",
                         "healthCheckNodePort": 31000, "allocateLoadBalancerNodePorts": True,
                         "loadBalancerIP": "203.0.113.7"}}


def test_by_default_the_restore_holds_every_workload_and_leaves_out_the_entry_points():
    client = cluster()
    result = drill(client)
    spec = client.stored(RESTORE)["spec"]
    assert spec["resourceModifier"] == {"kind": "ConfigMap", "name": "kubecompass-restore-drill-modifiers"}
    assert {"ingresses.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
            "gateways.gateway.networking.k8s.io", "pods"} <= set(spec["excludedResources"])
    assert result["live_workloads"] is False and client.stored(RECORD)["data"]["live_workloads"] == "false"
    document = modifier_document(client)
    assert document["version"] == "v1"
    workload = {"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app"}]}}}}
    for kind in ("deployments.apps", "statefulsets.apps", "replicasets.apps", "replicationcontrollers"):
        assert apply_rules(document, kind, workload)["spec"]["replicas"] == 0, kind
    assert apply_rules(document, "cronjobs.batch", {"spec": {"suspend": False}})["spec"]["suspend"] is True
    assert apply_rules(document, "jobs.batch", {"spec": {"parallelism": 4}})["spec"]["parallelism"] == 0
    daemons = apply_rules(document, "daemonsets.apps", workload)["spec"]["template"]["spec"]["nodeSelector"]
    assert daemons == {"kubecompass.io/restore-drill": "no-node"}


def test_a_load_balancer_service_comes_back_as_a_cluster_ip_service():
    client = cluster()
    drill(client)
    document = modifier_document(client)
    held = apply_rules(document, "services", LIVE_SERVICE)["spec"]
    # What the API server accepts for a ClusterIP Service: no external field set, none left at a value.
    assert held == {"type": "ClusterIP", "ports": [{"port": 443}], "externalTrafficPolicy": "",
                    "healthCheckNodePort": 0, "loadBalancerIP": "", "loadBalancerSourceRanges": []}
    bare = apply_rules(document, "services", {"spec": {"type": "LoadBalancer"}})["spec"]
    assert bare["type"] == "ClusterIP" and "allocateLoadBalancerNodePorts" not in bare
    node_port = apply_rules(document, "services", {"spec": {"type": "NodePort", "externalTrafficPolicy": "Cluster"}})
    assert node_port["spec"] == {"type": "ClusterIP", "externalTrafficPolicy": ""}
    cluster_ip = {"spec": {"type": "ClusterIP", "clusterIP": "None"}}
    assert apply_rules(document, "services", cluster_ip) == cluster_ip  # left exactly as it was
    external = {"spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    assert apply_rules(document, "services", external) == external


def test_the_modifiers_config_map_is_no_drill_record_and_is_applied_once():
    client = cluster()
    drill(client)
    labels = client.stored(MODIFIERS)["metadata"]["labels"]
    assert "kubecompass.io/restore-drill" not in labels  # the assessment reads that label as a drill record
    before = copy.deepcopy(client.stored(MODIFIERS)["data"])
    velero = Velero(client)
    later = NOW + datetime.timedelta(hours=1)
    second = restore_drill.run(client, params(timeout=5), False, clock=velero.clock, sleep=velero.sleep,
                               now=lambda: later)
    assert second["restore_object"]["spec"]["resourceModifier"]["name"] == "kubecompass-restore-drill-modifiers"
    assert client.stored(MODIFIERS)["data"] == before


def test_live_workloads_is_an_explicit_opt_in_that_restores_as_is():
    client = cluster()
    result = drill(client, live_workloads=True)
    assert client.stored(RESTORE)["spec"] == {"backupName": "kubecompass-important-20260310110000",
                                              "includedNamespaces": ["shop"],
                                              "namespaceMapping": {"shop": "shop-drill"}}
    assert client.stored(MODIFIERS) is None and result["modifiers"] is None
    assert client.stored(RECORD)["data"]["live_workloads"] == "true"
