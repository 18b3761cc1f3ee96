# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The catalog: every check, in one ordered list, validated once. docs/catalog.md is generated from it."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import (
    availability,
    certificates,
    cis_files,
    cis_flags,
    cis_kubelet,
    control_plane,
    disaster_recovery,
    governance,
    guardrails,
    managed,
    monitoring,
    operations,
    security_api,
    upgrades,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import known_items
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import DEFAULT_TIER_TABLE

AREA_CODES = {"availability": "AVL", "security": "SEC", "compliance": "CMP", "disaster_recovery": "DR",
              "operations": "OPS"}
# Inputs that are not Kubernetes kinds: gather fetches them differently.
SPECIAL_INPUTS = ("version", "node_facts", "provider")


def _ordered(checks):
    def key(check):
        area, number = check.id.split("-")[1:]
        return (list(AREA_CODES.values()).index(area), int(number))
    return sorted(checks, key=key)


def validate(checks, kinds):
    """Raise on a malformed catalog: duplicate or mis-areaed IDs, unknown items, inputs gather cannot read."""
    seen = set()
    items = set(known_items())
    for check in checks:
        match = re.match(r"^KC-([A-Z]+)-(\d{3})$", check.id)
        if not match or AREA_CODES.get(check.area) != match.group(1):
            raise KubeCompassError("catalog: %s does not match area %s" % (check.id, check.area), "catalog")
        if check.id in seen:
            raise KubeCompassError("catalog: duplicate check ID %s" % check.id, "catalog")
        seen.add(check.id)
        if check.item not in items:
            raise KubeCompassError("catalog: %s names unknown item %s" % (check.id, check.item), "catalog")
        unknown_inputs = [n for n in check.needs if n not in kinds and n not in SPECIAL_INPUTS]
        if unknown_inputs:
            raise KubeCompassError("catalog: %s needs unknown input(s) %s" % (check.id, ", ".join(unknown_inputs)),
                                   "catalog")
        unknown_thresholds = [t for t in check.thresholds if t not in DEFAULT_TIER_TABLE["critical"]]
        if unknown_thresholds:
            raise KubeCompassError("catalog: %s uses unknown threshold(s) %s" % (check.id, ", ".join(
                unknown_thresholds)), "catalog")
    return checks


def all_checks():
    from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.gather import KIND_SPECS

    checks = []
    for module in (availability, guardrails, security_api, control_plane, cis_flags, cis_files, cis_kubelet,
                   managed, disaster_recovery, operations, monitoring, certificates, governance, upgrades):
        checks.extend(module.CHECKS)
    return validate(_ordered(checks), KIND_SPECS)


def select(checks, include=None, exclude=None):
    """Checks filtered by ID lists (each ID must exist: a typo must not silently skip a check)."""
    known = {c.id for c in checks}
    for name, ids in (("include", include), ("exclude", exclude)):
        wrong = sorted(set(ids or []) - known)
        if wrong:
            raise KubeCompassError("%s_checks: unknown check ID(s) %s" % (name, ", ".join(wrong)), "input")
    return [c for c in checks if (not include or c.id in include) and c.id not in (exclude or [])]


def entries(checks):
    """Catalog entries as plain data (for reports and the generated docs)."""
    from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import controls_for

    return [{
        "id": c.id, "title": c.title, "area": c.area, "severity": c.severity, "item": c.item,
        "required_for": list(c.required_for), "thresholds": list(c.thresholds),
        "distributions": list(c.distributions), "needs": list(c.needs), "scope": c.scope,
        "remediation": c.remediation, "runbook": c.runbook, "controls": controls_for(c.item, c.controls),
    } for c in checks]
