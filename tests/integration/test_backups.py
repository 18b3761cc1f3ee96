"""Issue 6 on the local control plane, with Velero's CRDs installed and no Velero controller: the tests play the
controller's part by writing the status fields a real Velero writes (the CRDs have no status subresource, so a
merge PATCH of the object sets its status).

Every disaster-recovery verdict (pass, fail, unknown) of KC-DR-001..005 through the assess playbook; the backups
role creates Schedules whose interval and TTL satisfy each tier, a rerun changes nothing and the user's own
Schedules stay byte-identical; the restore drill playbook against a Restore driven to Completed and one driven to
Failed, both recorded honestly; Velero absent is a clear fail with the Helm hint and no traceback.

The tests run in file order and build on each other (one cluster, one story)."""

from __future__ import annotations

import datetime
import json
import re
import threading
import time
import traceback

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import (
    longest_interval,
    parse_go_duration,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._velero.drill import CENSUS
from kclocal import manifests, pki
from kclocal.kube import ApiError
from tests.helpers import VENV_BIN, ansible_env, run
from tests.integration import seed

pytestmark = pytest.mark.nodes(1)

VELERO = "bk-velero"  # Velero's namespace in this story (the default "velero" is left to other tests)
SHOP, VAULT, LOGS, BATCH = "bk-shop", "bk-vault", "bk-logs", "bk-batch"
# bk-logs is covered by the user's team-logs; bk-batch (also best_effort) by nothing, so every tier gets a Schedule.
TIERS = {SHOP: "important", VAULT: "critical", LOGS: "best_effort", BATCH: "best_effort"}
SCRATCH = "bk-shop-drill"
DR_CHECKS = ["KC-DR-001", "KC-DR-002", "KC-DR-003", "KC-DR-004", "KC-DR-005"]
HELM_HINT = "helm install velero vmware-tanzu/velero"
SCHEDULES = f"/apis/velero.io/v1/namespaces/{VELERO}/schedules"
BACKUPS = f"/apis/velero.io/v1/namespaces/{VELERO}/backups"
RESTORES = f"/apis/velero.io/v1/namespaces/{VELERO}/restores"
MODIFIERS = f"/api/v1/namespaces/{VELERO}/configmaps/kubecompass-restore-drill-modifiers"
USER_SCHEDULES = (f"{SCHEDULES}/team-logs", f"{SCHEDULES}/team-nightly")
RBAC = "rbac.authorization.k8s.io/v1"
STORY: dict = {}


def env():
    """One JSON line per result, so long messages are not folded across lines."""
    return ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT="json")


def now() -> str:
    return seed.rfc3339(datetime.datetime.now(datetime.UTC))


def _namespace(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def _delete(client, path):
    try:
        client.request("DELETE", path)
    except ApiError as exc:
        if exc.status != 404:
            raise


def complete_backup(client, schedule, namespaces, age_minutes=0):
    """A Backup as Velero's schedule controller leaves it: named <schedule>-<timestamp>, labelled with the
    schedule, phase Completed with its timestamps."""
    finished = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=age_minutes)
    name = "%s-%s" % (schedule, finished.strftime("%Y%m%d%H%M%S"))
    seed.create(client, {"apiVersion": "velero.io/v1", "kind": "Backup",
                         "metadata": {"name": name, "namespace": VELERO,
                                      "labels": {"velero.io/schedule-name": schedule}},
                         "spec": {"includedNamespaces": namespaces, "ttl": "720h0m0s"},
                         "status": {"phase": "Completed", "startTimestamp": seed.rfc3339(finished),
                                    "completionTimestamp": seed.rfc3339(finished)}})
    return name


def excluded_namespaces(client):
    """Every namespace but this story's application namespaces (other tests may have left theirs)."""
    names = [n["metadata"]["name"] for n in client.request("GET", "/api/v1/namespaces")["items"]]
    return sorted(n for n in names if n not in TIERS)


def inventory(cp, tmp_path, kubeconfig=None):
    """The cluster's inventory without the control-plane group (the DR checks need no node facts)."""
    data = yaml.safe_load(cp.inventory.read_text())
    host = data["all"]["children"]["k8s_clusters"]["hosts"]["localcp"]
    host.pop("kubecompass_control_plane_group", None)
    if kubeconfig:
        host["kubecompass_kubeconfig"] = str(kubeconfig)
    path = tmp_path / ("inventory-%s.yml" % ("limited" if kubeconfig else "admin"))
    path.write_text(yaml.safe_dump(data))
    return path


def assess(cp, tmp_path, kubeconfig=None):
    """The assess playbook, DR checks only; {check_id: finding}."""
    client = cp.client()
    report_dir = tmp_path / "reports"
    variables = {"kubecompass_include_checks": DR_CHECKS, "kubecompass_report_dir": str(report_dir),
                 "kubecompass_settings": {"excluded_namespaces": excluded_namespaces(client), "rpo_evidence": [VAULT]}}
    vars_file = tmp_path / "assess-vars.yml"
    vars_file.write_text(yaml.safe_dump(variables))
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory(cp, tmp_path, kubeconfig)),
                  "kubecompass.readiness.assess", "--check", "-e", "@%s" % vars_file], env=env(), timeout=600)
    report_file = report_dir / "kubecompass-report.json"
    assert report_file.exists(), result.stdout[-4000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    cluster = json.loads(report_file.read_text())["clusters"][0]
    assert cluster["status"] == "assessed", cluster.get("error")
    return {f["check_id"]: f for f in cluster["findings"]}


def verdicts(findings):
    return {check: finding["verdict"] for check, finding in findings.items()}


def reason_of(finding, name):
    return next(o["reason"] for o in finding["objects"] if o["name"] == name)


def backups_role(cp, tmp_path, entry="remediate", *args, extra=None):
    """The backups role entry point through a playbook, as remediate.yml runs it."""
    playbook = tmp_path / ("backups-%s.yml" % entry)
    playbook.write_text(yaml.safe_dump([{"name": "Backups", "hosts": "k8s_clusters", "gather_facts": False,
                                         "tasks": [{"name": "Backups role", "ansible.builtin.include_role": {
                                             "name": "kubecompass.readiness.backups", "tasks_from": entry}}]}]))
    variables = {"backups_velero_namespace": VELERO, "backups_rpo_evidence": [VAULT],
                 "backups_excluded_namespaces": excluded_namespaces(cp.client())}
    variables.update(extra or {})
    return run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory(cp, tmp_path)), str(playbook),
                "-e", json.dumps(variables), *args], env=env(), timeout=600)


def restore_drill(cp, tmp_path, *args):
    variables = {"backups_velero_namespace": VELERO, "backups_drill_namespace": SHOP, "backups_drill_poll_interval": 1,
                 "backups_drill_timeout": 120, "backups_drill_cleanup_timeout": 120}
    return run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory(cp, tmp_path)),
                "kubecompass.readiness.restore_drill", "-e", json.dumps(variables), *args], env=env(), timeout=600)


def recap_changed(output):
    return int(re.search(r"localcp\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def user_schedules(client):
    return {path: client.request("GET", path) for path in USER_SCHEDULES}


class VeleroRestores(threading.Thread):
    """Plays Velero's restore controller: every Restore in Velero's namespace that has no status yet goes
    InProgress (for a Completed outcome, its mapped namespaces are created, as restoring the Namespace objects
    does), then to ``outcome`` with the timestamps Velero records."""

    def __init__(self, cp, outcome, lose=()):
        super().__init__(daemon=True)
        self.client = cp.client()
        self.outcome = outcome
        self.lose = set(lose)  # names of objects this Velero does not bring back
        self.stopped = threading.Event()
        self.handled = []
        self.error = None

    def run(self):
        try:
            while not self.stopped.is_set():
                for restore in self.client.request("GET", RESTORES)["items"]:
                    if not restore.get("status") and restore["metadata"]["name"] not in self.handled:
                        self.drive(restore)
                time.sleep(0.3)
        except Exception as exc:  # reported by the test that joins
            self.error = "%s\n%s" % (exc, traceback.format_exc())

    def patch_status(self, name, status):
        self.client.request("PATCH", f"{RESTORES}/{name}", {"status": status}, "application/merge-patch+json")

    def drive(self, restore):
        name = restore["metadata"]["name"]
        self.handled.append(name)
        started = now()
        self.patch_status(name, {"phase": "InProgress", "startTimestamp": started})
        if self.outcome == "Completed":
            for source, scratch in (restore["spec"].get("namespaceMapping") or {}).items():
                seed.create(self.client, _namespace(scratch, {"velero.io/restore-name": name}))
                self.restore_objects(restore, source, scratch)
        time.sleep(2)
        status = {"phase": self.outcome, "startTimestamp": started, "completionTimestamp": now()}
        if self.outcome == "Failed":
            status.update(failureReason="error downloading backup: object storage unreachable", errors=1)
        else:
            status.update(progress={"totalItems": 12, "itemsRestored": 12})
        self.patch_status(name, status)

    def request(self, *args):
        """A request retried while the API server answers 429 (a watch cache still initializing after a restart)."""
        for _attempt in range(30):
            try:
                return self.client.request(*args)
            except ApiError as exc:
                if exc.status != 429:
                    raise
                time.sleep(1)
        return self.client.request(*args)

    def restore_objects(self, restore, source, scratch):
        """What Velero's restore of the census kinds does: each object of ``source`` not owned by a controller comes
        back into ``scratch`` (less the Restore's excludedResources and ``lose``), labelled with the Restore."""
        excluded = set(restore["spec"].get("excludedResources") or ())
        for resource, _kind, path in CENSUS:
            if resource in excluded:
                continue
            listed = self.request("GET", path % source)
            for item in listed["items"]:
                meta = item["metadata"]
                if meta["name"] in self.lose or meta.get("ownerReferences"):
                    continue
                twin = {key: value for key, value in item.items() if key not in ("metadata", "status")}
                twin.update(apiVersion=listed["apiVersion"], kind=listed["kind"][:-len("List")], metadata={
                    "name": meta["name"], "annotations": meta.get("annotations") or {},
                    "labels": dict(meta.get("labels") or {}, **{"velero.io/restore-name": restore["metadata"]["name"]})})
                if twin["kind"] == "Service":
                    for field in ("clusterIP", "clusterIPs"):
                        twin["spec"].pop(field, None)
                try:
                    self.request("POST", path % scratch, twin)
                except ApiError as exc:
                    if exc.status != 409:  # the controller-manager made kube-root-ca.crt and default already
                        raise

    def stop(self):
        self.stopped.set()
        self.join(10)
        assert self.error is None, self.error


def drill_records(client):
    items = client.request("GET", f"/api/v1/namespaces/{VELERO}/configmaps?labelSelector=kubecompass.io%2Frestore-drill"
                                  "%3Dtrue")["items"]
    return {item["metadata"]["name"]: item for item in items}


# -- fixtures -----------------------------------------------------------------------------------------------------

def remove_velero_crds(client):
    names = [c["metadata"]["name"] for c in client.request(
        "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"] if c["spec"]["group"] == "velero.io"]
    for name in names:
        _delete(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s" % name)
    seed.wait_for("velero.io to disappear", lambda: not any(
        g["name"] == "velero.io" for g in client.request("GET", "/apis")["groups"]), 60)


@pytest.fixture(scope="module")
def bk(control_planes):
    """Velero's CRDs, a velero Deployment, a default storage location Available, and application namespaces of
    each tier; the user's own Schedules: team-logs (hourly, enough for best_effort) and team-nightly (daily, not
    enough for important)."""
    cp = control_planes.get(1)
    client = cp.client()
    seed.install_crds(client, seed.VELERO_CRDS)
    seed.create(client, _namespace(VELERO))
    for name, tier in TIERS.items():
        seed.create(client, _namespace(name, {"kubecompass.io/tier": tier}))
    seed.create(client, {"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "velero", "namespace": VELERO},
                         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "velero"}}, "template": {
                             "metadata": {"labels": {"app": "velero"}},
                             "spec": {"containers": [{"name": "velero", "image": "velero/velero:v1.18.1"}]}}}})
    seed.create(client, {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                         "metadata": {"name": "default", "namespace": VELERO},
                         "spec": {"provider": "aws", "default": True, "objectStorage": {"bucket": "backups"}},
                         "status": {"phase": "Available", "lastValidationTime": now()}})
    for name, cron, namespaces in (("team-logs", "0 * * * *", [LOGS]), ("team-nightly", "0 2 * * *", [SHOP])):
        seed.create(client, {"apiVersion": "velero.io/v1", "kind": "Schedule",
                             "metadata": {"name": name, "namespace": VELERO, "labels": {"team": "platform"}},
                             "spec": {"schedule": cron, "template": {"includedNamespaces": namespaces,
                                                                     "ttl": "720h0m0s"}},
                             "status": {"phase": "Enabled", "lastBackup": now()}})
    complete_backup(client, "team-logs", [LOGS], age_minutes=20)
    complete_backup(client, "team-nightly", [SHOP], age_minutes=3 * 24 * 60)
    yield cp
    for name in (VELERO, SCRATCH, *TIERS):
        _delete(client, f"/api/v1/namespaces/{name}")
    _delete(client, f"/apis/{RBAC}/clusterrolebindings/bk-limited")
    _delete(client, f"/apis/{RBAC}/clusterroles/bk-limited")


# -- the story ------------------------------------------------------------------------------------------------------

def test_velero_absent_is_a_clear_fail_with_the_helm_hint(control_plane, tmp_path):
    """Before the CRDs are installed (removed if another test installed them): every DR check fails, and both
    entry points fail with how to install Velero, without a traceback."""
    client = control_plane.client()
    remove_velero_crds(client)
    findings = assess(control_plane, tmp_path)
    assert verdicts(findings) == dict.fromkeys(DR_CHECKS, "fail"), {c: f["message"] for c, f in findings.items()}
    assert HELM_HINT in findings["KC-DR-001"]["message"]
    assert "Velero not installed" in findings["KC-DR-003"]["message"]

    result = backups_role(control_plane, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "Velero is not installed (the velero.io/v1 API is not served" in output and HELM_HINT in output

    result = restore_drill(control_plane, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "restore drill of namespace bk-shop: Velero is not installed" in output and HELM_HINT in output


def test_before_remediation_coverage_recency_and_restore_tests_fail(bk, tmp_path):
    findings = assess(bk, tmp_path)
    messages = {check: finding["message"] for check, finding in findings.items()}
    assert verdicts(findings) == {"KC-DR-001": "pass", "KC-DR-002": "pass", "KC-DR-003": "fail",
                                  "KC-DR-004": "fail", "KC-DR-005": "fail"}, messages
    coverage = findings["KC-DR-003"]
    assert "no Schedule runs at least every 15m" in reason_of(coverage, SHOP)
    # bk-vault's replication is declared (rpo_evidence), so only the retention is missing.
    assert "declared replication" in reason_of(coverage, VAULT)
    assert "no active Schedule keeps its backups for 720h" in reason_of(coverage, VAULT)
    assert "RPO 1h met by bk-velero/team-logs" in reason_of(coverage, LOGS)
    recency = findings["KC-DR-004"]
    assert reason_of(recency, "team-nightly").startswith("last Completed backup team-nightly-")
    assert next(o for o in recency["objects"] if o["name"] == "team-logs")["verdict"] == "pass"
    assert "no restore test recorded" in findings["KC-DR-005"]["message"]
    STORY["user_schedules"] = user_schedules(bk.client())


def test_check_mode_shows_the_schedules_and_creates_none(bk, tmp_path):
    result = backups_role(bk, tmp_path, "remediate", "--check", "--diff")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "kubecompass-important" in output and "kubecompass-critical" in output
    client = bk.client()
    names = [s["metadata"]["name"] for s in client.request("GET", SCHEDULES)["items"]]
    assert sorted(names) == ["team-logs", "team-nightly"]
    assert user_schedules(client) == STORY["user_schedules"]


def test_remediation_creates_schedules_that_satisfy_each_tier(bk, tmp_path):
    result = backups_role(bk, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]  # the role's verify: KC-DR-001..003 pass
    assert recap_changed(result.stdout) > 0
    assert "near-zero RPO, which scheduled backups alone cannot meet" in output
    assert "bk-velero/team-nightly" in output  # reported as falling short, left unchanged
    client = bk.client()
    ours = {s["metadata"]["name"]: s for s in client.request("GET", SCHEDULES)["items"]
            if (s["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "kubecompass.readiness"}
    # bk-logs is left to team-logs, which meets best_effort's RPO and retention; bk-batch gets ours.
    assert sorted(ours) == ["kubecompass-best-effort", "kubecompass-critical", "kubecompass-important"]
    rpo = {"kubecompass-critical": 5, "kubecompass-important": 15, "kubecompass-best-effort": 60}
    namespaces = {"kubecompass-critical": [VAULT], "kubecompass-important": [SHOP], "kubecompass-best-effort": [BATCH]}
    for name, schedule in ours.items():
        template = schedule["spec"]["template"]
        assert longest_interval(schedule["spec"]["schedule"]) <= datetime.timedelta(minutes=rpo[name]), schedule
        assert template["ttl"] == "720h0m0s" and parse_go_duration(template["ttl"]) >= datetime.timedelta(hours=720)
        assert template["includedNamespaces"] == namespaces[name] and template["storageLocation"] == "default"
    assert ours["kubecompass-important"]["spec"]["schedule"] == "*/15 * * * *"
    assert ours["kubecompass-critical"]["spec"]["schedule"] == "*/5 * * * *"
    assert ours["kubecompass-best-effort"]["spec"]["schedule"] == "0 * * * *"
    assert user_schedules(client) == STORY["user_schedules"]


def test_second_run_changes_nothing_and_the_user_schedules_are_byte_identical(bk, tmp_path):
    result = backups_role(bk, tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert recap_changed(result.stdout) == 0, result.stdout[-4000:]
    assert user_schedules(bk.client()) == STORY["user_schedules"]


def test_restore_drill_check_mode_creates_neither_the_modifiers_nor_the_restore(bk, tmp_path):
    client = bk.client()
    complete_backup(client, "kubecompass-important", [SHOP], age_minutes=2)
    result = restore_drill(bk, tmp_path, "--check")
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output, output[-4000:]
    assert "kubecompass-restore-drill-modifiers" in output  # the Restore shown references it
    assert client.request("GET", RESTORES)["items"] == []
    with pytest.raises(ApiError) as absent:
        client.request("GET", MODIFIERS)
    assert absent.value.status == 404


def held_at_zero(document, group_resource):
    """The patches of the modifier rules for one resource (Velero matches rules by groupResource)."""
    return [patch for rule in document["resourceModifierRules"]
            if rule["conditions"]["groupResource"] == group_resource for patch in rule["patches"]]


def test_restore_drill_driven_to_completed_is_recorded_and_cleaned_up(bk, tmp_path):
    client = bk.client()
    STORY["backup"] = complete_backup(client, "kubecompass-important", [SHOP], age_minutes=1)
    velero = VeleroRestores(bk, "Completed")
    velero.start()
    try:
        result = restore_drill(bk, tmp_path)
    finally:
        velero.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    [restore] = velero.handled
    spec = client.request("GET", f"{RESTORES}/{restore}")["spec"]
    assert {k: spec[k] for k in ("backupName", "includedNamespaces", "namespaceMapping")} == {
        "backupName": STORY["backup"], "includedNamespaces": [SHOP], "namespaceMapping": {SHOP: SCRATCH}}
    # No second live copy of production: workloads held at zero by the modifier, Pods and entry points left out.
    assert spec["resourceModifier"] == {"kind": "ConfigMap", "name": "kubecompass-restore-drill-modifiers"}
    assert {"pods", "ingresses.networking.k8s.io", "httproutes.gateway.networking.k8s.io"} <= set(
        spec["excludedResources"])
    modifiers = client.request("GET", MODIFIERS)
    assert "kubecompass.io/restore-drill" not in modifiers["metadata"].get("labels", {})
    [document] = [yaml.safe_load(text) for text in modifiers["data"].values()]
    assert document["version"] == "v1"
    assert held_at_zero(document, "deployments.apps") == [{"operation": "add", "path": "/spec/replicas",
                                                           "value": "0"}]
    assert held_at_zero(document, "statefulsets.apps")[0]["value"] == "0"
    assert held_at_zero(document, "cronjobs.batch") == [{"operation": "add", "path": "/spec/suspend",
                                                         "value": "true"}]
    assert held_at_zero(document, "jobs.batch") == [{"operation": "add", "path": "/spec/parallelism", "value": "0"}]
    assert {"operation": "replace", "path": "/spec/type", "value": "ClusterIP"} in held_at_zero(document, "services")
    record = drill_records(client)[restore]["data"]
    assert record["live_workloads"] == "false"
    assert record["outcome"] == "Completed" and record["namespace"] == SHOP and record["backup"] == STORY["backup"]
    assert int(record["duration_seconds"]) >= 0 and record["duration_source"] == "restore status timestamps"
    assert record["tier"] == "important" and record["rto_target_seconds"] == "3600" and record["rto_met"] == "true"
    assert record["scratch_namespace"] == SCRATCH and record["items_restored"] == "12"
    with pytest.raises(ApiError) as gone:
        client.request("GET", f"/api/v1/namespaces/{SCRATCH}")
    assert gone.value.status == 404
    STORY["completed_drill"] = restore


def test_restore_drill_driven_to_failed_is_recorded_as_failed_and_fails(bk, tmp_path):
    client = bk.client()
    time.sleep(1)  # a new Restore name (one per second)
    velero = VeleroRestores(bk, "Failed")
    velero.start()
    try:
        result = restore_drill(bk, tmp_path)
    finally:
        velero.stop()
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    [restore] = velero.handled
    assert f"Restore {restore} of backup {STORY['backup']} ended Failed" in output
    assert f"recorded as Failed in ConfigMap {VELERO}/{restore}" in output
    record = drill_records(client)[restore]["data"]
    assert record["outcome"] == "Failed" and record["rto_met"] == "false"
    assert record["failure_reason"] == "error downloading backup: object storage unreachable"
    assert drill_records(client)[STORY["completed_drill"]]["data"]["outcome"] == "Completed"


def test_every_dr_check_passes_once_velero_has_done_its_work(bk, tmp_path):
    client = bk.client()
    # The controller's part: schedules validated, and each one's newest backup Completed just now.
    for name in ("kubecompass-critical", "kubecompass-important", "kubecompass-best-effort"):
        client.request("PATCH", f"{SCHEDULES}/{name}", {"status": {"phase": "Enabled", "lastBackup": now()}},
                       "application/merge-patch+json")
    for schedule, namespaces in (("kubecompass-critical", [VAULT]), ("kubecompass-important", [SHOP]),
                                 ("kubecompass-best-effort", [BATCH]), ("team-logs", [LOGS]),
                                 ("team-nightly", [SHOP])):
        complete_backup(client, schedule, namespaces)
    findings = assess(bk, tmp_path)
    assert verdicts(findings) == dict.fromkeys(DR_CHECKS, "pass"), {c: f["message"] for c, f in findings.items()}
    assert "declared replication" in reason_of(findings["KC-DR-003"], VAULT)
    assert STORY["completed_drill"] in findings["KC-DR-005"]["message"]
    assert user_schedules(client) == STORY["user_schedules"]


def test_a_drill_slower_than_the_tiers_rto_fails_kc_dr_005_naming_both_figures(bk, tmp_path):
    client = bk.client()
    slow = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "bk-slow-drill", "namespace": VELERO,
                         "labels": {"kubecompass.io/restore-drill": "true"}},
            "data": {"outcome": "Completed", "completed_at": now(), "backup": STORY["backup"], "namespace": SHOP,
                     "duration_seconds": "5400"}}
    seed.create(client, slow)
    try:
        findings = assess(bk, tmp_path)
    finally:
        _delete(client, f"/api/v1/namespaces/{VELERO}/configmaps/bk-slow-drill")
    finding = findings["KC-DR-005"]
    assert finding["verdict"] == "fail", finding["message"]
    assert "5400s" in finding["message"] and "important tier's RTO of 3600s" in finding["message"]


def test_a_reader_that_may_not_list_velero_objects_gets_unknown_not_pass(bk, tmp_path):
    client = bk.client()
    # May read namespaces, CRDs and Backups; not Deployments, Schedules, storage locations, Restores, ConfigMaps.
    seed.create(client, {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "bk-limited"}, "rules": [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list"]},
        {"apiGroups": ["velero.io"], "resources": ["backups"], "verbs": ["get", "list"]}]})
    seed.create(client, {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "bk-limited"},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                     "name": "bk-limited"},
                         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bk-limited"}]})
    pki_dir = bk.node_root(bk.nodes[0]["name"]) / "etc/kubernetes/pki"
    ca = pki.load(pki_dir / "ca.crt", pki_dir / "ca.key")
    pair = pki.issue(ca, "bk-limited", client=True)
    kubeconfig = tmp_path / "bk-limited.conf"
    kubeconfig.write_text(manifests.kubeconfig(bk.server(), ca.cert_pem(), "bk-limited", pair.cert_pem(),
                                               pair.key_pem()))
    findings = assess(bk, tmp_path, kubeconfig=kubeconfig)
    assert verdicts(findings) == dict.fromkeys(DR_CHECKS, "unknown"), {c: f["message"] for c, f in findings.items()}
    assert "deployments" in findings["KC-DR-001"]["message"] and "forbidden" in findings["KC-DR-001"]["message"]
    assert "velero_schedules" in findings["KC-DR-003"]["message"]


# -- the drill proves the data came back (issue 13 item 6) ---------------------------------------------------------

SECRET_VALUE = "s3cr3t-drill-value"


def manifests_deployment(name):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": SHOP},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]}}}}


def census(record):
    return json.loads(record["census"])


def test_restore_drill_counts_what_came_back_kind_by_kind(bk, tmp_path):
    """Objects there when the backup started are expected back, one created after it is not, an Ingress is left out
    by the drill; every expected object restored: complete, with the counts in the record."""
    client = bk.client()
    seed.create(client, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bk-app-config", "namespace":
                         SHOP}, "data": {"mode": "prod"}})
    seed.create(client, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bk-db-password", "namespace": SHOP},
                         "stringData": {"password": SECRET_VALUE}})
    client.request("POST", f"/api/v1/namespaces/{SHOP}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "bk-web", "namespace": SHOP},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "bk-web"}}})
    seed.create(client, manifests_deployment("bk-web"))
    seed.create(client, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                         "metadata": {"name": "bk-web", "namespace": SHOP},
                         "spec": {"rules": [{"host": "shop.example.com"}]}})
    time.sleep(1.1)  # creationTimestamp has whole seconds
    STORY["census_backup"] = complete_backup(client, "kubecompass-important", [SHOP])
    time.sleep(1.1)
    seed.create(client, {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "bk-added-after-the-backup", "namespace": SHOP}})
    velero = VeleroRestores(bk, "Completed")
    velero.start()
    try:
        result = restore_drill(bk, tmp_path)
    finally:
        velero.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert SECRET_VALUE not in output
    [restore] = velero.handled
    record = drill_records(client)[restore]["data"]
    assert record["backup"] == STORY["census_backup"] and record["data_restored"] == "complete", record
    counts = census(record)
    assert counts["ConfigMap"] == [2, 2]  # bk-app-config and kube-root-ca.crt; not bk-added-after-the-backup
    assert counts["Secret"] == [1, 1] and counts["Service"] == [1, 1] and counts["Deployment"] == [1, 1]
    assert counts["ServiceAccount"] == [1, 1] and "Ingress" not in counts
    assert SECRET_VALUE not in json.dumps(record)
    STORY["census"] = counts


def test_restore_drill_with_an_object_not_restored_fails_naming_it(bk, tmp_path):
    client = bk.client()
    time.sleep(1)  # a new Restore name (one per second)
    velero = VeleroRestores(bk, "Completed", lose={"bk-app-config"})
    velero.start()
    try:
        result = restore_drill(bk, tmp_path)
    finally:
        velero.stop()
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    [restore] = velero.handled
    assert ("completed, but the data restored is incomplete: ConfigMap 1 of 2 (missing bk-app-config)") in output
    record = drill_records(client)[restore]["data"]
    assert record["outcome"] == "Completed" and record["data_restored"] == "incomplete"
    assert census(record)["ConfigMap"] == [2, 1] and record["data_problems"] == (
        "ConfigMap 1 of 2 (missing bk-app-config)")
    with pytest.raises(ApiError) as gone:  # the evidence is in the record; the scratch namespace still goes
        client.request("GET", f"/api/v1/namespaces/{SCRATCH}")
    assert gone.value.status == 404
    finding = assess(bk, tmp_path)["KC-DR-005"]
    assert finding["verdict"] == "fail", finding["message"]
    assert restore in finding["message"] and "ConfigMap 1 of 2 (missing bk-app-config)" in finding["message"]
