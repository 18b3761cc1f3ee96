# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import getpass
import json
import os
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.kubecompass.readiness.plugins.module_utils import _evidence
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane.rollout import atomic_write
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "cluster": {"type": "str", "required": True},
    "started": {"type": "float", "required": True},
    "returns": {"type": "dict", "default": {}},
    "problems": {"type": "list", "elements": "str", "default": []},
    "distribution": {"type": "str"},
    "timing": {"type": "dict", "default": {}},
}
DIRECTORY_MODE = 0o755
RECORD_MODE = 0o644


def controller_user():
    """The user running ansible-playbook; in a container without a passwd entry, its uid."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "uid %d" % os.getuid()


def write_record(dest, record):
    """Render the JSON and the Markdown, then write both atomically; a failure leaves neither behind.
    Returns {"json": path, "markdown": path}."""
    texts = {"json": json.dumps(record, indent=2, sort_keys=True) + "\n",
             "markdown": _evidence.render_markdown(record)}
    base = os.path.join(dest, _evidence.record_basename(record))
    paths = {"json": base + ".json", "markdown": base + ".md"}
    written = []
    try:
        if not os.path.isdir(dest):
            os.makedirs(dest, DIRECTORY_MODE)
        for kind in ("json", "markdown"):
            atomic_write(paths[kind], texts[kind].encode("utf-8"), RECORD_MODE)
            written.append(paths[kind])
    except OSError as exc:
        for path in written:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise KubeCompassError("cannot write the change record of %s to %s: %s" % (
            record["cluster"], dest, exc.strerror or exc), "io") from None
    return paths


class ActionModule(ActionBase):
    """Runs on the controller. The record is evidence of the run, not managed state: written in check mode too (as
    a plan), and never reported as a change."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validated.error_messages:
            raise AnsibleActionFail("%s: %s" % (self._task.action, "; ".join(validated.error_messages)))
        args = validated.validated_parameters
        try:
            record = _evidence.change_record(
                args["cluster"], args["returns"], bool(self._play_context.check_mode), args["started"],
                time.time(), _evidence.actor(task_vars or {}, controller_user()), args["distribution"],
                args["problems"], args["timing"])
            paths = write_record(args["dest"], record)
        except KubeCompassError as exc:
            result.update(failed=True, msg="%s: %s" % (args["cluster"], exc), category=exc.category)
            return result
        result.update(changed=False, kind=record["kind"], paths=paths,
                      summary=_evidence.stats_summary(record, paths))
        return result
