# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Server-side apply of the objects a remediation owns, with the field manager ``kubecompass``.

Every apply is first a server-side dry run: its answer is the object exactly as the server would store it
(defaults, admission and all), so the diff shown in check mode is the real one, an unchanged object is never
written (a rerun reports no change and leaves the etcd revision alone), and the warnings of the dry run (Pod
Security Admission's "would violate") are available before anything changes.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._evidence import digest

try:
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported
    quote = urlencode = None

FIELD_MANAGER = "kubecompass"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubecompass.readiness"}
# Collection paths by (apiVersion, kind); "{ns}" for namespaced kinds.
PATHS = {
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "ServiceAccount"): "/api/v1/namespaces/{ns}/serviceaccounts",
    ("v1", "ResourceQuota"): "/api/v1/namespaces/{ns}/resourcequotas",
    ("v1", "LimitRange"): "/api/v1/namespaces/{ns}/limitranges",
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("networking.k8s.io/v1", "NetworkPolicy"): "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    ("policy/v1", "PodDisruptionBudget"): "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    ("velero.io/v1", "Schedule"): "/apis/velero.io/v1/namespaces/{ns}/schedules",
    ("velero.io/v1", "Restore"): "/apis/velero.io/v1/namespaces/{ns}/restores",
}
SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink")


def object_path(obj):
    """The URL path of one object; ValueError for a kind this module does not know."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in PATHS:
        raise ValueError("no API path known for %s %s" % key)
    metadata = obj.get("metadata") or {}
    base = PATHS[key].replace("{ns}", quote(metadata.get("namespace") or "", safe=""))
    return "%s/%s" % (base, quote(metadata["name"], safe=""))


def describe(obj):
    metadata = obj.get("metadata") or {}
    where = "%s/" % metadata["namespace"] if metadata.get("namespace") else ""
    return "%s %s%s" % (obj.get("kind"), where, metadata.get("name"))


def comparable(obj):
    """The object without what the server changes on every write, for diffs and change detection."""
    if obj is None:
        return None
    clean = copy.deepcopy(obj)
    metadata = clean.get("metadata") or {}
    for field in SERVER_FIELDS:
        metadata.pop(field, None)
    annotations = metadata.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        metadata.pop("annotations", None)
    clean.pop("status", None)
    return clean


def _yaml(obj):
    return json.dumps(obj, indent=2, sort_keys=True) + "\n" if obj is not None else ""


def warnings_of(headers):
    """Every Warning header value of a response, separately (a dry run of a namespace label returns several)."""
    if headers is None:
        return []
    getlist = getattr(headers, "getlist", None)
    values = getlist("Warning") if getlist else [headers.get("Warning")]
    return [value for value in values if value]


def get(client, path):
    """The object at path, or None when it does not exist."""
    status, body, _headers = client.request("GET", path)
    if status == 404:
        return None
    if status >= 300:
        raise client.status_error(status, body, path)
    return body


def server_side_apply(client, obj, dry_run, force=False):
    """(stored object, warnings) of a server-side apply of ``obj`` by FIELD_MANAGER; ``force`` takes over fields
    another manager owns (never used for objects users own)."""
    query = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
    if dry_run:
        query["dryRun"] = "All"
    path = object_path(obj) + "?" + urlencode(query)
    status, body, headers = client.request("PATCH", path, body=obj, content_type="application/apply-patch+yaml")
    if status == 409:
        raise KubeCompassError("%s: another field manager owns fields kubecompass would set: %s" % (
            describe(obj), (body or {}).get("message") if isinstance(body, dict) else body), "conflict", status)
    if status >= 300:
        error = client.status_error(status, body, path)
        raise KubeCompassError("%s: %s" % (describe(obj), error), error.category, status)
    return body, warnings_of(headers)


def apply(client, obj, check_mode, force=False, must_exist=False):
    """Apply one object: {"object", "action" (created|updated|unchanged), "warnings", "digests", "diff"}; ``digests``
    are the object's before and after (as the server stores it, without server-set fields; in check mode as the
    dry run answers), for the change record.
    A dry run decides; the real apply happens only outside check mode and only when something changes.
    ``must_exist``: an object that is gone raises a 404 KubeCompassError instead of being created (server-side apply
    creates what it does not find, which would bring back a Namespace deleted while the run labels it)."""
    path = object_path(obj)
    before = get(client, path)
    if before is None and must_exist:
        raise KubeCompassError("%s no longer exists" % describe(obj), "not_found", 404)
    after, warnings = server_side_apply(client, obj, dry_run=True, force=force)
    unchanged = before is not None and comparable(before) == comparable(after)
    action = "unchanged" if unchanged else ("created" if before is None else "updated")
    if action != "unchanged" and not check_mode:
        after, warnings = server_side_apply(client, obj, dry_run=False, force=force)
    name = describe(obj)
    result = {"object": name, "action": action, "warnings": warnings,
              "digests": {"before": digest(comparable(before)), "after": digest(comparable(after))}}
    if action != "unchanged":
        result["diff"] = {"before_header": name, "after_header": name, "before": _yaml(comparable(before)),
                          "after": _yaml(comparable(after))}
    return result


def changed_objects(results):
    """What apply results changed (in check mode, would change), for a module's ``changed_objects`` return:
    [{"object", "action", "before", "after"}] with digests."""
    return [dict(result["digests"], object=result["object"], action=result["action"])
            for result in results if result["action"] != "unchanged"]


def diffs(results):
    """The diff entries of apply results, for a module's ``diff`` return."""
    return [result["diff"] for result in results if result.get("diff")]


def owned_label_keys(obj, manager=FIELD_MANAGER):
    """The label keys ``manager`` owns through server-side apply, from the object's metadata.managedFields.

    Server-side apply removes a field its manager applied before and leaves out now, so an apply that sets only
    some labels of an object others also label must restate these, and only these: restating a label someone else
    set (kubectl label) would make ``manager`` its co-owner, and with force take it over. Only Apply entries of the
    main resource count (an Update entry, or a subresource's, is not the apply set)."""
    keys = set()
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply" or entry.get("subresource"):
            continue
        labels = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:labels") or {}
        keys.update(key[2:] for key in labels if key.startswith("f:"))
    return keys


NAMESPACE_GONE = "namespace no longer exists"


def failure_cause(client, namespace, exc):
    """The one-line cause of a request about ``namespace`` (a KubeCompassError) that failed.

    A 404 means "namespace no longer exists" only when the namespace itself is gone: it also answers a resource
    type the server does not serve (policy/v1 missing) or an object deleted meanwhile, and then the original
    error, which names the object and path, is the cause."""
    if exc.status != 404:
        return str(exc)
    try:
        found = get(client, "/api/v1/namespaces/%s" % quote(namespace, safe=""))
    except KubeCompassError as read_error:
        return "%s (and the namespace could not be read: %s)" % (exc, read_error)
    return NAMESPACE_GONE if found is None else str(exc)


def apply_per_namespace(client, planned, check_mode):
    """Apply each namespace's objects; a namespace that fails (deleted meanwhile, forbidden, conflict) is reported
    with its cause and the others are still handled. ``planned``: [(namespace, [objects])].
    Returns ({namespace: [apply results]}, {namespace: error})."""
    results, errors = {}, {}
    for namespace, objects in planned:
        done = []
        try:
            for obj in objects:
                done.append(apply(client, obj, check_mode))
        except KubeCompassError as exc:
            errors[namespace] = failure_cause(client, namespace, exc)
        results[namespace] = done
    return results, errors
