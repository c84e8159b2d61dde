# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.modules import dar_backup


@pytest.fixture
def no_tools(monkeypatch):
    """dar, par2 and dar_manager 'exist', and running any of them fails the test."""
    monkeypatch.setattr(command, "find_tool", lambda name, phase="validate": "/nonexistent/bin/" + name)

    def refuse(argv, **kwargs):
        raise AssertionError("nothing may run here: %r" % (argv,))
    monkeypatch.setattr(command, "run", refuse)


def run_module(args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            dar_backup.main()
    return info.value


def fail(args):
    outcome = run_module(args)
    assert outcome.failed, outcome.result
    return outcome.result


def succeed(args):
    outcome = run_module(args)
    assert not outcome.failed, outcome.result
    return outcome.result


@pytest.fixture
def dirs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha")
    return {"root": str(src), "backup_dir": str(tmp_path / "backup")}


def listing(path):
    found = []
    for dirpath, dirnames, files in os.walk(path):
        found += [os.path.relpath(os.path.join(dirpath, n), path) for n in dirnames + files]
    return sorted(found)


@pytest.mark.parametrize("name", ["../x", "a_b", "a;b", "a b"])
def test_bad_name(dirs, no_tools, name):
    result = fail(dict(name=name, **dirs))
    assert repr(name) in result["msg"]
    assert "not safe" in result["msg"]
    assert result["msg"].startswith("validate: ")
    assert not os.path.exists(dirs["backup_dir"])


def test_missing_root(dirs, no_tools, tmp_path):
    missing = str(tmp_path / "missing")
    result = fail(dict(name="docs", root=missing, backup_dir=dirs["backup_dir"]))
    assert missing in result["msg"]
    assert "does not exist" in result["msg"]
    assert result.get("phase") == "validate"


def test_definition_file_and_root_are_mutually_exclusive(dirs, no_tools, tmp_path):
    dcf = tmp_path / "docs.dcf"
    dcf.write_text("-R %s\n" % dirs["root"])
    result = fail(dict(name="docs", definition_file=str(dcf), **dirs))
    assert "mutually exclusive" in result["msg"]
    assert "definition_file" in result["msg"] and "root" in result["msg"]


def test_definition_file_and_include_are_mutually_exclusive(dirs, no_tools, tmp_path):
    dcf = tmp_path / "docs.dcf"
    dcf.write_text("-R %s\n" % dirs["root"])
    result = fail(dict(name="docs", definition_file=str(dcf), include=["a"], backup_dir=dirs["backup_dir"]))
    assert "mutually exclusive" in result["msg"]


def test_root_or_definition_file_required(dirs, no_tools):
    result = fail(dict(name="docs", backup_dir=dirs["backup_dir"]))
    assert "definition_file" in result["msg"] and "root" in result["msg"]


def test_bad_option_values_fail_before_anything(dirs, no_tools):
    assert "compression" in fail(dict(name="docs", compression="brotli", **dirs))["msg"]
    assert "min_interval" in fail(dict(name="docs", min_interval="soon", **dirs))["msg"]
    assert "redundancy" in fail(dict(name="docs", par2=dict(redundancy=0), **dirs))["msg"]
    assert "max_size" in fail(dict(name="docs", restore_test=dict(max_size="huge"), **dirs))["msg"]
    assert not os.path.exists(dirs["backup_dir"])


def test_check_mode_reports_full_and_writes_nothing(dirs, no_tools, tmp_path):
    before = listing(str(tmp_path))
    result = succeed(dict(name="docs", _ansible_check_mode=True, **dirs))
    assert result["changed"] is True
    assert result["level"] == "FULL"
    assert result["reference"] is None
    assert result["archive"].startswith("docs_FULL_")
    assert len(result["archive"]) == len("docs_FULL_2026-01-01_000000")
    assert listing(str(tmp_path)) == before
    assert not os.path.exists(dirs["backup_dir"])


def test_check_mode_with_existing_full_plans_diff(dirs, no_tools, tmp_path):
    os.makedirs(dirs["backup_dir"])
    with open(os.path.join(dirs["backup_dir"], "docs_FULL_2024-12-30.1.dar"), "wb") as handle:
        handle.write(b"dar")
    # Ours, so its manifest proves its shape without running dar (which no_tools forbids).
    with open(os.path.join(dirs["backup_dir"], "docs_FULL_2024-12-30.manifest.json"), "w") as handle:
        json.dump({"format": 1, "archive": "docs_FULL_2024-12-30", "level": "FULL", "reference": None,
                   "slices": [{"number": 1, "name": "docs_FULL_2024-12-30.1.dar", "size": 3, "sha256": "0" * 64}],
                   "par2": {"dir": None, "files": []}}, handle)
    before = listing(str(tmp_path))
    result = succeed(dict(name="docs", _ansible_check_mode=True, full_interval="100000d", **dirs))
    assert result["level"] == "DIFF"
    assert result["reference"] == "docs_FULL_2024-12-30"
    assert listing(str(tmp_path)) == before


def test_check_mode_definition_file(dirs, no_tools, tmp_path):
    dcf = tmp_path / "docs.dcf"
    dcf.write_text("# dar-backup definition\n-R %s\n-z zstd:5\n" % dirs["root"])
    result = succeed(dict(name="docs", definition_file=str(dcf), backup_dir=dirs["backup_dir"],
                          _ansible_check_mode=True, level="full"))
    assert result["level"] == "FULL" and result["changed"] is True


def test_engine_error_becomes_fail_json(dirs, monkeypatch):
    def boom(request, check_mode=False, **kwargs):
        raise DarBackupError("dar -t found x unusable: rc 5, data error", phase="verify", rc=5,
                             stdout="some output", stderr="CRC error", cmd=["/usr/bin/dar", "-t", "x", "-N", "-Q"])
    monkeypatch.setattr(dar_backup, "run_backup", boom)
    result = fail(dict(name="docs", **dirs))
    assert result["msg"] == "verify: dar -t found x unusable: rc 5, data error"
    assert result["rc"] == 5
    assert result["cmd"] == ["/usr/bin/dar", "-t", "x", "-N", "-Q"]
    assert result["stdout"] == "some output"
    assert result["stderr"] == "CRC error"
    assert result["phase"] == "verify"


def test_request_is_built_from_params(dirs, monkeypatch, tmp_path):
    seen = {}

    def capture(request, check_mode=False, **kwargs):
        seen["request"], seen["check_mode"] = request, check_mode
        return {"changed": False, "archive": "docs_FULL_2026-01-01_000000", "level": "FULL", "warnings": ["w1"]}
    monkeypatch.setattr(dar_backup, "run_backup", capture)
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warned.append(text))
    result = succeed(dict(name="docs", include=["Documents"], exclude=["Documents/tmp"], compression="gzip:6",
                          slice_size="4G", level="diff", full_interval="2w", diff_interval="7d", min_interval="20h",
                          incr_reference="previous", verify=False, catalog=False, timeout=60,
                          restore_test=dict(files=3, min_size="1k", max_size="5M", exclude=["*.db"], seed=7),
                          par2=dict(redundancy=9, redundancy_full=15, dir=str(tmp_path / "p2"), block_count=100),
                          **dirs))
    request = seen["request"]
    assert seen["check_mode"] is False
    assert request.definition.name == "docs" and request.definition.root == dirs["root"]
    assert request.definition.include == ["Documents"] and request.definition.exclude == ["Documents/tmp"]
    assert (request.definition.compression_algo, request.definition.compression_level) == ("gzip", 6)
    assert request.definition.slice_size == "4G"
    assert request.backup_dir == dirs["backup_dir"]
    assert request.level == "diff"
    assert (request.full_interval, request.diff_interval, request.min_interval) == (14 * 86400, 7 * 86400, 72000)
    assert request.incr_reference == "previous"
    assert request.verify is False and request.catalog is False and request.timeout == 60
    rt = request.restore_test
    assert (rt.files, rt.min_size, rt.max_size, rt.exclude, rt.seed) == (3, 1024, 5 * 1024 ** 2, ["*.db"], 7)
    assert request.par2.redundancy_for("FULL") == 15 and request.par2.redundancy_for("INCR") == 9
    assert request.par2.directory == str(tmp_path / "p2") and request.par2.block_count == 100
    assert result["changed"] is False
    assert "warnings" not in result  # handed to module.warn instead
    assert warned == ["w1"]


def test_restore_test_and_par2_can_be_disabled(dirs, monkeypatch):
    seen = {}

    def capture(request, check_mode=False, **kwargs):
        seen["request"] = request
        return {"changed": True, "archive": "x", "level": "FULL"}
    monkeypatch.setattr(dar_backup, "run_backup", capture)
    succeed(dict(name="docs", restore_test=dict(enabled=False), par2=dict(enabled=False), **dirs))
    assert seen["request"].restore_test is None
    assert seen["request"].par2.enabled is False


def test_dar_failure_end_to_end(dirs, monkeypatch):
    """Real engine, dar 'fails' with rc 2: the module fails with phase create, and no slice is left."""
    monkeypatch.setattr(command, "find_tool", lambda name, phase="validate": "/usr/bin/" + name)
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(list(argv))
        return command.CommandResult(argv, 2, "partial summary", "Error: No space left on device\n", 0.2)
    monkeypatch.setattr(command, "run", fake_run)
    result = fail(dict(name="docs", **dirs))
    assert result["msg"].startswith("create: dar -c (create) failed with rc 2")
    assert "No space left on device" in result["msg"]
    assert result["rc"] == 2
    assert result["cmd"][:2] == ["/usr/bin/dar", "-c"]
    assert result["stderr"] == "Error: No space left on device\n"
    assert result["stdout"] == "partial summary"
    assert len(calls) == 1
    assert not [n for n in listing(dirs["backup_dir"]) if n.endswith(".dar") or n.endswith(".par2")]
    work = os.path.join(dirs["backup_dir"], ".dar-backup-work")
    assert [n for n in os.listdir(work) if os.path.isdir(os.path.join(work, n))] == []
