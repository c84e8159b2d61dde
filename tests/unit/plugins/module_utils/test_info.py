# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""info.runs_in: the runner's last runs per definition, with their ages."""

from __future__ import annotations

import datetime
import json
import os

from ansible_collections.dar.backup.plugins.module_utils import info

NOW = datetime.datetime(2026, 11, 22, 3, 0, 0, tzinfo=datetime.timezone.utc)


def write(path, records):
    with open(path, "w") as handle:
        for record in records:
            handle.write((json.dumps(record) if isinstance(record, dict) else record) + "\n")


def test_missing_state_dir_means_no_records(tmp_path):
    assert info.runs_in(str(tmp_path / "nowhere"), NOW) == {}
    assert info.runs_in(str(tmp_path), NOW) == {}


def test_last_runs_per_definition_with_ages_from_both_files(tmp_path):
    write(str(tmp_path / "runs.jsonl.1"), [
        {"definition": "docs", "command": "backup", "status": "SUCCESS", "finished": "2026-11-20T03:00:00Z"},
        {"definition": "etc", "command": "backup", "status": "FAILURE", "finished": "2026-11-21T03:00:00Z"},
    ])
    write(str(tmp_path / "runs.jsonl"), [
        "not json",
        {"definition": "docs", "command": "verify", "status": "SUCCESS", "finished": "2026-11-22T02:00:00Z"},
        {"definition": "docs", "command": "backup", "status": "WARNING", "finished": "bad time"},
    ])
    runs = info.runs_in(str(tmp_path), NOW)
    assert sorted(runs) == ["docs", "etc"]
    assert runs["docs"]["last_run"]["command"] == "backup" and runs["docs"]["last_run"]["age_seconds"] is None
    assert runs["docs"]["last_runs"]["verify"]["age_seconds"] == 3600
    assert runs["etc"]["last_runs"]["backup"]["age_seconds"] == 86400


def test_unreadable_file_is_no_records(tmp_path):
    os.mkdir(str(tmp_path / "runs.jsonl"))
    assert info.runs_in(str(tmp_path), NOW) == {}
