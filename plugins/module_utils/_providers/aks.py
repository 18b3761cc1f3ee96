# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Azure AKS through Azure Resource Manager: the managed cluster (azure-mgmt-containerservice 41.x, hybrid models),
its diagnostic settings (azure-mgmt-monitor 6.0.2) and the region's Kubernetes versions.

The provider contract is in ``_providers/__init__.py``. ``raw`` keeps the ARM REST JSON (camelCase, nested
``properties``) of the cluster, its diagnostic settings and the Kubernetes versions; ``facts`` and ``plan`` read
only that. Audit logs are a diagnostic setting (synchronous PUT); Key Vault KMS is a read-modify-write of the
whole managed cluster guarded by its eTag (If-Match), a long-running operation polled through Azure-AsyncOperation.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import os
import re
import time

from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    AKS_DESTINATION_KEYS,
    ProviderError,
    apply_in_order,
    check_endpoints,
    import_sdk,
    is_loopback_http,
    outcome,
    plan_step,
    validate_desired,
    without_secrets,
)

PROVIDER = "aks"
# AKS encrypts only the Secrets written after Key Vault KMS is enabled.
REWRITES_SECRETS_ITSELF = False
CALL_GET = "aks:ManagedClusters.Get"
CALL_LIST = "aks:ManagedClusters.List"
CALL_VERSIONS = "aks:ManagedClusters.ListKubernetesVersions"
CALL_LIST_SETTINGS = "aks:DiagnosticSettings.List"
CALL_DIAGNOSTIC = "aks:DiagnosticSettings.CreateOrUpdate"
CALL_CLUSTER = "aks:ManagedClusters.BeginCreateOrUpdate"

# The Azure RBAC action each call needs, named when Azure answers 403.
RBAC_ACTIONS = {
    CALL_GET: "Microsoft.ContainerService/managedClusters/read",
    CALL_LIST: "Microsoft.ContainerService/managedClusters/read",
    CALL_VERSIONS: "read on Microsoft.ContainerService/locations (the Reader role has it)",
    CALL_LIST_SETTINGS: "Microsoft.Insights/diagnosticSettings/read",
    CALL_DIAGNOSTIC: "Microsoft.Insights/diagnosticSettings/write (role Monitoring Contributor, plus rights on "
                     "the log destination)",
    CALL_CLUSTER: "Microsoft.ContainerService/managedClusters/write (role Azure Kubernetes Service Contributor)",
}

AUDIT_CATEGORIES = ("kube-audit", "kube-audit-admin")
AUDIT_CATEGORY_GROUPS = ("audit", "allLogs")
# Diagnostic-setting destinations: (SDK attribute, REST property, what it is).
DESTINATIONS = (
    ("workspace_id", "workspaceId", "Log Analytics workspace"),
    ("storage_account_id", "storageAccountId", "storage account"),
    ("event_hub_authorization_rule_id", "eventHubAuthorizationRuleId", "event hub"),
    ("marketplace_partner_id", "marketplacePartnerId", "partner solution"),
)
MAX_DIAGNOSTIC_SETTINGS = 5
RETENTION_DETAIL = "set by the destination (Log Analytics workspace / storage policy), not read"
# A versioned Key Vault key URL; sovereign clouds have their own vault DNS suffix.
KEY_URL = re.compile(r"^https://[A-Za-z0-9-]{3,24}\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net)"
                     r"/keys/[A-Za-z0-9-]{1,127}/[0-9A-Fa-f]{32}$")
KEY_URL_SHAPE = "https://<vault>.vault.azure.net/keys/<name>/<version>"
# The Azure CLI's public client id, which azure.azcollection also uses for AZURE_AD_USER sign-in.
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
# Secret material in a managed cluster's properties ((path to the holder), field); never kept in raw.
SECRET_FIELDS = (
    (("properties", "windowsProfile"), "adminPassword"),
    (("properties", "servicePrincipalProfile"), "secret"),
    (("properties", "aadProfile"), "serverAppSecret"),
)
# Real-time limit on waiting for the poller beyond ``timeout`` (only reached when one HTTP poll hangs).
POLLER_WAIT_MARGIN_SECONDS = 120


class OperationStillRunning(Exception):
    """The long-running operation was not done when the step's time ran out."""

    def __init__(self, status):
        super(OperationStillRunning, self).__init__(status)
        self.status = status


class _LoopbackCredential:
    """Stands in for a credential towards a loopback test fake: the pipeline sends no bearer token there."""

    def get_token(self, *scopes, **kwargs):
        raise RuntimeError("no token is requested from a loopback endpoint")


# ---------------------------------------------------------------------------------------------------------------
# clients


def _credential(identity):
    """(credential, how it was chosen) from the environment AWX's Azure credential type injects."""
    env = os.environ
    client_id, secret, tenant = env.get("AZURE_CLIENT_ID"), env.get("AZURE_SECRET"), env.get("AZURE_TENANT")
    try:
        if client_id and secret and tenant:
            return (identity.ClientSecretCredential(tenant, client_id, secret),
                    "service principal from AZURE_CLIENT_ID/AZURE_SECRET/AZURE_TENANT")
        if env.get("AZURE_AD_USER") and env.get("AZURE_PASSWORD"):
            return (identity.UsernamePasswordCredential(client_id or AZURE_CLI_CLIENT_ID, env["AZURE_AD_USER"],
                                                        env["AZURE_PASSWORD"], tenant_id=tenant or "organizations"),
                    "user from AZURE_AD_USER/AZURE_PASSWORD")
        return identity.DefaultAzureCredential(), "DefaultAzureCredential (environment, managed identity, az login)"
    except ValueError as exc:
        raise ProviderError("Azure credentials from the environment are not usable: %s" % _one_line(exc),
                            "credentials") from exc


def _polling_class(arm_polling):
    """ARMPolling that sleeps with the caller's ``sleep`` and stops at the caller's ``clock``-measured deadline."""

    class ClockedPolling(arm_polling.ARMPolling):
        def __init__(self, interval, sleep, clock, deadline):
            super(ClockedPolling, self).__init__(interval)
            self.sleep_with = sleep
            self.clock = clock
            self.deadline = deadline
            self.operation_url = None

        def initialize(self, client, initial_response, deserialization_callback):
            headers = initial_response.http_response.headers
            self.operation_url = headers.get("Azure-AsyncOperation") or headers.get("Location")
            super(ClockedPolling, self).initialize(client, initial_response, deserialization_callback)

        def _sleep(self, delay):
            if self.clock() >= self.deadline:
                raise OperationStillRunning(self.status())
            self.sleep_with(delay)

    return ClockedPolling


def _import_monitor():
    try:
        monitor = import_sdk(PROVIDER, "azure.mgmt.monitor", "azure-mgmt-monitor==6.0.2")
        settings_models = import_sdk(PROVIDER, "azure.mgmt.monitor.v2021_05_01_preview.models",
                                     "azure-mgmt-monitor==6.0.2")
    except ProviderError as exc:
        raise ProviderError("%s (azure-mgmt-monitor 7.x has no diagnostic_settings; AKS audit logs need 6.0.2)"
                            % exc, "missing_sdk") from exc
    if not hasattr(monitor.MonitorManagementClient, "diagnostic_settings"):
        raise ProviderError("AKS clusters need the Python package azure-mgmt-monitor==6.0.2 (pip install "
                            "'azure-mgmt-monitor==6.0.2'): the installed azure-mgmt-monitor has no diagnostic_settings "
                            "(7.x dropped it)", "missing_sdk")
    return monitor, settings_models


def clients(target):
    """ContainerServiceClient and MonitorManagementClient for the target's subscription, plus the SDK classes the
    other functions need. Over a loopback http endpoint (test fakes) no credential or token is used."""
    check_endpoints(PROVIDER, target, "endpoint")
    containerservice = import_sdk(PROVIDER, "azure.mgmt.containerservice", "azure-mgmt-containerservice>=41,<42")
    models = import_sdk(PROVIDER, "azure.mgmt.containerservice.models", "azure-mgmt-containerservice>=41,<42")
    if not hasattr(models.KubernetesVersionListResult(), "values_property"):
        raise ProviderError("AKS clusters need azure-mgmt-containerservice 41.x (pip install "
                            "'azure-mgmt-containerservice>=41,<42'); the installed version has the older models",
                            "missing_sdk")
    monitor, settings_models = _import_monitor()
    core = import_sdk(PROVIDER, "azure.core", "azure-core")
    exceptions = import_sdk(PROVIDER, "azure.core.exceptions", "azure-core")
    policies = import_sdk(PROVIDER, "azure.core.pipeline.policies", "azure-core")
    arm_polling = import_sdk(PROVIDER, "azure.mgmt.core.polling.arm_polling", "azure-mgmt-core")

    subscription = target["subscription_id"]
    endpoint = target.get("endpoint_url")
    monitor_endpoint = target.get("monitor_endpoint_url") or endpoint
    real_credential = []

    def client_options(url):
        if url and is_loopback_http(url):
            return _LoopbackCredential(), {"base_url": url, "authentication_policy": policies.SansIOHTTPPolicy()}
        if not real_credential:
            identity = import_sdk(PROVIDER, "azure.identity", "azure-identity")
            real_credential.append(_credential(identity))
        return real_credential[0][0], ({"base_url": url} if url else {})

    credential, options = client_options(endpoint)
    aks = containerservice.ContainerServiceClient(credential, subscription, **options)
    credential, options = client_options(monitor_endpoint)
    insights = monitor.MonitorManagementClient(credential, subscription, **options)
    return {
        "containerservice": aks,
        "monitor": insights,
        "credential_source": real_credential[0][1] if real_credential else "none (loopback test endpoint)",
        "sdk": {
            "ManagedCluster": models.ManagedCluster,
            "DiagnosticSettingsResource": settings_models.DiagnosticSettingsResource,
            "MatchConditions": core.MatchConditions,
            "AzureError": exceptions.AzureError,
            "SerializationError": exceptions.SerializationError,
            "DeserializationError": exceptions.DeserializationError,
            "HttpResponseError": exceptions.HttpResponseError,
            "ClientAuthenticationError": exceptions.ClientAuthenticationError,
            "ServiceRequestError": exceptions.ServiceRequestError,
            "ServiceResponseError": exceptions.ServiceResponseError,
            "Polling": _polling_class(arm_polling),
        },
    }


# ``list_clusters`` takes an argument named ``clients``.
make_clients = clients


# ---------------------------------------------------------------------------------------------------------------
# errors


def _one_line(value):
    return " ".join(str(value).split())


def _arm_error(exc):
    """(code, message) of an ARM error response, or of a failed operation's status body."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    response = getattr(exc, "response", None)
    if not code and response is not None:
        # A body that is not JSON leaves the exception's own text as the cause.
        try:
            body = response.json() or {}
        except Exception:  # pylint: disable=broad-except
            body = {}
        detail = body.get("error") if isinstance(body, dict) else None
        if isinstance(detail, dict):
            code, message = detail.get("code"), detail.get("message")
    if not message:
        message = (str(getattr(exc, "message", None) or exc) or type(exc).__name__).splitlines()[0]
    return code or type(exc).__name__, _one_line(message)


def provider_error(call, exc, clients_, subject):
    """ProviderError (one line naming the call) for an Azure SDK exception."""
    sdk = clients_["sdk"]
    if isinstance(exc, ProviderError):
        return exc
    status = getattr(exc, "status_code", None)
    code, message = _arm_error(exc)
    if isinstance(exc, sdk["ClientAuthenticationError"]) and status in (None, 401):
        return ProviderError("%s: Azure credentials failed (%s): %s: %s"
                             % (call, clients_.get("credential_source"), code, message), "credentials")
    if isinstance(exc, (sdk["ServiceRequestError"], sdk["ServiceResponseError"])):
        return ProviderError("%s: cannot reach Azure Resource Manager for %s: %s" % (call, subject, message),
                             "unreachable")
    if isinstance(exc, sdk["HttpResponseError"]) and status:
        if status == 403:
            return ProviderError("%s: 403 %s: %s (needs Azure RBAC action %s on %s)"
                                 % (call, code, message, RBAC_ACTIONS.get(call, "?"), subject), "forbidden")
        if status == 404:
            return ProviderError("%s: 404 %s: %s not found: %s" % (call, code, subject, message), "not_found")
        if status == 409:
            return ProviderError("%s: 409 %s: another operation is in progress on %s; wait until its "
                                 "provisioningState is Succeeded and rerun: %s" % (call, code, subject, message),
                                 "conflict")
        if status == 412:
            return ProviderError("%s: 412 %s: %s was changed by someone else since it was read; rerun"
                                 % (call, code, subject), "conflict")
        if status < 300:
            return ProviderError("%s: operation failed on %s: %s: %s" % (call, subject, code, message), "api")
        return ProviderError("%s: %s %s: %s" % (call, status, code, message), "api", status)
    return ProviderError("%s: %s: %s" % (call, code, message), "api")


def _azure_error_types(clients_):
    """What the SDK raises: AzureError, and the (de)serialization errors of its models (ValueError subclasses)."""
    sdk = clients_["sdk"]
    return (sdk["AzureError"], sdk["SerializationError"], sdk["DeserializationError"])


# ---------------------------------------------------------------------------------------------------------------
# describe


def describe(target, clients):
    """The cluster (GET), its diagnostic settings and the region's Kubernetes versions as ARM REST JSON."""
    aks = clients["containerservice"]
    subject = "cluster %s (resource group %s)" % (target["name"], target["resource_group"])
    errors = _azure_error_types(clients)
    try:
        cluster = without_secrets(aks.managed_clusters.get(target["resource_group"], target["name"]).as_dict(),
                                  SECRET_FIELDS)
    except errors as exc:
        raise provider_error(CALL_GET, exc, clients, subject) from exc
    raw = {"cluster": cluster, "diagnostic_settings": None, "kubernetes_versions": None, "errors": {}}
    try:
        raw["diagnostic_settings"] = [setting.serialize(keep_readonly=True)
                                      for setting in clients["monitor"].diagnostic_settings.list(cluster["id"])]
    except errors as exc:
        raw["errors"]["audit_logging"] = str(provider_error(CALL_LIST_SETTINGS, exc, clients, subject))
    try:
        versions = aks.managed_clusters.list_kubernetes_versions(cluster["location"]).as_dict()
        raw["kubernetes_versions"] = versions.get("values") or []
    except errors as exc:
        raw["errors"]["version"] = str(provider_error(CALL_VERSIONS, exc, clients, "location %s"
                                                      % cluster["location"]))
    return raw


# ---------------------------------------------------------------------------------------------------------------
# facts


def _properties(raw):
    return (raw.get("cluster") or {}).get("properties") or {}


def _destination(setting_properties):
    """'Log Analytics workspace /subscriptions/...' for the setting's destinations, or None."""
    found = ["%s %s" % (what, setting_properties[rest]) for attr, rest, what in DESTINATIONS
             if setting_properties.get(rest)]
    return ", ".join(found) or None


def _audit_entry(setting):
    """The enabled audit category or category group of one setting that has a destination, or None."""
    properties = setting.get("properties") or {}
    if not _destination(properties):
        return None
    for log in properties.get("logs") or []:
        if not log.get("enabled"):
            continue
        if log.get("category") in AUDIT_CATEGORIES:
            return log["category"]
        if log.get("categoryGroup") in AUDIT_CATEGORY_GROUPS:
            return "category group " + log["categoryGroup"]
    return None


def _audit_section(raw):
    settings = raw.get("diagnostic_settings") or []
    for setting in settings:
        entry = _audit_entry(setting)
        if entry:
            destination = _destination(setting.get("properties") or {})
            detail = "diagnostic setting %s sends %s to %s" % (setting.get("name"), entry, destination)
            return {"enabled": True, "detail": detail, "retention_days": None, "retention_detail": RETENTION_DETAIL}
    if settings:
        detail = ("no diagnostic setting with a destination enables kube-audit, kube-audit-admin or the audit/allLogs "
                  "category group (settings: %s)" % ", ".join(sorted(s.get("name") or "?" for s in settings)))
    else:
        detail = "the cluster has no diagnostic settings: control-plane audit logs are not kept"
    return {"enabled": False, "detail": detail, "retention_days": None, "retention_detail": RETENTION_DETAIL}


def _kms_state(raw):
    """(state, key, detail) of Key Vault KMS."""
    properties = _properties(raw)
    security = properties.get("securityProfile") or {}
    kms = security.get("azureKeyVaultKms") or {}
    provisioning = properties.get("provisioningState") or "Succeeded"
    if kms.get("enabled") and kms.get("keyId"):
        detail = "Key Vault KMS encrypts Secrets with key %s (key vault network access %s)" % (
            kms["keyId"], kms.get("keyVaultNetworkAccess") or "Public")
        if provisioning == "Failed":
            return "error", kms["keyId"], detail + "; the cluster's last operation failed (provisioningState Failed)"
        if provisioning != "Succeeded":
            return "pending", kms["keyId"], detail + "; provisioningState %s" % provisioning
        return "on", kms["keyId"], detail
    detail = ("AKS encrypts etcd at rest with platform-managed keys; Key Vault KMS (Secrets encrypted with your key) "
              "is off")
    infrastructure = (security.get("kubernetesResourceObjectEncryptionProfile") or {}).get("infrastructureEncryption")
    if infrastructure == "Enabled":
        detail += "; infrastructure encryption of Kubernetes resource objects is Enabled (platform keys)"
    return "off", None, detail


def _ha_section(raw):
    tier = ((raw.get("cluster") or {}).get("sku") or {}).get("tier") or "Free"
    if tier in ("Standard", "Premium"):
        return {"ha": True, "detail": "sku tier %s: uptime SLA, control plane scaled and zone-redundant where the "
                                      "region has availability zones" % tier}
    return {"ha": False, "detail": "sku tier %s: no uptime SLA and a control plane that is not scaled for "
                                   "production (az aks update --tier standard)" % tier}


def _endpoint_section(raw):
    properties = _properties(raw)
    access = properties.get("apiServerAccessProfile") or {}
    private = bool(access.get("enablePrivateCluster"))
    notes = []
    if private:
        public = False
        notes.append("private cluster: the API server has a private endpoint in the cluster's network")
        if access.get("enablePrivateClusterPublicFqdn", True):
            notes.append("its public DNS name resolves to the private address")
    else:
        public = True
    if public and properties.get("publicNetworkAccess") == "Disabled":
        public = False
        notes.append("public network access Disabled")
    cidrs = list(access.get("authorizedIpRanges") or []) if public else []
    if public and not cidrs:
        cidrs = ["0.0.0.0/0"]
    if public:
        notes.insert(0, "public endpoint open to %s%s" % (", ".join(cidrs), "" if access.get("authorizedIpRanges")
                                                          else " (no authorized IP ranges)"))
    if access.get("enableVnetIntegration"):
        notes.append("API Server VNet Integration on")
    return {"public": public, "private": private, "public_cidrs": cidrs, "detail": "; ".join(notes)}


def _node_pools_section(raw):
    pools = []
    for profile in _properties(raw).get("agentPoolProfiles") or []:
        pools.append({"name": profile.get("name"), "zones": [str(z) for z in profile.get("availabilityZones") or []],
                      "autoscaling": bool(profile.get("enableAutoScaling")), "min": profile.get("minCount"),
                      "max": profile.get("maxCount")})
    spread = [p["name"] for p in pools if len(p["zones"]) > 1]
    detail = "%d node pool(s); across several zones: %s" % (len(pools), ", ".join(spread) or "none")
    return {"pools": pools, "detail": detail}


def _autoscaling_section(raw):
    properties = _properties(raw)
    pools = [p.get("name") for p in properties.get("agentPoolProfiles") or [] if p.get("enableAutoScaling")]
    auto_provisioning = (properties.get("nodeProvisioningProfile") or {}).get("mode") == "Auto"
    notes = []
    if pools:
        notes.append("cluster autoscaler on pool(s) %s" % ", ".join(pools))
    if auto_provisioning:
        notes.append("node auto-provisioning (Karpenter) mode Auto")
    return {"enabled": bool(pools or auto_provisioning),
            "detail": "; ".join(notes) or "no pool has the cluster autoscaler and node auto-provisioning is off"}


def _minor(version):
    parts = str(version or "").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


def _version_section(raw):
    properties = _properties(raw)
    current = properties.get("currentKubernetesVersion") or properties.get("kubernetesVersion")
    minor = _minor(current)
    location = (raw.get("cluster") or {}).get("location")
    versions = raw.get("kubernetes_versions")
    if versions is None:
        return {"version": minor, "support": None, "end_of_support": None,
                "detail": "Kubernetes %s; the versions supported in %s could not be read" % (current, location)}
    plans = None
    for entry in versions:
        if entry.get("version") == minor and not entry.get("isPreview"):
            plans = list((entry.get("capabilities") or {}).get("supportPlan") or [])
    if plans is None:
        support = "unsupported"
        detail = "Kubernetes %s: minor %s is no longer offered in %s" % (current, minor, location)
    elif "KubernetesOfficial" in plans:
        support = "standard"
        detail = "Kubernetes %s: minor %s is in standard (community) support in %s" % (current, minor, location)
    elif "AKSLongTermSupport" in plans and properties.get("supportPlan") == "AKSLongTermSupport":
        support = "extended"
        detail = ("Kubernetes %s: minor %s is only offered with AKS long-term support, the cluster's support plan"
                  % (current, minor))
    elif "AKSLongTermSupport" in plans:
        support = "unsupported"
        detail = ("Kubernetes %s: minor %s is only offered with AKS long-term support, which needs the LTS plan "
                  "(Premium tier, supportPlan AKSLongTermSupport); this cluster's support plan is %s"
                  % (current, minor, properties.get("supportPlan") or "KubernetesOfficial"))
    else:
        support = "unsupported"
        detail = "Kubernetes %s: minor %s is listed without a support plan (%s)" % (current, minor, location)
    return {"version": minor, "support": support, "end_of_support": None,
            "detail": detail + "; end of support dates are in the AKS release calendar, not the API"}


def _people_auth_section(raw):
    properties = _properties(raw)
    entra = bool((properties.get("aadProfile") or {}).get("managed"))
    local_disabled = bool(properties.get("disableLocalAccounts"))
    if entra and local_disabled:
        return {"sso": True, "detail": "Microsoft Entra ID integration on and local accounts disabled"}
    local = ("local accounts enabled: anyone with Microsoft.ContainerService/managedClusters/"
             "listClusterAdminCredential gets a cluster-admin client certificate (az aks get-credentials --admin)")
    if entra:
        return {"sso": False, "detail": "Microsoft Entra ID integration on, but " + local}
    return {"sso": False, "detail": "no Microsoft Entra ID integration; " + local}


def facts(target, raw):
    """Provider-neutral facts (FACTS_SCHEMA) from ``describe``'s raw JSON."""
    cluster = raw.get("cluster") or {}
    errors = dict(raw.get("errors") or {})
    sections = {}
    if "audit_logging" not in errors and raw.get("diagnostic_settings") is not None:
        sections["audit_logging"] = _audit_section(raw)
    state, key, detail = _kms_state(raw)
    sections["secrets_encryption"] = {"state": state, "key": key, "detail": detail}
    sections["control_plane_ha"] = _ha_section(raw)
    sections["endpoint"] = _endpoint_section(raw)
    sections["node_pools"] = _node_pools_section(raw)
    sections["autoscaling"] = _autoscaling_section(raw)
    sections["version"] = _version_section(raw)
    sections["people_auth"] = _people_auth_section(raw)
    return {"provider": PROVIDER, "id": cluster.get("id"), "name": cluster.get("name") or target.get("name"),
            "location": cluster.get("location"), "sections": sections, "errors": errors}


# ---------------------------------------------------------------------------------------------------------------
# plan


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _to_parameters(value):
    """REST JSON (camelCase) as SDK attribute names (snake_case), without nulls."""
    if isinstance(value, dict):
        return {_snake(k): _to_parameters(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_parameters(v) for v in value]
    return value


def _plan_audit(raw, desired):
    item = "audit_logging"
    if "audit_logging" in (raw.get("errors") or {}) or raw.get("diagnostic_settings") is None:
        return plan_step(item, "held", "the cluster's diagnostic settings could not be read: %s"
                         % (raw.get("errors") or {}).get("audit_logging", "not read"), CALL_DIAGNOSTIC)
    section = _audit_section(raw)
    settings = raw["diagnostic_settings"]
    name = desired["aks_diagnostic_setting_name"]
    category = desired["aks_audit_category"]
    existing = next((s for s in settings if (s.get("name") or "").lower() == name.lower()), None)
    before = {"enabled": section["enabled"],
              "diagnostic_setting": _to_parameters((existing or {}).get("properties")) if existing else None}
    if section["enabled"]:
        return plan_step(item, "none", section["detail"], CALL_DIAGNOSTIC, before=before, after=before)
    parameters = _to_parameters(copy.deepcopy(existing.get("properties") or {})) if existing else {}
    parameters.setdefault("logs", [])
    destination = desired["aks_log_destination"] or {}
    replaced = [key for key in AKS_DESTINATION_KEYS + ("event_hub_name",)
                if destination.get(key) and parameters.get(key) and parameters[key] != destination[key]]
    parameters.update({key: value for key, value in destination.items() if value})
    if not any(parameters.get(attr) for attr, rest, what in DESTINATIONS):
        return plan_step(item, "held", "no log destination: set aks_log_destination (role variable "
                         "managed_control_plane_aks_log_destination) to a workspace_id, storage_account_id or "
                         "event_hub_authorization_rule_id for diagnostic setting %s" % name, CALL_DIAGNOSTIC,
                         before=before)
    if existing is None and len(settings) >= MAX_DIAGNOSTIC_SETTINGS:
        names = ", ".join(s.get("name") or "?" for s in settings)
        return plan_step(item, "held", "the cluster already has %d diagnostic settings, the most a resource takes (%s): "
                         "set aks_diagnostic_setting_name (role variable "
                         "managed_control_plane_aks_diagnostic_setting_name) to one of them to add %s there"
                         % (len(settings), names, category), CALL_DIAGNOSTIC, before=before)
    for log in parameters["logs"]:
        if log.get("category") == category:
            log["enabled"] = True
            break
    else:
        parameters["logs"].append({"category": category, "enabled": True})
    resource_uri = raw["cluster"]["id"]
    if existing:
        reason = "add %s to diagnostic setting %s" % (category, name)
    else:
        reason = ("create diagnostic setting %s sending %s (setting %d of at most %d on the cluster)"
                  % (name, category, len(settings) + 1, MAX_DIAGNOSTIC_SETTINGS))
    reason += " to %s" % _destination({rest: parameters.get(attr) for attr, rest, what in DESTINATIONS})
    if replaced:
        reason += " (replacing its %s; its other logs and metrics go there too)" % ", ".join(replaced)
    request = {"resource_uri": resource_uri, "name": name, "parameters": parameters}
    after = {"enabled": True, "diagnostic_setting": parameters}
    return plan_step(item, "update", reason, CALL_DIAGNOSTIC, request=request, before=before, after=after)


def _plan_kms(target, raw, desired):
    item = "secrets_encryption"
    state, key, detail = _kms_state(raw)
    before = {"state": state, "key": key}
    if state in ("on", "pending"):
        reason = detail
        if desired["kms_key"] and key != desired["kms_key"]:
            reason += " (kms_key %s differs: key rotation is not done here)" % desired["kms_key"]
        return plan_step(item, "none", reason, CALL_CLUSTER, before=before, after=before)
    if state == "error":
        return plan_step(item, "held", detail + ": look at the failure (az aks show -g %s -n %s) before changing it"
                         % (target["resource_group"], target["name"]), CALL_CLUSTER, before=before)
    kms_key = desired["kms_key"]
    if not kms_key:
        return plan_step(item, "held", "no KMS key given: set kms_key (role variable managed_control_plane_kms_key) to a "
                         "versioned Key Vault key URL %s" % KEY_URL_SHAPE, CALL_CLUSTER, before=before)
    if not KEY_URL.match(kms_key):
        return plan_step(item, "held", "kms_key %s is not a versioned Key Vault key URL (%s): AKS needs the key version"
                         % (kms_key, KEY_URL_SHAPE), CALL_CLUSTER, before=before)
    access = desired["aks_key_vault_network_access"]
    kms = {"enabled": True, "keyId": kms_key, "keyVaultNetworkAccess": access}
    if access == "Private":
        kms["keyVaultResourceId"] = desired["aks_key_vault_resource_id"]
    cluster = raw["cluster"]
    request = {"resource_group_name": target["resource_group"], "resource_name": target["name"],
               "etag": cluster.get("eTag"), "match_condition": "IfNotModified" if cluster.get("eTag") else None,
               "changes": {"properties": {"securityProfile": {"azureKeyVaultKms": kms}}}}
    reason = ("Key Vault KMS is off: enable it with key %s (key vault network access %s) by a read-modify-write of "
              "the managed cluster (If-Match eTag %s). The cluster identity needs encrypt/decrypt rights on the key "
              "(Key Vault Crypto User); only Secrets written afterwards are encrypted with it, so rewrite existing "
              "Secrets" % (kms_key, access, cluster.get("eTag")))
    if access == "Private":
        reason += "; a private key vault needs API Server VNet Integration"
    after = {"state": "on", "key": kms_key, "key_vault_network_access": access}
    return plan_step(item, "update", reason, CALL_CLUSTER, request=request, before=before, after=after,
                     follow_up="rewrite_secrets")


def plan(target, raw, desired):
    """The steps for the requested items: a diagnostic setting for audit logs, Key Vault KMS for Secrets."""
    desired = validate_desired(desired)
    steps = []
    for item in desired["items"]:
        if item == "audit_logging":
            steps.append(_plan_audit(raw, desired))
        elif item == "secrets_encryption":
            steps.append(_plan_kms(target, raw, desired))
    return steps


# ---------------------------------------------------------------------------------------------------------------
# apply


def _merge(base, changes):
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _apply_diagnostic(step, clients):
    request = step["request"]
    parameters = clients["sdk"]["DiagnosticSettingsResource"].from_dict(request["parameters"])
    subject = "diagnostic setting %s of %s" % (request["name"], request["resource_uri"])
    try:
        result = clients["monitor"].diagnostic_settings.create_or_update(request["resource_uri"], request["name"],
                                                                         parameters)
    except _azure_error_types(clients) as exc:
        raise provider_error(CALL_DIAGNOSTIC, exc, clients, subject) from exc
    wanted = [log["category"] for log in request["parameters"]["logs"] if log.get("enabled")]
    enabled = [log.category for log in result.logs or [] if log.enabled]
    missing = [category for category in wanted if category not in enabled]
    if missing:
        raise ProviderError("%s: %s was saved without %s enabled" % (CALL_DIAGNOSTIC, subject, ", ".join(missing)),
                            "api")
    return None


def _apply_cluster(step, clients, timeout, poll_seconds, sleep, clock, started):
    request = step["request"]
    aks = clients["containerservice"]
    sdk = clients["sdk"]
    group, name = request["resource_group_name"], request["resource_name"]
    subject = "cluster %s (resource group %s)" % (name, group)
    try:
        current = aks.managed_clusters.get(group, name).as_dict()
    except _azure_error_types(clients) as exc:
        raise provider_error(CALL_GET, exc, clients, subject) from exc
    # The whole cluster goes back with only the planned fragment changed; If-Match makes Azure refuse (412)
    # if anyone changed it since the plan read it.
    body = sdk["ManagedCluster"](_merge(current, request["changes"]))
    polling = sdk["Polling"](poll_seconds, sleep, clock, started + timeout)
    options = {"polling": polling}
    if request.get("etag"):
        options.update(etag=request["etag"], match_condition=sdk["MatchConditions"].IfNotModified)
    try:
        poller = aks.managed_clusters.begin_create_or_update(group, name, body, **options)
        result = poller.result(timeout=timeout + POLLER_WAIT_MARGIN_SECONDS)
        if not poller.done():
            raise OperationStillRunning(poller.status())
    except OperationStillRunning as exc:
        exc.operation = polling.operation_url
        raise
    except _azure_error_types(clients) as exc:
        error = provider_error(CALL_CLUSTER, exc, clients, subject)
        error.operation = polling.operation_url
        raise error from exc
    kms = ((result.as_dict().get("properties") or {}).get("securityProfile") or {}).get("azureKeyVaultKms") or {}
    wanted = request["changes"]["properties"]["securityProfile"]["azureKeyVaultKms"]
    if kms.get("enabled") != wanted["enabled"] or kms.get("keyId") != wanted["keyId"]:
        error = ProviderError("%s: %s finished but Key Vault KMS reads %r" % (CALL_CLUSTER, subject, kms), "api")
        error.operation = polling.operation_url
        raise error
    return polling.operation_url


def _apply_step(target, step, clients, timeout, poll_seconds, sleep, clock):
    started = clock()
    status, operation, error = "succeeded", None, None
    try:
        if step["call"] == CALL_DIAGNOSTIC:
            operation = _apply_diagnostic(step, clients)
        elif step["call"] == CALL_CLUSTER:
            operation = _apply_cluster(step, clients, timeout, poll_seconds, sleep, clock, started)
        else:
            raise ProviderError("%s is not an AKS call this module makes" % step["call"], "input")
    except OperationStillRunning as exc:
        status, operation = "timeout", getattr(exc, "operation", None)
        error = ("%s still %s after %ds on cluster %s: check az aks show -g %s -n %s --query provisioningState%s"
                 % (step["call"], exc.status, timeout, target["name"], target["resource_group"], target["name"],
                    ", or GET the operation %s" % exc.operation if getattr(exc, "operation", None) else ""))
    except ProviderError as exc:
        status, operation, error = "failed", getattr(exc, "operation", None), str(exc)
    except _azure_error_types(clients) as exc:
        status, error = "failed", str(provider_error(step["call"], exc, clients, target["name"]))
    return outcome(step, status, operation, error, round(clock() - started, 3))


def apply(target, steps, clients, timeout, poll_seconds, sleep=time.sleep, clock=time.monotonic):
    """Make the ``update`` steps in order; stop at the first that fails or times out."""

    def apply_step(step):
        return _apply_step(target, step, clients, timeout, poll_seconds, sleep, clock)

    return apply_in_order(steps, apply_step)


# ---------------------------------------------------------------------------------------------------------------
# list_clusters


def _resource_group(resource_id):
    parts = (resource_id or "").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups":
            return parts[index + 1]
    return None


def list_clusters(account, clients=None):
    """DISCOVERED entries for every AKS cluster of the account's subscriptions. ``account`` is
    ``{"subscriptions": [...], "endpoint_url": ..., "monitor_endpoint_url": ...}`` (subscriptions default to
    AZURE_SUBSCRIPTION_ID); ``clients`` optionally maps a subscription id to that subscription's ``clients()``."""
    if not isinstance(account, dict):
        raise ProviderError("AKS account must be a mapping with subscriptions", "input")
    subscriptions = account.get("subscriptions")
    if subscriptions is None and os.environ.get("AZURE_SUBSCRIPTION_ID"):
        # AWX's Azure credential injects the one subscription it is for.
        subscriptions = [os.environ["AZURE_SUBSCRIPTION_ID"]]
    if (not isinstance(subscriptions, list) or not subscriptions
            or not all(isinstance(s, str) and s.strip() for s in subscriptions)):
        raise ProviderError("AKS account subscriptions must be a non-empty list of subscription ids", "input")
    unknown = sorted(set(account) - {"subscriptions", "endpoint_url", "monitor_endpoint_url", "allow_custom_endpoint"})
    if unknown:
        raise ProviderError("AKS account: unknown key(s) %s" % ", ".join(unknown), "input")
    extra = {key: account[key] for key in ("endpoint_url", "monitor_endpoint_url", "allow_custom_endpoint")
             if account.get(key)}
    check_endpoints(PROVIDER, extra, "AKS account")
    discovered = []
    for subscription in subscriptions:
        subscription = subscription.strip()
        if isinstance(clients, dict) and subscription in clients:
            subscription_clients = clients[subscription]
        else:
            subscription_clients = make_clients(dict(extra, type=PROVIDER, subscription_id=subscription))
        try:
            found = [cluster.as_dict() for cluster in subscription_clients["containerservice"].managed_clusters.list()]
        except _azure_error_types(subscription_clients) as exc:
            raise provider_error(CALL_LIST, exc, subscription_clients, "subscription %s" % subscription) from exc
        for cluster in found:
            properties = cluster.get("properties") or {}
            fqdn = properties.get("fqdn") or properties.get("privateFQDN")
            target = dict({"type": PROVIDER, "subscription_id": subscription,
                           "resource_group": _resource_group(cluster.get("id")), "name": cluster.get("name")}, **extra)
            discovered.append({
                "name": cluster.get("name"),
                "distribution": PROVIDER,
                "location": cluster.get("location"),
                "target": target,
                "labels": {str(k): str(v) for k, v in (cluster.get("tags") or {}).items()},
                "server": "https://%s" % fqdn if fqdn else None,
                "version": properties.get("currentKubernetesVersion") or properties.get("kubernetesVersion"),
            })
    return discovered
