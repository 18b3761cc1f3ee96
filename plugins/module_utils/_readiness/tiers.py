# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The tier table: what "production-ready" means per tier, and how a namespace's tier is decided."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import (  # noqa: F401
    NAMESPACE_TIER_LABEL,
    TIERS,
)

# Critical 99.99% / RTO 15 min / RPO near-zero; Important 99.9% / 1 h / 15 min; Best effort 99% / 4 h / 1 h.
DEFAULT_TIER_TABLE = {
    "critical": {
        "availability_percent": 99.99, "rto_minutes": 15, "rpo_minutes": 0,
        "min_replicas": 2, "min_control_plane_nodes": 3, "min_zones": 3,
        "backup_retention_hours": 720, "restore_test_max_age_days": 90,
        "cert_expiry_fail_days": 30, "cert_expiry_warn_days": 90, "ca_expiry_fail_days": 365,
        "alert_detection_max_seconds": 120,
    },
    "important": {
        "availability_percent": 99.9, "rto_minutes": 60, "rpo_minutes": 15,
        "min_replicas": 2, "min_control_plane_nodes": 2, "min_zones": 2,
        "backup_retention_hours": 720, "restore_test_max_age_days": 90,
        "cert_expiry_fail_days": 30, "cert_expiry_warn_days": 90, "ca_expiry_fail_days": 365,
        "alert_detection_max_seconds": 300,
    },
    "best_effort": {
        "availability_percent": 99.0, "rto_minutes": 240, "rpo_minutes": 60,
        "min_replicas": 1, "min_control_plane_nodes": 1, "min_zones": 1,
        "backup_retention_hours": 720, "restore_test_max_age_days": 90,
        "cert_expiry_fail_days": 30, "cert_expiry_warn_days": 90, "ca_expiry_fail_days": 365,
        "alert_detection_max_seconds": 900,
    },
}

THRESHOLD_DOCS = {
    "availability_percent": "uptime target of the tier",
    "rto_minutes": "recovery time objective",
    "rpo_minutes": "recovery point objective; 0 means near-zero, which scheduled backups alone cannot meet",
    "min_replicas": "replicas (or HPA minReplicas) a workload needs",
    "min_control_plane_nodes": "API server endpoints and etcd members the control plane needs",
    "min_zones": "distinct topology.kubernetes.io/zone values the worker nodes must span",
    "backup_retention_hours": "minimum backup TTL",
    "restore_test_max_age_days": "maximum age of the last successful restore test",
    "cert_expiry_fail_days": "a control-plane certificate with fewer days left fails",
    "cert_expiry_warn_days": "a control-plane certificate with fewer days left passes with a note to renew it",
    "ca_expiry_fail_days": "a CA with fewer days left fails (it would sign certificates that outlive it)",
    "alert_detection_max_seconds": "longest time from a critical alert's condition to its first notification "
                                   "(critical: the definition's < 2 min; the other tiers' figures are the "
                                   "collection's defaults)",
}


def tier_table(overrides=None):
    """The default table with per-tier overrides merged in; unknown tiers or keys are errors, not ignored."""
    table = copy.deepcopy(DEFAULT_TIER_TABLE)
    if overrides is None:
        return table
    if not isinstance(overrides, dict):
        raise KubeCompassError("kubecompass_tier_thresholds must be a mapping of tier to thresholds", "input")
    for tier, values in overrides.items():
        if tier not in table:
            raise KubeCompassError("kubecompass_tier_thresholds: unknown tier %r (expected one of %s)"
                                   % (tier, ", ".join(TIERS)), "input")
        if not isinstance(values, dict):
            raise KubeCompassError("kubecompass_tier_thresholds.%s must be a mapping" % tier, "input")
        for key, value in values.items():
            if key not in table[tier]:
                raise KubeCompassError("kubecompass_tier_thresholds.%s: unknown threshold %r (expected one of %s)"
                                       % (tier, key, ", ".join(sorted(table[tier]))), "input")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise KubeCompassError("kubecompass_tier_thresholds.%s.%s must be a non-negative number, not %r"
                                       % (tier, key, value), "input")
            table[tier][key] = value
    return table


def validate_tier(tier, source="kubecompass_tier"):
    if tier not in TIERS:
        raise KubeCompassError("%s %r is not a tier (expected one of %s)" % (source, tier, ", ".join(TIERS)), "input")
    return tier


def namespace_tier(namespace, cluster_tier):
    """(tier, how it was decided, error): the namespace label wins over the cluster tier.

    An invalid label is not silently replaced by the cluster tier: the error is returned so checks on that
    namespace say unknown and why.
    """
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    label = labels.get(NAMESPACE_TIER_LABEL)
    if label is None:
        return cluster_tier, "cluster tier %s" % cluster_tier, None
    if label not in TIERS:
        return None, None, "namespace label %s=%r is not a tier (expected one of %s)" % (
            NAMESPACE_TIER_LABEL, label, ", ".join(TIERS))
    return label, "namespace label %s=%s" % (NAMESPACE_TIER_LABEL, label), None
