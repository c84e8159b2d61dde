# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime
import errno
import os
import shutil
import sys
import threading
import time

import pytest

from ansible_collections.dar.backup.plugins.module_utils import backup as backup_mod
from ansible_collections.dar.backup.plugins.module_utils import catalog as catalog_mod
from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils import fsutil
from ansible_collections.dar.backup.plugins.module_utils.backup import (
    BackupRequest,
    Par2Settings,
    choose_level,
    make_plan,
    recover_stale,
    run_backup,
)
from ansible_collections.dar.backup.plugins.module_utils.definition import Definition
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.lock import WORK_DIR, DefinitionLock
from ansible_collections.dar.backup.plugins.module_utils.par2 import par2_files_for
from ansible_collections.dar.backup.plugins.module_utils.restore_test import RestoreTestSettings

DAY = 86400
NOW = datetime.datetime(2026, 6, 15, 12, 0, 0)
OLD = time.time() - 3600
SUMMARY = " 3 inode(s) saved\n 0 inode(s) failed to be saved (filesystem error)\n Total number of inode(s) considered: 5\n"


# --- fakes for dar, par2 and dar_manager ----------------------------------------------------------------------

class FakeDar(object):
    """Writes fake slices like dar -c would, lists the source as dar -l -Txml would, extracts by copying."""

    def __init__(self, root, backup_dir, slices=2, rc=0, warning=None, fail=None, write_slices=True):
        self.root = root
        self.backup_dir = backup_dir
        self.slices = slices
        self.rc = rc
        self.warning = warning
        self.fail = fail
        self.write_slices = write_slices
        self.calls = []
        self.published_when_tested = None

    @staticmethod
    def version():
        return "2.7.8"

    def header(self, archive_path):
        """Archives the tests made by hand have no manifest: the plan reads their header."""
        self.calls.append(("header", archive_path))
        if not os.path.exists(archive_path + ".1.dar"):
            raise DarBackupError("dar cannot read the catalogue of %s" % archive_path, phase="read")
        return {}

    def create(self, archive_path, selection_args, reference_path=None, comment=None):
        self.calls.append(("create", archive_path, list(selection_args), reference_path))
        self.comment = comment
        if self.write_slices:
            for n in range(1, self.slices + 1):
                with open("%s.%d.dar" % (archive_path, n), "wb") as handle:
                    handle.write(b"DAR slice %d " % n * 100)
        if self.fail == "create":
            raise DarBackupError("dar -c (create) failed with rc 2", phase="create", rc=2, cmd=["dar", "-c"])
        return command.CommandResult(["dar", "-c", archive_path], self.rc, SUMMARY, "", 0.1), self.warning

    def test(self, archive_path):
        self.calls.append(("test", archive_path))
        basename = os.path.basename(archive_path)
        self.published_when_tested = os.path.exists(os.path.join(self.backup_dir, basename + ".1.dar"))
        if self.fail == "verify":
            raise DarBackupError("dar -t found %s unusable: rc 5" % archive_path, phase="verify", rc=5,
                                 cmd=["dar", "-t", archive_path])
        if self.fail == "interrupt":
            raise backup_mod.Interrupted("terminated by signal 15")
        return command.CommandResult(["dar", "-t", archive_path], 0, "", "", 0.1)

    def list_saved_xml(self, archive_path, xml_path):
        self.calls.append(("list", archive_path))
        parts = ["<Catalog>\n"]
        for dirpath, _dirs, files in os.walk(self.root):
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                dirs = rel.split("/")[:-1]
                parts += ['<Directory name="%s">\n<Attributes data="saved" />\n' % d for d in dirs]
                parts.append('<File name="%s" size="%d o">\n<Attributes data="saved" />\n</File>\n'
                             % (name, os.path.getsize(os.path.join(dirpath, name))))
                parts.append("</Directory>\n" * len(dirs))
        parts.append("</Catalog>\n")
        with open(xml_path, "w") as handle:
            handle.write("".join(parts))
        return command.CommandResult(["dar", "-l"], 0, "", "", 0.1)

    def extract_one(self, archive_path, relpath, dest, restore_owner):
        self.calls.append(("extract", relpath))
        target = os.path.join(dest, relpath)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(self.root, relpath), target)
        if self.fail == "restore":
            with open(target, "r+b") as handle:
                handle.write(b"#")
            st = os.stat(os.path.join(self.root, relpath))
            os.utime(target, (st.st_atime, st.st_mtime))
        return command.CommandResult(["dar", "-x"], 0, "", "", 0.1)


class FakePar2(object):
    def __init__(self, fail=False):
        self.fail = fail
        self.calls = []

    def create(self, slice_path, redundancy, block_count=None):
        self.calls.append((slice_path, redundancy, block_count))
        with open(slice_path + ".par2", "w") as handle:
            handle.write("index")
        if self.fail:
            raise DarBackupError("par2 create for %s failed with rc 6" % os.path.basename(slice_path),
                                 phase="par2", rc=6, cmd=["par2", "create"])
        with open(slice_path + ".vol000+01.par2", "w") as handle:
            handle.write("volume")
        return par2_files_for(os.path.basename(slice_path), os.path.dirname(slice_path))

    def create_all(self, slice_paths, redundancy, block_count=None, workers=1, stop=None):
        self.workers = workers
        made = []
        for path in slice_paths:
            if stop is not None and stop():
                raise command.Stopped()
            made += self.create(path, redundancy, block_count)
        return made


class FakeCatalog(object):
    def __init__(self):
        self.calls = []

    def ensure(self):
        self.calls.append(("ensure",))
        return True

    def add(self, archive_path):
        self.calls.append(("add", archive_path))

    def list(self):
        """What dar_manager -l would show: every archive added so far, numbered from 1."""
        self.calls.append(("list",))
        added = [os.path.split(call[1]) for call in self.calls if call[0] == "add"]
        return [(number, directory, base) for number, (directory, base) in enumerate(added, 1)]


# --- fixtures -----------------------------------------------------------------------------------------------

@pytest.fixture
def src(tmp_path, helpers):
    root = str(tmp_path / "src")
    for rel, data in (("a.txt", b"alpha"), ("docs/b.txt", b"bravo" * 10), ("docs/deep/c.bin", b"c" * 300)):
        helpers.touch(os.path.join(root, rel), data, mtime=OLD)
    return root


@pytest.fixture
def backup_dir(tmp_path):
    path = tmp_path / "backup"
    path.mkdir(mode=0o750)  # private, as the configure role makes it: no warning about others reading it
    return str(path)


@pytest.fixture
def make_request(src, backup_dir, tmp_path):
    def make(**kwargs):
        kwargs.setdefault("restore_test", RestoreTestSettings(files=5, seed=1, work_dir=str(tmp_path)))
        kwargs.setdefault("par2", Par2Settings(redundancy=7))
        definition = kwargs.pop("definition", None) or Definition("docs", root=src)
        return BackupRequest(definition, kwargs.pop("backup_dir", backup_dir), **kwargs)
    return make


@pytest.fixture
def tools(src, backup_dir):
    def make(dar=None, par2=None, catalog=None, target=None, **dar_kwargs):
        return {"dar": dar or FakeDar(src, target or backup_dir, **dar_kwargs), "par2": par2 or FakePar2(),
                "catalog": catalog or FakeCatalog()}
    return make


def tree(path):
    """Every path below ``path`` with its size, to prove nothing was written."""
    found = []
    for dirpath, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            found.append((os.path.relpath(full, path), os.path.getsize(full) if os.path.isfile(full) else None))
    return sorted(found)


def dar_files(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".dar"))


# --- choose_level and make_plan ------------------------------------------------------------------------------

def _archives(helpers, *specs):
    """specs: (level, days before NOW)."""
    result = []
    for level, days in specs:
        stamp = NOW - datetime.timedelta(days=days)
        result.append(helpers.archive("docs_%s_%s" % (level, stamp.strftime("%Y-%m-%d_%H%M%S"))))
    return sorted(result, key=lambda a: a.sort_key())


@pytest.mark.parametrize("specs, expected", [
    ((), "FULL"),
    ((("DIFF", 3),), "FULL"),  # a DIFF is no use without a FULL
    ((("FULL", 10),), "DIFF"),  # no DIFF since the FULL
    ((("FULL", 400),), "FULL"),  # FULL older than full_interval
    ((("FULL", 365),), "FULL"),  # exactly the interval
    ((("FULL", 10), ("DIFF", 5)), "INCR"),
    ((("FULL", 100), ("DIFF", 40)), "DIFF"),  # DIFF older than diff_interval
    ((("FULL", 100), ("DIFF", 40), ("INCR", 1)), "DIFF"),
    ((("FULL", 100), ("DIFF", 90), ("FULL", 20)), "DIFF"),  # the DIFF belongs to the older FULL
    ((("FULL", 100), ("DIFF", 20), ("INCR", 2)), "INCR"),
])
def test_choose_level_auto(make_request, helpers, specs, expected):
    request = make_request(full_interval=365 * DAY, diff_interval=30 * DAY)
    assert choose_level(request, _archives(helpers, *specs), NOW) == expected


def test_choose_level_auto_without_intervals(make_request, helpers):
    request = make_request()
    assert choose_level(request, _archives(helpers, ("FULL", 5000)), NOW) == "DIFF"
    assert choose_level(request, _archives(helpers, ("FULL", 5000), ("DIFF", 4000)), NOW) == "INCR"


@pytest.mark.parametrize("level", ["full", "diff", "incr"])
def test_choose_level_explicit(make_request, helpers, level):
    assert choose_level(make_request(level=level), [], NOW) == level.upper()


def test_request_validation(make_request):
    with pytest.raises(DarBackupError) as info:
        make_request(level="weekly")
    assert info.value.phase == "validate" and "weekly" in info.value.msg
    with pytest.raises(DarBackupError):
        make_request(incr_reference="newest")


def test_make_plan_min_interval_skips(make_request, backup_dir, helpers):
    helpers.make_archive(backup_dir, "docs_FULL_2026-06-15_020000")  # 10 h before NOW
    helpers.make_archive(backup_dir, "other_FULL_2026-06-15_115959")  # another definition does not count
    plan = make_plan(make_request(min_interval=20 * 3600), NOW)
    assert plan["skip"] is True
    assert plan["existing"].basename == "docs_FULL_2026-06-15_020000"

    plan = make_plan(make_request(min_interval=8 * 3600), NOW)
    assert plan["skip"] is False
    assert plan["level"] == "DIFF"
    assert plan["reference"].basename == "docs_FULL_2026-06-15_020000"
    assert plan["name"].basename == "docs_DIFF_2026-06-15_120000"


def test_make_plan_min_interval_with_nothing_on_disk(make_request):
    plan = make_plan(make_request(min_interval=20 * 3600), NOW)
    assert plan["skip"] is False and plan["level"] == "FULL" and plan["reference"] is None


def test_make_plan_incr_without_full(make_request):
    with pytest.raises(DarBackupError) as info:
        make_plan(make_request(level="incr"), NOW)
    assert info.value.phase == "plan"


def test_make_plan_adopts_dar_backup_names(make_request, backup_dir, helpers):
    helpers.make_archive(backup_dir, "docs_FULL_2026-01-01")
    helpers.make_archive(backup_dir, "docs_DIFF_2026-06-01")
    plan = make_plan(make_request(level="incr"), NOW)
    assert plan["reference"].basename == "docs_DIFF_2026-06-01"


# --- Par2Settings --------------------------------------------------------------------------------------------

def test_par2_settings_per_level():
    s = Par2Settings(redundancy=5, redundancy_full=10, redundancy_incr="3")
    assert s.redundancy_for("FULL") == 10
    assert s.redundancy_for("DIFF") == 5
    assert s.redundancy_for("INCR") == 3
    assert s.enabled is True
    assert s.directory is None and s.block_count == backup_mod.DEFAULT_PAR2_BLOCK_COUNT == 1000


def test_par2_settings_directory_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    assert Par2Settings(directory="par2").directory == str(tmp_path / "par2")


@pytest.mark.parametrize("kwargs, word", [
    ({"redundancy": 0}, "redundancy"), ({"redundancy": 101}, "redundancy"), ({"redundancy": "x"}, "redundancy"),
    ({"redundancy_full": 0}, "redundancy_full"), ({"redundancy_diff": 200}, "redundancy_diff"),
    ({"redundancy_incr": "lots"}, "redundancy_incr"),
    ({"block_count": 0}, "block_count"), ({"block_count": 32769}, "block_count"), ({"block_count": "x"}, "block_count"),
])
def test_par2_settings_invalid(kwargs, word):
    with pytest.raises(DarBackupError) as info:
        Par2Settings(**kwargs)
    assert info.value.phase == "validate"
    assert word in info.value.msg


def test_par2_settings_block_count_bounds():
    assert Par2Settings(block_count=1).block_count == 1
    assert Par2Settings(block_count="32768").block_count == 32768


def test_request_without_par2_settings_disables_par2(make_request):
    request = make_request(par2=None)
    assert request.par2.enabled is False


# --- selection arguments -------------------------------------------------------------------------------------

def test_backup_dir_inside_root_is_excluded(src, tmp_path):
    inner = os.path.join(src, "var", "backup")
    request = BackupRequest(Definition("docs", root=src, compression="none"), inner,
                            par2=Par2Settings(directory=os.path.join(src, "p2")), catalog_dir=str(tmp_path / "cat"))
    args = backup_mod._selection_args(request)
    assert args == ["-R", src, "-P", "var/backup", "-P", "p2"]


def test_backup_dir_outside_root_is_not_excluded(src, backup_dir):
    request = BackupRequest(Definition("docs", root=src, compression="none"), backup_dir)
    assert backup_mod._selection_args(request) == ["-R", src]


def test_sibling_with_common_prefix_is_not_excluded(src):
    request = BackupRequest(Definition("docs", root=src, compression="none"), src + "-backup")
    assert backup_mod._selection_args(request) == ["-R", src]


# --- recover_stale -------------------------------------------------------------------------------------------

def test_recover_stale(backup_dir, helpers):
    work = os.path.join(backup_dir, WORK_DIR)
    os.makedirs(work)
    # a killed run of docs: its staging dir, and slices 3 and 2 already moved out, slice 1 never
    stale = "docs_FULL_2026-06-14_100000"
    helpers.make_archive(os.path.join(work, stale), stale, slices=3)
    helpers.touch(os.path.join(backup_dir, stale + ".3.dar"))
    helpers.touch(os.path.join(backup_dir, stale + ".2.dar"))
    # a staging dir left after a complete publication: the archive itself stays
    done = "docs_DIFF_2026-06-14_110000"
    os.makedirs(os.path.join(work, done))
    kept_done = helpers.make_archive(backup_dir, done, slices=2)
    # complete archives of this and of other definitions
    kept = helpers.make_archive(backup_dir, "docs_FULL_2026-06-01_100000", slices=2)
    kept += helpers.make_archive(backup_dir, "media_FULL_2026-06-14_100000", slices=2)
    kept += helpers.make_archive(backup_dir, "docs2_FULL_2026-06-14_100000", slices=1)
    # another definition's staging (its own run holds its own lock) and unrelated entries in the work dir
    os.makedirs(os.path.join(work, "media_INCR_2026-06-14_100000"))
    os.makedirs(os.path.join(work, "docs2_INCR_2026-06-14_100000"))
    helpers.touch(os.path.join(work, "docs.lock"))
    helpers.touch(os.path.join(work, "docs_FULL_2026-06-14_120000"))  # a file, not a staging dir

    recovered = recover_stale(work, backup_dir, "docs")

    assert sorted(recovered) == [done, stale]
    assert not os.path.exists(os.path.join(work, stale))
    assert not os.path.exists(os.path.join(work, done))
    assert not os.path.exists(os.path.join(backup_dir, stale + ".2.dar"))
    assert not os.path.exists(os.path.join(backup_dir, stale + ".3.dar"))
    for path in kept + kept_done:
        assert os.path.isfile(path), path
    assert os.path.isdir(os.path.join(work, "media_INCR_2026-06-14_100000"))
    assert os.path.isdir(os.path.join(work, "docs2_INCR_2026-06-14_100000"))
    assert os.path.isfile(os.path.join(work, "docs.lock"))
    assert os.path.isfile(os.path.join(work, "docs_FULL_2026-06-14_120000"))


def test_recover_stale_removes_orphan_par2_files(backup_dir, helpers):
    # Publication moves the PAR2 files first, then slices last to first. A run killed in between leaves
    # PAR2 files of an archive that never appeared; recovering that run must take them back out as well.
    work = os.path.join(backup_dir, WORK_DIR)
    stale = "docs_FULL_2026-06-14_100000"
    helpers.make_archive(os.path.join(work, stale), stale, slices=1)
    helpers.touch(os.path.join(backup_dir, stale + ".2.dar"))
    orphans = [helpers.touch(os.path.join(backup_dir, stale + ".%d.dar.par2" % n)) for n in (1, 2)]
    orphans.append(helpers.touch(os.path.join(backup_dir, stale + ".1.dar.vol000+01.par2")))
    keep = helpers.touch(os.path.join(backup_dir, "docs_FULL_2026-06-01_100000.1.dar.par2"))
    helpers.make_archive(backup_dir, "docs_FULL_2026-06-01_100000")

    assert recover_stale(work, backup_dir, "docs") == [stale]
    assert not os.path.exists(os.path.join(backup_dir, stale + ".2.dar"))
    assert os.path.isfile(keep)
    assert [p for p in orphans if os.path.exists(p)] == []


# --- run_backup: check mode ----------------------------------------------------------------------------------

def test_check_mode_writes_nothing(make_request, backup_dir, tools, helpers):
    helpers.make_archive(backup_dir, "docs_FULL_2026-06-01_100000")
    before = tree(backup_dir)
    fakes = tools()
    result = run_backup(make_request(), check_mode=True, now=NOW, tools=fakes)
    assert tree(backup_dir) == before
    assert result["changed"] is True
    assert result["level"] == "DIFF"
    assert result["reference"] == "docs_FULL_2026-06-01_100000"
    assert result["archive"] == "docs_DIFF_2026-06-15_120000"
    # Only a read: the FULL has no manifest, so its header proves it is an archive before a DIFF refers to it.
    assert fakes["dar"].calls == [("header", os.path.join(backup_dir, "docs_FULL_2026-06-01_100000"))]
    assert fakes["par2"].calls == [] and fakes["catalog"].calls == []


def test_check_mode_missing_backup_dir_is_not_created(make_request, tmp_path, tools):
    target = str(tmp_path / "new" / "backup")
    result = run_backup(make_request(backup_dir=target), check_mode=True, now=NOW, tools=tools())
    assert result["level"] == "FULL" and result["reference"] is None and result["changed"] is True
    assert not os.path.exists(str(tmp_path / "new"))


def test_check_mode_unwritable_backup_dir(make_request, tmp_path, tools, monkeypatch):
    monkeypatch.setattr(backup_mod.os, "access", lambda path, mode: False)
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(backup_dir=str(tmp_path / "b")), check_mode=True, now=NOW, tools=tools())
    assert info.value.phase == "validate"


# --- run_backup: the pipeline --------------------------------------------------------------------------------

def test_run_backup_success(make_request, backup_dir, tools, monkeypatch):
    moved = []
    real_move = backup_mod.move_into

    def recording_move(path, dst_dir):
        moved.append(os.path.basename(path))
        return real_move(path, dst_dir)
    monkeypatch.setattr(backup_mod, "move_into", recording_move)
    fakes = tools(slices=3)
    result = run_backup(make_request(), now=NOW, tools=fakes)

    base = "docs_FULL_2026-06-15_120000"
    assert result["changed"] is True
    assert result["archive"] == base and result["level"] == "FULL" and result["reference"] is None
    assert result["archive_path"] == os.path.join(backup_dir, base)
    assert result["slices"] == [os.path.join(backup_dir, "%s.%d.dar" % (base, n)) for n in (1, 2, 3)]
    assert dar_files(backup_dir) == ["%s.%d.dar" % (base, n) for n in (1, 2, 3)]
    assert result["size_bytes"] == sum(os.path.getsize(p) for p in result["slices"]) > 0
    assert result["dar_rc"] == 0
    assert result["dar_stats"] == {"saved": 3, "failed": 0, "considered": 5}
    assert result["verify"] == {"enabled": True, "passed": True}
    assert result["restore_test"]["passed"] is True
    assert result["restore_test"]["sampled"] == 3
    assert result["warnings"] == []
    # PAR2: index + volume per slice, published beside the slices
    assert result["par2"]["redundancy"] == 7
    assert result["par2"]["dir"] == backup_dir
    par2_names = sorted(n for n in os.listdir(backup_dir) if n.endswith(".par2"))
    assert par2_names == sorted(["%s.%d.dar.par2" % (base, n) for n in (1, 2, 3)]
                                + ["%s.%d.dar.vol000+01.par2" % (base, n) for n in (1, 2, 3)])
    assert sorted(result["par2"]["files"]) == sorted(os.path.join(backup_dir, n) for n in par2_names)
    assert result["par2"]["size_bytes"] == sum(os.path.getsize(p) for p in result["par2"]["files"])
    assert [c[1] for c in fakes["par2"].calls] == [7, 7, 7]
    # the staging area is gone; only the lock file stays in the work dir
    assert os.listdir(os.path.join(backup_dir, WORK_DIR)) == ["docs.lock"]
    # dar tested the archive in staging, before anything was published
    assert fakes["dar"].published_when_tested is False
    create = fakes["dar"].calls[0]
    assert create[0] == "create"
    assert create[1] == os.path.join(backup_dir, WORK_DIR, base, base)
    assert create[3] is None
    # slice 1 is published last
    slice_moves = [n for n in moved if n.endswith(".dar")]
    assert slice_moves == ["%s.%d.dar" % (base, n) for n in (3, 2, 1)]
    assert moved.index(slice_moves[0]) > max(moved.index(n) for n in moved if n.endswith(".par2"))
    # cataloged after publication
    assert fakes["catalog"].calls == [("ensure",), ("list",), ("add", os.path.join(backup_dir, base))]
    assert result["catalog"]["added"] is True and result["catalog"]["created"] is True
    assert result["catalog"]["db"] == os.path.join(backup_dir, "docs.db")
    for phase in ("create", "verify", "restore_test", "par2", "publish", "catalog", "total"):
        assert phase in result["durations"]
    assert base in result["msg"] and "3 slice(s)" in result["msg"]


def test_run_backup_diff_refers_to_the_full(make_request, backup_dir, tools):
    first = run_backup(make_request(), now=NOW, tools=tools())
    fakes = tools()
    second = run_backup(make_request(), now=NOW + datetime.timedelta(hours=1), tools=fakes)
    assert first["level"] == "FULL"
    assert second["level"] == "DIFF"
    assert second["reference"] == first["archive"]
    assert fakes["dar"].calls[0][3] == os.path.join(backup_dir, first["archive"])
    third = run_backup(make_request(), now=NOW + datetime.timedelta(hours=2), tools=tools())
    assert third["level"] == "INCR" and third["reference"] == second["archive"]


def test_run_backup_warning_is_reported(make_request, tools):
    warning = "dar -c (create) finished with rc 11: some files changed while they were being saved"
    result = run_backup(make_request(), now=NOW, tools=tools(rc=11, warning=warning))
    assert result["dar_rc"] == 11
    assert result["warnings"] == [warning]


def test_run_backup_par2_dir_and_disabled_features(make_request, backup_dir, tmp_path, tools):
    par2_dir = str(tmp_path / "par2")
    result = run_backup(make_request(par2=Par2Settings(directory=par2_dir, redundancy_full=12), verify=False,
                                     restore_test=None, catalog=False), now=NOW, tools=tools(slices=1))
    assert result["par2"]["dir"] == par2_dir
    assert result["par2"]["redundancy"] == 12
    assert sorted(os.listdir(par2_dir)) == ["docs_FULL_2026-06-15_120000.1.dar.par2",
                                            "docs_FULL_2026-06-15_120000.1.dar.vol000+01.par2"]
    assert not [n for n in os.listdir(backup_dir) if n.endswith(".par2")]
    assert result["verify"] == {"enabled": False, "passed": None}
    assert result["restore_test"]["enabled"] is False
    assert result["catalog"] == {"enabled": False, "db": None, "added": False, "created": False}


def test_run_backup_without_par2(make_request, backup_dir, tools):
    fakes = tools()
    result = run_backup(make_request(par2=Par2Settings(enabled=False)), now=NOW, tools=fakes)
    assert fakes["par2"].calls == []
    assert result["par2"]["files"] == [] and result["par2"]["dir"] is None
    assert not [n for n in os.listdir(backup_dir) if n.endswith(".par2")]


def test_run_backup_min_interval_skip(make_request, backup_dir, tools, helpers):
    helpers.make_archive(backup_dir, "docs_FULL_2026-06-15_100000")
    before = tree(backup_dir)
    fakes = tools()
    result = run_backup(make_request(min_interval=20 * 3600), now=NOW, tools=fakes)
    # (no 'skipped' key is asserted: Ansible would read skipped=true as a skipped task)
    assert result["changed"] is False
    assert result["archive"] == "docs_FULL_2026-06-15_100000"
    assert result["archive_path"] == os.path.join(backup_dir, "docs_FULL_2026-06-15_100000")
    assert "slices" not in result
    assert tree(backup_dir) == before
    assert fakes["dar"].calls == [("header", os.path.join(backup_dir, "docs_FULL_2026-06-15_100000"))]


def _assert_nothing_published(backup_dir, fakes):
    assert dar_files(backup_dir) == []
    assert not [n for n in os.listdir(backup_dir) if n.endswith(".par2")]
    work = os.path.join(backup_dir, WORK_DIR)
    assert [n for n in os.listdir(work) if os.path.isdir(os.path.join(work, n))] == []
    assert fakes["catalog"].calls == []


def test_run_backup_verify_failure(make_request, backup_dir, tools):
    fakes = tools(fail="verify")
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(), now=NOW, tools=fakes)
    assert info.value.phase == "verify"
    assert info.value.rc == 5
    _assert_nothing_published(backup_dir, fakes)


def test_run_backup_verify_failure_keeps_earlier_archives(make_request, backup_dir, tools, helpers):
    earlier = helpers.make_archive(backup_dir, "docs_FULL_2026-06-01_100000", slices=2)
    fakes = tools(fail="verify")
    with pytest.raises(DarBackupError):
        run_backup(make_request(), now=NOW, tools=fakes)
    assert dar_files(backup_dir) == sorted(os.path.basename(p) for p in earlier)


def test_run_backup_restore_test_failure(make_request, backup_dir, tools):
    fakes = tools(fail="restore")
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(), now=NOW, tools=fakes)
    assert info.value.phase == "restore_test"
    assert "content differs" in info.value.msg
    _assert_nothing_published(backup_dir, fakes)


def test_run_backup_par2_failure(make_request, backup_dir, tools):
    fakes = tools(par2=FakePar2(fail=True))
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(), now=NOW, tools=fakes)
    assert info.value.phase == "par2"
    _assert_nothing_published(backup_dir, fakes)


def test_run_backup_create_failure(make_request, backup_dir, tools):
    fakes = tools(fail="create")
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(), now=NOW, tools=fakes)
    assert info.value.phase == "create"
    _assert_nothing_published(backup_dir, fakes)


def test_run_backup_create_without_slices(make_request, backup_dir, tools):
    fakes = tools(write_slices=False)
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(), now=NOW, tools=fakes)
    assert info.value.phase == "create"
    assert "wrote no slice" in info.value.msg
    _assert_nothing_published(backup_dir, fakes)


def test_run_backup_interrupted(make_request, backup_dir, tools):
    fakes = tools(fail="interrupt")
    with pytest.raises(backup_mod.Interrupted):
        run_backup(make_request(), now=NOW, tools=fakes)
    _assert_nothing_published(backup_dir, fakes)


def _failing_slice1_move(monkeypatch):
    real_move = backup_mod.move_into

    def failing_move(path, dst_dir):
        if path.endswith(".1.dar"):
            raise OSError(28, "No space left on device")
        return real_move(path, dst_dir)
    monkeypatch.setattr(backup_mod, "move_into", failing_move)


def test_run_backup_publish_failure_unpublishes(make_request, backup_dir, tools, monkeypatch):
    _failing_slice1_move(monkeypatch)
    fakes = tools(slices=3)
    with pytest.raises((OSError, DarBackupError)):
        run_backup(make_request(), now=NOW, tools=fakes)
    _assert_nothing_published(backup_dir, fakes)


def test_run_backup_publish_failure_is_reported_with_phase(make_request, tools, monkeypatch):
    # run_backup promises DarBackupError with a phase ("publish" is one of errors.py's phases); a raw OSError
    # becomes a module traceback instead of a failure message that says what went wrong.
    _failing_slice1_move(monkeypatch)
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(), now=NOW, tools=tools(slices=3))
    assert info.value.phase == "publish"
    assert "No space left on device" in info.value.msg


def test_run_backup_catalog_failure_keeps_archive(make_request, backup_dir, tools, monkeypatch):
    calls = []

    def dar_manager(argv, timeout=None, **kwargs):
        calls.append(list(argv))
        if "-C" in argv:
            with open(argv[argv.index("-C") + 1], "w") as handle:
                handle.write("db")
            return command.CommandResult(argv, 0, "", "", 0.1)
        return command.CommandResult(argv, 0, "Corrupted database\n", "", 0.1)
    monkeypatch.setattr(command, "run", dar_manager)
    request = make_request()
    real_catalog = catalog_mod.Catalog(request.db_path, binary="/usr/bin/dar_manager")
    with pytest.raises(DarBackupError) as info:
        run_backup(request, now=NOW, tools=tools(catalog=real_catalog))
    err = info.value
    base = "docs_FULL_2026-06-15_120000"
    assert err.phase == "catalog"
    assert base in err.msg and "made and verified" in err.msg and "Corrupted database" in err.msg
    assert str(err) == err.msg
    assert err.cmd[0] == "/usr/bin/dar_manager" and "-l" in err.cmd  # listing the catalog, before adding to it
    assert dar_files(backup_dir) == ["%s.1.dar" % base, "%s.2.dar" % base]
    assert os.path.exists(os.path.join(backup_dir, "%s.1.dar.par2" % base))
    assert [c[1] for c in calls] == ["-C", "-B"]


def test_run_backup_lock_held(make_request, backup_dir, tools):
    work = os.path.join(backup_dir, WORK_DIR)
    os.makedirs(work)
    fakes = tools()
    with DefinitionLock(os.path.join(work, "docs.lock"), "docs"):
        with pytest.raises(DarBackupError) as info:
            run_backup(make_request(), now=NOW, tools=fakes)
    assert info.value.phase == "lock"
    assert fakes["dar"].calls == []


def test_run_backup_recovers_stale_staging(make_request, backup_dir, tools, helpers):
    stale = "docs_INCR_2026-06-14_100000"
    work = os.path.join(backup_dir, WORK_DIR)
    helpers.make_archive(os.path.join(work, stale), stale, slices=2)
    helpers.touch(os.path.join(backup_dir, stale + ".2.dar"))
    result = run_backup(make_request(), now=NOW, tools=tools())
    assert result["recovered"] == [stale]
    assert dar_files(backup_dir) == ["docs_FULL_2026-06-15_120000.1.dar", "docs_FULL_2026-06-15_120000.2.dar"]


def test_run_backup_missing_backup_dir_is_created(make_request, tmp_path, tools):
    target = str(tmp_path / "new" / "backup")
    result = run_backup(make_request(backup_dir=target), now=NOW, tools=tools(target=target))
    assert os.path.isfile(result["slices"][0])
    assert os.path.dirname(result["slices"][0]) == target


def test_run_backup_diff_without_full_writes_nothing(make_request, backup_dir, tools):
    fakes = tools()
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(level="diff"), now=NOW, tools=fakes)
    assert info.value.phase == "plan"
    assert os.listdir(backup_dir) == []
    assert fakes["dar"].calls == []


def test_run_backup_missing_restore_test_dir_is_a_reported_failure(make_request, backup_dir, tools, tmp_path):
    # restore_test.dir pointing nowhere must end as a DarBackupError (a failure message), not a raw
    # FileNotFoundError (a module traceback), and must leave nothing behind.
    missing = str(tmp_path / "no-such-dir")
    fakes = tools()
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(restore_test=RestoreTestSettings(files=2, work_dir=missing)), now=NOW, tools=fakes)
    assert info.value.phase in ("validate", "restore_test")
    assert missing in info.value.msg


# --- fsutil.move_into ---------------------------------------------------------------------------------------------------

def _cross_device(monkeypatch, src):
    real_replace = os.replace

    def replace(a, b):
        if a == src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(a, b)
    monkeypatch.setattr(fsutil.os, "replace", replace)


def test_move_same_filesystem(tmp_path, helpers):
    src = helpers.touch(str(tmp_path / "a" / "x.1.dar"), b"data")
    dst = str(tmp_path / "b")
    os.mkdir(dst)
    assert fsutil.move_into(src, dst) == os.path.join(dst, "x.1.dar")
    assert not os.path.exists(src)
    assert os.listdir(dst) == ["x.1.dar"]


def test_move_across_filesystems(tmp_path, helpers, monkeypatch):
    src = helpers.touch(str(tmp_path / "a" / "x.1.dar"), b"data" * 1000, mtime=OLD)
    dst = str(tmp_path / "b")
    os.mkdir(dst)
    _cross_device(monkeypatch, src)
    moved = fsutil.move_into(src, dst)
    assert moved == os.path.join(dst, "x.1.dar")
    assert not os.path.exists(src)
    assert os.listdir(dst) == ["x.1.dar"]
    with open(moved, "rb") as handle:
        assert handle.read() == b"data" * 1000


def test_move_across_filesystems_failure_leaves_no_partial_file(tmp_path, helpers, monkeypatch):
    # A copy that fails half-way (disk full on the backup volume) must not leave its partial file behind:
    # it would keep the disk full and nothing else ever removes a hidden '.<slice>.partial'.
    src = helpers.touch(str(tmp_path / "a" / "x.1.dar"), b"data" * 1000)
    dst = str(tmp_path / "b")
    os.mkdir(dst)
    _cross_device(monkeypatch, src)

    def copy2(a, b):
        with open(b, "wb") as handle:
            handle.write(b"da")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(fsutil.shutil, "copy2", copy2)
    with pytest.raises((OSError, DarBackupError)):
        fsutil.move_into(src, dst)
    assert os.path.exists(src)
    assert os.listdir(dst) == []


# --- dar -t and the restore test beside PAR2 creation ----------------------------------------------------------

WAIT = 20  # seconds a fake waits for the other side before it gives up (a hang would be the bug)


class SlowChildDar(FakeDar):
    """dar -t that runs a real child (a sleeping Python) through command.run, and says when it has started."""

    def __init__(self, *args, **kwargs):
        self.pid_file = kwargs.pop("pid_file")
        self.started = threading.Event()
        super().__init__(*args, **kwargs)

    def test(self, archive_path):
        self.calls.append(("test", archive_path))
        self.started.set()
        code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
        return command.run([sys.executable, "-c", code, self.pid_file], timeout=300)


def _gone(pid_file):
    with open(pid_file) as handle:
        pid = int(handle.read())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_checks_run_beside_par2(make_request, src, backup_dir, tools):
    """Each side waits for the other to have started: run one after the other, this would time out."""
    par2_running = threading.Event()
    dar_testing = threading.Event()

    class WaitingDar(FakeDar):
        def test(self, archive_path):
            dar_testing.set()
            assert par2_running.wait(WAIT), "dar -t did not run while PAR2 was being created"
            return super().test(archive_path)

    class WaitingPar2(FakePar2):
        def create_all(self, *args, **kwargs):
            par2_running.set()
            assert dar_testing.wait(WAIT), "PAR2 creation did not run while dar -t ran"
            return super().create_all(*args, **kwargs)

    fakes = tools(dar=WaitingDar(src, backup_dir, slices=3), par2=WaitingPar2())
    result = run_backup(make_request(), now=NOW, tools=fakes)
    assert result["verify"]["passed"] is True and result["restore_test"]["passed"] is True
    assert len(result["par2"]["files"]) == 6
    assert fakes["par2"].workers == backup_mod.par2_workers(3)
    for phase in ("verify", "restore_test", "par2"):
        assert phase in result["durations"]


def test_restore_test_failure_stops_par2(make_request, src, backup_dir, tools):
    class EndlessPar2(FakePar2):
        stopped = False

        def create_all(self, slice_paths, redundancy, block_count=None, workers=1, stop=None):
            self.create(slice_paths[0], redundancy, block_count)  # a file in staging that must not survive
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                if stop():
                    self.stopped = True
                    raise command.Stopped()
                time.sleep(0.01)
            raise AssertionError("PAR2 creation was not told to stop")

    fakes = tools(fail="restore", par2=EndlessPar2())
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(), now=NOW, tools=fakes)
    assert info.value.phase == "restore_test"
    assert fakes["par2"].stopped is True
    _assert_nothing_published(backup_dir, fakes)


def test_par2_failure_kills_dar_test(make_request, src, backup_dir, tools, tmp_path):
    dar = SlowChildDar(src, backup_dir, pid_file=str(tmp_path / "dar-t.pid"))

    class FailingPar2(FakePar2):
        def create_all(self, *args, **kwargs):
            assert dar.started.wait(WAIT)
            while not (os.path.exists(dar.pid_file) and os.path.getsize(dar.pid_file)):
                time.sleep(0.01)
            raise DarBackupError("par2 create for x.1.dar failed with rc 6", phase="par2", rc=6)

    fakes = tools(dar=dar, par2=FailingPar2())
    started = time.monotonic()
    with pytest.raises(DarBackupError) as info:
        run_backup(make_request(), now=NOW, tools=fakes)
    assert info.value.phase == "par2" and info.value.rc == 6
    assert time.monotonic() - started < 60  # the 120 s child was killed, not waited for
    assert _gone(dar.pid_file)
    # the restore test never started after dar -t was stopped
    assert [c[0] for c in dar.calls] == ["create", "test"]
    _assert_nothing_published(backup_dir, fakes)


def test_sigterm_during_par2_kills_dar_test(make_request, src, backup_dir, tools, tmp_path):
    dar = SlowChildDar(src, backup_dir, pid_file=str(tmp_path / "dar-t.pid"))

    class InterruptedPar2(FakePar2):
        def create_all(self, *args, **kwargs):
            assert dar.started.wait(WAIT)
            # The child creates the file, then writes its pid: wait for the pid, or _gone reads an empty file.
            while not (os.path.exists(dar.pid_file) and os.path.getsize(dar.pid_file)):
                time.sleep(0.01)
            raise backup_mod.Interrupted("terminated by signal 15")

    fakes = tools(dar=dar, par2=InterruptedPar2())
    with pytest.raises(backup_mod.Interrupted):
        run_backup(make_request(), now=NOW, tools=fakes)
    assert _gone(dar.pid_file)
    _assert_nothing_published(backup_dir, fakes)


def test_checks_without_par2_run_in_order(make_request, backup_dir, tools):
    fakes = tools()
    run_backup(make_request(par2=Par2Settings(enabled=False)), now=NOW, tools=fakes)
    assert [c[0] for c in fakes["dar"].calls][:3] == ["create", "test", "list"]


def test_par2_without_checks(make_request, backup_dir, tools):
    fakes = tools()
    result = run_backup(make_request(verify=False, restore_test=None), now=NOW, tools=fakes)
    assert [c[0] for c in fakes["dar"].calls] == ["create"]
    assert len(result["par2"]["files"]) == 4


@pytest.mark.parametrize("slices, cpus, expected", [(1, 8, 1), (3, 2, 2), (3, 8, 3), (9, 64, 4), (4, None, 1)])
def test_par2_workers(monkeypatch, slices, cpus, expected):
    monkeypatch.setattr(backup_mod.os, "cpu_count", lambda: cpus)
    assert backup_mod.par2_workers(slices) == expected


def test_par2_block_count_default_reaches_par2(make_request, tools):
    fakes = tools(slices=2)
    run_backup(make_request(par2=Par2Settings(redundancy=5)), now=NOW, tools=fakes)
    assert [c[2] for c in fakes["par2"].calls] == [1000, 1000]
