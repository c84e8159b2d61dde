# -*- coding: utf-8 -*-
"""Sources that fight back: files the backup user may not read, and files written to while dar reads them.

dar saves what it can and says so with exit 5 (a file could not be read) or 11 (a file changed while read);
this collection treats both as warnings. The promise: the archive is published and tests clean, the warning
names each file that was not saved or may be inconsistent, and every other file restores byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import shutil

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


_CONTROLLED_DAR = r"""#!/usr/bin/python3
# dar whose create (-c) is raced by a writer the test controls with dar's own progress, not with time.
import ctypes, os, select, struct, subprocess, sys, time

REAL, GROWING, REWRITTEN, LOG = %r, %r, %r, %r
if "-c" not in sys.argv:
    os.execv(REAL, [REAL] + sys.argv[1:])

libc = ctypes.CDLL(None, use_errno=True)
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
FAN_CLASS_CONTENT, FAN_CLOEXEC, FAN_MARK_ADD, FAN_OPEN_PERM, FAN_ALLOW, AT_FDCWD = 0x4, 0x1, 0x1, 0x10000, 0x1, -100
# Opened before the mark: the writer's own writes raise no open event for it to answer.
appender = os.open(GROWING, os.O_WRONLY | os.O_APPEND)
events = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY | os.O_CLOEXEC)
if events < 0 or libc.fanotify_mark(events, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, GROWING.encode()) < 0:
    sys.stderr.write("fanotify: %%s (the test needs CAP_SYS_ADMIN)\n" %% os.strerror(ctypes.get_errno()))
    sys.exit(99)
child = subprocess.Popen([REAL] + sys.argv[1:])
appends = 0
while True:
    ready, _w, _x = select.select([events], [], [], 0.2)
    if not ready:
        if child.poll() is not None:
            break
        continue
    data = os.read(events, 4096)
    offset = 0
    while offset < len(data):
        length, _vers, _res, _mlen, _mask, fd, pid = struct.unpack_from("=IBBHQii", data, offset)
        try:
            if pid == child.pid:
                # dar stat()ed the file before this open and stats it again after reading: while its open
                # waits for this answer, the file grows by one byte, so every attempt sees it change.
                os.write(appender, b"x")
                appends += 1
        finally:
            os.write(events, struct.pack("=iI", fd, FAN_ALLOW))
            os.close(fd)
        offset += length
rc = child.wait()
os.close(events)
# Both files move on after the backup, before the restore test compares them: only ever appended to, so every
# state dar could read is a valid prefix; in a later second than anything dar recorded, so the change shows.
done = time.time()
while time.time() < int(done) + 1.05:
    time.sleep(0.05)
os.write(appender, b"x")
with open(REWRITTEN, "ab") as handle:
    handle.write(b"log line after the backup\n")
with open(LOG, "a") as handle:
    handle.write("%%d\n" %% appends)
sys.exit(rc)
"""


def controlled_dar_env(bindir, growing, rewritten):
    """PATH with a dar that changes ``growing`` during each of its reads of it while creating an archive (dar
    retries and at last saves it dirty, exit 11), then appends to both files once dar is done."""
    os.makedirs(str(bindir))
    wrapper = os.path.join(str(bindir), "dar")
    log = os.path.join(str(bindir), "appends")
    with open(wrapper, "w") as handle:
        handle.write(_CONTROLLED_DAR % (shutil.which("dar"), str(growing), str(rewritten), log))
    os.chmod(wrapper, 0o755)
    return {"PATH": "%s:%s" % (bindir, os.environ["PATH"])}, log


def test_files_changing_during_the_backup(source, backup_dir, workdir):
    # One file grows while dar reads it, at every attempt (--retry-on-change's default: 4), so dar saves it
    # marked dirty and exits 11; another is appended to after the backup. The writer waits on dar, never on time.
    growing = source / "growing.img"
    write_file(str(growing), os.urandom(64 * 1024), 1000000000)
    rewritten = source / "docs" / "app.log"
    write_file(str(rewritten), b"log line start\n", 1000000000)
    still = tree_digests(source, skip=("growing.img", os.path.join("docs", "app.log")))

    env, appends = controlled_dar_env(workdir / "bin", growing, rewritten)
    args = {"name": "docs", "root": str(source), "backup_dir": str(backup_dir), "restore_test": {"files": 100}}
    run = run_module("dar_backup", args, env=env)
    assert not run.failed, run
    with open(appends) as handle:
        assert int(handle.read()) >= 2, "dar did not read growing.img more than once: no retry was seen"
    assert run.result["dar_rc"] == 11, run
    assert run.result["dar_stats"]["changed_while_saving"] == 1, run
    said = warnings_of(run)
    assert "rc 11" in said and "File modified while reading it for backup" in said and str(growing) in said, run
    assert str(rewritten) not in said, run
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

    # A real restore brings back everything, the dirty file too (dar -Q would skip it silently otherwise):
    # what dar read of the growing file, a prefix of it longer than it was; the log as it was saved.
    dest = workdir / "restored"
    restore = run_module("dar_restore", {"name": "docs", "backup_dir": str(backup_dir), "dest": str(dest)})
    assert not restore.failed, restore
    assert tree_digests(dest, skip=("growing.img", os.path.join("docs", "app.log"))) == still
    saved, now = (dest / "growing.img").read_bytes(), growing.read_bytes()
    assert 64 * 1024 < len(saved) < len(now) and now.startswith(saved)
    assert (dest / "docs" / "app.log").read_bytes() == b"log line start\n"
