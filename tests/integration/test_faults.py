# -*- coding: utf-8 -*-
"""Faults during a backup: nothing half-made survives, earlier archives stay good, the next run works."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import catalog_basenames, dar_test, lying_dar_env, parse_adhoc, run_module, small_tmpfs, write_file


def args_for(source, backup_dir, **extra):
    args = {"name": "docs", "root": str(source), "backup_dir": str(backup_dir), "restore_test": {"files": 3}}
    args.update(extra)
    return args


def archive_files(backup_dir):
    return sorted(n for n in os.listdir(str(backup_dir)) if n.endswith((".dar", ".par2")))


def wait_for_staging_slice(backup_dir, timeout=60):
    """Block until a dar -c of this test is writing its first slice in the staging area."""
    work = backup_dir / ".dar-backup-work"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if work.is_dir():
            for entry in os.listdir(str(work)):
                staging = work / entry
                if staging.is_dir() and any(n.endswith(".1.dar") for n in os.listdir(str(staging))):
                    return staging
        time.sleep(0.02)
    raise AssertionError("dar never started writing in %s" % work)


def dar_processes_writing(path_fragment):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"dar" and any(path_fragment.encode() in a for a in argv):
            found.append(int(pid))
    return found


def assert_earlier_archives_intact(backup_dir, good):
    for run in good:
        assert dar_test(run.result["archive_path"]) == 0
        for path in run.result["slices"] + run.result["par2"]["files"]:
            assert os.path.isfile(path), path
    assert catalog_basenames(str(backup_dir / "docs.db")) == [r.result["archive"] for r in good]


def slow_source(source):
    """A 3 GiB sparse file keeps dar -c busy for seconds, a window to strike in."""
    with open(str(source / "disk.img"), "wb") as handle:
        handle.truncate(3 * 1024 ** 3)


def test_killed_during_create(source, backup_dir):
    full = run_module("dar_backup", args_for(source, backup_dir, level="full"))
    assert not full.failed, full
    before = archive_files(backup_dir)
    slow_source(source)

    proc = run_module("dar_backup", args_for(source, backup_dir, level="diff"), popen=True)
    staging = wait_for_staging_slice(backup_dir)
    # kill -9 of the module itself: no handler runs, only the kernel's cleanup.
    os.kill(module_pid(staging), signal.SIGKILL)
    proc.communicate(timeout=60)
    time.sleep(0.5)
    assert dar_processes_writing(str(staging)) == [], "dar outlived the killed module"

    # Nothing half-made is visible or cataloged; the earlier FULL is untouched.
    assert archive_files(backup_dir) == before
    assert_earlier_archives_intact(backup_dir, [full])

    os.unlink(str(source / "disk.img"))
    retry = run_module("dar_backup", args_for(source, backup_dir, level="diff"))
    assert not retry.failed, retry
    assert retry.result["recovered"] == [staging.name]
    assert not staging.exists()
    assert_earlier_archives_intact(backup_dir, [full, retry])


def test_sigterm_during_create_cleans_up_at_once(source, backup_dir):
    full = run_module("dar_backup", args_for(source, backup_dir, level="full"))
    slow_source(source)
    proc = run_module("dar_backup", args_for(source, backup_dir, level="diff"), popen=True)
    staging = wait_for_staging_slice(backup_dir)
    # The module's own process gets SIGTERM, as from a task timeout or `systemctl stop`.
    os.kill(module_pid(staging), signal.SIGTERM)
    out, _err = proc.communicate(timeout=60)
    result = parse_adhoc(out.decode("utf-8", "replace"))
    assert result["failed"], result
    assert not staging.exists(), "staging area was not removed on SIGTERM"
    assert dar_processes_writing(str(staging)) == []
    assert_earlier_archives_intact(backup_dir, [full])


def module_pid(staging):
    """The module process: the parent of the dar writing into ``staging``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in dar_processes_writing(str(staging)):
            with open("/proc/%d/stat" % pid) as handle:
                return int(handle.read().rsplit(")", 1)[1].split()[1])
        time.sleep(0.02)
    raise AssertionError("no dar process writes into %s" % staging)


def test_source_vanishes_half_way(source, backup_dir):
    full = run_module("dar_backup", args_for(source, backup_dir, level="full"))
    assert not full.failed, full
    slow_source(source)
    for index in range(300):
        write_file(str(source / "late" / ("f%03d.txt" % index)), "late %d\n" % index)

    proc = run_module("dar_backup", args_for(source, backup_dir, level="diff"), popen=True)
    wait_for_staging_slice(backup_dir)
    subprocess.run(["rm", "-rf", "--", str(source)], check=True)
    out, err = proc.communicate(timeout=600)
    result = parse_adhoc(out.decode("utf-8", "replace"))

    if result["failed"]:
        assert result["phase"] in ("create", "verify", "restore_test"), result
        assert len([n for n in archive_files(backup_dir) if n.endswith(".dar")]) == 1
        assert_earlier_archives_intact(backup_dir, [full])
    else:
        # dar saved what it could read: a real archive that tests good, its losses reported, not hidden.
        assert dar_test(result["archive_path"]) == 0
        # Every sampled source went away: the restore test compared nothing, so it neither passed nor failed.
        assert result["restore_test"]["passed"] is None
        assert all(f["result"] in ("source_gone", "changed_since_backup") for f in result["restore_test"]["files"])
        # The ansible CLI prints the module's warnings on stderr (they are not left in the printed result).
        warned = " ".join(result.get("warnings") or []) + err.decode("utf-8", "replace")
        assert result["dar_rc"] == 0 or "finished with rc %d" % result["dar_rc"] in warned, (result, warned)
    assert os.listdir(str(backup_dir / ".dar-backup-work")) == ["docs.lock"]

    source.mkdir()
    write_file(str(source / "back.txt"), "the source is back\n")
    retry = run_module("dar_backup", args_for(source, backup_dir, level="diff"))
    assert not retry.failed, retry
    assert dar_test(full.result["archive_path"]) == 0


def test_backup_dir_fills_up(source, workdir):
    with small_tmpfs(workdir / "small", "3m") as mount:
        backup_dir = mount / "backups"
        full = run_module("dar_backup", args_for(source, backup_dir, level="full", par2={"enabled": False}))
        assert not full.failed, full
        before = archive_files(backup_dir)
        write_file(str(source / "too-big.bin"), os.urandom(4 * 1024 * 1024))

        diff = run_module("dar_backup", args_for(source, backup_dir, level="diff", par2={"enabled": False}))
        assert diff.failed, diff
        assert diff.result["phase"] == "create" and "dar -c (create) failed" in diff.result["msg"], diff
        assert diff.result["cmd"][0].endswith("dar") and "-c" in diff.result["cmd"]
        assert archive_files(backup_dir) == before
        assert os.listdir(str(backup_dir / ".dar-backup-work")) == ["docs.lock"]
        assert dar_test(full.result["archive_path"]) == 0
        assert catalog_basenames(str(backup_dir / "docs.db")) == [full.result["archive"]]

        os.unlink(str(source / "too-big.bin"))
        retry = run_module("dar_backup", args_for(source, backup_dir, level="diff", par2={"enabled": False}))
        assert not retry.failed, retry
        assert catalog_basenames(str(backup_dir / "docs.db")) == [full.result["archive"], retry.result["archive"]]


def test_restore_test_mismatch_fails_and_publishes_nothing(source, backup_dir, tmp_path):
    """A dar that hands back wrong bytes on extraction: the comparison must notice and reject the archive."""
    env = lying_dar_env(tmp_path / "lying-bin")
    run = run_module("dar_backup", args_for(source, backup_dir, restore_test={"files": 4}), env=env)
    assert run.failed, run
    assert run.result["phase"] == "restore_test" and "content differs" in run.result["msg"], run
    assert archive_files(backup_dir) == []
    assert not (backup_dir / "docs.db").exists()
    assert os.listdir(str(backup_dir / ".dar-backup-work")) == ["docs.lock"]


def test_second_run_while_one_runs_is_refused(source, backup_dir):
    slow_source(source)
    proc = run_module("dar_backup", args_for(source, backup_dir), popen=True)
    wait_for_staging_slice(backup_dir)
    second = run_module("dar_backup", args_for(source, backup_dir))
    assert second.failed and second.result["phase"] == "lock", second
    assert "another run of definition docs is in progress" in second.result["msg"]
    out, _err = proc.communicate(timeout=600)
    first = parse_adhoc(out.decode("utf-8", "replace"))
    assert not first["failed"], first
    assert dar_test(first["archive_path"]) == 0
