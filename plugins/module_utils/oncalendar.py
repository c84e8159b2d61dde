# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd OnCalendar expressions, the forms people write, enough to know how far apart firings can be.

Supported: ``[weekdays] [[year-]month-day] [hour:minute[:second]]`` where weekdays are names or
ranges (``Mon..Fri``, ``Sat,Sun``) and every other field is ``*``, a value, a list (``1,15``), a
range (``1..5``) or a repetition (``04/3``, ``*/15``, ``1..20/2``); a missing date is ``*-*-*``, a
missing time ``00:00:00``, missing seconds ``:00``; and the shorthands minutely, hourly, daily,
weekly, monthly, yearly, annually, quarterly, semiannually. Not supported (refused with a message):
time zones, ``~`` (days from the month's end) and fractional seconds. Times are evaluated as wall
clock time: a daylight-saving shift moves a gap by an hour, which the caller's grace absorbs.
"""

from __future__ import annotations

import bisect
import datetime
import re

from .errors import DarBackupError

SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = dict((name, index) for index, name in enumerate(WEEKDAYS))
WEEKDAY_NAMES.update(dict((name, index) for index, name in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))))
YEARS = (1970, 2199)
_NUMBER_RE = re.compile(r"^[0-9]+$")
# Four years always hold a 29 February (until 2100), so a yearly gap does not change with the start date.
DEFAULT_WINDOW_YEARS = 4


class CalendarError(DarBackupError):
    """An expression this parser cannot read; the message names the expression and the part."""

    def __init__(self, msg):
        super().__init__(msg, phase="validate")


def _number(text, expr, what):
    if not _NUMBER_RE.match(text):
        raise CalendarError("OnCalendar %r: %s %r is not a number" % (expr, what, text))
    return int(text)


def _field(text, low, high, expr, what):
    """The set of values of one field (``*``, ``a``, ``a..b``, ``a/r``, ``a..b/r``, comma lists)."""
    values = set()
    for item in text.split(","):
        if not item:
            raise CalendarError("OnCalendar %r: empty item in the %s field %r" % (expr, what, text))
        step = None
        if "/" in item:
            item, step_text = item.split("/", 1)
            step = _number(step_text, expr, "repetition of the " + what)
            if step < 1:
                raise CalendarError("OnCalendar %r: repetition /%d in the %s field must be 1 or more" % (expr, step, what))
        if item == "*":
            start, end = low, high
        elif ".." in item:
            first, last = item.split("..", 1)
            start, end = _number(first, expr, what), _number(last, expr, what)
            if end < start:
                raise CalendarError("OnCalendar %r: range %s in the %s field runs backwards" % (expr, item, what))
        else:
            start = _number(item, expr, what)
            end = high if step else start
        if start < low or end > high:
            raise CalendarError("OnCalendar %r: %s %s is outside %d..%d" % (expr, what, item, low, high))
        values.update(range(start, end + 1, step or 1))
    return frozenset(values)


def _weekdays(text, expr):
    days = set()
    for item in text.split(","):
        names = item.split("..")
        if len(names) > 2 or not all(n.lower() in WEEKDAY_NAMES for n in names):
            raise CalendarError("OnCalendar %r: %r is not a weekday or weekday range (e.g. Mon..Fri, Sat,Sun)"
                                % (expr, item))
        first, last = WEEKDAY_NAMES[names[0].lower()], WEEKDAY_NAMES[names[-1].lower()]
        if last < first:
            # systemd refuses it too: the week runs Mon..Sun.
            raise CalendarError("OnCalendar %r: weekday range %s runs backwards (the week is Mon..Sun)" % (expr, item))
        days.update(range(first, last + 1))
    return frozenset(days)


class Calendar(object):
    """A parsed expression: sets of weekdays, years, months, days, and the seconds of the day it fires at."""

    def __init__(self, expr, weekdays, years, months, days, day_seconds):
        self.expr = expr
        self.weekdays = weekdays
        self.years = years
        self.months = months
        self.days = days
        self.day_seconds = day_seconds  # sorted list of seconds after midnight

    def fires_on(self, day):
        return (day.year in self.years and day.month in self.months and day.day in self.days
                and day.weekday() in self.weekdays)

    def matching_days(self, first, last):
        day = first
        one = datetime.timedelta(days=1)
        while day <= last:
            if self.fires_on(day):
                yield day
            day += one

    def firings(self, after, count):
        """The next ``count`` firings strictly after ``after`` (a naive datetime), within YEARS."""
        found = []
        cutoff = (after - datetime.datetime.combine(after.date(), datetime.time())).total_seconds()
        for day in self.matching_days(after.date(), datetime.date(YEARS[1], 12, 31)):
            midnight = datetime.datetime.combine(day, datetime.time())
            start = bisect.bisect_right(self.day_seconds, cutoff) if day == after.date() else 0
            for second in self.day_seconds[start:]:
                found.append(midnight + datetime.timedelta(seconds=second))
                if len(found) == count:
                    return found
        return found

    def largest_gap(self, start, years=DEFAULT_WINDOW_YEARS):
        """Seconds: the longest time between two consecutive firings from ``start`` (a date) over ``years``."""
        end = start.replace(year=start.year + years) if not (start.month == 2 and start.day == 29) \
            else start.replace(year=start.year + years, day=28)
        days = list(self.matching_days(start, end))
        seconds = self.day_seconds
        firings = len(days) * len(seconds)
        if firings < 2:
            raise CalendarError("OnCalendar %r fires %s between %s and %s: too rarely to derive a maximum age; "
                                "set one explicitly" % (self.expr, "once" if firings == 1 else "never", start, end))
        gap = max([b - a for a, b in zip(seconds, seconds[1:])] or [0])
        overnight = 86400 - seconds[-1] + seconds[0]
        for previous, day in zip(days, days[1:]):
            gap = max(gap, (day - previous).days * 86400 - 86400 + overnight)
        return gap


def _split_date(text, expr):
    parts = text.split("-")
    if len(parts) == 2:
        parts = ["*"] + parts
    if len(parts) != 3 or not all(parts):
        raise CalendarError("OnCalendar %r: date %r is not [year-]month-day" % (expr, text))
    for item in parts[0].split(","):
        values = [v for v in item.split("/", 1)[0].split("..") if v != "*"]
        if any(not _NUMBER_RE.match(v) or len(v) != 4 for v in values):
            raise CalendarError("OnCalendar %r: year %r must be * or four digits" % (expr, parts[0]))
    return parts


def _split_time(text, expr):
    parts = text.split(":")
    if len(parts) == 2:
        parts.append("00")
    if len(parts) != 3 or not all(parts):
        raise CalendarError("OnCalendar %r: time %r is not hour:minute[:second]" % (expr, text))
    if "." in parts[2].replace("..", ""):
        raise CalendarError("OnCalendar %r: fractional seconds are not supported" % expr)
    return parts


def parse(expr):
    """A Calendar for ``expr``; CalendarError (one line, naming the expression) when it cannot be read."""
    if not isinstance(expr, str) or not expr.strip():
        raise CalendarError("OnCalendar %r: empty expression" % (expr,))
    text = " ".join(expr.split())
    text = SHORTHANDS.get(text.lower(), text)
    if "~" in text:
        raise CalendarError("OnCalendar %r: '~' (days counted from the end of the month) is not supported" % expr)
    tokens = text.split(" ")
    weekday_text = date_text = time_text = None
    if tokens and tokens[0][:1].isalpha():
        weekday_text = tokens.pop(0)
    for token in tokens:
        if ":" in token and time_text is None:
            time_text = token
        elif "-" in token and date_text is None and time_text is None:
            date_text = token
        else:
            raise CalendarError("OnCalendar %r: cannot read %r (time zones are not supported; the form is "
                                "[weekdays] [year-month-day] [hour:minute[:second]])" % (expr, token))
    if weekday_text is None and date_text is None and time_text is None:
        raise CalendarError("OnCalendar %r: nothing to read" % expr)
    year, month, day = _split_date(date_text or "*-*-*", expr)
    hour, minute, second = _split_time(time_text or "00:00:00", expr)
    hours = _field(hour, 0, 23, expr, "hour")
    minutes = _field(minute, 0, 59, expr, "minute")
    seconds = _field(second, 0, 59, expr, "second")
    day_seconds = sorted(h * 3600 + m * 60 + s for h in hours for m in minutes for s in seconds)
    return Calendar(
        expr,
        _weekdays(weekday_text, expr) if weekday_text else frozenset(range(7)),
        _field(year, YEARS[0], YEARS[1], expr, "year"),
        _field(month, 1, 12, expr, "month"),
        _field(day, 1, 31, expr, "day"),
        day_seconds,
    )


def largest_gap(expr, start=None, years=DEFAULT_WINDOW_YEARS):
    """Seconds between the two consecutive firings of ``expr`` that are furthest apart, from ``start``."""
    return parse(expr).largest_gap(start or datetime.date.today(), years)
