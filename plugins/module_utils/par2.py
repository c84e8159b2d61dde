# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PAR2 redundancy, one recovery set per slice (a set over all slices can need GBs of memory)."""

from __future__ import annotations

import os
import re

from . import command
from .errors import DarBackupError
from .fsutil import ours, trusted_owners

# par2cmdline's libpar2.h result codes.
PAR2_EXIT_MEANING = {
    0: "success",
    1: "damaged, but repair is possible",
    2: "damaged, and repair is not possible",
    3: "invalid command-line arguments",
    4: "not enough critical data to verify",
    5: "repair failed",
    6: "file I/O error (for example the disk is full)",
    7: "internal logic error",
    8: "out of memory",
}


def meaning(rc):
    if rc is None:
        return "par2 could not be started"
    if rc < 0:
        return "killed by signal %d" % -rc
    return PAR2_EXIT_MEANING.get(rc, "unknown exit code")


# What par2 verify's result code says about one slice.
OK = "ok"
REPAIRABLE = "damaged_repairable"
UNREPAIRABLE = "unrepairable"


def check_redundancy(value, what="redundancy"):
    try:
        if isinstance(value, bool):
            raise TypeError("a boolean is not a percent")
        number = int(value)
    except (TypeError, ValueError):
        raise DarBackupError("par2 %s %r is not a number: give a whole percent from 1 to 100, e.g. 5"
                             % (what, value), phase="validate")
    if isinstance(value, float) and value != number or not 1 <= number <= 100:
        raise DarBackupError("par2 %s %r must be a whole percent from 1 to 100" % (what, value), phase="validate")
    return number


_VOLUME = r"(?:\.vol[0-9]+\+[0-9]+)?\.par2"
# Any PAR2 file of any slice: <archive basename>.<N>.dar[.volXX+YY].par2
PAR2_FILE_RE = re.compile(r"(?P<base>.+)\.(?P<number>[1-9][0-9]*)\.dar" + _VOLUME)


def _matching(directory, pattern):
    """Our regular files in directory whose names fit pattern (another user's are never used to repair ours)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    trusted = trusted_owners(directory)
    return sorted(path for path in (os.path.join(directory, n) for n in names if pattern.fullmatch(n))
                  if ours(path, trusted))


def par2_files_for(slice_name, directory):
    """The index and volume files that belong to one slice's recovery set."""
    return _matching(directory, re.compile(re.escape(slice_name) + _VOLUME))


# par2's own default, which it also uses when a slice is too small for it (then with tiny blocks).
PAR2_DEFAULT_BLOCK_COUNT = 2000
# Every PAR2 file repeats a checksum per block, so small blocks cost more than they protect: at 5 %, a
# 300 KiB slice got 445 KB of PAR2 files with 1000 blocks, 44 KB with 150 (2 KiB blocks), 26 KB with 75.
MIN_BLOCK_BYTES = 2048


def block_count_for(slice_path, block_count=None):
    """The block count for one slice: the one asked for (or par2's default), but no block under
    MIN_BLOCK_BYTES, and at least one block. None when the slice cannot be read (par2 will say why)."""
    try:
        size = os.stat(slice_path).st_size
    except OSError:
        return block_count
    return max(1, min(block_count or PAR2_DEFAULT_BLOCK_COUNT, size // MIN_BLOCK_BYTES))


class Par2(object):
    def __init__(self, binary=None, timeout=command.DEFAULT_TIMEOUT):
        # Any par2cmdline-compatible program: Debian's par2 0.8.1, or par2cmdline-turbo (the same command line and
        # file format, SIMD GF(2^16), many times faster); each verifies and repairs the other's sets.
        self.binary = command.find_tool(binary or "par2")
        self.timeout = timeout

    def create_args(self, slice_path, redundancy, block_count=None):
        args = [self.binary, "create", "-q", "-q", "-r%d" % redundancy]
        block_count = block_count_for(slice_path, block_count)
        if block_count:
            args.append("-b%d" % block_count)
        # -B makes the stored name relative to the slice's directory, so the set stays valid when moved.
        return args + ["-B", os.path.dirname(slice_path), "--", slice_path + ".par2", slice_path]

    @staticmethod
    def _judge_create(slice_path, result):
        if result.rc != 0:
            raise result.error("par2 create for %s failed with rc %s: %s"
                               % (os.path.basename(slice_path), result.rc, meaning(result.rc)), "par2")

    def create(self, slice_path, redundancy, block_count=None):
        """Create ``<slice>.par2`` and its volumes beside the slice; returns the files made."""
        result = command.run(self.create_args(slice_path, redundancy, block_count), timeout=self.timeout)
        self._judge_create(slice_path, result)
        directory, name = os.path.split(slice_path)
        return par2_files_for(name, directory)

    def create_all(self, slice_paths, redundancy, block_count=None, workers=1, stop=None):
        """PAR2 sets for several slices, ``workers`` par2 processes at a time; returns every file made.

        The first failure kills the other par2 processes and raises; so does ``stop()`` answering true
        (raising command.Stopped), which lets a concurrent step call PAR2 creation off.
        """
        argvs = [self.create_args(path, redundancy, block_count) for path in slice_paths]
        failures = []

        def failed_or_stopped(results):
            for index, result in enumerate(results):
                if result is not None and result.rc != 0:
                    failures.append((slice_paths[index], result))
                    return True
            return bool(stop and stop())
        try:
            command.run_many(argvs, workers, timeout=self.timeout, stop=failed_or_stopped)
        except command.Stopped:
            if failures:
                self._judge_create(*failures[0])
            raise
        made = []
        for path in slice_paths:
            made += par2_files_for(os.path.basename(path), os.path.dirname(path))
        return made

    def check_args(self, action, slice_path, par2_files):
        """par2 verify/repair of one slice with the PAR2 files found for it (index first, else a volume)."""
        index = sorted(par2_files, key=lambda p: (not p.endswith(".dar.par2"), p))[0]
        # -B: names in the set are relative to the slice's directory, wherever the PAR2 files are.
        return [self.binary, action, "-q", "-q", "-B", os.path.dirname(slice_path), "--", index]

    @staticmethod
    def verdict(slice_path, result):
        """ok, damaged_repairable or unrepairable from par2 verify's result code; other codes raise."""
        if result.rc == 0:
            return OK
        if result.rc == 1:
            return REPAIRABLE
        if result.rc in (2, 4):
            return UNREPAIRABLE
        raise result.error("par2 verify of %s failed with rc %s: %s"
                           % (os.path.basename(slice_path), result.rc, meaning(result.rc)), "verify")

    def verify(self, slice_path, par2_files):
        result = command.run(self.check_args("verify", slice_path, par2_files), timeout=self.timeout)
        return self.verdict(slice_path, result), result

    def repair(self, slice_path, par2_files):
        """Repair one slice in place; par2 keeps the damaged original as <slice>.1, which is removed on success."""
        directory, name = os.path.split(slice_path)
        before = set(os.listdir(directory))
        result = command.run(self.check_args("repair", slice_path, par2_files), timeout=self.timeout)
        left = [n for n in set(os.listdir(directory)) - before if re.fullmatch(re.escape(name) + r"\.[0-9]+", n)]
        if result.rc != 0:
            raise result.error("par2 repair of %s failed with rc %s: %s" % (name, result.rc, meaning(result.rc)),
                               "repair")
        for leftover in left:
            os.unlink(os.path.join(directory, leftover))
        return result


def par2_files_of_archive(directory, basename):
    """Every PAR2 file of every slice of one archive in ``directory``."""
    return _matching(directory, re.compile(re.escape(basename) + r"\.[1-9][0-9]*\.dar" + _VOLUME))
