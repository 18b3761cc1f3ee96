# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The record of a change in flight on one node, so a run killed half-way is recovered by the next one.

Before the first file changes, the files a change replaces are copied into a new backup directory and a *marker*
``<backup root>/pending-<name>.json`` is written atomically. It names the backup, the copies, the files that did
not exist (deleted on restore), the digest of every file as the change writes it, the key files among them, and
what the node must show once the change is effective (the caller's ``expect``). The marker goes away only when the
node is in a known state: the running process is proven to carry the change, or the backup is restored. Backups
of key files live exactly as long as the marker: a retired key must not outlive its change on the node.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import shutil

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import rollout
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

_KEYS = ("backup", "copies", "secrets", "created", "written")


def marker_path(backup_root, name):
    return os.path.join(backup_root, "pending-%s.json" % name)


def digest(data):
    """SHA-256 of bytes (None stays None: the change deletes that file)."""
    return None if data is None else hashlib.sha256(data).hexdigest()


def _current_digest(path):
    try:
        with open(path, "rb") as handle:
            return digest(handle.read())
    except FileNotFoundError:
        return None


def _errno_text(exc):
    code = exc.errno
    name = errno.errorcode.get(code, "") if code else ""
    return "errno %s %s (%s)" % (code, name, exc.strerror or exc) if code else str(exc)


def begin(backup_root, backup_dir, name, written, secrets=(), expect=None):
    """Back up every path of ``written`` ({path: digest of the new content, None when the change deletes it})
    into a new directory under ``backup_root`` and record the change in its marker. Returns the record.

    A failure (a full disk) removes this run's partial backup, key copies included, leaves no marker and raises
    one line naming ``backup_dir`` (as the user gave it) and the errno: nothing on the node changed yet."""
    backup = None
    try:
        os.makedirs(backup_root, mode=0o700, exist_ok=True)
        backup, copies = rollout.backup_files(list(written), backup_root)
        record = {"backup": backup, "copies": copies, "secrets": [path for path in secrets if path in copies],
                  "created": [path for path in written if path not in copies], "written": dict(written),
                  "expect": expect}
        rollout.atomic_write(marker_path(backup_root, name), json.dumps(record, sort_keys=True).encode(), 0o600)
    except OSError as exc:
        if backup:
            shutil.rmtree(backup, ignore_errors=True)
        raise KubeCompassError("cannot back up the change in backup_dir %s: %s; nothing was changed and the partial "
                               "backup was removed" % (backup_dir, _errno_text(exc)), "node") from None
    return record


def read(backup_root, name, backup_dir=None):
    """The record a killed run left (None when there is none). A marker that cannot be read or does not hold a
    record stops the run: what was changed is unknown, and guessing could restore the wrong files. Messages name
    ``backup_dir`` (the directory as the user gave it) when given."""
    path = marker_path(backup_root, name)
    shown = backup_dir or backup_root
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        cause = _errno_text(exc)
    else:
        try:
            record = json.loads(text.decode("utf-8"))
            if isinstance(record, dict) and all(key in record for key in _KEYS[:4]):
                record.setdefault("written", None)  # a marker of an older version: what it wrote is unknown
                record.setdefault("expect", None)
                return record
            cause = "it holds no change record"
        except ValueError as exc:
            cause = "it is not JSON (%s)" % exc
    raise KubeCompassError("the marker %s of an interrupted run cannot be read (%s): interrupted change of unknown "
                           "content: inspect %s" % (marker_path(shown, name), cause, shown), "node")


def fully_written(record):
    """True when every file is as the change writes it (the run was killed after its last write)."""
    written = record.get("written")
    return bool(written) and all(_current_digest(path) == value for path, value in written.items())


def restore(record):
    """Put every file back as the backup has it; remove the files the change created. Files already equal to
    their backup are not rewritten (kubelet would see a new file)."""
    for target, copy in sorted(record["copies"].items()):
        with open(copy, "rb") as handle:
            data = handle.read()
        if _current_digest(target) != digest(data):
            rollout.atomic_write(target, data)
    for target in record["created"]:
        if os.path.lexists(target):
            os.unlink(target)


def forget_secret_copies(copies, secret_paths):
    """Backups of key files are removed once they cannot be needed for a rollback: a retired key must not
    outlive its change on the node."""
    for target in secret_paths:
        copy = copies.get(target)
        if copy and os.path.exists(copy):
            os.unlink(copy)


def finish(backup_root, name, record):
    """The node is in a known state (change proven or backup restored): drop the key copies, then the marker."""
    forget_secret_copies(record["copies"], record.get("secrets") or [])
    path = marker_path(backup_root, name)
    if os.path.exists(path):
        os.unlink(path)
