# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.dar.backup.plugins.module_utils import naming
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError


# --- definition names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["docs", "home-docs", "a1", "A", "9", "a-b-c", "Media2"])
def test_definition_name_accepted(name):
    assert naming.check_definition_name(name) == name


@pytest.mark.parametrize("name", ["../x", "a_b", "a;b", "", "-a", "a-", "a b", "a/b", "a.b", "$(x)", "ä"])
def test_definition_name_rejected(name):
    with pytest.raises(DarBackupError) as info:
        naming.check_definition_name(name)
    assert info.value.phase == "validate"
    assert "not safe" in info.value.msg
    assert repr(name) in info.value.msg


@pytest.mark.parametrize("name", [None, 5, b"docs", ["docs"]])
def test_definition_name_rejects_non_strings(name):
    with pytest.raises(DarBackupError) as info:
        naming.check_definition_name(name)
    assert info.value.phase == "validate"


@pytest.mark.parametrize("name", ["docs\n", "docs\r\n", "\ndocs"])
def test_definition_name_rejects_line_breaks(name):
    # The name becomes part of file names (archives, <name>.db, <name>.lock): a newline must never pass.
    with pytest.raises(DarBackupError):
        naming.check_definition_name(name)


# --- archive names ----------------------------------------------------------------------------------------

def test_parse_timed_name():
    name = naming.ArchiveName.parse("home-docs_DIFF_2026-11-21_190301")
    assert name.definition == "home-docs"
    assert name.level == "DIFF"
    assert name.timestamp == datetime.datetime(2026, 11, 21, 19, 3, 1)
    assert name.has_time is True
    assert name.basename == "home-docs_DIFF_2026-11-21_190301"


def test_parse_date_only_name_from_dar_backup():
    name = naming.ArchiveName.parse("docs_FULL_2024-12-30")
    assert name.definition == "docs"
    assert name.level == "FULL"
    assert name.timestamp == datetime.datetime(2024, 12, 30, 0, 0, 0)
    assert name.has_time is False
    assert name.basename == "docs_FULL_2024-12-30"


@pytest.mark.parametrize("basename", [
    "docs_FULL_2026-01-02_000000", "docs_INCR_2026-12-31_235959", "a_DIFF_2000-02-29_120000",
    "docs_FULL_2026-01-02", "x-y_INCR_1999-12-31",
])
def test_format_parse_round_trip(basename):
    assert naming.ArchiveName.parse(basename).basename == basename


def test_format_from_constructor():
    name = naming.ArchiveName("docs", "INCR", datetime.datetime(2026, 3, 4, 5, 6, 7))
    assert name.basename == "docs_INCR_2026-03-04_050607"
    again = naming.ArchiveName.parse(name.basename)
    assert (again.definition, again.level, again.timestamp) == ("docs", "INCR", name.timestamp)


@pytest.mark.parametrize("basename", [
    "docs_FULL_2026-02-30_100000",  # no 30 February
    "docs_FULL_2026-13-01",  # no month 13
    "docs_FULL_2026-01-01_250000",  # no hour 25
    "docs_FULL_2026-01-01_126000",  # no minute 60
    "docs_FULL_2025-02-29",  # not a leap year
    "docs_full_2026-01-01",  # level is upper case
    "docs_WEEKLY_2026-01-01",
    "docs_FULL_2026-01-01_1200",  # time has six digits
    "docs_FULL_26-01-01",
    "do_cs_FULL_2026-01-01",
    "docs_FULL_2026-01-01_120000.1.dar",
    "",
])
def test_parse_rejects_invalid_names(basename):
    assert naming.ArchiveName.parse(basename) is None


# --- discover ---------------------------------------------------------------------------------------------

def test_discover_groups_slices_and_filters(tmp_path, helpers):
    d = str(tmp_path)
    helpers.make_archive(d, "docs_FULL_2026-01-01_100000", slices=3)
    helpers.make_archive(d, "docs_DIFF_2026-01-05_100000", slices=1)
    # only slice 2 and 3: an interrupted publication, not an archive
    helpers.touch(os.path.join(d, "docs_INCR_2026-01-06_100000.2.dar"))
    helpers.touch(os.path.join(d, "docs_INCR_2026-01-06_100000.3.dar"))
    # a symlink to slice 1 is not an archive either
    os.symlink(os.path.join(d, "docs_DIFF_2026-01-05_100000.1.dar"), os.path.join(d, "docs_INCR_2026-01-07_100000.1.dar"))
    # a directory named like a slice
    os.mkdir(os.path.join(d, "docs_INCR_2026-01-08_100000.1.dar"))
    # other definitions, including one whose name starts with ours
    helpers.make_archive(d, "media_FULL_2026-01-01_100000")
    helpers.make_archive(d, "media2_FULL_2026-01-02_100000")
    # noise
    helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_100000.1.dar.par2"))
    helpers.touch(os.path.join(d, "docs.db"))
    helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_100000.0.dar"))
    helpers.touch(os.path.join(d, "notes.1.dar"))

    found = naming.discover(d, "docs")
    assert [a.basename for a in found] == ["docs_FULL_2026-01-01_100000", "docs_DIFF_2026-01-05_100000"]
    full = found[0]
    assert [n for n, _p in full.slices] == [1, 2, 3]
    assert full.slice_paths == [os.path.join(d, "docs_FULL_2026-01-01_100000.%d.dar" % n) for n in (1, 2, 3)]
    assert full.contiguous
    assert full.path == os.path.join(d, "docs_FULL_2026-01-01_100000")
    assert full.size_bytes == 3 * len(b"slice")

    assert [a.basename for a in naming.discover(d, "media")] == ["media_FULL_2026-01-01_100000"]
    assert [a.basename for a in naming.discover(d, "media2")] == ["media2_FULL_2026-01-02_100000"]
    everything = [a.basename for a in naming.discover(d)]
    assert sorted(everything) == sorted(["docs_FULL_2026-01-01_100000", "docs_DIFF_2026-01-05_100000",
                                         "media_FULL_2026-01-01_100000", "media2_FULL_2026-01-02_100000"])


def test_discover_slice_numbers_sorted_numerically(tmp_path, helpers):
    d = str(tmp_path)
    helpers.make_archive(d, "docs_FULL_2026-01-01_100000", slices=11)
    (archive,) = naming.discover(d, "docs")
    assert [n for n, _p in archive.slices] == list(range(1, 12))
    assert archive.contiguous


def test_discover_gap_is_not_contiguous(tmp_path, helpers):
    d = str(tmp_path)
    helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_100000.1.dar"))
    helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_100000.3.dar"))
    (archive,) = naming.discover(d, "docs")
    assert not archive.contiguous


def test_discover_missing_directory_is_empty(tmp_path):
    assert naming.discover(str(tmp_path / "nope"), "docs") == []


def test_discover_orders_levels_at_same_timestamp(tmp_path, helpers):
    d = str(tmp_path)
    for level in ("INCR", "FULL", "DIFF"):
        helpers.make_archive(d, "docs_%s_2026-01-01_100000" % level)
    helpers.make_archive(d, "docs_INCR_2025-12-31_235959")
    helpers.make_archive(d, "docs_DIFF_2026-01-01")  # date-only: midnight, before the timed ones
    found = [a.basename for a in naming.discover(d, "docs")]
    assert found == ["docs_INCR_2025-12-31_235959", "docs_DIFF_2026-01-01", "docs_FULL_2026-01-01_100000",
                     "docs_DIFF_2026-01-01_100000", "docs_INCR_2026-01-01_100000"]


def test_discover_ignores_archives_of_other_owners(tmp_path, helpers):
    d = str(tmp_path)
    helpers.make_archive(d, "docs_FULL_2026-01-01_100000", slices=2)
    helpers.make_archive(d, "docs_FULL_2099-01-01_000000", slices=2)
    ignored = []
    # Trusting another uid makes both archives another user's; the one the user names is used all the same.
    planted_uid = os.stat(os.path.join(d, "docs_FULL_2099-01-01_000000.1.dar")).st_uid
    found = naming.discover(d, "docs", trusted_uids=[planted_uid + 1], ignored=ignored,
                            named=["docs_FULL_2026-01-01_100000"])
    assert [a.basename for a in found] == ["docs_FULL_2026-01-01_100000"]
    assert [a.basename for a in ignored] == ["docs_FULL_2099-01-01_000000"]
    assert ignored[0].owner_uid == planted_uid and len(ignored[0].slices) == 2
    (warning,) = naming.ignored_warnings(ignored, d)
    assert "docs_FULL_2099-01-01_000000 (uid %d)" % planted_uid in warning and d in warning
    assert naming.ignored_warnings([], d) == []
    # Without ``ignored`` nothing is collected, and the default trust (us, root, the directory's owner) keeps both.
    assert naming.discover(d, "docs", trusted_uids=[planted_uid + 1]) == []
    assert len(naming.discover(d, "docs")) == 2


def test_trusted_owners_are_us_root_and_the_directory_owner(tmp_path):
    assert naming.trusted_owners(str(tmp_path)) == set([os.geteuid(), 0, os.stat(str(tmp_path)).st_uid])
    assert naming.trusted_owners(str(tmp_path / "nope")) == set([os.geteuid(), 0])


# --- references and chains --------------------------------------------------------------------------------

def _names(archives):
    return [a.basename for a in archives]


@pytest.fixture
def history(helpers):
    return [helpers.archive(b) for b in (
        "docs_FULL_2026-01-01_100000",
        "docs_DIFF_2026-01-10_100000",
        "docs_INCR_2026-01-11_100000",
        "docs_FULL_2026-02-01_100000",
        "docs_DIFF_2026-02-10_100000",
        "docs_DIFF_2026-02-20_100000",
        "docs_INCR_2026-02-21_100000",
        "docs_INCR_2026-02-22_100000",
    )]


def test_reference_for_full_is_none(history):
    assert naming.reference_for("FULL", history) is None
    assert naming.reference_for("FULL", []) is None


def test_reference_for_diff_is_newest_full(history):
    assert naming.reference_for("DIFF", history).basename == "docs_FULL_2026-02-01_100000"


def test_reference_for_incr_is_newest_diff_after_newest_full(history):
    assert naming.reference_for("INCR", history).basename == "docs_DIFF_2026-02-20_100000"


def test_reference_for_incr_without_diff_since_full_is_full(helpers):
    archives = [helpers.archive(b) for b in (
        "docs_FULL_2026-01-01_100000", "docs_DIFF_2026-01-10_100000",
        "docs_FULL_2026-02-01_100000", "docs_INCR_2026-02-02_100000")]
    # the DIFF of January belongs to the old FULL and must not be used
    assert naming.reference_for("INCR", archives).basename == "docs_FULL_2026-02-01_100000"


def test_reference_for_incr_previous(history, helpers):
    assert naming.reference_for("INCR", history, "previous").basename == "docs_INCR_2026-02-22_100000"
    only_full = [helpers.archive("docs_FULL_2026-01-01_100000")]
    assert naming.reference_for("INCR", only_full, "previous").basename == "docs_FULL_2026-01-01_100000"


def test_reference_for_date_only_full_from_dar_backup(helpers):
    archives = [helpers.archive("docs_FULL_2024-12-30")]
    assert naming.reference_for("DIFF", archives).basename == "docs_FULL_2024-12-30"


@pytest.mark.parametrize("level", ["DIFF", "INCR"])
def test_reference_for_without_full_fails_in_plan(level, helpers):
    archives = [helpers.archive("docs_DIFF_2026-01-10_100000")]
    with pytest.raises(DarBackupError) as info:
        naming.reference_for(level, archives)
    assert info.value.phase == "plan"
    assert level in info.value.msg
    with pytest.raises(DarBackupError):
        naming.reference_for(level, [])


def test_newest_with_before(history):
    diff = history[5]
    assert naming.newest(history, "DIFF").basename == "docs_DIFF_2026-02-20_100000"
    assert naming.newest(history, "DIFF", before=diff).basename == "docs_DIFF_2026-02-10_100000"
    assert naming.newest(history, "FULL", before=history[0]) is None


def test_chain_of(history):
    by = dict((a.basename, a) for a in history)
    assert _names(naming.chain_of(by["docs_FULL_2026-02-01_100000"], history)) == ["docs_FULL_2026-02-01_100000"]
    assert _names(naming.chain_of(by["docs_DIFF_2026-02-20_100000"], history)) == [
        "docs_FULL_2026-02-01_100000", "docs_DIFF_2026-02-20_100000"]
    assert _names(naming.chain_of(by["docs_INCR_2026-02-22_100000"], history)) == [
        "docs_FULL_2026-02-01_100000", "docs_DIFF_2026-02-20_100000", "docs_INCR_2026-02-22_100000"]
    assert _names(naming.chain_of(by["docs_INCR_2026-01-11_100000"], history)) == [
        "docs_FULL_2026-01-01_100000", "docs_DIFF_2026-01-10_100000", "docs_INCR_2026-01-11_100000"]


def test_chain_of_incr_without_diff_and_orphan(helpers):
    archives = [helpers.archive(b) for b in (
        "docs_DIFF_2025-12-01_100000",  # no FULL before it
        "docs_FULL_2026-01-01_100000", "docs_DIFF_2026-01-02_100000",
        "docs_FULL_2026-02-01_100000", "docs_INCR_2026-02-02_100000")]
    assert _names(naming.chain_of(archives[4], archives)) == ["docs_FULL_2026-02-01_100000",
                                                              "docs_INCR_2026-02-02_100000"]
    assert _names(naming.chain_of(archives[0], archives)) == ["docs_DIFF_2025-12-01_100000"]
