"""AKS provider against the loopback ARM fake with the real SDKs (azure-mgmt-containerservice 41.x,
azure-mgmt-monitor 6.0.2): describe, facts, plan, apply (diagnostic setting PUT, managed cluster read-modify-write
with If-Match and Azure-AsyncOperation polling), error mapping, discovery, missing SDK and credentials."""

from __future__ import annotations

import copy
import json
import sys
import threading

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    ProviderError,
    aks,
    validate_target,
)
from tests.fakes.aks_server import (
    CONTAINERSERVICE_API_VERSIONS,
    DEFAULT_KEY_ID,
    MONITOR_API_VERSIONS,
    AksFake,
    cluster_json,
)

SUB = "11111111-1111-1111-1111-111111111111"
SUB2 = "22222222-2222-2222-2222-222222222222"
KEY = "https://kv-prod.vault.azure.net/keys/etcd-kms/4f2c6b7e9a0d4e1f8c3b5a7d9e0f1a2b"
WORKSPACE = "/subscriptions/%s/resourceGroups/logs/providers/Microsoft.OperationalInsights/workspaces/audit" % SUB
STORAGE = "/subscriptions/%s/resourceGroups/logs/providers/Microsoft.Storage/storageAccounts/auditlogs" % SUB
# What the SDK leaves out of a PUT because ARM marks it read-only (ManagedCluster and its nested models).
READ_ONLY = {
    (): ("id", "name", "type", "eTag", "systemData"),
    ("identity",): ("principalId", "tenantId"),
    ("properties",): ("provisioningState", "powerState", "maxAgentPools", "currentKubernetesVersion", "fqdn",
                      "privateFQDN", "azurePortalFQDN", "resourceUID"),
    ("properties", "oidcIssuerProfile"): ("issuerURL",),
    ("properties", "agentPoolProfiles", "*"): ("currentOrchestratorVersion", "provisioningState", "eTag"),
}


class FakeTime:
    """sleep() advances clock(); both record what happened (called from the poller's thread)."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []
        self.lock = threading.Lock()

    def sleep(self, seconds):
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def clock(self):
        with self.lock:
            return self.now


@pytest.fixture()
def fake():
    server = AksFake(operation_polls=3)
    server.start()
    yield server
    server.stop()


def target_for(fake, name="prod-1", resource_group="rg-prod", subscription=SUB):
    return validate_target({"type": "aks", "subscription_id": subscription, "resource_group": resource_group,
                            "name": name, "endpoint_url": fake.base_url})


def without_read_only(cluster):
    body = copy.deepcopy(cluster)

    def strip(node, path):
        for prefix, keys in READ_ONLY.items():
            if prefix == path:
                for key in keys:
                    node.pop(key, None)
        for key, value in list(node.items()):
            if isinstance(value, dict):
                strip(value, path + (key,))
            elif isinstance(value, list):
                for entry in value:
                    if isinstance(entry, dict):
                        strip(entry, path + (key, "*"))

    strip(body, ())
    return body


def desired(**overrides):
    values = {"items": ["audit_logging", "secrets_encryption"], "kms_key": KEY,
              "aks_log_destination": {"workspace_id": WORKSPACE}}
    values.update(overrides)
    return values


def by_item(steps):
    return {step["item"]: step for step in steps}


# -- the whole flow ---------------------------------------------------------------------------------------------


def test_non_compliant_cluster_is_remediated_and_then_compliant(fake):
    cluster_id = fake.seed_cluster(SUB, "rg-prod", "prod-1", tags={"env": "prod"})
    target = target_for(fake)
    clients = aks.clients(target)

    raw = aks.describe(target, clients)
    found = aks.facts(target, raw)
    assert found["sections"]["audit_logging"]["enabled"] is False
    assert found["sections"]["secrets_encryption"]["state"] == "off"
    assert found["id"] == cluster_id and found["location"] == "westeurope" and found["errors"] == {}

    get_body = fake.cluster(cluster_id)
    etag = get_body["eTag"]
    steps = by_item(aks.plan(target, raw, desired()))
    assert steps["audit_logging"]["action"] == "update"
    assert steps["audit_logging"]["call"] == "aks:DiagnosticSettings.CreateOrUpdate"
    assert steps["audit_logging"]["request"] == {
        "resource_uri": cluster_id, "name": "kubecompass-audit",
        "parameters": {"workspace_id": WORKSPACE, "logs": [{"category": "kube-audit-admin", "enabled": True}]}}
    kms = {"enabled": True, "keyId": KEY, "keyVaultNetworkAccess": "Public"}
    assert steps["secrets_encryption"]["action"] == "update"
    assert steps["secrets_encryption"]["call"] == "aks:ManagedClusters.BeginCreateOrUpdate"
    assert steps["secrets_encryption"]["follow_up"] == "rewrite_secrets"
    assert steps["secrets_encryption"]["irreversible"] is False
    assert steps["secrets_encryption"]["request"] == {
        "resource_group_name": "rg-prod", "resource_name": "prod-1", "etag": etag, "match_condition": "IfNotModified",
        "changes": {"properties": {"securityProfile": {"azureKeyVaultKms": kms}}}}
    assert steps["secrets_encryption"]["before"] == {"state": "off", "key": None}

    before_apply = len(fake.requests)
    time_ = FakeTime()
    outcomes = aks.apply(target, list(steps.values()), clients, timeout=600, poll_seconds=15, sleep=time_.sleep,
                         clock=time_.clock)
    assert [(o["item"], o["status"], o["error"]) for o in outcomes] == [
        ("audit_logging", "succeeded", None), ("secrets_encryption", "succeeded", None)]
    assert outcomes[0]["operation"] is None
    assert "/locations/westeurope/operations/" in outcomes[1]["operation"]
    assert outcomes[1]["seconds"] == 45.0

    made = fake.requests[before_apply:]
    setting_puts = [r for r in made if r["method"] == "PUT" and "diagnosticSettings" in r["path"]]
    assert len(setting_puts) == 1
    assert setting_puts[0]["path"].endswith(cluster_id[1:] + "/providers/Microsoft.Insights/diagnosticSettings/"
                                            "kubecompass-audit")
    assert setting_puts[0]["body"] == {"properties": {
        "workspaceId": WORKSPACE, "logs": [{"category": "kube-audit-admin", "enabled": True}]}}

    cluster_puts = [r for r in made if r["method"] == "PUT" and r["path"].endswith("/managedClusters/prod-1")]
    assert len(cluster_puts) == 1
    assert cluster_puts[0]["headers"]["If-Match"] == '"%s"' % etag
    assert cluster_puts[0]["body"]["properties"]["securityProfile"]["azureKeyVaultKms"] == kms
    expected_body = without_read_only(get_body)
    expected_body["properties"]["securityProfile"] = {"azureKeyVaultKms": kms}
    assert cluster_puts[0]["body"] == expected_body
    # The async operation: InProgress three times, then Succeeded; a sleep of poll_seconds between polls.
    operation_polls = [r for r in made if "/operations/" in r["path"]]
    assert len(operation_polls) == fake.operation_polls + 1
    assert time_.sleeps == [15] * fake.operation_polls
    # api-versions the SDKs send (the fake refuses others) and no bearer token over loopback http.
    assert {r["query"]["api-version"] for r in made if "diagnosticSettings" in r["path"]} == set(MONITOR_API_VERSIONS)
    assert {r["query"]["api-version"] for r in made if "diagnosticSettings" not in r["path"]} == set(
        CONTAINERSERVICE_API_VERSIONS)
    assert all(r["headers"]["Authorization"] is None for r in fake.requests)

    raw = aks.describe(target, clients)
    found = aks.facts(target, raw)
    assert found["sections"]["audit_logging"]["enabled"] is True
    assert "kubecompass-audit" in found["sections"]["audit_logging"]["detail"]
    assert found["sections"]["secrets_encryption"] == {
        "state": "on", "key": KEY,
        "detail": "Key Vault KMS encrypts Secrets with key %s (key vault network access Public)" % KEY}
    second = aks.plan(target, raw, desired())
    assert [(s["item"], s["action"]) for s in second] == [("audit_logging", "none"), ("secrets_encryption", "none")]
    assert all(s["request"] is None for s in second)


def test_existing_setting_of_that_name_keeps_its_logs_metrics_and_destination(fake):
    cluster_id = fake.seed_cluster(SUB, "rg-prod", "prod-1")
    fake.seed_diagnostic_setting(cluster_id, "kubecompass-audit", {
        "storageAccountId": STORAGE,
        "logs": [{"category": "kube-apiserver", "enabled": True},
                 {"category": "kube-audit", "enabled": False}],
        "metrics": [{"category": "AllMetrics", "enabled": True}],
    })
    target = target_for(fake)
    clients = aks.clients(target)
    raw = aks.describe(target, clients)
    assert aks.facts(target, raw)["sections"]["audit_logging"]["enabled"] is False

    step = aks.plan(target, raw, desired(items=["audit_logging"], aks_log_destination=None,
                                         aks_audit_category="kube-audit"))[0]
    assert step["action"] == "update"
    assert step["request"]["parameters"] == {
        "storage_account_id": STORAGE,
        "logs": [{"category": "kube-apiserver", "enabled": True}, {"category": "kube-audit", "enabled": True}],
        "metrics": [{"category": "AllMetrics", "enabled": True}],
    }
    outcomes = aks.apply(target, [step], clients, timeout=60, poll_seconds=0)
    assert outcomes[0]["status"] == "succeeded"
    assert fake.recorded("PUT", "diagnosticSettings")[0]["body"] == {"properties": {
        "storageAccountId": STORAGE,
        "logs": [{"category": "kube-apiserver", "enabled": True}, {"category": "kube-audit", "enabled": True}],
        "metrics": [{"category": "AllMetrics", "enabled": True}],
    }}
    assert aks.facts(target, aks.describe(target, clients))["sections"]["audit_logging"]["enabled"] is True


def test_audit_found_through_category_group_and_not_without_destination(fake):
    cluster_id = fake.seed_cluster(SUB, "rg-prod", "prod-1")
    fake.seed_diagnostic_setting(cluster_id, "no-destination", {"logs": [{"category": "kube-audit", "enabled": True}]})
    target = target_for(fake)
    clients = aks.clients(target)
    section = aks.facts(target, aks.describe(target, clients))["sections"]["audit_logging"]
    assert section["enabled"] is False and "no-destination" in section["detail"]

    fake.seed_diagnostic_setting(cluster_id, "everything", {"workspaceId": WORKSPACE,
                                                            "logs": [{"categoryGroup": "allLogs", "enabled": True}]})
    raw = aks.describe(target, clients)
    section = aks.facts(target, raw)["sections"]["audit_logging"]
    assert section == {"enabled": True, "retention_days": None,
                       "detail": "diagnostic setting everything sends category group allLogs to Log Analytics "
                                 "workspace %s" % WORKSPACE,
                       "retention_detail": "set by the destination (Log Analytics workspace / storage policy), "
                                           "not read"}
    step = aks.plan(target, raw, desired(items=["audit_logging"]))[0]
    assert step["action"] == "none" and "everything" in step["reason"]


# -- held -------------------------------------------------------------------------------------------------------


def test_held_without_destination_key_or_with_unversioned_key(fake):
    fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    raw = aks.describe(target, aks.clients(target))

    steps = by_item(aks.plan(target, raw, desired(aks_log_destination=None, kms_key=None)))
    assert steps["audit_logging"]["action"] == "held"
    assert steps["audit_logging"]["reason"].startswith(
        "no log destination: set aks_log_destination (role variable managed_control_plane_aks_log_destination)")
    assert steps["secrets_encryption"]["action"] == "held"
    assert steps["secrets_encryption"]["reason"].startswith(
        "no KMS key given: set kms_key (role variable managed_control_plane_kms_key)")
    assert steps["audit_logging"]["request"] is None and steps["secrets_encryption"]["request"] is None

    for bad in ("https://kv-prod.vault.azure.net/keys/etcd-kms",
                "https://kv-prod.vault.azure.net/secrets/etcd-kms/4f2c6b7e9a0d4e1f8c3b5a7d9e0f1a2b",
                "http://kv-prod.vault.azure.net/keys/etcd-kms/4f2c6b7e9a0d4e1f8c3b5a7d9e0f1a2b"):
        step = aks.plan(target, raw, desired(items=["secrets_encryption"], kms_key=bad))[0]
        assert step["action"] == "held", bad
        assert step["reason"] == ("kms_key %s is not a versioned Key Vault key URL (https://<vault>.vault.azure.net/"
                                  "keys/<name>/<version>): AKS needs the key version" % bad)
    assert fake.recorded("PUT") == []


def test_held_when_five_settings_exist_and_private_vault_request(fake):
    cluster_id = fake.seed_cluster(SUB, "rg-prod", "prod-1")
    for index in range(5):
        fake.seed_diagnostic_setting(cluster_id, "metrics-%d" % index, {
            "workspaceId": WORKSPACE, "metrics": [{"category": "AllMetrics", "enabled": True}]})
    target = target_for(fake)
    raw = aks.describe(target, aks.clients(target))
    vault = "/subscriptions/%s/resourceGroups/kv/providers/Microsoft.KeyVault/vaults/kv-prod" % SUB
    steps = by_item(aks.plan(target, raw, desired(aks_key_vault_network_access="Private",
                                                  aks_key_vault_resource_id=vault)))
    assert steps["audit_logging"]["action"] == "held"
    assert "already has 5 diagnostic settings" in steps["audit_logging"]["reason"]
    assert steps["secrets_encryption"]["request"]["changes"] == {"properties": {"securityProfile": {
        "azureKeyVaultKms": {"enabled": True, "keyId": KEY, "keyVaultNetworkAccess": "Private",
                             "keyVaultResourceId": vault}}}}


# -- apply failures ---------------------------------------------------------------------------------------------


def test_conflict_409_fails_and_stops(fake):
    fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    clients = aks.clients(target)
    steps = aks.plan(target, aks.describe(target, clients), desired(items=["secrets_encryption", "audit_logging"]))
    fake.conflict_next()
    outcomes = aks.apply(target, steps, clients, timeout=60, poll_seconds=0)
    assert len(outcomes) == 1
    assert outcomes[0]["status"] == "failed" and outcomes[0]["item"] == "secrets_encryption"
    assert outcomes[0]["error"].startswith("aks:ManagedClusters.BeginCreateOrUpdate: 409 OperationNotAllowed: another "
                                           "operation is in progress on cluster prod-1 (resource group rg-prod)")
    assert fake.recorded("PUT", "diagnosticSettings") == []


def test_changed_since_read_412_fails(fake):
    cluster_id = fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    clients = aks.clients(target)
    steps = aks.plan(target, aks.describe(target, clients), desired(items=["secrets_encryption"]))
    planned_etag = steps[0]["request"]["etag"]
    fake.update_cluster(cluster_id, tags={"owner": "someone-else"})
    outcomes = aks.apply(target, steps, clients, timeout=60, poll_seconds=0)
    assert outcomes[0]["status"] == "failed"
    assert outcomes[0]["error"] == ("aks:ManagedClusters.BeginCreateOrUpdate: 412 PreconditionFailed: cluster prod-1 "
                                    "(resource group rg-prod) was changed by someone else since it was read; rerun")
    assert fake.recorded("PUT")[0]["headers"]["If-Match"] == '"%s"' % planned_etag
    assert "azureKeyVaultKms" not in fake.cluster(cluster_id)["properties"]["securityProfile"]


@pytest.mark.parametrize("path, action", [
    ("diagnosticSettings", "Microsoft.Insights/diagnosticSettings/write"),
    ("managedClusters/prod-1$", "Microsoft.ContainerService/managedClusters/write"),
])
def test_forbidden_403_names_the_rbac_action(fake, path, action):
    fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    clients = aks.clients(target)
    steps = aks.plan(target, aks.describe(target, clients), desired())
    fake.fail_next("PUT", path, 403, {"error": {"code": "AuthorizationFailed", "message": "The client 'abc' does "
                                                "not have authorization to perform action."}})
    outcomes = aks.apply(target, steps, clients, timeout=60, poll_seconds=0)
    assert outcomes[-1]["status"] == "failed"
    assert "403 AuthorizationFailed" in outcomes[-1]["error"]
    assert "needs Azure RBAC action %s" % action in outcomes[-1]["error"]


def test_timeout_with_fake_clock(fake):
    fake.operation_polls = 100
    fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    clients = aks.clients(target)
    steps = aks.plan(target, aks.describe(target, clients), desired(items=["secrets_encryption", "audit_logging"]))
    time_ = FakeTime()
    outcomes = aks.apply(target, steps, clients, timeout=30, poll_seconds=10, sleep=time_.sleep, clock=time_.clock)
    assert len(outcomes) == 1
    outcome = outcomes[0]
    assert outcome["status"] == "timeout"
    assert outcome["seconds"] == 30.0
    assert time_.sleeps == [10, 10, 10]
    assert len(fake.recorded("GET", "/operations/")) == 4
    assert outcome["operation"] and "/operations/" in outcome["operation"]
    assert outcome["error"].startswith("aks:ManagedClusters.BeginCreateOrUpdate still InProgress after 30s on cluster "
                                       "prod-1: check az aks show -g rg-prod -n prod-1 --query provisioningState, or "
                                       "GET the operation ")


def test_failed_operation_is_a_failed_outcome(fake):
    fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    clients = aks.clients(target)
    steps = aks.plan(target, aks.describe(target, clients), desired(items=["secrets_encryption"]))
    fake.fail_next_operation("KMSKeyVaultAccessDenied", "the cluster identity cannot use key etcd-kms")
    outcomes = aks.apply(target, steps, clients, timeout=60, poll_seconds=0)
    assert outcomes[0]["status"] == "failed"
    assert "KMSKeyVaultAccessDenied" in outcomes[0]["error"]
    assert "the cluster identity cannot use key etcd-kms" in outcomes[0]["error"]
    assert "/operations/" in outcomes[0]["operation"]


# -- describe ---------------------------------------------------------------------------------------------------


def test_side_reads_failing_go_to_errors_and_cluster_read_raises(fake):
    fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    clients = aks.clients(target)
    fake.fail_next("GET", "diagnosticSettings$", 403, {"error": {"code": "AuthorizationFailed", "message": "no"}})
    fake.fail_next("GET", "kubernetesVersions$", 404, {"error": {"code": "NoRegisteredProviderFound", "message": "x"}})
    raw = aks.describe(target, clients)
    assert "Microsoft.Insights/diagnosticSettings/read" in raw["errors"]["audit_logging"]
    assert raw["errors"]["version"].startswith("aks:ManagedClusters.ListKubernetesVersions: 404")
    found = aks.facts(target, raw)
    assert "audit_logging" not in found["sections"]
    assert found["sections"]["version"]["support"] is None and found["sections"]["version"]["version"] == "1.31"
    assert found["errors"] == raw["errors"]
    step = aks.plan(target, raw, desired(items=["audit_logging"]))[0]
    assert step["action"] == "held" and "could not be read" in step["reason"]

    with pytest.raises(ProviderError) as caught:
        aks.describe(target_for(fake, name="missing"), clients)
    assert caught.value.category == "not_found"
    assert str(caught.value).startswith("aks:ManagedClusters.Get: 404 ResourceNotFound: cluster missing")


def test_describe_drops_secret_material_from_raw_and_facts(fake):
    secrets = ("w1nd0ws-Adm1n-pw", "sp-client-s3cret", "aad-server-app-s3cret")
    ssh_key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 admin@example"
    fake.seed_cluster(SUB, "rg-prod", "prod-1", properties={
        "windowsProfile": {"adminUsername": "azureuser", "adminPassword": secrets[0]},
        "servicePrincipalProfile": {"clientId": "00000000-0000-0000-0000-0000000000c1", "secret": secrets[1]},
        "aadProfile": {"managed": False, "serverAppID": "00000000-0000-0000-0000-0000000000c2",
                       "serverAppSecret": secrets[2]},
        "linuxProfile": {"adminUsername": "azureuser", "ssh": {"publicKeys": [{"keyData": ssh_key}]}},
    })
    target = target_for(fake)
    raw = aks.describe(target, aks.clients(target))
    text = json.dumps([raw, aks.facts(target, raw)])
    assert not [secret for secret in secrets if secret in text]
    properties = raw["cluster"]["properties"]
    assert properties["windowsProfile"] == {"adminUsername": "azureuser"}
    assert properties["servicePrincipalProfile"] == {"clientId": "00000000-0000-0000-0000-0000000000c1"}
    assert "serverAppSecret" not in properties["aadProfile"] and properties["aadProfile"]["serverAppID"]
    assert properties["linuxProfile"]["ssh"]["publicKeys"] == [{"keyData": ssh_key}]  # public: kept


def test_deserialization_errors_are_provider_errors_in_describe(fake, monkeypatch):
    from azure.core.exceptions import DeserializationError

    fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    clients = aks.clients(target)

    def bad_list(self, resource_uri, **kwargs):
        raise DeserializationError("Unable to deserialize to object: type, AttributeError: 'str' has no 'get'")

    # MonitorManagementClient makes a new operations object on each access: patch its class.
    monkeypatch.setattr(type(clients["monitor"].diagnostic_settings), "list", bad_list)
    raw = aks.describe(target, clients)
    assert raw["errors"]["audit_logging"].startswith("aks:DiagnosticSettings.List: DeserializationError: Unable to")
    assert "audit_logging" not in aks.facts(target, raw)["sections"]

    def bad_get(resource_group_name, resource_name, **kwargs):
        raise DeserializationError("Unable to deserialize response data")

    monkeypatch.setattr(clients["containerservice"].managed_clusters, "get", bad_get)
    with pytest.raises(ProviderError) as caught:
        aks.describe(target, clients)
    assert caught.value.category == "api"
    assert str(caught.value) == "aks:ManagedClusters.Get: DeserializationError: Unable to deserialize response data"


@pytest.mark.parametrize("error_name", ["DeserializationError", "SerializationError"])
def test_model_errors_in_apply_are_failed_outcomes(fake, monkeypatch, error_name):
    import azure.core.exceptions

    error = getattr(azure.core.exceptions, error_name)
    fake.seed_cluster(SUB, "rg-prod", "prod-1")
    target = target_for(fake)
    clients = aks.clients(target)
    steps = aks.plan(target, aks.describe(target, clients), desired())

    class BrokenModel:
        @classmethod
        def from_dict(cls, data):
            raise error("cannot build the model from %r" % sorted(data))

        def __init__(self, *args, **kwargs):
            raise error("cannot build the model")

    monkeypatch.setitem(clients["sdk"], "DiagnosticSettingsResource", BrokenModel)
    outcomes = aks.apply(target, steps, clients, timeout=60, poll_seconds=0)
    assert len(outcomes) == 1 and outcomes[0]["item"] == "audit_logging" and outcomes[0]["status"] == "failed"
    assert outcomes[0]["error"].startswith("aks:DiagnosticSettings.CreateOrUpdate: %s: cannot build" % error_name)

    monkeypatch.setitem(clients["sdk"], "ManagedCluster", BrokenModel)
    outcomes = aks.apply(target, [steps[1]], clients, timeout=60, poll_seconds=0)
    assert outcomes[0]["status"] == "failed"
    assert outcomes[0]["error"] == "aks:ManagedClusters.BeginCreateOrUpdate: %s: cannot build the model" % error_name
    assert fake.recorded("PUT") == []


# -- facts (pure, on REST JSON) ---------------------------------------------------------------------------------


def raw_for(versions=None, settings=None, **kwargs):
    cluster = cluster_json(SUB, "rg", "c1", "eastus", **kwargs)
    if versions is None:
        versions = [AksFake.version_json("1.31", ("KubernetesOfficial",))]
    return {"cluster": cluster, "diagnostic_settings": settings or [], "kubernetes_versions": versions, "errors": {}}


def test_facts_of_a_hardened_cluster():
    raw = raw_for(sku_tier="Standard", kms_on=True, properties={
        "apiServerAccessProfile": {"enablePrivateCluster": True, "enablePrivateClusterPublicFqdn": True},
        "aadProfile": {"managed": True, "enableAzureRBAC": True},
        "disableLocalAccounts": True,
        "agentPoolProfiles": [{"name": "system", "availabilityZones": ["1", "2", "3"], "enableAutoScaling": True,
                               "minCount": 3, "maxCount": 6}],
    })
    sections = aks.facts({"name": "c1"}, raw)["sections"]
    assert sections["control_plane_ha"]["ha"] is True
    assert sections["endpoint"]["public"] is False and sections["endpoint"]["private"] is True
    assert sections["endpoint"]["public_cidrs"] == []
    assert sections["node_pools"]["pools"] == [{"name": "system", "zones": ["1", "2", "3"], "autoscaling": True,
                                                "min": 3, "max": 6}]
    assert sections["autoscaling"]["enabled"] is True
    assert sections["people_auth"]["sso"] is True
    assert sections["secrets_encryption"]["state"] == "on" and sections["secrets_encryption"]["key"] == DEFAULT_KEY_ID
    assert sections["version"]["support"] == "standard"


def test_facts_of_a_default_cluster():
    raw = raw_for(properties={"aadProfile": {"managed": True}})
    sections = aks.facts({"name": "c1"}, raw)["sections"]
    assert sections["control_plane_ha"]["ha"] is False and "Free" in sections["control_plane_ha"]["detail"]
    assert sections["endpoint"]["public"] is True and sections["endpoint"]["public_cidrs"] == ["0.0.0.0/0"]
    assert sections["autoscaling"]["enabled"] is False
    assert sections["people_auth"]["sso"] is False
    assert "az aks get-credentials --admin" in sections["people_auth"]["detail"]
    assert sections["secrets_encryption"]["state"] == "off"
    assert "platform-managed keys" in sections["secrets_encryption"]["detail"]


def test_facts_endpoint_ranges_and_disabled_public_access():
    raw = raw_for(properties={"apiServerAccessProfile": {"authorizedIpRanges": ["203.0.113.0/24"]}})
    endpoint = aks.facts({}, raw)["sections"]["endpoint"]
    assert (endpoint["public"], endpoint["private"], endpoint["public_cidrs"]) == (True, False, ["203.0.113.0/24"])
    raw = raw_for(properties={"publicNetworkAccess": "Disabled"})
    endpoint = aks.facts({}, raw)["sections"]["endpoint"]
    assert (endpoint["public"], endpoint["public_cidrs"]) == (False, [])


@pytest.mark.parametrize("version, plans, support_plan, support", [
    ("1.31.5", ("KubernetesOfficial", "AKSLongTermSupport"), "KubernetesOfficial", "standard"),
    ("1.29.9", ("AKSLongTermSupport",), "AKSLongTermSupport", "extended"),
    ("1.29.9", ("AKSLongTermSupport",), "KubernetesOfficial", "unsupported"),
    ("1.27.3", None, "KubernetesOfficial", "unsupported"),
])
def test_facts_version_support(version, plans, support_plan, support):
    versions = [AksFake.version_json("1.31", ("KubernetesOfficial",))]
    if plans:
        versions.append(AksFake.version_json(version.rsplit(".", 1)[0], plans))
    raw = raw_for(versions=versions, version=version, properties={"supportPlan": support_plan})
    section = aks.facts({}, raw)["sections"]["version"]
    assert section["version"] == version.rsplit(".", 1)[0]
    assert section["support"] == support


def test_lts_only_minor_without_the_lts_plan_is_unsupported_and_says_why():
    versions = [AksFake.version_json("1.29", ("AKSLongTermSupport",))]
    section = aks.facts({}, raw_for(versions=versions, version="1.29.9"))["sections"]["version"]
    assert section["support"] == "unsupported"
    assert "needs the LTS plan" in section["detail"] and "support plan is KubernetesOfficial" in section["detail"]


def test_facts_kms_pending_plans_nothing():
    raw = raw_for(kms_on=True, properties={"provisioningState": "Updating"})
    assert aks.facts({}, raw)["sections"]["secrets_encryption"]["state"] == "pending"
    step = aks.plan({"name": "c1", "resource_group": "rg"}, raw, desired(items=["secrets_encryption"]))[0]
    assert step["action"] == "none"


# -- discovery --------------------------------------------------------------------------------------------------


def test_list_clusters_across_two_subscriptions(fake):
    fake.seed_cluster(SUB, "rg-a", "alpha", location="westeurope", tags={"env": "prod", "team": "core"})
    fake.seed_cluster(SUB2, "rg-b", "beta", location="eastus", tags={"env": "dev"}, version="1.30.2",
                      properties={"apiServerAccessProfile": {"enablePrivateCluster": True},
                                  "fqdn": None, "privateFQDN": "beta-xyz.privatelink.eastus.azmk8s.io"})
    found = aks.list_clusters({"subscriptions": [SUB, SUB2], "endpoint_url": fake.base_url})
    assert found == [
        {"name": "alpha", "distribution": "aks", "location": "westeurope",
         "target": {"type": "aks", "subscription_id": SUB, "resource_group": "rg-a", "name": "alpha",
                    "endpoint_url": fake.base_url},
         "labels": {"env": "prod", "team": "core"}, "server": "https://alpha-abc123.hcp.westeurope.azmk8s.io",
         "version": "1.31.5"},
        {"name": "beta", "distribution": "aks", "location": "eastus",
         "target": {"type": "aks", "subscription_id": SUB2, "resource_group": "rg-b", "name": "beta",
                    "endpoint_url": fake.base_url},
         "labels": {"env": "dev"}, "server": "https://beta-xyz.privatelink.eastus.azmk8s.io", "version": "1.30.2"},
    ]
    # Each discovered target validates and describes.
    entry = found[1]
    target = validate_target(entry["target"], "aks")
    assert aks.describe(target, aks.clients(target))["cluster"]["name"] == "beta"


def test_list_clusters_defaults_to_the_injected_subscription(fake, monkeypatch):
    fake.seed_cluster(SUB, "rg-a", "alpha")
    fake.seed_cluster(SUB2, "rg-b", "beta")
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB2)
    found = aks.list_clusters({"endpoint_url": fake.base_url})
    assert [(c["name"], c["target"]["subscription_id"]) for c in found] == [("beta", SUB2)]


def test_list_clusters_rejects_bad_accounts(monkeypatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    with pytest.raises(ProviderError) as caught:
        aks.list_clusters({})
    assert caught.value.category == "input"
    with pytest.raises(ProviderError) as caught:
        aks.list_clusters({"subscriptions": []})
    assert caught.value.category == "input"
    with pytest.raises(ProviderError):
        aks.list_clusters({"subscriptions": [SUB], "endpoint_url": "http://example.com"})


# -- SDK and credentials ----------------------------------------------------------------------------------------


def test_missing_containerservice_sdk(monkeypatch):
    monkeypatch.setitem(sys.modules, "azure.mgmt.containerservice", None)
    with pytest.raises(ProviderError) as caught:
        aks.clients({"type": "aks", "subscription_id": SUB, "resource_group": "rg", "name": "c"})
    assert caught.value.category == "missing_sdk"
    assert "azure-mgmt-containerservice" in str(caught.value)


def test_monitor_without_diagnostic_settings(monkeypatch):
    monkeypatch.setitem(sys.modules, "azure.mgmt.monitor.v2021_05_01_preview.models", None)
    with pytest.raises(ProviderError) as caught:
        aks.clients({"type": "aks", "subscription_id": SUB, "resource_group": "rg", "name": "c"})
    assert caught.value.category == "missing_sdk"
    assert "azure-mgmt-monitor==6.0.2" in str(caught.value) and "7.x" in str(caught.value)


def clear_azure_env(monkeypatch):
    for name in ("AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT", "AZURE_AD_USER", "AZURE_PASSWORD",
                 "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_USERNAME"):
        monkeypatch.delenv(name, raising=False)


def test_credentials_unavailable(monkeypatch):
    import azure.identity
    from azure.identity import CredentialUnavailableError

    class Unavailable:
        def __init__(self, **kwargs):
            pass

        def get_token(self, *scopes, **kwargs):
            raise CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token")

        def get_token_info(self, *scopes, **kwargs):
            raise CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token")

    clear_azure_env(monkeypatch)
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Unavailable)
    # https on a closed loopback port (not Azure's, so opted in): credentials are required, nothing is reached.
    target = validate_target({"type": "aks", "subscription_id": SUB, "resource_group": "rg", "name": "c",
                              "endpoint_url": "https://127.0.0.1:9", "allow_custom_endpoint": True})
    clients = aks.clients(target)
    assert clients["credential_source"].startswith("DefaultAzureCredential")
    with pytest.raises(ProviderError) as caught:
        aks.describe(target, clients)
    assert caught.value.category == "credentials"
    assert str(caught.value).startswith("aks:ManagedClusters.Get: Azure credentials failed")
    with pytest.raises(ProviderError) as caught:
        aks.list_clusters({"subscriptions": [SUB], "endpoint_url": "https://127.0.0.1:9", "allow_custom_endpoint": True})
    assert caught.value.category == "credentials"


def test_service_principal_from_awx_environment(monkeypatch):
    clear_azure_env(monkeypatch)
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-00000000000c")
    monkeypatch.setenv("AZURE_SECRET", "not-a-real-secret")
    monkeypatch.setenv("AZURE_TENANT", "00000000-0000-0000-0000-00000000000d")
    target = {"type": "aks", "subscription_id": SUB, "resource_group": "rg", "name": "c"}
    clients = aks.clients(target)
    assert clients["credential_source"].startswith("service principal from AZURE_CLIENT_ID")
    assert type(clients["containerservice"]._config.credential).__name__ == "ClientSecretCredential"
    assert "not-a-real-secret" not in repr(clients["credential_source"])


def test_error_mapping_of_sdk_exceptions(fake):
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

    clients = aks.clients(target_for(fake))
    unreachable = aks.provider_error("aks:ManagedClusters.Get", ServiceRequestError("Connection refused"), clients,
                                     "cluster c")
    assert unreachable.category == "unreachable"
    assert str(unreachable) == ("aks:ManagedClusters.Get: cannot reach Azure Resource Manager for cluster c: "
                                "Connection refused")
    expired = aks.provider_error("aks:ManagedClusters.Get", ClientAuthenticationError("token expired"), clients,
                                 "cluster c")
    assert expired.category == "credentials" and "token expired" in str(expired)
