# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-archive manifest: what an archive was when it was published, so readers can prove what is left.

``<basename>.manifest.json`` sits beside slice 1. It is written atomically and published before slice 1,
so an archive that is visible always has one (archives made by dar-backup, or by this collection before
manifests existed, have none: readers then fall back to the archive's header). It records the level, the
reference, the dar version, and each slice's and PAR2 file's size and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os

from .errors import DarBackupError
from .fsutil import ours, write_atomically

FORMAT_VERSION = 1
SUFFIX = ".manifest.json"
_CHUNK = 1 << 20
# A manifest is a few hundred bytes a slice; anything far larger is not one of ours.
_MAX_BYTES = 16 * 1024 * 1024


def manifest_path(directory, basename):
    return os.path.join(directory, basename + SUFFIX)


def file_digest(path):
    """(size, sha256 hex) of one file, read in chunks (hashlib releases the GIL on large updates)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_CHUNK)
            if not block:
                break
            size += len(block)
            digest.update(block)
    return size, digest.hexdigest()


def digests(paths):
    """{path: {"size": n, "sha256": hex}} for each file."""
    found = {}
    for path in paths:
        size, sha = file_digest(path)
        found[path] = {"size": size, "sha256": sha}
    return found


def build(name, reference, slices, par2_files, par2_dir_rel, digests_by_path, dar_version, created_epoch,
          owner_uid, redundancy=None):
    """The manifest of one archive. ``slices`` are (number, path) in the staging area, ``par2_files`` paths."""
    return {
        "format": FORMAT_VERSION,
        "tool": "dar.backup",
        "archive": name.basename,
        "definition": name.definition,
        "level": name.level,
        "reference": reference,
        "created": int(created_epoch),
        "dar_version": dar_version,
        "owner_uid": owner_uid,
        "slices": [dict(number=number, name=os.path.basename(path), **digests_by_path[path])
                   for number, path in sorted(slices)],
        "par2": {
            "dir": par2_dir_rel,
            "redundancy": redundancy,
            "files": [dict(name=os.path.basename(path), **digests_by_path[path]) for path in sorted(par2_files)],
        },
    }


def write(path, manifest, mode=0o600):
    write_atomically(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n", mode=mode)


class ManifestUnreadable(DarBackupError):
    pass


def read(path):
    """The manifest at path, None when there is none; ManifestUnreadable when it is not a manifest of ours."""
    if not os.path.lexists(path):
        return None
    if not ours(path):
        return None  # another user's file beside our slices says nothing about them (and must not redirect a chain)
    try:
        with open(path, "rb") as handle:
            text = handle.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ManifestUnreadable("manifest %s cannot be read: %s" % (path, exc.strerror), phase="read")
    try:
        data = json.loads(text.decode("utf-8")) if len(text) <= _MAX_BYTES else None
    except (UnicodeDecodeError, ValueError):
        data = None
    if not _well_formed(data):
        raise ManifestUnreadable("%s is not a dar.backup manifest (damaged, or written by something else)" % path,
                                 phase="read")
    return data


def _well_formed(data):
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        return False
    slices = data.get("slices")
    if not isinstance(slices, list) or not slices:
        return False
    for entry in slices:
        if not isinstance(entry, dict) or not isinstance(entry.get("number"), int) \
                or not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str):
            return False
    par2 = data.get("par2")
    return isinstance(par2, dict) and isinstance(par2.get("files"), list)


def par2_directory(manifest, archive_dir):
    relative = manifest["par2"].get("dir")
    return os.path.normpath(os.path.join(archive_dir, relative)) if relative else archive_dir


def slice_problems(manifest, present, with_hashes=False):
    """What differs between the slices on disk (``present``: {number: path}) and the manifest, one line each.

    Missing, extra and wrongly sized slices are seen from a directory listing and a stat; with_hashes also
    reads every slice and compares its SHA-256 (what a scrub does)."""
    problems = []
    expected = dict((entry["number"], entry) for entry in manifest["slices"])
    missing = sorted(set(expected) - set(present))
    extra = sorted(set(present) - set(expected))
    if missing:
        problems.append("slice(s) %s missing (the manifest lists %d)" % (_numbers(missing), len(expected)))
    if extra:
        problems.append("slice(s) %s are not in the manifest (it lists %d)" % (_numbers(extra), len(expected)))
    for number in sorted(set(expected) & set(present)):
        want = expected[number]
        try:
            size = os.stat(present[number]).st_size
        except OSError as exc:
            problems.append("slice %d cannot be read: %s" % (number, exc.strerror))
            continue
        if size != want["size"]:
            problems.append("slice %d is %d bytes, the manifest says %d (%s)" % (
                number, size, want["size"], "truncated" if size < want["size"] else "grown"))
            continue
        if with_hashes:
            try:
                _size, sha = file_digest(present[number])
            except OSError as exc:
                problems.append("slice %d cannot be read: %s" % (number, exc.strerror))
                continue
            if sha != want["sha256"]:
                problems.append("slice %d's SHA-256 differs from the manifest (its bytes changed)" % number)
    return problems


STRUCTURAL = ("missing (the manifest lists", "are not in the manifest")


def is_structural(problem):
    """A slice missing or extra: no PAR2 repair of slice contents fixes that."""
    return any(marker in problem for marker in STRUCTURAL)


def par2_problems(manifest, archive_dir):
    """PAR2 files the manifest lists that are gone or changed size (their content PAR2 itself verifies)."""
    directory = par2_directory(manifest, archive_dir)
    problems = []
    for entry in manifest["par2"]["files"]:
        path = os.path.join(directory, entry.get("name", ""))
        try:
            size = os.stat(path).st_size
        except OSError:
            problems.append("PAR2 file %s is missing" % entry.get("name"))
            continue
        if size != entry.get("size"):
            problems.append("PAR2 file %s is %d bytes, the manifest says %s"
                            % (entry.get("name"), size, entry.get("size")))
    return problems


def _numbers(numbers):
    return ", ".join(str(n) for n in numbers)
