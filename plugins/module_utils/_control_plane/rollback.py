# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The one node-changing loop: health gate, backup and marker, write, restart, wait for the change to be
effective, and on any failure restore the backup, restart again and wait for health.

A NodeChange says how one kind of node change is written, restarted and judged (a kubeadm static pod: kubelet
restarts the pod when its manifest changes; an RKE2/k3s drop-in: the service is restarted); apply_with_rollback
runs it. The marker (pending.begin) stays on disk while the node may hold a half-made change, so a killed run is
recovered by the next one.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import time

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import pending, rollout
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError


class NodeChange:
    """One change of one node. Subclasses write the change and judge it; the defaults suit a change kubelet
    restarts by itself (no restart command, nothing to undo beyond the restored files)."""

    restart_command = None  # argv run after the write, or None when writing is the restart (a static pod manifest)
    expects_new_process = True  # the change is effective only once a new API server process runs it
    subject = "the API server"  # what restarts, as messages name it

    def __init__(self, backup_root, backup_dir, marker, endpoint, healthy, timeout):
        self.backup_root, self.backup_dir, self.marker = backup_root, backup_dir, marker
        self.endpoint, self.healthy, self.timeout = endpoint, healthy, timeout

    def begin(self, written, secrets, expect):
        """Back up the files the change writes and leave the marker; the pending record."""
        return pending.begin(self.backup_root, self.backup_dir, self.marker, written, secrets, expect)

    def finish(self, record):
        pending.finish(self.backup_root, self.marker, record)

    def backup_label(self, record):
        """The backup directory as the result and the messages name it."""
        return record["backup"]

    def write(self):
        """Write the change; True when the node must restart (and converge) to run it."""
        raise NotImplementedError

    def restart(self):
        """(exit code, last line of output) of restart_command."""
        raise NotImplementedError

    def converged(self):
        """The node runs the change and answers healthy."""
        return self.healthy()

    def undo(self):
        """After the backup is restored: remove what write() created besides files (directories)."""

    def failure(self, reason, record, restarted, recovered):
        """The error of a rolled-back change. ``restarted`` is (rc, detail) of the restart after the restore or
        None; ``recovered`` whether the API server answered healthy again, None when nothing had restarted."""
        raise NotImplementedError


class _Stopped(Exception):
    """An OSError stopped the change at ``step``; ``restored`` whether the backup had been restored by then."""

    def __init__(self, step, error, restored):
        super(_Stopped, self).__init__(step)
        self.step, self.error, self.restored = step, error, restored


def _step(step, restored, function, *args):
    try:
        return function(*args)
    except OSError as exc:
        raise _Stopped(step, exc, restored) from None


def _probe(change):
    return "the health probe of %s at %s" % (change.subject, change.endpoint)


def _roll_back(change, record, reason, written):
    """Restore the backup, restart again, wait for health; the error to raise. An OSError on the way raises
    _Stopped: the marker and the backup stay for the next run."""
    _step("restoring the backup", False, pending.restore, record)
    _step("cleaning up after the restore", True, change.undo)
    restarted = _step("restarting after the restore", True, change.restart) if change.restart_command else None
    # Health is awaited once something restarted: our restart, or kubelet after a written manifest.
    recovered = _step(_probe(change), True, rollout.wait_until, change.healthy, change.timeout) \
        if restarted or written else None
    return change.failure(reason, record, restarted, recovered)


def _write_restart_wait(change, record):
    try:
        must_restart = change.write()
    except OSError as exc:
        raise _roll_back(change, record, "writing the change failed (%s)" % (exc.strerror or exc), False) from None
    if not must_restart:
        return {"backup": change.backup_label(record)}
    started = time.monotonic()
    if change.restart_command:
        rc, detail = _step("restarting %s" % change.subject, False, change.restart)
        if rc != 0:
            raise _roll_back(change, record, "%s exited %d (%s)" % (" ".join(change.restart_command), rc, detail),
                             True)
    if _step(_probe(change), False, rollout.wait_until, change.converged, change.timeout):
        return {"backup": change.backup_label(record), "restart_seconds": round(time.monotonic() - started, 1)}
    raise _roll_back(change, record, "%s did not come back healthy%s within %ss" % (
        change.subject, " with the new flags" if change.expects_new_process else "", change.timeout), True)


def apply_with_rollback(change, written, secrets=(), expect=None):
    """Apply ``change`` to a healthy node: back up the files of ``written`` ({path: digest of the new content}),
    write, restart, wait until the change is effective; on failure restore and raise the change's failure.
    Returns result keys (backup, restart_seconds when the node restarted)."""
    if not change.healthy():
        raise KubeCompassError("%s at %s is not healthy before the change; refusing to touch this node"
                               % (change.subject, change.endpoint), "node")
    record = change.begin(written, secrets, expect)
    try:
        result = _write_restart_wait(change, record)
    except _Stopped as stop:
        # The marker and the backup stay: the next run restores them first.
        error = stop.error.strerror or stop.error
        if stop.step == "restoring the backup":
            message = "restoring the backup %s failed (%s); the next run restores it first" % (record["backup"], error)
        elif stop.restored:
            message = "the backup %s was restored, then %s failed (%s); the next run restores it again first" % (
                record["backup"], stop.step, error)
        else:
            message = "%s failed (%s) before any restore was attempted; the next run restores %s first" % (
                stop.step, error, record["backup"])
        raise KubeCompassError(message, "node") from None
    except OSError as exc:
        raise KubeCompassError("the change stopped (%s); the next run restores the backup %s first"
                               % (exc.strerror or exc, record["backup"]), "node") from None
    except KubeCompassError:
        change.finish(record)  # rolled back: the node runs the backup again
        raise
    change.finish(record)
    return result
