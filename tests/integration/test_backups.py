"""Issue 6 and issue 16 on the local control plane with real Velero v1.18.1 (``kclocal.velero``: ``velero server``
out of cluster, its backups in the tests' directory object store). Nothing here writes a Velero status: every
Backup, Restore, Schedule and BackupStorageLocation phase the checks judge is Velero's own.

Every disaster-recovery verdict (pass, fail, unknown) of KC-DR-001..005 through the assess playbook, reached from
what Velero did: backups Completed, one PartiallyFailed (an item that failed to back up), backups expired and
garbage-collected by Velero, a location made Unavailable by removing its store, a Schedule Velero failed to validate,
restores Completed and PartiallyFailed. The backups role creates Schedules whose interval and TTL satisfy each
tier, Velero runs them to Completed backups, a rerun changes nothing and the user's own Schedules are never written.
The restore drill restores real backups into a scratch namespace held at zero and proves what came back.

Faults come from the tests' fault plugin (tests/velero/faults: objects labelled ``kubecompass.test/fault``), and
time from one harness: a Schedule's ``status.lastBackup`` set one interval back, so Velero finds it due at its
next one-minute sync instead of after the interval.

The tests run in file order and build on each other (one cluster, one story)."""

from __future__ import annotations

import base64
import datetime
import json
import re
import time

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import (
    longest_interval,
    parse_go_duration,
)
from kclocal import manifests, pki
from kclocal import velero as velero_runner
from kclocal.kube import ApiError
from tests.helpers import VENV_BIN, ansible_env, run
from tests.integration import seed

pytestmark = pytest.mark.nodes(1)

VELERO = velero_runner.NAMESPACE
SHOP, VAULT, LOGS, BATCH = "bk-shop", "bk-vault", "bk-logs", "bk-batch"
# bk-logs is covered by the user's team-logs; bk-batch (also best_effort) by nothing, so every tier gets a Schedule.
TIERS = {SHOP: "important", VAULT: "critical", LOGS: "best_effort", BATCH: "best_effort"}
UNCOVERED = "bk-uncovered"  # a namespace no backup covers, outside the story's tiers
# Covered only by team-shortlived, whose backup Velero expires after a minute; an application namespace only in the
# last assessment, so the garbage collection happens while the story goes on rather than in a wait of its own.
SHORT_LIVED = "bk-short-lived"
SCRATCH = "bk-shop-drill"
DR_CHECKS = ["KC-DR-001", "KC-DR-002", "KC-DR-003", "KC-DR-004", "KC-DR-005"]
HELM_HINT = "helm install velero vmware-tanzu/velero"
SCHEDULES = f"/apis/velero.io/v1/namespaces/{VELERO}/schedules"
BACKUPS = f"/apis/velero.io/v1/namespaces/{VELERO}/backups"
RESTORES = f"/apis/velero.io/v1/namespaces/{VELERO}/restores"
LOCATIONS = f"/apis/velero.io/v1/namespaces/{VELERO}/backupstoragelocations"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{VELERO}/deployments/velero"
MODIFIERS = f"/api/v1/namespaces/{VELERO}/configmaps/kubecompass-restore-drill-modifiers"
USER_SCHEDULES = ("team-logs", "team-nightly")
OURS = ("kubecompass-critical", "kubecompass-important", "kubecompass-best-effort")
FAULT = "kubecompass.test/fault"  # the fault plugin's label (tests/velero/faults)
RBAC = "rbac.authorization.k8s.io/v1"
MERGE = "application/merge-patch+json"
SECRET_VALUE = "s3cr3t-drill-value"
TERMINAL = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}
STORY: dict = {}


def env():
    """One JSON line per result, so long messages are not folded across lines."""
    return ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT="json")


def _namespace(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def _delete(client, path):
    try:
        client.request("DELETE", path)
    except ApiError as exc:
        if exc.status != 404:
            raise


def _gone(client, path):
    try:
        client.request("GET", path)
    except ApiError as exc:
        return exc.status == 404
    return False


def excluded_namespaces(client, applications=tuple(TIERS)):
    """Every namespace but this story's application namespaces (other tests may have left theirs)."""
    names = [n["metadata"]["name"] for n in client.request("GET", "/api/v1/namespaces")["items"]]
    return sorted(n for n in names if n not in applications)


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


def assess(cp, tmp_path, kubeconfig=None, applications=tuple(TIERS)):
    """The assess playbook, DR checks only; {check_id: finding}."""
    client = cp.client()
    report_dir = tmp_path / "reports"
    variables = {"kubecompass_include_checks": DR_CHECKS, "kubecompass_report_dir": str(report_dir),
                 "kubecompass_settings": {"excluded_namespaces": excluded_namespaces(client, applications),
                                          "rpo_evidence": [VAULT]}}
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


def messages(findings):
    return {check: finding["message"] for check, finding in findings.items()}


def object_of(finding, name):
    return next(o for o in finding["objects"] if o["name"] == name)


def reason_of(finding, name):
    return object_of(finding, name)["reason"]


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


def restore_drill(cp, tmp_path, *args, namespace=SHOP, **extra):
    variables = {"backups_velero_namespace": VELERO, "backups_drill_namespace": namespace,
                 "backups_drill_poll_interval": 1, "backups_drill_timeout": 180, "backups_drill_cleanup_timeout": 120,
                 **{f"backups_drill_{key}": value for key, value in extra.items()}}
    return run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory(cp, tmp_path)),
                "kubecompass.readiness.restore_drill", "-e", json.dumps(variables), *args], env=env(), timeout=600)


def recap_changed(output):
    return int(re.search(r"localcp\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def written_by_us(schedule):
    """The field managers of our modules on an object (server-side apply under "kubecompass")."""
    return [m for m in schedule["metadata"].get("managedFields") or () if m.get("manager", "").startswith("kubecompass")]


def user_schedules(client):
    """The user's Schedules as the user owns them: spec and labels (Velero writes the status)."""
    found = {}
    for name in USER_SCHEDULES:
        schedule = client.request("GET", f"{SCHEDULES}/{name}")
        found[name] = {"spec": schedule["spec"], "labels": schedule["metadata"].get("labels")}
    return found


def backups_of(client, schedule):
    selector = "velero.io%2Fschedule-name%3D" + schedule
    return client.request("GET", f"{BACKUPS}?labelSelector={selector}")["items"]


def drill_records(client):
    items = client.request("GET", f"/api/v1/namespaces/{VELERO}/configmaps?labelSelector=kubecompass.io%2Frestore-drill"
                                  "%3Dtrue")["items"]
    return {item["metadata"]["name"]: item for item in items}


def new_restores(client, before):
    """Restores created since ``before`` (a set of names), oldest first."""
    items = sorted(client.request("GET", RESTORES)["items"], key=lambda r: r["metadata"]["creationTimestamp"])
    return [r for r in items if r["metadata"]["name"] not in before]


def restore_names(client):
    return {r["metadata"]["name"] for r in client.request("GET", RESTORES)["items"]}


def backup_now(velero, client, schedule, name):
    """A backup of a Schedule's template made now, as ``velero backup create --from-schedule`` makes it; the Backup
    once Velero has finished it."""
    velero.cli("backup", "create", name, "--from-schedule", schedule)
    return velero.wait_phase(client, "backups", name, TERMINAL, timeout=180)


def due_now(client, names):
    """The clock harness: each Schedule's last backup set one interval (plus a minute) back, so Velero's schedule
    controller, which compares cron.Next(lastBackup) with its own clock every minute, finds it due."""
    for name in names:
        schedule = client.request("GET", f"{SCHEDULES}/{name}")
        back = longest_interval(schedule["spec"]["schedule"]) + datetime.timedelta(minutes=1)
        client.request("PATCH", f"{SCHEDULES}/{name}", {"status": {
            "lastBackup": seed.rfc3339(datetime.datetime.now(datetime.UTC) - back)}}, MERGE)


def wait_schedule_phase(velero, client, name, phases=("Enabled",), timeout=90):
    return velero.wait_phase(client, "schedules", name, set(phases), timeout=timeout)


def remove_velero_crds(client):
    names = [c["metadata"]["name"] for c in client.request(
        "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"] if c["spec"]["group"] == "velero.io"]
    for name in names:
        _delete(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s" % name)
    seed.wait_for("velero.io to disappear", lambda: not any(
        g["name"] == "velero.io" for g in client.request("GET", "/apis")["groups"]), 60)


def config_map(namespace, name, data, fault=None):
    labels = {FAULT: fault} if fault else {}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": labels}, "data": data}


def delete_backup(velero, client, name):
    """As ``velero backup delete``: Velero removes the files, the Backup and its Restores."""
    client.request("POST", velero.path("deletebackuprequests"), {
        "apiVersion": "velero.io/v1", "kind": "DeleteBackupRequest",
        "metadata": {"generateName": f"{name}-", "namespace": VELERO}, "spec": {"backupName": name}})


# -- fixtures -----------------------------------------------------------------------------------------------------

def shop_objects():
    """What bk-shop holds: configuration, a secret, a web Deployment with its Service, a LoadBalancer Service, a
    CronJob and an Ingress; the drill must bring back all but the Ingress, held at zero."""
    labels = {"app": "bk-web"}
    template = {"metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]}}
    return [
        config_map(SHOP, "bk-app-config", {"mode": "prod", "greeting": "hello"}),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bk-db-password", "namespace": SHOP},
         "type": "Opaque", "data": {"password": base64.b64encode(SECRET_VALUE.encode()).decode()}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bk-web", "namespace": SHOP},
         "spec": {"ports": [{"port": 80}], "selector": labels}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bk-public", "namespace": SHOP},
         "spec": {"type": "LoadBalancer", "ports": [{"port": 443}], "selector": labels}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bk-web", "namespace": SHOP},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "bk-report", "namespace": SHOP},
         "spec": {"schedule": "0 6 * * *", "jobTemplate": {"spec": {"template": {"spec": {
             "restartPolicy": "Never", "containers": [{"name": "report", "image": "registry.example/report:1"}]}}}}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "bk-web", "namespace": SHOP},
         "spec": {"rules": [{"host": "shop.example.com"}]}},
    ]


PATHS = {"ConfigMap": "/api/v1/namespaces/%s/configmaps", "Secret": "/api/v1/namespaces/%s/secrets",
         "Service": "/api/v1/namespaces/%s/services", "Deployment": "/apis/apps/v1/namespaces/%s/deployments",
         "CronJob": "/apis/batch/v1/namespaces/%s/cronjobs",
         "Ingress": "/apis/networking.k8s.io/v1/namespaces/%s/ingresses"}


def put(client, manifest):
    path = PATHS[manifest["kind"]] % manifest["metadata"]["namespace"]
    try:
        client.request("POST", path, manifest)
    except ApiError as exc:
        if exc.status != 409:
            raise


@pytest.fixture(scope="module")
def bk(control_planes, velero_servers):
    """Real Velero on the local control plane, its Deployment scaled to one (as an in-cluster install runs it),
    application namespaces of each tier, and the user's own Schedules: team-logs (hourly, enough for best_effort)
    with one backup Velero made, and team-nightly (daily, not enough for important) that has made none."""
    cp = control_planes.get(1)
    velero = velero_servers.get(cp)
    client = cp.client()
    for name, tier in TIERS.items():
        seed.create(client, _namespace(name, {"kubecompass.io/tier": tier}))
    for manifest in shop_objects():
        put(client, manifest)
    client.request("PATCH", DEPLOYMENT, {"spec": {"replicas": 1}}, MERGE)
    for name, cron, namespaces in (("team-logs", "0 * * * *", [LOGS]), ("team-nightly", "0 2 * * *", [SHOP])):
        seed.create(client, {"apiVersion": "velero.io/v1", "kind": "Schedule",
                             "metadata": {"name": name, "namespace": VELERO, "labels": {"team": "platform"}},
                             "spec": {"schedule": cron, "template": {"includedNamespaces": namespaces,
                                                                     "ttl": "720h0m0s"}}})
        wait_schedule_phase(velero, client, name)
    logs = backup_now(velero, client, "team-logs", "team-logs-manual")
    assert logs["status"]["phase"] == "Completed", logs["status"]
    seed.create(client, _namespace(SHORT_LIVED, {"kubecompass.io/tier": "best_effort"}))
    seed.create(client, {"apiVersion": "velero.io/v1", "kind": "Schedule",
                         "metadata": {"name": "team-shortlived", "namespace": VELERO},
                         "spec": {"schedule": "0 * * * *", "template": {"includedNamespaces": [SHORT_LIVED],
                                                                        "ttl": "1m0s"}}})
    wait_schedule_phase(velero, client, "team-shortlived")
    short = backup_now(velero, client, "team-shortlived", "team-shortlived-manual")
    assert short["status"]["phase"] == "Completed", short["status"]
    STORY["short_lived_expires"] = short["status"]["expiration"]
    yield cp, velero
    for name in (SCRATCH, UNCOVERED, SHORT_LIVED, *TIERS):
        _delete(client, f"/api/v1/namespaces/{name}")
    for schedule in client.request("GET", SCHEDULES)["items"]:
        _delete(client, f"{SCHEDULES}/{schedule['metadata']['name']}")
    for backup in client.request("GET", BACKUPS)["items"]:
        delete_backup(velero, client, backup["metadata"]["name"])
    seed.wait_for("Velero to delete the story's backups", lambda: not client.request("GET", BACKUPS)["items"], 120)
    for record in drill_records(client):
        _delete(client, f"/api/v1/namespaces/{VELERO}/configmaps/{record}")
    _delete(client, MODIFIERS)
    _delete(client, f"{LOCATIONS}/bk-no-plugin")
    client.request("PATCH", DEPLOYMENT, {"spec": {"replicas": 0}}, MERGE)
    _delete(client, f"/apis/{RBAC}/clusterrolebindings/bk-limited")
    _delete(client, f"/apis/{RBAC}/clusterroles/bk-limited")
    # Velero's backup sync deletes Backups its store does not hold, such as those later tests write by hand: stop it
    # (test_velero_real starts it again).
    velero_runner.down(cp.paths)


# -- the story ------------------------------------------------------------------------------------------------------

def test_velero_absent_is_a_clear_fail_with_the_helm_hint(control_plane, tmp_path):
    """Before Velero is installed (stopped and its CRDs removed if a test installed them): every DR check fails,
    and both entry points fail with how to install Velero, without a traceback."""
    velero_runner.down(control_plane.paths)
    client = control_plane.client()
    remove_velero_crds(client)
    findings = assess(control_plane, tmp_path)
    assert verdicts(findings) == dict.fromkeys(DR_CHECKS, "fail"), messages(findings)
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
    cp, _velero = bk
    findings = assess(cp, tmp_path)
    assert verdicts(findings) == {"KC-DR-001": "pass", "KC-DR-002": "pass", "KC-DR-003": "fail",
                                  "KC-DR-004": "fail", "KC-DR-005": "fail"}, messages(findings)
    assert "Deployment velero/velero" in findings["KC-DR-001"]["message"]
    # Velero validated its location within the last seconds (every 10s here).
    assert reason_of(findings["KC-DR-002"], "default").startswith("Available, validated"), findings["KC-DR-002"]
    coverage = findings["KC-DR-003"]
    assert "no Schedule runs at least every 15m" in reason_of(coverage, SHOP)
    # bk-vault's replication is declared (rpo_evidence), so only the retention is missing.
    assert "declared replication" in reason_of(coverage, VAULT)
    assert "no active Schedule keeps its backups for 720h" in reason_of(coverage, VAULT)
    assert f"RPO 1h met by {VELERO}/team-logs" in reason_of(coverage, LOGS)
    recency = findings["KC-DR-004"]
    assert reason_of(recency, "team-nightly").startswith("no Completed backup labelled velero.io/schedule-name="
                                                         "team-nightly"), recency
    assert "last Completed backup team-logs-manual finished" in reason_of(recency, "team-logs")
    assert object_of(recency, "team-logs")["verdict"] == "pass"
    assert "no restore test recorded" in findings["KC-DR-005"]["message"]
    STORY["user_schedules"] = user_schedules(cp.client())


def test_check_mode_shows_the_schedules_and_creates_none(bk, tmp_path):
    cp, _velero = bk
    result = backups_role(cp, tmp_path, "remediate", "--check", "--diff")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "kubecompass-important" in output and "kubecompass-critical" in output
    client = cp.client()
    names = [s["metadata"]["name"] for s in client.request("GET", SCHEDULES)["items"]]
    assert sorted(names) == sorted((*USER_SCHEDULES, "team-shortlived"))
    assert user_schedules(client) == STORY["user_schedules"]


def test_remediation_creates_schedules_that_satisfy_each_tier_and_velero_accepts(bk, tmp_path):
    cp, velero = bk
    result = backups_role(cp, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]  # the role's verify: KC-DR-001..003 pass
    assert recap_changed(result.stdout) > 0
    assert "near-zero RPO, which scheduled backups alone cannot meet" in output
    assert f"{VELERO}/team-nightly" in output  # reported as falling short, left unchanged
    client = cp.client()
    ours = {s["metadata"]["name"]: s for s in client.request("GET", SCHEDULES)["items"]
            if (s["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "kubecompass.readiness"}
    # bk-logs is left to team-logs, which meets best_effort's RPO and retention; bk-batch gets ours.
    assert sorted(ours) == sorted(OURS)
    rpo = {"kubecompass-critical": 5, "kubecompass-important": 15, "kubecompass-best-effort": 60}
    namespaces = {"kubecompass-critical": [VAULT], "kubecompass-important": [SHOP], "kubecompass-best-effort": [BATCH]}
    for name, schedule in ours.items():
        template = schedule["spec"]["template"]
        assert longest_interval(schedule["spec"]["schedule"]) <= datetime.timedelta(minutes=rpo[name]), schedule
        assert template["ttl"] == "720h0m0s" and parse_go_duration(template["ttl"]) >= datetime.timedelta(hours=720)
        assert template["includedNamespaces"] == namespaces[name] and template["storageLocation"] == "default"
        # Velero's own validation of the cron and the template.
        assert wait_schedule_phase(velero, client, name)["status"]["phase"] == "Enabled"
    assert ours["kubecompass-important"]["spec"]["schedule"] == "*/15 * * * *"
    assert ours["kubecompass-critical"]["spec"]["schedule"] == "*/5 * * * *"
    assert ours["kubecompass-best-effort"]["spec"]["schedule"] == "0 * * * *"
    assert user_schedules(client) == STORY["user_schedules"]


def test_velero_runs_the_schedules_to_completed_backups(bk):
    """Item 5: one interval later (the clock harness), Velero's schedule controller submits a backup of each of our
    Schedules, and each reaches Completed with the template's namespaces, TTL and location, its files in the store."""
    cp, velero = bk
    client = cp.client()
    due_now(client, OURS)
    made = {}

    def each_completed():
        for name in OURS:
            completed = [b for b in backups_of(client, name) if (b.get("status") or {}).get("phase") == "Completed"]
            failed = [b for b in backups_of(client, name) if (b.get("status") or {}).get("phase") in TERMINAL - {
                "Completed"}]
            assert not failed, [b["status"] for b in failed]
            if completed:
                made[name] = completed[0]
        return len(made) == len(OURS)

    seed.wait_for("Velero to run each Schedule to a Completed backup", each_completed, 180, interval=2)
    for name, backup in made.items():
        schedule = client.request("GET", f"{SCHEDULES}/{name}")
        template = schedule["spec"]["template"]
        assert backup["metadata"]["name"].startswith(name + "-")
        assert backup["spec"]["includedNamespaces"] == template["includedNamespaces"]
        assert backup["spec"]["ttl"] == template["ttl"] and backup["spec"]["storageLocation"] == "default"
        assert schedule["status"]["lastBackup"] >= backup["metadata"]["creationTimestamp"][:19], schedule["status"]
        assert (velero.bucket_dir / "backups" / backup["metadata"]["name"] / "velero-backup.json").is_file()
    STORY["scheduled"] = {name: backup["metadata"]["name"] for name, backup in made.items()}


def test_second_run_changes_nothing_and_never_writes_the_user_schedules(bk, tmp_path):
    """After Velero has reconciled and run them (it writes spec.skipImmediately and the status), the role's
    Schedules compare equal; the user's Schedules carry no field the role wrote."""
    cp, _velero = bk
    result = backups_role(cp, tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert recap_changed(result.stdout) == 0, result.stdout[-4000:]
    client = cp.client()
    assert user_schedules(client) == STORY["user_schedules"]
    for name in USER_SCHEDULES:
        assert written_by_us(client.request("GET", f"{SCHEDULES}/{name}")) == []


def test_restore_drill_check_mode_creates_neither_the_modifiers_nor_the_restore(bk, tmp_path):
    cp, _velero = bk
    client = cp.client()
    before = restore_names(client)
    result = restore_drill(cp, tmp_path, "--check")
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output, output[-4000:]
    assert "kubecompass-restore-drill-modifiers" in output  # the Restore shown references it
    assert STORY["scheduled"]["kubecompass-important"] in output  # the backup it would restore
    assert restore_names(client) == before
    assert _gone(client, MODIFIERS)


def test_a_restore_that_fails_an_item_is_recorded_partially_failed_and_kc_dr_005_fails(bk, tmp_path):
    """A ConfigMap whose restore fails (the fault plugin): Velero ends the Restore PartiallyFailed; the drill
    records that and fails, and with no successful restore yet, KC-DR-005 fails naming it."""
    cp, velero = bk
    client = cp.client()
    put(client, config_map(SHOP, "bk-restore-error", {"k": "v"}, fault="restore-error"))
    STORY["faulty_backup"] = backup_now(velero, client, "kubecompass-important", "bk-shop-restore-error")
    assert STORY["faulty_backup"]["status"]["phase"] == "Completed", STORY["faulty_backup"]["status"]
    _delete(client, f"/api/v1/namespaces/{SHOP}/configmaps/bk-restore-error")
    before = restore_names(client)
    result = restore_drill(cp, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output[-4000:]
    [restore] = new_restores(client, before)
    name = restore["metadata"]["name"]
    assert restore["status"]["phase"] == "PartiallyFailed" and restore["status"]["errors"] >= 1, restore["status"]
    assert f"Restore {name} of backup bk-shop-restore-error ended PartiallyFailed" in output
    record = drill_records(client)[name]["data"]
    assert record["outcome"] == "PartiallyFailed" and record["rto_met"] == "false" and int(record["errors"]) >= 1
    assert _gone(client, f"/api/v1/namespaces/{SCRATCH}")
    finding = assess(cp, tmp_path)["KC-DR-005"]
    assert finding["verdict"] == "fail", finding["message"]
    assert "no successful restore test" in finding["message"] and name in finding["message"]
    assert "PartiallyFailed" in finding["message"]


def test_a_restore_that_skips_and_alters_objects_is_data_incomplete_naming_them(bk, tmp_path):
    """Velero reports the Restore Completed, yet one ConfigMap did not come back and another came back changed (the
    fault plugin): the drill's census and content comparison find both, and KC-DR-005 fails."""
    cp, velero = bk
    client = cp.client()
    put(client, config_map(SHOP, "bk-restore-skip", {"k": "v"}, fault="restore-skip"))
    put(client, config_map(SHOP, "bk-restore-alter", {"k": "original"}, fault="restore-alter"))
    time.sleep(1.1)  # creationTimestamp has whole seconds: the objects are older than the backup
    backup = backup_now(velero, client, "kubecompass-important", "bk-shop-restore-faults")
    assert backup["status"]["phase"] == "Completed", backup["status"]
    before = restore_names(client)
    result = restore_drill(cp, tmp_path)
    output = result.stdout + result.stderr
    for name in ("bk-restore-skip", "bk-restore-alter"):
        _delete(client, f"/api/v1/namespaces/{SHOP}/configmaps/{name}")
    assert result.returncode != 0 and "Traceback" not in output, output[-4000:]
    [restore] = new_restores(client, before)
    assert restore["status"]["phase"] == "Completed", restore["status"]
    record = drill_records(client)[restore["metadata"]["name"]]["data"]
    assert record["outcome"] == "Completed" and record["data_restored"] == "incomplete", record
    assert "missing bk-restore-skip" in record["data_problems"], record["data_problems"]
    assert "ConfigMap bk-restore-alter content differs" in record["data_problems"], record["data_problems"]
    assert "the data restored is incomplete" in output
    finding = assess(cp, tmp_path)["KC-DR-005"]
    assert finding["verdict"] == "fail", finding["message"]
    assert "bk-restore-skip" in finding["message"] and "bk-restore-alter" in finding["message"]


def held_at_zero(document, group_resource):
    """The patches of the modifier rules for one resource (Velero matches rules by groupResource)."""
    return [patch for rule in document["resourceModifierRules"]
            if rule["conditions"]["groupResource"] == group_resource for patch in rule["patches"]]


def test_restore_drill_restores_the_namespace_held_at_zero_and_proves_the_data(bk, tmp_path):
    """Item 4: Velero restores the latest backup of bk-shop into bk-shop-drill; what came back is counted kind by
    kind and compared by content; nothing restored runs or takes traffic; the duration is judged against the
    important tier's RTO; the scratch namespace is inspected (kept), then removed."""
    cp, velero = bk
    client = cp.client()
    backup = backup_now(velero, client, "kubecompass-important", "bk-shop-clean")
    assert backup["status"]["phase"] == "Completed", backup["status"]
    time.sleep(1.1)
    put(client, config_map(SHOP, "bk-added-after-the-backup", {"k": "v"}))
    before = restore_names(client)
    started = time.monotonic()
    result = restore_drill(cp, tmp_path, keep_scratch=True)
    STORY["drill_wall_seconds"] = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert SECRET_VALUE not in output
    [restore] = new_restores(client, before)
    spec = restore["spec"]
    assert {k: spec[k] for k in ("backupName", "includedNamespaces", "namespaceMapping")} == {
        "backupName": "bk-shop-clean", "includedNamespaces": [SHOP], "namespaceMapping": {SHOP: SCRATCH}}
    assert spec["resourceModifier"] == {"kind": "ConfigMap", "name": "kubecompass-restore-drill-modifiers"}
    assert restore["status"]["phase"] == "Completed", restore["status"]
    [document] = [yaml.safe_load(text) for text in client.request("GET", MODIFIERS)["data"].values()]
    assert held_at_zero(document, "cronjobs.batch") == [{"operation": "add", "path": "/spec/suspend",
                                                         "value": "true"}]

    # What Velero put in the scratch namespace, as the modifiers and exclusions say.
    scratch = {kind: {o["metadata"]["name"]: o for o in client.request("GET", path % SCRATCH)["items"]}
               for kind, path in PATHS.items()}
    assert scratch["Deployment"]["bk-web"]["spec"]["replicas"] == 0
    assert scratch["CronJob"]["bk-report"]["spec"]["suspend"] is True
    assert scratch["Service"]["bk-public"]["spec"]["type"] == "ClusterIP"
    assert scratch["Ingress"] == {}
    assert scratch["ConfigMap"]["bk-app-config"]["data"] == {"mode": "prod", "greeting": "hello"}
    assert "bk-added-after-the-backup" not in scratch["ConfigMap"]
    secret = scratch["Secret"]["bk-db-password"]
    assert base64.b64decode(secret["data"]["password"]).decode() == SECRET_VALUE
    assert secret["metadata"]["labels"]["velero.io/restore-name"] == restore["metadata"]["name"]

    record = drill_records(client)[restore["metadata"]["name"]]["data"]
    assert record["outcome"] == "Completed" and record["data_restored"] == "complete", record
    assert record["backup"] == "bk-shop-clean" and record["namespace"] == SHOP and record["live_workloads"] == "false"
    counts = json.loads(record["census"])
    assert counts["ConfigMap"] == [2, 2]  # bk-app-config and kube-root-ca.crt; not bk-added-after-the-backup
    assert counts["Secret"] == [1, 1] and counts["Service"] == [2, 2] and counts["Deployment"] == [1, 1]
    assert counts["CronJob"] == [1, 1] and counts["ServiceAccount"] == [1, 1] and "Ingress" not in counts
    content = json.loads(record["content"])
    assert content["ConfigMap"] == [2, 2] and content["Secret"] == [1, 1], content
    assert SECRET_VALUE not in json.dumps(record)
    assert record["duration_source"] == "restore status timestamps"
    assert record["tier"] == "important" and record["rto_target_seconds"] == "3600" and record["rto_met"] == "true"
    assert int(record["duration_seconds"]) <= STORY["drill_wall_seconds"]
    STORY["completed_drill"] = restore["metadata"]["name"]
    print("drill: Restore %s took %ss by Velero's timestamps (playbook %.1fs), important tier RTO %ss" % (
        restore["metadata"]["name"], record["duration_seconds"], STORY["drill_wall_seconds"],
        record["rto_target_seconds"]))

    _delete(client, f"/api/v1/namespaces/{SCRATCH}")
    seed.wait_for(f"namespace {SCRATCH} to go", lambda: _gone(client, f"/api/v1/namespaces/{SCRATCH}"), 120)


def test_every_dr_check_passes_on_what_velero_made(bk, tmp_path):
    """Once team-nightly has a Completed backup too (made now, as an operator would after a failed night)."""
    cp, velero = bk
    client = cp.client()
    nightly = backup_now(velero, client, "team-nightly", "team-nightly-manual")
    assert nightly["status"]["phase"] == "Completed", nightly["status"]
    findings = assess(cp, tmp_path)
    assert verdicts(findings) == dict.fromkeys(DR_CHECKS, "pass"), messages(findings)
    recency = findings["KC-DR-004"]
    for name in OURS:
        # Made by the schedule controller (kubecompass-critical's */5 may have fired again on its own since), or,
        # for kubecompass-important, the drills' backups made from its template.
        assert re.match(r"last Completed backup (%s-\d{14}|bk-shop-clean) finished" % name,
                        reason_of(recency, name)), recency
    assert reason_of(recency, "team-nightly").startswith("last Completed backup team-nightly-manual"), recency
    assert "declared replication" in reason_of(findings["KC-DR-003"], VAULT)
    assert STORY["completed_drill"] in findings["KC-DR-005"]["message"]
    assert user_schedules(client) == STORY["user_schedules"]


def test_a_drill_slower_than_the_tiers_rto_fails_kc_dr_005_naming_both_figures(bk, tmp_path):
    """The drill's own record format (not a Velero status): a newer drill of bk-shop that took 90 minutes."""
    cp, _velero = bk
    client = cp.client()
    slow = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "bk-slow-drill", "namespace": VELERO,
                         "labels": {"kubecompass.io/restore-drill": "true"}},
            "data": {"outcome": "Completed", "completed_at": seed.ago(seconds=0), "backup": "bk-shop-clean",
                     "namespace": SHOP, "duration_seconds": "5400", "data_restored": "complete"}}
    seed.create(client, slow)
    try:
        findings = assess(cp, tmp_path)
    finally:
        _delete(client, f"/api/v1/namespaces/{VELERO}/configmaps/bk-slow-drill")
    finding = findings["KC-DR-005"]
    assert finding["verdict"] == "fail", finding["message"]
    assert "5400s" in finding["message"] and "important tier's RTO of 3600s" in finding["message"]


def test_a_reader_that_may_not_list_velero_objects_gets_unknown_not_pass(bk, tmp_path):
    cp, _velero = bk
    client = cp.client()
    # May read namespaces, CRDs and Backups; not Deployments, Schedules, storage locations, Restores, ConfigMaps.
    seed.create(client, {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "bk-limited"}, "rules": [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get", "list"]},
        {"apiGroups": ["velero.io"], "resources": ["backups"], "verbs": ["get", "list"]}]})
    seed.create(client, {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "bk-limited"},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                     "name": "bk-limited"},
                         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bk-limited"}]})
    pki_dir = cp.node_root(cp.nodes[0]["name"]) / "etc/kubernetes/pki"
    ca = pki.load(pki_dir / "ca.crt", pki_dir / "ca.key")
    pair = pki.issue(ca, "bk-limited", client=True)
    kubeconfig = tmp_path / "bk-limited.conf"
    kubeconfig.write_text(manifests.kubeconfig(cp.server(), ca.cert_pem(), "bk-limited", pair.cert_pem(),
                                               pair.key_pem()))
    findings = assess(cp, tmp_path, kubeconfig=kubeconfig)
    assert verdicts(findings) == dict.fromkeys(DR_CHECKS, "unknown"), messages(findings)
    assert "deployments" in findings["KC-DR-001"]["message"] and "forbidden" in findings["KC-DR-001"]["message"]
    assert "velero_schedules" in findings["KC-DR-003"]["message"]


def test_what_velero_does_wrong_reaches_each_check_and_bad_input_is_named(bk, tmp_path):
    """Velero-made failures, one assess run: a backup with an item that failed to back up ends PartiallyFailed; a
    Schedule with an invalid cron is FailedValidation; a backup kept one minute expires and Velero
    garbage-collects it; a location whose plugin is missing and the default location whose store is gone are
    Unavailable. And a drill of a namespace no backup covers says so."""
    cp, velero = bk
    client = cp.client()
    schedules = {"team-flaky": ("0 * * * *", [BATCH], "720h0m0s"),
                 "team-broken": ("every day at noon", [LOGS], "720h0m0s")}
    for name, (cron, namespaces, ttl) in schedules.items():
        seed.create(client, {"apiVersion": "velero.io/v1", "kind": "Schedule",
                             "metadata": {"name": name, "namespace": VELERO},
                             "spec": {"schedule": cron, "template": {"includedNamespaces": namespaces, "ttl": ttl}}})
    broken = wait_schedule_phase(velero, client, "team-broken", ("FailedValidation",))
    assert "invalid schedule" in " ".join(broken["status"]["validationErrors"])

    put(client, config_map(BATCH, "bk-backup-error", {"k": "v"}, fault="backup-error"))
    try:
        wait_schedule_phase(velero, client, "team-flaky")
        partial = backup_now(velero, client, "team-flaky", "team-flaky-manual")
    finally:
        _delete(client, f"/api/v1/namespaces/{BATCH}/configmaps/bk-backup-error")
    assert partial["status"]["phase"] == "PartiallyFailed" and partial["status"]["errors"] >= 1, partial["status"]

    result = restore_drill(cp, tmp_path, namespace=UNCOVERED)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert f"no Completed backup in {VELERO} covers namespace {UNCOVERED}" in output, output[-3000:]

    # Expired minutes ago; garbage collection runs every 30s and skips an Unavailable location, so it is done first.
    seed.wait_for("Velero to garbage-collect team-shortlived-manual", lambda: _gone(
        client, f"{BACKUPS}/team-shortlived-manual") and not (
            velero.bucket_dir / "backups" / "team-shortlived-manual").exists(), 150, interval=2)
    print("team-shortlived-manual expired at %s, gone by %s" % (STORY["short_lived_expires"], seed.ago(seconds=0)))

    seed.create(client, {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                         "metadata": {"name": "bk-no-plugin", "namespace": VELERO},
                         "spec": {"provider": "kubecompass.test/not-installed", "objectStorage": {"bucket": "b"}}})
    parked = velero.bucket_dir.with_name(velero.bucket_dir.name + ".parked")
    velero.bucket_dir.rename(parked)
    try:
        for name in ("default", "bk-no-plugin"):
            velero.wait_phase(client, "backupstoragelocations", name, {"Unavailable"}, timeout=60)
        findings = assess(cp, tmp_path, applications=(*TIERS, SHORT_LIVED))
    finally:
        parked.rename(velero.bucket_dir)
        _delete(client, f"{LOCATIONS}/bk-no-plugin")
        for name in schedules:
            _delete(client, f"{SCHEDULES}/{name}")
    velero.wait_phase(client, "backupstoragelocations", "default", {"Available"}, timeout=60)

    assert findings["KC-DR-002"]["verdict"] == "fail", findings["KC-DR-002"]
    assert reason_of(findings["KC-DR-002"], "default").startswith("phase Unavailable"), findings["KC-DR-002"]
    assert "kubecompass.test/not-installed" in reason_of(findings["KC-DR-002"], "bk-no-plugin"), findings["KC-DR-002"]
    recency = findings["KC-DR-004"]
    assert recency["verdict"] == "fail"
    flaky = reason_of(recency, "team-flaky")
    assert "the newest backup team-flaky-manual is PartiallyFailed, which does not count" in flaky, flaky
    assert reason_of(recency, "team-shortlived").startswith("no Completed backup labelled"), recency
    assert "invalid schedule" in reason_of(recency, "team-broken"), recency
    assert object_of(recency, "team-nightly")["verdict"] == "pass"
