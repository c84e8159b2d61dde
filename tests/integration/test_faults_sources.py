# -*- coding: utf-8 -*-
"""Sources that fight back: files the backup user may not read, and files written to while dar reads them.

dar saves what it can and says so with exit 5 (a file could not be read) or 11 (a file changed while read);
this collection treats both as warnings. The promise: the archive is published and tests clean, the warning
names each file that was not saved or may be inconsistent, and every other file restores byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import threading

from conftest import UNPRIVILEGED_USER as USER
from conftest import catalog_basenames, dar_list, dar_test, run_module, write_file


def digest(path):
    with open(str(path), "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def tree_digests(root, skip=()):
    found = {}
    for current, _dirs, files in os.walk(str(root)):
        for name in files:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, str(root))
            if rel not in skip:
                found[rel] = digest(full)
    return found


def warnings_of(run):
    """The module's warnings: in the result, or printed by the CLI as [WARNING] lines."""
    return " ".join(run.result.get("warnings") or []) + run.stderr + run.stdout


def test_unreadable_files_are_named_and_the_rest_is_saved(unprivileged_user, user_workdir):
    home = user_workdir / "carol"
    for index in range(8):
        write_file(str(home / "Documents" / ("note %d.txt" % index)), "note %d\n" % index * 40)
    write_file(str(home / "shadow copy.bin"), b"root's secret\n")
    write_file(str(home / "locked dir" / "inside.txt"), b"out of reach\n")
    backup_dir = user_workdir / "carol-backups"
    backup_dir.mkdir()
    for path in [home, backup_dir] + list(home.rglob("*")):
        os.lchown(str(path), unprivileged_user.pw_uid, unprivileged_user.pw_gid)
    # Owned by root, mode 000: the backup user can read neither the file nor the directory's contents.
    for path in (home / "shadow copy.bin", home / "locked dir" / "inside.txt", home / "locked dir"):
        os.lchown(str(path), 0, 0)
        os.chmod(str(path), 0)

    args = {"name": "carol", "root": str(home), "backup_dir": str(backup_dir), "restore_test": {"files": 50}}
    run = run_module("dar_backup", args, become_user=USER)
    assert not run.failed, run
    assert run.result["dar_rc"] == 5, run
    assert run.result["dar_stats"]["failed"] >= 1, run
    said = warnings_of(run)
    assert "rc 5" in said and str(home / "shadow copy.bin") in said and str(home / "locked dir") in said, run
    # The restore test sampled every saved file and all passed: the unreadable ones are simply not in it.
    tested = run.result["restore_test"]
    assert tested["passed"] is True and tested["sampled"] == 8, tested
    assert all(f["result"] == "passed" for f in tested["files"]), tested
    assert dar_test(run.result["archive_path"]) == 0
    assert catalog_basenames(str(backup_dir / "carol.db")) == [run.result["archive"]]
    listing = dar_list(run.result["archive_path"])
    assert "shadow copy.bin" not in listing and "inside.txt" not in listing

    dest = user_workdir / "restored"
    restore = run_module("dar_restore", {"name": "carol", "backup_dir": str(backup_dir), "dest": str(dest)})
    assert not restore.failed, restore
    os.chmod(str(home / "locked dir"), 0o700)
    os.chmod(str(home / "locked dir" / "inside.txt"), 0o600)
    os.chmod(str(home / "shadow copy.bin"), 0o600)
    missing = ("shadow copy.bin", os.path.join("locked dir", "inside.txt"))
    assert tree_digests(dest) == tree_digests(home, skip=missing)
    assert (dest / "locked dir").is_dir() and not (dest / "shadow copy.bin").exists()


class Writer(threading.Thread):
    """Appends to one file and rewrites another, without pause, until told to stop."""

    def __init__(self, growing, rewritten):
        super(Writer, self).__init__(daemon=True)
        self.growing = growing
        self.rewritten = rewritten
        self.stop = threading.Event()
        self.writes = 0

    def run(self):
        while not self.stop.is_set():
            with open(self.growing, "ab") as handle:
                handle.write(b"x")
            with open(self.rewritten, "wb") as handle:
                handle.write(b"log line %d\n" % self.writes)
            self.writes += 1
            self.stop.wait(0.005)


def test_files_changing_during_the_backup(source, backup_dir, workdir):
    # dar reads a 1 GiB sparse file for about a second per attempt, and tries 4 times (--retry-on-change's
    # default) before it saves the file marked dirty and exits 11: the writer changes it during all of them.
    growing = source / "growing.img"
    with open(str(growing), "wb") as handle:
        handle.truncate(1024 ** 3)
    os.utime(str(growing), (1000000000, 1000000000))
    rewritten = source / "docs" / "app.log"
    write_file(str(rewritten), b"log line start\n", 1000000000)
    still = tree_digests(source, skip=("growing.img", os.path.join("docs", "app.log")))

    writer = Writer(str(growing), str(rewritten))
    writer.start()
    try:
        args = {"name": "docs", "root": str(source), "backup_dir": str(backup_dir),
                "restore_test": {"files": 100, "max_size": "2G"}}
        run = run_module("dar_backup", args)
    finally:
        writer.stop.set()
        writer.join()
    assert not run.failed, run
    assert run.result["dar_rc"] == 11, run
    assert run.result["dar_stats"]["changed_while_saving"] >= 1, run
    said = warnings_of(run)
    assert "rc 11" in said and "File modified while reading it for backup" in said and str(growing) in said, run
    assert dar_test(run.result["archive_path"]) == 0
    assert catalog_basenames(str(backup_dir / "docs.db")) == [run.result["archive"]]
    assert "[DIRTY]" in dar_list(run.result["archive_path"])

    # Every saved file was sampled; the two that moved on are changed_since_backup, not failures.
    tested = run.result["restore_test"]
    assert tested["passed"] is True and tested["sampled"] == tested["candidates"] == len(still) + 2, tested
    results = dict((f["path"], f["result"]) for f in tested["files"])
    assert results.pop("growing.img") == "changed_since_backup", tested
    assert results.pop("docs/app.log") == "changed_since_backup", tested
    assert set(results.values()) == {"passed"}, tested

    # A real restore brings back everything, the dirty file too (dar -Q would skip it silently otherwise).
    dest = workdir / "restored"
    restore = run_module("dar_restore", {"name": "docs", "backup_dir": str(backup_dir), "dest": str(dest)})
    assert not restore.failed, restore
    assert tree_digests(dest, skip=("growing.img", os.path.join("docs", "app.log"))) == still
    assert 1024 ** 3 < os.path.getsize(str(dest / "growing.img")) <= os.path.getsize(str(growing))
    assert (dest / "docs" / "app.log").read_bytes().startswith(b"log line ")
