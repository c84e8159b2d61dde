# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations written the way operators write them: 90s, 30m, 20h, 7d, 2w."""

from __future__ import annotations

import re

from .errors import DarBackupError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*([0-9]+)\s*([smhdw]?)\s*$")


def parse_duration(value, what):
    """Seconds for '20h' (a bare number is seconds); None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DarBackupError("%s %r is not a duration" % (what, value), phase="validate")
    if isinstance(value, int):
        if value < 0:
            raise DarBackupError("%s %r must not be negative" % (what, value), phase="validate")
        return value
    match = _DURATION_RE.match(str(value))
    if not match:
        raise DarBackupError("%s %r is not a duration: use a number with s, m, h, d or w, e.g. 20h" % (what, value),
                             phase="validate")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]
