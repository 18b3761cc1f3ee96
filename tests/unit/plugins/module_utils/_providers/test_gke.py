"""GKE provider: the real google-cloud-container client (REST transport) against the loopback GKE fake: describe,
facts, plan (exact requests), apply (one desired_* field per UpdateCluster, operations polled to DONE, failures,
conflicts, timeouts), discovery, credentials and a missing SDK; plus the pure facts/plan rules on hand-made raw
clusters."""

from __future__ import annotations

import datetime
import json
import socket
import sys

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    ProviderError,
    diff_of,
    gke,
    validate_desired,
)
from tests.fakes.gke_server import GkeFake

PROJECT = "kc-prod"
REGION = "europe-west1"
KEY = "projects/kc-prod/locations/europe-west1/keyRings/gke/cryptoKeys/secrets"
CLUSTER_PATH = "projects/kc-prod/locations/europe-west1/clusters/prod-1"


class FakeTime:
    """sleep() advances clock(); counts the sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self):
        return self.now


@pytest.fixture
def fake():
    server = GkeFake(operation_polls=2)
    server.start()
    yield server
    server.stop()


def target_for(fake, location=REGION, name="prod-1", project=PROJECT):
    return {"type": "gke", "project": project, "location": location, "name": name, "endpoint_url": fake.url}


def desired(**options):
    return validate_desired(options)


def run_apply(target, steps, clients, timeout=600, poll_seconds=15):
    fake_time = FakeTime()
    outcomes = gke.apply(target, steps, clients, timeout, poll_seconds, sleep=fake_time.sleep, clock=fake_time.clock)
    return outcomes, fake_time


# --- the whole story against the fake -----------------------------------------------------------------------------

def test_non_compliant_cluster_is_fixed_in_three_single_field_updates_then_plans_nothing(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1")
    target = target_for(fake)
    clients = gke.clients(target)

    facts, raw = describe_facts(target, clients)
    assert facts["sections"]["audit_logging"]["enabled"] is False
    assert facts["sections"]["secrets_encryption"]["state"] == "off"
    assert raw["cluster"]["logging_service"] == "none"

    steps = gke.plan(target, raw, desired(kms_key=KEY))
    assert [(step["item"], step["action"], step["call"]) for step in steps] == [
        ("audit_logging", "update", "gke:ClusterManager.UpdateCluster"),
        ("audit_logging", "update", "gke:ClusterManager.UpdateCluster"),
        ("secrets_encryption", "update", "gke:ClusterManager.UpdateCluster"),
    ]
    assert [step["request"] for step in steps] == [
        {"name": CLUSTER_PATH, "update": {"desired_logging_service": "logging.googleapis.com/kubernetes"}},
        {"name": CLUSTER_PATH, "update": {"desired_logging_config": {
            "component_config": {"enable_components": ["SYSTEM_COMPONENTS", "APISERVER"]}}}},
        {"name": CLUSTER_PATH, "update": {"desired_database_encryption": {"state": "ENCRYPTED", "key_name": KEY}}},
    ]
    assert all(step["irreversible"] is False and step["follow_up"] is None for step in steps)
    assert "roles/cloudkms.cryptoKeyEncrypterDecrypter" in steps[2]["reason"]
    assert diff_of(steps) == {
        "before": {"audit_logging": {"logging_service": "none", "components": []},
                   "secrets_encryption": {"state": "off", "key": None}},
        "after": {"audit_logging": {"logging_service": "logging.googleapis.com/kubernetes",
                                    "components": ["SYSTEM_COMPONENTS", "APISERVER"]},
                  "secrets_encryption": {"state": "on", "key": KEY}},
    }
    json.dumps(steps)  # requests must be JSON-able

    outcomes, fake_time = run_apply(target, steps, clients)
    assert [outcome["status"] for outcome in outcomes] == ["succeeded"] * 3
    assert [outcome["error"] for outcome in outcomes] == [None] * 3
    operations = [outcome["operation"] for outcome in outcomes]
    assert all(name.startswith("projects/kc-prod/locations/europe-west1/operations/operation-") for name in operations)
    assert len(set(operations)) == 3
    # The REST transport sends enums as numbers; exactly one desired* field per request. Step 2 was re-planned on a
    # fresh read: GKE had turned on SYSTEM_COMPONENTS and WORKLOADS with Cloud Logging, and WORKLOADS (2) stays on.
    assert fake.updates() == [
        {"desiredLoggingService": "logging.googleapis.com/kubernetes"},
        {"desiredLoggingConfig": {"componentConfig": {"enableComponents": [1, 2, 3]}}},
        {"desiredDatabaseEncryption": {"keyName": KEY, "state": 1}},
    ]
    assert steps[1]["request"]["update"]["desired_logging_config"]["component_config"]["enable_components"] == [
        "SYSTEM_COMPONENTS", "APISERVER"]  # the planned request (check mode shows it) is left as planned
    puts = [entry for entry in fake.requests if entry["method"] == "PUT"]
    assert {entry["path"] for entry in puts} == {"/v1/" + CLUSTER_PATH}
    # RUNNING for operation_polls=2 polls, then DONE: 3 polls and 3 sleeps of poll_seconds per operation.
    assert [fake.polls(name.rsplit("/", 1)[1]) for name in operations] == [3, 3, 3]
    assert fake_time.sleeps == [15] * 9
    assert [outcome["seconds"] for outcome in outcomes] == [45.0, 45.0, 45.0]

    facts, raw = describe_facts(target, clients)
    assert facts["sections"]["audit_logging"]["enabled"] is True
    assert gke.logging_components(raw["cluster"]) == ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER"]
    assert facts["sections"]["secrets_encryption"] == {
        "state": "on", "key": KEY,
        "detail": "Secrets are encrypted at the application layer with Cloud KMS key %s" % KEY}
    again = gke.plan(target, raw, desired(kms_key=KEY))
    assert [(step["item"], step["action"]) for step in again] == [
        ("audit_logging", "none"), ("secrets_encryption", "none")]
    assert all(step["request"] is None for step in again)
    outcomes, fake_time = run_apply(target, again, clients)
    assert outcomes == []
    assert len(fake.updates()) == 3


def describe_facts(target, clients):
    raw = gke.describe(target, clients)
    json.dumps(raw)
    return gke.facts(target, raw), raw


def test_describe_reads_cluster_and_upgrade_info_and_drops_secret_material(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1", logging_on=True, encrypted=True, labels={"env": "prod"},
                      overrides={"masterAuth": {"username": "admin", "password": "s3cret-pw",
                                                "clientKey": "LS0tcHJpdmF0ZQ==", "clusterCaCertificate": "Q0E="}})
    target = target_for(fake)
    facts, raw = describe_facts(target, gke.clients(target))
    assert [(entry["method"], entry["path"]) for entry in fake.requests] == [
        ("GET", "/v1/" + CLUSTER_PATH), ("GET", "/v1/" + CLUSTER_PATH + ":fetchClusterUpgradeInfo")]
    assert raw["cluster"]["master_auth"] == {"username": "admin", "cluster_ca_certificate": "Q0E="}
    assert "s3cret-pw" not in json.dumps(raw) and "LS0tcHJpdmF0ZQ==" not in json.dumps(raw)
    assert raw["cluster"]["database_encryption"]["state"] == "ENCRYPTED"
    assert raw["upgrade_info"]["patch_target_version"] == "1.31.6-gke.1020000"
    assert raw["errors"] == {}
    assert facts["id"] == CLUSTER_PATH and facts["name"] == "prod-1" and facts["location"] == REGION
    assert facts["sections"]["version"]["version"] == "1.31"
    assert facts["sections"]["version"]["support"] == "standard"
    assert facts["sections"]["people_auth"]["sso"] is False  # basic-auth username set
    assert facts["sections"]["control_plane_ha"]["ha"] is True
    assert facts["sections"]["endpoint"] == {
        "public": True, "private": True, "public_cidrs": ["0.0.0.0/0"],
        "detail": "public IP endpoint open to any address (authorized networks off); private endpoint on "
                  "(control_plane_endpoints_config.ip_endpoints_config)"}
    assert facts["sections"]["node_pools"]["pools"] == [
        {"name": "default-pool", "zones": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
         "autoscaling": True, "min": 1, "max": 3}]
    assert facts["sections"]["autoscaling"]["enabled"] is True


def test_zonal_cluster_is_not_ha_and_regional_is(fake):
    zonal = fake.seed_cluster(PROJECT, REGION, "zonal-1", regional=False)
    assert zonal["location"] == "europe-west1-b"
    fake.seed_cluster(PROJECT, REGION, "regional-1")
    zonal_target = target_for(fake, location="europe-west1-b", name="zonal-1")
    regional_target = target_for(fake, name="regional-1")
    zonal_facts, _raw = describe_facts(zonal_target, gke.clients(zonal_target))
    regional_facts, _raw = describe_facts(regional_target, gke.clients(regional_target))
    assert zonal_facts["sections"]["control_plane_ha"] == {
        "ha": False, "detail": "zonal cluster in europe-west1-b: a single control-plane replica in one zone"}
    assert regional_facts["sections"]["control_plane_ha"]["ha"] is True
    assert zonal_facts["sections"]["node_pools"]["pools"][0]["zones"] == ["europe-west1-b"]


def test_upgrade_info_failure_goes_to_errors_and_version_support_is_unknown(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1")
    fake.fail_next("GET", r":fetchClusterUpgradeInfo$", 403)
    target = target_for(fake)
    facts, raw = describe_facts(target, gke.clients(target))
    assert raw["errors"] == {"version": "gke:ClusterManager.FetchClusterUpgradeInfo: PERMISSION_DENIED: injected "
                                        "failure (the caller needs IAM permission container.clusters.get)"}
    assert facts["errors"] == raw["errors"]
    assert facts["sections"]["version"]["version"] == "1.31"
    assert facts["sections"]["version"]["support"] is None
    assert facts["sections"]["version"]["end_of_support"] is None


@pytest.mark.parametrize("status, category, needle", [
    (403, "forbidden", "container.clusters.get"),
    (404, "not_found", "gke:ClusterManager.GetCluster: NOT_FOUND"),
    (401, "credentials", "check the Google credentials"),  # anonymous credentials cannot refresh
    (500, "api", "INTERNAL"),
])
def test_cluster_read_failure_raises_a_categorised_error(fake, status, category, needle):
    fake.seed_cluster(PROJECT, REGION, "prod-1")
    fake.fail_next("GET", r"/clusters/prod-1$", status)
    target = target_for(fake)
    with pytest.raises(ProviderError) as raised:
        gke.describe(target, gke.clients(target))
    assert raised.value.category == category
    assert needle in str(raised.value)
    assert str(raised.value).startswith("gke:ClusterManager.GetCluster: ")


def test_missing_cluster_is_not_found(fake):
    target = target_for(fake, name="nope")
    with pytest.raises(ProviderError) as raised:
        gke.describe(target, gke.clients(target))
    assert raised.value.category == "not_found"
    assert "projects/kc-prod/locations/europe-west1/clusters/nope" in str(raised.value)


def test_unreachable_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = {"type": "gke", "project": PROJECT, "location": REGION, "name": "prod-1",
              "endpoint_url": "http://127.0.0.1:%d" % port}
    with pytest.raises(ProviderError) as raised:
        gke.describe(target, gke.clients(target))
    assert raised.value.category == "unreachable"
    assert str(raised.value).startswith("gke:ClusterManager.GetCluster: ConnectionError: ")


# --- apply failures --------------------------------------------------------------------------------------------

def test_held_without_key_and_apply_skips_held_steps(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1", logging_on=True)
    target = target_for(fake)
    clients = gke.clients(target)
    raw = gke.describe(target, clients)
    steps = gke.plan(target, raw, desired(items=["secrets_encryption"]))
    assert steps == [{
        "item": "secrets_encryption", "action": "held",
        "reason": "no KMS key given: set kms_key (role variable managed_control_plane_kms_key) to a Cloud KMS key "
                  "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY",
        "call": None, "request": None, "before": {"state": "off", "key": None}, "after": {"state": "off", "key": None},
        "irreversible": False, "follow_up": None}]
    outcomes, _time = run_apply(target, steps, clients)
    assert outcomes == []
    assert fake.updates() == []


def test_turning_logging_on_keeps_the_components_gke_enables_with_it(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1")
    target = target_for(fake)
    clients = gke.clients(target)
    steps = gke.plan(target, gke.describe(target, clients), desired(items=["audit_logging"]))
    outcomes, _fake_time = run_apply(target, steps[:1], clients)
    assert outcomes[0]["status"] == "succeeded"
    cluster = fake.cluster(PROJECT, REGION, "prod-1")
    assert cluster["loggingConfig"]["componentConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS", "WORKLOADS"]

    fake.requests.clear()
    outcomes, _fake_time = run_apply(target, steps[1:], clients)
    assert outcomes[0]["status"] == "succeeded"
    # Re-read right before the send, then the union of what is on and what was planned.
    assert [(entry["method"], entry["path"]) for entry in fake.requests][:2] == [
        ("GET", "/v1/" + CLUSTER_PATH), ("PUT", "/v1/" + CLUSTER_PATH)]
    assert fake.updates() == [{"desiredLoggingConfig": {"componentConfig": {"enableComponents": [1, 2, 3]}}}]
    cluster = fake.cluster(PROJECT, REGION, "prod-1")
    assert cluster["loggingConfig"]["componentConfig"]["enableComponents"] == [
        "SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER"]


def test_logging_config_step_sends_nothing_when_everything_is_on_at_send_time(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1", logging_on=True,
                      overrides={"loggingConfig": {"componentConfig": {"enableComponents": ["SYSTEM_COMPONENTS"]}}})
    target = target_for(fake)
    clients = gke.clients(target)
    steps = gke.plan(target, gke.describe(target, clients), desired(items=["audit_logging"]))
    assert [step["request"]["update"] for step in steps] == [{"desired_logging_config": {"component_config": {
        "enable_components": ["SYSTEM_COMPONENTS", "APISERVER"]}}}]
    fake.clusters[(PROJECT, REGION, "prod-1")]["loggingConfig"] = {"componentConfig": {
        "enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER"]}}  # someone else got there first
    outcomes, _fake_time = run_apply(target, steps, clients)
    assert outcomes == [{"item": "audit_logging", "call": "gke:ClusterManager.UpdateCluster", "status": "succeeded",
                         "operation": None, "error": None, "seconds": 0.0}]
    assert fake.updates() == []


def test_logging_config_step_fails_when_the_re_read_fails(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1", logging_on=True,
                      overrides={"loggingConfig": {"componentConfig": {"enableComponents": ["SYSTEM_COMPONENTS"]}}})
    target = target_for(fake)
    clients = gke.clients(target)
    steps = gke.plan(target, gke.describe(target, clients), desired(items=["audit_logging"]))
    fake.fail_next("GET", r"/clusters/prod-1$", 403)
    outcomes, _fake_time = run_apply(target, steps, clients)
    assert outcomes[0]["status"] == "failed" and outcomes[0]["operation"] is None
    assert outcomes[0]["error"].startswith("gke:ClusterManager.GetCluster: PERMISSION_DENIED")
    assert fake.updates() == []


def test_operation_done_with_error_fails_the_step_and_stops(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1", logging_on=True)
    fake.fail_next_operation("Cloud KMS key projects/kc-prod/locations/europe-west1/keyRings/gke/cryptoKeys/secrets "
                             "is not accessible by the GKE service agent")
    target = target_for(fake)
    clients = gke.clients(target)
    raw = gke.describe(target, clients)
    steps = gke.plan(target, raw, desired(kms_key=KEY, items=["secrets_encryption", "audit_logging"]))
    assert [step["action"] for step in steps] == ["update", "none"]
    # A second update step after the failing one must not be sent.
    steps.append(dict(steps[0]))
    outcomes, _time = run_apply(target, steps, clients)
    assert len(outcomes) == 1
    outcome = outcomes[0]
    assert outcome["status"] == "failed"
    assert outcome["operation"].startswith("projects/kc-prod/locations/europe-west1/operations/operation-")
    assert outcome["error"] == ("gke:ClusterManager.UpdateCluster: operation %s failed: code 9: Cloud KMS key %s is "
                                "not accessible by the GKE service agent" % (outcome["operation"], KEY))
    assert len(fake.updates()) == 1
    assert fake.cluster(PROJECT, REGION, "prod-1")["databaseEncryption"]["state"] == "DECRYPTED"


@pytest.mark.parametrize("how", ["running operation", "injected"])
def test_update_while_another_operation_runs_is_a_conflict(fake, how):
    fake.seed_cluster(PROJECT, REGION, "prod-1")
    if how == "injected":
        fake.conflict_next()
        running = "operation-0000000000000-0"
    else:
        running = fake.start_operation(PROJECT, REGION, "prod-1")
    target = target_for(fake)
    clients = gke.clients(target)
    steps = gke.plan(target, gke.describe(target, clients), desired(kms_key=KEY))
    outcomes, fake_time = run_apply(target, steps, clients)
    assert len(outcomes) == 1
    assert outcomes[0]["status"] == "failed" and outcomes[0]["operation"] is None
    assert outcomes[0]["error"].startswith("gke:ClusterManager.UpdateCluster: FAILED_PRECONDITION: Operation %s is "
                                           "currently" % running)
    assert outcomes[0]["error"].endswith("(conflict: cluster prod-1 has another operation in progress or a "
                                         "precondition failed; rerun once the cluster is RUNNING)")
    assert fake.polls() == 0 and fake_time.sleeps == []
    assert len(fake.updates()) == 1
    assert gke.classify(gke.UPDATE_CLUSTER, FakeHttpError(400, "FAILED_PRECONDITION"), "c")[0] == "conflict"


def test_update_permission_denied_names_the_permission(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1", logging_on=True)
    fake.fail_next("PUT", r"/clusters/prod-1$", 403, {"error": {
        "code": 403, "status": "PERMISSION_DENIED",
        "message": "Required \"container.clusters.update\" permission(s) for \"projects/kc-prod/...\"."}})
    target = target_for(fake)
    clients = gke.clients(target)
    steps = gke.plan(target, gke.describe(target, clients), desired(kms_key=KEY))
    outcomes, _time = run_apply(target, steps, clients)
    assert [outcome["status"] for outcome in outcomes] == ["failed"]
    assert outcomes[0]["error"].endswith("(the caller needs IAM permission container.clusters.update)")
    assert outcomes[0]["error"].startswith("gke:ClusterManager.UpdateCluster: PERMISSION_DENIED: Required")


def test_operation_still_running_at_the_timeout(fake):
    fake.operation_polls = 1000
    fake.seed_cluster(PROJECT, REGION, "prod-1")
    target = target_for(fake)
    clients = gke.clients(target)
    steps = gke.plan(target, gke.describe(target, clients), desired(kms_key=KEY))
    outcomes, fake_time = run_apply(target, steps, clients, timeout=60, poll_seconds=15)
    assert len(outcomes) == 1
    outcome = outcomes[0]
    name = outcome["operation"].rsplit("/", 1)[1]
    assert outcome["status"] == "timeout"
    assert outcome["seconds"] == 60.0
    assert outcome["error"] == ("gke:ClusterManager.UpdateCluster: operation %s still RUNNING after 60s; check it "
                                "with `gcloud container operations describe %s --location europe-west1 --project "
                                "kc-prod`" % (outcome["operation"], name))
    assert fake.polls(name) == 4 and fake_time.sleeps == [15] * 4
    assert len(fake.updates()) == 1


def test_poll_failure_fails_the_step(fake):
    fake.seed_cluster(PROJECT, REGION, "prod-1", logging_on=True)
    fake.fail_next("GET", r"/operations/", 403)
    target = target_for(fake)
    clients = gke.clients(target)
    steps = gke.plan(target, gke.describe(target, clients), desired(kms_key=KEY))
    outcomes, _time = run_apply(target, steps, clients)
    assert outcomes[0]["status"] == "failed"
    assert "gke:ClusterManager.GetOperation: PERMISSION_DENIED" in outcomes[0]["error"]
    assert "container.operations.get" in outcomes[0]["error"]
    assert "may still be running" in outcomes[0]["error"]


# --- discovery ---------------------------------------------------------------------------------------------------

def test_list_clusters_over_two_projects(fake):
    fake.seed_cluster("kc-a", REGION, "a-1", labels={"env": "prod"})
    fake.seed_cluster("kc-a", "us-central1", "a-2", regional=False)
    fake.seed_cluster("kc-b", REGION, "b-1")
    fake.seed_cluster("kc-other", REGION, "x-1")
    found = gke.list_clusters({"projects": ["kc-a", "kc-b"], "endpoint_url": fake.url})
    assert [(entry["target"]["project"], entry["name"]) for entry in found] == [
        ("kc-a", "a-1"), ("kc-a", "a-2"), ("kc-b", "b-1")]
    first = found[0]
    assert first == {"name": "a-1", "distribution": "gke", "location": REGION,
                     "target": {"type": "gke", "project": "kc-a", "location": REGION, "name": "a-1",
                                "endpoint_url": fake.url},
                     "labels": {"env": "prod"},
                     "server": "https://" + fake.cluster("kc-a", REGION, "a-1")["endpoint"],
                     "version": "1.31.6-gke.1020000"}
    assert found[1]["location"] == "us-central1-b" and found[1]["labels"] == {}
    assert [entry["path"] for entry in fake.requests] == [
        "/v1/projects/kc-a/locations/-/clusters", "/v1/projects/kc-b/locations/-/clusters"]


def test_list_clusters_with_locations_and_errors(fake):
    fake.seed_cluster("kc-a", REGION, "a-1")
    fake.seed_cluster("kc-a", "us-central1", "a-2")
    clients = gke.clients({"type": "gke", "endpoint_url": fake.url})
    found = gke.list_clusters({"projects": ["kc-a"], "locations": ["us-central1"]}, clients)
    assert [entry["name"] for entry in found] == ["a-2"]
    assert "endpoint_url" not in found[0]["target"]
    fake.fail_next("GET", r"/clusters$", 403)
    with pytest.raises(ProviderError) as raised:
        gke.list_clusters({"projects": ["kc-a"], "endpoint_url": fake.url})
    assert raised.value.category == "forbidden" and "container.clusters.list" in str(raised.value)
    with pytest.raises(ProviderError) as raised:
        gke.list_clusters({"projects": []})
    assert raised.value.category == "input"


# --- clients -----------------------------------------------------------------------------------------------------

def test_missing_sdk_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.cloud.container_v1", None)
    with pytest.raises(ProviderError) as raised:
        gke.clients({"type": "gke", "project": PROJECT, "location": REGION, "name": "prod-1"})
    assert raised.value.category == "missing_sdk"
    assert "google-cloud-container" in str(raised.value)


@pytest.fixture
def no_ambient_credentials(monkeypatch, tmp_path):
    """No ADC anywhere: no env key file, an empty gcloud config, and no GCE metadata server probe."""
    from google.auth.compute_engine import _metadata

    for variable in ("GOOGLE_APPLICATION_CREDENTIALS", "GCE_CREDENTIALS_FILE_PATH", "GCE_PROJECT", "GCE_EMAIL",
                     "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    return tmp_path


@pytest.mark.parametrize("error", ["mtls", "options"])
def test_client_construction_failure_is_a_provider_error(fake, monkeypatch, error):
    from google.auth.exceptions import MutualTLSChannelError
    from google.cloud import container_v1

    def broken_client(**kwargs):
        if error == "mtls":
            raise MutualTLSChannelError("client certificate is not usable")
        raise ValueError("client_options.api_key and credentials are mutually exclusive")

    monkeypatch.setattr(container_v1, "ClusterManagerClient", broken_client)
    with pytest.raises(ProviderError) as raised:
        gke.clients(target_for(fake))
    assert raised.value.category == "api"
    assert str(raised.value).startswith("gke:ClusterManagerClient: %s: "
                                        % ("MutualTLSChannelError" if error == "mtls" else "ValueError"))
    assert str(raised.value).endswith("(endpoint %s)" % fake.url)
    with pytest.raises(ProviderError):
        gke.list_clusters({"projects": [PROJECT], "endpoint_url": fake.url})


def test_no_credentials_is_a_credentials_error(no_ambient_credentials):
    with pytest.raises(ProviderError) as raised:
        gke.clients({"type": "gke", "project": PROJECT, "location": REGION, "name": "prod-1"})
    assert raised.value.category == "credentials"
    assert str(raised.value).startswith("no Google credentials: ")
    assert "GCE_CREDENTIALS_FILE_PATH" in str(raised.value)


def test_awx_gce_credentials_file_is_used(no_ambient_credentials, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    key_file = no_ambient_credentials / "gce.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": "abc", "private_key": pem,
        "client_email": "kubecompass@kc-prod.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token"}))
    monkeypatch.setenv("GCE_CREDENTIALS_FILE_PATH", str(key_file))
    clients = gke.clients({"type": "gke", "project": PROJECT, "location": REGION, "name": "prod-1"})
    credentials = clients["cluster_manager"]._transport._credentials
    assert credentials.service_account_email == "kubecompass@kc-prod.iam.gserviceaccount.com"
    assert tuple(credentials.scopes) == tuple(gke.SCOPES)

    key_file.write_text("{}")
    with pytest.raises(ProviderError) as raised:
        gke.clients({"type": "gke", "project": PROJECT, "location": REGION, "name": "prod-1"})
    assert raised.value.category == "credentials"
    assert str(raised.value).startswith("GCE_CREDENTIALS_FILE_PATH %s is not a usable service-account key file"
                                        % key_file)
    assert pem not in str(raised.value)


def test_loopback_endpoint_gets_anonymous_credentials_over_rest(fake, no_ambient_credentials):
    clients = gke.clients(target_for(fake))
    assert type(clients["cluster_manager"]._transport._credentials).__name__ == "AnonymousCredentials"
    assert type(clients["cluster_manager"]._transport).__name__ == "ClusterManagerRestTransport"


# --- pure facts ----------------------------------------------------------------------------------------------------

TARGET = {"type": "gke", "project": PROJECT, "location": REGION, "name": "prod-1"}


def raw_of(cluster=None, upgrade_info=None, read_at="2026-06-01T00:00:00Z", errors=None):
    base = {"name": "prod-1", "location": REGION, "logging_service": "logging.googleapis.com/kubernetes",
            "current_master_version": "1.30.4-gke.100"}
    base.update(cluster or {})
    return {"cluster": base, "upgrade_info": upgrade_info, "read_at": read_at, "errors": errors or {}}


def section(name, cluster=None, **raw):
    return gke.facts(TARGET, raw_of(cluster, **raw))["sections"][name]


@pytest.mark.parametrize("cluster, enabled, fragment", [
    ({"logging_service": "none", "logging_config": {"component_config": {
        "enable_components": ["SYSTEM_COMPONENTS", "APISERVER"]}}},
     False, "Cloud Logging is off (logging_service none)"),
    ({"logging_service": ""}, False, "Cloud Logging is off (logging_service unset)"),
    ({"logging_config": {"component_config": {"enable_components": ["WORKLOADS", "SYSTEM_COMPONENTS"]}}}, False,
     "Cloud Logging logging.googleapis.com/kubernetes is on with components SYSTEM_COMPONENTS, WORKLOADS but without "
     "APISERVER"),
    ({"logging_config": {"component_config": {"enable_components": ["APISERVER", "SYSTEM_COMPONENTS"]}}}, True,
     "Cloud Logging logging.googleapis.com/kubernetes is on with components SYSTEM_COMPONENTS, APISERVER"),
])
def test_audit_logging_needs_cloud_logging_and_apiserver_components(cluster, enabled, fragment):
    audit = section("audit_logging", cluster)
    assert audit["enabled"] is enabled
    assert audit["detail"].startswith(fragment)
    assert "Admin Activity audit logs always go to Cloud Audit Logs" in audit["detail"]
    assert "Data Access audit logs are a project IAM auditConfigs setting, not read here" in audit["detail"]
    assert audit["retention_days"] == 400
    assert audit["retention_detail"] == ("Admin Activity audit entries are kept 400 days in the _Required log bucket "
                                         "(fixed by the platform)")


@pytest.mark.parametrize("encryption, state, key", [
    ({"state": "ENCRYPTED", "key_name": KEY, "current_state": "CURRENT_STATE_ENCRYPTED"}, "on", KEY),
    ({"state": "ENCRYPTED", "key_name": KEY, "current_state": "CURRENT_STATE_ENCRYPTION_PENDING"}, "pending", KEY),
    ({"state": "DECRYPTED", "key_name": KEY, "current_state": "CURRENT_STATE_DECRYPTION_PENDING"}, "pending", KEY),
    ({"state": "ENCRYPTED", "key_name": KEY, "current_state": "CURRENT_STATE_ENCRYPTION_ERROR",
      "last_operation_errors": [{"key_name": KEY, "error_message": "permission denied on key"}]}, "error", KEY),
    ({"state": "DECRYPTED", "current_state": "CURRENT_STATE_DECRYPTED"}, "off", None),
    ({}, "off", None),
    ({"state": "ENCRYPTED", "current_state": "CURRENT_STATE_ENCRYPTED"}, "off", None),  # no key: not KMS
])
def test_secrets_encryption_states(encryption, state, key):
    result = section("secrets_encryption", {"database_encryption": encryption})
    assert (result["state"], result["key"]) == (state, key)
    if state == "error":
        assert result["detail"] == ("the last Secrets encryption change failed (CURRENT_STATE_ENCRYPTION_ERROR): "
                                    "permission denied on key (key %s)" % KEY)
    if state == "off":
        assert result["detail"].startswith("GKE encrypts at the storage layer with Google keys, but application-layer "
                                           "Secrets encryption with a Cloud KMS key is off")


@pytest.mark.parametrize("cluster, expected", [
    ({"control_plane_endpoints_config": {"ip_endpoints_config": {
        "enabled": True, "enable_public_endpoint": False, "private_endpoint": "10.0.0.2"}}},
     {"public": False, "private": True, "public_cidrs": []}),
    ({"control_plane_endpoints_config": {"ip_endpoints_config": {
        "enabled": True, "enable_public_endpoint": True, "authorized_networks_config": {
            "enabled": True, "cidr_blocks": [{"cidr_block": "203.0.113.0/24"}, {"cidr_block": "198.51.100.7/32"}]}}}},
     {"public": True, "private": False, "public_cidrs": ["203.0.113.0/24", "198.51.100.7/32"]}),
    ({"control_plane_endpoints_config": {"ip_endpoints_config": {"enabled": False}}},
     {"public": False, "private": False, "public_cidrs": []}),
    # Legacy fields only.
    ({"private_cluster_config": {"enable_private_nodes": True, "enable_private_endpoint": True}},
     {"public": False, "private": True, "public_cidrs": []}),
    ({"private_cluster_config": {"enable_private_nodes": True},
      "master_authorized_networks_config": {"enabled": True, "cidr_blocks": [{"cidr_block": "192.0.2.0/28"}]}},
     {"public": True, "private": True, "public_cidrs": ["192.0.2.0/28"]}),
    ({}, {"public": True, "private": False, "public_cidrs": ["0.0.0.0/0"]}),
])
def test_endpoint_exposure(cluster, expected):
    result = section("endpoint", cluster)
    assert {key: result[key] for key in expected} == expected


@pytest.mark.parametrize("networks, cidrs, fragments", [
    ({"enabled": True}, [], ["public IP endpoint closed: authorized networks on with no CIDR block"]),
    ({"enabled": True, "cidr_blocks": []}, [], ["closed"]),
    ({"enabled": True, "gcp_public_cidrs_access_enabled": True}, [],
     ["closed", "every Google Cloud public IP (any project's VMs and services) may reach it too"]),
    ({"enabled": True, "gcp_public_cidrs_access_enabled": True, "cidr_blocks": [{"cidr_block": "192.0.2.0/28"}]},
     ["192.0.2.0/28"], ["limited to authorized networks 192.0.2.0/28", "every Google Cloud public IP"]),
    ({"enabled": False}, ["0.0.0.0/0"], ["open to any address (authorized networks off)"]),
])
def test_authorized_networks_without_cidrs_close_the_public_endpoint(networks, cidrs, fragments):
    ip_config = {"enabled": True, "enable_public_endpoint": True, "authorized_networks_config": networks}
    current = {"control_plane_endpoints_config": {"ip_endpoints_config": ip_config}}
    for cluster in (current, {"master_authorized_networks_config": networks}):  # current and legacy fields
        result = section("endpoint", cluster)
        assert result["public"] is True and result["public_cidrs"] == cidrs
        assert all(fragment in result["detail"] for fragment in fragments), result["detail"]


def test_node_pools_and_autoscaling():
    cluster = {"locations": ["europe-west1-b", "europe-west1-c"], "node_pools": [
        {"name": "fixed"},
        {"name": "per-zone", "locations": ["europe-west1-d"], "autoscaling": {"enabled": True, "max_node_count": 5}},
        {"name": "total", "autoscaling": {"enabled": True, "total_min_node_count": 2, "total_max_node_count": 9}},
    ]}
    assert section("node_pools", cluster)["pools"] == [
        {"name": "fixed", "zones": ["europe-west1-b", "europe-west1-c"], "autoscaling": False, "min": None,
         "max": None},
        {"name": "per-zone", "zones": ["europe-west1-d"], "autoscaling": True, "min": 0, "max": 5},
        {"name": "total", "zones": ["europe-west1-b", "europe-west1-c"], "autoscaling": True, "min": 2, "max": 9},
    ]
    assert section("autoscaling", cluster) == {"enabled": True,
                                               "detail": "cluster autoscaler on node pool(s) per-zone, total"}
    assert section("autoscaling", {"node_pools": [{"name": "fixed"}]})["enabled"] is False
    assert section("autoscaling", {"autopilot": {"enabled": True}})["enabled"] is True
    assert section("autoscaling", {"autoscaling": {"enable_node_autoprovisioning": True}})["enabled"] is True


@pytest.mark.parametrize("standard, extended, support, end", [
    ("2026-10-01T00:00:00Z", "2027-10-01T00:00:00Z", "standard", "2026-10-01"),
    ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "extended", "2027-01-01"),
    ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "unsupported", "2026-01-01"),
    ("2026-01-01T00:00:00Z", None, "unsupported", "2026-01-01"),
])
def test_version_support_from_upgrade_info(standard, extended, support, end):
    info = {"end_of_standard_support_timestamp": standard}
    if extended:
        info["end_of_extended_support_timestamp"] = extended
    result = section("version", upgrade_info=info)  # read_at 2026-06-01
    assert (result["version"], result["support"], result["end_of_support"]) == ("1.30", support, end)


def test_version_without_upgrade_info():
    result = section("version", errors={"version": "gke:ClusterManager.FetchClusterUpgradeInfo: boom"})
    assert (result["version"], result["support"], result["end_of_support"]) == ("1.30", None, None)
    assert result["detail"].endswith("support dates unknown (gke:ClusterManager.FetchClusterUpgradeInfo: boom)")


@pytest.mark.parametrize("master_auth, sso", [
    ({}, True),
    ({"client_certificate_config": {"issue_client_certificate": False}}, True),
    ({"client_certificate_config": {"issue_client_certificate": True}}, False),
    ({"username": "admin"}, False),
])
def test_people_auth(master_auth, sso):
    assert section("people_auth", {"master_auth": master_auth})["sso"] is sso


# --- pure plan -----------------------------------------------------------------------------------------------------

def test_logging_on_without_apiserver_plans_one_config_step_keeping_existing_components():
    raw = raw_of({"logging_config": {"component_config": {"enable_components": ["WORKLOADS", "SYSTEM_COMPONENTS"]}}})
    steps = gke.plan(TARGET, raw, desired(items=["audit_logging"],
                                          gke_logging_components=["SYSTEM_COMPONENTS", "APISERVER", "SCHEDULER"]))
    assert len(steps) == 1
    assert steps[0]["action"] == "update"
    assert steps[0]["request"] == {"name": CLUSTER_PATH, "update": {"desired_logging_config": {"component_config": {
        "enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "SCHEDULER"]}}}}
    assert steps[0]["before"]["components"] == ["SYSTEM_COMPONENTS", "WORKLOADS"]


def test_logging_off_with_components_already_there_only_turns_the_service_on():
    raw = raw_of({"logging_service": "none",
                  "logging_config": {"component_config": {"enable_components": ["SYSTEM_COMPONENTS", "APISERVER"]}}})
    steps = gke.plan(TARGET, raw, desired(items=["audit_logging"]))
    assert [step["request"]["update"] for step in steps] == [
        {"desired_logging_service": "logging.googleapis.com/kubernetes"}]


def test_unknown_logging_component_is_an_input_error():
    with pytest.raises(ProviderError) as raised:
        gke.plan(TARGET, raw_of(), desired(items=["audit_logging"],
                                           gke_logging_components=["SYSTEM_COMPONENTS", "APISERVER", "AUDIT"]))
    assert raised.value.category == "input" and "AUDIT" in str(raised.value)


def test_encryption_plan_cases():
    on = {"database_encryption": {"state": "ENCRYPTED", "key_name": KEY, "current_state": "CURRENT_STATE_ENCRYPTED"}}
    other_key = "projects/kc-prod/locations/europe-west1/keyRings/gke/cryptoKeys/rotated"
    step, = gke.plan(TARGET, raw_of(on), desired(items=["secrets_encryption"]))
    assert step["action"] == "none" and KEY in step["reason"]
    step, = gke.plan(TARGET, raw_of(on), desired(items=["secrets_encryption"], kms_key=other_key))
    assert step["action"] == "update"
    assert step["request"]["update"] == {"desired_database_encryption": {"state": "ENCRYPTED", "key_name": other_key}}
    assert step["before"] == {"state": "on", "key": KEY} and step["after"] == {"state": "on", "key": other_key}
    assert step["reason"].startswith("currently encrypted with %s" % KEY)
    pending = {"database_encryption": {"state": "ENCRYPTED", "key_name": KEY,
                                       "current_state": "CURRENT_STATE_ENCRYPTION_PENDING"}}
    step, = gke.plan(TARGET, raw_of(pending), desired(items=["secrets_encryption"], kms_key=KEY))
    assert step["action"] == "held" and "still running" in step["reason"] and step["request"] is None
    step, = gke.plan(TARGET, raw_of(), desired(items=["secrets_encryption"], kms_key="alias/not-gcp"))
    assert step["action"] == "held"
    assert step["reason"].startswith("kms_key alias/not-gcp is not a Cloud KMS key name: set kms_key (role variable "
                                     "managed_control_plane_kms_key)")
    far_key = "projects/kc-prod/locations/us-east1/keyRings/gke/cryptoKeys/secrets"
    step, = gke.plan(TARGET, raw_of(), desired(items=["secrets_encryption"], kms_key=far_key))
    assert step["action"] == "update" and "the key is in us-east1, the cluster in europe-west1" in step["reason"]
    zonal = raw_of({"location": "europe-west1-b"})
    step, = gke.plan(dict(TARGET, location="europe-west1-b"), zonal, desired(items=["secrets_encryption"],
                                                                             kms_key=KEY))
    assert step["action"] == "update" and "Note:" not in step["reason"]
    assert step["request"]["name"] == "projects/kc-prod/locations/europe-west1-b/clusters/prod-1"


def test_classify_transport_failures():
    assert gke.classify(gke.GET_CLUSTER, FakeNamedError("DeadlineExceeded"))[0] == "timeout"
    assert gke.classify(gke.GET_CLUSTER, FakeNamedError("RefreshError"))[0] == "credentials"
    assert gke.classify(gke.GET_CLUSTER, FakeNamedError("TransportError"))[0] == "unreachable"
    assert gke.classify(gke.GET_CLUSTER, FakeNamedError("SomethingElse")) == (
        "api", "gke:ClusterManager.GetCluster: SomethingElse: went wrong")


class FakeHttpError(Exception):
    """Shaped like google-api-core's errors over REST: ``code`` and a ``response`` with the JSON body."""

    def __init__(self, code, status):
        super().__init__("boom")
        self.code = code
        self.response = FakeResponse({"error": {"code": code, "status": status, "message": "boom"}})


class FakeResponse:
    def __init__(self, payload):
        self.payload = payload

    def json(self):
        return self.payload


def FakeNamedError(name):  # noqa: N802 - builds an exception class of that name
    return type(name, (Exception,), {})("went wrong")


def test_timestamps_parse():
    assert gke._date("2026-01-02T03:04:05Z") == datetime.date(2026, 1, 2)
    assert gke._date("") is None and gke._date(None) is None
