# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Operations: log shipping, GitOps, supported control-plane version (monitoring and alerting: checks.monitoring)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import object_ref
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.versions import minor_version
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import managed
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import MANAGED
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import Check, Result

# Upstream end-of-life dates per minor release (kubernetes.io/releases, "End of Life" column). A cluster
# newer than the table is judged supported; the table is extended with each release.
UPSTREAM_END_OF_LIFE = {
    "1.30": "2025-06-28",
    "1.31": "2025-10-28",
    "1.32": "2026-02-28",
    "1.33": "2026-06-28",
    "1.34": "2026-10-27",
    "1.35": "2027-02-28",
    "1.36": "2027-06-28",
}


def version_supported(ctx):
    if ctx.distribution in MANAGED:
        return managed.version_support(ctx)  # managed support windows differ from upstream
    git_version = (ctx.cluster.get("version") or {}).get("gitVersion")
    minor = minor_version(git_version)
    if minor is None:
        return Result("unknown", "server version %r is not a Kubernetes version" % git_version)
    key = "%d.%d" % minor
    evidence = {"git_version": git_version, "minor": key}
    known = sorted(UPSTREAM_END_OF_LIFE, key=lambda v: tuple(int(p) for p in v.split(".")))
    newest = tuple(int(p) for p in known[-1].split("."))
    if key not in UPSTREAM_END_OF_LIFE:
        if minor > newest:
            return Result("pass", "%s is newer than every release in the support table" % key, evidence)
        return Result("fail", "%s reached end of life before %s" % (key, UPSTREAM_END_OF_LIFE[known[0]]), evidence)
    end = datetime.date.fromisoformat(UPSTREAM_END_OF_LIFE[key])
    evidence["end_of_life"] = end.isoformat()
    today = ctx.now.date()
    if end < today:
        return Result("fail", "Kubernetes %s reached upstream end of life on %s" % (key, end), evidence)
    return Result("pass", "Kubernetes %s is supported upstream until %s (%d days left)"
                  % (key, end, (end - today).days), evidence)


CHECKS = [
    Check(
        "KC-OPS-004", "Control-plane version inside the upstream support window", "operations", "high",
        item="k8s-version-supported", evaluate=version_supported, needs=("version",),
        runbook="Upgrade one minor release at a time (kubeadm upgrade plan/apply, or the distribution's "
                "upgrade procedure) until the version is inside the support window.",
    ),
]


# -- finding platform components by workload name or image ----------------------------------------------------------


def image_repository(image):
    """The repository part of an image reference, lower case: no tag, no digest (registry ports kept)."""
    reference = (image or "").split("@", 1)[0]
    if reference.rfind(":") > reference.rfind("/"):
        reference = reference[:reference.rfind(":")]
    return reference.lower()


def _pod_images(workload):
    pod_spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c.get("image") or "" for c in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or [])]


def find_workloads(items, kind, name_pattern=None, image_pattern=None):
    """(found, idle): workloads matching by name or by a container image repository, as "Kind ns/name (why)".

    A Deployment or StatefulSet scaled to 0 runs nothing, so it lands in ``idle`` rather than ``found``.
    """
    found, idle = [], []
    for item in items:
        name = (item.get("metadata") or {}).get("name") or ""
        why = None
        if name_pattern is not None and re.search(name_pattern, name):
            why = "name"
        elif image_pattern is not None:
            why = next(("image %s" % image for image in _pod_images(item)
                        if re.search(image_pattern, image_repository(image))), None)
        if why is None:
            continue
        entry = "%s %s (%s)" % (kind, object_ref(item), why)
        if kind != "DaemonSet" and (item.get("spec") or {}).get("replicas") == 0:
            idle.append(entry + " scaled to 0")
        else:
            found.append(entry)
    return found, idle


def crd_names(ctx):
    return {(crd.get("metadata") or {}).get("name") for crd in ctx.items("customresourcedefinitions")}


# -- centralized logging -------------------------------------------------------------------------------------------

# DaemonSet names (as dash-separated words) and image repositories of the common log shipping agents.
LOG_AGENT_NAMES = (r"(^|-)(fluent-?bit|fluentd|vector|promtail|alloy|grafana-agent|filebeat|opentelemetry-collector|"
                   r"otel-collector|otel-agent|datadog|splunk-otel-collector|aws-for-fluent-bit|cloudwatch-agent|"
                   r"ama-logs|fluentbit-gke|gke-metrics-agent)(-|$)")
LOG_AGENT_IMAGES = (r"(^|/)(fluent-?bit|fluentd[\w.-]*|vector|promtail|alloy|filebeat|opentelemetry-collector[\w.-]*|"
                    r"otelcol[\w.-]*|splunk-otel-collector|aws-for-fluent-bit|cloudwatch-agent|gke-metrics-agent|"
                    r"grafana/agent|datadog(hq)?/agent|containerinsights/ciprod)$")


def log_shipping(ctx):
    found, idle = find_workloads(ctx.items("daemonsets"), "DaemonSet", LOG_AGENT_NAMES, LOG_AGENT_IMAGES)
    if found:
        return Result("pass", "log shipping agent: %s" % ", ".join(found), {"agents": found})
    if ctx.distribution in MANAGED:
        ctx.provider()  # the provider may ship logs itself; unknown until its API is read, never pass
        return Result("unknown", "no log shipping DaemonSet, and the provider's own log shipping is not evaluated")
    return Result("fail", "no log shipping agent DaemonSet (Fluent Bit, Fluentd, Vector, Promtail, Grafana Alloy, "
                          "Filebeat, OpenTelemetry Collector, Datadog, ...) in any namespace", {"agents": []})


# -- GitOps --------------------------------------------------------------------------------------------------------


def gitops_controller(ctx):
    crds = crd_names(ctx)
    deployments = ctx.items("deployments")
    statefulsets = ctx.items("statefulsets")
    argo = find_workloads(deployments, "Deployment", r"(^|-)argocd-application-controller$", r"(^|/)argocd$")
    argo_sts = find_workloads(statefulsets, "StatefulSet", r"(^|-)argocd-application-controller$", r"(^|/)argocd$")
    flux = find_workloads(deployments, "Deployment", r"(^|-)kustomize-controller$",
                          r"(^|/)fluxcd/kustomize-controller$")
    fleet = find_workloads(deployments, "Deployment", r"^fleet-controller$")
    controllers = {
        "Argo CD": ("applications.argoproj.io", argo[0] + argo_sts[0], argo[1] + argo_sts[1]),
        "Flux": ("kustomizations.kustomize.toolkit.fluxcd.io", flux[0], flux[1]),
        "Rancher Fleet": (None, fleet[0], fleet[1]),
    }
    evidence = {}
    running = []
    partial = []
    for name, (crd, found, idle) in controllers.items():
        crd_present = crd is None or crd in crds
        evidence[name] = {"crd": crd, "crd_present": crd_present, "workloads": found, "scaled_to_zero": idle}
        if crd_present and found:
            running.append("%s (%s)" % (name, ", ".join(found)))
        elif crd is not None and crd_present:
            partial.append("%s CRD %s present but no running controller%s" % (
                name, crd, " (%s)" % ", ".join(idle) if idle else ""))
        elif found or idle:
            partial.append("%s controller without its CRD %s" % (name, crd))
    if running:
        return Result("pass", "GitOps controller: %s" % "; ".join(running), evidence)
    return Result("fail", "no GitOps controller (Argo CD, Flux or Rancher Fleet)%s" % (
        ": " + "; ".join(partial) if partial else ""), evidence)


CHECKS.extend([
    Check(
        "KC-OPS-002", "Log shipping agent runs on the nodes", "operations", "medium",
        item="centralized-logging", evaluate=log_shipping, needs=("daemonsets",),
        required_for=("critical", "important"),
        runbook="Container logs live on the node and vanish with the pod or node; incidents and audits need them "
                "shipped to a central store. Deploy a log agent as a DaemonSet (Fluent Bit, Vector, Grafana Alloy, "
                "the OpenTelemetry Collector, or your vendor's agent) sending to your log backend, or enable the "
                "managed provider's logging add-on.",
    ),
    Check(
        "KC-OPS-003", "GitOps controller manages cluster changes", "operations", "medium",
        item="gitops-change-management", evaluate=gitops_controller,
        needs=("customresourcedefinitions", "deployments", "statefulsets"), required_for=("critical", "important"),
        runbook="Changes applied by hand with kubectl leave no review trail and drift silently. Install a GitOps "
                "controller (Argo CD, Flux or Rancher Fleet) and deliver workloads and platform configuration "
                "from a reviewed Git repository.",
    ),
])
