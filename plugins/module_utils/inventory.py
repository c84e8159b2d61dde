# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What does not add up in a backup directory: damaged archives, and files of archives that are no longer there.

naming.discover sees an archive through its slice 1. What it cannot see is reported here: slices and
manifests of an archive whose slice 1 is gone, and PAR2 sets whose slices are all gone. An archive it does
see is judged against its manifest, or, without one, by whether dar can read its header.
"""

from __future__ import annotations

import os

from . import naming
from .errors import DarBackupError
from .fsutil import ours, trusted_owners
from .lock import work_root
from .manifest import SUFFIX as MANIFEST_SUFFIX, ManifestUnreadable, par2_problems, slice_problems
from .par2 import PAR2_FILE_RE

LOST = "slice_1_missing"          # its manifest (or higher slices) are there, slice 1 is not
ORPHANED_PAR2 = "orphaned_par2"   # PAR2 files of an archive none of whose slices or manifest is left


def archive_problems(archive, header=None, with_hashes=False):
    """Lines saying what is wrong with an archive's slices, [] when nothing is.

    With a manifest: missing, extra and wrongly sized slices (and changed bytes with ``with_hashes``).
    Without one (dar-backup's archives, older ones): ``header(archive)`` must read it (dar -l needs the
    last slice, so this proves the slices end where they should); without ``header``, nothing is known."""
    try:
        recorded = archive.manifest
    except ManifestUnreadable as exc:
        return [exc.msg]
    if recorded is not None:
        return slice_problems(recorded, dict(archive.slices), with_hashes)
    if header is None:
        return []
    try:
        header(archive)
    except DarBackupError as exc:
        return [exc.msg]
    return []


def look_alike(archive, header):
    """Why a file without a manifest is no archive dar can read (its header fails), or None: ours are judged by
    their manifest instead, and a damaged one of ours is not a look-alike to skip."""
    if has_manifest(archive):
        return None
    problems = archive_problems(archive, header)
    return problems[0] if problems else None


def catalogable(archives, dar):
    """(archives a catalog may list, warnings): a file without a manifest that dar cannot read is not an
    archive to register (dar_manager would refuse it, and every later registration with it)."""
    kept, warnings = [], []
    for archive in archives:
        problem = look_alike(archive, lambda a: dar.header(a.path))
        if problem:
            warnings.append("%s is not cataloged: it looks like an archive but dar cannot read it (%s)"
                            % (archive.basename, problem))
        else:
            kept.append(archive)
    return kept, warnings


def has_manifest(archive):
    """True when the archive has a manifest file, readable or not (an unreadable one is ours, damaged)."""
    try:
        return archive.manifest is not None
    except ManifestUnreadable:
        return True


def archive_par2_problems(archive):
    """PAR2 files its manifest lists that are missing or resized ([] without a manifest)."""
    try:
        recorded = archive.manifest
    except ManifestUnreadable:
        return []
    return par2_problems(recorded, archive.directory) if recorded is not None else []


def _scan(directory, pattern_of):
    """{basename: [file names]} of regular files (owned by us or root) that pattern_of maps to a basename."""
    found = {}
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return found
    trusted = trusted_owners(directory)
    for entry in entries:
        base = pattern_of(entry.name)
        if base is not None and ours(entry.path, trusted):
            found.setdefault(base, []).append(entry.name)
    return found


def _slice_or_manifest_base(name):
    if name.endswith(MANIFEST_SUFFIX):
        return name[:-len(MANIFEST_SUFFIX)]
    match = naming.SLICE_RE.fullmatch(name)
    return match.group("base") if match else None


def _par2_base(name):
    match = PAR2_FILE_RE.fullmatch(name)
    return match.group("base") if match else None


def strays(directory, definition=None, par2_dir=None, archives=None):
    """Archives that lost their slice 1, and orphaned PAR2 sets, as dicts (archive, definition, level, kind,
    files, detail). A publication in progress (its staging area still exists) is not a stray."""
    if archives is None:
        archives = naming.discover(directory, definition)
    known = set(a.basename for a in archives)
    try:
        publishing = set(os.listdir(work_root(directory)))
    except OSError:
        publishing = set()
    found = []
    pieces = _scan(directory, _slice_or_manifest_base)
    par2_sets = _scan(par2_dir or directory, _par2_base)
    for base in sorted(set(pieces) | set(par2_sets)):
        name = naming.ArchiveName.parse(base)
        if name is None or base in known or base in publishing or (definition and name.definition != definition):
            continue
        files = sorted(pieces.get(base, []))
        par2_files = sorted(par2_sets.get(base, []))
        if files:
            slices = [f for f in files if not f.endswith(MANIFEST_SUFFIX)]
            detail = "slice 1 of %s is missing, so the archive cannot be read; %s remain%s" % (
                base, ", ".join(files), " with %d PAR2 file(s)" % len(par2_files) if par2_files else "")
            if not slices:
                detail = "every slice of %s is missing; its manifest remains" % base
            found.append({"archive": base, "definition": name.definition, "level": name.level, "kind": LOST,
                          "files": files + par2_files, "detail": detail})
        else:
            found.append({"archive": base, "definition": name.definition, "level": name.level,
                          "kind": ORPHANED_PAR2, "files": par2_files,
                          "detail": "PAR2 files of %s remain, but no slice of it" % base})
    return found
