# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import hashlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils import drill
from ansible_collections.dar.backup.plugins.modules import dar_drill


@pytest.fixture(autouse=True)
def no_tools(monkeypatch):
    """dar, par2 and dar_manager 'exist', and running any of them fails the test."""
    monkeypatch.setattr(command, "find_tool", lambda name, phase="validate": "/nonexistent/bin/" + name)

    def refuse(argv, **kwargs):
        raise AssertionError("nothing may run here: %r" % (argv,))
    monkeypatch.setattr(command, "run", refuse)


def run_module(args, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            dar_drill.main()
    return info.value


def fail(args, check=False):
    outcome = run_module(args, check)
    assert outcome.failed, outcome.result
    return outcome.result


def succeed(args, check=False):
    outcome = run_module(args, check)
    assert not outcome.failed, outcome.result
    return outcome.result


@pytest.mark.parametrize("args, words", [
    ({"state": "sample", "name": "docs"}, "backup_dir, root"),
    ({"state": "check", "dest": "/tmp"}, "files"),
    ({"state": "prepare", "dest": "/tmp/x"}, "scratch"),
    ({"state": "record", "drills": []}, "report_dir"),
    ({"state": "restore"}, "one of: sample, prepare, check, record"),
])
def test_required_options_per_state(args, words):
    assert words in fail(args)["msg"]


def test_sample_counts_files_given_as_text(monkeypatch, tmp_path):
    seen = {}

    def fake_sample(dar, backup_dir, name, root, files, seed, max_size):
        seen.update(files=files, seed=seed, max_size=max_size, timeout=dar.timeout)
        return {"changed": False, "files": []}
    monkeypatch.setattr(drill, "sample", fake_sample)
    base = {"state": "sample", "name": "docs", "backup_dir": str(tmp_path), "root": str(tmp_path)}
    succeed(dict(base, files="5", seed="7", timeout=60))
    assert seen == {"files": 5, "seed": "7", "max_size": "100M", "timeout": 60}
    succeed(base)
    assert seen["files"] == 10 and seen["seed"] is None


def test_sample_without_archives_fails_with_one_line(tmp_path):
    (tmp_path / "src").mkdir()
    result = fail({"state": "sample", "name": "docs", "backup_dir": str(tmp_path), "root": str(tmp_path / "src")})
    assert result["msg"] == "no archive of docs in %s" % tmp_path


def test_sample_refuses_a_file_count_that_is_not_a_number(tmp_path):
    result = fail({"state": "sample", "name": "docs", "backup_dir": str(tmp_path), "root": str(tmp_path),
                   "files": "many"})
    assert result["msg"].startswith("validate: files must be a whole number")


def test_check_through_the_module(tmp_path):
    (tmp_path / "a b.txt").write_bytes(b"data")
    files = [{"path": "a b.txt", "size": 4, "sha256": hashlib.sha256(b"data").hexdigest()},
             {"path": "gone", "size": 1, "sha256": "00"}]
    result = succeed({"state": "check", "dest": str(tmp_path), "files": files}, check=True)
    assert result["passed"] is False and result["changed"] is False
    assert result["failures"] == ["gone: missing from the restore"]


def test_prepare_check_mode_touches_nothing(tmp_path):
    result = succeed({"state": "prepare", "scratch": str(tmp_path / "s"), "dest": str(tmp_path / "s" / "h")},
                     check=True)
    assert result["changed"] is True
    assert not (tmp_path / "s").exists()
    result = succeed({"state": "prepare", "scratch": str(tmp_path / "s"), "dest": str(tmp_path / "s" / "h")})
    assert result["path"] == str(tmp_path / "s" / "h") and (tmp_path / "s" / "h").is_dir()


def test_record_through_the_module(tmp_path):
    drills = [{"host": "web1", "target": "web2", "definitions": ["docs"],
               "sample": {"results": [{"failed": True, "msg": "no archive of docs in /srv"}]}}]
    result = succeed({"state": "record", "report_dir": str(tmp_path), "drills": drills})
    assert result["failed_drills"] == ["web1 docs -> web2: no archive of docs in /srv"]
    written = json.loads((tmp_path / "drills.json").read_text())
    assert written["web1"]["docs"]["error"] == "no archive of docs in /srv"
    check = succeed({"state": "record", "report_dir": str(tmp_path / "new"), "drills": drills}, check=True)
    assert check["changed"] is True and not (tmp_path / "new").exists()


def test_documentation_matches_the_argument_spec():
    import yaml
    from ansible_collections.dar.backup.plugins.doc_fragments.common import ModuleDocFragment
    doc = yaml.safe_load(dar_drill.DOCUMENTATION)
    yaml.safe_load(dar_drill.EXAMPLES)
    yaml.safe_load(dar_drill.RETURN)
    assert "dar.backup.common.timeout" in doc["extends_documentation_fragment"]
    options = set(doc["options"]) | set(yaml.safe_load(ModuleDocFragment.TIMEOUT)["options"])
    assert options == {"state", "name", "backup_dir", "root", "files", "seed", "max_size", "scratch",
                       "dest", "report_dir", "drills", "timeout"}
