#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rancher_secrets_encrypt
short_description: Enable or rotate RKE2/k3s secrets encryption with the distribution's own secrets-encrypt tool
version_added: 0.1.0
description:
  - Runs on one RKE2 or k3s server node (as root), the one from which every C(secrets-encrypt) command of the
    cluster is run. Reads C(<binary> secrets-encrypt status), decides the next step toward O(goal) and runs the
    steps that need no restart of other servers, waiting (polling the status) while the server re-encrypts
    Secrets until the stage is C(reencrypt_finished).
  - It never restarts a server. When the procedure needs the servers restarted one at a time (hashes differ
    between servers, after C(enable), after the classic C(prepare) and C(rotate) steps) it stops and returns
    RV(next_actions) for the playbook, which restarts the servers one at a time (play keyword C(serial) set
    to 1) and runs this module again.
  - Releases with C(rotate-keys) (RKE2 v1.28.1+, k3s v1.28.1+; GA in RKE2 v1.29 and k3s v1.30.5/v1.31.1) rotate
    in one command. Older releases use the classic C(prepare), C(rotate), C(reencrypt) steps, each followed by
    restarts; a classic rotation found half done is rolled forward, never back.
  - k3s clusters installed without C(secrets-encryption) can enable it only from the releases with k3s PR 13370
    (1.36 and later; backported to the 1.32 to 1.35 lines in the January 2026 releases, whose patch numbers this
    module does not know, so on those lines set O(k3s_enable_existing)). The flow is C(secrets-encrypt enable),
    C(secrets-encryption) set to C(true) in every server's config (see
    O(kubecompass.readiness.rancher_apiserver_config#module:settings)) with restarts, then C(rotate-keys).
  - In check mode it runs only read-only commands (C(status), and C(--version) unless O(version) is given) and
    returns the plan.
  - Key material is never read or returned; the status output names keys but never prints them.
author:
  - KubeCompass contributors (@kubecompass)
options:
  distribution:
    description: The distribution of the node.
    type: str
    required: true
    choices: [rke2, k3s]
  goal:
    description:
      - V(enabled) - Secrets are encrypted, no rotation is in progress and every server runs the same
        configuration.
      - V(rotated) - the same, and the active key was made by a rotation (its name carries a time), not older
        than O(max_key_age_days) when that is set. A key generated at install is rotated.
    type: str
    default: enabled
    choices: [enabled, rotated]
  binary:
    description:
      - The C(rke2) or C(k3s) executable. A bare name is looked up in C(PATH), C(/usr/local/bin),
        C(/opt/rke2/bin) and C(/usr/bin). Defaults to the distribution's name.
    type: path
  version:
    description:
      - The release, for example C(v1.31.1+rke2r1). When omitted, C(<binary> --version) is read.
    type: str
  max_key_age_days:
    description: For O(goal=rotated), the oldest active key accepted, in days. Omitted, any rotated key is accepted.
    type: int
  k3s_enable_existing:
    description:
      - k3s only. V(true) states that this release can enable secrets encryption on a running cluster (k3s PR
        13370, checked in the release notes); V(false) forbids C(secrets-encrypt enable). Omitted, the module
        decides from the version and refuses on the 1.32 to 1.35 lines, where only some patch releases have it.
    type: bool
  timeout:
    description: Seconds to wait for a re-encryption to finish (about 5 Secrets per second).
    type: int
    default: 600
  poll_interval:
    description: Seconds between two status reads while waiting.
    type: int
    default: 5
  node_name:
    description: Name of this node in messages (normally C(inventory_hostname)); defaults to the host name.
    type: str
notes:
  - Take an etcd (or datastore) snapshot before a rotation; RKE2 and k3s snapshots include the encryption
    configuration.
  - When the plan is blocked (nothing can be run safely) the module fails outside check mode and returns the
    reason in check mode.
seealso:
  - module: kubecompass.readiness.rancher_apiserver_config
extends_documentation_fragment:
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Rotate the secrets encryption key from the first server
  kubecompass.readiness.rancher_secrets_encrypt:
    distribution: rke2
    goal: rotated
    max_key_age_days: 365
  register: kubecompass_rotation
  when: inventory_hostname == groups['rke2_servers'][0]

- name: Show what the playbook must do next
  ansible.builtin.debug:
    var: kubecompass_rotation.next_actions
  when: kubecompass_rotation.next_actions | default([]) | length > 0
"""

RETURN = r"""
changed:
  description: Whether a secrets-encrypt command that changes state was (or in check mode would be) run.
  returned: always
  type: bool
at_goal:
  description: Whether the goal is reached on this cluster as this server sees it.
  returned: always
  type: bool
  sample: false
status:
  description: The last parsed C(secrets-encrypt status) (no key material).
  returned: always
  type: dict
  sample:
    enabled: true
    config_found: true
    stage: reencrypt_finished
    hashes_match: false
    hash_error: hash does not match between cp-1 and cp-2
    active_key_type: AES-CBC
    active_key_name: aescbckey-2026-03-02T10:04:11Z
    keys: [{type: AES-CBC, name: aescbckey-2026-03-02T10:04:11Z, active: true}]
version:
  description: The release the plan was made for.
  returned: always
  type: str
  sample: v1.31.1
plans:
  description: Each decision made, in order, with C(state) (done, run, wait, restart, blocked), C(command),
    C(reason), C(restart_after), C(next_actions) and C(notes).
  returned: always
  type: list
  elements: dict
commands:
  description: The secrets-encrypt commands run on this server.
  returned: always
  type: list
  elements: str
  sample: ["secrets-encrypt rotate-keys"]
next_actions:
  description: What the playbook must do before running this module again (restarts, config), empty at the goal.
  returned: always
  type: list
  elements: str
  sample:
    - restart rke2-server on this server and wait until it is ready
    - then restart rke2-server on the other servers one at a time (serial 1), each only after the previous one is
      ready
    - then run this module again
notes:
  description: Caveats of the release or procedure.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import (
    rancher_secrets,
    rollout,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import RANCHER

BIN_DIRS = ["/usr/local/bin", "/opt/rke2/bin", "/usr/bin"]
MAX_STEPS = 8


def _last_line(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def find_binary(module, distribution, binary):
    name = binary or distribution
    if "/" in name:
        if not os.access(name, os.X_OK):
            raise KubeCompassError("%s is not an executable file" % name, "node")
        return name
    path = module.get_bin_path(name, required=False, opt_dirs=BIN_DIRS)
    if not path:
        raise KubeCompassError("cannot find the %s executable in PATH or %s" % (name, ", ".join(BIN_DIRS)), "node")
    return path


def read_version(module, binary, given):
    text = given
    if not text:
        rc, out, err = module.run_command([binary, "--version"])
        if rc != 0:
            raise KubeCompassError("%s --version failed (rc %d): %s" % (binary, rc, _last_line(err or out)), "node")
        text = out
    version = rancher_secrets.parse_version(text)
    if version is None:
        raise KubeCompassError("cannot read a release such as v1.31.1+rke2r1 from %r" % _last_line(text), "input")
    return version


def read_status(module, binary):
    rc, out, err = module.run_command([binary, "secrets-encrypt", "status"])
    if rc != 0:
        raise KubeCompassError("secrets-encrypt status failed (rc %d): %s" % (rc, _last_line(err or out)), "node")
    try:
        return rancher_secrets.parse_status(out)
    except ValueError as exc:
        raise KubeCompassError("cannot read the secrets-encrypt status: %s" % exc, "node") from None


def wait_settled(module, binary, status, params):
    """Poll the status until no re-encryption runs; the status then, or a timeout error."""
    last = {"status": status, "error": None}

    def settled():
        try:
            last["status"] = read_status(module, binary)
        except KubeCompassError as exc:
            last["error"] = str(exc)
            return False
        return last["status"]["stage"] not in rancher_secrets.TRANSIENT_STAGES

    if rollout.wait_until(settled, params["timeout"], interval=params["poll_interval"]):
        return last["status"]
    raise KubeCompassError(
        "Secrets are still being re-encrypted (stage %s) after %ss%s; the server goes on by itself: run this "
        "module again later" % (last["status"]["stage"], params["timeout"],
                                " (last status error: %s)" % last["error"] if last["error"] else ""), "timeout")


def run_step(module, binary, plan, params):
    """Run one secrets-encrypt command; a command that fails while the server re-encrypts anyway (rotate-keys
    waits at most 70s for the re-encryption) counts as started."""
    rc, out, err = module.run_command([binary] + plan["command"])
    status = read_status(module, binary)
    if rc != 0 and status["stage"] not in rancher_secrets.TRANSIENT_STAGES:
        raise KubeCompassError("%s failed (rc %d): %s" % (" ".join(plan["command"]), rc, _last_line(err or out)),
                               "command")
    if status["stage"] in rancher_secrets.TRANSIENT_STAGES:
        status = wait_settled(module, binary, status, params)
    return status


def converge(module, params):
    """Plan and run steps until the goal, a needed restart or a block. Returns the result keys."""
    distribution = params["distribution"]
    binary = find_binary(module, distribution, params["binary"])
    version = read_version(module, binary, params["version"])
    status = read_status(module, binary)
    plans, commands, next_actions, notes = [], [], [], []
    for _step in range(MAX_STEPS):
        plan = rancher_secrets.plan_next(status, params["goal"], distribution, version,
                                         enable_existing=params["k3s_enable_existing"],
                                         max_key_age_days=params["max_key_age_days"])
        plans.append(plan)
        notes.extend(note for note in plan["notes"] if note not in notes)
        if plan["state"] == "done":
            break
        if plan["state"] == "blocked":
            if not module.check_mode:
                raise KubeCompassError(plan["reason"], "blocked")
            break
        if plan["state"] == "restart":
            next_actions = plan["next_actions"]
            break
        if module.check_mode:
            next_actions = plan["next_actions"]
            break
        if plan["state"] == "wait":
            status = wait_settled(module, binary, status, params)
            continue
        if commands and commands[-1] == " ".join(plan["command"]):
            raise KubeCompassError("%s left the stage at %s; not running it twice" % (commands[-1], status["stage"]),
                                   "command")
        commands.append(" ".join(plan["command"]))
        status = run_step(module, binary, plan, params)
        if plan["restart_after"]:
            next_actions = plan["next_actions"]
            break
    last = plans[-1]
    return {"changed": bool(commands) or (module.check_mode and last["state"] == "run"),
            "at_goal": last["state"] == "done", "status": status,
            "version": rancher_secrets.format_version(version), "plans": plans, "commands": commands,
            "next_actions": next_actions, "notes": notes}


def main():
    module = AnsibleModule(
        argument_spec={
            "distribution": {"type": "str", "required": True, "choices": list(RANCHER)},
            "goal": {"type": "str", "default": "enabled", "choices": ["enabled", "rotated"]},
            "binary": {"type": "path"},
            "version": {"type": "str"},
            "max_key_age_days": {"type": "int", "no_log": False},
            "k3s_enable_existing": {"type": "bool"},
            "timeout": {"type": "int", "default": 600},
            "poll_interval": {"type": "int", "default": 5},
            "node_name": {"type": "str"},
        },
        supports_check_mode=True,
    )
    node = module.params["node_name"] or os.uname()[1]
    try:
        for name in ("timeout", "poll_interval"):
            if module.params[name] < 1:
                raise KubeCompassError("%s must be 1 or more, got %d" % (name, module.params[name]), "input")
        if module.params["max_key_age_days"] is not None and module.params["max_key_age_days"] < 0:
            raise KubeCompassError("max_key_age_days must be 0 or more", "input")
        result = converge(module, module.params)
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (node, exc), category=exc.category)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
