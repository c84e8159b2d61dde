# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os
import sys
import time

import pytest

from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils import par2 as par2_mod
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError


@pytest.mark.parametrize("value, expected", [(5, 5), ("5", 5), (1, 1), (100, 100), ("100", 100), (5.0, 5)])
def test_check_redundancy_ok(value, expected):
    assert par2_mod.check_redundancy(value) == expected


@pytest.mark.parametrize("value", ["abc", None, "", "5%", "5.5", [5]])
def test_check_redundancy_not_a_number(value):
    with pytest.raises(DarBackupError) as info:
        par2_mod.check_redundancy(value)
    assert info.value.phase == "validate"
    assert "not a number" in info.value.msg


@pytest.mark.parametrize("value", [0, 101, -5, "0", "101", 5.5])
def test_check_redundancy_out_of_range(value):
    with pytest.raises(DarBackupError) as info:
        par2_mod.check_redundancy(value, "redundancy_full")
    assert info.value.phase == "validate"
    assert "redundancy_full" in info.value.msg
    assert "1 to 100" in info.value.msg


def test_meaning():
    assert par2_mod.meaning(0) == "success"
    assert "repair is possible" in par2_mod.meaning(1)
    assert par2_mod.meaning(None) == "par2 could not be started"
    assert par2_mod.meaning(-15) == "killed by signal 15"
    assert par2_mod.meaning(99) == "unknown exit code"


def test_par2_files_for_matches_only_its_slice(tmp_path, helpers):
    d = str(tmp_path)
    base = "docs_FULL_2026-01-01_100000"
    mine = ["%s.1.dar.par2" % base, "%s.1.dar.vol000+01.par2" % base, "%s.1.dar.vol01+02.par2" % base]
    others = ["%s.11.dar.par2" % base, "%s.11.dar.vol000+01.par2" % base, "%s.2.dar.par2" % base,
              "%s.1.dar" % base, "%s.1.dar.par2.bak" % base, "%s.1.dar.volx+1.par2" % base,
              "docs_FULL_2026-01-01_1000001.1.dar.par2", "x%s.1.dar.par2" % base]
    for name in mine + others:
        helpers.touch(os.path.join(d, name))
    assert par2_mod.par2_files_for(base + ".1.dar", d) == sorted(os.path.join(d, n) for n in mine)
    assert par2_mod.par2_files_for(base + ".11.dar", d) == sorted(
        os.path.join(d, n) for n in ("%s.11.dar.par2" % base, "%s.11.dar.vol000+01.par2" % base))


def test_par2_files_for_regex_characters_are_literal(tmp_path, helpers):
    d = str(tmp_path)
    helpers.touch(os.path.join(d, "aXdar.par2"))
    assert par2_mod.par2_files_for("a.dar", d) == []


def test_par2_files_for_missing_dir(tmp_path):
    assert par2_mod.par2_files_for("a.1.dar", str(tmp_path / "missing")) == []


class FakePar2Run(object):
    """command.run stand-in that behaves like par2 create: writes the index and one volume."""

    def __init__(self, rc=0):
        self.rc = rc
        self.calls = []

    def __call__(self, argv, timeout=None, **kwargs):
        self.calls.append((list(argv), timeout))
        if self.rc == 0:
            index = argv[argv.index("--") + 1]
            for path in (index, index[:-len(".par2")] + ".vol000+01.par2"):
                with open(path, "w") as handle:
                    handle.write("par2")
        return command.CommandResult(argv, self.rc, "", "boom" if self.rc else "", 0.1)


def test_par2_create_argv_and_files(tmp_path, helpers, monkeypatch):
    d = str(tmp_path)
    slice_path = helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_100000.1.dar"))
    os.truncate(slice_path, 8 << 20)  # large enough for 2000 blocks of at least MIN_BLOCK_BYTES
    helpers.touch(os.path.join(d, "docs_FULL_2026-01-01_100000.11.dar.par2"))  # another slice's set
    fake = FakePar2Run()
    monkeypatch.setattr(command, "run", fake)
    made = par2_mod.Par2(binary="/usr/bin/par2", timeout=60).create(slice_path, 7, block_count=2000)
    assert made == [slice_path + ".par2", slice_path + ".vol000+01.par2"]
    (argv, timeout), = fake.calls
    assert timeout == 60
    assert argv[:2] == ["/usr/bin/par2", "create"]
    assert "-r7" in argv
    assert "-b2000" in argv
    assert argv[argv.index("-B") + 1] == d
    assert argv[argv.index("--") + 1:] == [slice_path + ".par2", slice_path]
    assert argv.index("-B") < argv.index("--") and argv.index("-r7") < argv.index("--")


def test_par2_create_without_block_count(tmp_path, helpers, monkeypatch):
    slice_path = helpers.touch(str(tmp_path / "a_FULL_2026-01-01.1.dar"))
    os.truncate(slice_path, 64 << 20)
    fake = FakePar2Run()
    monkeypatch.setattr(command, "run", fake)
    par2_mod.Par2(binary="par2").create(slice_path, 5)
    assert [a for a in fake.calls[0][0] if a.startswith("-b")] == ["-b%d" % par2_mod.PAR2_DEFAULT_BLOCK_COUNT]
    assert "-r5" in fake.calls[0][0]


@pytest.mark.parametrize("size,asked,expected", [
    (300 * 1024, 1000, 150),          # small slice: blocks of 2 KiB, not 300 bytes
    (2 * 1024 * 1024, 1000, 1000),    # large enough: as asked
    (300 * 1024, None, 150),          # par2's default is capped the same way
    (64 << 20, None, 2000),
    (100, 1000, 1),                   # at least one block
    (0, 1000, 1),
])
def test_block_count_for_small_slices(tmp_path, size, asked, expected):
    path = str(tmp_path / "a_FULL_2026-01-01.1.dar")
    with open(path, "wb"):
        pass
    os.truncate(path, size)
    assert par2_mod.block_count_for(path, asked) == expected


def test_block_count_for_unreadable_slice_is_left_to_par2(tmp_path):
    assert par2_mod.block_count_for(str(tmp_path / "missing.1.dar"), 1000) == 1000
    assert par2_mod.block_count_for(str(tmp_path / "missing.1.dar")) is None


@pytest.mark.parametrize("rc", [3, 6, 8, -9])
def test_par2_create_failure(tmp_path, helpers, monkeypatch, rc):
    slice_path = helpers.touch(str(tmp_path / "a_FULL_2026-01-01.1.dar"))
    monkeypatch.setattr(command, "run", FakePar2Run(rc=rc))
    with pytest.raises(DarBackupError) as info:
        par2_mod.Par2(binary="/usr/bin/par2").create(slice_path, 5)
    err = info.value
    assert err.phase == "par2"
    assert err.rc == rc
    assert err.cmd[0] == "/usr/bin/par2" and slice_path in err.cmd
    assert par2_mod.meaning(rc) in err.msg
    assert "a_FULL_2026-01-01.1.dar" in err.msg
    assert err.stderr == "boom"


# --- create_all: several slices, several par2 processes --------------------------------------------------------

FAKE_PAR2 = """#!%s
import os, sys, time
index, slice_path = sys.argv[-2:]
name = os.path.basename(slice_path)
if ".2.dar" in name and os.environ.get("FAIL_SLICE_2"):
    while not os.path.exists(slice_path.replace(".2.dar", ".3.dar") + ".pid"):
        time.sleep(0.01)  # fail only once slice 3's par2 is running, so the test sees it killed
    sys.exit(6)
if ".3.dar" in name and os.environ.get("FAIL_SLICE_2"):
    open(slice_path + ".tmp", "w").write(str(os.getpid()))
    os.rename(slice_path + ".tmp", slice_path + ".pid")
    time.sleep(120)
for path in (index, index[:-len(".par2")] + ".vol000+01.par2"):
    open(path, "w").write("par2")
"""


@pytest.fixture
def fake_par2_binary(tmp_path):
    path = tmp_path / "par2"
    path.write_text(FAKE_PAR2 % sys.executable)
    path.chmod(0o755)
    return str(path)


def _slices(directory, helpers, count=3):
    return [helpers.touch(os.path.join(directory, "a b_FULL_2026-01-01_100000.%d.dar" % n)) for n in range(1, count + 1)]


def test_par2_create_all_makes_every_set(tmp_path, helpers, fake_par2_binary):
    slices = _slices(str(tmp_path / "s"), helpers)
    made = par2_mod.Par2(binary=fake_par2_binary, timeout=60).create_all(slices, 5, 500, workers=2)
    assert made == [f for s in slices for f in (s + ".par2", s + ".vol000+01.par2")]


def test_par2_create_all_first_failure_stops_the_rest(tmp_path, helpers, fake_par2_binary, monkeypatch):
    monkeypatch.setenv("FAIL_SLICE_2", "1")
    slices = _slices(str(tmp_path / "s"), helpers)
    started = time.monotonic()
    with pytest.raises(DarBackupError) as info:
        par2_mod.Par2(binary=fake_par2_binary, timeout=300).create_all(slices, 5, workers=3)
    assert time.monotonic() - started < 60
    assert info.value.phase == "par2" and info.value.rc == 6
    assert ".2.dar" in info.value.msg
    with open(slices[2] + ".pid") as handle:
        pid = int(handle.read())
    with pytest.raises(ProcessLookupError):  # slice 3's par2 was running: it was killed
        os.kill(pid, 0)


def test_par2_create_all_stop_raises_stopped(tmp_path, helpers, fake_par2_binary):
    slices = _slices(str(tmp_path / "s"), helpers)
    with pytest.raises(command.Stopped):
        par2_mod.Par2(binary=fake_par2_binary, timeout=60).create_all(slices, 5, workers=1, stop=lambda: True)
