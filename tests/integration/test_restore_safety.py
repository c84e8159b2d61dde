# -*- coding: utf-8 -*-
"""dar_restore never harms a destination: refusals, overwrite, idempotence, check mode, a normal user.

Real dar, dar_manager and par2 through `ansible -m dar.backup.dar_restore`; a FULL and a DIFF are made on two
simulated days with libfaketime (see test_restore_pitr.py).
"""

from __future__ import annotations

import datetime
import os
import stat

import pytest

from conftest import UNPRIVILEGED_USER as USER
from conftest import epoch, faketime_env, iso, run_module, write_file

NAME = "safe"
DAYS = [datetime.datetime(2026, 4, 1, 10, 0, 0), datetime.datetime(2026, 4, 2, 10, 0, 0)]


def snapshot(root):
    """rel path -> (type, content bytes / link target / None, mode, int mtime)."""
    tree = {}
    for current, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, str(root))
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("symlink", os.readlink(full), None, None)
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir", None, stat.S_IMODE(st.st_mode), None)
            else:
                with open(full, "rb") as handle:
                    tree[rel] = ("file", handle.read(), stat.S_IMODE(st.st_mode), int(st.st_mtime))
    return tree


def listing(path):
    """Names directly in a directory (mtimes of /, /tmp or /root change with every ansible run; names do not)."""
    return sorted(n for n in os.listdir(path) if not n.startswith(".ansible"))


class Setup(object):
    def __init__(self, src, backups, archives, trees):
        self.src = src
        self.backups = backups
        self.archives = archives
        self.trees = trees


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    base = tmp_path_factory.mktemp("safety")
    src = base / "src"
    backups = base / "backups"
    archives, trees = [], []
    for index, day in enumerate(DAYS):
        mtime = epoch(day - datetime.timedelta(hours=1))
        if index == 0:
            write_file(str(src / "docs" / "a.txt"), b"alpha v1\n", mtime)
            write_file(str(src / "docs" / "b.txt"), b"bravo\n", mtime)
            write_file(str(src / "notes" / "deep" / "n.txt"), b"deep note\n", mtime)
            write_file(str(src / "top.txt"), b"top level\n", mtime)
            os.symlink("docs/a.txt", str(src / "link"))
        else:
            write_file(str(src / "docs" / "a.txt"), b"alpha v2\n", mtime)
            write_file(str(src / "docs" / "c.txt"), b"charlie, new in the DIFF\n", mtime)
        for directory in (src, src / "docs", src / "notes", src / "notes" / "deep"):
            os.utime(str(directory), (mtime, mtime))
        run = run_module("dar_backup", {"name": NAME, "root": str(src), "backup_dir": str(backups),
                                        "level": "full" if index == 0 else "diff", "restore_test": {"files": 2}},
                         env=faketime_env(day))
        assert not run.failed, run
        expected = "%s_%s_%s_10000" % (NAME, "FULL" if index == 0 else "DIFF", day.strftime("%Y-%m-%d"))
        assert run.result["archive"].startswith(expected), run
        archives.append(run.result["archive"])
        trees.append(snapshot(src))
    return Setup(src, backups, archives, trees)


def restore(made, dest, check=False, **args):
    params = {"name": NAME, "backup_dir": str(made.backups), "dest": str(dest)}
    params.update(args)
    return run_module("dar_restore", params, check=check)


# ---------------------------------------------------------------------------------------------------------
# refusals


@pytest.fixture
def etc_symlink(tmp_path):
    link = tmp_path / "innocent-looking"
    os.symlink("/etc", str(link))
    return link


@pytest.mark.parametrize("dest", ["/", "/etc", "/usr/local/dar-restore-it", "etc-symlink"])
def test_system_destinations_are_refused(made, etc_symlink, dest):
    if dest.startswith("etc-symlink"):
        dest = str(etc_symlink) + dest[len("etc-symlink"):]
    before = {"/": listing("/"), "/etc": listing("/etc"), "/usr/local": listing("/usr/local"),
              "/root": listing("/root")}
    run = restore(made, dest)
    assert run.failed, run
    assert "system directory" in run.result["msg"], run
    after = {"/": listing("/"), "/etc": listing("/etc"), "/usr/local": listing("/usr/local"),
             "/root": listing("/root")}
    assert after == before
    assert not os.path.lexists("/etc/dar-restore-it") and not os.path.lexists("/usr/local/dar-restore-it")
    for name in ("top.txt", "docs", "link"):
        assert not os.path.lexists(os.path.join("/etc", name))


def test_system_destination_is_refused_in_check_mode(made):
    run = restore(made, "/etc", check=True)
    assert run.failed and "system directory" in run.result["msg"], run


def test_relative_dest_is_refused(made):
    run = restore(made, "restore-here")
    assert run.failed, run
    assert "absolute" in run.result["msg"], run
    assert not os.path.lexists("restore-here")


@pytest.mark.parametrize("path", ["docs/../../etc/passwd", "/etc/passwd"])
def test_escaping_or_absolute_paths_are_refused(made, tmp_path, path):
    dest = tmp_path / "dest"
    run = restore(made, dest, paths=[path])
    assert run.failed, run
    msg = run.result["msg"]
    assert ("'..'" in msg or "absolute" in msg) and path in msg, run
    assert not dest.exists()


def test_when_before_the_first_archive_is_refused(made, tmp_path):
    dest = tmp_path / "dest"
    # One second before the FULL's own time.
    run = restore(made, dest, when=iso(DAYS[0] - datetime.timedelta(seconds=1)))
    assert run.failed, run
    assert "no archive was made at or before" in run.result["msg"] and made.archives[0] in run.result["msg"], run
    assert not dest.exists()


def test_unreadable_when_is_refused(made, tmp_path):
    dest = tmp_path / "dest"
    run = restore(made, dest, when="last tuesday")
    assert run.failed and "ISO 8601" in run.result["msg"], run
    assert not dest.exists()


@pytest.mark.parametrize("archive", ["safe_FULL_2026-01-01_100000"])
def test_unknown_archive_is_refused(made, tmp_path, archive):
    dest = tmp_path / "dest"
    run = restore(made, dest, archive=archive)
    assert run.failed, run
    assert archive in run.result["msg"] and "not in" in run.result["msg"], run
    assert not dest.exists()


def test_path_never_saved_is_refused(made, tmp_path):
    dest = tmp_path / "dest"
    run = restore(made, dest, paths=["docs/zulu.txt"])
    assert run.failed, run
    assert "docs/zulu.txt" in run.result["msg"] and "is in no archive" in run.result["msg"], run
    assert not dest.exists()


# ---------------------------------------------------------------------------------------------------------
# overwrite and idempotence


def test_existing_differing_file_needs_overwrite(made, tmp_path):
    dest = tmp_path / "dest"
    first = restore(made, dest)
    assert not first.failed and first.changed, first
    assert snapshot(dest) == made.trees[1]
    local = dest / "docs" / "a.txt"
    write_file(str(local), b"alpha, edited here\n", 1500000000)
    os.unlink(str(dest / "top.txt"))  # missing: would be created, but the restore is all or nothing
    write_file(str(dest / "mine.txt"), b"not from any archive\n", 1500000000)
    refused = restore(made, dest)
    assert refused.failed, refused
    assert "overwrite" in refused.result["msg"] and "docs/a.txt" in refused.result["msg"], refused
    assert local.read_bytes() == b"alpha, edited here\n" and int(os.stat(str(local)).st_mtime) == 1500000000
    assert not (dest / "top.txt").exists()
    assert not [n for n in os.listdir(str(dest)) if n.startswith(".dar-restore")]

    replaced = restore(made, dest, overwrite=True)
    assert not replaced.failed and replaced.changed, replaced
    assert sorted(replaced.result["files"]) == ["docs/a.txt", "top.txt"], replaced
    expected = dict(made.trees[1])
    expected["mine.txt"] = ("file", b"not from any archive\n", 0o644, 1500000000)  # a restore deletes nothing
    assert snapshot(dest) == expected


def test_same_content_other_mtime_is_a_difference(made, tmp_path):
    dest = tmp_path / "dest"
    assert not restore(made, dest, paths=["top.txt"]).failed
    os.utime(str(dest / "top.txt"), (1500000000, 1500000000))
    refused = restore(made, dest, paths=["top.txt"])
    assert refused.failed and "overwrite" in refused.result["msg"], refused
    assert int(os.stat(str(dest / "top.txt")).st_mtime) == 1500000000
    fixed = restore(made, dest, paths=["top.txt"], overwrite=True)
    assert not fixed.failed and fixed.changed, fixed
    assert int(os.stat(str(dest / "top.txt")).st_mtime) == made.trees[1]["top.txt"][3]


def test_symlink_in_dest_is_replaced_never_followed(made, tmp_path):
    """dest/docs is a symlink to a directory outside dest: restoring docs must not write through it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(str(outside), str(dest / "docs"))
    refused = restore(made, dest, paths=["docs"])
    assert refused.failed, refused
    assert os.listdir(str(outside)) == [] and os.path.islink(str(dest / "docs"))
    replaced = restore(made, dest, paths=["docs"], overwrite=True)
    assert not replaced.failed, replaced
    assert os.listdir(str(outside)) == []
    assert not os.path.islink(str(dest / "docs")) and os.path.isdir(str(dest / "docs"))
    assert (dest / "docs" / "a.txt").read_bytes() == b"alpha v2\n"


@pytest.mark.parametrize("args", [{}, {"paths": ["docs/a.txt", "notes"], "archive": "FULL"}])
def test_restoring_twice_changes_nothing_the_second_time(made, tmp_path, args):
    if args.get("archive") == "FULL":
        args = dict(args, archive=made.archives[0])
    dest = tmp_path / "dest"
    first = restore(made, dest, **args)
    assert not first.failed and first.changed and first.result["written"] > 0, first
    after_first = snapshot(dest)
    inodes = dict((rel, os.lstat(str(dest / rel)).st_ino) for rel in after_first)
    second = restore(made, dest, **args)
    assert not second.failed, second
    assert not second.changed and second.result["written"] == 0, second
    assert second.result["unchanged"] == first.result["written"], (first, second)
    assert snapshot(dest) == after_first
    assert dict((rel, os.lstat(str(dest / rel)).st_ino) for rel in after_first) == inodes


# ---------------------------------------------------------------------------------------------------------
# check mode


def test_check_mode_does_not_create_dest(made, tmp_path):
    dest = tmp_path / "not" / "yet"
    run = restore(made, dest, check=True, paths=["docs/a.txt", "top.txt"])
    assert not run.failed, run
    assert run.changed, run
    assert not (tmp_path / "not").exists()
    assert run.result["archives"] == made.archives, run
    sources = dict((r["path"], r["source"]) for r in run.result["restored"])
    assert sources == {"docs/a.txt": made.archives[1], "top.txt": made.archives[0]}, run


def test_check_mode_writes_nothing_into_an_existing_dest(made, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    write_file(str(dest / "docs" / "b.txt"), b"bravo\n", made.trees[1]["docs/b.txt"][3])
    before = snapshot(dest)
    run = restore(made, dest, check=True, when=iso(DAYS[0]))
    assert not run.failed and run.changed, run
    assert run.result["archive"] == made.archives[0] and run.result["archives"] == made.archives[:1], run
    assert run.result["written"] > 0 and "top.txt" in run.result["files"], run
    assert "docs/b.txt" not in run.result["files"], run  # identical already
    assert snapshot(dest) == before
    assert sorted(os.listdir(str(dest))) == ["docs"]
    # Check mode after a real restore: nothing would change.
    assert not restore(made, dest, when=iso(DAYS[0])).failed
    again = restore(made, dest, check=True, when=iso(DAYS[0]))
    assert not again.failed and not again.changed and again.result["written"] == 0, again


def test_check_mode_reports_conflicts_without_touching(made, tmp_path):
    dest = tmp_path / "dest"
    write_file(str(dest / "docs" / "a.txt"), b"local\n", 1500000000)
    run = restore(made, dest, check=True, overwrite=True)
    assert not run.failed and run.changed and "docs/a.txt" in run.result["files"], run
    assert (dest / "docs" / "a.txt").read_bytes() == b"local\n"
    assert sorted(os.listdir(str(dest))) == ["docs"] and os.listdir(str(dest / "docs")) == ["a.txt"]


# ---------------------------------------------------------------------------------------------------------
# a normal user


def test_normal_user_restores_their_archive(unprivileged_user, user_workdir):
    uid, gid = unprivileged_user.pw_uid, unprivileged_user.pw_gid
    home = user_workdir / "alice"
    mtime = epoch(datetime.datetime(2026, 5, 1, 9, 0, 0))
    write_file(str(home / "Documents" / "letter.txt"), b"dear bob\n" * 20, mtime)
    write_file(str(home / "private" / "secret.txt"), b"only mine\n", mtime)
    os.chmod(str(home / "private" / "secret.txt"), 0o600)
    os.utime(str(home / "private" / "secret.txt"), (mtime, mtime))
    os.chmod(str(home / "private"), 0o700)
    backups = user_workdir / "alice-backups"
    backups.mkdir()
    restore_root = user_workdir / "alice-restores"
    restore_root.mkdir()
    for path in [home, backups, restore_root] + list(home.rglob("*")):
        os.lchown(str(path), uid, gid)
    made = run_module("dar_backup", {"name": "alice", "root": str(home), "backup_dir": str(backups),
                                     "restore_test": {"files": 2}}, become_user=USER)
    assert not made.failed, made

    dest = restore_root / "everything"
    run = run_module("dar_restore", {"name": "alice", "backup_dir": str(backups), "dest": str(dest)},
                     become_user=USER)
    assert not run.failed and run.changed, run
    assert run.result["archive"] == made.result["archive"], run
    assert snapshot(dest) == snapshot(home)
    for path in [dest] + list(dest.rglob("*")):
        st = os.lstat(str(path))
        assert (st.st_uid, st.st_gid) == (uid, gid), path
    assert stat.S_IMODE(os.stat(str(dest / "private" / "secret.txt")).st_mode) == 0o600

    # owner=true needs root: refused for the user, with nothing written.
    refused = run_module("dar_restore", {"name": "alice", "backup_dir": str(backups),
                                         "dest": str(restore_root / "owned"), "owner": True}, become_user=USER)
    assert refused.failed and "root" in refused.result["msg"], refused
    assert not (restore_root / "owned").exists()

    # A dest the user cannot write: a clear failure, nothing left behind.
    locked = user_workdir / "root-only"
    locked.mkdir(mode=0o755)
    denied = run_module("dar_restore", {"name": "alice", "backup_dir": str(backups), "dest": str(locked / "r")},
                        become_user=USER)
    assert denied.failed, denied
    assert os.listdir(str(locked)) == []
