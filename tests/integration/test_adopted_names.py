# -*- coding: utf-8 -*-
"""dar-backup allows spaces in definition names: such archive directories are read and restored as they are,
while new definitions keep the strict names."""

from __future__ import annotations

import datetime
import os
import subprocess

from conftest import run_module, write_file


def dar_backup_archive(backup_dir, basename, root, reference=None):
    """An archive as dar-backup makes it: a date-only name, no user comment, no manifest."""
    argv = ["dar", "-c", os.path.join(str(backup_dir), basename), "-N", "-Q", "-q", "-R", str(root)]
    if reference:
        argv += ["-A", os.path.join(str(backup_dir), reference)]
    subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_definition_name_with_spaces_is_read_and_restored(workdir):
    root, backup_dir = workdir / "src", workdir / "backups"
    os.makedirs(str(backup_dir))
    write_file(str(root / "letter.txt"), "first\n")
    days = [datetime.date.today() - datetime.timedelta(days=n) for n in (3, 1)]
    full = "my docs_FULL_%s" % days[0].isoformat()
    dar_backup_archive(backup_dir, full, root)
    write_file(str(root / "letter.txt"), "second\n")
    diff = "my docs_DIFF_%s" % days[1].isoformat()
    dar_backup_archive(backup_dir, diff, root, reference=full)

    info = run_module("dar_info", {"backup_dir": str(backup_dir)})
    assert not info.failed, info
    entry = info.result["definitions"]["my docs"]
    assert [a["archive"] for a in entry["archives"]] == [full, diff]
    assert [a["reference"] for a in entry["archives"]] == [None, full] and all(a["readable"] for a in entry["archives"])

    for when, content in ((days[0].isoformat() + "T12:00", "first\n"), (None, "second\n")):
        dest = workdir / ("restore-%s" % (when or "newest"))
        args = {"name": "my docs", "backup_dir": str(backup_dir), "dest": str(dest), "paths": ["letter.txt"]}
        if when:
            args["when"] = when
        restored = run_module("dar_restore", args)
        assert not restored.failed, restored
        with open(str(dest / "letter.txt")) as handle:
            assert handle.read() == content

    verified = run_module("par2_verify", {"backup_dir": str(backup_dir), "name": "my docs", "test": True})
    assert sorted(a["archive"] for a in verified.result["archives"]) == [diff, full]
    assert all(a["status"] == "no_par2" and a["dar_test"] for a in verified.result["archives"]), verified
    catalog = run_module("dar_catalog", {"name": "my docs", "backup_dir": str(backup_dir)})
    assert not catalog.failed and catalog.result["archives"] == [full, diff], catalog

    # New definitions stay strict, and the refusal says what still works.
    made = run_module("dar_backup", {"name": "my docs", "root": str(root), "backup_dir": str(backup_dir)})
    assert made.failed and "not safe for a new definition" in made.result["msg"], made
    assert "are still read and restored" in made.result["msg"]
