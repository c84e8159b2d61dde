# -*- coding: utf-8 -*-
"""dar.backup.dar_catalog keeps the dar_manager database equal to the archives on disk."""

from __future__ import annotations

import datetime
import glob
import os

from conftest import catalog_basenames, make_archive, run_module, write_file

T0 = datetime.datetime(2026, 3, 1, 10, 0, 0)


def history(backup_dir, root, count):
    """FULL, DIFF, then INCRs an hour apart; the second archive shares the FULL's timestamp."""
    names = [make_archive(backup_dir, "docs", "FULL", T0, root)]
    names.append(make_archive(backup_dir, "docs", "DIFF", T0, root, reference=names[0]))
    for index in range(count - 2):
        write_file(str(root / ("f%03d.txt" % index)), "version %d\n" % index)
        names.append(make_archive(backup_dir, "docs", "INCR", T0 + datetime.timedelta(hours=index + 1), root,
                                  reference=names[1]))
    return names


def catalog(backup_dir, **extra):
    args = {"name": "docs", "backup_dir": str(backup_dir)}
    args.update(extra)
    return args


def remove_archive(backup_dir, basename):
    for path in glob.glob(os.path.join(glob.escape(str(backup_dir)), glob.escape(basename) + ".*")):
        os.unlink(path)


def test_present_creates_in_time_order_and_is_idempotent(source, backup_dir):
    names = history(backup_dir, source, 4)
    run = run_module("dar_catalog", catalog(backup_dir))
    assert not run.failed and run.changed, run
    assert run.result["action"] == "create" and run.result["added"] == names
    # Same timestamp: FULL before DIFF.
    assert catalog_basenames(str(backup_dir / "docs.db")) == names
    again = run_module("dar_catalog", catalog(backup_dir))
    assert not again.changed and again.result["action"] == "ok", again


def test_vanished_archive_removed_new_archive_appended(source, backup_dir):
    names = history(backup_dir, source, 5)
    run_module("dar_catalog", catalog(backup_dir))
    remove_archive(backup_dir, names[3])
    run = run_module("dar_catalog", catalog(backup_dir))
    assert run.changed and run.result["action"] == "delete" and run.result["removed"] == [names[3]], run
    assert catalog_basenames(str(backup_dir / "docs.db")) == names[:3] + names[4:]

    newer = make_archive(backup_dir, "docs", "INCR", T0 + datetime.timedelta(days=3), source, reference=names[1])
    run = run_module("dar_catalog", catalog(backup_dir))
    assert run.result["action"] == "append" and run.result["added"] == [newer], run
    assert catalog_basenames(str(backup_dir / "docs.db")) == names[:3] + names[4:] + [newer]


def test_archive_missing_from_the_middle_rebuilds_in_order(source, backup_dir):
    names = history(backup_dir, source, 4)
    hidden = str(backup_dir / "hidden")
    os.mkdir(hidden)
    for path in glob.glob(str(backup_dir / (names[2] + ".*"))):
        os.rename(path, os.path.join(hidden, os.path.basename(path)))
    run_module("dar_catalog", catalog(backup_dir))
    for path in glob.glob(os.path.join(hidden, "*")):
        os.rename(path, str(backup_dir / os.path.basename(path)))
    run = run_module("dar_catalog", catalog(backup_dir))
    assert run.changed and run.result["action"] == "rebuild" and run.result["added"] == [names[2]], run
    assert catalog_basenames(str(backup_dir / "docs.db")) == names


def test_corrupt_database_is_set_aside_and_rebuilt(source, backup_dir):
    names = history(backup_dir, source, 3)
    run_module("dar_catalog", catalog(backup_dir))
    db = backup_dir / "docs.db"
    for damage in ("truncate", "garbage"):
        data = db.read_bytes()
        if damage == "truncate":
            db.write_bytes(data[:len(data) * 2 // 3])
        else:
            db.write_bytes(data[:60] + b"\xde\xad\xbe\xef" * 8 + data[92:])
        run = run_module("dar_catalog", catalog(backup_dir))
        assert run.changed and run.result["corrupt"], (damage, run)
        aside = run.result["set_aside"]
        assert aside and os.path.isfile(aside) and aside != str(db)
        assert catalog_basenames(str(db)) == names
        os.unlink(aside)


def test_check_and_diff_mode_change_nothing(source, backup_dir):
    names = history(backup_dir, source, 3)
    planned = run_module("dar_catalog", catalog(backup_dir), check=True)
    assert planned.changed and planned.result["added"] == names and not (backup_dir / "docs.db").exists(), planned
    run_module("dar_catalog", catalog(backup_dir))
    remove_archive(backup_dir, names[2])
    before = (backup_dir / "docs.db").read_bytes()
    planned = run_module("dar_catalog", catalog(backup_dir), check=True)
    assert planned.changed and planned.result["removed"] == [names[2]], planned
    assert (backup_dir / "docs.db").read_bytes() == before
    assert catalog_basenames(str(backup_dir / "docs.db")) == names


def test_absent_and_rebuilt(source, backup_dir):
    names = history(backup_dir, source, 3)
    run_module("dar_catalog", catalog(backup_dir))
    rebuilt = run_module("dar_catalog", catalog(backup_dir, state="rebuilt"))
    assert rebuilt.changed and rebuilt.result["action"] == "rebuild", rebuilt
    assert catalog_basenames(str(backup_dir / "docs.db")) == names
    gone = run_module("dar_catalog", catalog(backup_dir, state="absent"))
    assert gone.changed and not (backup_dir / "docs.db").exists()
    again = run_module("dar_catalog", catalog(backup_dir, state="absent"))
    assert not again.changed
    assert len([n for n in os.listdir(str(backup_dir)) if n.endswith(".1.dar")]) == 3


def test_catalog_dir_and_archives_of_other_definitions(source, backup_dir, workdir):
    names = history(backup_dir, source, 3)
    other = make_archive(backup_dir, "docs2", "FULL", T0, source)
    catalog_dir = workdir / "catalogs"
    run = run_module("dar_catalog", catalog(backup_dir, catalog_dir=str(catalog_dir)))
    assert not run.failed, run
    assert catalog_basenames(str(catalog_dir / "docs.db")) == names and other not in names
    assert not (backup_dir / "docs.db").exists()


def test_backup_dir_missing_and_bad_name(workdir):
    run = run_module("dar_catalog", {"name": "docs", "backup_dir": str(workdir / "nope")})
    assert run.failed and "does not exist" in run.result["msg"], run
    run = run_module("dar_catalog", {"name": "a_b", "backup_dir": str(workdir)})
    assert run.failed and "cannot name archives" in run.result["msg"], run


def test_catalog_stays_correct_across_100_archives(source, backup_dir):
    names = history(backup_dir, source, 100)
    run = run_module("dar_catalog", catalog(backup_dir))
    assert catalog_basenames(str(backup_dir / "docs.db")) == names, run
    # Retention-like churn: drop every third INCR, add ten more, one of them dated in the past.
    for name in names[2::3]:
        remove_archive(backup_dir, name)
    kept = [n for n in names if n not in names[2::3]]
    added = [make_archive(backup_dir, "docs", "INCR", T0 + datetime.timedelta(days=10, hours=i), source,
                          reference=names[1]) for i in range(9)]
    past = make_archive(backup_dir, "docs", "INCR", T0 + datetime.timedelta(minutes=30), source, reference=names[1])
    run = run_module("dar_catalog", catalog(backup_dir))
    assert run.changed and run.result["action"] == "rebuild", run
    expected = sorted(kept + added + [past], key=lambda n: (n.split("_", 2)[2], ["FULL", "DIFF", "INCR"].index(
        n.split("_")[1])))
    assert catalog_basenames(str(backup_dir / "docs.db")) == expected
    assert not run_module("dar_catalog", catalog(backup_dir)).changed
