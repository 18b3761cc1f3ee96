# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Verdicts for managed control planes (EKS, GKE, AKS), judged from the provider's facts.

The provider operates the API server and etcd, so what a self-managed check reads from flags and nodes comes from
one describe of the cluster (module_utils/_providers). A section the provider API did not return is unknown with
the cause, never pass. The checks in the area modules call these when the cluster is managed.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import UNLIMITED_RETENTION
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Result,
    from_objects,
    obj,
)

OPEN_CIDRS = ("0.0.0.0/0", "::/0")
PROVIDER_NAMES = {"eks": "EKS", "gke": "GKE", "aks": "AKS"}


def _name(ctx):
    return PROVIDER_NAMES.get(ctx.distribution, ctx.distribution)


def audit_logging(ctx):
    section = ctx.provider_section("audit_logging")
    verdict = "pass" if section.get("enabled") else "fail"
    state = "on" if verdict == "pass" else "off"
    return Result(verdict, "%s audit logging %s: %s" % (_name(ctx), state, section.get("detail")), {"provider": section})


def secrets_encryption(ctx):
    section = ctx.provider_section("secrets_encryption")
    state = section.get("state")
    evidence = {"provider": section}
    if state == "on":
        return Result("pass", "%s envelope-encrypts Secrets with a customer key %s" % (_name(ctx), section.get("key")),
                      evidence)
    if state == "pending":
        return Result("unknown", "%s Secrets encryption is being applied: %s" % (_name(ctx), section.get("detail")),
                      evidence)
    return Result("fail", "%s Secrets encryption with a customer key is %s: %s"
                  % (_name(ctx), "in error" if state == "error" else "off", section.get("detail")), evidence)


def audit_retention(ctx, required, driver, declared):
    """KC-CMP-001 on a managed cluster: the provider's retention of the audit log, else the declared store's."""
    section = ctx.provider_section("audit_logging")
    evidence = {"provider": section, "required_days": required, "offcluster_retention_days": declared}
    if not section.get("enabled"):
        return Result("fail", "%s audit logging is off, so nothing is retained" % _name(ctx), evidence)
    days = section.get("retention_days")
    detail = section.get("retention_detail") or ""
    if days is None and declared is None:
        return Result("unknown", "%s does not say how long the audit log is kept (%s); declare "
                      "kubecompass_audit_offcluster_retention_days once the log store keeps it %d days (%s)"
                      % (_name(ctx), detail or "not reported", required, ", ".join(driver)), evidence)
    if days is not None and days >= required:
        return Result("pass", "%s keeps audit logs %s (%s), %s require %d days"
                      % (_name(ctx), "until deleted" if days >= UNLIMITED_RETENTION else "%d days" % days, detail,
                         ", ".join(driver), required), evidence)
    if declared is not None and int(declared) >= required:
        return Result("pass", "off-cluster retention of %s days declared by the inventory (not verified by the "
                      "collection); %s" % (declared, detail or "provider retention not read"), evidence)
    have = "%d days" % days if days is not None else "an unknown retention (%s)" % (detail or "not reported")
    return Result("fail", "%s keeps audit logs %s, %s require %d days; set the log store's retention and declare "
                  "kubecompass_audit_offcluster_retention_days once it keeps them" % (
                      _name(ctx), have, ", ".join(driver), required), evidence)


def control_plane_ha(ctx):
    section = ctx.provider_section("control_plane_ha")
    return Result("pass" if section.get("ha") else "fail", section.get("detail"), {"provider": section})


def node_pool_zones(ctx, needed):
    """KC-AVL-002 on a managed cluster: every node pool spans the tier's zones (future nodes go where pools say).

    None when the provider lists no pools (EKS self-managed or Fargate nodes): the nodes' zone labels decide then.
    """
    section = ctx.provider_section("node_pools")
    objects = []
    for pool in section.get("pools") or []:
        zones = sorted(set(pool.get("zones") or []))
        verdict = "pass" if len(zones) >= needed else "fail"
        objects.append(obj("NodePool", None, pool.get("name"), verdict, "%d zone(s)%s, tier %s needs %d" % (
            len(zones), " (%s)" % ", ".join(zones) if zones else "", ctx.tier, needed)))
    if not objects:
        return None
    return from_objects(objects, "every node pool spans at least %d zone(s)" % needed,
                        "%%d node pool(s) span fewer than %d zone(s)" % needed,
                        {"provider": section, "threshold": needed})


def autoscaling(ctx):
    section = ctx.provider_section("autoscaling")
    if section.get("enabled"):
        return Result("pass", "%s node autoscaling: %s" % (_name(ctx), section.get("detail")), {"provider": section})
    return Result("fail", "no cluster-autoscaler or Karpenter Deployment runs and %s node autoscaling is off: %s"
                  % (_name(ctx), section.get("detail")), {"provider": section})


def version_support(ctx):
    """KC-OPS-004 on a managed cluster: the provider's own support window, not upstream's."""
    section = ctx.provider_section("version")
    support = section.get("support")
    evidence = {"provider": section}
    end = section.get("end_of_support")
    end_note = " until %s" % end if end else ""
    if support == "standard":
        return Result("pass", "%s %s is in standard support%s" % (_name(ctx), section.get("version"), end_note),
                      evidence)
    if support == "extended":
        verdict = "fail" if ctx.tier == "critical" else "pass"
        return Result(verdict, "%s %s is in extended support only%s%s" % (
            _name(ctx), section.get("version"), end_note,
            "; the critical tier needs standard support" if verdict == "fail" else ""), evidence)
    if support == "unsupported":
        return Result("fail", "%s %s is out of support: %s" % (_name(ctx), section.get("version"), section.get("detail")),
                      evidence)
    return Result("unknown", "%s did not report the support status of %s: %s"
                  % (_name(ctx), section.get("version"), section.get("detail")), evidence)


def people_auth(ctx):
    section = ctx.provider_section("people_auth")
    return Result("pass" if section.get("sso") else "fail", "%s: %s" % (_name(ctx), section.get("detail")),
                  {"provider": section})


def endpoint_exposure(ctx):
    section = ctx.provider_section("endpoint")
    evidence = {"provider": section}
    if not section.get("public"):
        return Result("pass", "API endpoint is private only: %s" % section.get("detail"), evidence)
    cidrs = section.get("public_cidrs") or []
    if any(c in OPEN_CIDRS for c in cidrs):
        return Result("fail", "API endpoint is public and open to the whole internet (%s): %s"
                      % (", ".join(cidrs), section.get("detail")), evidence)
    if not cidrs:
        return Result("pass", "API endpoint is public but no address may reach it: %s" % section.get("detail"),
                      evidence)
    return Result("pass", "API endpoint is public but limited to %s" % ", ".join(cidrs), evidence)


CHECKS = [
    Check("KC-SEC-025", "API server endpoint not open to the whole internet", "security", "high",
          item="api-endpoint-exposure", evaluate=endpoint_exposure, needs=("provider",),
          distributions=tuple(PROVIDER_NAMES), required_for=("critical", "important"),
          runbook="A public API endpoint open to 0.0.0.0/0 lets anyone try credentials and exploits against the "
                  "API server. Make the endpoint private, or restrict it to your networks (EKS publicAccessCidrs, "
                  "GKE authorized networks, AKS authorized IP ranges). Not remediated automatically: a wrong list "
                  "locks the automation out."),
]
