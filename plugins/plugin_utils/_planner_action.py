# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The base of the controller-side planning actions: validate the arguments against the action's spec, call its
pure planner, report a KubeCompassError as a failed result with its category. Nothing is changed anywhere."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError


class PlannerAction(ActionBase):
    """Subclasses set ARGUMENT_SPEC and implement ``planned(args)``, returning the result keys."""

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = {}

    def planned(self, args):
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super(PlannerAction, self).run(tmp, task_vars)
        validated = ArgumentSpecValidator(self.ARGUMENT_SPEC).validate(self._task.args)
        if validated.error_messages:
            raise AnsibleActionFail("%s: %s" % (self._task.action, "; ".join(validated.error_messages)))
        try:
            result.update(self.planned(validated.validated_parameters))
        except KubeCompassError as exc:
            result.update(failed=True, msg=str(exc), category=exc.category)
        result["changed"] = False
        return result
