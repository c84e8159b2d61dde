# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.intervals import parse_duration


@pytest.mark.parametrize("value, seconds", [
    ("90s", 90), ("30m", 1800), ("20h", 72000), ("7d", 604800), ("2w", 1209600), ("365d", 365 * 86400),
    ("45", 45), ("0", 0), (" 5 m ", 300), (3600, 3600), (0, 0), (None, None),
])
def test_parse_duration(value, seconds):
    assert parse_duration(value, "min_interval") == seconds


@pytest.mark.parametrize("value", ["", "h", "1.5h", "-5m", "20H", "5y", "20 hours", "1h30m", "abc", True, False,
                                   "5 5"])
def test_parse_duration_invalid(value):
    with pytest.raises(DarBackupError) as info:
        parse_duration(value, "min_interval")
    assert info.value.phase == "validate"
    assert "min_interval" in info.value.msg
