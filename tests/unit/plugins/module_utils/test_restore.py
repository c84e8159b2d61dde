# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence a restore is judged by: dar's "not restored" lines, the space check, the staging proof, set-id
bits, and the archive directories a restore never writes into."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils import dar as dar_mod
from ansible_collections.dar.backup.plugins.module_utils import restore
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

# Captured from dar 2.7.8 -x -Q into a full tmpfs: it declines its own question and exits 0.
OUT_OF_SPACE = """/tmp/sp/dest/big.bin not restored (user choice)


 --------------------------------------------
 50 inode(s) restored
    including 0 hard link(s)
 0 inode(s) not restored (not saved in archive)
 0 inode(s) not restored (overwriting policy decision)
 1 inode(s) ignored (excluded by filters)
 0 inode(s) failed to restore (filesystem error)
 0 inode(s) deleted
 --------------------------------------------
"""

XML = """<?xml version="1.0" ?>
<Catalog format="1.2">
<File name="holes.bin" size="10485763" stored="14" crc="61626300" dirty="no" sparse="yes">
<Attributes data="saved" permissions=" -rw-r--r--" mtime="100" />
</File>
<File name="b" size="4" stored="" crc="" dirty="no" sparse="no">
<Attributes data="referenced" permissions="*-rwsr-xr-x" mtime="100" />
</File>
<File name="hl" size="4" stored="" crc="" dirty="no" sparse="no">
<Attributes data="referenced" permissions="*-rwsr-xr-x" mtime="100" />
</File>
<Directory name="d">
<Attributes data="referenced" permissions=" drwxr-xr-x" mtime="100" />
    <File name="a" size="8" stored="8" crc="040d0564" dirty="yes" sparse="no">
    <Attributes data="saved" permissions=" -rw-r--r--" mtime="90" />
    </File>
    <File name="plain" size="1000" stored="1000" crc="" dirty="no" sparse="no">
    <Attributes data="saved" permissions=" -rw-r--r--" mtime="90" />
    </File>
</Directory>
<File name="g">
<Attributes data="deleted" mtime="100" />
</File>
</Catalog>
"""


def result(stdout, stderr="", rc=0):
    return command.CommandResult(["dar", "-x"], rc, stdout, stderr, 0.1)


def test_not_restored_lines_are_found_and_the_summary_is_not():
    assert dar_mod.not_restored(result(OUT_OF_SPACE)) == ["/tmp/sp/dest/big.bin not restored (user choice)"]
    assert dar_mod.not_restored(result(OUT_OF_SPACE.replace("/tmp/sp/dest/big.bin not restored (user choice)\n",
                                                            ""))) == []
    failed = OUT_OF_SPACE.replace(" 0 inode(s) failed to restore", " 2 inode(s) failed to restore")
    assert "2 inode(s) failed to restore (filesystem error)" in dar_mod.not_restored(result(failed))


def test_extract_fails_on_not_restored_whatever_the_exit_code(monkeypatch):
    monkeypatch.setattr(command, "run", lambda argv, **kwargs: result(OUT_OF_SPACE))
    with pytest.raises(DarBackupError) as caught:
        dar_mod.Dar(binary="dar").extract("/b/docs_FULL_x", "/dest", [], restore_owner=False)
    assert str(caught.value).startswith("dar -x of docs_FULL_x did not restore 1 file(s) although it exited 0: "
                                        "/tmp/sp/dest/big.bin not restored (user choice)")
    assert caught.value.phase == "extract"


def entries():
    return dict((e.path, e) for e in dar_mod.iter_entries(XML))


def test_listing_records_sparse_dirty_and_hard_links():
    found = entries()
    assert found["holes.bin"].sparse and not found["holes.bin"].linked
    assert found["b"].linked and found["hl"].linked and not found["b"].sparse
    assert found["d/a"].dirty and not found["d/plain"].dirty


def test_expected_files_and_needed_bytes():
    files = restore.expected_files(entries())
    assert [e.path for e in files] == ["b", "d/a", "d/plain", "hl", "holes.bin"]
    # Neither the sparse file nor the hard-linked pair counts: only what clearly needs room.
    assert restore.needed_bytes(files) == 1008


def test_check_space_names_both_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(restore, "free_bytes", lambda path: 1000)
    with pytest.raises(DarBackupError) as caught:
        restore.check_space(str(tmp_path / "new" / "dest"), restore.expected_files(entries()))
    assert "needs at least 1008 bytes" in str(caught.value) and "has 1000 bytes" in str(caught.value)
    monkeypatch.setattr(restore, "free_bytes", lambda path: 1008)
    assert restore.check_space(str(tmp_path), restore.expected_files(entries())) == (1008, 1008)


def test_free_bytes_of_a_dest_not_made_yet(tmp_path):
    assert restore.free_bytes(str(tmp_path / "a" / "b")) == restore.free_bytes(str(tmp_path))


def write(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"x" * size)


def test_prove_staging(tmp_path):
    top = str(tmp_path)
    for rel, size in (("b", 4), ("hl", 4), ("d/a", 3), ("d/plain", 1000), ("holes.bin", 10485763)):
        write(os.path.join(top, rel), 0)
        os.truncate(os.path.join(top, rel), size)
    files = restore.expected_files(entries())
    restore.prove_staging(top, files)  # d/a was saved dirty: its size may differ
    os.truncate(os.path.join(top, "d/plain"), 999)
    os.unlink(os.path.join(top, "b"))
    with pytest.raises(DarBackupError) as caught:
        restore.prove_staging(top, files)
    assert "2 of 5 file(s) differ from the archive's listing: 'b' is missing; 'd/plain' has 999 of its 1000 bytes" \
        in str(caught.value)


def test_drop_set_id_bits(tmp_path):
    top = str(tmp_path)
    write(os.path.join(top, "d", "tool"), 1)
    os.chmod(os.path.join(top, "d", "tool"), 0o6755)
    os.chmod(os.path.join(top, "d"), 0o2775)
    os.symlink("tool", os.path.join(top, "d", "link"))
    restore.drop_set_id_bits(top)
    assert stat.S_IMODE(os.lstat(os.path.join(top, "d", "tool")).st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(os.path.join(top, "d")).st_mode) == 0o775


def test_dest_in_the_archive_places_is_refused(tmp_path):
    backups = tmp_path / "backups"
    (backups / ".dar-backup-work").mkdir(parents=True)
    places = restore.archive_places(str(backups), str(tmp_path / "cat"))
    assert [what for what, _path in places] == ["backup_dir", "the work directory", "catalog_dir"]
    for dest in (backups, backups / "x", tmp_path / "cat" / "y"):
        with pytest.raises(DarBackupError):
            restore.check_dest_outside(os.path.realpath(str(dest)), places)
    restore.check_dest_outside(os.path.realpath(str(tmp_path / "backups-restored")), places)


def test_plan_that_writes_into_backup_dir_below_dest_is_refused(tmp_path):
    places = [("backup_dir", str(tmp_path / "backups"))]
    dest = str(tmp_path)
    restore.check_plan_outside([("backups", None, "same"), ("other", None, "create")], dest, places)
    with pytest.raises(DarBackupError) as caught:
        restore.check_plan_outside([("backups", None, "same"), ("backups/x.1.dar", None, "create")], dest, places)
    assert "'backups/x.1.dar', which is in backup_dir" in str(caught.value)
    with pytest.raises(DarBackupError):  # replacing the directory itself would remove the archives
        restore.check_plan_outside([("backups", None, "replace")], dest, places)


@pytest.mark.parametrize("pattern, path, matches", [
    ("*.NEF", "a.NEF", True),
    ("*.NEF", "Photos/2025/a.NEF", True),
    ("*.NEF", "Photos/a.nef", False),
    ("Documents/*.pdf", "Documents/a.pdf", True),
    ("Documents/*.pdf", "Documents/tax/a.pdf", False),
    ("Documents/**/*.pdf", "Documents/a.pdf", True),
    ("Documents/**/*.pdf", "Documents/tax/2025/a.pdf", True),
    ("Documents/**", "Documents/tax/a.pdf", True),
    ("Doc?ments/[abc].txt", "Documents/b.txt", True),
    ("Doc?ments/[abc].txt", "Documents/d.txt", False),
    ("sub dir/*", "sub dir/with space", True),
])
def test_selection_globs(pattern, path, matches):
    (parts,) = restore.check_selection([pattern])
    assert restore.glob_matches(parts, path.split("/")) is matches


@pytest.mark.parametrize("pattern", ["", "/", "/etc/*", "../x", "a/../../b"])
def test_selection_must_stay_inside_the_root(pattern):
    with pytest.raises(DarBackupError):
        restore.check_selection([pattern])
