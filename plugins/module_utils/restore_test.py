# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prove an archive restores: extract a random sample and compare it with the live source."""

from __future__ import annotations

import fnmatch
import os
import random
import re
import shutil
import stat
import tempfile

from .dar import iter_entries, not_restored
from .errors import DarBackupError

PASSED = "passed"
FAILED = "failed"
CHANGED = "changed_since_backup"  # the source moved on after the backup: not the archive's fault
SOURCE_GONE = "source_gone"

_SIZE_RE = re.compile(r"^\s*([0-9]+)\s*([kKMGT]?)i?[bB]?\s*$")
_SIZE_UNITS = {"": 1, "k": 1024, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_size(value, what):
    """Bytes for 512, '64k', '20M', '1G'; None stays None."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE_RE.match(str(value))
    if not match:
        raise DarBackupError("%s %r is not a size: use bytes or a number with k, M, G or T, e.g. 20M" % (what, value),
                             phase="validate")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


class RestoreTestSettings(object):
    def __init__(self, files=5, min_size=None, max_size="20M", exclude=None, seed=None, work_dir=None):
        if not isinstance(files, int) or isinstance(files, bool) or files < 0:
            raise DarBackupError("restore_test.files must be a whole number >= 0, not %r" % (files,), phase="validate")
        self.files = files
        self.min_size = parse_size(min_size, "restore_test.min_size") or 0
        self.max_size = parse_size(max_size, "restore_test.max_size")
        if self.max_size is not None and self.max_size < self.min_size:
            raise DarBackupError("restore_test.max_size is smaller than restore_test.min_size", phase="validate")
        self.exclude = list(exclude or [])
        self.seed = seed
        if work_dir is not None and not os.path.isdir(work_dir):
            raise DarBackupError("restore_test.dir %s does not exist or is not a directory" % work_dir,
                                 phase="validate")
        self.work_dir = work_dir

    def wanted(self, relpath, size):
        if size is None or size < self.min_size or (self.max_size is not None and size > self.max_size):
            return False
        name = relpath.rsplit("/", 1)[-1]
        return not any(fnmatch.fnmatchcase(relpath, p) or fnmatch.fnmatchcase(name, p) for p in self.exclude)


def reservoir_sample(items, count, rng):
    """A uniform sample of ``count`` items from an iterable of unknown length, in one pass."""
    chosen = []
    for seen, item in enumerate(items):
        if seen < count:
            chosen.append(item)
        else:
            slot = rng.randint(0, seen)
            if slot < count:
                chosen[slot] = item
    return chosen


def _same_content(path_a, path_b, chunk=1024 * 1024):
    with open(path_a, "rb") as a, open(path_b, "rb") as b:
        while True:
            block_a = a.read(chunk)
            block_b = b.read(chunk)
            if block_a != block_b:
                return False
            if not block_a:
                return True


def compare(source, restored, backup_started, check_owner, recorded_size=None, recorded_mtime=None):
    """(result, detail) for one restored file against its source and what the archive's listing recorded.

    Whether the source changed since the backup is judged from the mtime the archive recorded, never from the
    restored file's: a restore that went wrong leaves a fresh mtime, which must not excuse it."""
    try:
        out = os.lstat(restored)
    except FileNotFoundError:
        return FAILED, "dar did not restore the file"
    if not stat.S_ISREG(out.st_mode):
        return FAILED, "dar restored something other than a regular file"
    if recorded_size is not None and out.st_size != recorded_size:
        return FAILED, "restored %d of the %d bytes the archive recorded" % (out.st_size, recorded_size)
    if recorded_mtime is not None and int(out.st_mtime) != recorded_mtime:
        return FAILED, "restored with mtime %d, the archive recorded %d" % (int(out.st_mtime), recorded_mtime)
    try:
        src = os.lstat(source)
    except FileNotFoundError:
        return SOURCE_GONE, "the source file was deleted after the backup"
    if not stat.S_ISREG(src.st_mode):
        return CHANGED, "the source is no longer a regular file"
    saved_mtime = recorded_mtime if recorded_mtime is not None else int(out.st_mtime)
    changed = int(src.st_mtime) != saved_mtime or src.st_mtime >= backup_started
    try:
        same = src.st_size == out.st_size and _same_content(source, restored)
    except OSError as exc:
        return FAILED, "cannot read for comparison: %s" % exc.strerror
    if not same:
        if changed:
            return CHANGED, "content differs and the source was modified after the backup started"
        return FAILED, "content differs from the source, which has not changed since the backup"
    problems = []
    if stat.S_IMODE(src.st_mode) != stat.S_IMODE(out.st_mode):
        problems.append("mode %o != %o" % (stat.S_IMODE(out.st_mode), stat.S_IMODE(src.st_mode)))
    if int(src.st_mtime) != int(out.st_mtime):
        problems.append("mtime %d != %d" % (int(out.st_mtime), int(src.st_mtime)))
    if check_owner and (src.st_uid, src.st_gid) != (out.st_uid, out.st_gid):
        problems.append("owner %d:%d != %d:%d" % (out.st_uid, out.st_gid, src.st_uid, src.st_gid))
    if problems:
        if changed:
            return CHANGED, "metadata changed after the backup: " + ", ".join(problems)
        return FAILED, "metadata differs: " + ", ".join(problems)
    return PASSED, ""


def _nothing_proven(report, why, warn=True):
    """A restore test that compared nothing proves nothing: passed is None, with the reason (as a warning unless
    nothing was to be expected, as for a DIFF or INCR that saved no file because none changed)."""
    report["passed"] = None
    report["skipped"] = why
    if warn:
        report["warning"] = "restore test proved nothing: %s" % why
    return report


def run(dar, archive_path, root, settings, backup_started, incremental=False):
    """Sample, extract and compare. Returns the result dict; raises only when dar cannot list the archive.

    passed is True when every sampled file compared equal (and at least one did), False when one failed,
    None when nothing could be compared: with a ``warning``, except for an ``incremental`` archive (DIFF, INCR)
    that saved no regular file, where there is nothing to compare."""
    report = {"passed": True, "sampled": 0, "candidates": 0, "files": []}
    if settings.files == 0:
        return _nothing_proven(report, "restore_test.files is 0")
    check_owner = os.geteuid() == 0
    rng = random.Random(settings.seed) if settings.seed is not None else random.SystemRandom()
    work = tempfile.mkdtemp(prefix="dar-backup-restore-test-", dir=settings.work_dir)
    try:
        listing = os.path.join(work, "listing.xml")
        dar.list_saved_xml(archive_path, listing)
        with open(listing, "rb") as handle:
            xml_text = handle.read().decode("utf-8", errors="surrogateescape")
        counter = {"n": 0, "saved": 0}

        def wanted():
            for entry in iter_entries(xml_text):
                if entry.kind == "File" and entry.data == "saved":
                    counter["saved"] += 1
                    if settings.wanted(entry.path, entry.size):
                        counter["n"] += 1
                        yield entry
        sample = reservoir_sample(wanted(), settings.files, rng)
        report["candidates"] = counter["n"]
        report["sampled"] = len(sample)
        if not sample and counter["saved"]:
            _nothing_proven(report, "none of the %d saved file(s) matched the size bounds and exclude patterns"
                            % counter["saved"])
        elif not sample:
            _nothing_proven(report, "the archive saved no regular file" + (
                "" if incremental else "; does the definition's include or exclude select anything?"),
                warn=not incremental)
        target = os.path.join(work, "restore")
        for entry in sample:
            relpath, size = entry.path, entry.size
            os.mkdir(target)
            result = dar.extract_one(archive_path, relpath, target, restore_owner=check_owner)
            skipped = not_restored(result)
            if skipped:
                # dar's own word that it left the file out counts whatever it left on disk and its exit code.
                outcome, detail = FAILED, "dar did not restore it: %s" % skipped[0]
            else:
                # A dirty file's data may differ from its recorded size; its content is still compared.
                outcome, detail = compare(os.path.join(root, relpath), os.path.join(target, relpath),
                                          backup_started, check_owner,
                                          recorded_size=None if entry.dirty else size, recorded_mtime=entry.mtime)
            if outcome == FAILED and result.rc not in (0, None):
                detail += " (dar -x rc %s)" % result.rc
            report["files"].append({"path": relpath, "size": size, "result": outcome, "detail": detail})
            if outcome == FAILED:
                report["passed"] = False
            shutil.rmtree(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if sample and report["passed"] and not any(f["result"] == PASSED for f in report["files"]):
        _nothing_proven(report, "none of the %d sampled file(s) could be compared: each changed or went away on the "
                                "source since the backup" % len(sample))
    return report
