# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Google GKE through google-cloud-container (``container_v1.ClusterManagerClient``, REST transport): one
GetCluster plus FetchClusterUpgradeInfo for the version's support, the UpdateCluster calls that turn Cloud Logging
of the API server and application-layer Secrets encryption with a Cloud KMS key on, and discovery.

The SDK is imported in ``clients`` only; ``facts`` and ``plan`` are pure. The functions follow the contract in
``_providers/__init__.py``. ``raw["cluster"]`` is ``Cluster.to_dict`` with proto field names (snake_case), enum names
and no default-valued fields, so a missing key reads as the field's default.

Each UpdateCluster request carries exactly one ``desired_*`` field (an API rule), so turning logging on can take two
steps. Requests carry no ``etag``: it changes with every operation, so the etag read by ``describe`` would make the
second step of a plan fail; GKE itself refuses an update while another operation runs (FAILED_PRECONDITION, reported
as a conflict), and each step sends only the one field it changes. A ``desired_logging_config`` step re-reads the
cluster right before it is sent and enables the union of the components on then and the planned ones: turning Cloud
Logging on (the step before) makes GKE enable its default components, which the planned list, read before, lacks.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import datetime
import os
import re
import time

from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    ProviderError,
    apply_in_order,
    check_endpoints,
    import_sdk,
    is_loopback_http,
    is_string_list,
    outcome,
    plan_step,
    validate_desired,
    without_secrets,
)

PROVIDER = "gke"
# GKE re-encrypts every Secret itself after a key change.
REWRITES_SECRETS_ITSELF = True
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
GET_CLUSTER = "gke:ClusterManager.GetCluster"
FETCH_UPGRADE_INFO = "gke:ClusterManager.FetchClusterUpgradeInfo"
UPDATE_CLUSTER = "gke:ClusterManager.UpdateCluster"
GET_OPERATION = "gke:ClusterManager.GetOperation"
LIST_CLUSTERS = "gke:ClusterManager.ListClusters"
NEW_CLIENT = "gke:ClusterManagerClient"
# The IAM permission each call needs, named when Google answers PERMISSION_DENIED.
PERMISSIONS = {
    GET_CLUSTER: "container.clusters.get",
    FETCH_UPGRADE_INFO: "container.clusters.get",
    UPDATE_CLUSTER: "container.clusters.update",
    GET_OPERATION: "container.operations.get",
    LIST_CLUSTERS: "container.clusters.list",
}
# LoggingComponentConfig.Component in enum order (COMPONENT_UNSPECIFIED left out).
LOGGING_COMPONENTS = ("SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "SCHEDULER", "CONTROLLER_MANAGER", "KCP_SSHD",
                      "KCP_CONNECTION", "KCP_HPA", "KCP_VPA")
AUDIT_COMPONENTS = ("SYSTEM_COMPONENTS", "APISERVER")
KUBERNETES_LOGGING_SERVICE = "logging.googleapis.com/kubernetes"
ADMIN_ACTIVITY_RETENTION_DAYS = 400
ADMIN_ACTIVITY_RETENTION = ("Admin Activity audit entries are kept 400 days in the _Required log bucket (fixed by the "
                            "platform)")
KMS_KEY_NAME = re.compile(r"^projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
ENCRYPTED_STATES = ("ENCRYPTED", "ALL_OBJECTS_ENCRYPTION_ENABLED")
ENCRYPTED_CURRENT_STATES = ("CURRENT_STATE_ENCRYPTED", "CURRENT_STATE_ALL_OBJECTS_ENCRYPTION_ENABLED")
# Fields of master_auth that are secret material; never kept in raw.
SECRET_FIELDS = ((("master_auth",), "password"), (("master_auth",), "client_key"))
CREDENTIAL_EXCEPTIONS = ("DefaultCredentialsError", "RefreshError", "Unauthenticated", "Unauthorized")
UNREACHABLE_EXCEPTIONS = ("ConnectionError", "TransportError", "SSLError", "ServiceUnavailable")
TIMEOUT_EXCEPTIONS = ("DeadlineExceeded", "GatewayTimeout", "Timeout", "RetryError")
CONFLICT_STATUSES = ("FAILED_PRECONDITION", "ABORTED")


# --- errors ------------------------------------------------------------------------------------------------------

def _google_error(exc):
    """(status name, message) from a google-api-core error's JSON body, else (None, the exception's text)."""
    response = getattr(exc, "response", None)
    try:
        error = response.json().get("error") or {}
    except Exception:  # no response, or not JSON: fall back to the exception text
        error = {}
    status = error.get("status") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not message:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return status, " ".join(str(message).split())


def classify(call, exc, cluster=None):
    """(category, one-line message naming the call) for a google-api-core / google-auth / requests exception."""
    names = [klass.__name__ for klass in type(exc).__mro__]
    status, message = _google_error(exc)
    code = getattr(exc, "code", None)
    code = code if isinstance(code, int) else None
    text = "%s: %s: %s" % (call, status or names[0], message)
    if status in CONFLICT_STATUSES or "FailedPrecondition" in names or "Aborted" in names or code == 409:
        return "conflict", ("%s (conflict: cluster %s has another operation in progress or a precondition failed; "
                            "rerun once the cluster is RUNNING)" % (text, cluster or "?"))
    if status == "PERMISSION_DENIED" or "PermissionDenied" in names or code == 403:
        return "forbidden", "%s (the caller needs IAM permission %s)" % (text, PERMISSIONS.get(call, call))
    if status == "UNAUTHENTICATED" or any(name in CREDENTIAL_EXCEPTIONS for name in names) or code == 401:
        return "credentials", "%s (check the Google credentials the run uses)" % text
    if status == "NOT_FOUND" or "NotFound" in names or code == 404:
        return "not_found", text
    if status == "DEADLINE_EXCEEDED" or any(name in TIMEOUT_EXCEPTIONS for name in names) or code == 504:
        return "timeout", text
    if status == "UNAVAILABLE" or any(name in UNREACHABLE_EXCEPTIONS for name in names):
        return "unreachable", text
    return "api", text


def provider_error(call, exc, cluster=None):
    """The ProviderError to raise for an SDK exception (``raise provider_error(...) from exc``)."""
    category, message = classify(call, exc, cluster)
    return ProviderError(message, category)


# --- clients -----------------------------------------------------------------------------------------------------

def cluster_path(target):
    return "projects/%s/locations/%s/clusters/%s" % (target["project"], target["location"], target["name"])


def operation_path(target, operation_name):
    if operation_name.startswith("projects/"):
        return operation_name
    return "projects/%s/locations/%s/operations/%s" % (target["project"], target["location"], operation_name)


def _credentials():
    """Application Default Credentials; AWX's GCE credential type injects GCE_CREDENTIALS_FILE_PATH instead, read
    when GOOGLE_APPLICATION_CREDENTIALS is not set."""
    auth = import_sdk(PROVIDER, "google.auth", "google-auth")
    credentials_file = os.environ.get("GCE_CREDENTIALS_FILE_PATH")
    if not os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") and credentials_file:
        service_account = import_sdk(PROVIDER, "google.oauth2.service_account", "google-auth")
        try:
            return service_account.Credentials.from_service_account_file(credentials_file, scopes=SCOPES)
        except Exception as exc:  # OSError, ValueError, or google-auth's own: the file is unusable
            raise ProviderError("GCE_CREDENTIALS_FILE_PATH %s is not a usable service-account key file: %s: %s"
                                % (credentials_file, type(exc).__name__, exc), "credentials") from exc
    try:
        credentials, project = auth.default(scopes=SCOPES)
    except auth.exceptions.DefaultCredentialsError as exc:
        raise ProviderError("no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a key file, run "
                            "`gcloud auth application-default login`, attach an AWX GCE credential "
                            "(GCE_CREDENTIALS_FILE_PATH) or run on GCP with a service account (%s)"
                            % " ".join(str(exc).split()), "credentials") from exc
    del project  # the target names the project
    return credentials


def clients(target):
    """``{"cluster_manager": ClusterManagerClient, "types": container_v1}`` over REST. Loopback http endpoints (test
    fakes) get anonymous credentials; everything else the ADC chain."""
    return _new_clients(target)


def _new_clients(target):
    check_endpoints(PROVIDER, target, "endpoint")
    container_v1 = import_sdk(PROVIDER, "google.cloud.container_v1", "google-cloud-container")
    client_options = import_sdk(PROVIDER, "google.api_core.client_options", "google-cloud-container")
    endpoint_url = target.get("endpoint_url")
    if is_loopback_http(endpoint_url):
        auth_credentials = import_sdk(PROVIDER, "google.auth.credentials", "google-auth")
        credentials = auth_credentials.AnonymousCredentials()
    else:
        credentials = _credentials()
    try:
        options = client_options.ClientOptions(api_endpoint=endpoint_url) if endpoint_url else None
        client = container_v1.ClusterManagerClient(credentials=credentials, transport="rest", client_options=options)
    except Exception as exc:  # client options, mTLS (MutualTLSChannelError) or credentials: known at run time only
        category, message = classify(NEW_CLIENT, exc)
        raise ProviderError("%s (endpoint %s)" % (message, endpoint_url or "default"), category) from exc
    return {"cluster_manager": client, "types": container_v1}


# --- describe ----------------------------------------------------------------------------------------------------

def jsonable(message):
    """A proto-plus message as a JSON-able dict: proto field names, enum names, no default-valued fields."""
    return type(message).to_dict(message, use_integers_for_enums=False, preserving_proto_field_name=True,
                                 always_print_fields_with_no_presence=False)


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(target, clients):
    """``{"cluster": Cluster, "upgrade_info": ClusterUpgradeInfo | None, "read_at": RFC 3339, "errors": {}}``."""
    manager = clients["cluster_manager"]
    name = cluster_path(target)
    try:
        cluster = manager.get_cluster(name=name)
    except Exception as exc:  # google-api-core / google-auth / requests classes are only known at run time
        raise provider_error(GET_CLUSTER, exc, target["name"]) from exc
    raw = {"cluster": without_secrets(jsonable(cluster), SECRET_FIELDS), "upgrade_info": None, "read_at": _now_iso(), "errors": {}}
    try:
        raw["upgrade_info"] = jsonable(manager.fetch_cluster_upgrade_info(name=name))
    except Exception as exc:
        raw["errors"]["version"] = classify(FETCH_UPGRADE_INFO, exc, target["name"])[1]
    return raw


# --- facts -------------------------------------------------------------------------------------------------------

def _get(mapping, *keys):
    """mapping[k1][k2]... or None when any level is missing."""
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def is_zone(location):
    return bool(ZONE.match(location or ""))


def logging_service(cluster):
    return cluster.get("logging_service") or ""


def logging_components(cluster):
    """The enabled component logs, in enum order (unknown names last)."""
    components = _get(cluster, "logging_config", "component_config", "enable_components") or []
    return _in_enum_order(components)


def _in_enum_order(components):
    known = [component for component in LOGGING_COMPONENTS if component in components]
    return known + sorted(set(components) - set(LOGGING_COMPONENTS))


def _logging_on(cluster):
    return logging_service(cluster) not in ("", "none")


def _audit_section(cluster):
    service = logging_service(cluster)
    components = logging_components(cluster)
    missing = [component for component in AUDIT_COMPONENTS if component not in components]
    enabled = _logging_on(cluster) and not missing
    if not _logging_on(cluster):
        found = "Cloud Logging is off (logging_service %s)" % (service or "unset")
    elif missing:
        found = "Cloud Logging %s is on with components %s but without %s" % (
            service, ", ".join(components) or "none", ", ".join(missing))
    else:
        found = "Cloud Logging %s is on with components %s" % (service, ", ".join(components))
    detail = ("%s. Admin Activity audit logs always go to Cloud Audit Logs (they cannot be disabled); Data Access "
              "audit logs are a project IAM auditConfigs setting, not read here." % found)
    return {"enabled": enabled, "detail": detail, "retention_days": ADMIN_ACTIVITY_RETENTION_DAYS,
            "retention_detail": ADMIN_ACTIVITY_RETENTION}


def _encryption_section(cluster):
    encryption = cluster.get("database_encryption") or {}
    state = encryption.get("state") or "UNKNOWN"
    current = encryption.get("current_state") or "CURRENT_STATE_UNSPECIFIED"
    key = encryption.get("key_name") or None
    if current.endswith("_PENDING"):
        return {"state": "pending", "key": key,
                "detail": "application-layer Secrets encryption is changing (%s, state %s, key %s)"
                          % (current, state, key or "none")}
    if current.endswith("_ERROR"):
        errors = ["%s%s" % (error.get("error_message") or "unknown error",
                            " (key %s)" % error["key_name"] if error.get("key_name") else "")
                  for error in encryption.get("last_operation_errors") or []]
        return {"state": "error", "key": key,
                "detail": "the last Secrets encryption change failed (%s): %s"
                          % (current, "; ".join(errors) or "no error recorded")}
    if state in ENCRYPTED_STATES and key and current in ENCRYPTED_CURRENT_STATES + ("CURRENT_STATE_UNSPECIFIED",):
        return {"state": "on", "key": key,
                "detail": "Secrets are encrypted at the application layer with Cloud KMS key %s" % key}
    return {"state": "off", "key": None,
            "detail": "GKE encrypts at the storage layer with Google keys, but application-layer Secrets encryption "
                      "with a Cloud KMS key is off (database_encryption state %s, current_state %s)" % (state, current)}


def _ha_section(cluster, location):
    if is_zone(location):
        return {"ha": False, "detail": "zonal cluster in %s: a single control-plane replica in one zone" % location}
    return {"ha": True, "detail": "regional cluster in %s: the control plane is replicated across the region's zones"
                                  % location}


def _endpoint_section(cluster):
    ip_config = _get(cluster, "control_plane_endpoints_config", "ip_endpoints_config")
    private_config = cluster.get("private_cluster_config") or {}
    if isinstance(ip_config, dict):
        ip_enabled = ip_config.get("enabled", True)
        public = ip_enabled and ip_config.get("enable_public_endpoint", True)
        private = ip_enabled and bool(ip_config.get("private_endpoint") or private_config.get("private_endpoint")
                                      or private_config.get("enable_private_nodes"))
        networks = ip_config.get("authorized_networks_config") or {}
        source = "control_plane_endpoints_config.ip_endpoints_config"
    else:
        public = not private_config.get("enable_private_endpoint", False)
        private = bool(private_config.get("private_endpoint") or private_config.get("enable_private_nodes"))
        networks = cluster.get("master_authorized_networks_config") or {}
        source = "private_cluster_config"
    if not public:
        cidrs = []
        access = "no public IP endpoint"
    elif networks.get("enabled"):
        # Authorized networks on with no CIDR: no address may reach the public endpoint.
        cidrs = [block.get("cidr_block") for block in networks.get("cidr_blocks") or [] if block.get("cidr_block")]
        if cidrs:
            access = "public IP endpoint limited to authorized networks %s" % ", ".join(cidrs)
        else:
            access = "public IP endpoint closed: authorized networks on with no CIDR block"
        if networks.get("gcp_public_cidrs_access_enabled"):
            access += ("; gcp_public_cidrs_access_enabled: every Google Cloud public IP (any project's VMs and "
                       "services) may reach it too")
    else:
        cidrs = ["0.0.0.0/0"]
        access = "public IP endpoint open to any address (authorized networks off)"
    detail = "%s; %s (%s)" % (access, "private endpoint on" if private else "no private endpoint", source)
    return {"public": bool(public), "private": bool(private), "public_cidrs": cidrs, "detail": detail}


def _pools(cluster):
    pools = []
    for pool in cluster.get("node_pools") or []:
        scaling = pool.get("autoscaling") or {}
        enabled = bool(scaling.get("enabled"))
        # total_* count across all zones; min/max_node_count per zone. Missing fields are 0 (defaults not printed).
        use_total = "total_min_node_count" in scaling or "total_max_node_count" in scaling
        prefix = "total_" if use_total else ""
        pools.append({"name": pool.get("name"), "zones": list(pool.get("locations") or cluster.get("locations") or []),
                      "autoscaling": enabled,
                      "min": scaling.get(prefix + "min_node_count", 0) if enabled else None,
                      "max": scaling.get(prefix + "max_node_count", 0) if enabled else None})
    return pools


def _node_pools_section(cluster):
    pools = _pools(cluster)
    described = ["%s in %s%s" % (pool["name"], ", ".join(pool["zones"]) or "no zone",
                                 " (autoscaling %s-%s)" % (pool["min"], pool["max"]) if pool["autoscaling"] else "")
                 for pool in pools]
    detail = "%d node pool(s): %s" % (len(pools), "; ".join(described) or "none")
    if _get(cluster, "autopilot", "enabled"):
        detail += " (Autopilot manages the nodes)"
    return {"pools": pools, "detail": detail}


def _autoscaling_section(cluster):
    reasons = []
    if _get(cluster, "autopilot", "enabled"):
        reasons.append("Autopilot scales nodes itself")
    if _get(cluster, "autoscaling", "enable_node_autoprovisioning"):
        reasons.append("node auto-provisioning is on")
    scaling_pools = [pool["name"] for pool in _pools(cluster) if pool["autoscaling"]]
    if scaling_pools:
        reasons.append("cluster autoscaler on node pool(s) %s" % ", ".join(scaling_pools))
    return {"enabled": bool(reasons),
            "detail": "; ".join(reasons) if reasons else "no node pool autoscales and node auto-provisioning is off"}


def _date(value):
    """The YYYY-MM-DD of an RFC 3339 timestamp or date string, or None."""
    text = str(value or "")[:10]
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def _version_section(cluster, raw):
    current = cluster.get("current_master_version") or ""
    minor = ".".join(current.split("-")[0].split(".")[:2]) or None
    channel = _get(cluster, "release_channel", "channel") or "UNSPECIFIED"
    info = raw.get("upgrade_info") or {}
    today = _date(raw.get("read_at")) or datetime.datetime.now(datetime.timezone.utc).date()
    standard_end = _date(info.get("end_of_standard_support_timestamp"))
    extended_end = _date(info.get("end_of_extended_support_timestamp"))
    base = "control plane %s (release channel %s)" % (current or "unknown", channel)
    if standard_end is None:
        cause = (raw.get("errors") or {}).get("version")
        return {"version": minor, "support": None, "end_of_support": None,
                "detail": "%s; support dates unknown (%s)" % (base, cause or "FetchClusterUpgradeInfo gave none")}
    if standard_end > today:
        support, end = "standard", standard_end
    elif extended_end is not None and extended_end > today:
        support, end = "extended", extended_end
    else:
        # Past standard support and no extended support left: the platform force-upgrades such clusters.
        support, end = "unsupported", extended_end or standard_end
    detail = "%s; standard support ends %s%s" % (base, standard_end.isoformat(),
                                                 ", extended support ends %s" % extended_end.isoformat()
                                                 if extended_end else "")
    return {"version": minor, "support": support, "end_of_support": end.isoformat(), "detail": detail}


def _people_auth_section(cluster):
    master_auth = cluster.get("master_auth") or {}
    certificates = bool(_get(master_auth, "client_certificate_config", "issue_client_certificate"))
    basic_auth = bool(master_auth.get("username"))
    legacy = [what for what, present in (("client certificates are issued", certificates),
                                         ("basic auth (username %s) is set" % master_auth.get("username"), basic_auth))
              if present]
    if legacy:
        return {"sso": False, "detail": "people can bypass Google identity: %s" % "; ".join(legacy)}
    return {"sso": True, "detail": "people sign in with Google identities (IAM/RBAC); no client certificates are "
                                   "issued and basic auth is off"}


def facts(target, raw):
    cluster = raw["cluster"]
    location = cluster.get("location") or target["location"]
    sections = {
        "audit_logging": _audit_section(cluster),
        "secrets_encryption": _encryption_section(cluster),
        "control_plane_ha": _ha_section(cluster, location),
        "endpoint": _endpoint_section(cluster),
        "node_pools": _node_pools_section(cluster),
        "autoscaling": _autoscaling_section(cluster),
        "version": _version_section(cluster, raw),
        "people_auth": _people_auth_section(cluster),
    }
    return {"provider": PROVIDER, "id": "projects/%s/locations/%s/clusters/%s"
                                        % (target["project"], location, cluster.get("name") or target["name"]),
            "name": cluster.get("name") or target["name"], "location": location, "sections": sections,
            "errors": dict(raw.get("errors") or {})}


# --- plan --------------------------------------------------------------------------------------------------------


def _update_request(target, update):
    return {"name": cluster_path(target), "update": update}


def _audit_steps(target, cluster, desired):
    wanted = list(desired["gke_logging_components"])
    unknown = [component for component in wanted if component not in LOGGING_COMPONENTS]
    if unknown:
        raise ProviderError("gke_logging_components: unknown component(s) %s (expected %s)"
                            % (", ".join(unknown), ", ".join(LOGGING_COMPONENTS)), "input")
    service = logging_service(cluster)
    components = logging_components(cluster)
    target_components = _in_enum_order(set(components) | set(wanted))
    before = {"logging_service": service or "none", "components": components}
    steps = []
    if not _logging_on(cluster):
        steps.append(plan_step("audit_logging", "update",
                               "Cloud Logging is off (logging_service %s); turn it on first (one field per UpdateCluster "
                               "request)" % (service or "unset"), UPDATE_CLUSTER,
                               _update_request(target, {"desired_logging_service": KUBERNETES_LOGGING_SERVICE}),
                               before, {"logging_service": KUBERNETES_LOGGING_SERVICE, "components": components}))
        service = KUBERNETES_LOGGING_SERVICE
    if target_components != components:
        missing = [component for component in target_components if component not in components]
        reason = "component logs %s are off; enable %s keeping %s" % (
            ", ".join(missing), ", ".join(target_components), ", ".join(components) or "none")
        request = _update_request(target, {"desired_logging_config": {
            "component_config": {"enable_components": target_components}}})
        steps.append(plan_step("audit_logging", "update", reason, UPDATE_CLUSTER, request,
                               {"logging_service": service, "components": components},
                               {"logging_service": service, "components": target_components}))
    if not steps:
        return [plan_step("audit_logging", "none",
                          "Cloud Logging %s already has components %s (Admin Activity audit logs are always on)"
                          % (service, ", ".join(components)), before=before, after=before)]
    return steps


def _encryption_step(target, cluster, desired):
    section = _encryption_section(cluster)
    key = desired.get("kms_key")
    before = {"state": section["state"], "key": section["key"]}
    if section["state"] == "pending":
        return plan_step("secrets_encryption", "held", "a Secrets encryption change is still running (%s); rerun once it "
                         "has finished" % section["detail"], before=before, after=before)
    if section["state"] == "on" and (not key or key == section["key"]):
        return plan_step("secrets_encryption", "none", section["detail"], before=before, after=before)
    if not key:
        return plan_step("secrets_encryption", "held", "no KMS key given: set kms_key (role variable "
                         "managed_control_plane_kms_key) to a Cloud KMS key "
                         "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY", before=before, after=before)
    match = KMS_KEY_NAME.match(key)
    if not match:
        return plan_step("secrets_encryption", "held", "kms_key %s is not a Cloud KMS key name: set kms_key (role variable "
                         "managed_control_plane_kms_key) to "
                         "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY" % key,
                         before=before, after=before)
    location = cluster.get("location") or target["location"]
    region = location[:-2] if is_zone(location) else location
    where = "" if match.group(1) == region else (" Note: the key is in %s, the cluster in %s; GKE expects the key in "
                                                 "the cluster's location." % (match.group(1), region))
    now = {"on": "currently encrypted with %s" % section["key"], "error": section["detail"]}.get(
        section["state"], "application-layer Secrets encryption is off")
    reason = ("%s; encrypt Secrets with %s. The GKE service agent "
              "service-PROJECT_NUMBER@container-engine-robot.iam.gserviceaccount.com needs "
              "roles/cloudkms.cryptoKeyEncrypterDecrypter on the key first. GKE re-encrypts all Secrets itself; "
              "reversible (state DECRYPTED).%s" % (now, key, where))
    return plan_step("secrets_encryption", "update", reason, UPDATE_CLUSTER,
                     _update_request(target, {"desired_database_encryption": {"state": "ENCRYPTED", "key_name": key}}),
                     before, {"state": "on", "key": key})


def plan(target, raw, desired):
    desired = validate_desired(desired)
    cluster = raw["cluster"]
    steps = []
    for item in desired["items"]:
        if item == "audit_logging":
            steps.extend(_audit_steps(target, cluster, desired))
        elif item == "secrets_encryption":
            steps.append(_encryption_step(target, cluster, desired))
    return steps


# --- apply -------------------------------------------------------------------------------------------------------

def _operation_error(operation):
    error = getattr(operation, "error", None)
    message = (getattr(error, "message", "") or "") if error is not None else ""
    code = getattr(error, "code", 0) if error is not None else 0
    message = message or getattr(operation, "status_message", "") or ""
    if not message and not code:
        return None
    return " ".join(("%s%s" % ("code %d: " % code if code else "", message or "no message")).split())


def _outcome(step, status, operation, error, started, clock):
    return outcome(step, status, operation, error, round(clock() - started, 3))


def _status_name(operation):
    status = getattr(operation, "status", None)
    return getattr(status, "name", None) or str(status)


def _logging_config_request(step, manager):
    """The desired_logging_config request to send now: the components the cluster has on (GKE turns its defaults
    on with Cloud Logging) plus the planned ones, so the update switches nothing off. None when all are on."""
    request = copy.deepcopy(step["request"])
    config = request["update"]["desired_logging_config"]["component_config"]
    current = logging_components(jsonable(manager.get_cluster(name=request["name"])))
    wanted = _in_enum_order(set(current) | set(config.get("enable_components") or []))
    if wanted == current:
        return None
    config["enable_components"] = wanted
    return request


def _apply_step(target, step, manager, types, timeout, poll_seconds, sleep, clock):
    started = clock()
    request = step["request"]
    if "desired_logging_config" in request["update"]:
        try:
            request = _logging_config_request(step, manager)
        except Exception as exc:  # google-api-core classes are only known at run time
            return _outcome(step, "failed", None, classify(GET_CLUSTER, exc, target["name"])[1], started, clock)
        if request is None:  # everything planned is on already
            return _outcome(step, "succeeded", None, None, started, clock)
    try:
        operation = manager.update_cluster(request=types.UpdateClusterRequest(request))
    except Exception as exc:  # google-api-core classes are only known at run time
        return _outcome(step, "failed", None, classify(step["call"], exc, target["name"])[1], started, clock)
    name = operation_path(target, operation.name)
    while _status_name(operation) != "DONE":
        if clock() - started >= timeout:
            return _outcome(step, "timeout", name,
                            "%s: operation %s still %s after %ds; check it with `gcloud container operations "
                            "describe %s --location %s --project %s`"
                            % (step["call"], name, _status_name(operation), timeout, operation.name.split("/")[-1],
                               target["location"], target["project"]), started, clock)
        sleep(poll_seconds)
        try:
            operation = manager.get_operation(name=name)
        except Exception as exc:
            return _outcome(step, "failed", name, "%s (operation %s may still be running)"
                            % (classify(GET_OPERATION, exc, target["name"])[1], name), started, clock)
    error = _operation_error(operation)
    if error:
        return _outcome(step, "failed", name, "%s: operation %s failed: %s" % (step["call"], name, error),
                        started, clock)
    return _outcome(step, "succeeded", name, None, started, clock)


def apply(target, steps, clients, timeout, poll_seconds, sleep=time.sleep, clock=time.monotonic):
    manager, types = clients["cluster_manager"], clients["types"]

    def apply_step(step):
        return _apply_step(target, step, manager, types, timeout, poll_seconds, sleep, clock)

    return apply_in_order(steps, apply_step)


# --- discovery ---------------------------------------------------------------------------------------------------

def _account(account):
    if not isinstance(account, dict):
        raise ProviderError("a GKE account must be a mapping with projects (and optionally locations, endpoint_url)",
                            "input")
    projects = account.get("projects")
    locations = account.get("locations") or ["-"]
    for key, values in (("projects", projects), ("locations", locations)):
        if not is_string_list(values):
            raise ProviderError("GKE account %s must be a non-empty list of strings, not %r" % (key, values), "input")
    return projects, locations, account.get("endpoint_url")


def list_clusters(account, clients=None):
    """DISCOVERED entries for every cluster of the account's projects (``locations`` default ``["-"]``: all)."""
    projects, locations, endpoint_url = _account(account)
    if clients is None:
        clients = _new_clients({"type": PROVIDER, "endpoint_url": endpoint_url,
                                "allow_custom_endpoint": account.get("allow_custom_endpoint")})
    manager = clients["cluster_manager"]
    discovered, seen = [], set()
    for project in projects:
        for location in locations:
            try:
                response = manager.list_clusters(parent="projects/%s/locations/%s" % (project, location))
            except Exception as exc:
                raise provider_error(LIST_CLUSTERS, exc, "projects/%s/locations/%s" % (project, location)) from exc
            for cluster in response.clusters:
                key = (project, cluster.location, cluster.name)
                if key in seen:
                    continue
                seen.add(key)
                target = {"type": PROVIDER, "project": project, "location": cluster.location, "name": cluster.name}
                if endpoint_url:
                    target["endpoint_url"] = endpoint_url
                discovered.append({"name": cluster.name, "distribution": PROVIDER, "location": cluster.location,
                                   "target": target, "labels": dict(cluster.resource_labels),
                                   "server": "https://" + cluster.endpoint if cluster.endpoint else None,
                                   "version": cluster.current_master_version or None})
    return discovered
