# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Upgrade readiness: component versions inside the upstream version skew policy, and no deprecated API still
requested that the next minor release removes.

Skew policy (kubernetes.io/releases/version-skew-policy): API servers of one cluster within one minor of each other;
kube-controller-manager and kube-scheduler not newer than the oldest API server and at most one minor older than the
newest; kubelets not newer than the oldest API server and at most three minors older.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import control_plane_components
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import object_name
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.versions import minor_version
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import Check, Result, Unreadable, from_objects, obj

APISERVER_SKEW = 1
CONTROLLER_SKEW = 1
KUBELET_SKEW = 3
# The rule the assessing identity needs for the apiserver's metrics (documented in the README).
METRICS_RULE = 'a ClusterRole rule {nonResourceURLs: ["/metrics"], verbs: ["get"]}'


def _minor_text(minor):
    return "%d.%d" % minor


def image_version(image):
    """The Kubernetes version in a component image's tag (registry.k8s.io/kube-apiserver:v1.36.1), or None."""
    reference = (image or "").split("@", 1)[0]
    if reference.rfind(":") <= reference.rfind("/"):
        return None
    tag = reference[reference.rfind(":") + 1:]
    return tag if minor_version(tag) else None


def _component_versions(pods):
    """{component: [(node, version or None, image)]} of the control-plane mirror pods."""
    versions = {}
    for component in control_plane_components(pods):
        versions.setdefault(component["component"], []).append(
            (component["node"] or component["pod"], image_version(component["image"]), component["image"]))
    return versions


def node_versions(nodes):
    """Per node, what status.nodeInfo reports: kubelet, OS image, kernel and container runtime versions."""
    facts = {}
    for node in nodes:
        info = (node.get("status") or {}).get("nodeInfo") or {}
        facts[object_name(node)] = {"kubelet": info.get("kubeletVersion") or None,
                                    "os_image": info.get("osImage") or None,
                                    "kernel": info.get("kernelVersion") or None,
                                    "container_runtime": info.get("containerRuntimeVersion") or None,
                                    "architecture": info.get("architecture") or None}
    return facts


def judge_skew(apiservers, controllers, kubelets):
    """Per-object outcomes of the skew policy. ``apiservers``: [(name, minor)], at least one; ``controllers``:
    [(kind, name, minor or None)]; ``kubelets``: [(node, minor or None)]."""
    oldest = min(minor for _name, minor in apiservers)
    newest = max(minor for _name, minor in apiservers)
    objects = []
    for name, minor in apiservers:
        spread = newest[1] - minor[1] if newest[0] == minor[0] else None
        if spread is None or spread > APISERVER_SKEW:
            objects.append(obj("kube-apiserver", None, name, "fail", "v%s is more than %d minor behind the newest "
                               "API server v%s" % (_minor_text(minor), APISERVER_SKEW, _minor_text(newest))))
        else:
            objects.append(obj("kube-apiserver", None, name, "pass", "v%s" % _minor_text(minor)))
    for kind, name, minor in controllers:
        if minor is None:
            objects.append(obj(kind, None, name, "unknown", "its image tag names no Kubernetes version"))
        elif minor > oldest:
            objects.append(obj(kind, None, name, "fail", "v%s is newer than the oldest API server v%s" % (
                _minor_text(minor), _minor_text(oldest))))
        elif minor[0] != newest[0] or newest[1] - minor[1] > CONTROLLER_SKEW:
            objects.append(obj(kind, None, name, "fail", "v%s is more than %d minor older than the newest API "
                               "server v%s" % (_minor_text(minor), CONTROLLER_SKEW, _minor_text(newest))))
        else:
            objects.append(obj(kind, None, name, "pass", "v%s" % _minor_text(minor)))
    for node, minor in kubelets:
        if minor is None:
            objects.append(obj("Node", None, node, "unknown", "status.nodeInfo.kubeletVersion names no version"))
        elif minor > oldest:
            objects.append(obj("Node", None, node, "fail", "kubelet v%s is newer than the oldest API server v%s" % (
                _minor_text(minor), _minor_text(oldest))))
        elif minor[0] != oldest[0] or oldest[1] - minor[1] > KUBELET_SKEW:
            objects.append(obj("Node", None, node, "fail", "kubelet v%s is more than %d minors older than the oldest "
                               "API server v%s" % (_minor_text(minor), KUBELET_SKEW, _minor_text(oldest))))
        else:
            objects.append(obj("Node", None, node, "pass", "kubelet v%s" % _minor_text(minor)))
    return objects


def version_skew(ctx):
    git_version = (ctx.cluster.get("version") or {}).get("gitVersion")
    served = minor_version(git_version)
    if served is None:
        return Result("unknown", "server version %r is not a Kubernetes version" % git_version)
    components = _component_versions(ctx.items("pods"))
    nodes = node_versions(ctx.items("nodes"))
    apiservers = [(node, minor_version(version)) for node, version, _image in components.get("kube-apiserver", [])
                  if minor_version(version)]
    # Mirror pods show each API server; without them (managed control planes) the server that answered stands for all.
    if not apiservers:
        apiservers = [("/version", served)]
    controllers = [(component, node, minor_version(version))
                   for component in ("kube-controller-manager", "kube-scheduler")
                   for node, version, _image in components.get(component, [])]
    kubelets = [(name, minor_version(facts["kubelet"])) for name, facts in sorted(nodes.items())]
    evidence = {"api_server_version": git_version,
                "control_plane": {component: {node: version or image for node, version, image in entries}
                                  for component, entries in sorted(components.items())},
                "nodes": nodes}
    objects = judge_skew(apiservers, controllers, kubelets)
    result_message = "API servers, controller managers, schedulers and %d kubelet(s) within the skew policy" % len(
        kubelets)
    if not kubelets:
        result_message += " (no Node objects: no kubelet version to judge)"
    failing = [o for o in objects if o["verdict"] == "fail"]
    message_fail = "%%d component(s) outside the version skew policy: %s" % "; ".join(
        "%s %s %s" % (o["kind"], o["name"], o["reason"]) for o in failing[:5])
    return from_objects(objects, result_message, message_fail, evidence)


# -- deprecated APIs still requested ---------------------------------------------------------------------------------


def _group_version(series):
    return "%s/%s" % (series["group"], series["version"]) if series.get("group") else series.get("version")


def stored_in_retiring_versions(crds):
    """{CRD name: ["version (why)"]}: versions listed in status.storedVersions (objects in etcd may still be written
    in them) that the CRD no longer lists, no longer serves or marks deprecated. A CRD update that drops such a
    version is refused until the objects are rewritten and storedVersions trimmed."""
    found = {}
    for crd in crds:
        versions = {v.get("name"): v for v in (crd.get("spec") or {}).get("versions") or []}
        for stored in (crd.get("status") or {}).get("storedVersions") or []:
            version = versions.get(stored)
            if version is None:
                why = "no longer in spec.versions"
            elif not version.get("served"):
                why = "no longer served"
            elif version.get("deprecated"):
                why = "deprecated"
            else:
                continue
            found.setdefault(object_name(crd), []).append("%s (%s)" % (stored, why))
    return found


def deprecated_apis_requested(ctx):
    git_version = (ctx.cluster.get("version") or {}).get("gitVersion")
    served = minor_version(git_version)
    if served is None:
        return Result("unknown", "server version %r is not a Kubernetes version" % git_version)
    requested = ctx.items("deprecated_api_requests")
    next_minor = (served[0], served[1] + 1)
    objects = []
    for series in sorted(requested, key=lambda s: (_group_version(s), s.get("resource") or "")):
        removed = series.get("removed_release") or ""
        resource = series.get("resource") or "?"
        if series.get("subresource"):
            resource += "/" + series["subresource"]
        name = "%s %s" % (_group_version(series), resource)
        removed_minor = minor_version(removed)
        if removed_minor is not None and removed_minor <= next_minor:
            objects.append(obj("API", None, name, "fail", "deprecated, removed in %s (next minor %s): move its "
                               "clients to the replacement version before upgrading" % (
                                   removed, _minor_text(next_minor))))
        else:
            objects.append(obj("API", None, name, "pass", "deprecated, %s" % (
                "removed in %s" % removed if removed else "no removal release announced")))
    evidence = {"api_server_version": git_version, "next_minor": _minor_text(next_minor),
                "requested": [dict(series) for series in requested],
                "scope": "requests counted by the API server that answered since it started (one per HA member)"}
    try:
        stored = stored_in_retiring_versions(ctx.items("customresourcedefinitions"))
    except Unreadable as exc:
        stored, evidence["crd_stored_versions_unread"] = {}, exc.cause
    for name, versions in sorted(stored.items()):
        objects.append(obj("CustomResourceDefinition", None, name, "pass", "objects may be stored in %s: rewrite "
                           "them in the storage version and trim status.storedVersions before a release drops it"
                           % ", ".join(versions)))
    evidence["crd_stored_versions"] = stored
    if not objects:
        return Result("pass", "no deprecated API requested since the API server started, and no CRD stores objects "
                              "in a retiring version", evidence)
    return Result(
        "fail" if any(o["verdict"] == "fail" for o in objects) else "pass",
        "deprecated API(s) still requested or stored: %s" % "; ".join(
            "%s %s (%s)" % ("CRD" if o["kind"] == "CustomResourceDefinition" else "API", o["name"], o["reason"])
            for o in objects),
        evidence, objects)


CHECKS = [
    Check(
        "KC-OPS-012", "Control plane and kubelets within the upstream version skew policy", "operations", "high",
        item="k8s-version-supported", evaluate=version_skew, needs=("version", "pods", "nodes"),
        runbook="Components outside the version skew policy are unsupported and break during the next upgrade. "
                "Upgrade the API servers first (one minor at a time, all members within one minor of each other), "
                "then kube-controller-manager and kube-scheduler to the API servers' version, then the kubelets "
                "(drain, upgrade, uncordon); a kubelet may lag the oldest API server by at most three minors and is "
                "never newer.",
    ),
    Check(
        "KC-OPS-013", "No deprecated API still requested that the next minor release removes", "operations", "high",
        item="k8s-version-supported", evaluate=deprecated_apis_requested,
        needs=("version", "deprecated_api_requests", "customresourcedefinitions"),
        runbook="The API server counts requests to deprecated APIs (metric apiserver_requested_deprecated_apis, "
                "label removed_release). A client still using a version the next minor removes breaks at upgrade: "
                "find it in the audit log (annotation k8s.io/deprecated) or with kubectl get --raw /metrics, move "
                "its manifests to the replacement version (kubectl convert, or the Helm chart's newer release) and "
                "rewrite stored objects. Reading the metric needs %s." % METRICS_RULE,
    ),
]
