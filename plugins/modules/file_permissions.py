#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: file_permissions
short_description: Bring a node's audited control-plane files within their CIS mode and owner, in one pass
version_added: 0.1.0
description:
  - Runs on one node (over SSH, as root). For each rule, every existing file the node facts list under the rule's
    target (O(file_modes), the C(file_modes) fact of M(kubecompass.readiness.node_facts)) is judged as the checks
    judge it; a mode loses the bits outside the rule's mask (a more restrictive mode stays), an owner becomes
    O(rules[].owner) for user and group.
  - One module run per node instead of one task per file; each file is stat'ed again before it is changed, so a
    file changed since the facts were read is judged as it is now.
  - Missing and unreadable files are not created or touched; the verification reports them unknown with their
    path. In check mode nothing changes and RV(changes) and the diff say what would.
author:
  - KubeCompass contributors (@kubecompass)
options:
  rules:
    description: The file items to fix.
    type: list
    elements: dict
    required: true
    suboptions:
      check:
        description: The check the rule fixes (reported with each change).
        type: str
        required: true
      target:
        description: The key of O(file_modes) listing the rule's files.
        type: str
        required: true
      mask:
        description: The most permissive mode allowed, as octal text (for example C("0600")).
        type: str
      owner:
        description: The user and group the files must have.
        type: str
  file_modes:
    description: The node's C(file_modes) facts (target to entries with path, exists, mode, owner, group).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Fix the manifest modes and owners on a node
  kubecompass.readiness.file_permissions:
    rules:
      - {check: KC-SEC-045, target: apiserver_manifest, mask: "0600"}
      - {check: KC-SEC-046, target: apiserver_manifest, owner: root}
    file_modes: "{{ facts.facts.file_modes }}"
"""

RETURN = r"""
changes:
  description: What changed (or would change in check mode), one entry per file and attribute.
  returned: always
  type: list
  elements: dict
  sample: [{"check": "KC-SEC-045", "path": "/etc/kubernetes/manifests/kube-apiserver.yaml", "old": "0644",
            "new": "0600"}]
"""

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.file_modes import fixes
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    cause_of,
    is_missing,
    stat_summary,
)


class FilePermissionsError(Exception):
    """A rule or file the module cannot work with; the message names it."""


def parsed_rules(rules):
    parsed = []
    for rule in rules:
        entry = {"check": rule["check"], "target": rule["target"]}
        if rule.get("mask"):
            try:
                entry["mask"] = int(rule["mask"], 8)
            except ValueError:
                raise FilePermissionsError("rules: %s mask %r is not octal" % (rule["check"], rule["mask"])) from None
        if rule.get("owner"):
            entry["owner"] = rule["owner"]
        if "mask" not in entry and "owner" not in entry:
            raise FilePermissionsError("rules: %s sets neither mask nor owner" % rule["check"])
        parsed.append(entry)
    return parsed


def current(path):
    """The path's entry as node facts record it, read now (None when it has gone)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if is_missing(exc):
            return None
        raise FilePermissionsError("%s: %s" % (path, cause_of(exc))) from exc
    summary = stat_summary(st)
    return {"path": path, "exists": True, "mode": summary["mode"], "owner": summary["owner"],
            "group": summary["group"]}


def ids_of(owner):
    try:
        return pwd.getpwnam(owner).pw_uid, grp.getgrnam(owner).gr_gid
    except KeyError:
        raise FilePermissionsError("owner %s: no such user or group on this node" % owner) from None


def run(module):
    rules = parsed_rules(module.params["rules"])
    # Judged on the files as they are now: the facts only say which paths the checks audit.
    fresh = {}
    for target, facts in (module.params["file_modes"] or {}).items():
        entries = []
        for entry in (facts or {}).get("entries") or []:
            if entry.get("exists") and not entry.get("error"):
                now = current(entry["path"])
                if now:
                    entries.append(now)
        fresh[target] = {"entries": entries}
    changes = []
    for needed in fixes(rules, fresh):
        path = needed["path"]
        new = needed.get("mode") or "%s:%s" % (needed["owner"], needed["owner"])
        changes.append({"check": needed["check"], "path": path, "old": needed["old"], "new": new})
        if module.check_mode:
            continue
        if "mode" in needed:
            os.chmod(path, int(needed["mode"], 8))
        else:
            os.chown(path, *ids_of(needed["owner"]))
    result = {"changed": bool(changes), "changes": changes}
    if changes:
        result["diff"] = {"before": "".join("%s %s\n" % (c["path"], c["old"]) for c in changes),
                          "after": "".join("%s %s\n" % (c["path"], c["new"]) for c in changes)}
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "rules": {"type": "list", "elements": "dict", "required": True, "options": {
                "check": {"type": "str", "required": True},
                "target": {"type": "str", "required": True},
                "mask": {"type": "str"},
                "owner": {"type": "str"},
            }},
            "file_modes": {"type": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except FilePermissionsError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="control-plane files: %s" % cause_of(exc))


if __name__ == "__main__":
    main()
