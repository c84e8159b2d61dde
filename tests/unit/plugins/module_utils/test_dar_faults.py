# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dar's warnings name the files it could not save; dirty files are restored, never skipped."""

from __future__ import annotations

import pytest

from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils import dar as dar_mod

SUMMARY = """

 --------------------------------------------
 2 inode(s) saved
   including 0 hard link(s) treated
 1 inode(s) changed at the moment of the backup and could not be saved properly
 1 inode(s) failed to be saved (filesystem error)
 --------------------------------------------
 Total number of inode(s) considered: 3
 --------------------------------------------
"""

# Captured from dar 2.7.8 -c run as a normal user over a root-owned mode 000 file and directory, and a file
# written to all the time dar read it.
UNREADABLE = ("Error while saving /tmp/dexp/src/b: Permission denied\n"
              "Cannot read directory contents: /tmp/dexp/src/d : Error opening directory: /tmp/dexp/src/d : "
              "Permission denied\n")
CHANGED = "WARNING! File modified while reading it for backup, but no more retry allowed: /tmp/dexp/src2/big.img\n"


def fake(monkeypatch, rc, stdout):
    calls = []

    def run(argv, timeout=None, **kwargs):
        calls.append(list(argv))
        return command.CommandResult(argv, rc, stdout, "", 0.1)
    monkeypatch.setattr(command, "run", run)
    return calls


@pytest.mark.parametrize("rc,text,names", [
    (5, UNREADABLE, ["Error while saving /tmp/dexp/src/b: Permission denied", "/tmp/dexp/src/d"]),
    (11, CHANGED, ["File modified while reading it for backup", "/tmp/dexp/src2/big.img"]),
])
def test_create_warning_names_the_files(monkeypatch, rc, text, names):
    fake(monkeypatch, rc, text + SUMMARY)
    _result, warning = dar_mod.Dar(binary="dar").create("/b/x", ["-R", "/src"])
    assert warning.startswith("dar -c (create) finished with rc %d: " % rc)
    for name in names:
        assert name in warning
    assert "inode(s)" not in warning  # the summary stays out: dar_stats carries it


def test_warning_without_named_files_is_the_plain_meaning(monkeypatch):
    fake(monkeypatch, 5, SUMMARY)
    _result, warning = dar_mod.Dar(binary="dar").create("/b/x", ["-R", "/src"])
    assert warning == "dar -c (create) finished with rc 5: %s" % dar_mod.meaning(5)


def test_many_problem_lines_are_capped(monkeypatch):
    lines = ["Error while saving /s/f%02d: Permission denied\n" % i for i in range(25)]
    text = "[... 9000 bytes cut ...]\n" + "".join(lines)
    fake(monkeypatch, 5, text + SUMMARY)
    _result, warning = dar_mod.Dar(binary="dar").create("/b/x", ["-R", "/src"])
    assert "/s/f00:" in warning and "/s/f09:" in warning and "/s/f10:" not in warning
    assert warning.endswith("; and 15 more")
    assert "bytes cut" not in warning


def test_problem_lines_stop_at_the_summary():
    assert dar_mod.problem_lines(UNREADABLE + SUMMARY + "Error after the summary\n") == [
        line.strip() for line in UNREADABLE.splitlines()]


@pytest.mark.parametrize("call", ["extract", "extract_one"])
def test_extraction_restores_dirty_files(monkeypatch, call):
    """Under -Q dar skips a file saved dirty with rc 0, as if asked and answered no: the restore must not."""
    calls = fake(monkeypatch, 0, "")
    dar = dar_mod.Dar(binary="dar")
    if call == "extract":
        dar.extract("/b/x", "/dest", ["a"], restore_owner=True)
    else:
        dar.extract_one("/b/x", "a", "/dest", restore_owner=True)
    argv = calls[0]
    assert argv[argv.index("--dirty-behavior") + 1] == "no-warn"
