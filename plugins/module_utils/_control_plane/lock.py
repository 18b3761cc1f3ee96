# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""A cluster-wide lock held in a coordination.k8s.io/v1 Lease, so that two remediation runs (two AWX jobs, two
operators) never change one control plane at the same time.

The Lease is used the way client-go leader election uses one: ``spec.holderIdentity`` names the run, and a
foreign holder's lease counts as abandoned only once *this run* has seen the same record (``resourceVersion``)
unchanged for the lease's full ``leaseDurationSeconds``, timed on this run's monotonic clock. The holder's
``renewTime`` is written (RFC 3339 MicroTime, UTC) for people and tools, but never compared with the local clock:
time is not trusted across machines, so a controller whose clock runs ahead cannot take a live lock. Every write
carries the ``resourceVersion`` it was decided on, so two runs racing for an abandoned lock cannot both win.

``decide``, ``observe`` and the ``*_body`` functions are pure; ``acquire``, ``release`` and ``Renewal`` take a
client with ``request``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import os
import re
import time
from datetime import datetime, timedelta, timezone

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

DEFAULT_NAME = "kubecompass-remediation"
DEFAULT_NAMESPACE = "kube-system"
DEFAULT_DURATION = 1800
API_VERSION = "coordination.k8s.io/v1"
PURPOSE_ANNOTATION = "kubecompass.io/purpose"
# "<host>:<boot id>:<PID namespace inode>:<pid>:<start ticks>" of the ansible-playbook process holding the lock: a run
# killed on this controller leaves its lock behind, and a rerun in the same kernel boot and PID namespace can tell
# that the holder's process is gone. The host name is for people only: containers share host names.
RUN_ANNOTATION = "kubecompass.io/run"
# How often a waiting run reads the Lease again (seconds): a released lock is seen this quickly.
POLL_SECONDS = 10
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubecompass.readiness"}

CREATE = "create"
RENEW = "renew"
TAKE_OVER = "take_over"
HELD = "held"

_MICROTIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


# -- time ----------------------------------------------------------------------------------------------------------

def format_time(moment):
    """A timezone-aware datetime as Kubernetes MicroTime: 2026-11-22T05:00:00.000000Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text):
    """An RFC 3339 time (MicroTime or Time) as an aware datetime in UTC; None when absent or malformed."""
    match = _MICROTIME.match(text) if isinstance(text, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          int((fraction or "0")[:6].ljust(6, "0")), tzinfo=timezone.utc)
    except ValueError:
        return None
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment


# -- decisions -----------------------------------------------------------------------------------------------------

def lease_holder(lease):
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


def lease_purpose(lease):
    return (((lease or {}).get("metadata") or {}).get("annotations") or {}).get(PURPOSE_ANNOTATION)


def lease_seconds(lease):
    """The lease's leaseDurationSeconds: how long its holder promised to renew within. None when it is not a
    positive integer (such a lease never expires by itself)."""
    duration = ((lease or {}).get("spec") or {}).get("leaseDurationSeconds")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        return None
    return duration


def observe(seen, lease, moment):
    """What this run has seen of the Lease, after reading ``lease`` at ``moment`` (this run's monotonic clock):
    (record, since) where record identifies the Lease's current state (resourceVersion, holder, renewTime) and
    since is when this run first saw it. Any write to the Lease (a renewal) is a new record."""
    metadata, spec = (lease or {}).get("metadata") or {}, (lease or {}).get("spec") or {}
    record = (metadata.get("resourceVersion"), spec.get("holderIdentity"), spec.get("renewTime"))
    if seen is not None and seen[0] == record:
        return seen
    return record, moment


def lease_run(lease):
    return (((lease or {}).get("metadata") or {}).get("annotations") or {}).get(RUN_ANNOTATION)


def decide(lease, holder, duration, run_ended=None, observed_for=0):
    """What acquiring the lock means for ``holder``: (action, left).

    - no Lease: ``create``.
    - held by ``holder``: ``renew``.
    - no holder; another holder whose run is known to have ended (``run_ended``); or another holder whose Lease
      this run has seen unchanged for ``observed_for`` seconds, at least its leaseDurationSeconds: ``take_over``.
    - otherwise ``held``.

    ``left`` is None, except for ``held``: the seconds the Lease must stay unchanged before it may be taken over
    (None when it has no valid leaseDurationSeconds: such a lock never expires by itself and must be deleted by
    hand once no run is active).
    """
    if not holder or not isinstance(holder, str):
        raise ValueError("a lock holder identity is required")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        raise ValueError("the lock duration must be a positive number of seconds, not %r" % (duration,))
    if lease is None:
        return CREATE, None
    current = lease_holder(lease)
    if current == holder:
        return RENEW, None
    if current is None:
        return TAKE_OVER, None
    if run_ended is not None and lease_run(lease) and run_ended(lease_run(lease)):
        return TAKE_OVER, None
    promised = lease_seconds(lease)
    if promised is None:
        return HELD, None
    if observed_for >= promised:
        return TAKE_OVER, None
    return HELD, promised - observed_for


def held_message(lease, observed_for=0):
    """Why the lock cannot be taken, naming the holder, the purpose and how long this run saw it unrenewed."""
    metadata = lease.get("metadata") or {}
    where = "%s/%s" % (metadata.get("namespace"), metadata.get("name"))
    purpose = lease_purpose(lease)
    promised = lease_seconds(lease)
    text = "lock %s is held by %s" % (where, lease_holder(lease))
    if purpose:
        text += " (purpose: %s)" % purpose
    if promised is None:
        return text + (" and its Lease has no valid leaseDurationSeconds, so it never expires; if no run is active, "
                       "delete it: kubectl -n %s delete lease %s" % (metadata.get("namespace"), metadata.get("name")))
    return text + (": this run saw its Lease unrenewed for %ds of %ds, after which an abandoned lock is taken over "
                   "(wait_seconds lets a run wait that long); another remediation run is changing this control plane"
                   % (int(observed_for), promised))


# -- the controller run ----------------------------------------------------------------------------------------------

def _proc_stat(proc, pid):
    """(command name, parent pid, start ticks) of a process from /proc/<pid>/stat, or None."""
    try:
        with open(os.path.join(proc, str(pid), "stat")) as handle:
            text = handle.read()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, int(fields[1]), fields[19]


def run_context(proc="/proc"):
    """(boot id, PID namespace inode) of this process: with a pid, they name one process on one machine, where
    a host name does not (containers share host names). (None, None) when /proc does not tell."""
    try:
        with open(os.path.join(proc, "sys", "kernel", "random", "boot_id")) as handle:
            boot_id = handle.read().strip() or None
        pidns = os.stat(os.path.join(proc, "self", "ns", "pid")).st_ino
    except OSError:
        return None, None
    return (boot_id, pidns) if boot_id else (None, None)


def controller_run(hostname, pid, context, proc="/proc"):
    """The RUN_ANNOTATION value for the outermost ansible-playbook process above ``pid`` (this module runs below
    it on the controller, in the same PID namespace), or None when there is none (the module runs elsewhere) or
    ``context`` (run_context()) is unknown."""
    boot_id, pidns = context
    if boot_id is None:
        return None
    found = None
    seen = 0
    while pid and pid > 1 and seen < 64:
        stat = _proc_stat(proc, pid)
        if stat is None:
            break
        try:
            with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            argv = []
        if any(os.path.basename(arg) == b"ansible-playbook" for arg in argv[:2]):
            found = "%s:%s:%d:%d:%s" % (hostname, boot_id, pidns, pid, stat[2])
        pid, seen = stat[1], seen + 1
    return found


def run_ended(run, context, proc="/proc"):
    """True only when ``run`` was recorded in this kernel boot and this PID namespace (``context``, from
    run_context()) and its process is gone (or the pid was reused); a run anywhere else is not ours to judge."""
    parts = str(run or "").rsplit(":", 4)
    if len(parts) != 5 or context[0] is None or not parts[3].isdigit():
        return False
    _host, boot_id, pidns, pid, start = parts
    if boot_id != context[0] or pidns != str(context[1]):
        return False
    stat = _proc_stat(proc, int(pid))
    return stat is None or stat[2] != start


# -- bodies --------------------------------------------------------------------------------------------------------

def _annotations(existing, purpose, run=None):
    annotations = dict(existing or {})
    annotations.pop(PURPOSE_ANNOTATION, None)
    if purpose:
        annotations[PURPOSE_ANNOTATION] = purpose
    if run:
        annotations[RUN_ANNOTATION] = run
    return annotations


def create_body(namespace, name, holder, now, duration, purpose=None, run=None):
    """A new Lease held by ``holder`` from ``now``."""
    metadata = {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)}
    annotations = _annotations(None, purpose, run)
    if annotations:
        metadata["annotations"] = annotations
    stamp = format_time(now)
    return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": metadata,
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "acquireTime": stamp,
                     "renewTime": stamp, "leaseTransitions": 0}}


def renew_body(lease, now, duration, purpose=None, run=None):
    """The Lease, still ours, renewed at ``now`` (acquireTime and leaseTransitions kept; resourceVersion kept so the
    update fails if anyone else wrote it since it was read)."""
    body = copy.deepcopy(lease)
    body["apiVersion"], body["kind"] = API_VERSION, "Lease"
    metadata = body.setdefault("metadata", {})
    annotations = _annotations(metadata.get("annotations"), purpose, run)
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    spec = body.setdefault("spec", {})
    spec["renewTime"] = format_time(now)
    spec["leaseDurationSeconds"] = duration
    if parse_time(spec.get("acquireTime")) is None:
        spec["acquireTime"] = spec["renewTime"]
    return body


def take_over_body(lease, holder, now, duration, purpose=None, run=None):
    """The expired (or holderless) Lease taken by ``holder``: new acquire and renew times, one more transition,
    the previous holder's purpose replaced. The resourceVersion read is kept: of two runs taking over the same
    expired lease, the second gets 409 Conflict."""
    body = renew_body(lease, now, duration, purpose, run)
    spec = body["spec"]
    spec["holderIdentity"] = holder
    spec["acquireTime"] = spec["renewTime"]
    transitions = spec.get("leaseTransitions")
    spec["leaseTransitions"] = (transitions if isinstance(transitions, int) and transitions >= 0 else 0) + 1
    labels = body["metadata"].get("labels") or {}
    labels.update(MANAGED_BY)
    body["metadata"]["labels"] = labels
    return body


def summary(lease):
    """The lock's state as shown in diffs: no secrets, no metadata noise."""
    if lease is None:
        return {}
    spec = lease.get("spec") or {}
    return {"holder": lease_holder(lease), "purpose": lease_purpose(lease), "acquireTime": spec.get("acquireTime"),
            "renewTime": spec.get("renewTime"), "leaseDurationSeconds": spec.get("leaseDurationSeconds"),
            "leaseTransitions": spec.get("leaseTransitions")}


def summary_text(state):
    """A summary() as text lines for a diff (empty when there is no Lease)."""
    return "".join("%s: %s\n" % (key, "" if value is None else value) for key, value in (state or {}).items())


# -- API -----------------------------------------------------------------------------------------------------------

def leases_path(namespace):
    return "/apis/%s/namespaces/%s/leases" % (API_VERSION, namespace)


def lease_path(namespace, name):
    return "%s/%s" % (leases_path(namespace), name)


def _api_error(status, body, what):
    message = body.get("message") if isinstance(body, dict) else None
    category = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, "api")
    return KubeCompassError("%s: API error %s: %s" % (what, status, message or body), category, status)


def read_lease(client, namespace, name):
    """The Lease, or None when there is none."""
    status, body, _headers = client.request("GET", lease_path(namespace, name))
    if status == 404:
        return None
    if status >= 400:
        raise _api_error(status, body, "cannot read lease %s/%s" % (namespace, name))
    return body


def _locked(lease, observed_for=0, prefix=""):
    exc = KubeCompassError(prefix + held_message(lease, observed_for), "locked")
    exc.result = {"holder": lease_holder(lease), "purpose": lease_purpose(lease),
                  "observed_seconds": int(observed_for), "lease_seconds": lease_seconds(lease)}
    return exc


def _result(changed, before, after, holder, expires, previous, **extra):
    result = {"changed": changed, "holder": holder, "expires": format_time(expires) if expires else None,
              "previous_holder": previous, "before": summary(before), "after": summary(after)}
    result.update(extra)
    return result


def _acquire_message(action, namespace, name, previous, lease, expires, observed_for):
    where = "%s/%s" % (namespace, name)
    if action == CREATE:
        return "lock %s acquired until %s" % (where, format_time(expires))
    if action == RENEW:
        return "lock %s already held by this run; renewed until %s" % (where, format_time(expires))
    if previous is None:
        return "lock %s (a Lease without holder) taken until %s" % (where, format_time(expires))
    promised = lease_seconds(lease)
    if promised is not None and observed_for >= promised:
        return "lock %s taken over from %s, whose lease this run saw unrenewed for %ds; held until %s" % (
            where, previous, int(observed_for), format_time(expires))
    return "lock %s taken over from %s, whose run (%s) has ended on this controller; held until %s" % (
        where, previous, lease_run(lease), format_time(expires))


def _observe_until_free(client, namespace, name, holder, duration, run_ended, wait, monotonic, sleep):
    """Read the Lease until this run may act on it: (lease, action, observed_for). A foreign lease is read again
    every POLL_SECONDS for up to ``wait`` seconds; the observation (the record and since when it is unchanged)
    lasts across those reads. Raises ``locked`` when the wait is over."""
    deadline = monotonic() + wait
    seen = None
    while True:
        lease = read_lease(client, namespace, name)
        moment = monotonic()
        seen = observe(seen, lease, moment)
        observed_for = moment - seen[1]
        action, left = decide(lease, holder, duration, run_ended, observed_for)
        if action != HELD:
            return lease, action, observed_for
        remaining = deadline - moment
        if remaining <= 0:
            raise _locked(lease, observed_for)
        sleep(min(POLL_SECONDS, remaining, left) if left is not None else min(POLL_SECONDS, remaining))


def acquire(client, namespace, name, holder, duration, purpose=None, check_mode=False, clock=None, run=None,
            run_ended=None, wait=0, monotonic=time.monotonic, sleep=time.sleep):
    """Take or renew the lock for ``holder``; raise KubeCompassError(category "locked") when another run holds it.

    ``run`` is recorded on the Lease (RUN_ANNOTATION); ``run_ended(run)`` says whether the run recorded on a
    foreign Lease is known to have ended, which lets this run take the lock over at once. Otherwise a foreign
    lease is taken over only after this run saw it unrenewed for its leaseDurationSeconds, waiting (reading it
    again, ``sleep``) for at most ``wait`` seconds of ``monotonic``. ``clock`` (wall clock) only dates what this
    run writes.

    Returns the module result: changed (a create or take over; a renew is not a change), acquired, renewed,
    holder, expires, previous_holder, action, and before/after summaries of the Lease for diffs. In check mode
    only reads are made, and the result says what a real run would do.
    """
    clock = clock or (lambda: datetime.now(timezone.utc))
    for attempt in (1, 2):
        lease, action, observed_for = _observe_until_free(client, namespace, name, holder, duration, run_ended,
                                                          wait if attempt == 1 else 0, monotonic, sleep)
        now = clock()
        expires = now + timedelta(seconds=duration)
        previous = lease_holder(lease)
        if action == CREATE:
            body = create_body(namespace, name, holder, now, duration, purpose, run)
        elif action == RENEW:
            body = renew_body(lease, now, duration, purpose, run)
        else:
            body = take_over_body(lease, holder, now, duration, purpose, run)
        result = _result(action != RENEW, lease, body, holder, expires, previous, acquired=True,
                         renewed=action == RENEW, action=action,
                         msg=_acquire_message(action, namespace, name, previous, lease, expires, observed_for))
        if check_mode:
            result["msg"] = "check mode, nothing written: " + result["msg"]
            return result
        if action == CREATE:
            status, answer, _headers = client.request("POST", leases_path(namespace), body=body)
        else:
            status, answer, _headers = client.request("PUT", lease_path(namespace, name), body=body)
        if status < 300:
            result["after"] = summary(answer) or result["after"]
            return result
        if status == 409 and action == TAKE_OVER:
            # Another run took the abandoned lock between our read and our write: it won.
            current = read_lease(client, namespace, name)
            if current is None or lease_holder(current) == holder:
                raise KubeCompassError("another run changed lock %s/%s while this run was taking it over; run again"
                                       % (namespace, name), "locked", status)
            raise _locked(current, 0, "another run took the lock first: ")
        if status == 409 and attempt == 1:
            continue  # created by someone else meanwhile, or our renew raced: read again and decide once more
        if status == 404 and action == RENEW and attempt == 1:
            continue  # released (deleted) between our read and our renew
        raise _api_error(status, answer, "cannot %s lease %s/%s" % (action.replace("_", " "), namespace, name))
    raise KubeCompassError("lock %s/%s kept changing while this run tried to acquire it; run again"
                           % (namespace, name), "locked")


class Renewal:
    """Keeps this run's lock alive during one long task (the Secret rewrite): calling it renews the Lease the
    first time and then whenever a third of ``duration`` has passed on ``monotonic``, so that no other run sees it
    unrenewed for a full duration. A lock that is no longer this run's stops the task (``locked``)."""

    def __init__(self, client, namespace, name, holder, duration, clock=None, monotonic=time.monotonic):
        self.client, self.namespace, self.name, self.holder, self.duration = client, namespace, name, holder, duration
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.monotonic = monotonic
        self.last = None
        self.renewals = 0

    def __call__(self):
        moment = self.monotonic()
        if self.last is not None and moment - self.last < self.duration / 3:
            return
        for attempt in (1, 2):
            lease = read_lease(self.client, self.namespace, self.name)
            current = lease_holder(lease)
            if current != self.holder:
                raise KubeCompassError("this run lost the lock %s/%s during a long task (now held by %s); stopped "
                                       "before changing anything more" % (self.namespace, self.name, current or "nobody"),
                                       "locked")
            body = renew_body(lease, self.clock(), self.duration, lease_purpose(lease))
            status, answer, _headers = self.client.request("PUT", lease_path(self.namespace, self.name), body=body)
            if status < 300:
                self.last, self.renewals = moment, self.renewals + 1
                return
            if status != 409 or attempt == 2:
                raise _api_error(status, answer, "cannot renew lease %s/%s" % (self.namespace, self.name))


def release(client, namespace, name, holder, check_mode=False):
    """Delete the lock when ``holder`` holds it (preconditions uid and resourceVersion, so a lock taken over
    meanwhile is never deleted); otherwise change nothing and say who holds it."""
    for attempt in (1, 2):
        lease = read_lease(client, namespace, name)
        current = lease_holder(lease)
        if lease is None or current != holder:
            if lease is None:
                msg = "lock %s/%s is not held (no Lease)" % (namespace, name)
            elif current is None:
                msg = "lock %s/%s is not held (Lease without holder)" % (namespace, name)
            else:
                msg = "lock %s/%s is held by %s, not by %s: left as it is" % (namespace, name, current, holder)
            # Another holder's expiry is its clock's claim, not shown as a fact.
            return _result(False, lease, lease, current, None, current, released=False, msg=msg)
        result = _result(True, lease, None, None, None, current, released=True,
                         msg="lock %s/%s released by %s" % (namespace, name, holder))
        if check_mode:
            result["msg"] = "check mode, nothing written: " + result["msg"]
            return result
        metadata = lease.get("metadata") or {}
        options = {"apiVersion": "v1", "kind": "DeleteOptions",
                   "preconditions": {"uid": metadata.get("uid"), "resourceVersion": metadata.get("resourceVersion")}}
        status, answer, _headers = client.request("DELETE", lease_path(namespace, name), body=options)
        if status < 300:
            return result
        if status == 404:
            result.update(changed=False, released=False,
                          msg="lock %s/%s was deleted by someone else meanwhile" % (namespace, name))
            return result
        if status == 409 and attempt == 1:
            continue  # written since we read it (renewed by us, or taken over): read again and decide once more
        raise _api_error(status, answer, "cannot release lease %s/%s" % (namespace, name))
    raise KubeCompassError("lock %s/%s kept changing while this run tried to release it; run again"
                           % (namespace, name), "locked")
