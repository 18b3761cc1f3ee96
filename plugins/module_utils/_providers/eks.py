# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Amazon EKS through boto3: one describe_cluster plus the side reads its sections need (CloudWatch log group,
node groups and their subnets' zones, the version's support status), the UpdateClusterConfig and
AssociateEncryptionConfig calls that turn audit logging and Secrets envelope encryption on, and discovery.

boto3 is imported in ``clients`` only; ``facts`` and ``plan`` are pure. The functions follow the contract in
``_providers/__init__.py``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    UNLIMITED_RETENTION,
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

PROVIDER = "eks"
# EKS encrypts only the Secrets written after the key is associated.
REWRITES_SECRETS_ITSELF = False
UPDATE_CLUSTER_CONFIG = "eks:UpdateClusterConfig"
ASSOCIATE_ENCRYPTION_CONFIG = "eks:AssociateEncryptionConfig"
# IAM permissions each write needs beyond its own action (named when AWS answers AccessDenied).
EXTRA_PERMISSIONS = {
    ASSOCIATE_ENCRYPTION_CONFIG: "kms:DescribeKey and kms:CreateGrant on the key",
}
UPDATE_DONE = ("Successful", "Failed", "Cancelled")
# Loopback test fakes get these instead of the credential chain, so no real key ID is ever sent to them.
FAKE_CREDENTIALS = {"aws_access_key_id": "kubecompass-fake", "aws_secret_access_key": "kubecompass-fake"}
# Retries with backoff for throttling and 5xx; bounded connect/read times so a dead endpoint fails a run quickly.
CLIENT_CONFIG = {"retries": {"max_attempts": 5, "mode": "standard"}, "connect_timeout": 10, "read_timeout": 60}
SUPPORT_STATUS = {"STANDARD_SUPPORT": "standard", "EXTENDED_SUPPORT": "extended", "UNSUPPORTED": "unsupported"}
KMS_HEALTH_CODES = ("KmsKeyNotFound", "KmsGrantRevoked", "KmsKeyDisabled", "KmsKeyMarkedForDeletion")
# Secret material of connectorConfig (a registered external cluster): ((path to the holder), field); never in raw.
SECRET_FIELDS = ((("connectorConfig",), "activationCode"), (("connectorConfig",), "activationId"))

CREDENTIAL_EXCEPTIONS = ("NoCredentialsError", "PartialCredentialsError", "ProfileNotFound", "CredentialRetrievalError",
                         "NoAuthTokenError", "TokenRetrievalError", "SSOTokenLoadError", "UnauthorizedSSOTokenError",
                         "InvalidConfigError")
UNREACHABLE_EXCEPTIONS = ("EndpointConnectionError", "ConnectionClosedError", "ProxyConnectionError", "SSLError",
                          "ConnectionError")
TIMEOUT_EXCEPTIONS = ("ConnectTimeoutError", "ReadTimeoutError")
CREDENTIAL_CODES = ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
                    "SignatureDoesNotMatch", "AuthFailure", "InvalidSignatureException", "MissingAuthenticationToken")
FORBIDDEN_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException")
NOT_FOUND_CODES = ("ResourceNotFoundException", "NotFoundException", "InvalidSubnetID.NotFound")


# --- errors ------------------------------------------------------------------------------------------------------

def _exception_names(exc):
    return [klass.__name__ for klass in type(exc).__mro__]


def classify(call, exc, cluster=None):
    """(category, one-line message naming the call) for a boto3/botocore exception, without importing botocore."""
    names = _exception_names(exc)
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response.get("Error") or {}
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or "").strip()
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        text = "%s: %s: %s" % (call, code or status, message or "no message")
        if code == "ResourceInUseException" or "in progress" in message.lower():
            return "conflict", "%s (conflict: cluster %s has an update in progress; rerun once it is ACTIVE)" % (
                text, cluster or "?")
        if code in CREDENTIAL_CODES:
            return "credentials", "%s (check the AWS credentials the run uses)" % text
        if code in FORBIDDEN_CODES or code.startswith("AccessDenied") or status == 403:
            needed = call + (" and " + EXTRA_PERMISSIONS[call] if call in EXTRA_PERMISSIONS else "")
            return "forbidden", "%s (the caller needs IAM permission %s)" % (text, needed)
        if code in NOT_FOUND_CODES or status == 404:
            return "not_found", text
        return "api", text
    if any(name in CREDENTIAL_EXCEPTIONS for name in names):
        return "credentials", "%s: no usable AWS credentials (%s: %s); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, " \
                              "a profile or an instance role" % (call, type(exc).__name__, exc)
    if any(name in TIMEOUT_EXCEPTIONS for name in names):
        return "timeout", "%s: %s: %s" % (call, type(exc).__name__, exc)
    if any(name in UNREACHABLE_EXCEPTIONS for name in names):
        return "unreachable", "%s: %s: %s" % (call, type(exc).__name__, exc)
    return "api", "%s: %s: %s" % (call, type(exc).__name__, exc)


def provider_error(call, exc, cluster=None):
    """The ProviderError to raise for an SDK exception."""
    category, message = classify(call, exc, cluster)
    return ProviderError(message, category)


# --- clients -----------------------------------------------------------------------------------------------------

def clients(target):
    """boto3 clients (eks, logs, ec2) for the target's region; credentials from boto3's chain (environment variables
    incl. AWS_SESSION_TOKEN/AWS_SECURITY_TOKEN, profile, instance role) except on a loopback fake."""
    check_endpoints(PROVIDER, target, "endpoint")
    boto3_session = import_sdk(PROVIDER, "boto3.session", "boto3")
    botocore_config = import_sdk(PROVIDER, "botocore.config", "botocore")
    endpoint_url = target.get("endpoint_url")
    try:
        session = boto3_session.Session(profile_name=target.get("profile"), region_name=target["region"])
    except Exception as exc:  # ProfileNotFound and friends: botocore's classes are only known at run time
        raise provider_error("boto3.Session", exc) from exc
    options = {"config": botocore_config.Config(**CLIENT_CONFIG)}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
        if is_loopback_http(endpoint_url):
            options.update(FAKE_CREDENTIALS)
    try:
        return {service: session.client(service, **options) for service in ("eks", "logs", "ec2")}
    except Exception as exc:
        raise provider_error("boto3.client", exc) from exc


# list_clusters takes a ``clients`` argument, which hides the function inside it.
build_clients = clients


# --- describe ----------------------------------------------------------------------------------------------------

def jsonable(value):
    """boto3 answers with datetimes; results must be JSON."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def log_group_name(name):
    return "/aws/eks/%s/cluster" % name


def _cluster_read(eks, name):
    try:
        cluster = eks.describe_cluster(name=name)["cluster"]
    except Exception as exc:
        raise provider_error("eks:DescribeCluster", exc, name) from exc
    # The CA bundle is public but long, and no section reads it.
    cluster = {key: item for key, item in cluster.items() if key != "certificateAuthority"}
    return without_secrets(jsonable(cluster), SECRET_FIELDS)


def _log_group(logs, name):
    wanted = log_group_name(name)
    kwargs = {"logGroupNamePrefix": wanted}
    while True:
        page = logs.describe_log_groups(**kwargs)
        for group in page.get("logGroups") or []:
            if group.get("logGroupName") == wanted:
                return jsonable(group)
        if not page.get("nextToken"):
            return None
        kwargs["nextToken"] = page["nextToken"]


def _nodegroups(eks, name):
    names, kwargs = [], {"clusterName": name}
    while True:
        page = eks.list_nodegroups(**kwargs)
        names.extend(page.get("nodegroups") or [])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    return [jsonable(eks.describe_nodegroup(clusterName=name, nodegroupName=group)["nodegroup"]) for group in names]


def _subnet_zones(ec2, subnet_ids):
    zones = {}
    if not subnet_ids:
        return zones
    kwargs = {"SubnetIds": sorted(subnet_ids)}
    while True:
        page = ec2.describe_subnets(**kwargs)
        for subnet in page.get("Subnets") or []:
            zones[subnet["SubnetId"]] = subnet.get("AvailabilityZone")
        if not page.get("NextToken"):
            return zones
        kwargs["NextToken"] = page["NextToken"]


def _version_info(eks, version):
    page = eks.describe_cluster_versions(clusterVersions=[version])
    for info in page.get("clusterVersions") or []:
        if info.get("clusterVersion") == version:
            return jsonable(info)
    return None


def _auto_mode(cluster):
    return bool((cluster.get("computeConfig") or {}).get("enabled"))


def describe(target, clients):
    """describe_cluster (raises on failure) plus the side reads; a failed side read goes to errors[section]."""
    name = target["name"]
    eks = clients["eks"]
    cluster = _cluster_read(eks, name)
    raw = {"cluster": cluster, "log_group": None, "nodegroups": None, "subnet_zones": None, "version_info": None,
           "errors": {}}
    errors = raw["errors"]
    try:
        if "logs" not in clients:
            raise ProviderError("no CloudWatch Logs client", "input")
        raw["log_group"] = _log_group(clients["logs"], name)
    except Exception as exc:
        errors["audit_logging"] = classify("logs:DescribeLogGroups", exc, name)[1]
    try:
        raw["nodegroups"] = _nodegroups(eks, name)
    except Exception as exc:
        errors["node_pools"] = classify("eks:ListNodegroups/DescribeNodegroup", exc, name)[1]
    if raw["nodegroups"] is not None:
        subnets = {subnet for group in raw["nodegroups"] for subnet in group.get("subnets") or []}
        if _auto_mode(cluster):
            subnets.update((cluster.get("resourcesVpcConfig") or {}).get("subnetIds") or [])
        try:
            if subnets and "ec2" not in clients:
                raise ProviderError("no EC2 client to map subnets to zones", "input")
            raw["subnet_zones"] = _subnet_zones(clients.get("ec2"), subnets)
        except Exception as exc:
            errors["node_pools"] = classify("ec2:DescribeSubnets", exc, name)[1]
    if cluster.get("version"):
        try:
            raw["version_info"] = _version_info(eks, cluster["version"])
        except Exception as exc:
            errors["version"] = classify("eks:DescribeClusterVersions", exc, name)[1]
    return raw


# --- facts -------------------------------------------------------------------------------------------------------

def enabled_log_types(cluster):
    """Log types switched on, from the cluster's logging.clusterLogging groups."""
    enabled = set()
    for group in ((cluster.get("logging") or {}).get("clusterLogging") or []):
        if group.get("enabled"):
            enabled.update(group.get("types") or [])
    return sorted(enabled)


def secrets_key(cluster):
    """The customer KMS key ARN encrypting Secrets, or None."""
    for config in cluster.get("encryptionConfig") or []:
        key = (config.get("provider") or {}).get("keyArn")
        if "secrets" in (config.get("resources") or []) and key:
            return key
    return None


def _audit_section(name, cluster, raw):
    types = enabled_log_types(cluster)
    enabled = "audit" in types
    detail = ("control plane log types enabled: %s (CloudWatch group %s)" % (", ".join(types), log_group_name(name))
              if types else "no control plane log type is enabled (logging.clusterLogging)")
    group = raw.get("log_group")
    error = (raw.get("errors") or {}).get("audit_logging")
    if error:
        days, retention = None, "retention unknown: %s" % error
    elif group is None:
        days = None
        retention = ("log group %s does not exist yet: retention unknown (EKS creates it with the first events; it "
                     "never expires unless a retention is set)" % log_group_name(name)) if enabled else \
            "no log group %s" % log_group_name(name)
    elif group.get("retentionInDays"):
        days = int(group["retentionInDays"])
        retention = "CloudWatch log group %s keeps events %d days" % (log_group_name(name), days)
    else:
        days = UNLIMITED_RETENTION
        retention = "CloudWatch log group %s has no retention set: events never expire" % log_group_name(name)
    return {"enabled": enabled, "detail": detail, "retention_days": days, "retention_detail": retention}


def _encryption_section(cluster):
    key = secrets_key(cluster)
    kms_issues = [issue for issue in ((cluster.get("health") or {}).get("issues") or [])
                  if issue.get("code") in KMS_HEALTH_CODES]
    if key and kms_issues:
        return {"state": "error", "key": key,
                "detail": "Secrets are encrypted with %s but the cluster reports %s" % (
                    key, "; ".join("%s: %s" % (issue.get("code"), issue.get("message")) for issue in kms_issues))}
    if key:
        return {"state": "on", "key": key,
                "detail": "encryptionConfig envelope-encrypts secrets with customer KMS key %s" % key}
    return {"state": "off", "key": None,
            "detail": "no encryptionConfig for secrets: no customer-managed KMS key (EKS 1.28+ encrypts all API data "
                      "with an AWS-owned key by default, which is not a key you control or audit)"}


def _endpoint_section(cluster):
    vpc = cluster.get("resourcesVpcConfig") or {}
    public = vpc.get("endpointPublicAccess", True)
    private = vpc.get("endpointPrivateAccess", False)
    cidrs = list(vpc.get("publicAccessCidrs") or (["0.0.0.0/0"] if public else []))
    detail = "endpointPublicAccess %s, endpointPrivateAccess %s%s" % (
        str(bool(public)).lower(), str(bool(private)).lower(),
        ", publicAccessCidrs %s" % ", ".join(cidrs) if public else "")
    return {"public": bool(public), "private": bool(private), "public_cidrs": cidrs if public else [],
            "detail": detail}


def _pools(cluster, raw):
    zones_by_subnet = raw.get("subnet_zones") or {}
    pools = []
    for group in raw.get("nodegroups") or []:
        scaling = group.get("scalingConfig") or {}
        low, high = scaling.get("minSize"), scaling.get("maxSize")
        zones = sorted({zones_by_subnet[subnet] for subnet in group.get("subnets") or []
                        if zones_by_subnet.get(subnet)})
        pools.append({"name": group.get("nodegroupName"), "zones": zones,
                      "autoscaling": low is not None and high is not None and low < high, "min": low, "max": high})
    if _auto_mode(cluster):
        subnets = (cluster.get("resourcesVpcConfig") or {}).get("subnetIds") or []
        node_pools = (cluster.get("computeConfig") or {}).get("nodePools") or []
        pools.append({"name": "auto-mode" + (" (%s)" % ", ".join(node_pools) if node_pools else ""),
                      "zones": sorted({zones_by_subnet[subnet] for subnet in subnets if zones_by_subnet.get(subnet)}),
                      "autoscaling": True, "min": None, "max": None})
    return pools


def _node_pools_section(cluster, raw):
    pools = _pools(cluster, raw)
    detail = "%d managed node group(s)%s; zones from the node groups' subnets" % (
        len(raw.get("nodegroups") or []), ", EKS Auto Mode across the cluster subnets" if _auto_mode(cluster) else "")
    if not pools:
        detail = "no managed node groups and EKS Auto Mode off (self-managed nodes and Fargate are not read)"
    return {"pools": pools, "detail": detail}


def _autoscaling_section(cluster, raw):
    if _auto_mode(cluster):
        return {"enabled": True, "detail": "EKS Auto Mode (computeConfig.enabled) scales nodes"}
    if raw.get("nodegroups") is None:
        return None
    # A managed node group's min/max only bound an autoscaler; EKS itself never resizes it.
    scalable = [pool["name"] for pool in _pools(cluster, raw) if pool["autoscaling"]]
    if scalable:
        detail = ("node group(s) %s allow min<max scaling but EKS does not scale them itself; run Cluster Autoscaler "
                  "or Karpenter, or enable Auto Mode" % ", ".join(scalable))
        return {"enabled": False, "detail": detail}
    return {"enabled": False, "detail": "EKS Auto Mode off and no managed node group has minSize < maxSize"}


def _date(value):
    return str(value)[:10] if value else None


def _version_section(cluster, raw):
    version = cluster.get("version")
    info = raw.get("version_info")
    error = (raw.get("errors") or {}).get("version")
    if error or info is None:
        return {"version": version, "support": None, "end_of_support": None,
                "detail": error or "eks:DescribeClusterVersions does not list %s" % version}
    support = SUPPORT_STATUS.get(info.get("versionStatus"))
    standard_end = _date(info.get("endOfStandardSupportDate"))
    extended_end = _date(info.get("endOfExtendedSupportDate"))
    end = extended_end if support == "extended" else standard_end
    detail = "versionStatus %s, end of standard support %s, end of extended support %s, upgradePolicy %s" % (
        info.get("versionStatus"), standard_end or "unknown", extended_end or "unknown",
        (cluster.get("upgradePolicy") or {}).get("supportType") or "not reported")
    return {"version": version, "support": support, "end_of_support": end, "detail": detail}


def _people_auth_section(cluster):
    mode = (cluster.get("accessConfig") or {}).get("authenticationMode") or "CONFIG_MAP"
    how = {"API": "EKS access entries", "API_AND_CONFIG_MAP": "EKS access entries and the aws-auth ConfigMap",
           "CONFIG_MAP": "the aws-auth ConfigMap"}.get(mode, mode)
    return {"sso": True, "detail": "people sign in through AWS IAM (aws eks get-token); accessConfig."
                                   "authenticationMode %s maps IAM principals through %s" % (mode, how)}


def facts(target, raw):
    """Pure: FACTS_SCHEMA from describe's raw answer."""
    cluster = raw.get("cluster") or {}
    name = cluster.get("name") or target.get("name")
    errors = dict(raw.get("errors") or {})
    sections = {
        "audit_logging": _audit_section(name, cluster, raw),
        "secrets_encryption": _encryption_section(cluster),
        "control_plane_ha": {"ha": True, "detail": "EKS runs the control plane (API servers and etcd) managed across "
                                                   "three Availability Zones of %s" % target.get("region")},
        "endpoint": _endpoint_section(cluster),
        "version": _version_section(cluster, raw),
        "people_auth": _people_auth_section(cluster),
    }
    if "node_pools" not in errors and raw.get("nodegroups") is not None:
        sections["node_pools"] = _node_pools_section(cluster, raw)
    autoscaling = _autoscaling_section(cluster, raw)
    if autoscaling is not None:
        sections["autoscaling"] = autoscaling
    else:
        errors.setdefault("autoscaling", errors.get("node_pools") or "node groups not read")
    return {"provider": PROVIDER, "id": cluster.get("arn"), "name": name, "location": target.get("region"),
            "sections": sections, "errors": errors}


# --- plan --------------------------------------------------------------------------------------------------------


def _audit_step(cluster, desired):
    name = cluster.get("name")
    enabled = enabled_log_types(cluster)
    missing = [log_type for log_type in desired["eks_log_types"] if log_type not in enabled]
    before = {"enabled": "audit" in enabled, "log_types": enabled}
    if not missing:
        return plan_step("audit_logging", "none", "control plane log types %s already enabled" % ", ".join(enabled),
                         UPDATE_CLUSTER_CONFIG, before=before, after=before)
    # Logging only: EKS refuses a call mixing logging with resourcesVpcConfig (one update type per call).
    # No clientRequestToken: botocore fills the idempotency token itself per call and reuses it across that call's
    # retries, so a later run never gets an earlier run's update back.
    request = {"name": name, "logging": {"clusterLogging": [{"types": missing, "enabled": True}]}}
    after = {"enabled": True, "log_types": sorted(set(enabled) | set(missing))}
    return plan_step("audit_logging", "update", "enable control plane log type(s) %s (enabled now: %s)"
                     % (", ".join(missing), ", ".join(enabled) or "none"), UPDATE_CLUSTER_CONFIG, request, before, after)


def _encryption_step(cluster, desired):
    name = cluster.get("name")
    current = secrets_key(cluster)
    wanted = desired.get("kms_key")
    before = {"state": "on" if current else "off", "key": current}
    if current and wanted and current != wanted:
        return plan_step("secrets_encryption", "none",
                         "Secrets are already encrypted with %s; EKS cannot change the key of an existing encryption "
                         "config, so %s is not applied (rotate within the key or recreate the cluster)" % (current, wanted),
                         ASSOCIATE_ENCRYPTION_CONFIG, before=before, after=before)
    if current:
        return plan_step("secrets_encryption", "none", "Secrets already envelope-encrypted with %s" % current,
                         ASSOCIATE_ENCRYPTION_CONFIG, before=before, after=before)
    if not wanted:
        return plan_step("secrets_encryption", "held", "no KMS key given: set kms_key (role variable "
                         "managed_control_plane_kms_key)", ASSOCIATE_ENCRYPTION_CONFIG, before=before, after=before,
                         irreversible=True, follow_up="rewrite_secrets")
    request = {"clusterName": name, "encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": wanted}}]}
    after = {"state": "on", "key": wanted}
    if not desired.get("allow_irreversible_encryption"):
        return plan_step("secrets_encryption", "held", "associate_encryption_config cannot be undone; set "
                         "allow_irreversible_encryption (role variable managed_control_plane_allow_irreversible_encryption)"
                         " to associate %s" % wanted, ASSOCIATE_ENCRYPTION_CONFIG, request, before, after,
                         irreversible=True, follow_up="rewrite_secrets")
    return plan_step("secrets_encryption", "update", "envelope-encrypt Secrets with %s (irreversible; existing Secrets "
                     "must be rewritten to be encrypted)" % wanted, ASSOCIATE_ENCRYPTION_CONFIG, request, before, after,
                     irreversible=True, follow_up="rewrite_secrets")


def plan(target, raw, desired):
    """Pure: one STEP per requested item, an update only where the cluster differs from the desired state."""
    desired = validate_desired(desired)
    cluster = raw.get("cluster") or {}
    builders = {"audit_logging": _audit_step, "secrets_encryption": _encryption_step}
    steps = [builders[item](cluster, desired) for item in desired["items"]]
    status = cluster.get("status")
    if status and status != "ACTIVE":
        for step in steps:
            if step["action"] == "update":
                step["action"] = "held"
                step["reason"] = "cluster %s is %s, not ACTIVE (an update may be in progress): rerun once it is " \
                                 "ACTIVE to %s" % (cluster.get("name"), status, step["reason"])
    return steps


# --- apply -------------------------------------------------------------------------------------------------------

def _step_visible(step, cluster):
    """The change a step asked for shows in describe_cluster (used when no update id came back)."""
    request = step["request"]
    if step["call"] == UPDATE_CLUSTER_CONFIG:
        wanted = {log_type for group in request["logging"]["clusterLogging"] for log_type in group["types"]}
        return wanted <= set(enabled_log_types(cluster))
    wanted_key = request["encryptionConfig"][0]["provider"]["keyArn"]
    return secrets_key(cluster) == wanted_key


def _update_errors(update):
    return "; ".join("%s: %s" % (error.get("errorCode"), error.get("errorMessage"))
                     for error in update.get("errors") or []) or "no error detail"


def _outcome(step, status, operation, error, started, clock):
    return outcome(step, status, operation, error, round(max(clock() - started, 0.0), 3))


def _poll_update(target, step, eks, update, timeout, poll_seconds, sleep, clock, started):
    name = target["name"]
    update_id = update.get("id")
    status = update.get("status") or "InProgress"
    while status not in UPDATE_DONE:
        if clock() - started >= timeout:
            return _outcome(step, "timeout", update_id, "%s update %s still %s after %ds; check it with aws eks "
                            "describe-update --name %s --update-id %s --region %s" % (
                                step["call"], update_id, status, timeout, name, update_id, target["region"]),
                            started, clock)
        sleep(poll_seconds)
        try:
            update = eks.describe_update(name=name, updateId=update_id)["update"]
        except Exception as exc:
            return _outcome(step, "failed", update_id, classify("eks:DescribeUpdate", exc, name)[1], started, clock)
        status = update.get("status") or "InProgress"
    if status == "Successful":
        return _outcome(step, "succeeded", update_id, None, started, clock)
    error = "%s update %s %s: %s" % (step["call"], update_id, status, _update_errors(update))
    return _outcome(step, "failed", update_id, error, started, clock)


def _poll_cluster(target, step, eks, timeout, poll_seconds, sleep, clock, started):
    """No update id came back (moto answers UpdateClusterConfig with {}): wait until the cluster is ACTIVE and
    shows the change, which is what a Successful update means."""
    name = target["name"]
    while True:
        try:
            cluster = eks.describe_cluster(name=name)["cluster"]
        except Exception as exc:
            return _outcome(step, "failed", None, classify("eks:DescribeCluster", exc, name)[1], started, clock)
        if cluster.get("status") == "ACTIVE" and _step_visible(step, cluster):
            return _outcome(step, "succeeded", None, None, started, clock)
        if cluster.get("status") == "FAILED":
            return _outcome(step, "failed", None, "%s: cluster %s is FAILED" % (step["call"], name), started, clock)
        if clock() - started >= timeout:
            return _outcome(step, "timeout", None, "%s returned no update id and cluster %s is still %s without the "
                            "change after %ds; check it with aws eks describe-cluster --name %s --region %s" % (
                                step["call"], name, cluster.get("status"), timeout, name, target["region"]),
                            started, clock)
        sleep(poll_seconds)


def _apply_step(target, step, eks, calls, timeout, poll_seconds, sleep, clock):
    started = clock()
    call = calls.get(step["call"])
    if call is None:
        return _outcome(step, "failed", None, "unknown call %s" % step["call"], started, clock)
    try:
        response = call(**step["request"])
    except Exception as exc:
        return _outcome(step, "failed", None, classify(step["call"], exc, target["name"])[1], started, clock)
    update = (response or {}).get("update") or {}
    if update.get("id"):
        return _poll_update(target, step, eks, update, timeout, poll_seconds, sleep, clock, started)
    return _poll_cluster(target, step, eks, timeout, poll_seconds, sleep, clock, started)


def apply(target, steps, clients, timeout, poll_seconds, sleep=time.sleep, clock=time.monotonic):
    """Make the update steps in order, polling each to its end; stop at the first failed or timed-out one."""
    eks = clients["eks"]
    calls = {UPDATE_CLUSTER_CONFIG: eks.update_cluster_config,
             ASSOCIATE_ENCRYPTION_CONFIG: eks.associate_encryption_config}

    def apply_step(step):
        return _apply_step(target, step, eks, calls, timeout, poll_seconds, sleep, clock)

    return apply_in_order(steps, apply_step)


# --- discovery ---------------------------------------------------------------------------------------------------

def _account_regions(account):
    if not isinstance(account, dict):
        raise ProviderError("EKS account must be a mapping with regions, not %r" % (account,), "input")
    regions = account.get("regions")
    if not is_string_list(regions):
        raise ProviderError("EKS account regions must be a non-empty list of region names, not %r" % (regions,),
                            "input")
    return regions


def list_clusters(account, clients=None):
    """DISCOVERED for every cluster in the account's regions. ``clients`` may map region -> clients dict."""
    regions = _account_regions(account)
    found = []
    for region in regions:
        target = {"type": PROVIDER, "name": "", "region": region}
        for key in ("endpoint_url", "allow_custom_endpoint", "profile"):
            if account.get(key):
                target[key] = account[key]
        region_clients = (clients or {}).get(region) or build_clients(target)
        eks = region_clients["eks"]
        names, kwargs = [], {}
        while True:
            try:
                page = eks.list_clusters(**kwargs)
            except Exception as exc:
                category, message = classify("eks:ListClusters", exc)
                raise ProviderError("%s (region %s)" % (message, region), category) from exc
            names.extend(page.get("clusters") or [])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        for name in names:
            try:
                cluster = eks.describe_cluster(name=name)["cluster"]
            except Exception as exc:
                category, message = classify("eks:DescribeCluster", exc, name)
                if category == "not_found":  # deleted between the list and the describe
                    continue
                raise ProviderError("%s (region %s)" % (message, region), category) from exc
            cluster_target = dict(target, name=name)
            found.append({"name": name, "distribution": PROVIDER, "location": region, "target": cluster_target,
                          "labels": {str(k): str(v) for k, v in (cluster.get("tags") or {}).items()},
                          "server": cluster.get("endpoint"), "version": cluster.get("version")})
    return found
