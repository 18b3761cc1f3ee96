# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import subprocess
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.parsing.vault import AnsibleVaultError, VaultLib, match_encrypt_secret
from ansible.plugins.action import ActionBase

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import key_escrow
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.encryption import KEYED_PROVIDERS

ARGUMENT_SPEC = {
    "cluster": {"type": "str", "required": True},
    "mode": {"type": "str", "default": "vault_file", "choices": ["vault_file", "command"]},
    "path": {"type": "path"},
    "command": {"type": "list", "elements": "str"},
    "keys": {"type": "list", "elements": "dict", "default": [], "no_log": True, "options": {
        "name": {"type": "str", "required": True},
        "provider": {"type": "str", "required": True, "choices": list(KEYED_PROVIDERS)},
        "fingerprint": {"type": "str", "required": True},
        "secret": {"type": "str", "required": True, "no_log": True},
    }},
    "rotation_target": {"type": "dict", "options": {
        "name": {"type": "str", "required": True},
        "fingerprint": {"type": "str", "required": True},
        "provider": {"type": "str"},
        "label": {"type": "str"},
    }},
    "retired_keys": {"type": "dict"},
    "read_only": {"type": "bool", "default": False},
    "escrowed": {"type": "dict"},
    "node_records": {"type": "dict", "default": {}},
    "command_timeout": {"type": "int", "default": 60},
}


def write_atomically(path, data):
    """``data`` to ``path`` as 0600 through a same-directory temporary file, fsynced, then renamed: a crash leaves
    the old file or the new one, never half of either."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".escrow-", dir=directory)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def escrow(args, secrets, check_mode=False):
    """The task's result for validated ``args`` and the play's vault ``secrets``; raises EscrowError."""
    for storage, ids in (args["retired_keys"] or {}).items():
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise key_escrow.EscrowError("retired_keys[%s] must be a list of snapshot ids" % storage)
    nodes = {node: key_escrow.node_record(node, slurped) for node, slurped in sorted(args["node_records"].items())}
    if args["mode"] == "command":
        return _command(args, nodes, check_mode)
    return _vault_file(args, nodes, secrets, check_mode)


def _vault_file(args, nodes, secrets, check_mode):
    if not args["path"]:
        raise key_escrow.EscrowError("vault_file needs a path")
    if not secrets:
        raise key_escrow.EscrowError("vault_file needs a vault password (--vault-id, --vault-password-file or "
                                     "ANSIBLE_VAULT_PASSWORD_FILE); nothing was written to any node")
    path, vault = args["path"], VaultLib(secrets)
    text = None
    if os.path.exists(path):
        try:
            with open(path, "rb") as stream:
                text = to_text(vault.decrypt(stream.read()))
        except (OSError, AnsibleVaultError) as exc:
            raise key_escrow.EscrowError("cannot read %s: %s" % (
                path, getattr(exc, "strerror", None) or "not decryptable with the play's vault secrets")) from None
    record = key_escrow.load(text, args["cluster"])
    if args["read_only"]:
        # The vault file is read back: its rotation target is the one; the nodes' records add retired keys.
        return dict(changed=False, escrow=key_escrow.combined(key_escrow.public(record), nodes, False), path=path)
    merged, added = key_escrow.merge(record, args["keys"], args["rotation_target"], args["retired_keys"])
    changed = key_escrow.dump(merged) != key_escrow.dump(record)
    if changed and not check_mode:
        vault_id, secret = match_encrypt_secret(secrets)
        try:
            write_atomically(path, vault.encrypt(to_bytes(key_escrow.dump(merged)), secret=secret, vault_id=vault_id))
        except OSError as exc:
            raise key_escrow.EscrowError("cannot write %s: %s; nothing was written to any node" % (
                path, exc.strerror or exc)) from None
    return dict(changed=changed, added=added, escrow=key_escrow.public(merged), path=path)


def _command(args, nodes, check_mode):
    if not args["command"]:
        raise key_escrow.EscrowError("command mode needs a command (a list: program and arguments)")
    escrowed = key_escrow.checked_public(args["escrowed"])
    base = key_escrow.from_public(args["cluster"], escrowed)
    if args["read_only"]:
        return dict(changed=False, escrow=key_escrow.combined(key_escrow.accumulated(base, escrowed), nodes, True))
    merged, added = key_escrow.merge(key_escrow.empty(args["cluster"]), args["keys"],
                                     args["rotation_target"] or base["rotation_target"],
                                     base["retired_keys"] if args["retired_keys"] is None else args["retired_keys"])
    shown = key_escrow.accumulated(merged, escrowed)
    # What the command received cannot be read back: the nodes' record (escrowed) says what it already holds.
    if escrowed is not None and key_escrow.covered(merged, escrowed):
        return dict(changed=False, added=[], escrow=shown)
    added = [storage for storage in added
             if ((escrowed or {}).get("keys") or {}).get(storage, {}).get("fingerprint")
             != merged["keys"][storage]["fingerprint"]]
    if check_mode:
        return dict(changed=True, added=added, escrow=shown)
    try:
        completed = subprocess.run(args["command"], input=to_bytes(key_escrow.dump(merged)), capture_output=True,
                                   timeout=args["command_timeout"], check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise key_escrow.EscrowError("the escrow command %s did not run: %s; nothing was written to any node" % (
            args["command"][0], getattr(exc, "strerror", None) or type(exc).__name__)) from None
    if completed.returncode != 0:
        raise key_escrow.EscrowError("the escrow command %s exited %d; nothing was written to any node" % (
            args["command"][0], completed.returncode))
    return dict(changed=True, added=added, escrow=shown)


def validated(raw):
    """The task's arguments checked against ARGUMENT_SPEC; AnsibleActionFail names every problem."""
    checked = ArgumentSpecValidator(ARGUMENT_SPEC).validate(raw)
    if checked.error_messages:
        raise AnsibleActionFail("encryption_key_escrow: %s" % "; ".join(checked.error_messages))
    return checked.validated_parameters


class ActionModule(ActionBase):
    """Runs on the controller. Escrows keys before their first use: into an Ansible-Vault-encrypted file (the play's
    vault secret) or through a user-named command receiving the record as JSON on stdin. Never removes a key."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        secrets = self._loader._vault.secrets if getattr(self._loader, "_vault", None) else []
        try:
            result.update(escrow(validated(self._task.args), secrets or [], self._task.check_mode))
        except KubeCompassError as exc:
            result.update(failed=True, changed=False, msg=str(exc), category=exc.category)
        return result
