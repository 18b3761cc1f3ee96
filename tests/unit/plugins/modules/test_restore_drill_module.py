"""restore_drill module: the latest Completed backup restored into a scratch namespace, the wait for a terminal
phase, an honest drill record the assessment reads, clean-up, check mode, and the failures."""

from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import json
import re
import types

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import disaster_recovery
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero import drill as drill_plan
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


# What namespace shop holds. The backup restored (kubecompass-important-20260310110000) started 11:00:40.
BEFORE, AFTER = "2026-03-09T08:00:00Z", "2026-03-10T11:30:00Z"
SECRET_VALUE = "aHVudGVyMg=="


def item(api_version, kind, name, created=BEFORE, ns="shop", **fields):
    return dict({"apiVersion": api_version, "kind": kind,
                 "metadata": {"name": name, "namespace": ns, "creationTimestamp": created}}, **fields)


SHOP = [
    item("v1", "ConfigMap", "app-config", data={"mode": "prod"}),
    item("v1", "ConfigMap", "kube-root-ca.crt"),
    item("v1", "ConfigMap", "added-after-the-backup", created=AFTER),
    item("v1", "Secret", "db-password", type="Opaque", data={"password": SECRET_VALUE}),
    item("v1", "ServiceAccount", "default"),
    item("v1", "Service", "web", spec={"type": "ClusterIP"}),
    item("apps/v1", "Deployment", "web", spec={"replicas": 3}),
    item("batch/v1", "CronJob", "nightly", spec={"schedule": "0 2 * * *"}),
    # Owned by the CronJob: the CronJob is restored instead (and held suspended).
    item("batch/v1", "Job", "nightly-29001", metadata={
        "name": "nightly-29001", "namespace": "shop", "creationTimestamp": BEFORE,
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "controller": True}]}),
    item("networking.k8s.io/v1", "Ingress", "web", spec={"rules": [{"host": "shop.example.com"}]}),
]


class CensusClient(FakeClient):
    """FakeClient that also lists one namespace's objects of the census kinds (metadata only when asked, as the
    server answers a PartialObjectMetadataList), Velero's PodVolumeBackups/Restores by label, and GETs
    PersistentVolumes."""

    KINDS = {template: kind for _resource, kind, template in drill_plan.CENSUS}
    KINDS.update({"/apis/velero.io/v1/namespaces/%s/podvolumebackups": "PodVolumeBackup",
                  "/apis/velero.io/v1/namespaces/%s/podvolumerestores": "PodVolumeRestore"})

    def list(self, path, query=None, page_size=500, metadata_only=False):
        found = re.match(r"^(/apis?/.+/namespaces/)([^/]+)(/[^/]+)$", path)
        if not found:
            assert not metadata_only
            return super().list(path, query, page_size)
        ns = found.group(2)
        kind = self.KINDS[found.group(1) + "%s" + found.group(3)]
        self.calls.append(("LIST", path, dict(query or {}), "metadata-only" if metadata_only else None, None))
        key, _eq, value = ((query or {}).get("labelSelector") or "").partition("=")
        items = [copy.deepcopy(o) for o in self.listed if o["kind"] == kind and self._live(o)
                 and o["metadata"].get("namespace") == ns
                 and (not key or (o["metadata"].get("labels") or {}).get(key) == value)]
        if metadata_only:
            return [{"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o["metadata"]}
                    for o in items]
        return items

    def request(self, method, path, query=None, body=None, content_type="application/json"):
        if method == "GET" and path.startswith("/api/v1/persistentvolumes/"):
            name = path.rsplit("/", 1)[-1]
            volumes = [o for o in self.listed if o["kind"] == "PersistentVolume" and o["metadata"]["name"] == name]
            self.calls.append((method, path, {}, None, None))
            if volumes:
                return 200, copy.deepcopy(volumes[-1]), {}
            return 404, {"message": "%s not found" % name}, {}
        return super().request(method, path, query, body, content_type)


def cluster(*extra, source=None, **options):
    source = SHOP if source is None else source
    return CensusClient([namespace("kube-system"), namespace("velero"),
                         namespace("shop", **{"kubecompass.io/tier": "critical"}), *BACKUPS, *source, *extra],
                        **options)


class Velero:
    """Plays the Velero controller: each sleep moves the drill's Restore to the next of ``phases`` (InProgress
    creates the scratch namespace, as the restore of the Namespace object does) and advances the clock."""

    def __init__(self, client, phases=("InProgress", "Completed"), lose=(), alter=None, **status):
        self.client = client
        self.phases = list(phases)
        self.status = status
        self.lose = lose  # (kind, name) Velero does not bring back
        self.alter = alter or {}  # (kind, name): fields Velero brings back other than the backup held them
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
        if phase == "Completed" and self.client.stored(SCRATCH) is not None:
            self.restore_into_scratch(restore)

    def restore_into_scratch(self, restore):
        """Every object of namespace shop the backup holds (Velero reads its own copy; these were all there when it
        started) comes back into the scratch namespace, less the excluded kinds and what ``lose`` names."""
        excluded = {kind for resource, kind, _path in drill_plan.CENSUS
                    if resource in (restore["spec"].get("excludedResources") or [])}
        for source in [o for o in self.client.listed if o["metadata"].get("namespace") == "shop"]:
            meta = source["metadata"]
            if (source["kind"] in excluded or (source["kind"], meta["name"]) in self.lose
                    or meta["creationTimestamp"] > "2026-03-10T11:00:40Z"):
                continue
            twin = copy.deepcopy(source)
            twin["metadata"].update(namespace="shop-drill", creationTimestamp="2026-03-10T12:01:00Z",
                                    labels={"velero.io/restore-name": restore["metadata"]["name"]})
            twin["metadata"].pop("uid", None)
            twin.update(self.alter.get((source["kind"], meta["name"]), {}))
            self.client.add(twin)


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
    client = CensusClient([namespace("velero"), *BACKUPS])
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


# -- did the data come back ----------------------------------------------------------------------------------------

def census_of(record):
    return json.loads(record["data"]["census"])


def test_the_record_counts_each_kind_the_backup_held_against_the_restored_copy():
    client = cluster()
    result = drill(client)
    record = client.stored(RECORD)
    assert result["data_restored"] == record["data"]["data_restored"] == "complete"
    counts = census_of(record)
    # added-after-the-backup is not expected, the CronJob's Job is its owner's, the Ingress is excluded.
    assert {kind: c for kind, c in counts.items() if c != [0, 0]} == {
        "ConfigMap": [2, 2], "Secret": [1, 1], "ServiceAccount": [1, 1], "Service": [1, 1], "Deployment": [1, 1],
        "CronJob": [1, 1]}
    assert "Ingress" not in counts and "Pod" not in counts and "data_problems" not in record["data"]
    # The content of both ConfigMaps (kube-root-ca.crt too) and of the Secret came back as it was.
    assert json.loads(record["data"]["content"]) == {"ConfigMap": [2, 2], "Secret": [1, 1]}
    assert "content_changed_since_backup" not in record["data"]
    assert assessed(record).verdict == "pass"


def test_secret_values_are_read_to_compare_their_content_and_never_returned():
    client = cluster()
    result = drill(client)
    lists = {c[1]: c[3] for c in client.calls if c[0] == "LIST"}
    # ConfigMaps and Secrets whole (their content is compared), every other kind but claims as metadata alone.
    for ns in ("shop", "shop-drill"):
        assert lists["/api/v1/namespaces/%s/secrets" % ns] is None
        assert lists["/api/v1/namespaces/%s/configmaps" % ns] is None
        assert lists["/api/v1/namespaces/%s/serviceaccounts" % ns] == "metadata-only"
    assert json.loads(client.stored(RECORD)["data"]["content"])["Secret"] == [1, 1]
    assert SECRET_VALUE not in json.dumps(result) and SECRET_VALUE not in json.dumps(client.stored(RECORD))


def secret_digests(*values):
    """The sha256 of each value and of each form the module could hash a Secret's content in."""
    digests = set()
    for value in values:
        for form in (value, json.dumps({"data": {"password": value}, "type": "Opaque"}, sort_keys=True),
                     json.dumps({"data": {"password": value}, "type": "Opaque"}, sort_keys=True,
                                separators=(",", ":"))):
            digests.add(hashlib.sha256(form.encode()).hexdigest())
    return digests


def test_a_config_map_restored_with_other_content_fails_the_drill_naming_it(monkeypatch, capsys):
    client = cluster()
    velero = Velero(client, alter={("ConfigMap", "app-config"): {"data": {"mode": "staging"}}})
    monkeypatch.setattr(restore_drill, "time", types.SimpleNamespace(monotonic=velero.clock, sleep=velero.sleep))
    monkeypatch.setattr(restore_drill, "_utcnow", lambda: NOW)
    code, result, _warned = run_main(restore_drill, monkeypatch, capsys, client, namespace="shop")
    record = client.stored(RECORD)
    assert code == 1 and result["outcome"] == "Completed" and result["data_restored"] == "incomplete"
    assert census_of(record)["ConfigMap"] == [2, 2]  # it came back, with other content
    assert json.loads(record["data"]["content"]) == {"ConfigMap": [2, 1], "Secret": [1, 1]}
    assert record["data"]["data_problems"] == "ConfigMap app-config content differs from the source"
    assert result["msg"].endswith("completed, but the data restored is incomplete: ConfigMap app-config content "
                                  "differs from the source; recorded in ConfigMap "
                                  "velero/kubecompass-drill-shop-20260310120000")
    # KC-DR-005 (restore_tested) reads the record alone, and fails the drill naming the object.
    verdict = assessed(record)
    assert verdict.verdict == "fail" and "ConfigMap app-config content differs from the source" in verdict.message


def test_a_secret_restored_with_another_value_fails_and_neither_value_nor_digest_is_anywhere(monkeypatch, capsys):
    other = "b3RoZXItcGFzc3dvcmQ="
    client = cluster()
    velero = Velero(client, alter={("Secret", "db-password"): {"data": {"password": other}}})
    monkeypatch.setattr(restore_drill, "time", types.SimpleNamespace(monotonic=velero.clock, sleep=velero.sleep))
    monkeypatch.setattr(restore_drill, "_utcnow", lambda: NOW)
    code, result, warned = run_main(restore_drill, monkeypatch, capsys, client, namespace="shop")
    record = client.stored(RECORD)
    assert code == 1 and result["data_restored"] == "incomplete"
    assert record["data"]["data_problems"] == "Secret db-password content differs from the source"
    verdict = assessed(record)
    assert verdict.verdict == "fail" and "Secret db-password content differs" in verdict.message
    everything = json.dumps([result, record, warned, verdict.message, capsys.readouterr()])
    for secret in (SECRET_VALUE, other, "hunter2", "other-password", *secret_digests(SECRET_VALUE, other)):
        assert secret not in everything


def test_a_config_map_changed_after_the_backup_is_not_compared_but_counted():
    changed = item("v1", "ConfigMap", "feature-flags", data={"beta": "on"}, metadata={
        "name": "feature-flags", "namespace": "shop", "creationTimestamp": BEFORE,
        "managedFields": [{"manager": "kubectl-edit", "operation": "Update", "time": "2026-03-10T11:20:00Z"}]})
    client = cluster(source=SHOP + [changed])
    result = drill(client, Velero(client, alter={("ConfigMap", "feature-flags"): {"data": {"beta": "off"}}}))
    record = client.stored(RECORD)["data"]
    assert result["data_restored"] == "complete", record.get("data_problems")
    assert json.loads(record["content"]) == {"ConfigMap": [2, 2], "Secret": [1, 1]}
    assert record["content_changed_since_backup"] == "1"


def test_a_missing_config_map_fails_the_drill_naming_it(monkeypatch, capsys):
    client = cluster()
    velero = Velero(client, lose=(("ConfigMap", "app-config"),))
    monkeypatch.setattr(restore_drill, "time", types.SimpleNamespace(monotonic=velero.clock, sleep=velero.sleep))
    monkeypatch.setattr(restore_drill, "_utcnow", lambda: NOW)
    code, result, _warned = run_main(restore_drill, monkeypatch, capsys, client, namespace="shop")
    record = client.stored(RECORD)
    assert code == 1 and result["outcome"] == "Completed" and result["data_restored"] == "incomplete"
    assert census_of(record)["ConfigMap"] == [2, 1]
    assert record["data"]["data_problems"] == "ConfigMap 1 of 2 (missing app-config)"
    assert result["msg"] == (
        "restore drill of namespace shop: Restore kubecompass-drill-shop-20260310120000 of backup "
        "kubecompass-important-20260310110000 completed, but the data restored is incomplete: ConfigMap 1 of 2 "
        "(missing app-config); recorded in ConfigMap velero/kubecompass-drill-shop-20260310120000")
    verdict = assessed(record)
    assert verdict.verdict == "fail" and "ConfigMap 1 of 2 (missing app-config)" in verdict.message
    assert client.stored(SCRATCH) is None  # the evidence is in the record; the scratch namespace still goes


def claim(name, ns="shop", uid=None, phase="Bound", volume=None):
    obj = item("v1", "PersistentVolumeClaim", name, ns=ns, spec={"volumeName": volume} if volume else {},
               status={"phase": phase})
    if uid:
        obj["metadata"]["uid"] = uid
    return obj


def pod_volume_backup(pvc_uid):
    return {"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": "kubecompass-important-20260310110000-x7k2p", "namespace": "velero",
                         "labels": {"velero.io/backup-name": "kubecompass-important-20260310110000",
                                    "velero.io/pvc-uid": pvc_uid}},
            "status": {"phase": "Completed"}}


def test_file_system_backed_up_volume_data_without_live_workloads_is_recorded_not_passed():
    client = cluster(claim("data", uid="uid-shop-data"), pod_volume_backup("uid-shop-data"))
    result = drill(client)
    record = client.stored(RECORD)["data"]
    assert result["data_restored"] == record["data_restored"] == "unverified"
    assert census_of(client.stored(RECORD))["PersistentVolumeClaim"] == [1, 1]
    assert json.loads(record["volumes"]) == {"data": {
        "state": "unverified", "how": "volume data not restored: file-system backups need live_workloads"}}
    assert record["data_problems"] == ("PersistentVolumeClaim data: volume data not restored: file-system backups "
                                       "need live_workloads")
    assert assessed(client.stored(RECORD)).verdict == "fail"
    assert ("LIST", "/apis/velero.io/v1/namespaces/velero/podvolumebackups") in client.methods()


def test_live_workloads_counts_ingresses_and_proves_file_system_data_by_its_pod_volume_restore():
    client = cluster(claim("data", uid="uid-shop-data"), pod_volume_backup("uid-shop-data"))
    velero = Velero(client)
    original = velero.restore_into_scratch

    def and_the_node_agent(restore):
        original(restore)
        [copy_of_claim] = [o for o in client.listed if o["kind"] == "PersistentVolumeClaim"
                           and o["metadata"]["namespace"] == "shop-drill"]
        client.add({"apiVersion": "velero.io/v1", "kind": "PodVolumeRestore",
                    "metadata": {"name": "r-1", "namespace": "velero",
                                 "labels": {"velero.io/restore-name": restore["metadata"]["name"],
                                            "velero.io/pvc-uid": copy_of_claim["metadata"]["uid"]}},
                    "status": {"phase": "Completed"}})

    velero.restore_into_scratch = and_the_node_agent
    result = drill(client, velero, live_workloads=True)
    record = client.stored(RECORD)
    assert result["data_restored"] == "complete", record["data"].get("data_problems")
    assert census_of(record)["Ingress"] == [1, 1]
    assert json.loads(record["data"]["volumes"])["data"]["state"] == "complete"


def test_a_census_that_cannot_be_read_leaves_the_data_unverified_and_still_records():
    client = cluster()
    original = client.list

    def forbidden_secrets(path, query=None, page_size=500, metadata_only=False):
        if path.endswith("/secrets"):
            raise client.status_error(403, {"message": "secrets is forbidden"}, path)
        return original(path, query, page_size, metadata_only)

    client.list = forbidden_secrets
    result = drill(client)
    data = client.stored(RECORD)["data"]
    assert result["data_restored"] == data["data_restored"] == "unverified"
    assert data["data_problems"] == "what came back could not be read: forbidden: secrets is forbidden"
    assert assessed(client.stored(RECORD)).verdict == "fail"
