# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Compliance guardrails of application namespaces: a ResourceQuota and a LimitRange with container defaults."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import CIS
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import object_name
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.workloads import container_items
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import Check, from_objects, obj

GUARDRAILS_REMEDIATION = {"role": "namespace_guardrails", "tag": "guardrails"}
EVERY_NAMESPACE = "required in every application namespace, whatever its tier"


def container_defaults(limitranges):
    """Resources the LimitRanges of one namespace default on containers: {"default": set, "defaultRequest": set}."""
    provided = {"default": set(), "defaultRequest": set()}
    for limitrange in limitranges:
        for item in container_items(limitrange):
            for field, resources in provided.items():
                resources.update((item.get(field) or {}).keys())
    return provided


def _per_namespace(ctx, kind, judge):
    """One Namespace object per application namespace, judged from that namespace's items of ``kind``."""
    namespaces = ctx.application_namespaces()
    grouped = ctx.by_namespace(kind)
    objects = []
    for namespace, _tier, _rule, error in namespaces:
        name = object_name(namespace)
        if error:
            objects.append(obj("Namespace", name, name, "unknown", error))
            continue
        verdict, reason = judge(grouped.get(name) or [])
        objects.append(obj("Namespace", name, name, verdict, reason))
    return objects


def _evidence(objects):
    return {"namespaces": len(objects),
            "failing": sum(1 for o in objects if o["verdict"] == "fail"),
            "unknown": sum(1 for o in objects if o["verdict"] == "unknown")}


def _judge_quotas(quotas):
    enforcing = sorted(object_name(q) for q in quotas if (q.get("spec") or {}).get("hard"))
    if enforcing:
        return "pass", "ResourceQuota %s sets hard limits" % ", ".join(enforcing)
    if quotas:
        return "fail", "ResourceQuota %s sets no hard limits" % ", ".join(sorted(object_name(q) for q in quotas))
    return "fail", "no ResourceQuota"


def resource_quotas(ctx):
    objects = _per_namespace(ctx, "resourcequotas", _judge_quotas)
    return from_objects(objects, "every application namespace has a ResourceQuota with hard limits",
                        "%d application namespace(s) have no ResourceQuota with hard limits", _evidence(objects),
                        EVERY_NAMESPACE, none_message="no application namespaces")


def _judge_limitranges(limitranges):
    complete = sorted(object_name(lr) for lr in limitranges
                      if any(i.get("default") and i.get("defaultRequest") for i in container_items(lr)))
    if complete:
        return "pass", "LimitRange %s defaults container requests and limits" % ", ".join(complete)
    if limitranges:
        return "fail", "LimitRange %s has no Container item with both default and defaultRequest" % ", ".join(
            sorted(object_name(lr) for lr in limitranges))
    return "fail", "no LimitRange"


def limit_ranges(ctx):
    objects = _per_namespace(ctx, "limitranges", _judge_limitranges)
    return from_objects(objects, "every application namespace has a LimitRange defaulting container resources",
                        "%d application namespace(s) have no LimitRange defaulting container resources",
                        _evidence(objects), EVERY_NAMESPACE, none_message="no application namespaces")


CHECKS = [
    Check(
        "KC-CMP-002", "ResourceQuota in every application namespace", "compliance", "medium",
        controls={CIS: ()},
        item="resource-quotas-limitranges", evaluate=resource_quotas, needs=("namespaces", "resourcequotas"),
        remediation=GUARDRAILS_REMEDIATION, scope="namespace",
        runbook="An application namespace has no ResourceQuota with hard limits, so one team's workloads can "
                "exhaust the cluster's CPU, memory or object counts and starve every other namespace. Create a "
                "ResourceQuota (spec.hard with requests.cpu, requests.memory, limits.memory and pods) sized for the "
                "namespace, after its LimitRange, or run the namespace_guardrails role (tag guardrails).",
    ),
    Check(
        "KC-CMP-003", "LimitRange with container defaults in every application namespace", "compliance", "medium",
        controls={CIS: ()},
        item="resource-quotas-limitranges", evaluate=limit_ranges, needs=("namespaces", "limitranges"),
        remediation=GUARDRAILS_REMEDIATION, scope="namespace",
        runbook="An application namespace has no LimitRange item of type Container with both default and "
                "defaultRequest, so containers without resources run unbounded and, once a ResourceQuota covers "
                "cpu/memory, are rejected at admission. Create a LimitRange with default and defaultRequest for "
                "cpu and memory before the ResourceQuota, or run the namespace_guardrails role (tag guardrails).",
    ),
]
