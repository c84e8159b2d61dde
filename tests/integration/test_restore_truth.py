# -*- coding: utf-8 -*-
"""Restores that tell the truth: a restore that could not write everything fails and leaves dest as it was; a
restore does not create privileges; a restore never writes into the archives; restore tests and drills do not
pass on short files, nor pass when they compared nothing.

Real dar through `ansible -m dar.backup.<module>`; small tmpfs mounts make the disk fill up on cue, and a dar
wrapper (conftest.short_dar_env) writes short files while exiting as dar did.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import subprocess

import pytest

from conftest import TARGET_PYTHON, install_engine, make_archive, run_module, short_dar_env, small_tmpfs, write_file

NAME = "truth"
MOMENT = datetime.datetime(2026, 5, 1, 10, 0, 0)
OLD = 1735689600  # mtimes well before the archive


def tree_sums(top):
    """rel path -> sha256 of every regular file below top, and the set of every name (staging leftovers show)."""
    sums, names = {}, set()
    for current, dirs, files in os.walk(str(top)):
        for name in dirs + files:
            full = os.path.join(current, name)
            rel = os.path.relpath(full, str(top))
            names.add(rel)
            if name in files and not os.path.islink(full):
                with open(full, "rb") as handle:
                    sums[rel] = hashlib.sha256(handle.read()).hexdigest()
    return sums, names


def restore_args(backup_dir, dest, **extra):
    args = {"name": NAME, "backup_dir": str(backup_dir), "dest": str(dest)}
    args.update(extra)
    return args


def big_and_small(root, big_size):
    """A big incompressible file and 50 small ones: the case of the issue."""
    write_file(str(root / "big.bin"), os.urandom(big_size), mtime=OLD)
    for index in range(50):
        write_file(str(root / "small" / ("f%02d.txt" % index)), "small file %d\n" % index, mtime=OLD)
    return big_size + sum(len("small file %d\n" % i) for i in range(50))


def free_bytes(path):
    st = os.statvfs(str(path))
    return st.f_bfree * st.f_frsize  # the tests run as root, who may use the reserved blocks


# --- 1. a restore that cannot write everything fails, and never harms a good copy ----------------------------

def test_restore_that_cannot_fit_is_refused_before_extracting(tmp_path):
    src, backups, dest = tmp_path / "src", tmp_path / "backups", tmp_path / "dest"
    needed = big_and_small(src, 6 * 1000 * 1000)
    make_archive(backups, NAME, "FULL", MOMENT, src)
    with small_tmpfs(dest, "3m"):
        # A good older copy of everything, which overwrite=true would replace.
        write_file(str(dest / "big.bin"), b"the good older copy\n" * 1000)
        for index in range(50):
            write_file(str(dest / "small" / ("f%02d.txt" % index)), "older %d\n" % index)
        before = tree_sums(dest)
        free = free_bytes(dest)
        run = run_module("dar_restore", restore_args(backups, dest, overwrite=True))
        after = tree_sums(dest)
    assert run.failed, run
    assert "needs at least %d bytes" % needed in run.result["msg"], run
    assert "has %d bytes" % free in run.result["msg"], run
    assert "\n" not in run.result["msg"]
    assert after == before


def test_restore_that_runs_out_of_space_fails_and_keeps_dest(tmp_path):
    """The sizes fit (so the check before extracting lets it through) but every file takes at least a 4 KiB
    page on tmpfs: dar runs out of space, answers its own question "no" under -Q and exits 0."""
    src, backups, dest = tmp_path / "src", tmp_path / "backups", tmp_path / "dest"
    write_file(str(src / "a-big.bin"), os.urandom(2 * 1024 * 1024), mtime=OLD)
    for index in range(400):
        write_file(str(src / "tiny" / ("t%03d" % index)), b"x", mtime=OLD)
    make_archive(backups, NAME, "FULL", MOMENT, src)
    with small_tmpfs(dest, "3m"):
        write_file(str(dest / "a-big.bin"), b"the good older copy\n" * 100)
        write_file(str(dest / "tiny" / "t000"), b"y")
        write_file(str(dest / "keep.txt"), b"not in the archive\n")
        before = tree_sums(dest)
        run = run_module("dar_restore", restore_args(backups, dest, overwrite=True))
        after = tree_sums(dest)
    assert run.failed, run
    msg = run.result["msg"]
    # Which file dar gives up on depends on its order; it says so (rc 0, "not restored") or the proof finds it.
    assert "dar -x of %s" % NAME in msg or "the restore is incomplete" in msg, run
    assert "\n" not in msg
    assert after == before


def test_short_files_fail_the_restore_and_keep_the_good_copy(tmp_path):
    """dar exits 0 but wrote short files: the staging tree is proven against the listing before anything moves."""
    src, backups, dest = tmp_path / "src", tmp_path / "backups", tmp_path / "dest"
    big_and_small(src, 64 * 1024)
    make_archive(backups, NAME, "FULL", MOMENT, src)
    write_file(str(dest / "big.bin"), b"the good older copy\n", mtime=OLD)
    before = tree_sums(dest)
    env = short_dar_env(tmp_path / "short-bin")
    run = run_module("dar_restore", restore_args(backups, dest, overwrite=True), env=env)
    assert run.failed, run
    msg = run.result["msg"]
    assert "the restore is incomplete, so nothing was written: 51 of 51 file(s) differ" in msg, run
    assert "'big.bin' has 32768 of its 65536 bytes" in msg, run
    assert tree_sums(dest) == before
    # The same restore with the real dar goes through: the refusal was about the short files only.
    good = run_module("dar_restore", restore_args(backups, dest, overwrite=True))
    assert not good.failed and good.result["written"] == 52, good  # 51 files and the directory small
    with open(str(dest / "big.bin"), "rb") as handle, open(str(src / "big.bin"), "rb") as original:
        assert handle.read() == original.read()


def test_failed_restore_into_a_new_dest_leaves_no_dest(tmp_path):
    src, backups = tmp_path / "src", tmp_path / "backups"
    big_and_small(src, 4096)
    make_archive(backups, NAME, "FULL", MOMENT, src)
    run = run_module("dar_restore", restore_args(backups, tmp_path / "new"), env=short_dar_env(tmp_path / "bin"))
    assert run.failed and "the restore is incomplete" in run.result["msg"], run
    assert not (tmp_path / "new").exists()


# --- 2. restoring does not create privileges --------------------------------------------------------------------

@pytest.mark.parametrize("owner", [False, True])
def test_setuid_and_setgid_need_owner(tmp_path, owner):
    src, backups, dest = tmp_path / "src", tmp_path / "backups", tmp_path / "dest"
    write_file(str(src / "bin" / "tool"), b"#!/bin/sh\necho hi\n", mtime=OLD)
    write_file(str(src / "bin" / "group-tool"), b"#!/bin/sh\necho group\n", mtime=OLD)
    os.chown(str(src / "bin" / "tool"), 1234, 1234)
    os.chown(str(src / "bin" / "group-tool"), 1234, 1234)
    # chown clears the set-id bits: chmod after it, as an installed program has them.
    os.chmod(str(src / "bin" / "tool"), 0o4755)
    os.chmod(str(src / "bin" / "group-tool"), 0o2750)
    make_archive(backups, NAME, "FULL", MOMENT, src)
    run = run_module("dar_restore", restore_args(backups, dest, owner=owner))
    assert not run.failed and run.changed, run
    tool, group_tool = os.lstat(str(dest / "bin" / "tool")), os.lstat(str(dest / "bin" / "group-tool"))
    if owner:
        assert (tool.st_uid, tool.st_gid, stat.S_IMODE(tool.st_mode)) == (1234, 1234, 0o4755)
        assert (group_tool.st_uid, stat.S_IMODE(group_tool.st_mode)) == (1234, 0o2750)
    else:
        assert (tool.st_uid, tool.st_gid, stat.S_IMODE(tool.st_mode)) == (0, 0, 0o755)
        assert (group_tool.st_uid, stat.S_IMODE(group_tool.st_mode)) == (0, 0o750)
    # The second run compares modes (and with owner, owners) the same way: nothing to do.
    again = run_module("dar_restore", restore_args(backups, dest, owner=owner))
    assert not again.failed and not again.changed and again.result["written"] == 0, again


def test_owner_true_restores_ownership_over_an_identical_root_owned_copy(tmp_path):
    src, backups, dest = tmp_path / "src", tmp_path / "backups", tmp_path / "dest"
    write_file(str(src / "tool"), b"#!/bin/sh\n", mtime=OLD)
    os.chown(str(src / "tool"), 1234, 1234)
    os.chmod(str(src / "tool"), 0o755)
    make_archive(backups, NAME, "FULL", MOMENT, src)
    first = run_module("dar_restore", restore_args(backups, dest))
    assert not first.failed and os.lstat(str(dest / "tool")).st_uid == 0, first
    # Same content, mode and mtime, another owner: with owner=true that is a difference to restore.
    second = run_module("dar_restore", restore_args(backups, dest, owner=True, overwrite=True))
    assert not second.failed and second.result["files"] == ["tool"], second
    assert os.lstat(str(dest / "tool")).st_uid == 1234


# --- 3. a restore never writes into the archives ----------------------------------------------------------------

@pytest.fixture
def archived(tmp_path):
    src, backups = tmp_path / "src", tmp_path / "backups"
    write_file(str(src / "a.txt"), "a\n", mtime=OLD)
    make_archive(backups, NAME, "FULL", MOMENT, src)
    return src, backups


@pytest.mark.parametrize("where", ["backup_dir", "below", "work", "symlink", "catalog_dir"])
def test_dest_in_the_archives_is_refused(tmp_path, archived, where):
    _src, backups = archived
    catalog = tmp_path / "catalogs"
    catalog.mkdir()
    extra = {"overwrite": True}
    if where == "backup_dir":
        dest = backups
    elif where == "below":
        dest = backups / "restore"
    elif where == "work":
        dest = backups / ".dar-backup-work" / "x"
    elif where == "symlink":
        dest = tmp_path / "innocent"
        os.symlink(str(backups), str(dest))
    else:
        dest = catalog / "restore"
        extra["catalog_dir"] = str(catalog)
    before = tree_sums(backups)
    run = run_module("dar_restore", restore_args(backups, dest, **extra))
    assert run.failed, run
    msg = run.result["msg"]
    assert msg.startswith("validate: dest %s is " % os.path.realpath(str(dest))), msg
    assert "a restore there could overwrite archives" in msg and "\n" not in msg
    assert tree_sums(backups) == before


def test_restore_above_backup_dir_does_not_write_into_it(tmp_path):
    """dest holds backup_dir, and the archive holds a directory of that name: refused before anything moves."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    backups = dest / "backups"
    write_file(str(src / "backups" / ("%s_FULL_2030-01-01_000000.1.dar" % NAME)), "planted\n", mtime=OLD)
    write_file(str(src / "other.txt"), "other\n", mtime=OLD)
    make_archive(backups, NAME, "FULL", MOMENT, src)
    before = tree_sums(dest)
    run = run_module("dar_restore", restore_args(backups, dest, overwrite=True))
    assert run.failed, run
    assert "which is in backup_dir" in run.result["msg"], run
    assert tree_sums(dest) == before


# --- 4. restore tests and drills: no pass on short files, none on nothing --------------------------------------

def backup_args(src, backups, **extra):
    args = {"name": NAME, "backup_dir": str(backups), "root": str(src), "level": "full",
            "par2": {"enabled": False}, "catalog": False}
    args.update(extra)
    return args


def test_restore_test_fails_on_a_short_file(tmp_path):
    """A short restored file gets a fresh mtime; the source still has the mtime the archive recorded."""
    src, backups = tmp_path / "src", tmp_path / "backups"
    big_and_small(src, 8192)
    env = short_dar_env(tmp_path / "short-bin")
    run = run_module("dar_backup", backup_args(src, backups, restore_test={"files": 100}), env=env)
    assert run.failed, run
    assert "restore test failed for 51 of 51 sampled files" in run.result["msg"], run
    assert "bytes the archive recorded" in run.result["msg"], run
    assert not [n for n in os.listdir(str(backups)) if n.endswith(".dar")]


@pytest.mark.parametrize("restore_test, why", [
    ({"files": 0}, "restore_test.files is 0"),
    ({"files": 5, "min_size": "1G", "max_size": "2G"},
     "none of the 1 saved file(s) matched the size bounds and exclude patterns"),
])
def test_restore_test_that_sampled_nothing_is_not_a_pass(tmp_path, restore_test, why):
    src, backups = tmp_path / "src", tmp_path / "backups"
    write_file(str(src / "a.txt"), "a\n", mtime=OLD)
    run = run_module("dar_backup", backup_args(src, backups, restore_test=restore_test))
    assert not run.failed, run
    assert run.result["restore_test"]["passed"] is None, run
    assert run.result["restore_test"]["warning"] == "restore test proved nothing: " + why
    # The CLI prints the module's warnings on stderr (wrapped), not in the printed result.
    warned = "".join((" ".join(run.result.get("warnings") or []) + run.stderr).split())
    assert "[WARNING]" in run.stderr and "".join(("restore test proved nothing: " + why).split()) in warned, run


def test_restore_test_of_a_definition_that_saves_nothing_warns_but_an_empty_diff_does_not(tmp_path):
    src, backups = tmp_path / "src", tmp_path / "backups"
    write_file(str(src / "a.txt"), "a\n", mtime=OLD)
    empty = run_module("dar_backup", backup_args(src, backups, include=["nothing-here"]))
    assert not empty.failed and empty.result["restore_test"]["passed"] is None, empty
    why = "restore test proved nothing: the archive saved no regular file; does the definition's include or " \
          "exclude select anything?"
    assert "".join(why.split()) in "".join(empty.stderr.split()), empty
    full = run_module("dar_backup", backup_args(src, tmp_path / "other"))
    assert not full.failed and full.result["restore_test"]["passed"] is True, full
    # Nothing changed since the FULL: the DIFF saved no file, which is no reason for a warning.
    diff = run_module("dar_backup", backup_args(src, tmp_path / "other", level="diff"))
    assert not diff.failed and diff.result["restore_test"]["passed"] is None, diff
    assert diff.result["restore_test"]["skipped"] == "the archive saved no regular file"
    assert "restore test proved nothing" not in diff.stderr + diff.stdout


def test_drill_fails_on_short_files_at_the_restore(tmp_path):
    """The drill's restore step itself fails on a short restore (before, only the checksums caught it)."""
    from test_drill import common, drill, drills_json, host_vars, inventory, make_host
    site = {"base": tmp_path / "site", "report": tmp_path / "site" / "report", "scratch": tmp_path / "site" / "s"}
    site["base"].mkdir()
    hosts = {"ha": make_host(site["base"], "ha"), "hb": make_host(site["base"], "hb")}
    inv = inventory(site["base"] / "inventory.yml", dict((h, host_vars(i)) for h, i in hosts.items()))
    # ha's sample is restored on hb into a scratch directory named after ha: only that restore is short.
    run = drill(inv, common(site), env=short_dar_env(tmp_path / "short-bin", only_under="/ha/docs/"))
    assert run.returncode != 0, run.stdout[-6000:]
    recorded = drills_json(site)
    ha = recorded["ha"]["docs"]
    assert ha["passed"] is False and ha["failures"] == [], ha
    assert ha["error"].startswith("restore on hb failed: extract: the restore is incomplete, so nothing was "
                                  "written"), ha
    assert recorded["hb"]["docs"]["passed"] is True


def test_runner_records_a_restore_test_that_proved_nothing(tmp_path):
    """dar-backup-run as a host runs it: the run is WARNING, its record has passed null and the warning."""
    install_engine(tmp_path / "lib")
    src, state = tmp_path / "src", tmp_path / "state"
    write_file(str(src / "a.txt"), "a\n", mtime=OLD)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "backup_dir": str(tmp_path / "backups"), "catalog_dir": None, "state_dir": str(state), "timeout": 600,
        "definitions": {NAME: {"root": str(src), "restore_test": {"files": 0}, "par2": {"enabled": False}}}}))
    entry = "import sys; sys.path.insert(0, sys.argv.pop(1)); from dar_backup_engine.runner import main; " \
            "sys.exit(main())"
    proc = subprocess.run([TARGET_PYTHON, "-c", entry, str(tmp_path / "lib"), "--config", str(config), "backup", NAME],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600,
                          check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, (proc.stdout, proc.stderr)
    with open(str(state / "runs.jsonl")) as handle:
        record = [json.loads(line) for line in handle][-1]
    assert record["status"] == "WARNING", record
    assert record["restore_test"]["passed"] is None and record["restore_test"]["sampled"] == 0, record
    assert "restore test proved nothing: restore_test.files is 0" in record["warnings"], record
