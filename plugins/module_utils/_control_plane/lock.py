# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""A cluster-wide lock held in a coordination.k8s.io/v1 Lease, so that two remediation runs (two AWX jobs, two
operators) never change one control plane at the same time.

The Lease is used the way client-go leader election uses one: ``spec.holderIdentity`` names the run,
``spec.renewTime`` (or ``acquireTime``) plus ``spec.leaseDurationSeconds`` is when the lock expires, and every write
carries the ``resourceVersion`` it was decided on, so two runs racing for an expired lock cannot both win. Times
are RFC 3339 MicroTime (``2026-11-22T05:00:00.000000Z``) in UTC; the hosts of the runs need roughly synchronised
clocks (NTP), as for any lease.

``decide`` and the ``*_body`` functions are pure; ``acquire`` and ``release`` take a client with ``request``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import os
import re
from datetime import datetime, timedelta, timezone

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

DEFAULT_NAME = "kubecompass-remediation"
DEFAULT_NAMESPACE = "kube-system"
DEFAULT_DURATION = 1800
API_VERSION = "coordination.k8s.io/v1"
PURPOSE_ANNOTATION = "kubecompass.io/purpose"
# "<controller host>:<pid>:<start ticks>" of the ansible-playbook process holding the lock: a run killed on this
# controller leaves its lock behind, and a rerun there can tell that the holder's process is gone.
RUN_ANNOTATION = "kubecompass.io/run"
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


def lease_expiry(lease):
    """When the lease's current holder loses it: the later of renewTime and acquireTime plus leaseDurationSeconds.
    None when that cannot be known (a time present but malformed, no time at all, or no positive duration)."""
    spec = (lease or {}).get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        return None
    times = []
    for key in ("renewTime", "acquireTime"):
        if spec.get(key) is None:
            continue
        moment = parse_time(spec[key])
        if moment is None:
            return None
        times.append(moment)
    if not times:
        return None
    return max(times) + timedelta(seconds=duration)


def lease_run(lease):
    return (((lease or {}).get("metadata") or {}).get("annotations") or {}).get(RUN_ANNOTATION)


def decide(lease, holder, now, duration, run_ended=None):
    """What acquiring the lock means for ``holder`` at ``now`` (aware datetime): (action, expires).

    - no Lease: ``create``; expires is now + duration.
    - held by ``holder``: ``renew``; expires is now + duration.
    - no holder, or another holder whose lease has expired: ``take_over``; expires is now + duration.
    - another holder whose lease has not expired: ``held``; expires is when it will (None when the Lease's times
      cannot be read: such a lock never expires by itself and must be deleted by hand once no run is active).
    """
    if not holder or not isinstance(holder, str):
        raise ValueError("a lock holder identity is required")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        raise ValueError("the lock duration must be a positive number of seconds, not %r" % (duration,))
    mine = now + timedelta(seconds=duration)
    if lease is None:
        return CREATE, mine
    current = lease_holder(lease)
    if current == holder:
        return RENEW, mine
    if current is None:
        return TAKE_OVER, mine
    expires = lease_expiry(lease)
    if expires is None or expires > now:
        # A holder whose run is known to have ended (killed on this controller) holds nothing any more.
        if run_ended is not None and lease_run(lease) and run_ended(lease_run(lease)):
            return TAKE_OVER, mine
        return HELD, expires
    return TAKE_OVER, mine


def held_message(lease, now):
    """Why the lock cannot be taken, naming the holder, the purpose and when it expires."""
    metadata = lease.get("metadata") or {}
    where = "%s/%s" % (metadata.get("namespace"), metadata.get("name"))
    purpose = lease_purpose(lease)
    expires = lease_expiry(lease)
    text = "lock %s is held by %s" % (where, lease_holder(lease))
    if purpose:
        text += " (purpose: %s)" % purpose
    if expires is None:
        return text + (" and its Lease has no valid renewTime/acquireTime and leaseDurationSeconds, so it never "
                       "expires; if no run is active, delete it: kubectl -n %s delete lease %s"
                       % (metadata.get("namespace"), metadata.get("name")))
    return text + " until %s (%ds from now); another remediation run is changing this control plane" % (
        format_time(expires), max(0, int((expires - now).total_seconds())))


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


def controller_run(hostname, pid, proc="/proc"):
    """The RUN_ANNOTATION value for the outermost ansible-playbook process above ``pid`` (this module runs below
    it on the controller), or None when there is none (the module runs elsewhere)."""
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
            found = "%s:%d:%s" % (hostname, pid, stat[2])
        pid, seen = stat[1], seen + 1
    return found


def run_ended(run, hostname, proc="/proc"):
    """True only when ``run`` names this controller and its process is gone (or the pid was reused)."""
    parts = str(run or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != hostname or not parts[1].isdigit():
        return False
    stat = _proc_stat(proc, int(parts[1]))
    return stat is None or stat[2] != parts[2]


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


def _locked(lease, now, prefix=""):
    exc = KubeCompassError(prefix + held_message(lease, now), "locked")
    expires = lease_expiry(lease)
    exc.result = {"holder": lease_holder(lease), "purpose": lease_purpose(lease),
                  "expires": format_time(expires) if expires else None}
    return exc


def _result(changed, before, after, holder, expires, previous, **extra):
    result = {"changed": changed, "holder": holder, "expires": format_time(expires) if expires else None,
              "previous_holder": previous, "before": summary(before), "after": summary(after)}
    result.update(extra)
    return result


def _acquire_message(action, namespace, name, previous, lease, expires):
    where = "%s/%s" % (namespace, name)
    if action == CREATE:
        return "lock %s acquired until %s" % (where, format_time(expires))
    if action == RENEW:
        return "lock %s already held by this run; renewed until %s" % (where, format_time(expires))
    if previous is None:
        return "lock %s (a Lease without holder) taken until %s" % (where, format_time(expires))
    old = lease_expiry(lease)
    if old is not None and old > datetime.now(timezone.utc):
        return "lock %s taken over from %s, whose run (%s) has ended on this controller; held until %s" % (
            where, previous, lease_run(lease), format_time(expires))
    return "lock %s taken over from %s, whose lease expired at %s; held until %s" % (
        where, previous, format_time(old) if old else "(unknown)", format_time(expires))


def acquire(client, namespace, name, holder, duration, purpose=None, check_mode=False, clock=None, run=None,
            run_ended=None):
    """Take or renew the lock for ``holder``; raise KubeCompassError(category "locked") when another run holds it.

    ``run`` is recorded on the Lease (RUN_ANNOTATION); ``run_ended(run)`` says whether the run recorded on a
    foreign, unexpired Lease is known to have ended, which lets this run take the lock over.

    Returns the module result: changed (a create or take over; a renew is not a change), acquired, renewed,
    holder, expires, previous_holder, action, and before/after summaries of the Lease for diffs. In check mode
    only reads are made, and the result says what a real run would do.
    """
    clock = clock or (lambda: datetime.now(timezone.utc))
    for attempt in (1, 2):
        now = clock()
        lease = read_lease(client, namespace, name)
        action, expires = decide(lease, holder, now, duration, run_ended)
        previous = lease_holder(lease)
        if action == HELD:
            raise _locked(lease, now)
        if action == CREATE:
            body = create_body(namespace, name, holder, now, duration, purpose, run)
        elif action == RENEW:
            body = renew_body(lease, now, duration, purpose, run)
        else:
            body = take_over_body(lease, holder, now, duration, purpose, run)
        result = _result(action != RENEW, lease, body, holder, expires, previous, acquired=True,
                         renewed=action == RENEW, action=action,
                         msg=_acquire_message(action, namespace, name, previous, lease, expires))
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
            # Another run took the expired lock between our read and our write: it won.
            now = clock()
            current = read_lease(client, namespace, name)
            if current is None or lease_holder(current) == holder:
                raise KubeCompassError("another run changed lock %s/%s while this run was taking it over; run again"
                                       % (namespace, name), "locked", status)
            raise _locked(current, now, "another run took the lock first: ")
        if status == 409 and attempt == 1:
            continue  # created by someone else meanwhile, or our renew raced: read again and decide once more
        if status == 404 and action == RENEW and attempt == 1:
            continue  # released (deleted) between our read and our renew
        raise _api_error(status, answer, "cannot %s lease %s/%s" % (action.replace("_", " "), namespace, name))
    raise KubeCompassError("lock %s/%s kept changing while this run tried to acquire it; run again"
                           % (namespace, name), "locked")


def release(client, namespace, name, holder, check_mode=False):
    """Delete the lock when ``holder`` holds it (preconditions uid and resourceVersion, so a lock taken over
    meanwhile is never deleted); otherwise change nothing and say who holds it."""
    for attempt in (1, 2):
        lease = read_lease(client, namespace, name)
        current = lease_holder(lease)
        expires = lease_expiry(lease)
        if lease is None or current != holder:
            if lease is None:
                msg = "lock %s/%s is not held (no Lease)" % (namespace, name)
            elif current is None:
                msg = "lock %s/%s is not held (Lease without holder)" % (namespace, name)
            else:
                msg = "lock %s/%s is held by %s, not by %s: left as it is" % (namespace, name, current, holder)
            return _result(False, lease, lease, current, expires, current, released=False, msg=msg)
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
