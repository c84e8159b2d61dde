# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OnCalendar parsing and evaluation; expected firings are systemd-analyze's own output on this machine
(``TZ=UTC systemd-analyze calendar --iterations=6 EXPR --base-time='2026-11-22 02:30:00 UTC'``)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.dar.backup.plugins.module_utils import oncalendar
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

BASE = datetime.datetime(2026, 11, 22, 2, 30, 0)
DAY = 86400

SYSTEMD = {
    "*-12-30 10:03:00": "2026-12-30 10:03:00|2027-12-30 10:03:00|2028-12-30 10:03:00|2029-12-30 10:03:00|"
                        "2030-12-30 10:03:00|2031-12-30 10:03:00",
    "*-*-01 19:03:00": "2026-12-01 19:03:00|2027-01-01 19:03:00|2027-02-01 19:03:00|2027-03-01 19:03:00|"
                       "2027-04-01 19:03:00|2027-05-01 19:03:00",
    "*-*-04/3 19:03:00": "2026-11-22 19:03:00|2026-11-25 19:03:00|2026-11-28 19:03:00|2026-12-04 19:03:00|"
                         "2026-12-07 19:03:00|2026-12-10 19:03:00",
    "Mon..Fri 08:00": "2026-11-23 08:00:00|2026-11-24 08:00:00|2026-11-25 08:00:00|2026-11-26 08:00:00|"
                      "2026-11-27 08:00:00|2026-11-30 08:00:00",
    "Sat,Sun *-*-* 12:30": "2026-11-22 12:30:00|2026-11-28 12:30:00|2026-11-29 12:30:00|2026-12-05 12:30:00|"
                           "2026-12-06 12:30:00|2026-12-12 12:30:00",
    "*-*-1,15 02:00": "2026-12-01 02:00:00|2026-12-15 02:00:00|2027-01-01 02:00:00|2027-01-15 02:00:00|"
                      "2027-02-01 02:00:00|2027-02-15 02:00:00",
    "quarterly": "2027-01-01 00:00:00|2027-04-01 00:00:00|2027-07-01 00:00:00|2027-10-01 00:00:00|"
                 "2028-01-01 00:00:00|2028-04-01 00:00:00",
    "*:0/20": "2026-11-22 02:40:00|2026-11-22 03:00:00|2026-11-22 03:20:00|2026-11-22 03:40:00|"
              "2026-11-22 04:00:00|2026-11-22 04:20:00",
    "*-*-31": "2026-12-31 00:00:00|2027-01-31 00:00:00|2027-03-31 00:00:00|2027-05-31 00:00:00|"
              "2027-07-31 00:00:00|2027-08-31 00:00:00",
    "Wed *-*-1..7 04:00": "2026-12-02 04:00:00|2027-01-06 04:00:00|2027-02-03 04:00:00|2027-03-03 04:00:00|"
                          "2027-04-07 04:00:00|2027-05-05 04:00:00",
}


@pytest.mark.parametrize("expr", sorted(SYSTEMD))
def test_firings_match_systemd(expr):
    want = [datetime.datetime.strptime(t, "%Y-%m-%d %H:%M:%S") for t in SYSTEMD[expr].split("|")]
    assert oncalendar.parse(expr).firings(BASE, 6) == want


@pytest.mark.parametrize("expr, gap", [
    # Yearly: 2028 is a leap year, so one gap is 366 days.
    ("*-12-30 10:03:00", 366 * DAY),
    # Monthly on the 1st: the longest month has 31 days.
    ("*-*-01 19:03:00", 31 * DAY),
    # 4, 7, ..., 28 then the 4th again: after a 30-day month 28 -> 4 is 6 days (31 is skipped there).
    ("*-*-04/3 19:03:00", 6 * DAY),
    ("*-*-* 21:07:00", DAY),
    ("daily", DAY),
    ("hourly", 3600),
    ("minutely", 60),
    ("weekly", 7 * DAY),
    ("monthly", 31 * DAY),
    ("yearly", 366 * DAY),
    ("annually", 366 * DAY),
    ("quarterly", 92 * DAY),          # Jul 1 -> Oct 1 and Oct 1 -> Jan 1
    ("semiannually", 184 * DAY),      # Jul 1 -> Jan 1
    ("Mon..Fri 08:00", 3 * DAY),      # Friday -> Monday
    ("Sat,Sun 12:30", 6 * DAY),       # Sunday -> Saturday
    ("*-*-1,15 02:00", 17 * DAY),     # 15th -> 1st of the next month, in a 31-day month
    ("*-*-* 06,18:00", 12 * 3600),
    ("*-*-* 01:00:00", DAY),
    ("*-*-31", 61 * DAY),             # Aug 31 -> Oct 31 (Sep has no 31st)
    ("12:00", DAY),
])
def test_largest_gap(expr, gap):
    assert oncalendar.largest_gap(expr, datetime.date(2026, 11, 22)) == gap


def test_missing_parts_default_like_systemd():
    calendar = oncalendar.parse("*-*-15")
    assert calendar.day_seconds == [0]
    calendar = oncalendar.parse("Mon 08:30")
    assert calendar.day_seconds == [8 * 3600 + 30 * 60]
    assert calendar.weekdays == frozenset([0])
    calendar = oncalendar.parse("06-01 04:05:06")
    assert calendar.months == frozenset([6]) and calendar.days == frozenset([1])
    assert calendar.day_seconds == [4 * 3600 + 5 * 60 + 6]


def test_ranges_lists_and_repetitions():
    calendar = oncalendar.parse("*-1..3,6-1..5/2 0/6:00")
    assert calendar.months == frozenset([1, 2, 3, 6])
    assert calendar.days == frozenset([1, 3, 5])
    assert calendar.day_seconds == [0, 6 * 3600, 12 * 3600, 18 * 3600]
    assert oncalendar.parse("monday..wednesday,Sat").weekdays == frozenset([0, 1, 2, 5])


@pytest.mark.parametrize("expr, words", [
    ("", "empty"),
    ("every day", "cannot read"),
    ("*-*-* 10:00 Europe/Berlin", "time zones"),
    ("*-02~1", "'~'"),
    ("*-13-01", "month 13 is outside 1..12"),
    ("*-*-* 25:00", "hour 25"),
    ("*-*-* 10:61", "minute 61"),
    ("Fri..Mon", "runs backwards"),
    ("Funday 10:00", "not a weekday"),
    ("*-*-5..1", "runs backwards"),
    ("*-*-*/0", "must be 1 or more"),
    ("*-*-* 10:00:00.5", "fractional"),
    ("26-01-01", "four digits"),
    ("*-x-01", "not a number"),
    ("*-*-* 10", "cannot read"),
    ("*-*-* 10:00:00:00", "not hour:minute"),
])
def test_bad_expressions_are_one_line_errors(expr, words):
    with pytest.raises(DarBackupError) as info:
        oncalendar.parse(expr)
    assert words in info.value.msg
    assert "\n" not in info.value.msg


def test_too_rare_to_derive_a_gap():
    with pytest.raises(DarBackupError) as info:
        oncalendar.largest_gap("*-02-29 00:00", datetime.date(2026, 11, 22))
    assert "fires once" in info.value.msg and "set one explicitly" in info.value.msg
    with pytest.raises(DarBackupError) as info:
        oncalendar.largest_gap("2020-01-01", datetime.date(2026, 11, 22))
    assert "fires never" in info.value.msg
