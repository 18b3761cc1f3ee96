# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.plugin_utils._planner_action import PlannerAction

ARGUMENT_SPEC = dict(
    checks={"type": "list", "elements": "str", "required": True},
    **waiver_rules.REMEDIATION_ARGUMENT_SPEC,
)


def waived_checks(args, today=None):
    """Which of ``checks`` an active cluster-wide waiver covers on this cluster, validated as the assessment does."""
    known = {check.id for check in catalog.all_checks()}
    unknown = [check for check in args["checks"] if check not in known]
    if unknown:
        raise KubeCompassError("checks: unknown check ID %s" % ", ".join(unknown), "input")
    active, expired = waiver_rules.for_remediation(
        args["waivers"], args["cluster_name"], today or datetime.datetime.now(datetime.timezone.utc).date())
    waived = waiver_rules.cluster_waived(active, args["checks"])
    return {"waived": waived, "message": "; ".join("%s %s" % (item["check"], item["reason"]) for item in waived),
            "expired_waivers": [waiver_rules.describe(w) for w in expired
                                if w["check"] in args["checks"] and not w.get("namespace") and not w.get("object")]}


class ActionModule(PlannerAction):
    """Runs on the controller and changes nothing."""

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def planned(self, args):
        return waived_checks(args)
