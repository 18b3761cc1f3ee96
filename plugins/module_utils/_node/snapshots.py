# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""etcd snapshot files on a node: how many and the newest (read_etcd_snapshots, for the node facts); the newest
one's integrity, its age against the schedule, and the schedule as cron and systemd read it (status, for the
etcd_snapshot_status module). Only ``read_etcd_snapshots`` and ``status`` do I/O (the directories, the file, one
etcdutl run)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os
import posixpath
import stat
import zipfile

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import (
    CronError,
    field_values,
    format_duration,
    longest_interval,
    parse_schedule,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    KUBEADM_MANIFESTS,
    KUBEADM_SNAPSHOT_DIR,
    RANCHER,
    rancher_datastore,
    read_rancher_config_values,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import cause_of, is_missing, on_host, rfc3339

# etcd's Maintenance.Snapshot stream is the bolt database (whole 512-byte pages here) followed by its sha256;
# etcdutl snapshot restore checks the same trailer (size % 512 == 32).
CHECKSUM_SIZE = 32
PAGE_ALIGN = 512
CHUNK = 1 << 20

# RKE2 and k3s: pkg/cli/cmds/server.go defaults.
RANCHER_SCHEDULE = "0 */12 * * *"
RANCHER_RETENTION = 5

# A snapshot directory must not be one kubelet runs as pods, kubelet's own state, or an etcd data directory (a
# restore replaces it, and snapshots there eat the disk etcd needs).
REFUSED_DIRS = (
    (KUBEADM_MANIFESTS, "kubelet runs every file there as a pod"),
    (RANCHER["rke2"]["data_dir"] + "/agent/pod-manifests", "kubelet runs every file there as a pod"),
    ("/var/lib/kubelet", "it is kubelet's own state"),
    ("/var/lib/etcd", "it is etcd's data directory"),
    (RANCHER["rke2"]["data_dir"] + "/server/db/etcd", "it is etcd's data directory"),
    (RANCHER["k3s"]["data_dir"] + "/server/db/etcd", "it is etcd's data directory"),
)

_SYSTEMD_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_TRUE = ("1", "t", "true", "yes", "on")


# -- inputs ---------------------------------------------------------------------------------------------------------

def snapshot_files(entries):
    """(name, os.stat_result) of the regular files not starting with a dot among directory entries: what counts as a
    snapshot, for the node facts and the snapshot role alike. Entries that vanish or cannot be stat'ed are skipped."""
    for entry in entries:
        try:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            yield entry.name, entry.stat()
        except OSError:
            continue


def read_etcd_snapshots(root, dirs):
    """(summary, failures): regular files (not dotfiles) directly in the snapshot directories and the newest by
    mtime; failures lists (dir, cause) for directories that exist but cannot be read."""
    summary = {"dirs": list(dirs), "count": 0, "newest": None}
    failures = []
    newest = None
    for directory in dirs:
        try:
            with os.scandir(on_host(root, directory)) as listing:
                entries = list(listing)
        except OSError as exc:
            if not is_missing(exc):
                failures.append((directory, cause_of(exc)))
            continue
        for name, st in snapshot_files(entries):
            summary["count"] += 1
            path = directory.rstrip("/") + "/" + name
            if newest is None or st.st_mtime > newest[0]:
                newest = (st.st_mtime, path, st.st_size)
    if newest is not None:
        summary["newest"] = {"path": newest[1], "mtime": rfc3339(newest[0]), "size": newest[2]}
    return summary, failures


def check_snapshot_dir(path):
    """A normalised absolute directory outside REFUSED_DIRS; raises KubeCompassError (category input)."""
    if not isinstance(path, str) or not posixpath.isabs(path) or posixpath.normpath(path) != path or path == "/":
        raise KubeCompassError("snapshot directory %r must be a normalised absolute path other than /" % (path,),
                               "input")
    for refused, why in REFUSED_DIRS:
        if path == refused or path.startswith(refused + "/"):
            raise KubeCompassError("snapshot directory %s is inside %s: %s" % (path, refused, why), "input")
    return path


# -- schedule -------------------------------------------------------------------------------------------------------

def schedule_window(schedule=None, margin_minutes=30, max_age_minutes=None):
    """(interval, max_age) as timedeltas: the longest gap of the cron schedule, and how old the newest snapshot
    may be (that gap plus the margin, or max_age_minutes when given). Both None without either."""
    if margin_minutes < 0:
        raise KubeCompassError("margin_minutes must be 0 or more, got %d" % margin_minutes, "input")
    interval = None
    if schedule:
        try:
            interval = longest_interval(schedule)
        except CronError as exc:
            raise KubeCompassError("schedule: %s" % exc, "input") from None
    if max_age_minutes is not None:
        if max_age_minutes < 1:
            raise KubeCompassError("max_age_minutes must be 1 or more, got %d" % max_age_minutes, "input")
        return interval, datetime.timedelta(minutes=max_age_minutes)
    if interval is None:
        return None, None
    return interval, interval + datetime.timedelta(minutes=margin_minutes)


def _calendar_values(values, full, width=2, names=None):
    if values == full:
        return "*"
    return ",".join(names[v] if names else "%0*d" % (width, v) for v in sorted(values))


def cron_to_on_calendar(spec):
    """The systemd OnCalendar= expressions (one or two) that fire when cron fires for a 5-field schedule.

    Cron fires on a day when day-of-month OR day-of-week matches if both are restricted (neither starts with *):
    one timer then carries two OnCalendar= lines. A day field step starting with * next to a restricted other
    day field is read differently by cron implementations, so it is refused, as are @every and time zones.
    Raises KubeCompassError (category input).
    """
    text = (spec or "").strip()
    try:
        if text.startswith(("TZ=", "CRON_TZ=", "@every")):
            raise CronError("schedule %r: time zones and @every are not supported here (cron and systemd run the "
                            "schedule in the node's local time)" % spec)
        parse_schedule(text)  # every error robfig/cron (and Velero, and the assessment) would report
        fields, parsed = field_values(text)
    except CronError as exc:
        raise KubeCompassError("schedule: %s" % exc, "input") from None
    minutes, hours, days, months, weekdays = (values for values, _star in parsed)
    dom_star, dow_star = fields[2].startswith(("*", "?")), fields[4].startswith(("*", "?"))
    if (fields[2].startswith("*/") and not dow_star) or (fields[4].startswith("*/") and not dom_star):
        raise KubeCompassError("schedule %r: a day step starting with * next to a restricted other day field is read "
                               "differently by cron implementations; list the days instead" % spec, "input")
    time_part = "%s:%s:00" % (_calendar_values(hours, set(range(24))), _calendar_values(minutes, set(range(60))))
    month_part = _calendar_values(months, set(range(1, 13)))
    all_days, all_weekdays = set(range(1, 32)), set(range(7))

    def expression(day_values, weekday_values):
        weekday = _calendar_values(weekday_values, all_weekdays, names=_SYSTEMD_DAYS)
        date = "*-%s-%s" % (month_part, _calendar_values(day_values, all_days))
        return ("%s %s %s" % (weekday, date, time_part)) if weekday != "*" else "%s %s" % (date, time_part)

    if dom_star or dow_star:
        # Either day field is a star: both must match (a star matches every day).
        return [expression(days, weekdays)]
    return [expression(days, all_weekdays), expression(all_days, weekdays)]


# -- files ----------------------------------------------------------------------------------------------------------

def newest_snapshot(directory):
    """(exists, count, newest) for the regular files not starting with a dot directly in ``directory`` (what the
    assessment's node facts count), newest by mtime: (path, os.stat_result) or None."""
    try:
        with os.scandir(directory) as listing:
            entries = list(listing)
    except FileNotFoundError:
        return False, 0, None
    except OSError as exc:
        raise KubeCompassError("cannot read snapshot directory %s: %s" % (directory, exc.strerror or exc),
                               "unreadable") from None
    count, newest = 0, None
    for name, st in snapshot_files(entries):
        count += 1
        if newest is None or st.st_mtime > newest[1].st_mtime:
            newest = (posixpath.join(directory, name), st)
    return True, count, newest


def _stream_checksum(handle, size):
    if size % PAGE_ALIGN != CHECKSUM_SIZE:
        return "absent"
    digest = hashlib.sha256()
    remaining = size - CHECKSUM_SIZE
    while remaining > 0:
        chunk = handle.read(min(CHUNK, remaining))
        if not chunk:
            return "mismatch"  # shorter than it said: truncated while being read
        digest.update(chunk)
        remaining -= len(chunk)
    return "ok" if handle.read(CHECKSUM_SIZE) == digest.digest() else "mismatch"


def check_checksum(path):
    """'ok', 'mismatch' or 'absent' for the sha256 trailer etcd appends to a snapshot stream. A ``.zip`` (RKE2 and
    k3s with etcd-snapshot-compress) is checked through its single member."""
    try:
        if path.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    return "absent"
                with archive.open(members[0]) as handle:
                    return _stream_checksum(handle, members[0].file_size)
        with open(path, "rb") as handle:
            return _stream_checksum(handle, os.fstat(handle.fileno()).st_size)
    except (OSError, zipfile.BadZipFile) as exc:
        raise KubeCompassError("cannot read snapshot %s: %s" % (path, getattr(exc, "strerror", None) or exc),
                               "unreadable") from None


def parse_status(text):
    """The JSON `etcdutl snapshot status -w json` prints (the last line starting with {), as hash, revision,
    total_keys, db_size and version; raises ValueError when there is none."""
    lines = [line for line in (text or "").splitlines() if line.strip().startswith("{")]
    if not lines:
        raise ValueError("no JSON status in the output")
    data = json.loads(lines[-1])
    if not isinstance(data, dict) or "revision" not in data:
        raise ValueError("the JSON status has no revision")
    return {"hash": data.get("hash"), "revision": data.get("revision"), "total_keys": data.get("totalKey"),
            "db_size": data.get("totalSize"), "version": data.get("version")}


def _tail(text, lines=3):
    return " ".join(line.strip() for line in (text or "").strip().splitlines()[-lines:]) or "no output"


def snapshot_status(tool, path, run_command):
    """(status, error): `<tool> snapshot status <path> -w json` through run_command(argv) -> (rc, out, err)."""
    rc, out, err = run_command([tool, "snapshot", "status", path, "-w", "json"])
    if rc != 0:
        return None, "%s snapshot status failed (exit %s): %s" % (tool, rc, _tail(err or out))
    try:
        return parse_status(out), None
    except ValueError as exc:
        return None, "%s snapshot status: %s: %s" % (tool, exc, _tail(out))


def is_executable(path):
    try:
        return stat.S_ISREG(os.stat(path).st_mode) and os.access(path, os.X_OK)
    except OSError:
        return False


# -- RKE2 and k3s ---------------------------------------------------------------------------------------------------

def rancher_builtin(distribution, root="/"):
    """The snapshots RKE2/k3s take on their own: schedule, retention, directory, whether they are disabled or
    compressed, and the datastore (k3s on SQLite has no etcd to snapshot)."""
    layout = RANCHER[distribution]
    values, read, errors = read_rancher_config_values(root, layout["config"])
    data_dir = str(values.get("data-dir") or "").rstrip("/") or layout["data_dir"]

    def option(name, default):
        value = values.get(name)
        return default if value is None or str(value).strip() == "" else value

    def truthy(name):
        return str(option(name, "false")).strip().lower() in _TRUE

    try:
        retention = int(option("etcd-snapshot-retention", RANCHER_RETENTION))
    except (TypeError, ValueError):
        retention = None
        errors.append({"what": "etcd-snapshot-retention", "cause": "not a number: %r" % values.get(
            "etcd-snapshot-retention")})
    return {
        "datastore": rancher_datastore(distribution, values, root, data_dir)[0],
        "schedule": str(option("etcd-snapshot-schedule-cron", RANCHER_SCHEDULE)),
        "retention": retention,
        "disabled": truthy("etcd-disable-snapshots"),
        "compress": truthy("etcd-snapshot-compress"),
        "dir": str(option("etcd-snapshot-dir", data_dir + "/server/db/snapshots")).rstrip("/"),
        "config_files": read,
        "errors": errors,
    }


# -- the whole answer -----------------------------------------------------------------------------------------------

def status(params, run_command, now=None, root="/"):
    """Everything the etcd_snapshot_status module returns. State found on the node (no snapshot, a missing tool,
    a failed check, a stale snapshot) goes into ``problems`` and makes ``healthy`` false; only bad input and
    unreadable files raise KubeCompassError."""
    distribution = params.get("distribution") or "kubeadm"
    now = now if now is not None else datetime.datetime.now(datetime.timezone.utc).timestamp()
    builtin = rancher_builtin(distribution, root) if distribution in RANCHER else None
    directory = params.get("dir") or (builtin["dir"] if builtin else KUBEADM_SNAPSHOT_DIR)
    directory = check_snapshot_dir(directory) if distribution == "kubeadm" else directory
    schedule = params.get("schedule") or (builtin["schedule"] if builtin else None)
    schedule_problem = None
    try:
        interval, max_age = schedule_window(schedule, params.get("margin_minutes", 30), params.get("max_age_minutes"))
    except KubeCompassError as exc:
        if params.get("schedule") or not builtin:
            raise
        # The distribution's own schedule is what its config says: a bad one is a finding, not bad input.
        schedule_problem = "%s's etcd-snapshot-schedule-cron is invalid (%s)" % (distribution, exc)
        interval, max_age = schedule_window(None, params.get("margin_minutes", 30), params.get("max_age_minutes"))
    on_calendar, on_calendar_error = None, None
    if params.get("schedule"):
        try:
            on_calendar = cron_to_on_calendar(params["schedule"])
        except KubeCompassError as exc:
            on_calendar_error = str(exc)
    result = {
        "distribution": distribution, "dir": directory, "dir_exists": False, "count": 0, "path": None, "mtime": None,
        "age": None, "size": None, "revision": None, "total_keys": None, "hash": None, "db_size": None,
        "version": None, "checksum": None, "status_checked": False, "verified": False,
        "schedule": schedule, "interval": int(interval.total_seconds()) if interval else None,
        "max_age": int(max_age.total_seconds()) if max_age else None, "fresh": None,
        "on_calendar": on_calendar, "on_calendar_error": on_calendar_error,
        "builtin": builtin, "etcdutl": None, "healthy": False, "problems": [], "message": "",
    }
    problems = result["problems"]
    if schedule_problem:
        problems.append(schedule_problem)
    if builtin is not None and builtin["datastore"] != "etcd":
        result["healthy"] = True
        result["message"] = ("no etcd on this node: the datastore is %s (back up its database instead)"
                             % builtin["datastore"])
        return result
    for error in (builtin or {}).get("errors") or []:
        problems.append("cannot read %s: %s (the snapshot settings may differ from what is reported)" % (
            error["what"], error["cause"]))
    if builtin is not None and builtin["disabled"]:
        problems.append("%s's scheduled snapshots are disabled (etcd-disable-snapshots: true); remove it from the "
                        "config and restart the servers one at a time" % distribution)
    tool = params.get("etcdutl")
    tool_ok = bool(tool) and is_executable(tool)
    result["etcdutl"] = tool if tool_ok else None
    exists, count, newest = newest_snapshot(directory)
    result.update(dir_exists=exists, count=count)
    if newest is None:
        problems.append("no etcd snapshot in %s%s" % (directory, "" if exists else " (the directory does not exist)"))
    if tool and not tool_ok and params.get("require_status", True):
        problems.append("etcdutl not found or not executable at %s: the snapshot cannot be checked with "
                        "`etcdutl snapshot status` (it ships in the etcd release next to etcd and etcdctl)" % tool)
    if newest is None:
        return _finish(result)
    path, st = newest
    age = max(now - st.st_mtime, 0)
    result.update(path=path, mtime=rfc3339(st.st_mtime), age=int(age), size=st.st_size)
    failed = False
    if params.get("checksum", True):
        result["checksum"] = check_checksum(path)
        if result["checksum"] == "mismatch":
            failed = True
            problems.append("snapshot %s fails its sha256 checksum: it is corrupt or truncated" % path)
    # etcdutl reads a bolt file, not a zip: a compressed snapshot is checked by its checksum alone.
    if tool_ok and not path.endswith(".zip"):
        found, error = snapshot_status(tool, path, run_command)
        if error:
            failed = True
            problems.append("snapshot %s: %s" % (path, error))
        else:
            result.update(found, status_checked=True)
    result["verified"] = not failed and (result["status_checked"] or result["checksum"] == "ok")
    if not result["verified"] and not failed:
        problems.append("snapshot %s is not verified: it has no sha256 checksum and `snapshot status` did not run"
                        % path)
    if max_age is not None:
        result["fresh"] = age <= max_age.total_seconds()
        if not result["fresh"]:
            if params.get("max_age_minutes") is not None:
                rule = "max_age_minutes"
            else:
                rule = "schedule %r fires at least every %s, plus %d min margin" % (
                    schedule, format_duration(interval), params.get("margin_minutes", 30))
            problems.append("newest snapshot %s is %s old, older than %s (%s)" % (
                path, format_duration(datetime.timedelta(seconds=int(age))), format_duration(max_age), rule))
    return _finish(result)


def _finish(result):
    result["healthy"] = not result["problems"]
    if result["problems"]:
        result["message"] = "; ".join(result["problems"])
        return result
    details = ["%s ago" % format_duration(datetime.timedelta(seconds=result["age"]))]
    if result["max_age"] is not None:
        details.append("within %s" % format_duration(datetime.timedelta(seconds=result["max_age"])))
    if result["status_checked"]:
        details.append("revision %s, %s keys, hash %s" % (result["revision"], result["total_keys"], result["hash"]))
    details.append("checksum %s" % result["checksum"] if result["checksum"] else "checksum not checked")
    result["message"] = "newest snapshot %s (%s); %d in %s" % (result["path"], ", ".join(details), result["count"],
                                                               result["dir"])
    return result
