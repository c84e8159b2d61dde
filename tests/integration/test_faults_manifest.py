# -*- coding: utf-8 -*-
"""Every lost or damaged slice is seen by every reader: the per-archive manifest, with the real dar and par2."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import subprocess

import pytest

from conftest import dar_test, make_archive, run_module, write_file

SLICE = "200k"


@pytest.fixture
def data(workdir):
    """About 900 KiB of incompressible data: a FULL of 5 slices of 200 KiB."""
    root = workdir / "src"
    for index in range(3):
        write_file(str(root / ("photo-%d.jpg" % index)), os.urandom(300 * 1024))
    write_file(str(root / "notes.txt"), "a note\n")
    return root


def backup(data, backup_dir, **extra):
    args = {"name": "docs", "root": str(data), "backup_dir": str(backup_dir), "slice_size": SLICE,
            "restore_test": {"files": 2}, "par2": {"redundancy": 5}}
    args.update(extra)
    run = run_module("dar_backup", args)
    assert not run.failed, run
    return run


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def slices_of(backup_dir, archive):
    return sorted((p for p in os.listdir(str(backup_dir)) if p.startswith(archive + ".") and p.endswith(".dar")),
                  key=lambda p: int(p.rsplit(".", 2)[-2]))


def info(backup_dir):
    run = run_module("dar_info", {"backup_dir": str(backup_dir)})
    assert not run.failed, run
    return run.result["definitions"]


def scrub(backup_dir, **extra):
    return run_module("par2_verify", dict({"backup_dir": str(backup_dir)}, **extra))


def test_manifest_records_every_slice_and_par2_file_privately(data, backup_dir):
    old_umask = os.umask(0)  # the ansible CLI and the module inherit it
    try:
        full = backup(data, backup_dir)
    finally:
        os.umask(old_umask)
    archive = full.result["archive"]
    path = full.result["manifest"]
    assert path == str(backup_dir / (archive + ".manifest.json"))
    with open(path) as handle:
        manifest = json.load(handle)
    assert manifest["format"] == 1 and manifest["archive"] == archive and manifest["level"] == "FULL"
    assert manifest["reference"] is None and manifest["definition"] == "docs"
    assert manifest["dar_version"] == subprocess.run(["dar", "-V", "-N", "-Q"], stdout=subprocess.PIPE, check=True,
                                                     universal_newlines=True).stdout.split()[2].rstrip(",")
    names = slices_of(backup_dir, archive)
    assert len(names) >= 4
    assert [s["name"] for s in manifest["slices"]] == names
    for entry in manifest["slices"]:
        slice_path = str(backup_dir / entry["name"])
        assert entry["size"] == os.path.getsize(slice_path) and entry["sha256"] == sha256(slice_path)
    par2_names = sorted(n for n in os.listdir(str(backup_dir)) if n.endswith(".par2"))
    assert sorted(f["name"] for f in manifest["par2"]["files"]) == par2_names
    # Whatever the umask, nothing of the archive is readable by others.
    for name in names + par2_names + [archive + ".manifest.json", "docs.db"]:
        assert stat.S_IMODE(os.stat(str(backup_dir / name)).st_mode) == 0o600, name
    diff = backup(data, backup_dir, level="diff")
    with open(diff.result["manifest"]) as handle:
        assert json.load(handle)["reference"] == archive


def test_lost_slice_1_is_seen_by_every_reader(data, backup_dir):
    full = backup(data, backup_dir)
    archive = full.result["archive"]
    os.unlink(str(backup_dir / (archive + ".1.dar")))
    verified = scrub(backup_dir)
    assert verified.failed, verified
    assert [a["archive"] for a in verified.result["archives"]] == [archive]
    assert verified.result["archives"][0]["status"] == "unrepairable"
    assert "slice 1 of %s is missing" % archive in verified.result["msg"]
    described = info(backup_dir)["docs"]
    assert described["archives"] == []
    assert [(s["archive"], s["kind"]) for s in described["strays"]] == [(archive, "slice_1_missing")]
    # Without a manifest the remaining slices are seen too.
    os.unlink(str(backup_dir / (archive + ".manifest.json")))
    assert [s["archive"] for s in info(backup_dir)["docs"]["strays"]] == [archive]
    assert scrub(backup_dir).failed


def test_lost_last_slice_and_its_par2_set_is_seen(data, backup_dir):
    full = backup(data, backup_dir)
    archive = full.result["archive"]
    last = slices_of(backup_dir, archive)[-1]
    number = int(last.rsplit(".", 2)[-2])
    for name in os.listdir(str(backup_dir)):
        if name == last or name.startswith(last + "."):
            os.unlink(str(backup_dir / name))
    verified = scrub(backup_dir)
    assert verified.failed and verified.result["archives"][0]["status"] == "unrepairable", verified
    assert "slice(s) %d missing" % number in verified.result["msg"]
    tested = scrub(backup_dir, test=True)
    assert tested.failed and "slice(s) %d missing" % number in tested.result["msg"], tested
    entry = info(backup_dir)["docs"]["archives"][0]
    assert entry["complete"] is False and entry["readable"] is False
    assert "slice(s) %d missing" % number in entry["error"]


def test_adopted_archive_without_manifest_losing_its_last_slice(data, backup_dir):
    """dar-backup's archives have no manifest: their header tells (dar -l needs the real last slice)."""
    moment = datetime.datetime.now().replace(microsecond=0) - datetime.timedelta(days=1)
    archive = make_archive(backup_dir, "docs", "FULL", moment, data)
    subprocess.run(["dar", "-+", str(backup_dir / "sliced"), "-A", str(backup_dir / archive), "-N", "-Q",
                    "-s", SLICE, "-ak"], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for name in slices_of(backup_dir, archive):
        os.unlink(str(backup_dir / name))
    for name in slices_of(backup_dir, "sliced"):
        os.rename(str(backup_dir / name), str(backup_dir / name.replace("sliced", archive, 1)))
    assert dar_test(str(backup_dir / archive)) == 0
    healthy = info(backup_dir)["docs"]["archives"][0]
    assert healthy["manifest"] is False and healthy["complete"] is True and healthy["readable"] is True
    # Adopted archives keep working as references: their header proves them.
    diff = backup(data, backup_dir, level="diff")
    assert diff.result["reference"] == archive
    os.unlink(diff.result["manifest"])  # leave the adopted FULL alone in what follows
    for name in slices_of(backup_dir, diff.result["archive"]):
        os.unlink(str(backup_dir / name))
    os.unlink(str(backup_dir / slices_of(backup_dir, archive)[-1]))
    broken = info(backup_dir)["docs"]["archives"][0]
    assert broken["readable"] is False and broken["complete"] is False, broken
    verified = scrub(backup_dir)
    assert verified.failed and verified.result["archives"][0]["status"] == "unrepairable", verified


def test_truncated_full_is_never_a_reference(data, backup_dir):
    full = backup(data, backup_dir, slice_size=None)
    archive = full.result["archive"]
    first = str(backup_dir / (archive + ".1.dar"))
    before = dict((n, sha256(str(backup_dir / n))) for n in os.listdir(str(backup_dir)) if n != archive + ".1.dar"
                  and os.path.isfile(str(backup_dir / n)))
    with open(first, "r+b") as handle:
        handle.truncate(100 * 1000)
    entry = info(backup_dir)["docs"]["archives"][0]
    assert entry["readable"] is False and "truncated" in entry["error"], entry
    for level in ("diff", "incr", "auto"):
        refused = run_module("dar_backup", {"name": "docs", "root": str(data), "backup_dir": str(backup_dir),
                                            "level": level})
        assert refused.failed, refused
        assert "archive %s is damaged" % archive in refused.result["msg"] and "level=full" in refused.result["msg"]
    assert sorted(n for n in os.listdir(str(backup_dir)) if n.endswith(".dar")) == [archive + ".1.dar"]
    after = dict((n, sha256(str(backup_dir / n))) for n in before)
    assert after == before
    fresh = backup(data, backup_dir, level="full", slice_size=None)
    assert fresh.result["level"] == "FULL"


def test_garbage_that_looks_like_a_newer_full_is_skipped(data, backup_dir):
    full = backup(data, backup_dir, slice_size=None)
    later = (datetime.datetime.now() + datetime.timedelta(days=3)).strftime("%Y-%m-%d_%H%M%S")
    garbage = "docs_FULL_%s" % later
    write_file(str(backup_dir / (garbage + ".1.dar")), os.urandom(4096))
    diff = backup(data, backup_dir, level="diff", slice_size=None)
    assert diff.result["reference"] == full.result["archive"], diff
    warned = " ".join(diff.stderr.split())  # the module's warnings, as the CLI prints them
    assert "%s is skipped: it looks like an archive but dar cannot read it" % garbage in warned, diff
    entries = dict((a["archive"], a) for a in info(backup_dir)["docs"]["archives"])
    assert entries[garbage]["readable"] is False and entries[full.result["archive"]]["readable"] is True
    again = backup(data, backup_dir, level="auto", slice_size=None)
    assert again.result["level"] == "INCR" and again.result["reference"] == diff.result["archive"], again


def test_extra_slice_and_orphaned_par2_set(data, backup_dir):
    full = backup(data, backup_dir)
    archive = full.result["archive"]
    names = slices_of(backup_dir, archive)
    extra = "%s.%d.dar" % (archive, len(names) + 1)
    with open(str(backup_dir / names[-1]), "rb") as src, open(str(backup_dir / extra), "wb") as dst:
        dst.write(src.read())
    verified = scrub(backup_dir)
    assert verified.failed and "slice(s) %d are not in the manifest" % (len(names) + 1) in verified.result["msg"]
    assert info(backup_dir)["docs"]["archives"][0]["complete"] is False
    os.unlink(str(backup_dir / extra))
    assert not scrub(backup_dir).failed
    # Every slice and the manifest gone, the PAR2 set left: a leftover, reported but not a failure of what is there.
    for name in slices_of(backup_dir, archive) + [archive + ".manifest.json"]:
        os.unlink(str(backup_dir / name))
    other = backup(data, backup_dir, level="full")
    leftover = scrub(backup_dir)
    assert not leftover.failed, leftover
    assert [a["archive"] for a in leftover.result["archives"]] == [other.result["archive"]]
    assert "PAR2 files of %s remain, but no slice of it" % archive in " ".join(leftover.stderr.split())
    strays = info(backup_dir)["docs"]["strays"]
    assert [(s["archive"], s["kind"]) for s in strays] == [(archive, "orphaned_par2")]
