# -*- coding: utf-8 -*-
"""Faults after `dar -c`: kill -9 in the restore test and in PAR2 creation, a slice damaged before `dar -t`,
the disk filling up during PAR2, a corrupt catalog. Each asserts that nothing was lost: the earlier archives are
byte-identical and `dar -t` clean, nothing of the failed run is visible in backup_dir or in the catalog, and the
next run recovers and succeeds.

A phase is hit with a stand-in for dar or par2 early on PATH that, for the one call of that phase, writes a
marker (its pid and its parent's, the module) and sleeps; the test waits for the marker, never for a time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import time

import pytest

from conftest import catalog_basenames, dar_test, parse_adhoc, run_module, small_tmpfs, write_file

NAME = "docs"


def args_for(source, backup_dir, **extra):
    args = {"name": NAME, "root": str(source), "backup_dir": str(backup_dir), "restore_test": {"files": 3}}
    args.update(extra)
    return args


def checksums(directory):
    """Every archive, PAR2 and catalog file in backup_dir by name -> sha256 (the staging area aside)."""
    sums = {}
    for entry in os.listdir(str(directory)):
        path = os.path.join(str(directory), entry)
        if os.path.isfile(path) and entry.endswith((".dar", ".par2", ".db")):
            with open(path, "rb") as handle:
                sums[entry] = hashlib.sha256(handle.read()).hexdigest()
    return sums


def staging_entries(backup_dir):
    work = os.path.join(str(backup_dir), ".dar-backup-work")
    return sorted(n for n in os.listdir(work) if not n.endswith(".lock"))


def assert_nothing_lost(backup_dir, good, before):
    """The archives of ``good`` runs are there byte for byte, test clean, and are all the catalog lists."""
    assert checksums(backup_dir) == before
    for run in good:
        assert dar_test(run.result["archive_path"]) == 0, run.result["archive"]
    assert catalog_basenames(str(backup_dir / (NAME + ".db"))) == [r.result["archive"] for r in good]


def stalling_tool(tmp_path, tool, *triggers):
    """A `tool` for PATH that runs the real one, except when every one of ``triggers`` is among its first three
    arguments (`dar -x`, `par2 create`, `dar_manager -B db -A`): then it writes a marker and sleeps.

    It replaces itself with the real program (exec), and the sleeping one is the very process the module
    started, so the kernel's parent-death signal that the module sets on its children applies to it too.
    """
    real = shutil.which(tool)
    bindir = tmp_path / ("stall-" + tool)
    bindir.mkdir()
    marker = tmp_path / ("%s.stalled" % tool)
    script = bindir / tool
    script.write_text(
        "#!/usr/bin/python3\n"
        "import os, sys, time\n"
        "if all(t in sys.argv[1:4] for t in %r):\n"
        "    with open(%r, 'w') as handle:\n"
        "        handle.write('%%d %%d\\n' %% (os.getpid(), os.getppid()))\n"
        "    os.rename(%r, %r)\n"
        "    time.sleep(3600)\n"
        "os.execv(%r, [%r] + sys.argv[1:])\n"
        % (list(triggers), str(marker) + ".tmp", str(marker) + ".tmp", str(marker), real, real))
    script.chmod(0o755)
    return {"PATH": "%s:%s" % (bindir, os.environ["PATH"])}, marker


def wait_for_marker(marker, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists():
            stalled, module = (int(v) for v in marker.read_text().split())
            return stalled, module
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError("the run ended before reaching the phase: %s %s" % (out[-3000:], err[-3000:]))
        time.sleep(0.02)
    raise AssertionError("the phase was never reached (%s)" % marker)


def wait_gone(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def stop_run(proc, stalled, module, target):
    """Kill or stop the run as ``target`` says; returns the ansible CLI's output."""
    try:
        if target == "module":
            os.kill(module, signal.SIGKILL)
        elif target == "group":
            # The whole ansible command: CLI, worker and module, as a closed terminal or the OOM killer would.
            os.killpg(proc.pid, signal.SIGKILL)
            os.kill(module, signal.SIGKILL)
        else:
            # As from a task timeout or `systemctl stop`: the module unwinds and cleans up at once.
            os.kill(module, signal.SIGTERM)
        out, _err = proc.communicate(timeout=120)
        assert wait_gone(module), "the module survived"
        assert wait_gone(stalled), "the stalled child outlived the module"
    finally:
        for pid in (stalled, module):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return out.decode("utf-8", "replace")


@pytest.mark.parametrize("phase,tool,trigger,target", [
    ("restore_test", "dar", "-x", "module"),
    ("restore_test", "dar", "-x", "group"),
    ("restore_test", "dar", "-x", "sigterm"),
    ("par2", "par2", "create", "module"),
    ("par2", "par2", "create", "sigterm"),
])
def test_killed_before_publication(source, backup_dir, tmp_path, phase, tool, trigger, target):
    full = run_module("dar_backup", args_for(source, backup_dir, level="full"))
    assert not full.failed, full
    before = checksums(backup_dir)
    write_file(str(source / "docs" / "new.txt"), "new since the FULL\n" * 100)

    env, marker = stalling_tool(tmp_path, tool, trigger)
    proc = run_module("dar_backup", args_for(source, backup_dir, level="diff"), env=env, popen=True)
    stalled, module = wait_for_marker(marker, proc)
    out = stop_run(proc, stalled, module, target)

    # No slice, no PAR2 file, no catalog entry of the stopped run; the FULL untouched.
    assert not [n for n in os.listdir(str(backup_dir)) if NAME + "_DIFF_" in n]
    assert_nothing_lost(backup_dir, [full], before)
    leftovers = staging_entries(backup_dir)
    if target == "sigterm":
        result = parse_adhoc(out)
        assert result["failed"] and result["phase"] == "interrupted" and "signal 15" in result["msg"], result
        assert "Traceback" not in out
        assert leftovers == [], "SIGTERM must remove the staging area at once"
    else:
        # kill -9 runs no handler: only the staging area is left, for the next run to recover.
        assert len(leftovers) == 1 and leftovers[0].startswith(NAME + "_DIFF_"), leftovers

    retry = run_module("dar_backup", args_for(source, backup_dir, level="diff"))
    assert not retry.failed, retry
    assert retry.result["recovered"] == leftovers, retry
    assert staging_entries(backup_dir) == []
    assert retry.result["par2"]["files"] and retry.result["restore_test"]["passed"] is True
    after = checksums(backup_dir)
    assert all(after[name] == digest for name, digest in before.items() if not name.endswith(".db"))
    assert dar_test(full.result["archive_path"]) == 0 and dar_test(retry.result["archive_path"]) == 0
    assert catalog_basenames(str(backup_dir / (NAME + ".db"))) == [full.result["archive"], retry.result["archive"]]


def test_killed_while_cataloging(source, backup_dir, tmp_path):
    """Killed after publication, while dar_manager adds the archive: the archive is complete and verified, so it
    stays; the catalog lacks it, dar_info says the catalog is out of sync, and the next backup registers it
    before its own archive. Restores never needed the catalog."""
    full = run_module("dar_backup", args_for(source, backup_dir, level="full"))
    assert not full.failed, full
    write_file(str(source / "docs" / "new.txt"), "new since the FULL\n" * 100)
    env, marker = stalling_tool(tmp_path, "dar_manager", "-A")
    proc = run_module("dar_backup", args_for(source, backup_dir, level="diff"), env=env, popen=True)
    stalled, module = wait_for_marker(marker, proc)
    stop_run(proc, stalled, module, "module")

    assert staging_entries(backup_dir) == []
    diffs = sorted(n[:-len(".1.dar")] for n in os.listdir(str(backup_dir)) if "_DIFF_" in n and n.endswith(".1.dar"))
    assert len(diffs) == 1 and dar_test(str(backup_dir / diffs[0])) == 0
    assert [n for n in os.listdir(str(backup_dir)) if n.startswith(diffs[0]) and n.endswith(".par2")]
    assert catalog_basenames(str(backup_dir / (NAME + ".db"))) == [full.result["archive"]]
    info = run_module("dar_info", {"backup_dir": str(backup_dir), "name": NAME})
    catalog = info.result["definitions"][NAME]["catalog"]
    assert not catalog["in_sync"] and catalog["missing"] == diffs, info

    dest = tmp_path / "restored"
    restore = run_module("dar_restore", {"name": NAME, "backup_dir": str(backup_dir), "dest": str(dest),
                                         "paths": ["docs/new.txt"]})
    assert not restore.failed and restore.result["archive"] == diffs[0], restore
    assert (dest / "docs" / "new.txt").read_bytes() == (source / "docs" / "new.txt").read_bytes()
    # The next backup registers the archive the killed run could not, before its own.
    write_file(str(source / "docs" / "newer.txt"), "new since the DIFF\n")
    incr = run_module("dar_backup", args_for(source, backup_dir, level="incr"))
    assert not incr.failed and incr.result["catalog"]["also_added"] == diffs, incr
    assert catalog_basenames(str(backup_dir / (NAME + ".db"))) == [full.result["archive"]] + diffs + [incr.result["archive"]]
    mend = run_module("dar_catalog", {"name": NAME, "backup_dir": str(backup_dir)})
    assert not mend.failed and not mend.changed, mend


@pytest.mark.parametrize("damage,caught_by", [
    # Random bytes: dar's per-file checksum no longer matches, `dar -t` fails.
    ("random", "verify"),
    # Every byte of 4 KiB XORed with one value: dar's checksum (an XOR over 32-bit words, it turns out) still
    # matches, and `dar -t` and `dar -x` both pass (exit 0) with the wrong bytes. Only the restore test's byte
    # comparison with the source sees it; here the damaged file is the only one the DIFF saved, so it is sampled.
    ("xor", "restore_test"),
])
def test_slice_damaged_before_it_is_checked_is_never_published(source, backup_dir, tmp_path, damage, caught_by):
    """The slice rots between `dar -c` and the checks (bad RAM, a failing disk): nothing is published or
    cataloged."""
    full = run_module("dar_backup", args_for(source, backup_dir, level="full"))
    assert not full.failed, full
    before = checksums(backup_dir)
    write_file(str(source / "photos" / "new.jpg"), os.urandom(400 * 1024))

    real = shutil.which("dar")
    bindir = tmp_path / "rotting-bin"
    bindir.mkdir()
    (bindir / "dar").write_text(
        "#!/usr/bin/python3\n"
        "import os, subprocess, sys\n"
        "rc = subprocess.call([%r] + sys.argv[1:])\n"
        "if sys.argv[1:2] == ['-c']:\n"
        "    # the middle of the slice is the middle of new.jpg, the one file this DIFF saves\n"
        "    with open(sys.argv[2] + '.1.dar', 'r+b') as handle:\n"
        "        size = handle.seek(0, 2)\n"
        "        handle.seek(size // 2)\n"
        "        data = handle.read(4096)\n"
        "        handle.seek(size // 2)\n"
        "        handle.write(os.urandom(4096) if %r == 'random' else bytes(b ^ 0x5a for b in data))\n"
        "sys.exit(rc)\n" % (real, damage))
    (bindir / "dar").chmod(0o755)
    run = run_module("dar_backup", args_for(source, backup_dir, level="diff"),
                     env={"PATH": "%s:%s" % (bindir, os.environ["PATH"])})
    assert run.failed, run
    assert run.result["phase"] == caught_by, run
    if caught_by == "verify":
        assert "dar -t found" in run.result["msg"], run
    else:
        assert "photos/new.jpg" in run.result["msg"] and "content differs" in run.result["msg"], run
    assert staging_entries(backup_dir) == []
    assert_nothing_lost(backup_dir, [full], before)

    retry = run_module("dar_backup", args_for(source, backup_dir, level="diff"))
    assert not retry.failed, retry
    assert retry.result["recovered"] == []
    assert catalog_basenames(str(backup_dir / (NAME + ".db"))) == [full.result["archive"], retry.result["archive"]]


def test_disk_full_during_par2(source, workdir):
    """The archive fits, its PAR2 files do not: the run fails in the PAR2 phase and leaves nothing behind."""
    with small_tmpfs(workdir / "small", "3m") as mount:
        backup_dir = mount / "backups"
        # 100 blocks: with par2's default of 2000, every volume file repeats 40 KiB of block checksums.
        par2 = {"block_count": 100, "redundancy_diff": 100}
        full = run_module("dar_backup", args_for(source, backup_dir, level="full", par2=par2))
        assert not full.failed, full
        before = checksums(backup_dir)
        # The DIFF's slice (1.5 MiB) fits beside the FULL; 100 % redundancy for it does not.
        write_file(str(source / "photos" / "big.jpg"), os.urandom(1536 * 1024))

        diff = run_module("dar_backup", args_for(source, backup_dir, level="diff", par2=par2))
        assert diff.failed, diff
        assert diff.result["phase"] == "par2" and "par2 create" in diff.result["msg"], diff
        assert "disk is full" in diff.result["msg"] or "No space left" in str(diff.result.get("stderr")), diff
        assert staging_entries(backup_dir) == []
        assert_nothing_lost(backup_dir, [full], before)

        retry = run_module("dar_backup", args_for(source, backup_dir, level="diff",
                                                  par2={"block_count": 100, "redundancy_diff": 5}))
        assert not retry.failed, retry
        assert retry.result["par2"]["files"]
        assert catalog_basenames(str(backup_dir / (NAME + ".db"))) == [full.result["archive"],
                                                                       retry.result["archive"]]


def test_corrupt_catalog_during_backup(source, backup_dir):
    """The catalog is damaged when a backup comes: the verified archive is kept and the failure says how to
    mend the catalog; dar_catalog then lists every archive again."""
    full = run_module("dar_backup", args_for(source, backup_dir, level="full"))
    assert not full.failed, full
    db = backup_dir / (NAME + ".db")
    data = db.read_bytes()
    db.write_bytes(data[:60] + b"\xde\xad\xbe\xef" * 8 + data[92:])

    diff = run_module("dar_backup", args_for(source, backup_dir, level="diff"))
    assert diff.failed, diff
    assert diff.result["phase"] == "catalog" and "dar.backup.dar_catalog" in diff.result["msg"], diff
    archive = diff.result["msg"].split("archive ", 1)[1].split(" ", 1)[0]
    assert archive.startswith(NAME + "_DIFF_")
    assert dar_test(str(backup_dir / archive)) == 0
    assert dar_test(full.result["archive_path"]) == 0

    mend = run_module("dar_catalog", {"name": NAME, "backup_dir": str(backup_dir)})
    assert not mend.failed and mend.changed and mend.result["corrupt"], mend
    assert catalog_basenames(str(db)) == [full.result["archive"], archive]
    assert "Traceback" not in diff.stdout and "\n" not in diff.result["msg"].strip()


def test_interrupted_publication_is_taken_back(source, backup_dir):
    """kill -9 in the middle of publication: PAR2 files and the last slices were moved, slice 1 was not (it
    goes last). The window is a few renames, too short to hit from outside, so the state such a kill leaves is
    made from a real archive: the next run takes the half-published files back out."""
    full = run_module("dar_backup", args_for(source, backup_dir, level="full", slice_size="100k"))
    assert not full.failed, full
    write_file(str(source / "photos" / "new.jpg"), os.urandom(300 * 1024))
    diff = run_module("dar_backup", args_for(source, backup_dir, level="diff", slice_size="100k", catalog=False))
    assert not diff.failed and len(diff.result["slices"]) >= 3, diff
    before = checksums(backup_dir)
    half = diff.result["archive"]
    staging = backup_dir / ".dar-backup-work" / half
    staging.mkdir()
    for path in diff.result["slices"][:2]:
        os.rename(path, str(staging / os.path.basename(path)))
    # What is left in backup_dir: the higher slices and every PAR2 file, but no slice 1, so no archive.
    leftover = [n for n in os.listdir(str(backup_dir)) if n.startswith(half + ".")]
    assert leftover and half + ".1.dar" not in leftover
    info = run_module("dar_info", {"backup_dir": str(backup_dir), "name": NAME})
    assert [a["archive"] for a in info.result["definitions"][NAME]["archives"]] == [full.result["archive"]], info

    retry = run_module("dar_backup", args_for(source, backup_dir, level="diff", slice_size="100k"))
    assert not retry.failed, retry
    assert retry.result["recovered"] == [half], retry
    assert not [n for n in os.listdir(str(backup_dir)) if n.startswith(half + ".")]
    assert staging_entries(backup_dir) == []
    after = checksums(backup_dir)
    assert all(after[n] == d for n, d in before.items() if n.startswith(full.result["archive"] + "."))
    assert dar_test(full.result["archive_path"]) == 0 and dar_test(retry.result["archive_path"]) == 0
    assert catalog_basenames(str(backup_dir / (NAME + ".db"))) == [full.result["archive"], retry.result["archive"]]


def test_restore_killed_during_extraction(source, backup_dir, tmp_path):
    """dar_restore extracts into a staging directory inside dest and moves files into place only at the end:
    kill -9 while dar -x writes leaves dest as it was (plus that directory), and the next restore clears it."""
    full = run_module("dar_backup", args_for(source, backup_dir, level="full"))
    write_file(str(source / "docs" / "new.txt"), "new since the FULL\n" * 100)
    diff = run_module("dar_backup", args_for(source, backup_dir, level="diff"))
    assert not full.failed and not diff.failed, (full, diff)
    dest = tmp_path / "dest"
    write_file(str(dest / "mine.txt"), b"the user's own file\n", 1000000000)

    # The FULL is extracted first; dar stalls on the DIFF, with the FULL's files already in staging.
    env, marker = stalling_tool(tmp_path, "dar", "-x", diff.result["archive_path"])
    proc = run_module("dar_restore", {"name": NAME, "backup_dir": str(backup_dir), "dest": str(dest)}, env=env,
                      popen=True)
    stalled, module = wait_for_marker(marker, proc)
    stop_run(proc, stalled, module, "module")
    names = sorted(os.listdir(str(dest)))
    assert len(names) == 2 and names[0].startswith(".dar-restore-") and names[1] == "mine.txt", names
    assert (dest / "mine.txt").read_bytes() == b"the user's own file\n"

    again = run_module("dar_restore", {"name": NAME, "backup_dir": str(backup_dir), "dest": str(dest)})
    assert not again.failed, again
    assert not [n for n in os.listdir(str(dest)) if n.startswith(".dar-restore-")]
    for current, _dirs, files in os.walk(str(source)):
        for name in files:
            rel = os.path.relpath(os.path.join(current, name), str(source))
            if not rel.startswith("cache"):
                assert (dest / rel).read_bytes() == (source / rel).read_bytes(), rel
    assert (dest / "mine.txt").read_bytes() == b"the user's own file\n"
