# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dar_report: check mode writes nothing, files are written whole, changed follows the fleet's state."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.dar.backup.plugins.modules import dar_report


def run(args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            dar_report.main()
    return info.value


def gathered(age):
    archive = {"archive": "docs_FULL_2026-11-01_030000", "level": "FULL", "time": "2026-11-01T03:00:00",
               "age_seconds": age, "slices": 1, "complete": True, "size_bytes": 10, "reference": None,
               "readable": True, "error": None, "par2": {"slices_protected": 1, "complete": True}}
    info = {"archives": [archive], "chains": [], "size_bytes": 10, "par2_complete": True,
            "catalog": {"db": "/b/docs.db", "exists": True, "corrupt": None, "in_sync": True, "missing": [],
                        "extra": []}}
    return [{"host": "web1", "result": {"definitions": {"docs": info}}, "definitions": [{"name": "docs"}],
             "schedule": {"full": "yearly", "diff": "", "incr": "daily"}}]


def test_check_mode_builds_the_summary_and_writes_nothing(tmp_path):
    out = tmp_path / "report"
    result = run({"hosts": gathered(3 * 86400), "report_dir": str(out), "_ansible_check_mode": True,
                  "notify_webhook_url": "http://127.0.0.1:1/never", "notify_when": "always"}).result
    assert result["offenders"] == ["web1 docs: STALE: newest INCR, DIFF or FULL is 3d old, max_age 2d"]
    assert result["summary"][0] == result["headline"]
    assert result["notified"] == [] and result["notify_errors"] == []
    assert not out.exists()


def test_writes_both_files_and_changed_follows_the_state(tmp_path):
    out = tmp_path / "report"
    first = run({"hosts": gathered(3600), "report_dir": str(out)}).result
    assert first["changed"] and sorted(os.listdir(str(out))) == ["report.html", "report.json"]
    data = json.loads((out / "report.json").read_text())
    assert data["rows"][0]["state"] == "green" and data["fingerprint"] == first["fingerprint"]
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    # An hour later, same archives: only the ages moved.
    second = run({"hosts": gathered(7200), "report_dir": str(out)}).result
    assert not second["changed"]
    assert json.loads((out / "report.json").read_text())["rows"][0]["last_verified"]["age_seconds"] == 7200
    third = run({"hosts": gathered(3 * 86400), "report_dir": str(out)}).result
    assert third["changed"] and third["counts"]["red"] == 1


def test_drills_file_is_read_and_a_bad_one_is_a_warning(tmp_path, monkeypatch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "drills.json").write_text(json.dumps({"web1": {"docs": {
        "time": "2026-11-22T03:00:00Z", "target": "web2", "archive": "a", "files": 3, "passed": False,
        "failures": ["x: differs"], "error": None}}}))
    result = run({"hosts": gathered(3600), "report_dir": str(out)}).result
    assert result["offenders"] == ["web1 docs: DRILL FAILED at 2026-11-22T03:00:00Z on web2: x: differs"]
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    (out / "drills.json").write_text("{not json")
    result = run({"hosts": gathered(3600), "report_dir": str(out)}).result
    assert result["offenders"] == [] and "cannot be read" in warnings[0]


def test_unwritable_report_dir_fails_with_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run({"hosts": gathered(3600), "report_dir": str(blocker / "sub")}).result
    assert result["msg"].startswith("cannot write the report into %s" % (blocker / "sub"))


def test_host_without_name_and_bad_grace_are_clear_errors(tmp_path):
    result = run({"hosts": [{"result": {}}], "report_dir": str(tmp_path)}).result
    assert result["msg"] == "hosts[0] has no host: give each entry the inventory name as host"
    result = run({"hosts": gathered(3600), "report_dir": str(tmp_path), "max_age_grace": "a day"}).result
    assert result["msg"].startswith("validate: max_age_grace 'a day' is not a duration")
