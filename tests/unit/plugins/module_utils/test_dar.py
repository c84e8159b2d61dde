# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

import pytest

from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils import dar as dar_mod
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

# What dar 2.7 prints after `dar -c` (captured from a real run).
DAR_SUMMARY = """

 --------------------------------------------
 6 inode(s) saved
   including 0 hard link(s) treated
 2 inode(s) changed at the moment of the backup and could not be saved properly
 0 byte(s) have been wasted in the archive to resave changing files
 3 inode(s) with only metadata changed
 40 inode(s) not saved (no inode/file change)
 1 inode(s) failed to be saved (filesystem error)
 7 inode(s) ignored (excluded by filters)
 4 inode(s) recorded as deleted from reference backup
 --------------------------------------------
 Total number of inode(s) considered: 63
 --------------------------------------------
 EA saved for 0 inode(s)
 FSA saved for 5 inode(s)
 --------------------------------------------
"""

# `dar -l <archive> -as -Txml` of a real archive (dar 2.7.8), plus an entry whose data is only referenced;
# repeated attribute runs are folded into {tail} and {times} to keep lines short.
DAR_XML = """<?xml version="1.0" ?>
<!DOCTYPE Catalog SYSTEM "dar-catalog.dtd">
<Catalog format="1.2">
<Symlink name="link" target="a.txt">
<Attributes data="saved" metadata="absent" user="root" group="root" permissions=" lrwxrwxrwx"{times} />
</Symlink>
<Directory name="sub">
<Attributes data="saved" metadata="absent" user="root" group="root"
 permissions=" drwxr-xr-x"{times} />
\t<File name="b &amp;&quot;&apos;&lt;&gt;.txt" size="2 kio" stored="2 kio" crc="00000000"{tail}>
\t<Attributes data="saved" metadata="absent" user="root" group="root" permissions=" -rw-r--r--"{times} />
\t</File>
\t<Directory name="deeper">
\t<Attributes data="saved" metadata="absent" user="root" group="root" permissions=" drwxr-xr-x"{times} />
\t\t<File name="new
line\ttab" size="1 o" stored="1 o" crc="7a000000"{tail}>
\t\t<Attributes data="saved" metadata="absent" user="root" group="root" permissions=" -rw-r--r--"{times} />
\t\t</File>
\t\t<File name="old.txt" size="5 o" stored="" crc=""{tail}>
\t\t<Attributes data="referenced" metadata="absent" user="root" group="root"
 permissions=" -rw-r--r--"{times} />
\t\t</File>
\t</Directory>
\t<Directory name="empty">
\t<Attributes data="saved" metadata="absent" user="root" group="root" permissions=" drwxr-xr-x"{times} />
\t</Directory>
</Directory>
<File name="a.txt" size="5 o" stored="5 o" crc="07656c6c"{tail}>
<Attributes data="saved" metadata="absent" user="root" group="root" permissions=" -rw-r--r--"{times} />
</File>
<File name="big.iso" size="1.5 Gio" stored="1 Gio" crc="00"{tail}>
<Attributes data="saved" metadata="absent" user="root" group="root" permissions=" -rw-r--r--"{times} />
</File>
</Catalog>
""".format(
    tail=' dirty="no" sparse="no" delta_sig="no" patch_base_crc="" patch_result_crc=""',
    times=' atime="1795303922" mtime="1795303922" ctime="1795303922"')


def test_meaning():
    assert dar_mod.meaning(0) == "success"
    assert "disk is full" in dar_mod.meaning(2)
    assert "answer" in dar_mod.meaning(4)
    assert "could not be read" in dar_mod.meaning(5)
    assert "changed while" in dar_mod.meaning(11)
    assert dar_mod.meaning(None) == "dar could not be started"
    assert dar_mod.meaning(-9) == "killed by signal 9"
    assert dar_mod.meaning(42) == "unknown exit code"


def test_parse_stats_on_dar_summary():
    assert dar_mod.parse_stats(DAR_SUMMARY) == {
        "saved": 6, "changed_while_saving": 2, "metadata_only": 3, "not_saved": 40, "failed": 1,
        "excluded": 7, "deleted": 4, "considered": 63,
    }


def test_parse_stats_empty():
    assert dar_mod.parse_stats("") == {}
    assert dar_mod.parse_stats("FSA saved for 5 inode(s)") == {}


@pytest.mark.parametrize("text, expected", [
    ("5 o", 5), ("2 kio", 2048), ("1 Mio", 1024 ** 2), ("3 Gio", 3 * 1024 ** 3), ("1.5 kio", 1536),
    ("1 Tio", 1024 ** 4), ("1 Pio", 1024 ** 5),
    ("5", 5), ("1864409", 1864409),  # -ay prints plain byte counts
    ("", None), (None, None), ("5 bytes", None), ("-5", None), ("x o", None), ("1 2 o", None),
])
def test_parse_size(text, expected):
    assert dar_mod.parse_size(text) == expected


def test_iter_saved_files_real_listing():
    files = list(dar_mod.iter_saved_files(DAR_XML))
    assert files == [
        ("sub/b &\"'<>.txt", 2048),
        ("sub/deeper/new\nline\ttab", 1),
        ("a.txt", 5),
        ("big.iso", int(1.5 * 1024 ** 3)),
    ]


def test_iter_saved_files_numeric_references_and_nesting():
    xml = ('<Catalog format="1.2">\n<Directory name="a&#47;b">\n<Attributes data="saved" />\n'
           '<Directory name="c">\n<Attributes data="saved" />\n'
           '<File name="caf&#xe9;&#32;x" size="3 o" stored="3 o">\n<Attributes data="saved" />\n</File>\n'
           '</Directory>\n<File name="z" size="4000">\n<Attributes data="saved" />\n</File>\n</Directory>\n'
           '<File name="top" size="1 o">\n<Attributes data="absent" />\n</File>\n</Catalog>\n')
    assert list(dar_mod.iter_saved_files(xml)) == [(u"a/b/c/caf\xe9 x", 3), ("a/b/z", 4000)]


def test_iter_saved_files_does_not_expand_other_entities():
    xml = '<Catalog>\n<File name="&ext;&amp;lt;" size="1 o">\n<Attributes data="saved" />\n</File>\n</Catalog>'
    assert list(dar_mod.iter_saved_files(xml)) == [("&ext;&lt;", 1)]


def test_slices_written(tmp_path, helpers):
    d = str(tmp_path)
    helpers.make_archive(d, "docs_FULL_2026-01-01_100000", slices=11)
    helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_100000.1.dar.par2"))
    helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_1000001.1.dar"))
    helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_100000.x.dar"))
    found = dar_mod.slices_written(d, "docs_FULL_2026-01-01_100000")
    assert [n for n, _p in found] == list(range(1, 12))
    assert found[10][1] == os.path.join(d, "docs_FULL_2026-01-01_100000.11.dar")


# --- the Dar runner with command.run mocked ----------------------------------------------------------------

class Recorder(object):
    """Stands in for command.run: records calls and returns the CommandResult it was given."""

    def __init__(self, rc=0, stdout="", stderr="", timed_out=False):
        self.rc, self.stdout, self.stderr, self.timed_out = rc, stdout, stderr, timed_out
        self.calls = []

    def __call__(self, argv, timeout=None, **kwargs):
        self.calls.append((list(argv), timeout, kwargs))
        return command.CommandResult(argv, self.rc, self.stdout, self.stderr, 0.5, self.timed_out)


@pytest.fixture
def fake_run(monkeypatch):
    def install(**kwargs):
        recorder = Recorder(**kwargs)
        monkeypatch.setattr(command, "run", recorder)
        return recorder
    return install


def test_dar_create_argv_and_success(fake_run):
    run = fake_run(rc=0, stdout=DAR_SUMMARY)
    dar = dar_mod.Dar(binary="/usr/bin/dar", timeout=77)
    result, warning = dar.create("/b/stage/docs_DIFF_x", ["-R", "/src", "-g", "Documents"], "/b/docs_FULL_y")
    assert warning is None
    assert result.rc == 0
    (argv, timeout, _kw), = run.calls
    assert timeout == 77
    assert argv[:3] == ["/usr/bin/dar", "-c", "/b/stage/docs_DIFF_x"]
    for flag in ("-N", "-Q", "-n"):
        assert flag in argv
    assert argv[argv.index("-A") + 1] == "/b/docs_FULL_y"
    assert argv[argv.index("-R") + 1] == "/src"
    assert argv[argv.index("-g") + 1] == "Documents"


def test_dar_create_full_has_no_reference(fake_run):
    run = fake_run(rc=0)
    dar_mod.Dar(binary="dar").create("/b/x", ["-R", "/src"])
    assert "-A" not in run.calls[0][0]


@pytest.mark.parametrize("rc", [5, 11])
def test_dar_create_warning_codes(fake_run, rc):
    fake_run(rc=rc)
    result, warning = dar_mod.Dar(binary="dar").create("/b/x", ["-R", "/src"])
    assert result.rc == rc
    assert warning is not None
    assert "rc %d" % rc in warning
    assert dar_mod.meaning(rc) in warning


@pytest.mark.parametrize("rc", [1, 2, 4, 3, -9])
def test_dar_create_failure(fake_run, rc):
    fake_run(rc=rc, stdout="summary", stderr="first line\nError while saving: No space left on device\n")
    with pytest.raises(DarBackupError) as info:
        dar_mod.Dar(binary="/usr/bin/dar").create("/b/x", ["-R", "/src"])
    err = info.value
    assert err.phase == "create"
    assert err.rc == rc
    assert err.cmd[:3] == ["/usr/bin/dar", "-c", "/b/x"]
    assert "rc %s" % rc in err.msg
    assert dar_mod.meaning(rc) in err.msg
    assert "No space left on device" in err.msg  # the last stderr line explains it
    assert err.stderr.startswith("first line")
    assert err.stdout == "summary"


def test_dar_create_failure_falls_back_to_stdout(fake_run):
    fake_run(rc=2, stdout="Writing slice\nFATAL: disk full\n", stderr="")
    with pytest.raises(DarBackupError) as info:
        dar_mod.Dar(binary="dar").create("/b/x", [])
    assert "FATAL: disk full" in info.value.msg


def test_dar_create_timeout(fake_run):
    fake_run(rc=-15, stderr="\n[killed after the 30 s timeout]", timed_out=True)
    with pytest.raises(DarBackupError) as info:
        dar_mod.Dar(binary="dar", timeout=30).create("/b/x", [])
    assert info.value.phase == "create"
    assert "timeout" in info.value.msg
    assert "30" in info.value.msg


def test_dar_test_ok_and_argv(fake_run):
    run = fake_run(rc=0)
    result = dar_mod.Dar(binary="/usr/bin/dar").test("/b/x")
    assert result.rc == 0
    argv = run.calls[0][0]
    assert argv[:3] == ["/usr/bin/dar", "-t", "/b/x"]
    assert "-N" in argv and "-Q" in argv


@pytest.mark.parametrize("rc", [2, 4, 5, 11])
def test_dar_test_failure_is_verify(fake_run, rc):
    fake_run(rc=rc, stderr="CRC error")
    with pytest.raises(DarBackupError) as info:
        dar_mod.Dar(binary="dar").test("/b/x")
    assert info.value.phase == "verify"
    assert info.value.rc == rc
    assert info.value.cmd[:3] == ["dar", "-t", "/b/x"]
    assert "/b/x" in info.value.msg


def test_dar_list_saved_xml(fake_run, tmp_path):
    run = fake_run(rc=0)
    dar_mod.Dar(binary="dar").list_saved_xml("/b/x", str(tmp_path / "l.xml"))
    argv, _t, kwargs = run.calls[0]
    assert argv[:3] == ["dar", "-l", "/b/x"]
    assert "-as" in argv and "-Txml" in argv and "-N" in argv and "-Q" in argv
    assert "-ay" in argv  # exact byte sizes for the restore test's size bounds
    assert kwargs["stdout_path"] == str(tmp_path / "l.xml")


def test_dar_list_failure_is_restore_test(fake_run, tmp_path):
    fake_run(rc=2)
    with pytest.raises(DarBackupError) as info:
        dar_mod.Dar(binary="dar").list_saved_xml("/b/x", str(tmp_path / "l.xml"))
    assert info.value.phase == "restore_test"


@pytest.mark.parametrize("owner", [True, False])
def test_dar_extract_one(fake_run, owner):
    run = fake_run(rc=0)
    dar_mod.Dar(binary="dar").extract_one("/b/x", "sub/a *.txt", "/tmp/dest", restore_owner=owner)
    argv = run.calls[0][0]
    assert argv[:3] == ["dar", "-x", "/b/x"]
    assert argv[argv.index("-R") + 1] == "/tmp/dest"
    assert argv[argv.index("-g") + 1] == "sub/a *.txt"
    assert "-N" in argv and "-Q" in argv
    assert ("-O" in argv) is (not owner)


def test_dar_finds_binary_on_path(monkeypatch):
    monkeypatch.setattr(command.shutil, "which", lambda name: "/opt/bin/" + name)
    assert dar_mod.Dar().binary == "/opt/bin/dar"
    monkeypatch.setattr(command.shutil, "which", lambda name: None)
    with pytest.raises(DarBackupError) as info:
        dar_mod.Dar()
    assert "dar was not found" in info.value.msg
    assert info.value.phase == "validate"
