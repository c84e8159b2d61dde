# -*- coding: utf-8 -*-
"""FULL -> DIFF -> INCR through `ansible -m dar.backup.dar_backup`, checked with dar and dar_manager themselves."""

from __future__ import annotations

import os
import subprocess

from conftest import AWKWARD_NAMES, catalog_basenames, dar_list, dar_test, run_module, write_file


def base_args(source, backup_dir, **extra):
    args = {"name": "docs", "root": str(source), "backup_dir": str(backup_dir), "exclude": ["cache"],
            "restore_test": {"files": 100}}
    args.update(extra)
    return args


def test_full_diff_incr_chain(source, backup_dir):
    full = run_module("dar_backup", base_args(source, backup_dir, level="full"))
    assert not full.failed, full
    assert full.changed and full.result["level"] == "FULL" and full.result["reference"] is None
    assert full.result["verify"]["passed"] is True
    assert full.result["restore_test"]["passed"] is True

    write_file(str(source / "docs" / "note-00.txt"), "changed for the DIFF\n")
    write_file(str(source / "docs" / "new-in-diff.txt"), "new\n")
    diff = run_module("dar_backup", base_args(source, backup_dir, level="diff"))
    assert not diff.failed, diff
    assert diff.result["level"] == "DIFF" and diff.result["reference"] == full.result["archive"]

    write_file(str(source / "docs" / "new-in-incr.txt"), "newer\n")
    incr = run_module("dar_backup", base_args(source, backup_dir, level="incr"))
    assert not incr.failed, incr
    assert incr.result["level"] == "INCR" and incr.result["reference"] == diff.result["archive"]

    # Only what changed since the reference is in each archive.
    diff_listing = dar_list(diff.result["archive_path"])
    assert "new-in-diff.txt" in diff_listing and "new-in-incr.txt" not in diff_listing
    incr_saved = [f["path"] for f in incr.result["restore_test"]["files"]]
    assert incr_saved == ["docs/new-in-incr.txt"]

    # The chain is written into each archive's header, readable without our catalog or naming rules.
    for run, reference in ((full, "none"), (diff, full.result["archive"]), (incr, diff.result["archive"])):
        header = subprocess.run(["dar", "-l", run.result["archive_path"], "-N", "-Q", "-q"], check=True,
                                stdout=subprocess.PIPE, universal_newlines=True).stdout
        assert "dar.backup level=%s reference=%s" % (run.result["level"], reference) in header, header

    archives = [full, diff, incr]
    for run in archives:
        for path in run.result["slices"]:
            assert os.path.isfile(path)
        assert dar_test(run.result["archive_path"]) == 0
        assert run.result["par2"]["files"], run
        assert all(os.path.isfile(p) for p in run.result["par2"]["files"])
        assert set(run.result["durations"]) >= {"create", "verify", "restore_test", "par2", "catalog", "total"}
    assert catalog_basenames(str(backup_dir / "docs.db")) == [r.result["archive"] for r in archives]
    assert full.result["catalog"]["created"] is True and diff.result["catalog"]["created"] is False
    # Nothing left in the staging area.
    assert os.listdir(str(backup_dir / ".dar-backup-work")) == ["docs.lock"]


def test_auto_level_and_min_interval_guard(source, backup_dir):
    first = run_module("dar_backup", base_args(source, backup_dir, min_interval="1h"))
    assert first.changed and first.result["level"] == "FULL", first
    again = run_module("dar_backup", base_args(source, backup_dir, min_interval="1h"))
    assert not again.failed and not again.changed, again
    assert again.result["archive"] == first.result["archive"] and again.result["up_to_date"] is True
    assert len([n for n in os.listdir(str(backup_dir)) if n.endswith(".dar")]) == 1
    # Without the guard, auto continues the chain: a DIFF after the FULL, then INCRs.
    second = run_module("dar_backup", base_args(source, backup_dir))
    assert second.result["level"] == "DIFF", second
    third = run_module("dar_backup", base_args(source, backup_dir))
    assert third.result["level"] == "INCR" and third.result["reference"] == second.result["archive"], third


def test_check_mode_plans_and_writes_nothing(source, backup_dir):
    planned = run_module("dar_backup", base_args(source, backup_dir), check=True)
    assert not planned.failed and planned.changed, planned
    assert planned.result["level"] == "FULL" and planned.result["archive"].startswith("docs_FULL_")
    assert not backup_dir.exists()

    made = run_module("dar_backup", base_args(source, backup_dir))
    assert made.changed, made
    before = sorted(os.listdir(str(backup_dir)))
    planned = run_module("dar_backup", base_args(source, backup_dir, level="diff"), check=True)
    assert planned.changed and planned.result["reference"] == made.result["archive"], planned
    assert sorted(os.listdir(str(backup_dir))) == before


def test_awkward_names_back_up_and_restore_test(source, backup_dir):
    run = run_module("dar_backup", base_args(source, backup_dir, level="full",
                                             restore_test={"files": 1000, "max_size": "10M"}))
    assert not run.failed, run
    tested = {f["path"]: f["result"] for f in run.result["restore_test"]["files"]}
    for name in AWKWARD_NAMES:
        assert tested.get(name) == "passed", (name, tested)
    assert "photos/img.jpg" in tested and not any(p.startswith("cache/") for p in tested)
    assert run.result["restore_test"]["sampled"] == len(tested) == len(AWKWARD_NAMES) + 21


def test_restore_test_bounds_and_excludes(source, backup_dir):
    run = run_module("dar_backup", base_args(source, backup_dir, restore_test={
        "files": 1000, "min_size": "1k", "max_size": "200k", "exclude": ["note-0*", "sub dir/*"]}))
    assert not run.failed, run
    paths = [f["path"] for f in run.result["restore_test"]["files"]]
    assert paths, run
    assert "photos/img.jpg" not in paths  # 300 KiB: above max_size
    assert not any(os.path.basename(p).startswith("note-0") or p.startswith("sub dir/") for p in paths), paths
    for tested in run.result["restore_test"]["files"]:
        assert tested["size"] == os.path.getsize(str(source / tested["path"])) >= 1024, tested


def test_excluded_paths_are_absent_from_the_archive(source, backup_dir):
    run = run_module("dar_backup", base_args(source, backup_dir, exclude=["cache", "docs"],
                                             compression="none"))
    assert not run.failed, run
    listing = dar_list(run.result["archive_path"])
    assert "junk.bin" not in listing and "note-01.txt" not in listing
    assert "img.jpg" in listing


def test_definition_file(source, backup_dir, workdir):
    dcf = workdir / "home.dcf"
    dcf.write_text('# a dar-backup style definition\n-R "%s"\n-P cache\n-P "sub dir"\n-z6\n--slice 200k\n'
                   % source)
    run = run_module("dar_backup", {"name": "home", "definition_file": str(dcf), "backup_dir": str(backup_dir),
                                    "restore_test": {"files": 3}})
    assert not run.failed, run
    assert len(run.result["slices"]) >= 2, run  # --slice from the file applied
    listing = dar_list(run.result["archive_path"])
    assert "junk.bin" not in listing and "[ab].txt" not in listing and "note-03.txt" in listing
    assert run.result["restore_test"]["passed"] is True and run.result["restore_test"]["sampled"] == 3


def test_inline_slices_par2_dir_and_catalog_dir(source, backup_dir, workdir):
    par2_dir = workdir / "par2"
    catalog_dir = workdir / "catalogs"
    run = run_module("dar_backup", base_args(source, backup_dir, slice_size="100k", compression="gzip:6",
                                             par2={"dir": str(par2_dir), "redundancy": 10, "block_count": 100},
                                             catalog_dir=str(catalog_dir)))
    assert not run.failed, run
    slices = run.result["slices"]
    assert len(slices) >= 3 and [s.rsplit(".", 2)[-2] for s in slices] == [str(i) for i in range(1, len(slices) + 1)]
    assert run.result["par2"]["redundancy"] == 10
    assert not [n for n in os.listdir(str(backup_dir)) if n.endswith(".par2")]
    for path in slices:
        index = par2_dir / (os.path.basename(path) + ".par2")
        assert index.is_file()
        # Portable: verified against the archive directory with -B, as the docs say.
        verify = subprocess.run(["par2", "verify", "-q", "-q", "-B", str(backup_dir), str(index)], check=False)
        assert verify.returncode == 0
    assert catalog_basenames(str(catalog_dir / "docs.db")) == [run.result["archive"]]
    assert not (backup_dir / "docs.db").exists()


def test_per_level_redundancy(source, backup_dir):
    par2 = {"redundancy": 5, "redundancy_full": 12, "redundancy_diff": 7}
    full = run_module("dar_backup", base_args(source, backup_dir, level="full", par2=par2))
    diff = run_module("dar_backup", base_args(source, backup_dir, level="diff", par2=par2))
    incr = run_module("dar_backup", base_args(source, backup_dir, level="incr", par2=par2))
    assert [r.result["par2"]["redundancy"] for r in (full, diff, incr)] == [12, 7, 5]


def test_compression_excludes_already_compressed_types(source, backup_dir):
    write_file(str(source / "big.txt"), "compressible text line\n" * 40000)
    write_file(str(source / "same-as-text.jpg"), "compressible text line\n" * 40000)
    run = run_module("dar_backup", base_args(source, backup_dir, restore_test={"files": 0}))
    assert not run.failed, run
    listing = dar_list(run.result["archive_path"])
    assert "big.txt" in listing
    # The archive holds big.txt compressed but the .jpg of the same bytes stored as is.
    assert 920000 < run.result["size_bytes"] < 920000 + 600 * 1024, run.result["size_bytes"]


def test_include_that_matches_nothing_warns(source, backup_dir):
    """An archive of nothing is not a backup of the definition: the run says so (and the restore test proved
    nothing, which it says too)."""
    run = run_module("dar_backup", base_args(source, backup_dir, include=["no-such-dir"]))
    assert not run.failed, run
    warned = " ".join(run.stderr.split())
    assert "definition docs selects nothing under %s: the archive holds no file" % source in warned, run
    assert run.result["restore_test"]["passed"] is not True, run


def test_explicit_reference(source, backup_dir):
    """dar-backup's --alternate-reference-archive: the DIFF is made against the archive named, and records it."""
    first = run_module("dar_backup", base_args(source, backup_dir, level="full"))
    second = run_module("dar_backup", base_args(source, backup_dir, level="full"))
    write_file(str(source / "docs" / "note-00.txt"), "changed since both FULLs\n")
    diff = run_module("dar_backup", base_args(source, backup_dir, level="diff", reference=first.result["archive"]))
    assert not diff.failed and diff.result["reference"] == first.result["archive"], diff
    assert second.result["archive"] != first.result["archive"]
    info = run_module("dar_info", {"backup_dir": str(backup_dir), "name": "docs"})
    by_name = dict((a["archive"], a) for a in info.result["definitions"]["docs"]["archives"])
    assert by_name[diff.result["archive"]]["reference"] == first.result["archive"]
    refused = [
        (dict(level="diff", reference="docs_FULL_2099-01-01_000000"), "is not an archive in"),
        (dict(level="incr", reference=diff.result["archive"].replace("DIFF", "FULL")), "is not an archive in"),
        (dict(level="full", reference=first.result["archive"]), "needs level=diff or level=incr"),
        (dict(level="diff", reference="other_FULL_2026-01-01_000000"), "is not an archive name of definition docs"),
    ]
    for extra, message in refused:
        run = run_module("dar_backup", base_args(source, backup_dir, **extra))
        assert run.failed and message in run.result["msg"], (extra, run)
    with open(os.path.join(str(backup_dir), first.result["archive"] + ".1.dar"), "r+b") as handle:
        handle.truncate(1000)
    damaged = run_module("dar_backup", base_args(source, backup_dir, level="incr", reference=first.result["archive"]))
    assert damaged.failed and "archive %s is damaged" % first.result["archive"] in damaged.result["msg"], damaged
