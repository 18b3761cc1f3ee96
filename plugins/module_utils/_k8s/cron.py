# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Velero schedule strings and Go durations, parsed the way Velero parses them. Pure functions, no I/O.

Velero parses ``Schedule.spec.schedule`` with robfig/cron v3 ``ParseStandard`` (5 fields, descriptors,
``@every <duration>``, optional ``CRON_TZ=``/``TZ=`` prefix) and TTLs with Go's ``time.ParseDuration``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import re

# -- Go durations (time.ParseDuration) -----------------------------------------------------------------------------

_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_DURATION = re.compile(r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$")


def parse_go_duration(text):
    """A Go duration string ("720h0m0s", "1.5h", "90m", "0") as a timedelta; None when empty.

    Raises ValueError for anything Go would reject, including a ``d`` unit (Go has none).
    """
    if text is None:
        return None
    text = str(text).strip()
    if not text:
        return None
    if text in ("0", "+0", "-0"):
        return datetime.timedelta(0)
    if not _DURATION.match(text):
        raise ValueError("%r is not a Go duration (units ns, us, ms, s, m, h; no d)" % text)
    seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))
    return datetime.timedelta(seconds=-seconds if text.startswith("-") else seconds)


def format_duration(delta):
    """A timedelta in Go's compact style without zero parts: 72h, 1h30m, 15m, 45s."""
    total = int(round(delta.total_seconds()))
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [("%dh" % hours) if hours else "", ("%dm" % minutes) if minutes else "",
             ("%ds" % seconds) if seconds else ""]
    return sign + ("".join(parts) or "0s")


# -- cron (robfig/cron v3 ParseStandard) ---------------------------------------------------------------------------

_MONTH_NAMES = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_DAY_NAMES = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}

# (name, minimum, maximum, names) in field order; robfig's day-of-week stops at 6 (7 is rejected).
_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTH_NAMES),
    ("day of week", 0, 6, _DAY_NAMES),
)

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# A fixed, start-independent scan: eight years from a Monday hold two leap days, so every schedule that fires
# at all (even "0 0 29 2 *") fires at least twice; a day pattern that only depends on the weekday needs two weeks.
_SCAN_START = datetime.date(2001, 1, 1)
_SCAN_DAYS_ANY = 8 * 366
_SCAN_DAYS_WEEKLY = 15


class CronError(ValueError):
    """A schedule string robfig/cron would reject (Velero then marks the Schedule FailedValidation)."""


class CronSchedule:
    """A parsed schedule: either a constant delay (``every``) or the field sets robfig matches against."""

    __slots__ = ("spec", "every", "minutes", "hours", "days", "months", "weekdays", "day_star")

    def __init__(self, spec, every=None, fields=None):
        self.spec = spec
        self.every = every
        if fields is None:
            fields = ((set(), False),) * 5
        minutes, hours, days, months, weekdays = fields
        self.minutes, self.hours, self.months = minutes[0], hours[0], months[0]
        self.days, self.weekdays = days[0], weekdays[0]
        # robfig: when either day field carries the star bit both must match; otherwise either may.
        self.day_star = days[1] or weekdays[1]

    def fires_on(self, date):
        if date.month not in self.months:
            return False
        in_month = date.day in self.days
        in_week = (date.isoweekday() % 7) in self.weekdays
        return (in_month and in_week) if self.day_star else (in_month or in_week)


def _parse_number(text, names, spec):
    if names is not None and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError("%r in schedule %r is not a number" % (text, spec))
    return int(text)


def _parse_field(text, field, spec):
    """(values, star) for one field: lists of ranges with steps, names, * and ?."""
    name, low_bound, high_bound, names = field
    values = set()
    star = False
    for expression in text.split(","):
        range_and_step = expression.split("/")
        low_and_high = range_and_step[0].split("-")
        expression_star = low_and_high[0] in ("*", "?")
        if expression_star:
            start, end = low_bound, high_bound
        else:
            start = _parse_number(low_and_high[0], names, spec)
            if len(low_and_high) == 1:
                end = start
            elif len(low_and_high) == 2:
                end = _parse_number(low_and_high[1], names, spec)
            else:
                raise CronError("too many hyphens in %r of schedule %r" % (expression, spec))
        if len(range_and_step) == 1:
            step = 1
        elif len(range_and_step) == 2:
            if not range_and_step[1].isdigit():
                raise CronError("step %r in schedule %r is not a number" % (range_and_step[1], spec))
            step = int(range_and_step[1])
            if len(low_and_high) == 1:  # "N/step" means "N-max/step"
                end = high_bound
            if step > 1:
                expression_star = False  # robfig drops the star bit for "*/2", which changes day matching
        else:
            raise CronError("too many slashes in %r of schedule %r" % (expression, spec))
        if start < low_bound or end > high_bound:
            raise CronError("%s %r in schedule %r is outside %d-%d" % (name, expression, spec, low_bound, high_bound))
        if start > end:
            raise CronError("%s range %r in schedule %r starts after it ends" % (name, expression, spec))
        if step == 0:
            raise CronError("%s step in %r of schedule %r must be positive" % (name, expression, spec))
        values.update(range(start, end + 1, step))
        star = star or expression_star
    return values, star


def parse_schedule(spec):
    """Parse a Velero schedule string; raises CronError where robfig/cron v3 ParseStandard would."""
    text = (spec or "").strip()
    if not text:
        raise CronError("empty schedule")
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        # The zone shifts fire times but not the gaps between them (DST aside), so it is checked, not applied.
        zone, _sep, rest = text.partition(" ")
        if not zone.split("=", 1)[1] or not rest.strip():
            raise CronError("schedule %r has an empty time zone or nothing after it" % spec)
        text = rest.strip()
    if text.startswith("@every "):
        try:
            delay = parse_go_duration(text[len("@every "):])
        except ValueError as exc:
            raise CronError("schedule %r: %s" % (spec, exc)) from None
        if delay is None:
            raise CronError("schedule %r has no duration after @every" % spec)
        # robfig.Every: truncate to whole seconds, at least one second.
        whole_seconds = max(int(delay.total_seconds()), 1)
        return CronSchedule(spec, every=datetime.timedelta(seconds=whole_seconds))
    return CronSchedule(spec, fields=_field_values(text, spec)[1])


def field_values(spec):
    """(the five field texts, [(values, starred)] per field) of a 5-field schedule or an @descriptor; raises
    CronError. For code that translates a schedule into another calendar (etcd snapshot timers)."""
    return _field_values((spec or "").strip(), spec)


def _field_values(text, spec):
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise CronError("unrecognized descriptor %r in schedule %r" % (text, spec))
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise CronError("schedule %r has %d fields, expected 5 (minute hour day-of-month month day-of-week)"
                        % (spec, len(fields)))
    return fields, [_parse_field(fields[index], _FIELDS[index], spec) for index in range(5)]


def longest_interval(spec):
    """The longest gap between two consecutive fire times of a schedule string, as a timedelta.

    Independent of the current date: the times of day are the same on every day that fires, so the gap is the
    largest of the gaps within a day and the gaps from the last time of one firing day to the first of the next.
    Raises CronError when the schedule is invalid or never fires.
    """
    schedule = parse_schedule(spec)
    if schedule.every is not None:
        return schedule.every
    times = sorted(hour * 60 + minute for hour in schedule.hours for minute in schedule.minutes)
    longest = max((times[index + 1] - times[index] for index in range(len(times) - 1)), default=0)
    # Whether a day fires then depends on its weekday alone, so two weeks show every gap.
    weekly = schedule.months == set(range(1, 13)) and (
        schedule.days == set(range(1, 32)) or (not schedule.day_star and schedule.weekdays == set(range(7))))
    scan_days = _SCAN_DAYS_WEEKLY if weekly else _SCAN_DAYS_ANY
    previous = None
    firing_days = 0
    for offset in range(scan_days):
        date = _SCAN_START + datetime.timedelta(days=offset)
        if not schedule.fires_on(date):
            continue
        firing_days += 1
        if previous is not None:
            longest = max(longest, (date - previous).days * 1440 - times[-1] + times[0])
        previous = date
    if firing_days < 2:
        raise CronError("schedule %r never fires (no matching day)" % spec)
    return datetime.timedelta(minutes=longest)
