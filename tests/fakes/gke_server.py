# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A loopback stand-in for the GKE API (container.googleapis.com v1) as google-cloud-container's REST transport
calls it: clusters read, listed and updated, operations polled, upgrade info fetched.

Standard library only, so integration tests can run it next to ``ansible-playbook`` (point a target's
``endpoint_url`` at ``GkeFake.start()``'s URL; loopback http gets anonymous credentials). Clusters are stored as the
camelCase JSON the API returns. An ``UpdateCluster`` answers with a RUNNING operation; the update is applied to the
stored cluster when a poll finds the operation DONE, after ``operation_polls`` RUNNING answers, as GKE does it
asynchronously. Like GKE, an update naming more than one ``desired*`` field is rejected (400 INVALID_ARGUMENT) and an
update while another operation runs on the cluster gets 400 FAILED_PRECONDITION. Turning Cloud Logging on from
``none`` also enables GKE's default components (``DEFAULT_LOGGING_COMPONENTS``) when none were on, as GKE does.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import itertools
import re
import threading
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackFake, read_json, send_json

# The REST transport sends enums as numbers ($alt=json;enum-encoding=int); these are container.v1's values.
LOGGING_COMPONENTS = {0: "COMPONENT_UNSPECIFIED", 1: "SYSTEM_COMPONENTS", 2: "WORKLOADS", 3: "APISERVER",
                      4: "SCHEDULER", 5: "CONTROLLER_MANAGER", 7: "KCP_SSHD", 8: "KCP_CONNECTION", 9: "KCP_HPA",
                      10: "KCP_VPA"}
DATABASE_ENCRYPTION_STATES = {0: "UNKNOWN", 1: "ENCRYPTED", 2: "DECRYPTED", 3: "ALL_OBJECTS_ENCRYPTION_ENABLED"}
HTTP_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                     409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
                     504: "DEADLINE_EXCEEDED"}
DEFAULT_VERSION = "1.31.6-gke.1020000"
# What GKE enables when Cloud Logging is turned on for a cluster that had no component logs.
DEFAULT_LOGGING_COMPONENTS = ("SYSTEM_COMPONENTS", "WORKLOADS")
DEFAULT_KMS_KEY = "projects/%s/locations/%s/keyRings/gke/cryptoKeys/secrets"
CLUSTER_PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters/([^/:]+)$")
UPGRADE_INFO_PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters/([^/:]+):fetchClusterUpgradeInfo$")
LIST_PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters$")
OPERATION_PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/operations/([^/:]+)$")
ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")


def _rfc3339(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _enum_name(value, names):
    return names.get(value, str(value)) if isinstance(value, int) else value


def _error_body(status, message, status_name=None):
    return {"error": {"code": status, "message": message,
                      "status": status_name or HTTP_STATUS_NAMES.get(status, "UNKNOWN")}}


class GkeFake(LoopbackFake):
    """A fake GKE API on 127.0.0.1 (port chosen by the OS), served from a background thread.

    ``requests`` lists every request as ``{"method", "path", "query": {name: [values]}, "body"}`` (body parsed from
    JSON, None when empty).
    """

    thread_name = "gke-fake"

    def __init__(self, operation_polls=1):
        super().__init__()
        self.operation_polls = operation_polls
        self.clusters = {}
        self.operations = {}
        self.upgrade_info = {}
        self.requests = []
        self._failures = []
        self._operation_failures = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    # --- seeding and steering -----------------------------------------------------------------------------------

    def seed_cluster(self, project, location, name, logging_on=False, encrypted=False, regional=True, labels=None,
                     version=DEFAULT_VERSION, kms_key=None, public=True, authorized_cidrs=None, autopilot=False,
                     node_pools=None, standard_support_end=None, extended_support_end=None, overrides=None):
        """Store one cluster; non-compliant by default (Cloud Logging ``none``, Secrets not KMS-encrypted).

        ``regional=False`` with a region as ``location`` seeds a zonal cluster in zone ``<location>-b``; use the
        returned cluster's ``location``. Support ends default to standard support ending in 180 days and extended
        support in 540. ``overrides`` is merged last (camelCase keys, as the API returns them).
        """
        if not regional and not ZONE.match(location):
            location = location + "-b"
        region = location[:-2] if ZONE.match(location) else location
        zones = [location] if ZONE.match(location) else [region + "-b", region + "-c", region + "-d"]
        endpoint = "34.%d.%d.%d" % (len(self.clusters) + 1, len(name) % 250, 10)
        cluster = {
            "name": name,
            "location": location,
            "zone": location,
            "locations": zones,
            "selfLink": "https://container.googleapis.com/v1/projects/%s/locations/%s/clusters/%s"
                        % (project, location, name),
            "id": hashlib.md5(("%s/%s/%s" % (project, location, name)).encode()).hexdigest(),
            "status": "RUNNING",
            "endpoint": endpoint,
            "currentMasterVersion": version,
            "currentNodeVersion": version,
            "initialClusterVersion": version,
            "resourceLabels": dict(labels or {}),
            "releaseChannel": {"channel": "REGULAR"},
            "etag": "etag-1",
            "masterAuth": {"clusterCaCertificate": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="},
            "loggingService": "none",
            "loggingConfig": {"componentConfig": {}},
            "databaseEncryption": {"state": "DECRYPTED", "currentState": "CURRENT_STATE_DECRYPTED"},
            "privateClusterConfig": {"privateEndpoint": "10.0.0.2"},
            "controlPlaneEndpointsConfig": {"ipEndpointsConfig": {
                "enabled": True, "enablePublicEndpoint": public, "globalAccess": False,
                "authorizedNetworksConfig": {
                    "enabled": authorized_cidrs is not None,
                    "cidrBlocks": [{"cidrBlock": cidr} for cidr in authorized_cidrs or []]},
                "publicEndpoint": endpoint if public else "", "privateEndpoint": "10.0.0.2"}},
        }
        if logging_on:
            cluster["loggingService"] = "logging.googleapis.com/kubernetes"
            cluster["loggingConfig"] = {"componentConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS",
                                                                                 "APISERVER"]}}
        if encrypted:
            cluster["databaseEncryption"] = {"state": "ENCRYPTED", "currentState": "CURRENT_STATE_ENCRYPTED",
                                             "keyName": kms_key or DEFAULT_KMS_KEY % (project, region)}
        if autopilot:
            cluster["autopilot"] = {"enabled": True}
        if node_pools is None:
            node_pools = [{"name": "default-pool", "initialNodeCount": 1, "locations": zones,
                           "autoscaling": {"enabled": True, "minNodeCount": 1, "maxNodeCount": 3}}]
        cluster["nodePools"] = node_pools
        cluster.update(overrides or {})
        now = datetime.datetime.now(datetime.UTC)
        standard_end = standard_support_end or _rfc3339(now + datetime.timedelta(days=180))
        extended_end = extended_support_end or _rfc3339(now + datetime.timedelta(days=540))
        key = (project, location, name)
        with self._lock:
            self.clusters[key] = cluster
            self.upgrade_info[key] = {"minorTargetVersion": version.rsplit(".", 1)[0].split("-")[0],
                                      "patchTargetVersion": version,
                                      "autoUpgradeStatus": ["ACTIVE"],
                                      "endOfStandardSupportTimestamp": standard_end,
                                      "endOfExtendedSupportTimestamp": extended_end}
        return copy.deepcopy(cluster)

    def cluster(self, project, location, name):
        """A copy of the stored cluster, as the API would return it."""
        with self._lock:
            return copy.deepcopy(self.clusters[(project, location, name)])

    def fail_next(self, method, path_regex, status, body=None, times=1):
        """Answer the next ``times`` requests matching method and path (a regex searched in the path) with
        ``status`` and ``body`` (default: a Google error body with the status name for that HTTP code)."""
        with self._lock:
            self._failures.append({"method": method.upper(), "path": re.compile(path_regex), "status": status,
                                   "body": body or _error_body(status, "injected failure"), "times": times})

    def conflict_next(self, times=1):
        """Answer the next ``times`` UpdateCluster requests with 400 FAILED_PRECONDITION, as GKE does while another
        operation runs on the cluster (``start_operation`` gets the same answer by actually running one)."""
        self.fail_next("PUT", r"/clusters/[^/:]+$", 400, _error_body(
            400, "Operation operation-0000000000000-0 is currently upgrading cluster. Please wait and try again once "
                 "it is done.", "FAILED_PRECONDITION"), times)

    def fail_next_operation(self, message="Cloud KMS key is not accessible", code=9):
        """The next operation ends DONE with ``error`` {code, message} (and statusMessage) without changing the
        cluster, as GKE reports a failed update (code 9 = FAILED_PRECONDITION)."""
        with self._lock:
            self._operation_failures.append({"code": code, "message": message})

    def start_operation(self, project, location, name, polls=None, operation_type="UPGRADE_MASTER"):
        """Start an operation on a cluster from elsewhere (an upgrade, say): updates get FAILED_PRECONDITION until
        it has been polled ``polls`` times (None: it never ends). Returns the operation name."""
        with self._lock:
            return self._new_operation(project, location, name, operation_type, None,
                                       polls if polls is not None else float("inf"))["name"]

    def updates(self):
        """The ``update`` bodies of the UpdateCluster requests received, in order."""
        return [entry["body"].get("update") for entry in self.requests
                if entry["method"] == "PUT" and CLUSTER_PATH.match(entry["path"]) and entry["body"]]

    def polls(self, operation_name=None):
        """How many GetOperation requests arrived (for one operation when named)."""
        return len([entry for entry in self.requests if entry["method"] == "GET"
                    and OPERATION_PATH.match(entry["path"])
                    and (operation_name is None or entry["path"].endswith("/" + operation_name))])

    # --- serving ------------------------------------------------------------------------------------------------

    def handle(self, handler, method):
        split = urlsplit(handler.path)
        body = read_json(handler)
        with self._lock:
            self.requests.append({"method": method, "path": split.path, "query": parse_qs(split.query),
                                  "body": body})
            status, answer = self._injected_failure(method, split.path)
            if status is None:
                status, answer = self._route(method, split.path, body)
        send_json(handler, status, answer, "application/json; charset=UTF-8")

    def _injected_failure(self, method, path):
        for failure in self._failures:
            if failure["method"] == method and failure["path"].search(path):
                failure["times"] -= 1
                if failure["times"] <= 0:
                    self._failures.remove(failure)
                return failure["status"], failure["body"]
        return None, None

    def _route(self, method, path, body):
        match = UPGRADE_INFO_PATH.match(path)
        if match and method == "GET":
            if tuple(match.groups()) not in self.clusters:
                return self._not_found(path)
            return 200, self.upgrade_info[tuple(match.groups())]
        match = CLUSTER_PATH.match(path)
        if match and method == "GET":
            cluster = self.clusters.get(tuple(match.groups()))
            return (200, cluster) if cluster else self._not_found(path)
        if match and method == "PUT":
            return self._update(tuple(match.groups()), body or {})
        match = LIST_PATH.match(path)
        if match and method == "GET":
            project, location = match.groups()
            clusters = [cluster for (p, loc, _name), cluster in sorted(self.clusters.items())
                        if p == project and location in ("-", loc)]
            return 200, {"clusters": clusters}
        match = OPERATION_PATH.match(path)
        if match and method == "GET":
            return self._poll(match.group(3))
        return 404, _error_body(404, "no such method in the GKE fake: %s %s" % (method, path))

    def _not_found(self, path):
        return 404, _error_body(404, "Not found: %s." % path.replace("/v1/", "", 1))

    def _update(self, key, body):
        if key not in self.clusters:
            return self._not_found("/v1/projects/%s/locations/%s/clusters/%s" % key)
        update = body.get("update") or {}
        fields = [field for field in update if field.startswith("desired")]
        if len(fields) != 1:
            return 400, _error_body(400, "Exactly one update field must be set; got %s." % (fields or "none"))
        running = [op for op in self.operations.values()
                   if op["key"] == key and op["status"] != "DONE"]
        if running:
            return 400, _error_body(400, "Operation %s is currently operating on cluster %s. Please wait and try "
                                         "again once it is done." % (running[0]["name"], key[2]),
                                    "FAILED_PRECONDITION")
        operation = self._new_operation(key[0], key[1], key[2], "UPDATE_CLUSTER", update, self.operation_polls)
        self.clusters[key]["status"] = "RECONCILING"
        return 200, self._operation_view(operation)

    def _new_operation(self, project, location, name, operation_type, update, polls):
        operation_name = "operation-%d-%d" % (1700000000000 + next(self._counter), len(self.operations))
        operation = {"name": operation_name, "key": (project, location, name), "type": operation_type,
                     "status": "RUNNING", "update": update, "polls_left": polls, "error": None,
                     "start": _rfc3339(datetime.datetime.now(datetime.UTC))}
        if update is not None and self._operation_failures:
            operation["error"] = self._operation_failures.pop(0)
        self.operations[operation_name] = operation
        return operation

    def _poll(self, operation_name):
        operation = self.operations.get(operation_name)
        if operation is None:
            return 404, _error_body(404, "Not found: operation %s." % operation_name)
        if operation["status"] != "DONE":
            operation["polls_left"] -= 1
            if operation["polls_left"] < 0:
                operation["status"] = "DONE"
                self._finish(operation)
        return 200, self._operation_view(operation)

    def _finish(self, operation):
        cluster = self.clusters.get(operation["key"])
        if cluster is None:
            return
        cluster["status"] = "RUNNING"
        if operation["error"] or not operation["update"]:
            return
        update = operation["update"]
        if "desiredLoggingService" in update:
            was_off = cluster.get("loggingService") in (None, "", "none")
            cluster["loggingService"] = update["desiredLoggingService"]
            components = (cluster.get("loggingConfig") or {}).get("componentConfig") or {}
            if was_off and cluster["loggingService"] != "none" and not components.get("enableComponents"):
                cluster["loggingConfig"] = {"componentConfig": {
                    "enableComponents": list(DEFAULT_LOGGING_COMPONENTS)}}
        if "desiredLoggingConfig" in update:
            components = (update["desiredLoggingConfig"].get("componentConfig") or {}).get("enableComponents") or []
            cluster["loggingConfig"] = {"componentConfig": {
                "enableComponents": [_enum_name(component, LOGGING_COMPONENTS) for component in components]}}
        if "desiredDatabaseEncryption" in update:
            wanted = update["desiredDatabaseEncryption"]
            state = _enum_name(wanted.get("state", 0), DATABASE_ENCRYPTION_STATES)
            encryption = {"state": state, "currentState": "CURRENT_STATE_" + state}
            if state == "ENCRYPTED":
                encryption["keyName"] = wanted.get("keyName", "")
            cluster["databaseEncryption"] = encryption
        cluster["etag"] = "etag-%d" % (int(cluster.get("etag", "etag-0").rsplit("-", 1)[-1]) + 1)

    def _operation_view(self, operation):
        project, location, name = operation["key"]
        view = {"name": operation["name"], "zone": location, "location": location,
                "operationType": operation["type"], "status": operation["status"],
                "selfLink": "https://container.googleapis.com/v1/projects/%s/locations/%s/operations/%s"
                            % (project, location, operation["name"]),
                "targetLink": "https://container.googleapis.com/v1/projects/%s/locations/%s/clusters/%s"
                              % (project, location, name),
                "startTime": operation["start"]}
        if operation["status"] == "DONE":
            view["endTime"] = _rfc3339(datetime.datetime.now(datetime.UTC))
            if operation["error"]:
                view["error"] = dict(operation["error"])
                view["statusMessage"] = operation["error"]["message"]
        return view
