"""A loopback fake of the Azure Resource Manager calls the AKS provider makes, in the REST shapes the real SDKs
(azure-mgmt-containerservice 41.x, azure-mgmt-monitor 6.0.2) send and parse.

Serves managed clusters (GET, PUT with an Azure-AsyncOperation long-running operation and If-Match etags, list
per subscription), Kubernetes versions per location and diagnostic settings on a cluster's ARM id. Every request is
recorded; ``fail_next`` and ``conflict_next`` make the next matching call fail. Start it in-process
(``AksFake().start()`` returns the base URL to put in the target's ``endpoint_url``).
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from urllib.parse import parse_qs, urlparse

from tests.fakes.loopback import LoopbackFake, read_json, send_json

# The api-version each SDK sends (checked so an SDK upgrade that changes it shows up here first).
CONTAINERSERVICE_API_VERSIONS = ("2026-08-01",)
MONITOR_API_VERSIONS = ("2021-05-01-preview",)

DEFAULT_KEY_ID = "https://kv-kubecompass.vault.azure.net/keys/etcd/0123456789abcdef0123456789abcdef"
DEFAULT_WORKSPACE_ID = ("/subscriptions/s0/resourceGroups/logs/providers/Microsoft.OperationalInsights/"
                        "workspaces/kubecompass")
# minor -> support plans, the shape list_kubernetes_versions returns (1.29 only under long-term support).
DEFAULT_VERSIONS = (
    ("1.29", ("AKSLongTermSupport",)),
    ("1.30", ("KubernetesOfficial", "AKSLongTermSupport")),
    ("1.31", ("KubernetesOfficial",)),
    ("1.32", ("KubernetesOfficial",)),
)

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_CLUSTER = _SUB + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)"
ROUTES = (
    ("cluster_list", _SUB + r"/providers/Microsoft\.ContainerService/managedClusters"),
    ("versions", _SUB + r"/providers/Microsoft\.ContainerService/locations/(?P<location>[^/]+)/kubernetesVersions"),
    ("operation", _SUB + r"/providers/Microsoft\.ContainerService/locations/(?P<location>[^/]+)/operations/"
                         r"(?P<op>[^/]+)"),
    ("diagnostic_list", r"(?P<resource>" + _CLUSTER + r")/providers/Microsoft\.Insights/diagnosticSettings"),
    ("diagnostic", r"(?P<resource>" + _CLUSTER + r")/providers/Microsoft\.Insights/diagnosticSettings/"
                   r"(?P<setting>[^/]+)"),
    ("cluster", _CLUSTER),
)
ROUTE_PATTERNS = [(name, re.compile("^" + pattern + "$", re.IGNORECASE)) for name, pattern in ROUTES]


def arm_error(code, message):
    return {"error": {"code": code, "message": message}}


def deep_merge(base, update):
    """``base`` with ``update`` merged in: dicts merge key by key, anything else (lists too) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def cluster_json(subscription, resource_group, name, location, audit_on=False, kms_on=False, sku_tier="Free",
                 tags=None, version="1.31.5", properties=None):
    """A managed cluster as ARM returns it (REST camelCase, nested ``properties``)."""
    cluster_id = ("/subscriptions/%s/resourcegroups/%s/providers/Microsoft.ContainerService/managedClusters/%s"
                  % (subscription, resource_group, name))
    body = {
        "id": cluster_id,
        "name": name,
        "type": "Microsoft.ContainerService/ManagedClusters",
        "location": location,
        "tags": dict(tags or {}),
        "eTag": str(uuid.uuid4()),
        "sku": {"name": "Base", "tier": sku_tier},
        "identity": {"type": "SystemAssigned", "principalId": "00000000-0000-0000-0000-0000000000a1",
                     "tenantId": "00000000-0000-0000-0000-0000000000b2"},
        "properties": {
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "kubernetesVersion": version.rsplit(".", 1)[0] if version.count(".") == 2 else version,
            "currentKubernetesVersion": version,
            "dnsPrefix": name,
            "fqdn": "%s-abc123.hcp.%s.azmk8s.io" % (name, location),
            "azurePortalFQDN": "%s-abc123.portal.hcp.%s.azmk8s.io" % (name, location),
            "agentPoolProfiles": [{
                "name": "system", "count": 3, "vmSize": "Standard_D4ds_v5", "osType": "Linux", "mode": "System",
                "type": "VirtualMachineScaleSets", "availabilityZones": ["1", "2", "3"], "enableAutoScaling": False,
                "orchestratorVersion": version, "currentOrchestratorVersion": version,
                "provisioningState": "Succeeded", "powerState": {"code": "Running"},
            }],
            "nodeResourceGroup": "MC_%s_%s_%s" % (resource_group, name, location),
            "enableRBAC": True,
            "supportPlan": "KubernetesOfficial",
            "networkProfile": {"networkPlugin": "azure", "networkPluginMode": "overlay", "networkPolicy": "none",
                               "podCidr": "10.244.0.0/16", "serviceCidr": "10.0.0.0/16", "dnsServiceIP": "10.0.0.10",
                               "loadBalancerSku": "standard", "outboundType": "loadBalancer"},
            "disableLocalAccounts": False,
            "securityProfile": {},
            "publicNetworkAccess": "Enabled",
            "oidcIssuerProfile": {"enabled": True,
                                  "issuerURL": "https://%s.oic.prod-aks.azure.com/tenant/%s/" % (location, name)},
            "maxAgentPools": 100,
            "resourceUID": uuid.uuid4().hex[:24],
        },
    }
    if kms_on:
        body["properties"]["securityProfile"]["azureKeyVaultKms"] = {
            "enabled": True, "keyId": DEFAULT_KEY_ID, "keyVaultNetworkAccess": "Public"}
    if properties:
        body["properties"] = deep_merge(body["properties"], properties)
    return body


class AksFake(LoopbackFake):
    """ARM on 127.0.0.1: managed clusters, their Azure-AsyncOperation operations, Kubernetes versions and
    diagnostic settings. ``operation_polls`` is how many times an operation answers InProgress before Succeeded."""

    methods = ("GET", "PUT", "DELETE", "PATCH")
    thread_name = "aks-fake"

    def __init__(self, operation_polls=2, check_api_version=True):
        super().__init__()
        self.operation_polls = operation_polls
        self.check_api_version = check_api_version
        self.requests = []
        self.clusters = {}          # lower-case ARM id -> REST JSON
        self.diagnostic_settings = {}  # lower-case resource id -> {lower-case name: REST JSON}
        self.versions = {}          # lower-case location -> [KubernetesVersion REST JSON]
        self.operations = {}        # operation id -> {"remaining", "cluster", "new", "status", "error"}
        self._failures = []
        self._operation_failures = []
        self._lock = threading.RLock()

    @property
    def base_url(self):
        """The base URL (``url``; None before ``start``)."""
        return self.url

    # -- seeding and steering ----------------------------------------------------------------------------------

    def seed_cluster(self, subscription, resource_group, name, location="westeurope", audit_on=False, kms_on=False,
                     sku_tier="Free", tags=None, version="1.31.5", properties=None):
        """Store a cluster (non-compliant unless audit_on/kms_on) and return its ARM id. ``audit_on`` adds a
        diagnostic setting "aks-audit" sending kube-audit-admin to a Log Analytics workspace."""
        body = cluster_json(subscription, resource_group, name, location, audit_on=audit_on, kms_on=kms_on,
                            sku_tier=sku_tier, tags=tags, version=version, properties=properties)
        with self._lock:
            self.clusters[body["id"].lower()] = body
            self.versions.setdefault(location.lower(), self.default_versions())
            if audit_on:
                self.seed_diagnostic_setting(body["id"], "aks-audit", {
                    "workspaceId": DEFAULT_WORKSPACE_ID,
                    "logs": [{"category": "kube-audit-admin", "enabled": True}],
                })
        return body["id"]

    def seed_diagnostic_setting(self, resource_id, name, properties):
        """Store one diagnostic setting (REST ``properties``) on a resource."""
        with self._lock:
            settings = self.diagnostic_settings.setdefault(resource_id.lower(), {})
            settings[name.lower()] = self._setting_json(resource_id, name, properties)

    def set_versions(self, location, minors_and_plans):
        """Replace a location's Kubernetes versions: [(minor, (support plans...)), ...]."""
        with self._lock:
            self.versions[location.lower()] = [self.version_json(minor, plans) for minor, plans in minors_and_plans]

    def cluster(self, cluster_id):
        """The stored REST JSON of a cluster (a copy)."""
        with self._lock:
            return copy.deepcopy(self.clusters[cluster_id.lower()])

    def update_cluster(self, cluster_id, properties=None, **top_level):
        """Change a stored cluster as someone else would: new eTag."""
        with self._lock:
            body = self.clusters[cluster_id.lower()]
            if properties:
                body["properties"] = deep_merge(body["properties"], properties)
            body.update(top_level)
            body["eTag"] = str(uuid.uuid4())

    def fail_next(self, method, path_regex, status, body=None, headers=None):
        """The next request whose method matches and whose path matches ``path_regex`` (re.search, case
        insensitive) gets ``status`` with ``body`` (an ARM error by default) instead of its normal answer."""
        with self._lock:
            self._failures.append({
                "method": method.upper(), "path": re.compile(path_regex, re.IGNORECASE), "status": status,
                "body": body if body is not None else arm_error("InjectedFailure", "injected HTTP %d" % status),
                "headers": dict(headers or {}),
            })

    def conflict_next(self, path_regex="/managedClusters/[^/]+$"):
        """The next PUT of a managed cluster answers 409 OperationNotAllowed (another operation in progress)."""
        self.fail_next("PUT", path_regex, 409, arm_error(
            "OperationNotAllowed", "Operation is not allowed because there's an in progress update managed cluster "
                                   "operation on the managed cluster."))

    def fail_next_operation(self, code="InternalOperationError", message="the operation failed"):
        """The next long-running operation ends Failed (the cluster keeps its old state)."""
        with self._lock:
            self._operation_failures.append({"code": code, "message": message})

    def recorded(self, method=None, path_regex=None):
        """The recorded requests, optionally only one method and a path matching ``path_regex``."""
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r["method"] == method)
                    and (path_regex is None or re.search(path_regex, r["path"], re.IGNORECASE))]

    @staticmethod
    def version_json(minor, plans):
        return {"version": minor, "isPreview": False, "capabilities": {"supportPlan": list(plans)},
                "patchVersions": {minor + ".5": {"upgrades": []}}}

    def default_versions(self):
        return [self.version_json(minor, plans) for minor, plans in DEFAULT_VERSIONS]

    # -- request handling --------------------------------------------------------------------------------------

    def handle(self, handler, method):
        parsed = urlparse(handler.path)
        path = re.sub("/+", "/", parsed.path)
        query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
        body = read_json(handler)
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body,
                                  "headers": {"If-Match": handler.headers.get("If-Match"),
                                              "Authorization": handler.headers.get("Authorization")}})
            status, payload, headers = self._answer(method, path, query, body, handler.headers)
        send_json(handler, status, payload, headers=headers)

    def _answer(self, method, path, query, body, request_headers):
        for failure in self._failures:
            if failure["method"] == method and failure["path"].search(path):
                self._failures.remove(failure)
                return failure["status"], failure["body"], failure["headers"]
        matches = [(name, pattern.match(path)) for name, pattern in ROUTE_PATTERNS if pattern.match(path)]
        if not matches:
            return 404, arm_error("NotFound", "no route for %s %s" % (method, path)), {}
        route, match = matches[0]
        expected = MONITOR_API_VERSIONS if route.startswith("diagnostic") else CONTAINERSERVICE_API_VERSIONS
        if self.check_api_version and query.get("api-version") not in expected:
            return 400, arm_error("InvalidApiVersionParameter", "api-version %r is not one of %s"
                                  % (query.get("api-version"), ", ".join(expected))), {}
        answer = getattr(self, "_" + route)
        return answer(method, match.groupdict(), body, request_headers)

    def _cluster_list(self, method, parts, body, request_headers):
        if method != "GET":
            return 405, arm_error("MethodNotAllowed", method), {}
        prefix = "/subscriptions/%s/" % parts["sub"].lower()
        values = [self._cluster_view(key) for key in sorted(self.clusters) if key.startswith(prefix)]
        return 200, {"value": values}, {}

    def _versions(self, method, parts, body, request_headers):
        values = self.versions.get(parts["location"].lower())
        if values is None:
            values = self.default_versions()
        return 200, {"values": copy.deepcopy(values)}, {}

    def _cluster_view(self, key):
        """A cluster as GET shows it: the old state with provisioningState Updating while an operation runs."""
        view = copy.deepcopy(self.clusters[key])
        if any(op["cluster"] == key and op["status"] == "InProgress" for op in self.operations.values()):
            view["properties"]["provisioningState"] = "Updating"
        return view

    def _cluster(self, method, parts, body, request_headers):
        cluster_id = ("/subscriptions/%s/resourcegroups/%s/providers/Microsoft.ContainerService/managedClusters/%s"
                      % (parts["sub"], parts["rg"], parts["name"]))
        key = cluster_id.lower()
        if method == "GET":
            if key not in self.clusters:
                return 404, arm_error("ResourceNotFound", "The Resource 'Microsoft.ContainerService/managedClusters/"
                                      "%s' under resource group '%s' was not found." % (parts["name"], parts["rg"])), {}
            view = self._cluster_view(key)
            return 200, view, {"ETag": view["eTag"]}
        if method != "PUT":
            return 405, arm_error("MethodNotAllowed", method), {}
        if key not in self.clusters:
            return 400, arm_error("NotSupported", "this fake only updates seeded clusters"), {}
        current = self.clusters[key]
        if_match = request_headers.get("If-Match")
        if if_match and if_match.strip('"') not in ("*", current["eTag"].strip('"')):
            return 412, arm_error("PreconditionFailed", "Operation is not allowed since the provided If-Match "
                                  "header %s does not match the current eTag %s" % (if_match, current["eTag"])), {}
        if any(op["cluster"] == key and op["status"] == "InProgress" for op in self.operations.values()):
            return 409, arm_error("OperationNotAllowed", "Operation is not allowed because there's an in progress "
                                  "update managed cluster operation on the managed cluster."), {}
        if not isinstance(body, dict) or not body.get("location"):
            return 400, arm_error("InvalidParameter", "location is required"), {}
        # Read-only fields come from the stored cluster; what the body sends replaces the rest.
        new = deep_merge(current, body)
        new["eTag"] = str(uuid.uuid4())
        new["properties"]["provisioningState"] = "Succeeded"
        op_id = str(uuid.uuid4())
        failure = self._operation_failures.pop(0) if self._operation_failures else None
        self.operations[op_id] = {"remaining": self.operation_polls, "cluster": key, "new": new,
                                  "status": "InProgress", "error": failure}
        answer = copy.deepcopy(new)
        answer["properties"]["provisioningState"] = "Updating"
        answer["eTag"] = current["eTag"]
        location = current["location"]
        op_url = ("%s/subscriptions/%s/providers/Microsoft.ContainerService/locations/%s/operations/%s"
                  "?api-version=%s" % (self.base_url, parts["sub"], location, op_id, CONTAINERSERVICE_API_VERSIONS[0]))
        return 200, answer, {"Azure-AsyncOperation": op_url}

    def _operation(self, method, parts, body, request_headers):
        op = self.operations.get(parts["op"])
        if op is None:
            return 404, arm_error("NotFound", "operation %s" % parts["op"]), {}
        answer = {"id": parts["op"], "name": parts["op"], "status": op["status"]}
        if op["status"] == "InProgress":
            if op["remaining"] > 0:
                op["remaining"] -= 1
                answer["status"] = "InProgress"
                return 200, answer, {}
            if op["error"]:
                op["status"] = "Failed"
            else:
                op["status"] = "Succeeded"
                self.clusters[op["cluster"]] = op["new"]
            answer["status"] = op["status"]
        if op["status"] == "Failed":
            answer["error"] = op["error"]
        return 200, answer, {}

    def _setting_json(self, resource_id, name, properties):
        return {"id": "%s/providers/microsoft.insights/diagnosticSettings/%s" % (resource_id, name),
                "name": name, "type": "Microsoft.Insights/diagnosticSettings",
                "properties": deep_merge({"logs": [], "metrics": []}, properties or {})}

    def _diagnostic_list(self, method, parts, body, request_headers):
        if method != "GET":
            return 405, arm_error("MethodNotAllowed", method), {}
        if parts["resource"].lower() not in self.clusters:
            return 404, arm_error("ResourceNotFound", "resource %s not found" % parts["resource"]), {}
        settings = self.diagnostic_settings.get(parts["resource"].lower(), {})
        return 200, {"value": [copy.deepcopy(settings[name]) for name in sorted(settings)]}, {}

    def _diagnostic(self, method, parts, body, request_headers):
        resource = parts["resource"]
        if resource.lower() not in self.clusters:
            return 404, arm_error("ResourceNotFound", "resource %s not found" % resource), {}
        settings = self.diagnostic_settings.setdefault(resource.lower(), {})
        name = parts["setting"]
        if method == "GET":
            if name.lower() not in settings:
                return 404, arm_error("ResourceNotFound", "diagnostic setting %s not found" % name), {}
            return 200, copy.deepcopy(settings[name.lower()]), {}
        if method == "DELETE":
            settings.pop(name.lower(), None)
            return 200, None, {}
        if method != "PUT":
            return 405, arm_error("MethodNotAllowed", method), {}
        properties = (body or {}).get("properties") or {}
        destinations = ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId")
        if not any(properties.get(k) for k in destinations):
            return 400, arm_error("BadRequest", "At least one of storage account, event hub or workspace must be "
                                  "specified"), {}
        if name.lower() not in settings and len(settings) >= 5:
            return 400, arm_error("BadRequest", "Diagnostic settings does not support more than 5 categories"), {}
        stored = self._setting_json(resource, name, {})
        stored["properties"] = copy.deepcopy(properties)
        settings[name.lower()] = stored
        return 200, copy.deepcopy(stored), {}
