# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import collections
import os
import random
import shutil
import time
import types

import pytest

from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils import restore_test as rt
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

OLD = time.time() - 3600  # an mtime from before the backup started


@pytest.mark.parametrize("value, expected", [
    (None, None), (0, 0), (512, 512), ("512", 512), ("64k", 65536), ("64K", 65536), ("20M", 20 * 1024 ** 2),
    ("1G", 1024 ** 3), ("2T", 2 * 1024 ** 4), ("20MiB", 20 * 1024 ** 2), ("20MB", 20 * 1024 ** 2), (" 5 k ", 5120),
    ("100b", 100),
])
def test_parse_size(value, expected):
    assert rt.parse_size(value, "max_size") == expected


@pytest.mark.parametrize("value", ["abc", "1.5M", "-1", "20X", "M", "", True, "20 M B x"])
def test_parse_size_invalid(value):
    with pytest.raises(DarBackupError) as info:
        rt.parse_size(value, "restore_test.max_size")
    assert info.value.phase == "validate"
    assert "restore_test.max_size" in info.value.msg


def test_settings_defaults():
    s = rt.RestoreTestSettings()
    assert s.files == 5
    assert s.min_size == 0
    assert s.max_size == 20 * 1024 ** 2
    assert s.exclude == []


@pytest.mark.parametrize("files", [-1, "5", 2.0, True, None])
def test_settings_bad_files(files):
    with pytest.raises(DarBackupError) as info:
        rt.RestoreTestSettings(files=files)
    assert "restore_test.files" in info.value.msg


def test_settings_max_below_min():
    with pytest.raises(DarBackupError) as info:
        rt.RestoreTestSettings(min_size="2M", max_size="1M")
    assert "smaller" in info.value.msg


def test_settings_no_upper_bound():
    s = rt.RestoreTestSettings(min_size="1k", max_size=None)
    assert s.max_size is None
    assert s.wanted("huge.iso", 10 ** 15)
    assert not s.wanted("tiny", 1023)


def test_wanted_bounds():
    s = rt.RestoreTestSettings(min_size=10, max_size=100)
    assert not s.wanted("a", 9)
    assert s.wanted("a", 10)
    assert s.wanted("a", 100)
    assert not s.wanted("a", 101)
    assert not s.wanted("a", None)


def test_wanted_exclude_by_name_and_path():
    s = rt.RestoreTestSettings(min_size=0, max_size=None, exclude=["*.sqlite", "cache/*", "Documents/secret.txt"])
    assert not s.wanted("home/db.sqlite", 5)  # by name
    assert not s.wanted("db.sqlite", 5)
    assert not s.wanted("cache/x/y", 5)  # by path (fnmatch's * crosses '/')
    assert not s.wanted("Documents/secret.txt", 5)
    assert s.wanted("Other/secret.txt", 5)
    assert s.wanted("home/db.sqlite3", 5)
    assert s.wanted("a/cache/x", 5)
    assert s.wanted("home/DB.SQLITE", 5)  # patterns are case sensitive


def test_reservoir_sample_size():
    rng = random.Random(1)
    assert len(rt.reservoir_sample(range(100), 5, rng)) == 5
    assert sorted(rt.reservoir_sample(range(3), 5, rng)) == [0, 1, 2]
    assert rt.reservoir_sample(iter([]), 5, rng) == []
    assert rt.reservoir_sample(range(10), 0, rng) == []
    sample = rt.reservoir_sample(range(1000), 10, rng)
    assert len(set(sample)) == 10 and all(0 <= x < 1000 for x in sample)


def test_reservoir_sample_deterministic_with_seed():
    a = rt.reservoir_sample((i for i in range(500)), 7, random.Random(42))
    b = rt.reservoir_sample((i for i in range(500)), 7, random.Random(42))
    c = rt.reservoir_sample((i for i in range(500)), 7, random.Random(43))
    assert a == b
    assert a != c


def test_reservoir_sample_roughly_uniform():
    rng = random.Random(2024)
    counts = collections.Counter()
    rounds, n, k = 4000, 20, 3
    for _round in range(rounds):
        counts.update(rt.reservoir_sample(range(n), k, rng))
    expected = rounds * k / n  # 600
    assert set(counts) == set(range(n))
    for item in range(n):
        assert abs(counts[item] - expected) < expected * 0.2, (item, counts[item])


# --- compare ----------------------------------------------------------------------------------------------

@pytest.fixture
def pair(tmp_path, helpers):
    """A source file and its 'restored' copy, both with an mtime from before the backup."""
    src = helpers.touch(str(tmp_path / "src" / "a.txt"), b"payload", mtime=OLD)
    out = helpers.touch(str(tmp_path / "out" / "a.txt"), b"payload", mtime=OLD)
    os.chmod(src, 0o640)
    os.chmod(out, 0o640)
    return src, out


def test_compare_passed(pair):
    src, out = pair
    assert rt.compare(src, out, time.time(), check_owner=True) == (rt.PASSED, "")


def test_compare_content_differs_same_old_mtime(pair, helpers):
    src, out = pair
    helpers.touch(out, b"paylo4d", mtime=OLD)
    result, detail = rt.compare(src, out, time.time(), check_owner=False)
    assert result == rt.FAILED
    assert "content differs" in detail


def test_compare_size_differs(pair, helpers):
    src, out = pair
    helpers.touch(out, b"pay", mtime=OLD)
    assert rt.compare(src, out, time.time(), check_owner=False)[0] == rt.FAILED


def test_compare_source_modified_after_backup_start(pair, helpers):
    src, out = pair
    started = time.time() - 60
    helpers.touch(src, b"new content")  # mtime now, after the backup started
    result, detail = rt.compare(src, out, started, check_owner=False)
    assert result == rt.CHANGED
    assert "after the backup" in detail


def test_compare_source_touched_after_backup_same_content(pair):
    src, out = pair
    now = time.time()
    os.utime(src, (now, now))
    result, detail = rt.compare(src, out, now - 10, check_owner=False)
    assert result == rt.CHANGED
    assert "mtime" in detail


def test_compare_source_deleted(pair):
    src, out = pair
    os.unlink(src)
    assert rt.compare(src, out, time.time(), check_owner=False)[0] == rt.SOURCE_GONE


def test_compare_not_restored(pair):
    src, out = pair
    os.unlink(out)
    result, detail = rt.compare(src, out, time.time(), check_owner=False)
    assert result == rt.FAILED
    assert "did not restore" in detail


def test_compare_source_no_longer_regular(pair):
    src, out = pair
    os.unlink(src)
    os.symlink(out, src)
    assert rt.compare(src, out, time.time(), check_owner=False)[0] == rt.CHANGED


def test_compare_mode_differs(pair):
    src, out = pair
    os.chmod(out, 0o600)
    result, detail = rt.compare(src, out, time.time(), check_owner=False)
    assert result == rt.FAILED
    assert "mode 600 != 640" in detail


def test_compare_mtime_differs_in_restore(pair):
    src, out = pair
    os.utime(out, (OLD - 500, OLD - 500))
    result, detail = rt.compare(src, out, time.time(), check_owner=False)
    # the archive keeps the mtime the file had when saved: a different one means the source moved on
    assert result == rt.CHANGED
    assert "mtime" in detail


def test_compare_judges_change_by_the_recorded_mtime(pair):
    """A restore that left a fresh mtime is not excused as 'changed since the backup' when the source still has
    the mtime the archive recorded."""
    src, out = pair
    now = time.time()
    os.utime(out, (now, now))
    result, detail = rt.compare(src, out, now + 10, check_owner=False, recorded_size=7, recorded_mtime=int(OLD))
    assert result == rt.FAILED
    assert "the archive recorded %d" % int(OLD) in detail


def test_compare_short_file_fails_even_when_the_source_changed(pair, helpers):
    src, out = pair
    helpers.touch(out, b"pay")  # short, with a fresh mtime, as a dar that ran out of space leaves it
    helpers.touch(src, b"changed since")
    result, detail = rt.compare(src, out, time.time() - 60, check_owner=False, recorded_size=7,
                                recorded_mtime=int(OLD))
    assert (result, detail) == (rt.FAILED, "restored 3 of the 7 bytes the archive recorded")


def test_compare_recorded_values_match(pair, helpers):
    src, out = pair
    assert rt.compare(src, out, time.time(), False, recorded_size=7, recorded_mtime=int(OLD)) == (rt.PASSED, "")
    helpers.touch(src, b"new content")  # the source moved on since: not the archive's fault
    assert rt.compare(src, out, time.time() - 60, False, recorded_size=7, recorded_mtime=int(OLD))[0] == rt.CHANGED


def test_compare_owner_differs(pair, monkeypatch):
    src, out = pair
    real_lstat = os.lstat

    def lstat(path):
        st = real_lstat(path)
        if path != out:
            return st
        # what a restore as another owner looks like, without needing root to chown
        return types.SimpleNamespace(st_mode=st.st_mode, st_size=st.st_size, st_mtime=st.st_mtime,
                                     st_uid=12345, st_gid=12346)
    monkeypatch.setattr(rt.os, "lstat", lstat)
    result, detail = rt.compare(src, out, time.time(), check_owner=True)
    assert result == rt.FAILED
    assert "owner 12345:12346" in detail
    assert rt.compare(src, out, time.time(), check_owner=False)[0] == rt.PASSED


# --- run() with a fake dar ---------------------------------------------------------------------------------

class FakeDar(object):
    """list_saved_xml writes a listing of ``files``; extract_one copies from ``source`` (or corrupts)."""

    def __init__(self, source, files, corrupt=(), short=(), output=""):
        self.source = source
        self.files = files  # relpath -> size shown in the listing
        self.corrupt = set(corrupt)
        self.short = set(short)  # written half, with a fresh mtime, as when the disk fills up
        self.output = output
        self.extracted = []

    def list_saved_xml(self, archive_path, xml_path):
        parts = ['<?xml version="1.0" ?>\n<Catalog format="1.2">\n']
        for relpath, size in sorted(self.files.items()):
            dirs, name = relpath.split("/")[:-1], relpath.split("/")[-1]
            for d in dirs:
                parts.append('<Directory name="%s">\n<Attributes data="saved" />\n' % d)
            mtime = int(os.lstat(os.path.join(self.source, relpath)).st_mtime)
            parts.append('<File name="%s" size="%d o" dirty="no" sparse="no">\n<Attributes data="saved" mtime="%d" />'
                         '\n</File>\n' % (name, size, mtime))
            parts.append("</Directory>\n" * len(dirs))
        parts.append("</Catalog>\n")
        with open(xml_path, "w") as handle:
            handle.write("".join(parts))
        return command.CommandResult(["dar", "-l"], 0, "", "", 0.1)

    def extract_one(self, archive_path, relpath, dest, restore_owner):
        self.extracted.append((relpath, dest))
        target = os.path.join(dest, relpath)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(self.source, relpath), target)
        if relpath in self.corrupt:
            with open(target, "r+b") as handle:
                handle.write(b"#")
            st = os.stat(os.path.join(self.source, relpath))
            os.utime(target, (st.st_atime, st.st_mtime))
        if relpath in self.short:
            with open(target, "r+b") as handle:
                handle.truncate(os.path.getsize(target) // 2)
            os.utime(target)
        return command.CommandResult(["dar", "-x"], 0, self.output, "", 0.1)


@pytest.fixture
def source(tmp_path, helpers):
    root = str(tmp_path / "root")
    files = {"a.txt": b"alpha", "sub/b.bin": b"b" * 50, "sub/deep/c.db": b"c" * 20, "big.iso": b"i" * 5000}
    for rel, data in files.items():
        helpers.touch(os.path.join(root, rel), data, mtime=OLD)
    return root, dict((rel, len(data)) for rel, data in files.items())


def test_run_passes_and_cleans_up(source, tmp_path):
    root, sizes = source
    work = tmp_path / "work"
    work.mkdir()
    settings = rt.RestoreTestSettings(files=10, max_size=1000, exclude=["*.db"], seed=3, work_dir=str(work))
    fake = FakeDar(root, sizes)
    report = rt.run(fake, "/b/x", root, settings, time.time())
    assert report["passed"] is True
    assert report["candidates"] == 2  # big.iso too big, c.db excluded
    assert report["sampled"] == 2
    assert sorted(f["path"] for f in report["files"]) == ["a.txt", "sub/b.bin"]
    assert all(f["result"] == rt.PASSED for f in report["files"])
    assert os.listdir(str(work)) == []  # the private work dir is gone


def test_run_reports_corruption(source, tmp_path):
    root, sizes = source
    settings = rt.RestoreTestSettings(files=10, max_size=None, seed=1, work_dir=str(tmp_path))
    report = rt.run(FakeDar(root, sizes, corrupt=["sub/b.bin"]), "/b/x", root, settings, time.time())
    assert report["passed"] is False
    by_path = dict((f["path"], f) for f in report["files"])
    assert by_path["sub/b.bin"]["result"] == rt.FAILED
    assert by_path["a.txt"]["result"] == rt.PASSED
    assert report["sampled"] == 4


def test_run_sample_count(source, tmp_path):
    root, sizes = source
    settings = rt.RestoreTestSettings(files=2, max_size=None, seed=9, work_dir=str(tmp_path))
    fake = FakeDar(root, sizes)
    report = rt.run(fake, "/b/x", root, settings, time.time())
    assert report["sampled"] == 2 and report["candidates"] == 4
    assert len(fake.extracted) == 2


def test_run_nothing_matches(source, tmp_path):
    root, sizes = source
    settings = rt.RestoreTestSettings(files=3, min_size="1M", max_size=None, work_dir=str(tmp_path))
    report = rt.run(FakeDar(root, sizes), "/b/x", root, settings, time.time())
    assert report["passed"] is None
    assert report["sampled"] == 0
    assert report["warning"] == "restore test proved nothing: none of the 4 saved file(s) matched the size bounds " \
                                "and exclude patterns"


@pytest.mark.parametrize("incremental", [False, True])
def test_run_on_an_archive_that_saved_no_file(tmp_path, incremental):
    """A FULL that saved no file warns (the definition selects nothing); a DIFF or INCR that saved none is normal."""
    settings = rt.RestoreTestSettings(files=3, work_dir=str(tmp_path))
    report = rt.run(FakeDar(str(tmp_path), {}), "/b/x", str(tmp_path), settings, time.time(), incremental=incremental)
    assert report["passed"] is None and report["sampled"] == 0
    assert report["skipped"].startswith("the archive saved no regular file")
    if incremental:
        assert "warning" not in report
    else:
        assert report["warning"] == "restore test proved nothing: the archive saved no regular file; does the " \
                                    "definition's include or exclude select anything?"


def test_run_zero_files_does_not_list(source):
    root, sizes = source

    class Exploding(object):
        def list_saved_xml(self, *a):
            raise AssertionError("must not list")
    report = rt.run(Exploding(), "/b/x", root, rt.RestoreTestSettings(files=0), time.time())
    assert report["passed"] is None and report["warning"] == "restore test proved nothing: restore_test.files is 0"


def test_run_fails_on_a_short_file(source, tmp_path):
    root, sizes = source
    settings = rt.RestoreTestSettings(files=10, max_size=None, seed=1, work_dir=str(tmp_path))
    report = rt.run(FakeDar(root, sizes, short=["big.iso"]), "/b/x", root, settings, time.time())
    assert report["passed"] is False
    by_path = dict((f["path"], f) for f in report["files"])
    assert by_path["big.iso"] == {"path": "big.iso", "size": 5000, "result": rt.FAILED,
                                  "detail": "restored 2500 of the 5000 bytes the archive recorded"}


def test_run_fails_when_dar_says_not_restored(source, tmp_path):
    root, sizes = source
    settings = rt.RestoreTestSettings(files=1, max_size=None, seed=1, work_dir=str(tmp_path))
    fake = FakeDar(root, sizes, output="/w/restore/x not restored (user choice)\n\n ---\n 0 inode(s) restored\n")
    report = rt.run(fake, "/b/x", root, settings, time.time())
    assert report["passed"] is False
    assert report["files"][0]["detail"] == "dar did not restore it: /w/restore/x not restored (user choice)"


def test_run_that_compared_nothing_proves_nothing(source, tmp_path, helpers):
    root, sizes = source
    saved = str(tmp_path / "as-saved")
    shutil.copytree(root, saved)  # what the archive holds; the live files all move on after the backup
    for rel in sizes:
        helpers.touch(os.path.join(root, rel), b"rewritten after the backup")
    settings = rt.RestoreTestSettings(files=10, max_size=None, seed=1, work_dir=str(tmp_path))
    fake = FakeDar(saved, sizes)
    report = rt.run(fake, "/b/x", root, settings, time.time() - 60)
    assert report["passed"] is None and report["sampled"] == 4
    assert all(f["result"] == rt.CHANGED for f in report["files"])
    assert "none of the 4 sampled file(s) could be compared" in report["warning"]
