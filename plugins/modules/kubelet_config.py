#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kubelet_config
short_description: Set audited keys of a node's KubeletConfiguration file (CIS 4.2.x)
version_added: 0.1.0
description:
  - Runs on one node (over SSH, as root). Reads the KubeletConfiguration at O(path) and sets the keys of
    O(settings) that are not already at their value. A key that is absent where the kubelet's default (with a
    config file) is already the value is left alone, so a second run changes nothing.
  - A setting the kubelet's command line sets (O(flags)) overrides the file; it is not changed and is returned in
    RV(overridden), so the caller can report the flag that has to go.
  - The file is replaced atomically, keeping its mode and owner; a backup is kept next to it. The kubelet is not
    restarted here (the caller restarts it when the module reports a change).
  - In check mode it changes nothing and returns the diff of the keys it would change, and only of those (the
    file may hold request headers).
  - A missing or unparsable file fails with a one-line message naming the path; nothing is created.
author:
  - KubeCompass contributors (@kubecompass)
requirements:
  - PyYAML on the node.
options:
  path:
    description: The KubeletConfiguration file the kubelet's C(--config) names.
    type: path
    required: true
  settings:
    description:
      - The settings and their values - C(anonymous_auth) (bool), C(authorization_mode) (str),
        C(client_ca_file) (str), C(make_iptables_util_chains) (bool), C(rotate_certificates) (bool).
    type: dict
    required: true
  flags:
    description: The kubelet's command-line flags (without C(--)), as node facts report them.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Disable anonymous access to the kubelet
  kubecompass.readiness.kubelet_config:
    path: /var/lib/kubelet/config.yaml
    settings: {anonymous_auth: false, rotate_certificates: true}
    flags: "{{ facts.kubelet.flags }}"
"""

RETURN = r"""
changes:
  description: The keys changed (or that would change in check mode), each with the old and new value.
  returned: always
  type: list
  elements: dict
  sample: [{"key": "authentication.anonymous.enabled", "old": true, "new": false}]
overridden:
  description: Keys the command line sets, with the flag's value; the file does not decide them.
  returned: always
  type: list
  elements: dict
  sample: [{"key": "rotateCertificates", "flag": "false"}]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    DocumentError,
    cause_of,
    read_document,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.kubelet import (
    BOOLEAN_SETTINGS,
    SETTINGS,
    plan_config_changes,
    shown,
)

try:
    import yaml
except ImportError:  # reported through HAS_YAML
    yaml = None


class KubeletConfigError(Exception):
    """A file or setting the module cannot work with; the message names it."""


def wanted_settings(settings):
    wanted = {}
    for name, value in (settings or {}).items():
        if name not in SETTINGS:
            raise KubeletConfigError("settings: unknown setting %s (known: %s)" % (name, ", ".join(sorted(SETTINGS))))
        if name in BOOLEAN_SETTINGS and not isinstance(value, bool):
            raise KubeletConfigError("settings: %s must be true or false, got %r" % (name, value))
        if name not in BOOLEAN_SETTINGS and not (isinstance(value, str) and value):
            raise KubeletConfigError("settings: %s must be a non-empty string" % name)
        wanted[name] = value
    return wanted


def dump(document):
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=True)


def run(module):
    path = module.params["path"]
    wanted = wanted_settings(module.params["settings"])
    try:
        exists, document = read_document("/", path)
    except (OSError, DocumentError) as exc:
        raise KubeletConfigError("kubelet config file %s: %s" % (path, cause_of(exc))) from exc
    if not exists:
        raise KubeletConfigError("kubelet config file %s does not exist; it is not created" % path)
    if not isinstance(document, dict) or document.get("kind") != "KubeletConfiguration":
        raise KubeletConfigError("kubelet config file %s is not a KubeletConfiguration" % path)
    plan = plan_config_changes(document, module.params["flags"], wanted)
    result = {
        "changed": bool(plan["changes"]),
        "changes": [{"key": key, "old": old, "new": new} for key, old, new in plan["changes"]],
        "overridden": [{"key": key, "flag": flag} for key, flag in plan["overridden"]],
    }
    if plan["changes"]:
        # Only the audited keys: the rest of the file may hold request headers (staticPodURLHeader).
        result["diff"] = {"before_header": path, "after_header": path,
                          "before": "".join("%s: %s\n" % (key, "(unset)" if old is None else shown(old))
                                            for key, old, _new in plan["changes"]),
                          "after": "".join("%s: %s\n" % (key, shown(new)) for key, _old, new in plan["changes"])}
    if plan["changes"] and not module.check_mode:
        module.backup_local(path)
        handle, temporary = tempfile.mkstemp(prefix=".kubecompass-", dir=os.path.dirname(path))
        try:
            with os.fdopen(handle, "w") as out:
                out.write(dump(plan["document"]))
            module.atomic_move(temporary, path)  # keeps the destination's mode and owner
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "settings": {"type": "dict", "required": True},
            "flags": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    try:
        module.exit_json(**run(module))
    except KubeletConfigError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="kubelet config file %s: %s" % (module.params["path"], cause_of(exc)))


if __name__ == "__main__":
    main()
