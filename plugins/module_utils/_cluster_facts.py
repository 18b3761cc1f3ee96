# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Pure functions turning API objects (plain JSON dicts) into cluster facts. No I/O here."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import DISTRIBUTIONS

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")


# List-valued flags the components accumulate when repeated (RKE2 mirror pods and `flag+=` configs repeat them).
ACCUMULATING_FLAGS = frozenset((
    "enable-admission-plugins", "disable-admission-plugins", "authorization-mode", "tls-cipher-suites",
    "etcd-servers", "api-audiences", "service-account-issuer", "service-account-key-file", "feature-gates",
    "runtime-config", "kubelet-preferred-address-types", "cors-allowed-origins", "tls-sni-cert-key",
    "requestheader-allowed-names", "requestheader-username-headers", "requestheader-group-headers",
    "requestheader-extra-headers-prefix",
))


def parse_flags(argv):
    """Command-line flags of a component as it sees them: ``--name=value`` and bare ``--name`` (true).

    The last occurrence wins, as pflag's scalar Set does, except for ACCUMULATING_FLAGS, whose repeated values
    are comma-joined in order. ``--name value`` is read as pflag reads it: the next argument is the value unless the
    flag is boolean. Arguments that are not flags (the binary name, positional values) are skipped.
    """
    flags = {}
    seen = set()
    args = list(argv or [])
    index = 0
    while index < len(args):
        arg = str(args[index])
        index += 1
        if not arg.startswith("--"):
            continue
        name, sep, value = arg[2:].partition("=")
        if not sep:
            if index < len(args) and not str(args[index]).startswith("-") and name not in BOOLEAN_FLAGS:
                value = str(args[index])
                index += 1
            else:
                value = "true"
        if name in ACCUMULATING_FLAGS and name in seen:
            flags[name] = "%s,%s" % (flags[name], value)
        else:
            flags[name] = value
        seen.add(name)
    return flags


# Boolean flags of the control-plane components, etcd and the kubelet: pflag reads a bare "--flag" as true and
# never takes the next argument as their value. Every other flag written "--flag value" takes the next argument
# (the components accept no positional arguments, so a running one has none to confuse with a value).
BOOLEAN_FLAGS = frozenset((
    "help", "version", "add-dir-header", "alsologtostderr", "logtostderr", "one-output", "skip-headers",
    "skip-log-headers", "profiling", "contention-profiling", "enable-contention-profiling", "leader-elect",
    "permit-port-sharing", "permit-address-sharing", "disable-http2-serving", "authentication-skip-lookup",
    "authentication-tolerate-lookup-failure",
    # kube-apiserver
    "allow-privileged", "anonymous-auth", "enable-aggregator-routing", "enable-bootstrap-token-auth",
    "enable-garbage-collector", "enable-priority-and-fairness", "encryption-provider-config-automatic-reload",
    "service-account-lookup", "service-account-extend-token-expiration", "enable-logs-handler", "watch-cache",
    "audit-log-compress", "audit-log-batch-throttle-enable", "audit-webhook-batch-throttle-enable",
    "audit-log-truncate-enabled", "audit-webhook-truncate-enabled", "aggregator-reject-forwarding-redirect",
    # kube-controller-manager
    "allocate-node-cidrs", "configure-cloud-routes", "use-service-account-credentials",
    "enable-dynamic-provisioning", "enable-hostpath-provisioner", "enable-leader-migration",
    # etcd
    "client-cert-auth", "peer-client-cert-auth", "auto-tls", "peer-auto-tls", "enable-pprof",
    "strict-reconfig-check", "enable-v2", "force-new-cluster", "debug", "socket-reuse-port", "socket-reuse-address",
    "enable-grpc-gateway", "experimental-initial-corrupt-check", "experimental-enable-lease-checkpoint",
    "experimental-compact-hash-check-enabled", "experimental-enable-distributed-tracing",
    # kubelet
    "fail-swap-on", "rotate-certificates", "rotate-server-certificates", "protect-kernel-defaults",
    "make-iptables-util-chains", "register-node", "register-schedulable", "serialize-image-pulls",
    "cgroups-per-qos", "exit-on-lock-contention", "kernel-memcg-notification", "keep-terminated-pod-volumes",
    "enable-server", "enable-debugging-handlers", "enable-controller-attach-detach", "fail-cgroupv1",
    "seccomp-default",
))


def _component_of(pod):
    labels = (pod.get("metadata") or {}).get("labels") or {}
    component = labels.get("component") or labels.get("k8s-app")
    if component in CONTROL_PLANE_COMPONENTS:
        return component
    name = (pod.get("metadata") or {}).get("name", "")
    for candidate in CONTROL_PLANE_COMPONENTS:
        if name.startswith(candidate + "-"):
            return candidate
    return None


def control_plane_components(pods):
    """Mirror pods of control-plane components, with their node, flags and state, sorted by component and node."""
    components = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if MIRROR_ANNOTATION not in (meta.get("annotations") or {}):
            continue
        component = _component_of(pod)
        if component is None:
            continue
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        container = next((c for c in containers if c.get("name") == component), containers[0])
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        status = pod.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
        components.append({
            "component": component,
            "pod": meta.get("name"),
            "namespace": meta.get("namespace"),
            "node": (pod.get("spec") or {}).get("nodeName"),
            "image": container.get("image"),
            "command": argv,
            "flags": parse_flags(argv),
            "phase": status.get("phase"),
            "ready": ready,
            "restarts": restarts,
        })
    return sorted(components, key=lambda c: (c["component"], c["node"] or "", c["pod"] or ""))


def api_endpoints(endpoint_slices):
    """Addresses and ports of the ``kubernetes`` Service from its EndpointSlices (dual-stack aware)."""
    endpoints = []
    for eps in endpoint_slices:
        labels = (eps.get("metadata") or {}).get("labels") or {}
        if labels.get("kubernetes.io/service-name", "kubernetes") != "kubernetes":
            continue
        ports = [p.get("port") for p in eps.get("ports") or [] if p.get("port")]
        for endpoint in eps.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            for address in endpoint.get("addresses") or []:
                endpoints.append({
                    "address": address,
                    "ports": ports,
                    "address_type": eps.get("addressType"),
                    "ready": conditions.get("ready", True) is not False,
                })
    return sorted(endpoints, key=lambda e: (e["address_type"] or "", e["address"]))


_VERSION_MARKERS = (
    ("eks", re.compile(r"-eks-"), "server version %s carries the EKS build suffix"),
    ("gke", re.compile(r"-gke\."), "server version %s carries the GKE build suffix"),
    ("rke2", re.compile(r"\+rke2r\d+"), "server version %s carries the RKE2 build suffix"),
    ("k3s", re.compile(r"\+k3s\d+"), "server version %s carries the k3s build suffix"),
)

_NODE_LABEL_MARKERS = (
    ("eks", "eks.amazonaws.com/nodegroup"),
    ("eks", "eks.amazonaws.com/compute-type"),
    ("gke", "cloud.google.com/gke-nodepool"),
    ("aks", "kubernetes.azure.com/cluster"),
    ("aks", "kubernetes.azure.com/agentpool"),
)

_NODE_ANNOTATION_MARKERS = (
    ("rke2", "rke2.io/node-args"),
    ("k3s", "k3s.io/node-args"),
)

_PROVIDER_ID_MARKERS = (("eks", "aws://"), ("gke", "gce://"), ("aks", "azure://"))


def guess_distribution(version, nodes, components, kubeadm_config_present):
    """Best guess of the distribution from what the API shows, with the evidence for each candidate.

    Returns ``(distribution, evidence)`` where distribution is one of DISTRIBUTIONS or ``unknown`` and
    evidence lists the observations that support the winner. Managed-provider markers outrank kubeadm's,
    because a managed control plane never shows kubeadm mirror pods but its nodes may run kubeadm tooling.
    """
    scores = {}

    def note(distribution, weight, text):
        entry = scores.setdefault(distribution, [0, []])
        entry[0] += weight
        entry[1].append(text)

    git_version = (version or {}).get("gitVersion", "")
    for distribution, pattern, text in _VERSION_MARKERS:
        if pattern.search(git_version):
            note(distribution, 10, text % git_version)
    for node in nodes:
        meta = node.get("metadata") or {}
        name = meta.get("name")
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        for distribution, label in _NODE_LABEL_MARKERS:
            if label in labels:
                note(distribution, 5, "node %s has label %s" % (name, label))
        for distribution, annotation in _NODE_ANNOTATION_MARKERS:
            if annotation in annotations:
                note(distribution, 5, "node %s has annotation %s" % (name, annotation))
        provider_id = (node.get("spec") or {}).get("providerID") or ""
        for distribution, prefix in _PROVIDER_ID_MARKERS:
            if provider_id.startswith(prefix):
                note(distribution, 2, "node %s has providerID %s..." % (name, prefix))
    if kubeadm_config_present:
        note("kubeadm", 6, "ConfigMap kube-system/kubeadm-config exists")
    for component in components:
        image = component.get("image") or ""
        if component["component"] == "kube-apiserver" and "registry.k8s.io/kube-apiserver" in image:
            note("kubeadm", 2, "mirror pod %s runs the upstream image %s" % (component["pod"], image))
        if "rancher/hardened-kubernetes" in image:
            note("rke2", 4, "mirror pod %s runs RKE2's hardened image" % component["pod"])
    if not scores:
        return "unknown", ["no distribution marker found in the server version, nodes or kube-system"]
    # Deterministic tie-break: the order of DISTRIBUTIONS.
    winner = max(scores, key=lambda d: (scores[d][0], -DISTRIBUTIONS.index(d)))
    return winner, scores[winner][1]
