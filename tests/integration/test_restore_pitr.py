# -*- coding: utf-8 -*-
"""Point-in-time restore through `ansible -m dar.backup.dar_restore`, with real dar and dar_manager.

A history of FULL, DIFF and three INCR archives is made over five simulated days: libfaketime gives the
dar_backup module (and everything it runs) a fake clock, so the archive names carry the simulated times,
and file mtimes are set to match. After each archive the source tree is snapshot; every restore is
compared, file by file, with the snapshot of the archive that holds the state at that time.
"""

from __future__ import annotations

import datetime
import glob
import os
import random
import shutil
import stat
import time

import pytest

from conftest import epoch, faketime_env, iso, run_module, write_file

NAME = "pitr"
DAYS = [datetime.datetime(2026, 3, 1 + index, 10, 0, 0) for index in range(5)]
LEVELS = ["full", "diff", "incr", "incr", "incr"]
FULL, DIFF, INCR1, INCR2, INCR3 = range(5)

# Awkward names that live through the whole history (all restored at every point in time).
AWKWARD = {
    "with space.txt": b"a space in the name\n",
    "new\nline.txt": b"0123456789abcdef\n",
    "\u00dcn\u00efc\u00f8d\u00e9 r\u00e9sum\u00e9.txt": b"unicode v1\n",
    "-leading-dash.txt": b"looks like an option\n",
    "*?[x].txt": b"glob characters\n",
    "glob dir [1]/file?.txt": b"glob characters in a directory\n",
}


# ---------------------------------------------------------------------------------------------------------
# helpers


def archive_time(basename):
    """The time in an archive name <def>_<LEVEL>_<YYYY-MM-DD>_<HHMMSS>."""
    return datetime.datetime.strptime("_".join(basename.rsplit("_", 2)[-2:]), "%Y-%m-%d_%H%M%S")


def snapshot(root):
    """rel path -> (type, content bytes / link target / None, mode, int mtime) of everything below root.

    Directories are compared by mode and mtime too (settle_dir_times keeps the source's consistent).
    """
    tree = {}
    for current, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, str(root))
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("symlink", os.readlink(full), None, None)
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir", None, stat.S_IMODE(st.st_mode), int(st.st_mtime))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as handle:
                    tree[rel] = ("file", handle.read(), stat.S_IMODE(st.st_mode), int(st.st_mtime))
            else:
                tree[rel] = ("other", None, stat.S_IMODE(st.st_mode), int(st.st_mtime))
    return tree


def hardlink_groups(root):
    """The sets of paths that share an inode (regular files with more than one link)."""
    groups = {}
    for current, _dirs, files in os.walk(str(root)):
        for name in files:
            full = os.path.join(current, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                groups.setdefault((st.st_dev, st.st_ino), set()).add(os.path.relpath(full, str(root)))
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def tree_differences(expected, actual):
    """Human-readable differences between two snapshots (empty when identical)."""
    problems = []
    for rel in sorted(set(expected) - set(actual)):
        problems.append("missing: %r" % rel)
    for rel in sorted(set(actual) - set(expected)):
        problems.append("unexpected: %r" % rel)
    for rel in sorted(set(expected) & set(actual)):
        want, got = expected[rel], actual[rel]
        if want[0] != got[0]:
            problems.append("%r: type %s != %s" % (rel, got[0], want[0]))
        elif want[1] != got[1]:
            problems.append("%r: content/target differs (%r != %r)" % (rel, got[1][:40], want[1][:40]))
        elif want[2] != got[2]:
            problems.append("%r: mode %s != %s" % (rel, oct(got[2]), oct(want[2])))
        elif want[3] != got[3]:
            problems.append("%r: mtime %s != %s" % (rel, got[3], want[3]))
    return problems


def assert_same_tree(expected, restored_root, groups=None):
    actual = snapshot(restored_root)
    problems = tree_differences(expected, actual)
    assert not problems, "restored tree differs from the source snapshot:\n  " + "\n  ".join(problems)
    if groups is not None:
        assert hardlink_groups(restored_root) == groups


def restore(history, dest, check=False, become_user=None, **args):
    params = {"name": NAME, "backup_dir": str(history.backups), "dest": str(dest)}
    params.update(args)
    return run_module("dar_restore", params, check=check, become_user=become_user)


def put(root, rel, data, mtime, mode=None):
    path = os.path.join(str(root), rel)
    write_file(path, data, mtime)
    if mode is not None:
        os.chmod(path, mode)
        os.utime(path, (mtime, mtime))


def settle_dir_times(root, mtime, limit):
    """Directories changed by this step (mtime now, after the simulated day) get the day's time."""
    for current, dirs, _files in os.walk(str(root)):
        for name in [os.curdir] + dirs:
            full = os.path.normpath(os.path.join(current, name))
            if os.lstat(full).st_mtime > limit and not os.path.islink(full):
                os.utime(full, (mtime, mtime))


# ---------------------------------------------------------------------------------------------------------
# the history: what changes before each archive


def day0(src, mt):
    put(src, "docs/a.txt", b"alpha v1\n", mt)
    put(src, "docs/same-size.txt", b"A" * 64, mt)
    put(src, "docs/chmod-me.sh", b"#!/bin/sh\necho hi\n", mt, 0o644)
    put(src, "docs/old name.txt", b"rename me\n", mt)  # renamed before INCR1, keeping this mtime
    put(src, "docs/to-delete.txt", b"short-lived\n", mt)  # deleted before INCR1
    put(src, "docs/recreate.txt", b"first life\n", mt)  # deleted before INCR1, back (different) in INCR2
    put(src, "deep/er/file.txt", b"deep file, never changes\n", mt)
    put(src, "private/key.txt", b"secret\n", mt, 0o600)
    os.chmod(os.path.join(str(src), "private"), 0o700)
    # Incompressible, so the FULL has several 20k slices.
    put(src, "big.bin", random.Random(42).getrandbits(8 * 70 * 1024).to_bytes(70 * 1024, "little"), mt)
    for rel, data in AWKWARD.items():
        put(src, rel, data, mt)
    put(src, "hl/one", b"hard linked v1\n", mt)
    os.link(os.path.join(str(src), "hl/one"), os.path.join(str(src), "hl/two"))
    os.symlink("a.txt", os.path.join(str(src), "docs/link-to-a"))
    os.symlink("/nonexistent/target", os.path.join(str(src), "dangling"))
    os.mkdir(os.path.join(str(src), "empty-dir"), 0o750)
    os.chmod(os.path.join(str(src), "empty-dir"), 0o750)


def day1(src, mt):
    put(src, "docs/a.txt", b"alpha v2, longer\n", mt)
    put(src, "docs/same-size.txt", b"B" * 64, mt)  # same size, new content and mtime
    put(src, "docs/new-in-diff.txt", b"new in the DIFF\n", mt)
    os.chmod(os.path.join(str(src), "docs/chmod-me.sh"), 0o755)  # mode only: mtime stays day 0
    put(src, "tmpdir/x.txt", b"a directory that lives one day\n", mt)
    link = os.path.join(str(src), "docs/link-to-a")
    os.unlink(link)
    os.symlink("new-in-diff.txt", link)


def day2(src, mt):
    os.rename(os.path.join(str(src), "docs/old name.txt"), os.path.join(str(src), "docs/new name.txt"))
    os.unlink(os.path.join(str(src), "docs/to-delete.txt"))
    os.unlink(os.path.join(str(src), "docs/recreate.txt"))
    shutil.rmtree(os.path.join(str(src), "tmpdir"))
    put(src, "docs/a.txt", b"alpha v3\n", mt)
    put(src, "hl/one", b"hard linked v2, both names\n", mt)  # same inode: hl/two changes too


def day3(src, mt):
    put(src, "docs/recreate.txt", b"second life, not the same\n", mt)
    put(src, "\u00dcn\u00efc\u00f8d\u00e9 r\u00e9sum\u00e9.txt", b"unicode v2, changed\n", mt)
    put(src, "new dir/in new dir.txt", b"inside a new directory\n", mt)
    os.chmod(os.path.join(str(src), "empty-dir"), 0o700)


def day4(src, mt):
    put(src, "new\nline.txt", b"fedcba9876543210\n", mt)  # same size as before
    os.unlink(os.path.join(str(src), "glob dir [1]/file?.txt"))
    put(src, "docs/a.txt", b"alpha v4, the last one\n", mt)
    put(src, "--double", b"two dashes\n", mt)


MUTATIONS = [day0, day1, day2, day3, day4]


class Step(object):
    def __init__(self, run, tree, groups):
        self.run = run
        self.archive = run.result["archive"]
        self.time = archive_time(self.archive)
        self.tree = tree
        self.groups = groups


class History(object):
    def __init__(self, base, src, backups, steps):
        self.base = base
        self.src = src
        self.backups = backups
        self.steps = steps

    def state_at(self, moment):
        """The step whose archive is the newest at or before moment."""
        return [s for s in self.steps if s.time <= moment][-1]


def backup_args(src, backups, level):
    return {"name": NAME, "root": str(src), "backup_dir": str(backups), "level": level, "slice_size": "20k",
            "restore_test": {"files": 3}, "par2": {"redundancy": 5}}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    base = tmp_path_factory.mktemp("pitr")
    src = base / "src"
    src.mkdir()
    backups = base / "backups"
    steps = []
    for index, (mutate, level) in enumerate(zip(MUTATIONS, LEVELS)):
        day = DAYS[index]
        mtime = epoch(day - datetime.timedelta(hours=1))
        mutate(src, mtime)
        settle_dir_times(src, mtime, epoch(day))
        run = run_module("dar_backup", backup_args(src, backups, level), env=faketime_env(day))
        assert not run.failed, run
        assert run.result["level"] == level.upper(), run
        steps.append(Step(run, snapshot(src), hardlink_groups(src)))
    return History(base, src, backups, steps)


def fresh(tmp_path, name="dest"):
    """A path for a new restore destination (not created)."""
    return tmp_path / name


# ---------------------------------------------------------------------------------------------------------
# the history itself


def test_archive_names_carry_the_simulated_times(history):
    names = [s.archive for s in history.steps]
    for step, day, level in zip(history.steps, DAYS, LEVELS):
        assert step.archive.startswith("%s_%s_%s_" % (NAME, level.upper(), day.strftime("%Y-%m-%d"))), names
        # The fake clock starts at 10:00:00; a run takes a few seconds at most.
        assert day <= step.time < day + datetime.timedelta(minutes=1), names
    # INCRs are made against the DIFF (dar-backup's rule), the DIFF against the FULL.
    assert history.steps[DIFF].run.result["reference"] == names[FULL]
    for index in (INCR1, INCR2, INCR3):
        assert history.steps[index].run.result["reference"] == names[DIFF]
    assert len(history.steps[FULL].run.result["slices"]) >= 3, history.steps[FULL].run
    # The snapshots really differ where the history says they do.
    assert "docs/old name.txt" in history.steps[DIFF].tree and "docs/new name.txt" not in history.steps[DIFF].tree
    assert "docs/new name.txt" in history.steps[INCR1].tree and "docs/old name.txt" not in history.steps[INCR1].tree
    assert history.steps[INCR1].tree["docs/new name.txt"][3] == history.steps[FULL].tree["docs/old name.txt"][3]
    assert history.steps[FULL].groups == [["hl/one", "hl/two"]]


def _points_in_time():
    points = [("at-%s" % label, DAYS[index], index) for index, label in
              enumerate(("full", "diff", "incr1", "incr2", "incr3"))]
    points += [
        ("between-incr1-and-incr2", DAYS[INCR1] + datetime.timedelta(hours=12), INCR1),
        ("a-second-before-incr2", DAYS[INCR2] - datetime.timedelta(seconds=1), INCR1),
        ("after-the-last", DAYS[INCR3] + datetime.timedelta(days=30), INCR3),
    ]
    return points


@pytest.mark.parametrize("label,moment,expected_index", _points_in_time(), ids=[p[0] for p in _points_in_time()])
def test_restore_everything_at_a_point_in_time(history, tmp_path, label, moment, expected_index):
    # An archive's own time (from its name, to the second) selects that archive.
    if label.startswith("at-"):
        moment = history.steps[expected_index].time
    expected = history.steps[expected_index]
    assert history.state_at(moment) is expected
    dest = fresh(tmp_path)
    run = restore(history, dest, when=iso(moment))
    assert not run.failed, run
    assert run.changed, run
    assert run.result["archive"] == expected.archive, run
    chain = [history.steps[FULL].archive]
    if expected_index >= DIFF:
        chain.append(history.steps[DIFF].archive)
    if expected_index >= INCR1:
        chain.append(expected.archive)
    assert run.result["archives"] == chain, run
    assert_same_tree(expected.tree, dest, expected.groups)
    # Nothing of the restore's own left behind in dest.
    assert not [n for n in os.listdir(str(dest)) if n.startswith(".dar-restore")]


@pytest.mark.parametrize("when,offset_hours", [("2026-03-03T10:30:00+01:00", 1)])
def test_when_with_an_offset(history, tmp_path, when, offset_hours):
    wall = datetime.datetime.strptime(when[:19], "%Y-%m-%dT%H:%M:%S")
    aware = wall.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=offset_hours)))
    local = aware.astimezone().replace(tzinfo=None)
    expected = history.state_at(local)
    dest = fresh(tmp_path)
    run = restore(history, dest, when=when)
    assert not run.failed, run
    assert run.result["archive"] == expected.archive, (local, run)
    assert run.result["when"] == iso(local), run
    assert_same_tree(expected.tree, dest, expected.groups)


def test_when_as_a_date_only_is_midnight(history, tmp_path):
    # 2026-03-03 means 2026-03-03T00:00: the DIFF of 2 March 10:00 is the newest archive then.
    dest = fresh(tmp_path)
    run = restore(history, dest, when="2026-03-03")
    assert not run.failed, run
    assert run.result["archive"] == history.steps[DIFF].archive, run
    assert_same_tree(history.steps[DIFF].tree, dest, history.steps[DIFF].groups)


def test_no_when_restores_the_newest(history, tmp_path):
    dest = fresh(tmp_path)
    run = restore(history, dest)
    assert not run.failed, run
    assert run.result["archive"] == history.steps[INCR3].archive, run
    assert_same_tree(history.steps[INCR3].tree, dest, history.steps[INCR3].groups)


@pytest.mark.parametrize("index", [DIFF, INCR2])
def test_archive_option_restores_that_archives_state(history, tmp_path, index):
    dest = fresh(tmp_path)
    step = history.steps[index]
    run = restore(history, dest, archive=step.archive)
    assert not run.failed, run
    assert run.result["archive"] == step.archive and run.result["archives"][-1] == step.archive, run
    assert_same_tree(step.tree, dest, step.groups)


def test_when_and_archive_together_are_refused(history, tmp_path):
    dest = fresh(tmp_path)
    run = restore(history, dest, archive=history.steps[DIFF].archive, when=iso(DAYS[INCR3]))
    assert run.failed, run
    assert "when" in run.result["msg"] and "archive" in run.result["msg"], run
    assert not dest.exists()


# ---------------------------------------------------------------------------------------------------------
# single paths


def _expected_subset(tree, prefixes):
    """The part of a snapshot that restoring ``prefixes`` gives: each path, what is below it, its parents."""
    subset = {}
    for rel, value in tree.items():
        for prefix in prefixes:
            if rel == prefix or rel.startswith(prefix + "/"):
                subset[rel] = value
    return subset


def _parents(paths):
    parents = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for end in range(1, len(parts) + 1):
            parents.add("/".join(parts[:end]))
    return parents


def assert_restored_paths(history, step, dest, prefixes):
    expected = _expected_subset(step.tree, prefixes)
    actual = snapshot(dest)
    parents = _parents(prefixes) - set(expected)
    # Parent directories are created to hold the paths; only their type matters.
    for parent in parents:
        assert actual.pop(parent, (None,))[0] == "dir", (parent, sorted(actual))
    problems = tree_differences(expected, actual)
    assert not problems, "restored paths differ from the source snapshot:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("index,wanted", [
    (INCR3, {"deep/er/file.txt": FULL}),  # a file in a subdirectory, unchanged since the FULL: data in the FULL
    (DIFF, {"docs/a.txt": DIFF, "deep/er/file.txt": FULL}),
    (INCR1, {"docs/a.txt": INCR1, "docs/new name.txt": INCR1, "docs/same-size.txt": DIFF}),
    # INCR2 is made against the DIFF and saves a.txt again; INCR1 is not in its chain.
    (INCR2, {"docs/a.txt": INCR2, "docs/recreate.txt": INCR2, "docs/same-size.txt": DIFF}),
], ids=["incr3-one-file", "diff", "incr1", "incr2"])
def test_single_files_and_their_source(history, tmp_path, index, wanted):
    step = history.steps[index]
    dest = fresh(tmp_path)
    run = restore(history, dest, paths=sorted(wanted), when=iso(step.time + datetime.timedelta(hours=1)))
    assert not run.failed, run
    assert run.result["archive"] == step.archive, run
    expected = [{"path": rel, "status": "found", "kind": "file", "source": history.steps[wanted[rel]].archive}
                for rel in sorted(wanted)]
    assert sorted(run.result["restored"], key=lambda r: r["path"]) == expected, run
    assert_restored_paths(history, step, dest, sorted(wanted))


def test_awkward_names_as_paths(history, tmp_path):
    step = history.steps[INCR2]
    names = [n for n in AWKWARD if n in step.tree]
    dest = fresh(tmp_path)
    run = restore(history, dest, paths=names, when=iso(step.time))
    assert not run.failed, run
    by_path = dict((r["path"], r) for r in run.result["restored"])
    assert sorted(by_path) == sorted(names), run
    for name in names:
        changed_in_incr2 = name.startswith("\u00dc")
        assert by_path[name]["source"] == history.steps[INCR2 if changed_in_incr2 else FULL].archive, by_path[name]
    assert_restored_paths(history, step, dest, names)
    # The glob characters were taken literally: the restore did not pick up other files.
    assert not os.path.exists(str(dest / "docs")) and not os.path.exists(str(dest / "big.bin"))


def test_a_directory_path(history, tmp_path):
    step = history.steps[INCR1]
    dest = fresh(tmp_path)
    run = restore(history, dest, paths=["docs"], when=iso(step.time))
    assert not run.failed, run
    [entry] = run.result["restored"]
    assert entry["path"] == "docs" and entry["kind"] == "directory", run
    assert entry["source"] == [history.steps[i].archive for i in (FULL, DIFF, INCR1)], run
    assert sorted(os.listdir(str(dest))) == ["docs"]
    assert_restored_paths(history, step, dest, ["docs"])
    # The rename trap inside a directory restore: the new name only.
    assert os.path.isfile(str(dest / "docs" / "new name.txt"))
    assert not os.path.lexists(str(dest / "docs" / "old name.txt"))


def test_symlink_and_hard_links_as_paths(history, tmp_path):
    step = history.steps[INCR3]
    dest = fresh(tmp_path)
    run = restore(history, dest, paths=["docs/link-to-a", "hl"], when=iso(step.time))
    assert not run.failed, run
    kinds = dict((r["path"], r["kind"]) for r in run.result["restored"])
    assert kinds == {"hl": "directory", "docs/link-to-a": "symlink"}, run
    assert os.readlink(str(dest / "docs" / "link-to-a")) == "new-in-diff.txt"
    assert os.path.samefile(str(dest / "hl" / "one"), str(dest / "hl" / "two"))
    assert (dest / "hl" / "two").read_bytes() == b"hard linked v2, both names\n"
    assert_restored_paths(history, step, dest, ["docs/link-to-a", "hl"])


def test_hard_links_survive_a_restore_over_an_earlier_partial_one(history, tmp_path):
    """hl/one was restored alone first; restoring the directory hl then must give linked files again."""
    step = history.steps[INCR3]
    dest = fresh(tmp_path)
    first = restore(history, dest, paths=["hl/one"], when=iso(step.time))
    assert not first.failed, first
    second = restore(history, dest, paths=["hl"], when=iso(step.time))
    assert not second.failed, second
    assert (dest / "hl" / "two").read_bytes() == (dest / "hl" / "one").read_bytes() == b"hard linked v2, both names\n"
    links = os.lstat(str(dest / "hl" / "one")).st_nlink
    assert os.path.samefile(str(dest / "hl" / "one"), str(dest / "hl" / "two")), \
        "hl/one and hl/two are separate files (nlink %d), not hard links as saved" % links


# ---------------------------------------------------------------------------------------------------------
# the rename trap and deleted paths


def test_rename_trap(history, tmp_path):
    before, after = history.steps[DIFF], history.steps[INCR1]
    # Before the rename: the old name is there, the new one is in no archive yet.
    dest = fresh(tmp_path, "before")
    run = restore(history, dest, paths=["docs/old name.txt"], when=iso(before.time))
    assert not run.failed, run
    assert (dest / "docs" / "old name.txt").read_bytes() == b"rename me\n"
    run = restore(history, fresh(tmp_path, "before-new"), paths=["docs/new name.txt"], when=iso(before.time))
    assert run.failed, run
    assert "is in no archive" in run.result["msg"], run
    assert not (tmp_path / "before-new").exists()
    # After it: the new name only, although its mtime is that of day 0.
    dest = fresh(tmp_path, "after")
    run = restore(history, dest, paths=["docs/new name.txt"], when=iso(after.time))
    assert not run.failed, run
    assert run.result["restored"][0]["source"] == after.archive, run
    assert (dest / "docs" / "new name.txt").read_bytes() == b"rename me\n"
    assert int(os.lstat(str(dest / "docs" / "new name.txt")).st_mtime) == epoch(DAYS[FULL]) - 3600
    run = restore(history, fresh(tmp_path, "after-old"), paths=["docs/old name.txt"], when=iso(after.time))
    assert run.failed, run
    assert "was deleted before" in run.result["msg"] and before.archive in run.result["msg"], run


@pytest.mark.parametrize("rel,index,last_index", [
    ("docs/to-delete.txt", INCR3, DIFF),
    ("docs/recreate.txt", INCR1, DIFF),  # deleted before INCR1; recreated later, but not yet
    ("tmpdir/x.txt", INCR2, DIFF),  # its directory was deleted
    ("glob dir [1]/file?.txt", INCR3, INCR2),
])
def test_deleted_path_is_reported_and_nothing_written(history, tmp_path, rel, index, last_index):
    dest = tmp_path / "dest"
    dest.mkdir()
    run = restore(history, dest, paths=[rel], when=iso(history.steps[index].time))
    assert run.failed, run
    msg = run.result["msg"]
    assert "was deleted before" in msg and rel in msg, run
    assert history.steps[last_index].archive in msg, run
    assert os.listdir(str(dest)) == []


def test_deleted_path_fails_the_whole_request(history, tmp_path):
    """One deleted path among good ones: the task fails and none of them is written."""
    dest = tmp_path / "dest"
    dest.mkdir()
    run = restore(history, dest, paths=["docs/a.txt", "docs/to-delete.txt"], when=iso(history.steps[INCR2].time))
    assert run.failed, run
    assert "docs/to-delete.txt was deleted before" in run.result["msg"], run
    assert os.listdir(str(dest)) == []


def test_recreated_file_gets_the_version_of_its_time(history, tmp_path):
    for index, content in ((DIFF, b"first life\n"), (INCR3, b"second life, not the same\n")):
        dest = fresh(tmp_path, "d%d" % index)
        run = restore(history, dest, paths=["docs/recreate.txt"], when=iso(history.steps[index].time))
        assert not run.failed, (index, run)
        assert (dest / "docs" / "recreate.txt").read_bytes() == content, index
        expected = history.steps[index].tree["docs/recreate.txt"]
        assert int(os.lstat(str(dest / "docs" / "recreate.txt")).st_mtime) == expected[3]


# ---------------------------------------------------------------------------------------------------------
# damaged or moved archive sets


def copy_backups(history, target):
    shutil.copytree(str(history.backups), str(target), symlinks=True)
    return target


def _slices(backups, archive):
    return sorted(glob.glob(os.path.join(glob.escape(str(backups)), glob.escape(archive) + ".*.dar")))


def test_missing_middle_slice_fails_before_extracting(history, tmp_path):
    backups = copy_backups(history, tmp_path / "copy")
    full = history.steps[FULL].archive
    slices = _slices(backups, full)
    assert len(slices) >= 3, slices
    os.unlink(str(backups / ("%s.2.dar" % full)))
    for args in ({"when": iso(history.steps[INCR1].time)},):
        dest = tmp_path / "dest"
        dest.mkdir(exist_ok=True)
        write_file(str(dest / "keep.txt"), b"mine\n", 1000000000)
        run = run_module("dar_restore", dict({"name": NAME, "backup_dir": str(backups), "dest": str(dest)}, **args))
        assert run.failed, (args, run)
        assert full in run.result["msg"] and "slice" in run.result["msg"] and "2" in run.result["msg"], run
        assert os.listdir(str(dest)) == ["keep.txt"]
        assert (dest / "keep.txt").read_bytes() == b"mine\n"


def test_missing_last_slice_fails(history, tmp_path):
    backups = copy_backups(history, tmp_path / "copy")
    full = history.steps[FULL].archive
    last = _slices(backups, full)
    last.sort(key=lambda p: int(p.rsplit(".", 2)[-2]))
    os.unlink(last[-1])
    dest = tmp_path / "dest"
    run = run_module("dar_restore", {"name": NAME, "backup_dir": str(backups), "dest": str(dest), "archive": full})
    assert run.failed, run
    assert full in run.result["msg"], run
    assert not dest.exists() or os.listdir(str(dest)) == []


@pytest.mark.parametrize("index", [INCR3])
def test_missing_diff_is_named_and_nothing_restored(history, tmp_path, index):
    backups = copy_backups(history, tmp_path / "copy")
    diff = history.steps[DIFF].archive
    for path in _slices(backups, diff):
        os.unlink(path)
    assert not _slices(backups, diff)
    dest = tmp_path / "dest"
    dest.mkdir()
    write_file(str(dest / "docs" / "a.txt"), b"local edit\n", 1000000000)
    before = snapshot(dest)
    run = run_module("dar_restore", {"name": NAME, "backup_dir": str(backups), "dest": str(dest),
                                     "when": iso(history.steps[index].time), "overwrite": True})
    assert run.failed, run
    assert diff in run.result["msg"], run
    assert snapshot(dest) == before
    assert sorted(os.listdir(str(dest))) == ["docs"]


def test_damaged_slice_fails_and_writes_nothing(history, tmp_path):
    """A middle slice that is present but damaged: dar -x fails, the task fails, dest is untouched."""
    backups = copy_backups(history, tmp_path / "copy")
    middle = backups / ("%s.2.dar" % history.steps[FULL].archive)
    data = middle.read_bytes()
    middle.write_bytes(data[:len(data) // 4] + bytes(len(data) - len(data) // 4))
    dest = tmp_path / "dest"
    dest.mkdir()
    write_file(str(dest / "keep.txt"), b"mine\n", 1000000000)
    run = run_module("dar_restore", {"name": NAME, "backup_dir": str(backups), "dest": str(dest)})
    assert run.failed, run
    assert history.steps[FULL].archive in run.result["msg"], run
    assert os.listdir(str(dest)) == ["keep.txt"]


def test_missing_diff_is_not_replaced_by_the_full(history, tmp_path):
    """The DIFF was the newest archive at `when`, but its slices are gone: restoring the older FULL instead would
    be a silent restore of the wrong point in time. The INCRs' headers (and the catalog) still name the DIFF."""
    backups = copy_backups(history, tmp_path / "copy")
    diff = history.steps[DIFF].archive
    for path in _slices(backups, diff):
        os.unlink(path)
    dest = tmp_path / "dest"
    run = run_module("dar_restore", {"name": NAME, "backup_dir": str(backups), "dest": str(dest),
                                     "when": iso(history.steps[DIFF].time + datetime.timedelta(hours=1))})
    assert run.failed, ("restored %s as the state at a time when %s was the newest archive: %r"
                        % (run.result.get("archive"), diff, run))
    assert diff in run.result["msg"], run
    assert not dest.exists() or os.listdir(str(dest)) == []


def test_restore_on_a_second_machine(history, tmp_path):
    """Only the backup directory, copied to another path: the restore needs nothing else, not even the catalog."""
    elsewhere = tmp_path / "other host" / "mnt" / "backups"
    os.makedirs(str(elsewhere.parent))
    copy_backups(history, elsewhere)
    hidden = history.backups.parent / "backups.away"
    os.rename(str(history.backups), str(hidden))  # the original archive directory is gone meanwhile
    try:
        for index in (INCR3, INCR2):
            dest = tmp_path / "other host" / "restore" / str(index)
            run = run_module("dar_restore", {"name": NAME, "backup_dir": str(elsewhere), "dest": str(dest),
                                             "when": iso(history.steps[index].time)})
            assert not run.failed, run
            assert run.result["archive"] == history.steps[index].archive, run
            assert_same_tree(history.steps[index].tree, dest, history.steps[index].groups)
            if index == INCR3:
                # The catalog database is not needed either: the next restore goes without it.
                os.unlink(str(elsewhere / ("%s.db" % NAME)))
    finally:
        os.rename(str(hidden), str(history.backups))


def test_selection_globs_restore_the_matching_state(workdir):
    """dar-backup's --selection: patterns over the state at `when`, '*' never crossing '/', '**' spanning dirs."""
    root, backup_dir = workdir / "src", workdir / "backups"
    files = {"Photos/a.NEF": b"raw a", "Photos/2025/b.NEF": b"raw b", "Photos/c.jpg": b"jpeg",
             "Documents/tax/2025.pdf": b"pdf", "Documents/top.pdf": b"top", "Documents/x.txt": b"text",
             "odd/*?[x].NEF": b"odd"}
    for rel, data in files.items():
        write_file(str(root / rel), data)
    args = {"name": "docs", "root": str(root), "backup_dir": str(backup_dir), "restore_test": {"files": 1}}
    full = run_module("dar_backup", dict(args, level="full"))
    os.unlink(str(root / "Photos" / "a.NEF"))
    time.sleep(1.1)
    diff = run_module("dar_backup", dict(args, level="diff"))
    assert not full.failed and not diff.failed, diff

    def restore(dest, selection, **extra):
        run = run_module("dar_restore", dict({"name": "docs", "backup_dir": str(backup_dir), "dest": str(dest),
                                              "selection": selection}, **extra))
        got = sorted(os.path.relpath(os.path.join(d, f), str(dest)) for d, _dirs, names in os.walk(str(dest))
                     for f in names)
        return run, got

    run, got = restore(workdir / "raw", ["*.NEF"])
    assert not run.failed and run.result["selected"] == 2, run
    assert got == ["Photos/2025/b.NEF", "odd/*?[x].NEF"]  # a.NEF was deleted before the DIFF
    run, got = restore(workdir / "raw-then", ["*.NEF"], archive=full.result["archive"])
    assert got == ["Photos/2025/b.NEF", "Photos/a.NEF", "odd/*?[x].NEF"], run
    run, got = restore(workdir / "pdf", ["Documents/**/*.pdf"])
    assert got == ["Documents/tax/2025.pdf", "Documents/top.pdf"], run
    run, got = restore(workdir / "one-level", ["Documents/*.pdf"])
    assert got == ["Documents/top.pdf"], run
    with open(str(workdir / "pdf" / "Documents" / "tax" / "2025.pdf"), "rb") as handle:
        assert handle.read() == b"pdf"
    nothing, got = restore(workdir / "none", ["*.mp4"])
    assert nothing.failed and "matches nothing" in nothing.result["msg"] and got == [], nothing
    bad, _got = restore(workdir / "bad", ["../etc/*"])
    assert bad.failed and "without '..'" in bad.result["msg"], bad
