# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module unit tests: exit_json and fail_json end main() with a ModuleExit carrying the result."""

from __future__ import annotations

import pytest
from ansible.module_utils import basic


class ModuleExit(SystemExit):
    """What AnsibleModule.exit_json / fail_json would print, kept for the test. A SystemExit, as the real
    ones end with sys.exit, so test files catch it without importing this conftest."""

    def __init__(self, result, failed):
        super().__init__(1 if failed else 0)
        self.result = result
        self.failed = failed


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs, failed=False)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        raise ModuleExit(kwargs, failed=True)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
