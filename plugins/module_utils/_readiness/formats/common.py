# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""What the report formats share: the tool's identity, how objects and waivers read, JSON encoding. Pure."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime

TOOL_NAME = "kubecompass.readiness"
# The collection version (galaxy.yml); a unit test keeps the two equal.
TOOL_VERSION = "0.1.0"
TOOL_URI = "https://github.com/kubecompass/kubecompass.readiness"


def json_default(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError("%r is not JSON serialisable" % (value,))


def object_label(entry):
    where = "%s/%s" % (entry["namespace"], entry["name"]) if entry.get("namespace") else entry.get("name")
    return "%s %s" % (entry.get("kind"), where)


def objects_with(finding, verdict):
    return [o for o in finding.get("objects") or [] if o.get("verdict") == verdict]


def waiver_text(waiver):
    return "%s (owner %s, ticket %s, expires %s)" % (waiver["reason"], waiver["owner"], waiver["ticket"],
                                                     waiver["expires"])


def waiver_scope(waiver):
    target = waiver.get("object")
    if target:
        return object_label(target)
    if waiver.get("namespace"):
        return "namespace %s" % waiver["namespace"]
    return "whole check"


def catalog_index(run):
    return {entry["id"]: entry for entry in run["catalog"]}


def gate_blocking(run):
    """(cluster, check_id) of every finding the gate failed on, as the gate decided it (not decided again here)."""
    result = run["gate"]
    blocking = {(f["cluster"], f["check_id"]) for f in result.get("failing") or []}
    if result.get("fail_on_unknown", True):
        blocking |= {(f["cluster"], f["check_id"]) for f in result.get("unknown") or []}
    return blocking
