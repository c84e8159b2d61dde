# -*- coding: utf-8 -*-
"""dar.backup.dar_info reports what exists, read-only."""

from __future__ import annotations

import datetime
import os

from conftest import make_archive, run_module, write_file

T0 = datetime.datetime(2026, 3, 1, 10, 0, 0)


def test_archives_chains_catalog_and_versions(source, backup_dir):
    full = run_module("dar_backup", {"name": "docs", "root": str(source), "backup_dir": str(backup_dir),
                                     "level": "full", "restore_test": {"files": 1}})
    write_file(str(source / "docs" / "note-01.txt"), "second version\n")
    diff = run_module("dar_backup", {"name": "docs", "root": str(source), "backup_dir": str(backup_dir),
                                     "level": "diff", "restore_test": {"files": 1}})
    os.unlink(str(source / "docs" / "note-01.txt"))
    incr = run_module("dar_backup", {"name": "docs", "root": str(source), "backup_dir": str(backup_dir),
                                     "level": "incr", "restore_test": {"files": 1}, "par2": {"enabled": False}})
    other = run_module("dar_backup", {"name": "media", "root": str(source / "photos"),
                                      "backup_dir": str(backup_dir), "catalog": False, "restore_test": {"files": 1}})
    assert not any(r.failed for r in (full, diff, incr, other))
    before = sorted(os.listdir(str(backup_dir)))

    info = run_module("dar_info", {"backup_dir": str(backup_dir), "name": "docs", "path": "docs/note-01.txt"})
    assert not info.failed and not info.changed, info
    assert sorted(os.listdir(str(backup_dir))) == before
    docs = info.result["definitions"]["docs"]
    assert [a["archive"] for a in docs["archives"]] == [r.result["archive"] for r in (full, diff, incr)]
    assert [a["reference"] for a in docs["archives"]] == [None, full.result["archive"], diff.result["archive"]]
    assert [a["par2"]["complete"] for a in docs["archives"]] == [True, True, False]
    assert docs["par2_complete"] is False
    assert docs["chains"] == [{"full": full.result["archive"], "archives": [r.result["archive"]
                                                                            for r in (full, diff, incr)]}]
    assert docs["catalog"]["exists"] and docs["catalog"]["in_sync"] and not docs["catalog"]["corrupt"]
    assert docs["newest"]["INCR"]["archive"] == incr.result["archive"]
    assert docs["size_bytes"] == sum(r.result["size_bytes"] for r in (full, diff, incr))
    assert [v["status"] for v in docs["versions"]] == ["saved", "saved", "deleted"]

    everything = run_module("dar_info", {"backup_dir": str(backup_dir)})
    assert sorted(everything.result["definitions"]) == ["docs", "media"]
    media = everything.result["definitions"]["media"]
    assert media["catalog"]["exists"] is False and media["catalog"]["missing"] == [other.result["archive"]]


def test_damage_is_reported_not_raised(source, backup_dir):
    full = make_archive(backup_dir, "docs", "FULL", T0, source)
    write_file(str(source / "x.txt"), "x" * 5000)
    diff = make_archive(backup_dir, "docs", "DIFF", T0 + datetime.timedelta(days=1), source, reference=full)
    incr = make_archive(backup_dir, "docs", "INCR", T0 + datetime.timedelta(days=2), source, reference=diff)
    os.unlink(str(backup_dir / (diff + ".1.dar")))
    (backup_dir / "docs.db").write_bytes(b"not a database at all")
    info = run_module("dar_info", {"backup_dir": str(backup_dir), "name": "docs"})
    assert not info.failed, info
    docs = info.result["definitions"]["docs"]
    assert [a["archive"] for a in docs["archives"]] == [full, incr]
    assert docs["archives"][1]["readable"] is False and diff in docs["archives"][1]["error"]
    assert docs["catalog"]["corrupt"]


def test_path_needs_name_and_must_be_relative(backup_dir):
    backup_dir.mkdir()
    run = run_module("dar_info", {"backup_dir": str(backup_dir), "path": "a"})
    assert run.failed and "name" in run.result["msg"], run
    run = run_module("dar_info", {"backup_dir": str(backup_dir), "name": "docs", "path": "/etc/passwd"})
    assert run.failed and "absolute" in run.result["msg"], run
    run = run_module("dar_info", {"backup_dir": str(backup_dir / "nope")})
    assert run.failed and "does not exist" in run.result["msg"], run


def test_contents_of_an_archive_with_a_pattern(source, backup_dir):
    """dar-backup's --list-contents: every entry the archive records, saved, unchanged or deleted."""
    full = run_module("dar_backup", {"name": "docs", "root": str(source), "backup_dir": str(backup_dir),
                                     "level": "full", "restore_test": {"files": 1}})
    write_file(str(source / "docs" / "note-01.txt"), "second version\n")
    os.unlink(str(source / "docs" / "note-02.txt"))
    diff = run_module("dar_backup", {"name": "docs", "root": str(source), "backup_dir": str(backup_dir),
                                     "level": "diff", "restore_test": {"files": 1}})
    assert not full.failed and not diff.failed, diff
    listed = run_module("dar_info", {"backup_dir": str(backup_dir), "contents": diff.result["archive"],
                                     "pattern": "note-0[0-2].txt"})
    assert not listed.failed and not listed.changed, listed
    contents = listed.result["contents"]
    status = dict((e["path"], e["status"]) for e in contents["entries"])
    assert status == {"docs/note-00.txt": "unchanged", "docs/note-01.txt": "saved", "docs/note-02.txt": "deleted"}
    assert contents["matched"] == 3 and contents["truncated"] is False
    saved = [e for e in contents["entries"] if e["status"] == "saved"][0]
    assert saved["size"] == len("second version\n") and saved["kind"] == "file"
    assert saved["mtime"] == int(os.stat(str(source / "docs" / "note-01.txt")).st_mtime)
    # Awkward names come back as they are; without a pattern, everything.
    everything = run_module("dar_info", {"backup_dir": str(backup_dir), "contents": full.result["archive"]})
    paths = set(e["path"] for e in everything.result["contents"]["entries"])
    assert {"new\nline.txt", "*?[x].txt", "sub dir/[ab].txt", "-leading-dash.txt"} <= paths
    missing = run_module("dar_info", {"backup_dir": str(backup_dir), "contents": "docs_FULL_2020-01-01_000000"})
    assert missing.failed and "is not in" in missing.result["msg"], missing
