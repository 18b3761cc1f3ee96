"""Velero schedule strings (robfig/cron v3 ParseStandard) and Go durations."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import (
    CronError,
    format_duration,
    longest_interval,
    parse_go_duration,
    parse_schedule,
)

H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)


@pytest.mark.parametrize("spec, expected", [
    ("0 */6 * * *", 6 * H),
    ("30 2 * * 1-5", 72 * H),              # Friday 02:30 -> Monday 02:30
    ("@every 90m", 90 * M),
    ("*/15 * * * *", 15 * M),
    ("5/15 * * * *", 15 * M),              # "N/step" runs N..59: 5, 20, 35, 50 and back to 05
    ("0,30 8-18 * * *", 13 * H + 30 * M),  # 18:30 -> 08:00 the next day
    ("0 9-17/4 * * MON-FRI", 64 * H),      # Friday 17:00 -> Monday 09:00
    ("0 2 * * sun", 7 * 24 * H),
    ("@hourly", H),
    ("@daily", 24 * H),
    ("@midnight", 24 * H),
    ("@weekly", 7 * 24 * H),
    ("@monthly", 31 * 24 * H),
    ("@yearly", 366 * 24 * H),
    ("@annually", 366 * 24 * H),
    ("0 0 1,15 * *", 17 * 24 * H),          # the 15th -> the 1st of a 31-day month
    ("0 0 1 JAN,jul *", 184 * 24 * H),      # 1 July -> 1 January
    ("CRON_TZ=Europe/Berlin 0 3 * * *", 24 * H),
    ("TZ=UTC */10 * * * *", 10 * M),
    ("@every 1h30m", 90 * M),
    ("@every 500ms", datetime.timedelta(seconds=1)),  # robfig rounds constant delays up to one second
    ("0 0 1 * 1", 7 * 24 * H),              # both day fields restricted: the 1st OR a Monday
    ("0 0 */2 * 1", 48 * H),                # "*/2" drops the star bit, so again day-of-month OR Monday
    ("0 0 * * ?", 24 * H),
])
def test_longest_interval(spec, expected):
    assert longest_interval(spec) == expected


@pytest.mark.parametrize("spec, fragment", [
    ("", "empty"),
    ("0 0 * *", "4 fields"),
    ("0 0 0 * * *", "6 fields"),             # no seconds field in ParseStandard
    ("0 0 * * 7", "outside 0-6"),            # robfig's day of week stops at 6
    ("60 * * * *", "outside 0-59"),
    ("0 5-2 * * *", "starts after it ends"),
    ("*/0 * * * *", "must be positive"),
    ("0 0 * * funday", "not a number"),
    ("1-2-3 * * * *", "too many hyphens"),
    ("*/2/3 * * * *", "too many slashes"),
    ("@fortnightly", "unrecognized descriptor"),
    ("@every 1d", "not a Go duration"),
    ("@every", "unrecognized descriptor"),
    ("0 0 31 2 *", "never fires"),
    ("CRON_TZ= 0 0 * * *", "empty time zone"),
])
def test_invalid_schedules_raise(spec, fragment):
    with pytest.raises(CronError, match=fragment):
        longest_interval(spec)


def test_month_and_day_names_are_case_insensitive():
    schedule = parse_schedule("0 0 * Jan-MAR mon-Fri")
    assert schedule.months == {1, 2, 3}
    assert schedule.weekdays == {1, 2, 3, 4, 5}


def test_leap_day_schedule_spans_four_years():
    assert longest_interval("0 0 29 2 *") == datetime.timedelta(days=4 * 365 + 1)


@pytest.mark.parametrize("text, expected", [
    ("720h0m0s", datetime.timedelta(hours=720)),
    ("1.5h", datetime.timedelta(minutes=90)),
    ("90m", datetime.timedelta(minutes=90)),
    ("1h30m15.5s", datetime.timedelta(hours=1, minutes=30, seconds=15.5)),
    ("300ms", datetime.timedelta(milliseconds=300)),
    ("1500us", datetime.timedelta(microseconds=1500)),
    ("2\u00b5s", datetime.timedelta(microseconds=2)),
    ("2\u03bcs", datetime.timedelta(microseconds=2)),
    ("1000ns", datetime.timedelta(microseconds=1)),
    (".5h", datetime.timedelta(minutes=30)),
    ("0", datetime.timedelta(0)),
    ("-1h", -datetime.timedelta(hours=1)),
    ("", None),
    (None, None),
])
def test_parse_go_duration(text, expected):
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize("text", ["1d", "30", "h", "1hh", "1 h", "1h-5m", "forever", "0.0.1s"])
def test_parse_go_duration_rejects(text):
    with pytest.raises(ValueError, match="not a Go duration"):
        parse_go_duration(text)


@pytest.mark.parametrize("delta, text", [
    (datetime.timedelta(hours=72), "72h"),
    (datetime.timedelta(minutes=90), "1h30m"),
    (datetime.timedelta(seconds=45), "45s"),
    (datetime.timedelta(0), "0s"),
    (-datetime.timedelta(minutes=5), "-5m"),
])
def test_format_duration(delta, text):
    assert format_duration(delta) == text
