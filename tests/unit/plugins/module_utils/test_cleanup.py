# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention selection (what goes, what is protected and why) and safe removal, without dar."""

from __future__ import annotations

import datetime
import fcntl
import os

import pytest

from ansible_collections.dar.backup.plugins.module_utils import cleanup
from ansible_collections.dar.backup.plugins.module_utils import naming
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.history import Chains

NOW = datetime.datetime(2026, 6, 1, 12, 0, 0)


def base(level, days, definition="docs"):
    return "%s_%s_%s" % (definition, level, (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%d_%H%M%S"))


def fake_archives(helpers, *bases):
    return sorted((helpers.archive(b) for b in bases), key=naming.Archive.sort_key)


def refs(archives, mapping):
    """reference_of from {basename: reference basename or an exception}."""
    by_name = dict((a.basename, a) for a in archives)
    asked = []

    def reference_of(archive):
        asked.append(archive.basename)
        value = mapping.get(archive.basename)
        if isinstance(value, Exception):
            raise value
        return by_name[value] if value else None
    reference_of.asked = asked
    return reference_of


def names(archives):
    return [a.basename for a in archives]


# --- selection --------------------------------------------------------------------------------------------

def test_ages_pick_old_diffs_and_incrs_never_a_full(helpers):
    full, old_diff, young_diff = base("FULL", 900), base("DIFF", 101), base("DIFF", 99)
    old_incr, young_incr = base("INCR", 41), base("INCR", 39)
    archives = fake_archives(helpers, full, old_diff, young_diff, old_incr, young_incr)
    mapping = {old_diff: full, young_diff: full, old_incr: young_diff, young_incr: young_diff}
    selection = cleanup.select(archives, refs(archives, mapping), NOW, 100, 40)
    assert names(selection.remove) == [old_diff, old_incr]
    assert names(selection.kept) == [full, young_diff, young_incr]
    assert selection.protected == [] and selection.unreadable == []


def test_age_boundary_is_strictly_older(helpers):
    exactly = base("INCR", 40)
    full = base("FULL", 400)
    archives = fake_archives(helpers, full, exactly)
    selection = cleanup.select(archives, refs(archives, {exactly: full}), NOW, 100, 40)
    assert selection.remove == []
    selection = cleanup.select(archives, refs(archives, {exactly: full}), NOW + datetime.timedelta(seconds=1), 100, 40)
    assert names(selection.remove) == [exactly]


def test_diff_needed_by_a_kept_incr_is_protected_with_its_reason(helpers):
    full, diff, old_incr, young_incr = base("FULL", 300), base("DIFF", 150), base("INCR", 120), base("INCR", 10)
    archives = fake_archives(helpers, full, diff, old_incr, young_incr)
    mapping = {diff: full, old_incr: diff, young_incr: diff}
    selection = cleanup.select(archives, refs(archives, mapping), NOW, 100, 40)
    assert names(selection.remove) == [old_incr]
    assert selection.protected == [{"archive": diff, "needed_by": young_incr,
                                    "reason": "%s was made against it" % young_incr}]
    assert names(selection.kept) == [full, diff, young_incr]


def test_protection_is_transitive(helpers):
    """INCR <- INCR <- DIFF (incr_reference=previous): keeping the young INCR keeps both older ones."""
    full, diff, incr1, incr2 = base("FULL", 300), base("DIFF", 200), base("INCR", 60), base("INCR", 3)
    archives = fake_archives(helpers, full, diff, incr1, incr2)
    mapping = {diff: full, incr1: diff, incr2: incr1}
    selection = cleanup.select(archives, refs(archives, mapping), NOW, 100, 40)
    assert selection.remove == []
    assert [(p["archive"], p["needed_by"]) for p in selection.protected] == [(diff, incr1), (incr1, incr2)]


def test_named_full_goes_only_with_allow_full(helpers):
    full, diff, new_full = base("FULL", 400), base("DIFF", 390), base("FULL", 5)
    archives = fake_archives(helpers, full, diff, new_full)
    mapping = {diff: full}
    with pytest.raises(DarBackupError) as info:
        cleanup.select(archives, refs(archives, mapping), NOW, 100, 40, named=[full])
    assert info.value.phase == "validate" and full in info.value.msg and "allow_full" in info.value.msg
    selection = cleanup.select(archives, refs(archives, mapping), NOW, 100, 40, named=[full], allow_full=True)
    assert names(selection.remove) == [full, diff]
    assert names(selection.kept) == [new_full]


def test_named_full_with_a_kept_diff_is_protected(helpers):
    full, diff = base("FULL", 400), base("DIFF", 20)
    archives = fake_archives(helpers, full, diff)
    selection = cleanup.select(archives, refs(archives, {diff: full}), NOW, 100, 40, named=[full], allow_full=True)
    assert selection.remove == []
    assert selection.protected == [{"archive": full, "needed_by": diff, "reason": "%s was made against it" % diff}]


def test_named_young_archives_go_whatever_their_age(helpers):
    full, diff, incr = base("FULL", 30), base("DIFF", 20), base("INCR", 1)
    archives = fake_archives(helpers, full, diff, incr)
    selection = cleanup.select(archives, refs(archives, {diff: full, incr: diff}), NOW, 100, 40, named=[incr])
    assert names(selection.remove) == [incr]
    # Naming the DIFF alone: its INCR keeps it.
    selection = cleanup.select(archives, refs(archives, {diff: full, incr: diff}), NOW, 100, 40, named=[diff])
    assert selection.remove == [] and selection.protected[0]["needed_by"] == incr


def test_unreadable_keeper_protects_everything_back_to_its_full(helpers):
    older_full, older_diff = base("FULL", 500), base("DIFF", 450)
    full, diff, incr, broken = base("FULL", 300), base("DIFF", 200), base("INCR", 150), base("INCR", 5)
    archives = fake_archives(helpers, older_full, older_diff, full, diff, incr, broken)
    mapping = {older_diff: older_full, diff: full, incr: diff,
               broken: DarBackupError("archive %s cannot be read" % broken, phase="plan")}
    selection = cleanup.select(archives, refs(archives, mapping), NOW, 100, 40)
    assert selection.unreadable == [{"archive": broken, "error": "archive %s cannot be read" % broken}]
    assert [(p["archive"], p["needed_by"]) for p in selection.protected] == [(diff, broken), (incr, broken)]
    assert "cannot be read" in selection.protected[0]["reason"]
    # Before the newest FULL preceding it, nothing it could depend on: the older chain still goes.
    assert names(selection.remove) == [older_diff]


def test_unreadable_keeper_without_a_full_before_it_protects_everything_older(helpers):
    diff, broken = base("DIFF", 200), base("INCR", 5)
    archives = fake_archives(helpers, diff, broken)
    mapping = {broken: DarBackupError("no FULL", phase="plan")}
    selection = cleanup.select(archives, refs(archives, mapping), NOW, 100, 40)
    assert selection.remove == [] and selection.protected[0]["archive"] == diff


def test_headers_are_read_only_where_a_dependency_is_possible(helpers):
    full, diff, young_incr = base("FULL", 300), base("DIFF", 20), base("INCR", 5)
    archives = fake_archives(helpers, full, diff, young_incr)
    reference_of = refs(archives, {diff: full, young_incr: diff})
    selection = cleanup.select(archives, reference_of, NOW, 100, 40)
    assert selection.remove == [] and reference_of.asked == []  # nothing due: nothing read
    old_full, old_diff = base("FULL", 900), base("DIFF", 800)
    archives = fake_archives(helpers, old_full, old_diff, full, diff, young_incr)
    reference_of = refs(archives, {old_diff: old_full, diff: full, young_incr: diff})
    selection = cleanup.select(archives, reference_of, NOW, 100, 40)
    assert names(selection.remove) == [old_diff]
    assert old_full not in reference_of.asked and set(reference_of.asked) == {full, diff, young_incr}


def test_dar_backup_naming_rule_when_headers_have_no_comment(helpers):
    """Chains falls back to dar-backup's rule: INCR against the newest DIFF after the newest FULL."""
    full, diff, old_incr, young_incr = ("docs_FULL_2025-12-30", "docs_DIFF_2026-01-01", "docs_INCR_2026-01-04",
                                        "docs_INCR_2026-05-28")
    archives = fake_archives(helpers, full, diff, old_incr, young_incr)

    class FakeDar(object):
        def __init__(self):
            self.read = []

        def header(self, path):
            self.read.append(os.path.basename(path))
            return {"Archive version format": "11"}

    dar = FakeDar()
    selection = cleanup.select(archives, Chains(dar, archives).reference_of, NOW, 100, 40)
    assert names(selection.remove) == [old_incr]
    assert selection.protected == [{"archive": diff, "needed_by": young_incr,
                                    "reason": "%s was made against it" % young_incr}]


def test_header_comment_decides_over_the_naming_rule(helpers):
    full, diff, incr = base("FULL", 300), base("DIFF", 200), base("INCR", 5)
    archives = fake_archives(helpers, full, diff, incr)
    comments = {incr: "dar.backup level=INCR reference=%s" % full}

    class FakeDar(object):
        def header(self, path):
            return {"User comment": comments.get(os.path.basename(path), "")}

    selection = cleanup.select(archives, Chains(FakeDar(), archives).reference_of, NOW, 100, 40)
    # The INCR was made against the FULL (recorded), not the DIFF the naming rule would guess.
    assert names(selection.remove) == [diff] and selection.protected == []


@pytest.mark.parametrize("value", [-1, 1.5, "10", None, True])
def test_bad_ages_refused(value):
    with pytest.raises(DarBackupError) as info:
        cleanup.check_age(value, "diff_age")
    assert info.value.phase == "validate" and "diff_age" in info.value.msg


@pytest.mark.parametrize("name", ["docs_DIFF_2026-01-01_000000.1.dar", "other_DIFF_2026-01-01_000000",
                                  "docs_DIFF_2026-02-30_000000", "docs_DIFF_2026-01-01_000001", "../x", 5])
def test_unknown_names_refused(name):
    known = {"docs_DIFF_2026-01-01_000000"}
    with pytest.raises(DarBackupError) as info:
        cleanup.check_names(["docs_DIFF_2026-01-01_000000", name], "docs", known, "/b")
    assert info.value.phase == "validate" and repr(name).strip("'") in info.value.msg
    assert "nothing was removed" in info.value.msg


# --- removal on disk (a fake dar; files made by hand) -----------------------------------------------------

class HeaderDar(object):
    """Headers from a {basename: reference} map, as dar_backup records them."""

    def __init__(self, references):
        self.references = references

    def header(self, path):
        name = os.path.basename(path)
        if name not in self.references:
            raise DarBackupError("dar cannot read the catalogue of %s: rc 2" % path, phase="read")
        level = naming.ArchiveName.parse(name).level
        return {"User comment": "dar.backup level=%s reference=%s" % (level, self.references[name] or "none")}


@pytest.fixture
def disk(helpers, tmp_path):
    backup_dir = str(tmp_path / "b")
    os.makedirs(backup_dir)
    full, diff, incr, young = base("FULL", 300), base("DIFF", 200), base("INCR", 150), base("DIFF", 3)
    for name, slices in ((full, 1), (diff, 2), (incr, 3), (young, 1)):
        helpers.make_archive(backup_dir, name, slices=slices)
        for number in range(1, slices + 1):
            helpers.touch(os.path.join(backup_dir, "%s.%d.dar.par2" % (name, number)))
            helpers.touch(os.path.join(backup_dir, "%s.%d.dar.vol0+1.par2" % (name, number)))
    dar = HeaderDar({full: None, diff: full, incr: diff, young: full})
    return backup_dir, dar, (full, diff, incr, young)


def request(backup_dir, **extra):
    options = dict(catalog=False)
    options.update(extra)
    return cleanup.CleanupRequest("docs", backup_dir, **options)


def test_removal_order_slice_one_first_newest_archive_first(disk, monkeypatch):
    backup_dir, dar, (full, diff, incr, young) = disk
    unlinked = []
    real_unlink = os.unlink

    def recording_unlink(path, *args, **kwargs):
        unlinked.append(os.path.basename(path))
        # At every step, slice 1 gone means the archive is invisible: discover never sees a partial archive.
        return real_unlink(path, *args, **kwargs)
    monkeypatch.setattr(os, "unlink", recording_unlink)
    result = cleanup.run_cleanup(request(backup_dir), now=NOW, dar=dar)
    assert result["removed"] == [diff, incr] and result["changed"]
    expected = []
    for name, slices in ((incr, 3), (diff, 2)):
        expected += ["%s.%d.dar" % (name, n) for n in range(1, slices + 1)]
        for number in range(1, slices + 1):
            expected += ["%s.%d.dar.par2" % (name, number), "%s.%d.dar.vol0+1.par2" % (name, number)]
    assert unlinked == expected
    assert [os.path.basename(p) for p in result["removed_files"]] == expected
    assert names(naming.discover(backup_dir, "docs")) == [full, young]
    assert sorted(os.listdir(backup_dir)) == sorted(
        n for n in os.listdir(backup_dir) if n.startswith((full, young)) or n == ".dar-backup-work")
    assert result["kept"] == 2


def test_check_mode_deletes_nothing_and_takes_no_lock(disk):
    backup_dir, dar, (_full, diff, incr, _young) = disk
    before = sorted(os.listdir(backup_dir))
    result = cleanup.run_cleanup(request(backup_dir), check_mode=True, now=NOW, dar=dar)
    assert result["changed"] and result["removed"] == [diff, incr]
    assert len(result["removed_files"]) == 5 * 3
    assert sorted(os.listdir(backup_dir)) == before


def test_second_run_is_unchanged(disk):
    backup_dir, dar, _names = disk
    assert cleanup.run_cleanup(request(backup_dir), now=NOW, dar=dar)["changed"]
    again = cleanup.run_cleanup(request(backup_dir), now=NOW, dar=dar)
    assert not again["changed"] and again["removed"] == [] and again["removed_files"] == []


def test_symlinks_are_never_removed_nor_followed(disk, tmp_path):
    backup_dir, dar, (_full, diff, incr, _young) = disk
    target = tmp_path / "outside.dar"
    target.write_bytes(b"precious")
    os.unlink(os.path.join(backup_dir, incr + ".2.dar"))
    os.symlink(str(target), os.path.join(backup_dir, incr + ".2.dar"))
    fake = os.path.join(backup_dir, base("INCR", 900) + ".1.dar")
    os.symlink(str(target), fake)
    result = cleanup.run_cleanup(request(backup_dir), now=NOW, dar=dar)
    assert result["left_alone"] == [os.path.join(backup_dir, incr + ".2.dar")]
    assert result["leftovers"] == [] and result["removed"] == [diff, incr]
    assert os.path.islink(fake) and os.path.islink(os.path.join(backup_dir, incr + ".2.dar"))
    assert target.read_bytes() == b"precious"


def test_leftovers_finish_an_interrupted_removal(disk):
    backup_dir, dar, (_full, diff, incr, young) = disk
    os.unlink(os.path.join(backup_dir, incr + ".1.dar"))  # as if interrupted after slice 1
    os.unlink(os.path.join(backup_dir, young + ".1.dar"))  # a young one: not due, left alone
    result = cleanup.run_cleanup(request(backup_dir), now=NOW, dar=dar)
    assert result["removed"] == [diff] and result["leftovers"] == [incr]
    remaining = os.listdir(backup_dir)
    assert not any(n.startswith((diff, incr)) for n in remaining)
    assert young + ".1.dar.par2" in remaining


def test_named_leftover_full_needs_allow_full(disk):
    backup_dir, dar, (full, _diff, _incr, _young) = disk
    os.unlink(os.path.join(backup_dir, full + ".1.dar"))
    with pytest.raises(DarBackupError) as info:
        cleanup.run_cleanup(request(backup_dir, archives=[full]), now=NOW, dar=dar)
    assert "allow_full" in info.value.msg
    assert os.path.exists(os.path.join(backup_dir, full + ".1.dar.par2"))


def test_par2_dir_files_go_too_and_others_stay(disk, helpers, tmp_path):
    backup_dir, dar, (_full, diff, incr, young) = disk
    par2_dir = str(tmp_path / "p")
    theirs = [helpers.touch(os.path.join(par2_dir, diff + ".1.dar.par2")),
              helpers.touch(os.path.join(par2_dir, diff + ".2.dar.vol00+10.par2"))]
    kept = [helpers.touch(os.path.join(par2_dir, young + ".1.dar.par2")),
            helpers.touch(os.path.join(par2_dir, "docs2" + diff[4:] + ".1.dar.par2")),
            helpers.touch(os.path.join(par2_dir, diff + ".1.dar.par2.bak"))]
    result = cleanup.run_cleanup(request(backup_dir, par2_dir=par2_dir), now=NOW, dar=dar)
    assert result["removed"] == [diff, incr]
    assert not any(os.path.exists(p) for p in theirs)
    assert all(os.path.exists(p) for p in kept)
    assert set(theirs) <= set(result["removed_files"])


def test_missing_par2_dir_is_a_warning(disk, tmp_path):
    backup_dir, dar, _names = disk
    result = cleanup.run_cleanup(request(backup_dir, par2_dir=str(tmp_path / "nope")), now=NOW, dar=dar)
    assert any("par2_dir" in w for w in result["warnings"])


def test_held_lock_fails_before_any_removal(disk):
    backup_dir, dar, _names = disk
    before = sorted(os.listdir(backup_dir))
    os.makedirs(os.path.join(backup_dir, ".dar-backup-work"), exist_ok=True)
    with open(os.path.join(backup_dir, ".dar-backup-work", "docs.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(DarBackupError) as info:
            cleanup.run_cleanup(request(backup_dir), now=NOW, dar=dar)
    assert info.value.phase == "lock"
    assert sorted(n for n in os.listdir(backup_dir) if n != ".dar-backup-work") == before


def test_failure_part_way_reports_what_went(disk, monkeypatch):
    backup_dir, dar, (_full, diff, incr, _young) = disk
    real_unlink = os.unlink

    def failing_unlink(path, *args, **kwargs):
        if os.path.basename(path).startswith(diff):
            raise PermissionError(13, "Permission denied")
        return real_unlink(path, *args, **kwargs)
    monkeypatch.setattr(os, "unlink", failing_unlink)
    with pytest.raises(cleanup.CleanupError) as info:
        cleanup.run_cleanup(request(backup_dir), now=NOW, dar=dar)
    assert info.value.phase == "remove" and "Permission denied" in info.value.msg and diff in info.value.msg
    assert info.value.result["removed"] == [incr]
    assert info.value.result["kept"] == 3


class FakeCatalog(object):
    def __init__(self, exists=True):
        self._exists = exists
        self.synced = None

    def exists(self):
        return self._exists


def test_catalog_synced_with_what_is_left(disk, monkeypatch):
    backup_dir, dar, (full, _diff, _incr, young) = disk
    calls = []

    def fake_sync(catalog, archives, state="present", check_mode=False, now=None):
        calls.append((names(archives), state, check_mode))
        return {"changed": True, "removed": ["x"], "action": "delete"}
    monkeypatch.setattr(cleanup.catalog_mod, "sync", fake_sync)
    result = cleanup.run_cleanup(request(backup_dir, catalog=True), check_mode=True, now=NOW, dar=dar,
                                 catalog=FakeCatalog())
    assert calls == [([full, young], "present", True)] and result["catalog"]["action"] == "delete"
    result = cleanup.run_cleanup(request(backup_dir, catalog=True), now=NOW, dar=dar, catalog=FakeCatalog(False))
    assert result["catalog"] is None and len(calls) == 1


def test_bad_requests_refused(tmp_path):
    with pytest.raises(DarBackupError) as info:
        cleanup.CleanupRequest("docs", str(tmp_path / "missing"))
    assert "does not exist" in info.value.msg
    with pytest.raises(DarBackupError) as info:
        cleanup.CleanupRequest("do_cs", str(tmp_path))
    assert "cannot name archives" in info.value.msg
    with pytest.raises(DarBackupError) as info:
        cleanup.CleanupRequest("docs", str(tmp_path), incr_age=-3)
    assert "incr_age" in info.value.msg


class FakeDbCatalog(FakeCatalog):
    db_path = "/c/docs.db"


def failing_sync(catalog, archives, state="present", check_mode=False, now=None):
    raise DarBackupError("dar_manager --delete of entry 2 failed (rc 2): I/O error", phase="catalog")


def test_catalog_failure_after_removal_fails_changed_with_what_went_and_the_fix(disk, monkeypatch):
    backup_dir, dar, (_full, diff, incr, _young) = disk
    rebuilt = []

    def failing_rebuild(catalog, archives):
        rebuilt.append(names(archives))
        raise DarBackupError("dar_manager --add of x failed (rc 2)", phase="catalog")
    monkeypatch.setattr(cleanup.catalog_mod, "sync", failing_sync)
    monkeypatch.setattr(cleanup.catalog_mod, "rebuild", failing_rebuild)
    with pytest.raises(cleanup.CleanupError) as info:
        cleanup.run_cleanup(request(backup_dir, catalog=True, catalog_dir="/c"), now=NOW, dar=dar,
                            catalog=FakeDbCatalog())
    error = info.value
    assert error.phase == "catalog" and error.result["changed"] and error.result["removed"] == [diff, incr]
    assert len(error.result["removed_files"]) == 15 and error.result["catalog"] is None
    assert error.msg.startswith("removed 2 archive(s) (15 files): %s, %s; " % (diff, incr)), error.msg
    assert "--delete of entry 2 failed" in error.msg and "--add of x failed" in error.msg
    assert error.msg.endswith("fix it with dar.backup.dar_catalog state=present name=docs backup_dir=%s "
                              "catalog_dir=/c" % backup_dir)
    assert rebuilt == [names(naming.discover(backup_dir, "docs"))]


def test_catalog_failure_mended_by_a_rebuild_is_a_warning(disk, monkeypatch):
    backup_dir, dar, (full, diff, incr, young) = disk
    rebuilt = []
    monkeypatch.setattr(cleanup.catalog_mod, "sync", failing_sync)
    monkeypatch.setattr(cleanup.catalog_mod, "rebuild", lambda catalog, archives: rebuilt.append(names(archives)))
    result = cleanup.run_cleanup(request(backup_dir, catalog=True), now=NOW, dar=dar, catalog=FakeDbCatalog())
    assert rebuilt == [[full, young]] and result["changed"] and result["removed"] == [diff, incr]
    assert result["catalog"]["action"] == "rebuild" and "--delete of entry 2" in result["catalog"]["error"]
    assert any("rebuilt from the archives on disk" in w for w in result["warnings"])


def test_catalog_failure_in_check_mode_is_a_plain_failure(disk, monkeypatch):
    backup_dir, dar, _names = disk
    before = sorted(os.listdir(backup_dir))
    monkeypatch.setattr(cleanup.catalog_mod, "sync", failing_sync)
    with pytest.raises(DarBackupError) as info:
        cleanup.run_cleanup(request(backup_dir, catalog=True), check_mode=True, now=NOW, dar=dar,
                            catalog=FakeDbCatalog())
    assert not isinstance(info.value, cleanup.CleanupError) and sorted(os.listdir(backup_dir)) == before
