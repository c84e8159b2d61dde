# -*- coding: utf-8 -*-
"""dar.backup.dar_cleanup: retention by age, chain-aware, with PAR2 files and catalog entries, never beyond its own files."""

from __future__ import annotations

import datetime
import fcntl
import glob
import os
import shutil
import subprocess

import pytest

try:
    from conftest import catalog_basenames, dar_test, make_archive, run_module, write_file
except ImportError:
    # Collected in one pytest run with tests/unit, `conftest` is the unit tests' one: load ours by its path.
    import importlib.util

    _SPEC = importlib.util.spec_from_file_location(
        "dar_backup_integration_conftest", os.path.join(os.path.dirname(os.path.abspath(__file__)), "conftest.py"))
    _HELPERS = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(_HELPERS)
    catalog_basenames, make_archive = _HELPERS.catalog_basenames, _HELPERS.make_archive
    dar_test = _HELPERS.dar_test
    run_module, write_file = _HELPERS.run_module, _HELPERS.write_file

NOW = datetime.datetime.now().replace(microsecond=0)


def ago(days, hours=0):
    return NOW - datetime.timedelta(days=days, hours=hours)


def args(backup_dir, **extra):
    result = {"name": "docs", "backup_dir": str(backup_dir)}
    result.update(extra)
    return result


def files_of(directory, basename):
    return sorted(glob.glob(os.path.join(glob.escape(str(directory)), glob.escape(basename) + ".*")))


def par2_create(slice_path):
    proc = subprocess.run(["par2", "create", "-q", "-q", "-r5", slice_path + ".par2", slice_path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert proc.returncode == 0, proc.stderr
    made = sorted(glob.glob(glob.escape(slice_path) + "*.par2"))
    assert len(made) >= 2, made  # the index and at least one volume
    return made


def warned(run, *texts):
    """Warnings go to stderr, wrapped (even inside hyphenated names): compare without whitespace."""
    flat = "".join(run.stderr.split())
    return "[WARNING]" in run.stderr and all("".join(t.split()) in flat for t in texts)


def snapshot(directory):
    """Every name in a directory tree with its content (symlinks as their target), to prove nothing changed.
    The lock directory every writer creates is not part of it."""
    state = {}
    for top, dirs, names in os.walk(str(directory)):
        dirs[:] = [d for d in dirs if d != ".dar-backup-work"]
        for name in dirs + names:
            path = os.path.join(top, name)
            if os.path.islink(path):
                state[path] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    state[path] = handle.read()
            else:
                state[path] = "dir"
    return state


def two_chains(backup_dir, root):
    """Chain A is a year old; chain B is recent, with one DIFF and one INCR past their ages."""
    names = {}
    names["full_a"] = make_archive(backup_dir, "docs", "FULL", ago(400), root)
    names["diff_a1"] = make_archive(backup_dir, "docs", "DIFF", ago(300), root, reference=names["full_a"])
    names["incr_a1"] = make_archive(backup_dir, "docs", "INCR", ago(290), root, reference=names["diff_a1"])
    names["diff_a2"] = make_archive(backup_dir, "docs", "DIFF", ago(150), root, reference=names["full_a"])
    names["incr_a2"] = make_archive(backup_dir, "docs", "INCR", ago(140), root, reference=names["diff_a2"])
    names["full_b"] = make_archive(backup_dir, "docs", "FULL", ago(120), root)
    names["diff_b1"] = make_archive(backup_dir, "docs", "DIFF", ago(110), root, reference=names["full_b"])
    names["incr_b1"] = make_archive(backup_dir, "docs", "INCR", ago(50), root, reference=names["diff_b1"])
    names["diff_b2"] = make_archive(backup_dir, "docs", "DIFF", ago(30), root, reference=names["full_b"])
    names["incr_b2"] = make_archive(backup_dir, "docs", "INCR", ago(20), root, reference=names["diff_b2"])
    names["incr_b3"] = make_archive(backup_dir, "docs", "INCR", ago(5), root, reference=names["diff_b2"])
    return names


GOING = ["diff_a1", "incr_a1", "diff_a2", "incr_a2", "diff_b1", "incr_b1"]
STAYING = ["full_a", "full_b", "diff_b2", "incr_b2", "incr_b3"]


def test_ages_across_chains_remove_files_par2_and_catalog_entries(source, backup_dir):
    names = two_chains(backup_dir, source)
    par2_going = par2_create(str(backup_dir / (names["incr_a1"] + ".1.dar")))
    par2_staying = par2_create(str(backup_dir / (names["diff_b2"] + ".1.dar")))
    assert not run_module("dar_catalog", args(backup_dir)).failed
    db = str(backup_dir / "docs.db")
    assert len(catalog_basenames(db)) == 11

    run = run_module("dar_cleanup", args(backup_dir))
    assert not run.failed and run.changed, run
    assert run.result["removed"] == [names[k] for k in GOING]
    assert run.result["protected"] == [] and run.result["unreadable"] == []
    assert run.result["kept"] == 5
    for key in GOING:
        assert files_of(backup_dir, names[key]) == [], key
    for key in STAYING:
        assert os.path.isfile(str(backup_dir / (names[key] + ".1.dar"))), key
    assert not any(os.path.exists(p) for p in par2_going)
    assert all(os.path.exists(p) for p in par2_staying)
    assert set(par2_going) <= set(run.result["removed_files"])
    assert sorted(run.result["catalog"]["removed"]) == sorted(names[k] for k in GOING)
    assert catalog_basenames(db) == [names[k] for k in ("full_a", "full_b", "diff_b2", "incr_b2", "incr_b3")]

    again = run_module("dar_cleanup", args(backup_dir))
    assert not again.failed and not again.changed, again
    assert again.result["removed"] == [] and again.result["removed_files"] == []
    assert again.result["catalog"]["action"] == "ok"


def test_check_mode_lists_but_removes_nothing(source, backup_dir):
    names = two_chains(backup_dir, source)
    par2_create(str(backup_dir / (names["incr_a2"] + ".1.dar")))
    assert not run_module("dar_catalog", args(backup_dir)).failed
    before = snapshot(backup_dir)
    run = run_module("dar_cleanup", args(backup_dir), check=True)
    assert not run.failed and run.changed, run
    assert run.result["removed"] == [names[k] for k in GOING]
    assert str(backup_dir / (names["incr_a2"] + ".1.dar.par2")) in run.result["removed_files"]
    assert sorted(run.result["catalog"]["removed"]) == sorted(names[k] for k in GOING)
    assert snapshot(backup_dir) == before
    assert len(catalog_basenames(str(backup_dir / "docs.db"))) == 11


def test_old_diff_kept_while_a_young_incr_depends_on_it(source, backup_dir):
    full = make_archive(backup_dir, "docs", "FULL", ago(200), source)
    diff = make_archive(backup_dir, "docs", "DIFF", ago(150), source, reference=full)
    old_incr = make_archive(backup_dir, "docs", "INCR", ago(120), source, reference=diff)
    young_incr = make_archive(backup_dir, "docs", "INCR", ago(10), source, reference=diff)
    run = run_module("dar_cleanup", args(backup_dir))
    assert not run.failed and run.changed, run
    assert run.result["removed"] == [old_incr]
    assert run.result["protected"] == [{"archive": diff, "needed_by": young_incr,
                                        "reason": "%s was made against it" % young_incr}]
    assert os.path.isfile(str(backup_dir / (diff + ".1.dar")))
    assert files_of(backup_dir, old_incr) == []
    assert run.result["kept"] == 3


def test_incr_made_against_an_old_incr_keeps_the_whole_chain(source, backup_dir):
    """incr_reference=previous chains: INCR <- INCR <- DIFF; an INCR's header names an old INCR."""
    full = make_archive(backup_dir, "docs", "FULL", ago(300), source)
    diff = make_archive(backup_dir, "docs", "DIFF", ago(200), source, reference=full)
    incr1 = make_archive(backup_dir, "docs", "INCR", ago(60), source, reference=diff)
    incr2 = make_archive(backup_dir, "docs", "INCR", ago(3), source, reference=incr1)
    run = run_module("dar_cleanup", args(backup_dir))
    assert not run.failed and not run.changed, run
    assert run.result["removed"] == []
    assert [(p["archive"], p["needed_by"]) for p in run.result["protected"]] == [(diff, incr1), (incr1, incr2)]


def test_full_only_when_named_with_allow_full(source, backup_dir, workdir):
    par2_dir = workdir / "par2"
    par2_dir.mkdir()
    old_full = make_archive(backup_dir, "docs", "FULL", ago(400), source)
    old_diff = make_archive(backup_dir, "docs", "DIFF", ago(390), source, reference=old_full)
    new_full = make_archive(backup_dir, "docs", "FULL", ago(10), source)
    for path in par2_create(str(backup_dir / (old_full + ".1.dar"))):
        shutil.move(path, str(par2_dir))
    assert not run_module("dar_catalog", args(backup_dir)).failed

    # By age only the DIFF goes; a FULL never does.
    run = run_module("dar_cleanup", args(backup_dir, diff_age=1, incr_age=1, par2_dir=str(par2_dir)))
    assert not run.failed and run.result["removed"] == [old_diff], run

    refused = run_module("dar_cleanup", args(backup_dir, archives=[old_full], par2_dir=str(par2_dir)))
    assert refused.failed, refused
    assert "allow_full" in refused.result["msg"] and old_full in refused.result["msg"]
    assert refused.result["msg"].startswith("validate: ")
    assert os.path.isfile(str(backup_dir / (old_full + ".1.dar")))
    assert len(os.listdir(str(par2_dir))) >= 2

    run = run_module("dar_cleanup", args(backup_dir, archives=[old_full], allow_full=True, par2_dir=str(par2_dir)))
    assert not run.failed and run.changed and run.result["removed"] == [old_full], run
    assert files_of(backup_dir, old_full) == []
    assert os.listdir(str(par2_dir)) == []
    assert catalog_basenames(str(backup_dir / "docs.db")) == [new_full]
    assert run.result["catalog"]["removed"] == [old_full]


def test_named_full_with_kept_diffs_is_protected(source, backup_dir):
    full = make_archive(backup_dir, "docs", "FULL", ago(400), source)
    diff = make_archive(backup_dir, "docs", "DIFF", ago(20), source, reference=full)
    run = run_module("dar_cleanup", args(backup_dir, archives=[full], allow_full=True))
    assert not run.failed and not run.changed, run
    assert run.result["removed"] == []
    assert run.result["protected"] == [{"archive": full, "needed_by": diff, "reason": "%s was made against it" % diff}]
    assert warned(run, full, "was named in archives but is kept"), run
    assert os.path.isfile(str(backup_dir / (full + ".1.dar")))


def test_unknown_or_malformed_archive_names_fail_and_remove_nothing(source, backup_dir):
    names = two_chains(backup_dir, source)
    before = snapshot(backup_dir)
    for bad in ("docs_DIFF_2001-01-01_000000", names["diff_a1"] + ".1.dar", "docs2_DIFF_2001-01-01_000000",
                "../" + names["diff_a1"]):
        run = run_module("dar_cleanup", args(backup_dir, archives=[names["incr_a1"], bad]))
        assert run.failed, run
        assert bad in run.result["msg"] and "nothing was removed" in run.result["msg"], run
        assert snapshot(backup_dir) == before


def test_symlink_named_like_an_old_slice_and_its_target_survive(source, backup_dir, workdir):
    full = make_archive(backup_dir, "docs", "FULL", ago(100), source)
    old_incr = make_archive(backup_dir, "docs", "INCR", ago(90), source, reference=full)
    victim = workdir / "outside" / "precious.dar"
    write_file(str(victim), b"do not delete me")
    fake = backup_dir / "docs_INCR_2020-01-01_000000.1.dar"
    os.symlink(str(victim), str(fake))
    # A symlink posing as slice 2 of a real old archive, and as its PAR2 file.
    slice2 = backup_dir / (old_incr + ".2.dar")
    os.symlink(str(victim), str(slice2))
    fake_par2 = backup_dir / (old_incr + ".1.dar.par2")
    os.symlink(str(victim), str(fake_par2))

    run = run_module("dar_cleanup", args(backup_dir))
    assert not run.failed, run
    assert run.result["removed"] == [old_incr]
    assert run.result["leftovers"] == []
    assert run.result["removed_files"] == [str(backup_dir / (old_incr + ".1.dar"))]
    assert sorted(run.result["left_alone"]) == sorted([str(slice2), str(fake_par2)])
    for link in (fake, slice2, fake_par2):
        assert os.path.islink(str(link)), link
    with open(str(victim), "rb") as handle:
        assert handle.read() == b"do not delete me"
    again = run_module("dar_cleanup", args(backup_dir))
    assert not again.changed and again.result["removed"] == [] and again.result["leftovers"] == [], again
    assert os.path.islink(str(fake)) and os.path.isfile(str(victim))


def test_files_that_only_resemble_archives_are_untouched(source, backup_dir):
    make_archive(backup_dir, "docs", "FULL", ago(500), source)
    lookalikes = ["docs_DIFF_2020-01-01.1.dar.bak", "docs_DIFF_2020-13-45_000000.1.dar",
                  "docs2_DIFF_2020-01-01_000000.1.dar", "docs2_INCR_2020-01-01_000000.1.dar.par2",
                  "docs_DIFF_2020-01-01_000000.0.dar", "docs_DIFF_2020-01-01_000000.1.dar~",
                  "xdocs_DIFF_2020-01-01_000000.1.dar", "docs_diff_2020-01-01_000000.1.dar",
                  "docs_DIFF_2020-01-01_000000.1.dar.par2.orig", "docs_INCR_2020-01-01_0000.1.dar"]
    for name in lookalikes:
        write_file(str(backup_dir / name), b"not ours")
    # A directory named exactly like an old DIFF slice is no file to delete either.
    os.mkdir(str(backup_dir / "docs_DIFF_2020-02-02_000000.1.dar"))
    before = snapshot(backup_dir)
    run = run_module("dar_cleanup", args(backup_dir, diff_age=0, incr_age=0))
    assert not run.failed and not run.changed, run
    assert run.result["removed"] == [] and run.result["removed_files"] == [] and run.result["leftovers"] == []
    assert snapshot(backup_dir) == before


def test_par2_files_beside_and_in_par2_dir_go_with_their_archive(source, backup_dir, workdir):
    par2_dir = workdir / "par2"
    par2_dir.mkdir()
    full = make_archive(backup_dir, "docs", "FULL", ago(200), source)
    diff = make_archive(backup_dir, "docs", "DIFF", ago(150), source, reference=full)
    incr = make_archive(backup_dir, "docs", "INCR", ago(140), source, reference=diff)
    young = make_archive(backup_dir, "docs", "DIFF", ago(2), source, reference=full)
    beside = par2_create(str(backup_dir / (incr + ".1.dar")))
    moved = []
    for base in (diff, young):
        for path in par2_create(str(backup_dir / (base + ".1.dar"))):
            moved.append(shutil.move(path, str(par2_dir)))
    other = par2_dir / ("docs2_DIFF_%s.1.dar.par2" % ago(150).strftime("%Y-%m-%d_%H%M%S"))
    write_file(str(other), b"another definition's")

    run = run_module("dar_cleanup", args(backup_dir, par2_dir=str(par2_dir)))
    assert not run.failed and run.result["removed"] == [diff, incr], run
    assert not any(os.path.exists(p) for p in beside)
    survivors = [os.path.basename(p) for p in moved if young in p] + [other.name]
    assert sorted(os.listdir(str(par2_dir))) == sorted(survivors)
    removed = run.result["removed_files"]
    # Newest archive first; within one, slice 1 before its PAR2 files.
    assert removed.index(str(backup_dir / (incr + ".1.dar"))) < removed.index(str(backup_dir / (diff + ".1.dar")))
    assert removed[0] == str(backup_dir / (incr + ".1.dar"))
    assert all(p.endswith(".par2") for p in removed[1:len(beside) + 1])


def test_leftovers_of_an_interrupted_removal_are_finished(source, backup_dir):
    full = make_archive(backup_dir, "docs", "FULL", ago(200), source)
    old = make_archive(backup_dir, "docs", "INCR", ago(100), source, reference=full)
    young = make_archive(backup_dir, "docs", "INCR", ago(1), source, reference=full)
    for base in (old, young):
        par2_create(str(backup_dir / (base + ".1.dar")))
        write_file(str(backup_dir / (base + ".2.dar")), b"a later slice")
        os.unlink(str(backup_dir / (base + ".1.dar")))
    run = run_module("dar_cleanup", args(backup_dir))
    assert not run.failed and run.changed, run
    assert run.result["removed"] == [] and run.result["leftovers"] == [old]
    assert files_of(backup_dir, old) == []
    # A young archive without slice 1 may be a publication in progress elsewhere: not ours to judge.
    assert str(backup_dir / (young + ".2.dar")) in files_of(backup_dir, young)


def test_unreadable_archive_keeps_what_it_may_depend_on(source, backup_dir):
    full = make_archive(backup_dir, "docs", "FULL", ago(300), source)
    diff = make_archive(backup_dir, "docs", "DIFF", ago(200), source, reference=full)
    broken = make_archive(backup_dir, "docs", "INCR", ago(5), source, reference=diff)
    slice_path = str(backup_dir / (broken + ".1.dar"))
    with open(slice_path, "r+b") as handle:
        handle.truncate(os.path.getsize(slice_path) // 2)
    run = run_module("dar_cleanup", args(backup_dir))
    assert not run.failed and not run.changed, run
    assert run.result["removed"] == []
    assert [u["archive"] for u in run.result["unreadable"]] == [broken]
    assert [(p["archive"], p["needed_by"]) for p in run.result["protected"]] == [(diff, broken)]
    assert "cannot be read" in run.result["protected"][0]["reason"]
    assert warned(run, broken, "cannot be read"), run


def test_held_lock_fails_and_removes_nothing(source, backup_dir):
    full = make_archive(backup_dir, "docs", "FULL", ago(300), source)
    make_archive(backup_dir, "docs", "DIFF", ago(200), source, reference=full)
    lock_dir = backup_dir / ".dar-backup-work"
    lock_dir.mkdir()
    with open(str(lock_dir / "docs.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = snapshot(backup_dir)
        run = run_module("dar_cleanup", args(backup_dir))
        assert run.failed, run
        assert run.result["msg"].startswith("lock: ") and "in progress" in run.result["msg"], run
        assert snapshot(backup_dir) == before


def test_catalog_false_leaves_the_database_alone(source, backup_dir):
    full = make_archive(backup_dir, "docs", "FULL", ago(300), source)
    diff = make_archive(backup_dir, "docs", "DIFF", ago(200), source, reference=full)
    assert not run_module("dar_catalog", args(backup_dir)).failed
    run = run_module("dar_cleanup", args(backup_dir, catalog=False))
    assert not run.failed and run.result["removed"] == [diff] and run.result["catalog"] is None, run
    assert catalog_basenames(str(backup_dir / "docs.db")) == [full, diff]


def test_bad_definition_name_and_age_refused(backup_dir):
    backup_dir.mkdir()
    for name in ("../docs", "docs_x", "docs/..", ""):
        run = run_module("dar_cleanup", {"name": name, "backup_dir": str(backup_dir)})
        assert run.failed and "cannot name archives" in run.result["msg"], run
    run = run_module("dar_cleanup", args(backup_dir, incr_age=-1))
    assert run.failed and "incr_age" in run.result["msg"], run
    run = run_module("dar_cleanup", args(str(backup_dir / "missing")))
    assert run.failed and "does not exist" in run.result["msg"], run


_FAILING_DAR_MANAGER = r'''#!/usr/bin/python3
import os, sys

REAL, FAIL_ON = %r, %r
if any(option in sys.argv for option in FAIL_ON):
    sys.stderr.write("dar_manager: I/O error writing the database (injected by the test)\n")
    sys.exit(2)
os.execv(REAL, [REAL] + sys.argv[1:])
'''


def failing_dar_manager_env(bindir, *options):
    """PATH with a dar_manager that fails (rc 2) whenever one of ``options`` is on its command line."""
    os.makedirs(str(bindir))
    wrapper = os.path.join(str(bindir), "dar_manager")
    with open(wrapper, "w") as handle:
        handle.write(_FAILING_DAR_MANAGER % (shutil.which("dar_manager"), list(options)))
    os.chmod(wrapper, 0o755)
    return {"PATH": "%s:%s" % (bindir, os.environ["PATH"])}


def cataloged_chain(backup_dir, root):
    """FULL, an old DIFF and an old INCR on it (both due, with PAR2 files), a young DIFF; all cataloged."""
    full = make_archive(backup_dir, "docs", "FULL", ago(300), root)
    diff = make_archive(backup_dir, "docs", "DIFF", ago(200), root, reference=full)
    incr = make_archive(backup_dir, "docs", "INCR", ago(150), root, reference=diff)
    young = make_archive(backup_dir, "docs", "DIFF", ago(3), root, reference=full)
    par2 = par2_create(str(backup_dir / (diff + ".1.dar"))) + par2_create(str(backup_dir / (incr + ".1.dar")))
    assert not run_module("dar_catalog", args(backup_dir)).failed
    assert catalog_basenames(str(backup_dir / "docs.db")) == [full, diff, incr, young]
    return full, diff, incr, young, par2


@pytest.mark.parametrize("fault", ["delete and add fail", "corrupt database, add fails"])
def test_catalog_failure_after_removal_says_what_went_and_how_to_mend(source, backup_dir, workdir, fault):
    full, diff, incr, young, par2 = cataloged_chain(backup_dir, source)
    db = backup_dir / "docs.db"
    if fault.startswith("corrupt"):
        data = db.read_bytes()
        db.write_bytes(data[:60] + b"\xde\xad\xbe\xef" * 8 + data[92:])
        env = failing_dar_manager_env(workdir / "bin", "-A")
    else:
        env = failing_dar_manager_env(workdir / "bin", "-D", "-A")
    kept = dict((base, files_of(backup_dir, base)) for base in (full, young))
    run = run_module("dar_cleanup", args(backup_dir), env=env)
    assert run.failed and run.changed, run
    assert run.result["removed"] == [diff, incr], run
    assert set(par2) <= set(run.result["removed_files"])
    msg = run.result["msg"]
    assert msg.startswith("catalog: removed 2 archive(s)") and diff in msg and incr in msg, msg
    assert "dar.backup.dar_catalog state=present name=docs backup_dir=%s" % backup_dir in msg, msg
    assert "injected by the test" in msg and "\n" not in msg.strip()
    if fault.startswith("corrupt"):
        assert not db.exists() and "set aside as %s.corrupt-" % db in msg, msg
    else:
        assert "may still list archives that are gone" in msg, msg
    assert files_of(backup_dir, diff) == [] and files_of(backup_dir, incr) == []
    for base, paths in kept.items():
        assert files_of(backup_dir, base) == paths and dar_test(str(backup_dir / base)) == 0, base

    mend = run_module("dar_catalog", args(backup_dir))  # what the message says to run
    assert not mend.failed and mend.changed, mend
    assert catalog_basenames(str(db)) == [full, young]


def test_catalog_delete_failure_after_removal_is_mended_by_a_rebuild(source, backup_dir, workdir):
    full, diff, incr, young, _par2 = cataloged_chain(backup_dir, source)
    run = run_module("dar_cleanup", args(backup_dir), env=failing_dar_manager_env(workdir / "bin", "-D"))
    assert not run.failed and run.changed, run
    assert run.result["removed"] == [diff, incr]
    assert run.result["catalog"]["action"] == "rebuild" and "injected by the test" in run.result["catalog"]["error"]
    assert warned(run, "rebuilt from the archives on disk"), run
    assert catalog_basenames(str(backup_dir / "docs.db")) == [full, young]


def test_a_look_alike_archive_does_not_break_the_catalog_step(source, backup_dir):
    """A garbage file named like a FULL is kept (it is not ours to judge), but never registered in the catalog."""
    full = make_archive(backup_dir, "docs", "FULL", ago(300), source)
    diff = make_archive(backup_dir, "docs", "DIFF", ago(200), source, reference=full)
    made = run_module("dar_catalog", {"name": "docs", "backup_dir": str(backup_dir)})
    assert not made.failed, made
    garbage = "docs_FULL_%s" % ago(1).strftime("%Y-%m-%d_%H%M%S")
    write_file(str(backup_dir / (garbage + ".1.dar")), os.urandom(2048))
    run = run_module("dar_cleanup", args(backup_dir, diff_age=100))
    assert not run.failed and run.result["removed"] == [diff], run
    assert catalog_basenames(str(backup_dir / "docs.db")) == [full]
    assert (backup_dir / (garbage + ".1.dar")).exists()
