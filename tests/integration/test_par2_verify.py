# -*- coding: utf-8 -*-
"""dar.backup.par2_verify against real bitrot: flipped bytes, lost files, moved PAR2 sets."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess

import pytest

from conftest import RUNNER_ENTRY, dar_test, install_engine, run_module

BLOCKS = 1000  # par2 blocks per slice: redundancy r% gives r*10 recovery blocks


def checksums(directory):
    found = {}
    for current, _dirs, files in os.walk(str(directory)):
        for name in files:
            path = os.path.join(current, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, str(directory))] = hashlib.sha256(handle.read()).hexdigest()
    return found


def make_backup(source, backup_dir, redundancy, name="docs", slice_size=None, **par2):
    settings = {"redundancy": redundancy, "block_count": BLOCKS}
    settings.update(par2)
    args = {"name": name, "root": str(source), "backup_dir": str(backup_dir), "compression": "none",
            "restore_test": {"files": 2}, "par2": settings}
    if slice_size:
        args["slice_size"] = slice_size
    run = run_module("dar_backup", args)
    assert not run.failed, run
    return run


def damage(path, blocks, contiguous, block_size, seed=7):
    """Overwrite bytes so that exactly ``blocks`` par2 blocks are damaged, scattered or in one run.

    The new bytes are random: dar's per-file CRC folds data by XOR, so flipping bytes with one
    constant pattern can cancel out and leave the damage invisible to dar -t (seen with dar 2.7.8).
    """
    rng = random.Random(seed)
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        assert blocks * block_size * (1 if contiguous else 2) < size - 4096
        if contiguous:
            start = 4096 // block_size * block_size + block_size
            handle.seek(start)
            old = handle.read(blocks * block_size)
            new = bytes((b + rng.randint(1, 255)) % 256 for b in old)
            handle.seek(start)
            handle.write(new)
        else:
            for index in range(blocks):
                offset = (2 * index + 3) * block_size + 17 + index % 7
                handle.seek(offset)
                byte = handle.read(1)[0]
                handle.seek(offset)
                handle.write(bytes([(byte + rng.randint(1, 255)) % 256]))


def block_size_of(slice_path):
    size = os.path.getsize(slice_path)
    # par2cmdline: block size = size / blocks rounded up to a multiple of 4.
    return ((size + BLOCKS - 1) // BLOCKS + 3) // 4 * 4


@pytest.mark.parametrize("redundancy,blocks,contiguous,repairable", [
    (5, 20, False, True),     # 20 scattered blocks, 50 recovery blocks
    (5, 80, False, False),    # beyond 5 %
    (10, 80, False, True),    # within 10 %
    (5, 40, True, True),      # one run of 40 blocks
    (5, 70, True, False),
    (10, 70, True, True),
    (10, 250, True, False),   # beyond 10 %
])
def test_bitrot_matrix(photos, backup_dir, workdir, redundancy, blocks, contiguous, repairable):
    run = make_backup(photos, backup_dir, redundancy)
    slice_path = run.result["slices"][0]
    other = make_backup(photos, backup_dir, redundancy, name="other")
    untouched = dict((k, v) for k, v in checksums(backup_dir).items() if k.startswith("other"))

    damage(slice_path, blocks, contiguous, block_size_of(slice_path))
    assert dar_test(run.result["archive_path"]) != 0, "the damage did not break the archive"

    before = checksums(backup_dir)
    scan = run_module("par2_verify", {"backup_dir": str(backup_dir), "name": "docs"})
    expected = "damaged_repairable" if repairable else "unrepairable"
    assert scan.result["archives"][0]["status"] == expected, scan
    assert scan.result["archives"][0]["slices"][0]["rc"] == (1 if repairable else 2)
    # Damage found and left, repairable or not, is not an archive proven good.
    assert scan.failed and not scan.changed, scan
    assert run.result["archive"] in scan.result["msg"] and expected in scan.result["msg"], scan
    if repairable:
        assert "damaged: %s" % os.path.basename(slice_path) in scan.result["msg"], scan
        assert "repair=true" in scan.result["msg"], scan
    assert checksums(backup_dir) == before

    fix = run_module("par2_verify", {"backup_dir": str(backup_dir), "name": "docs", "repair": True})
    if repairable:
        assert not fix.failed and fix.changed and fix.result["archives"][0]["status"] == "repaired", fix
        assert dar_test(run.result["archive_path"]) == 0
        dest = workdir / "restored"
        restore = run_module("dar_restore", {"name": "docs", "backup_dir": str(backup_dir), "dest": str(dest)})
        assert not restore.failed, restore
        assert checksums(dest) == checksums(photos)
        assert not [n for n in os.listdir(str(backup_dir)) if n.endswith(".dar.1")], "damaged copy left behind"
    else:
        assert fix.failed and not fix.changed and fix.result["archives"][0]["status"] == "unrepairable", fix
        assert dar_test(run.result["archive_path"]) != 0
    assert dict((k, v) for k, v in checksums(backup_dir).items() if k.startswith("other")) == untouched
    assert dar_test(other.result["archive_path"]) == 0


def test_check_mode_does_not_repair(photos, backup_dir):
    run = make_backup(photos, backup_dir, 10)
    slice_path = run.result["slices"][0]
    damage(slice_path, 10, True, block_size_of(slice_path))
    before = checksums(backup_dir)
    planned = run_module("par2_verify", {"backup_dir": str(backup_dir), "repair": True}, check=True)
    assert not planned.failed and planned.changed, planned
    assert planned.result["archives"][0]["status"] == "damaged_repairable"
    assert planned.result["archives"][0]["detail"] == "would repair"
    assert checksums(backup_dir) == before
    # Without repair, check mode answers as the real run would: the damage fails the task.
    scan = run_module("par2_verify", {"backup_dir": str(backup_dir)}, check=True)
    assert scan.failed and not scan.changed and "repair=true" in scan.result["msg"], scan
    assert checksums(backup_dir) == before


def test_deleted_slice(photos, backup_dir):
    run = make_backup(photos, backup_dir, 5, slice_size="600k")
    assert len(run.result["slices"]) >= 3
    os.unlink(run.result["slices"][1])
    scan = run_module("par2_verify", {"backup_dir": str(backup_dir)})
    assert scan.failed and scan.result["archives"][0]["status"] == "unrepairable", scan
    second = scan.result["archives"][0]["slices"][1]
    assert second["present"] is False and second["status"] == "unrepairable"
    assert [s["status"] for s in scan.result["archives"][0]["slices"]].count("ok") == len(run.result["slices"]) - 1


def test_deleted_par2_index_file(photos, backup_dir):
    run = make_backup(photos, backup_dir, 5)
    index = run.result["slices"][0] + ".par2"
    os.unlink(index)
    scan = run_module("par2_verify", {"backup_dir": str(backup_dir)})
    assert not scan.failed and scan.result["archives"][0]["status"] == "ok", scan
    assert index not in scan.result["archives"][0]["slices"][0]["par2_files"]


def test_par2_dir_moved_with_the_archives(photos, workdir):
    backup_dir = workdir / "site-a" / "backups"
    par2_dir = workdir / "site-a" / "par2"
    run = make_backup(photos, backup_dir, 10, dir=str(par2_dir))
    shutil.move(str(workdir / "site-a"), str(workdir / "usb drive"))
    moved_backups = workdir / "usb drive" / "backups"
    moved_par2 = workdir / "usb drive" / "par2"
    slice_path = str(moved_backups / os.path.basename(run.result["slices"][0]))
    damage(slice_path, 30, False, block_size_of(slice_path))
    fix = run_module("par2_verify", {"backup_dir": str(moved_backups), "par2_dir": str(moved_par2),
                                     "repair": True})
    assert not fix.failed and fix.result["archives"][0]["status"] == "repaired", fix
    assert dar_test(str(moved_backups / run.result["archive"])) == 0


def test_archive_without_par2(photos, backup_dir, workdir):
    run = make_backup(photos, backup_dir, 5, enabled=False)
    scan = run_module("par2_verify", {"backup_dir": str(backup_dir)})
    assert not scan.failed and not scan.changed and scan.result["archives"][0]["status"] == "no_par2", scan
    strict = run_module("par2_verify", {"backup_dir": str(backup_dir), "fail_on_unprotected": True})
    assert strict.failed and "no_par2" in strict.result["msg"], strict

    before = checksums(backup_dir)
    planned = run_module("par2_verify", {"backup_dir": str(backup_dir), "create_missing": True}, check=True)
    assert not planned.failed and planned.changed, planned
    assert planned.result["archives"][0]["detail"] == "would create PAR2 files"
    assert checksums(backup_dir) == before
    par2_dir = workdir / "par2"
    made = run_module("par2_verify", {"backup_dir": str(backup_dir), "create_missing": True, "redundancy": 10,
                                      "par2_dir": str(par2_dir)})
    assert made.changed and made.result["archives"][0]["status"] == "ok", made
    assert made.result["archives"][0]["par2_created"] and all(
        p.startswith(str(par2_dir)) and os.path.isfile(p) for p in made.result["archives"][0]["par2_created"])
    again = run_module("par2_verify", {"backup_dir": str(backup_dir), "par2_dir": str(par2_dir),
                                       "create_missing": True})
    assert not again.changed and again.result["archives"][0]["status"] == "ok", again
    assert run.result["archive"] == again.result["archives"][0]["archive"]


def test_create_missing_refuses_a_damaged_archive(photos, backup_dir):
    run = make_backup(photos, backup_dir, 5, enabled=False)
    damage(run.result["slices"][0], 5, True, 4096)
    made = run_module("par2_verify", {"backup_dir": str(backup_dir), "create_missing": True})
    assert made.failed and made.result["archives"][0]["status"] == "unrepairable", made
    assert "slice 1's SHA-256 differs from the manifest" in made.result["archives"][0]["detail"]
    assert not [n for n in os.listdir(str(backup_dir)) if n.endswith(".par2")]
    # Without a manifest (an adopted archive) dar -t is what refuses to protect the damage.
    os.unlink(run.result["manifest"])
    made = run_module("par2_verify", {"backup_dir": str(backup_dir), "create_missing": True})
    assert made.failed and made.result["archives"][0]["status"] == "unrepairable", made
    assert "dar -t fails" in made.result["archives"][0]["detail"]
    assert not [n for n in os.listdir(str(backup_dir)) if n.endswith(".par2")]


def test_bad_input(backup_dir):
    backup_dir.mkdir()
    run = run_module("par2_verify", {"backup_dir": str(backup_dir), "archive": "not-an-archive"})
    assert run.failed and "not an archive name" in run.result["msg"], run
    run = run_module("par2_verify", {"backup_dir": str(backup_dir), "archive": "docs_FULL_2026-01-01_000000"})
    assert run.failed and "is not in" in run.result["msg"], run
    run = run_module("par2_verify", {"backup_dir": str(backup_dir / "nope")})
    assert run.failed and "does not exist" in run.result["msg"], run


def test_dar_test_of_every_archive(photos, backup_dir):
    """PAR2 made after the damage cannot see it; dar -t can."""
    good = make_backup(photos, backup_dir, 5, name="good")
    bad = make_backup(photos, backup_dir, 5, name="bad", enabled=False)
    damage(bad.result["slices"][0], 5, True, 4096)
    os.unlink(bad.result["manifest"])  # its manifest would show the damage (test_create_missing_refuses_...)
    made = run_module("par2_verify", {"backup_dir": str(backup_dir), "name": "bad", "create_missing": True})
    assert made.failed, made  # create_missing refuses to protect the damage
    scan = run_module("par2_verify", {"backup_dir": str(backup_dir), "test": True})
    by_name = dict((a["definition"], a) for a in scan.result["archives"])
    assert scan.failed and by_name["bad"]["status"] == "unrepairable" and by_name["bad"]["dar_test"] is False, scan
    assert by_name["good"]["status"] == "ok" and by_name["good"]["dar_test"] is True
    assert dar_test(good.result["archive_path"]) == 0


def dar_backup_run(workdir, config, *argv):
    """dar-backup-run as a host runs it (see test_runner.py): the engine files as the package
    dar_backup_engine, imported by the host's /usr/bin/python3."""
    install_engine(workdir / "lib")
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    proc = subprocess.run(["/usr/bin/python3", "-c", RUNNER_ENTRY, str(workdir / "lib"), "--config",
                           str(config_path)] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_repairable_damage_without_repair_fails_in_the_runner_too(photos, backup_dir, workdir):
    """The other entry point, dar-backup-run verify: exit 1 naming the damaged slice, --repair repairs."""
    run = make_backup(photos, backup_dir, 10)
    slice_path = run.result["slices"][0]
    damage(slice_path, 10, True, block_size_of(slice_path))
    before = checksums(backup_dir)
    config = {"backup_dir": str(backup_dir), "state_dir": str(workdir / "state"), "timeout": 600,
              "notify": {"on": "never", "secrets_file": str(workdir / "notify.json")},
              "definitions": {"docs": {"root": str(photos), "par2": {"redundancy": 10}}}}
    scan = dar_backup_run(workdir, config, "verify", "docs")
    assert scan.returncode == 1, (scan.stdout, scan.stderr)
    assert "docs: FAILURE: verify: 1 archive(s) failed the PAR2 check: %s is damaged_repairable (damaged: %s" % (
        run.result["archive"], os.path.basename(slice_path)) in scan.stdout, scan.stdout
    assert "run verify docs --repair" in scan.stdout
    assert checksums(backup_dir) == before

    fix = dar_backup_run(workdir, config, "verify", "docs", "--repair")
    assert fix.returncode == 0 and "docs: SUCCESS: verified 1 archive(s): 1 repaired" in fix.stdout, fix.stdout
    assert dar_test(run.result["archive_path"]) == 0
