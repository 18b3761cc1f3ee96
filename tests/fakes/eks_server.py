# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A loopback stand-in for Amazon EKS (plus the CloudWatch Logs and EC2 reads the collection makes): moto's server,
run in-process on 127.0.0.1 the way ``moto.server.ThreadedMotoServer`` builds it, wrapped in a WSGI middleware that
adds the EKS calls moto lacks, working on moto's in-memory backend (``moto.eks.models.eks_backends``):

- ``POST /clusters/{name}/encryption-config/associate`` (AssociateEncryptionConfig): answers with an ``update``
  object; the encryption config shows on the cluster once a poll finds the update done;
- ``GET /clusters/{name}/updates/{updateId}`` (DescribeUpdate): ``InProgress`` for the first ``update_polls``
  polls, then ``update_result`` (Successful by default), applying the change on success;
- ``GET /cluster-versions`` (DescribeClusterVersions): support status per version from ``versions``;
- ``POST /clusters/{name}/update-config`` (UpdateClusterConfig): with ``realistic_updates=True`` answered here with an
  update object (logging types toggled one by one, as EKS does; an unchanged config is refused with "No changes
  needed"); by default moto answers (``{}``, no update object, change visible at once), which exercises the
  collection's describe_cluster fallback. Either way a call naming two update types (logging and resourcesVpcConfig)
  gets EKS's InvalidParameterException, and an update while another one runs gets ResourceInUseException (409).

Paths and shapes follow botocore's ``eks/2017-11-01/service-2.json``. Version dates in ``DEFAULT_VERSIONS`` are
fake data, not AWS's calendar.

Credentials: moto accepts any signature. The collection signs requests to a loopback http endpoint with fixed fake
keys, and this class's own clients (``client()``, ``seed_cluster``) do the same, so nothing needs the environment;
other tools (the aws CLI, plain boto3 in a subprocess) need some credentials, e.g. ``AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing`` (tests set them with monkeypatch). moto's state is process-wide: ``start()`` resets
moto's EKS, Logs and EC2 backends, so run one fake at a time per process.
"""

from __future__ import annotations

import copy
import datetime
import io
import json
import re
import threading
import time
import uuid
from urllib.parse import parse_qs, unquote

from tests.fakes.loopback import LoopbackFake

DEFAULT_REGION = "us-east-1"
DEFAULT_KMS_KEY = "arn:aws:kms:%s:123456789012:key/11111111-2222-3333-4444-555555555555"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# version -> (versionStatus, endOfStandardSupportDate, endOfExtendedSupportDate); fake dates.
DEFAULT_VERSIONS = {
    "1.28": ("UNSUPPORTED", "2024-11-26", "2025-11-26"),
    "1.29": ("EXTENDED_SUPPORT", "2025-03-23", "2026-03-23"),
    "1.30": ("EXTENDED_SUPPORT", "2025-07-23", "2026-07-23"),
    "1.31": ("STANDARD_SUPPORT", "2026-11-26", "2027-11-26"),
    "1.32": ("STANDARD_SUPPORT", "2027-03-23", "2028-03-23"),
    "1.33": ("STANDARD_SUPPORT", "2027-07-29", "2028-07-29"),
}
# UpdateClusterConfig members that are each one "type" of update (EKS allows one per call).
UPDATE_CONFIG_TYPES = ("resourcesVpcConfig", "logging", "accessConfig", "upgradePolicy", "zonalShiftConfig",
                       "computeConfig", "kubernetesNetworkConfig", "storageConfig", "remoteNetworkConfig",
                       "deletionProtection", "controlPlaneScalingConfig", "kubeApiServerConfig", "kubeSchedulerConfig",
                       "kubeControllerManagerConfig")
ALL_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ASSOCIATE_PATH = re.compile(r"^/clusters/([^/]+)/encryption-config/associate$")
UPDATE_PATH = re.compile(r"^/clusters/([^/]+)/updates/([^/]+)$")
UPDATE_CONFIG_PATH = re.compile(r"^/clusters/([^/]+)/update-config$")
VERSIONS_PATH = re.compile(r"^/cluster-versions$")
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request")


def _epoch(day):
    return datetime.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=datetime.UTC).timestamp()


def _parse_body(raw, content_type):
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    if "x-www-form-urlencoded" in (content_type or ""):
        return {key: values[0] if len(values) == 1 else values for key, values in parse_qs(text).items()}
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Reply(Exception):
    """A response the middleware sends instead of moto's."""

    def __init__(self, status, body, error_type=None, service="eks"):
        super().__init__(status)
        self.status = status
        self.body = body
        self.error_type = error_type
        self.service = service


def _error(status, error_type, message):
    return _Reply(status, {"message": message}, error_type)


class EksFake(LoopbackFake):
    """Fake EKS/Logs/EC2 on 127.0.0.1 (OS-chosen port) served from a background thread.

    ``requests`` lists every request as ``{"method", "path", "query": {name: [values]}, "service", "region",
    "target", "body"}`` (body parsed from JSON or form encoding). ``fail_next`` makes the next matching request(s)
    fail. ``updates`` maps update id -> the update state the fake keeps.
    """

    thread_name = "eks-fake"

    def __init__(self, update_polls=1, realistic_updates=False, versions=None, version_status=None,
                 update_result="Successful", update_errors=None, verbose=False):
        from moto.core import DEFAULT_ACCOUNT_ID

        super().__init__()
        self.account_id = DEFAULT_ACCOUNT_ID
        self.update_polls = update_polls
        self.realistic_updates = realistic_updates
        self.versions = dict(versions or DEFAULT_VERSIONS)
        for version, status in (version_status or {}).items():
            old = self.versions.get(version, (status, "2027-01-01", "2028-01-01"))
            self.versions[version] = (status, old[1], old[2])
        self.update_result = update_result
        self.update_errors = list(update_errors or [])
        self.verbose = verbose
        self.requests = []
        self.updates = {}
        self._failures = []
        self._tokens = {}
        self._lock = threading.RLock()
        self._moto_app = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def make_server(self):
        """werkzeug's threaded server running this WSGI middleware (``__call__``) in front of a fresh moto app."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug import serving

        verbose = self.verbose

        class QuietHandler(MotoRequestHandler):
            def log(self, *args, **kwargs):
                if verbose:
                    super().log(*args, **kwargs)

        self._reset_moto()
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        return serving.make_server("127.0.0.1", 0, self, threaded=True, request_handler=QuietHandler)

    def _reset_moto(self):
        from moto.ec2.models import ec2_backends
        from moto.eks.models import eks_backends
        from moto.logs.models import logs_backends

        for backends in (eks_backends, logs_backends, ec2_backends):
            if self.account_id in backends:
                backends[self.account_id].reset()

    # --- test helpers ------------------------------------------------------------------------------------------

    def client(self, service, region=DEFAULT_REGION):
        """A boto3 client for this fake (fake credentials)."""
        import boto3

        return boto3.session.Session().client(service, region_name=region, endpoint_url=self.url,
                                              **FAKE_CREDENTIALS)

    def backend_cluster(self, name, region=DEFAULT_REGION):
        """moto's Cluster object (mutable: tests may set attributes the API cannot, e.g. access_config)."""
        from moto.eks.models import eks_backends

        return eks_backends[self.account_id][region].clusters.get(name)

    def fail_next(self, method, path_regex, status=500, body=None, error_type=None, service=None, times=1):
        """The next ``times`` requests with this method (``*`` = any) whose path matches ``path_regex`` (and whose
        service matches, when given: eks, logs, ec2) get ``status`` with ``body`` (dict or text) and, for a JSON
        error, the ``error_type`` code (x-amzn-ErrorType; for ec2 an XML error with that code). boto3's standard
        retry mode retries 5xx and throttling up to 5 attempts: use a 4xx, or ``times=5``, to fail a call outright."""
        with self._lock:
            self._failures.append({"method": method.upper(), "path": re.compile(path_regex), "status": status,
                                   "body": body, "error_type": error_type, "service": service, "times": times})

    def requests_for(self, method=None, path_regex=None, service=None):
        with self._lock:
            return [request for request in self.requests
                    if (method is None or request["method"] == method.upper())
                    and (path_regex is None or re.search(path_regex, request["path"]))
                    and (service is None or request["service"] == service)]

    def seed_cluster(self, name, region=DEFAULT_REGION, logging_enabled=False, encrypted=False, version="1.31",
                     tags=None, kms_key=None, log_types=("audit",), log_group=None, log_retention_days=None,
                     nodegroups=None, endpoint_public=True, endpoint_private=False, public_cidrs=None,
                     authentication_mode=None, auto_mode=False):
        """Create a cluster through the fake's own API (so moto's state is real) and return describe_cluster's
        answer. Defaults are non-compliant: logging off, no encryption config, a public endpoint, one node group
        of fixed size (2) in two zones. ``nodegroups`` = [{"name", "zones", "min", "max"}]. A CloudWatch log group
        is created when ``log_group`` is true (default: when logging is enabled), with ``log_retention_days``."""
        eks, ec2, logs = self.client("eks", region), self.client("ec2", region), self.client("logs", region)
        if nodegroups is None:
            nodegroups = [{"name": "%s-ng" % name, "zones": [region + "a", region + "b"], "min": 2, "max": 2}]
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_by_zone = {}
        zones = sorted({zone for group in nodegroups for zone in group["zones"]} or {region + "a", region + "b"})
        for index, zone in enumerate(zones):
            subnet_by_zone[zone] = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.%d.0/24" % index,
                                                     AvailabilityZone=zone)["Subnet"]["SubnetId"]
        vpc_config = {"subnetIds": list(subnet_by_zone.values()), "endpointPublicAccess": endpoint_public,
                      "endpointPrivateAccess": endpoint_private}
        if endpoint_public:
            vpc_config["publicAccessCidrs"] = list(public_cidrs or ["0.0.0.0/0"])
        enabled = list(log_types) if logging_enabled else []
        disabled = [log_type for log_type in ALL_LOG_TYPES if log_type not in enabled]
        logging = {"clusterLogging": [group for group in ({"types": enabled, "enabled": True},
                                                          {"types": disabled, "enabled": False}) if group["types"]]}
        request = {"name": name, "version": version, "roleArn": "arn:aws:iam::%s:role/eks-cluster" % self.account_id,
                   "resourcesVpcConfig": vpc_config, "logging": logging, "tags": dict(tags or {})}
        if encrypted:
            request["encryptionConfig"] = [{"resources": ["secrets"],
                                            "provider": {"keyArn": kms_key or DEFAULT_KMS_KEY % region}}]
        eks.create_cluster(**request)
        cluster = self.backend_cluster(name, region)
        if authentication_mode:
            cluster.access_config = {"authenticationMode": authentication_mode}
        if auto_mode:
            cluster.compute_config = {"enabled": True, "nodePools": ["general-purpose", "system"]}
        for group in nodegroups:
            eks.create_nodegroup(clusterName=name, nodegroupName=group["name"],
                                 subnets=[subnet_by_zone[zone] for zone in group["zones"]],
                                 nodeRole="arn:aws:iam::%s:role/eks-node" % self.account_id,
                                 scalingConfig={"minSize": group.get("min", 2), "maxSize": group.get("max", 2),
                                                "desiredSize": group.get("min", 2)})
        if log_group if log_group is not None else logging_enabled:
            group_name = "/aws/eks/%s/cluster" % name
            logs.create_log_group(logGroupName=group_name)
            if log_retention_days:
                logs.put_retention_policy(logGroupName=group_name, retentionInDays=log_retention_days)
        return eks.describe_cluster(name=name)["cluster"]

    # --- WSGI --------------------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        region, service = scope.groups() if scope else (None, None)
        path = unquote(environ.get("PATH_INFO", ""))
        request = {"method": environ["REQUEST_METHOD"], "path": path,
                   "query": parse_qs(environ.get("QUERY_STRING", "")), "service": service, "region": region,
                   "target": environ.get("HTTP_X_AMZ_TARGET"), "body": _parse_body(raw, environ.get("CONTENT_TYPE"))}
        with self._lock:
            self.requests.append(request)
        try:
            self._maybe_fail(request)
            if service == "eks":
                self._handle_eks(request)
        except _Reply as reply:
            return self._send(reply, start_response)
        return self._moto_app(environ, start_response)

    def _send(self, reply, start_response):
        headers = [("x-amzn-RequestId", str(uuid.uuid4()))]
        if reply.service == "ec2" and reply.error_type:
            payload = ("<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors>"
                       "<RequestID>fake</RequestID></Response>" % (
                           reply.error_type, (reply.body or {}).get("message", ""))).encode("utf-8")
            headers.append(("Content-Type", "text/xml"))
        elif isinstance(reply.body, (dict, list)):
            body = reply.body
            if reply.error_type and isinstance(body, dict):
                body = dict(body, __type=reply.error_type)
                headers.append(("x-amzn-ErrorType", reply.error_type))
            payload = json.dumps(body).encode("utf-8")
            headers.append(("Content-Type", "application/json"))
        else:
            payload = str(reply.body or "").encode("utf-8")
            headers.append(("Content-Type", "text/plain"))
        headers.append(("Content-Length", str(len(payload))))
        reasons = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
                   429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
        start_response("%d %s" % (reply.status, reasons.get(reply.status, "Error")), headers)
        return [payload]

    def _maybe_fail(self, request):
        with self._lock:
            for failure in self._failures:
                if failure["method"] not in ("*", request["method"]) or not failure["path"].search(request["path"]):
                    continue
                if failure["service"] and failure["service"] != request["service"]:
                    continue
                failure["times"] -= 1
                if failure["times"] <= 0:
                    self._failures.remove(failure)
                body = failure["body"] if failure["body"] is not None else {"message": "injected failure"}
                raise _Reply(failure["status"], body, failure["error_type"], request["service"] or "eks")

    # --- EKS calls moto lacks ----------------------------------------------------------------------------------

    def _handle_eks(self, request):
        method, path, body = request["method"], request["path"], request["body"] or {}
        region = request["region"]
        with self._lock:
            match = ASSOCIATE_PATH.match(path)
            if method == "POST" and match:
                raise self._associate(region, match.group(1), body)
            match = UPDATE_PATH.match(path)
            if method == "GET" and match:
                raise self._describe_update(region, match.group(1), match.group(2))
            if method == "GET" and VERSIONS_PATH.match(path):
                raise self._cluster_versions(request["query"])
            match = UPDATE_CONFIG_PATH.match(path)
            if method == "POST" and match:
                self._update_config(region, match.group(1), body)  # raises unless moto should answer

    def _cluster(self, region, name):
        cluster = self.backend_cluster(name, region)
        if cluster is None:
            raise _error(404, "ResourceNotFoundException", "No cluster found for name: %s." % name)
        return cluster

    def _in_progress(self, region, name):
        return [state for state in self.updates.values()
                if state["region"] == region and state["cluster"] == name and state["update"]["status"] == "InProgress"]

    def _reply_update(self, update):
        body = copy.deepcopy(update)
        return _Reply(200, {"update": body})

    def _new_update(self, region, name, update_type, params, token, on_success):
        key = (region, name, token) if token else None
        if key and key in self._tokens:  # idempotent retry: the first update again
            return self._reply_update(self.updates[self._tokens[key]]["update"])
        if self._in_progress(region, name):
            raise _error(409, "ResourceInUseException", "Cluster %s has an update in progress" % name)
        update_id = str(uuid.uuid4())
        update = {"id": update_id, "status": "InProgress", "type": update_type, "params": params,
                  "createdAt": time.time(), "errors": []}
        self.updates[update_id] = {"region": region, "cluster": name, "update": update,
                                   "polls_left": self.update_polls, "result": self.update_result,
                                   "errors": list(self.update_errors), "on_success": on_success}
        if key:
            self._tokens[key] = update_id
        self._cluster(region, name).status = "UPDATING"
        return self._reply_update(update)

    def _associate(self, region, name, body):
        cluster = self._cluster(region, name)
        configs = body.get("encryptionConfig") or []
        if len(configs) != 1 or configs[0].get("resources") != ["secrets"] or \
                not (configs[0].get("provider") or {}).get("keyArn"):
            return _error(400, "InvalidParameterException",
                          "encryptionConfig must hold one entry for resources [secrets] with provider.keyArn")
        if cluster.encryption_config and not (body.get("clientRequestToken") and (
                region, name, body["clientRequestToken"]) in self._tokens):
            return _error(400, "InvalidRequestException", "Encryption is already enabled on the cluster")

        def on_success():
            cluster.encryption_config = copy.deepcopy(configs)

        return self._new_update(region, name, "AssociateEncryptionConfig",
                                [{"type": "EncryptionConfig", "value": json.dumps(configs)}],
                                body.get("clientRequestToken"), on_success)

    def _describe_update(self, region, name, update_id):
        self._cluster(region, name)
        state = self.updates.get(update_id)
        if state is None or state["cluster"] != name or state["region"] != region:
            return _error(404, "ResourceNotFoundException", "No update found for ID: %s" % update_id)
        update = state["update"]
        if update["status"] == "InProgress":
            if state["polls_left"] > 0:
                state["polls_left"] -= 1
            else:
                update["status"] = state["result"]
                update["errors"] = state["errors"]
                if update["status"] == "Successful":
                    state["on_success"]()
                self._cluster(region, name).status = "ACTIVE"
        return self._reply_update(update)

    def _ensure_log_group(self, region, name, logging):
        """EKS creates the cluster's log group (no retention) when a log type is first enabled."""
        from moto.logs.models import logs_backends

        if not any(group.get("enabled") and group.get("types") for group in logging.get("clusterLogging") or []):
            return
        backend = logs_backends[self.account_id][region]
        group_name = "/aws/eks/%s/cluster" % name
        if group_name not in backend.groups:
            backend.create_log_group(group_name, {})

    def _cluster_versions(self, query):
        wanted = query.get("clusterVersions") or sorted(self.versions)
        answer = []
        for version in wanted:
            if version not in self.versions:
                continue
            status, standard_end, extended_end = self.versions[version]
            answer.append({"clusterVersion": version, "clusterType": "eks", "versionStatus": status,
                           "status": {"STANDARD_SUPPORT": "standard-support", "EXTENDED_SUPPORT": "extended-support",
                                      "UNSUPPORTED": "unsupported"}.get(status, "unsupported"),
                           "endOfStandardSupportDate": _epoch(standard_end),
                           "endOfExtendedSupportDate": _epoch(extended_end), "defaultVersion": False})
        return _Reply(200, {"clusterVersions": answer})

    def _update_config(self, region, name, body):
        cluster = self._cluster(region, name)
        kinds = [kind for kind in UPDATE_CONFIG_TYPES if kind in body]
        if len(kinds) > 1:
            raise _error(400, "InvalidParameterException", "Only one type of update can be allowed.")
        token = body.get("clientRequestToken")
        if self._in_progress(region, name) and not (token and (region, name, token) in self._tokens):
            raise _error(409, "ResourceInUseException", "Cluster %s has an update in progress" % name)
        if not self.realistic_updates or kinds != ["logging"]:
            if kinds == ["logging"]:
                self._ensure_log_group(region, name, body["logging"])
            return  # moto answers {} and applies the change at once
        enabled = {log_type for group in cluster.logging.get("clusterLogging") or [] if group.get("enabled")
                   for log_type in group.get("types") or []}
        wanted = set(enabled)
        for group in body["logging"].get("clusterLogging") or []:
            types = set(group.get("types") or [])
            wanted = wanted | types if group.get("enabled") else wanted - types
        if wanted == enabled and not (token and (region, name, token) in self._tokens):
            raise _error(400, "InvalidParameterException", "No changes needed for the logging config provided")

        def on_success():
            self._ensure_log_group(region, name, body["logging"])
            cluster.logging = {"clusterLogging": [group for group in (
                {"types": [t for t in ALL_LOG_TYPES if t in wanted], "enabled": True},
                {"types": [t for t in ALL_LOG_TYPES if t not in wanted], "enabled": False}) if group["types"]]}

        raise self._new_update(region, name, "LoggingUpdate",
                               [{"type": "ClusterLogging", "value": json.dumps(body["logging"])}], token, on_success)
