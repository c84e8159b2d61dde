# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SIGTERM during a backup ends the module with a one-line failure, not a traceback."""

from __future__ import annotations

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.dar.backup.plugins.module_utils.backup import Interrupted
from ansible_collections.dar.backup.plugins.modules import dar_backup


def test_sigterm_is_a_clean_failure(monkeypatch, tmp_path):
    handlers = []
    monkeypatch.setattr(dar_backup.signal, "signal", lambda signum, handler: handlers.append((signum, handler)))

    def interrupted(request, check_mode=False):
        raise Interrupted("terminated by signal 15")
    monkeypatch.setattr(dar_backup, "run_backup", interrupted)
    (tmp_path / "src").mkdir()
    args = {"name": "docs", "root": str(tmp_path / "src"), "backup_dir": str(tmp_path / "b")}
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            dar_backup.main()
    assert info.value.failed
    result = info.value.result
    assert result["phase"] == "interrupted"
    assert result["msg"].startswith("interrupted: terminated by signal 15;") and "\n" not in result["msg"]
    # A second SIGTERM while failing is ignored, so the failure is still reported.
    assert handlers[-1] == (dar_backup.signal.SIGTERM, dar_backup.signal.SIG_IGN)
