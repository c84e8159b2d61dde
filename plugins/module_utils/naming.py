# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archive names, slices on disk, and the FULL <- DIFF <- INCR chains they form."""

from __future__ import annotations

import datetime
import os
import re

from . import manifest as manifest_mod
from .errors import DarBackupError
from .fsutil import trusted_owners

LEVELS = ("FULL", "DIFF", "INCR")
# The order archives of the same timestamp are applied and cataloged in.
LEVEL_RANK = {"FULL": 0, "DIFF": 1, "INCR": 2}

# New definitions: safe as a file name, a unit name and a name field.
DEFINITION_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
# Existing archives: dar-backup allows spaces in definition names (and more with --allow-unsafe-definition-names);
# such archives are read and restored. Only '/' (a path), '_' (the field separator) and control characters are out.
ADOPTED_DEFINITION_RE = re.compile(r"^[^/_\x00-\x1f\x7f]+$")
# <definition>_<LEVEL>_<YYYY-MM-DD>[_<HHMMSS>]; the date-only form is dar-backup's.
ARCHIVE_RE = re.compile(
    r"^(?P<definition>[^/_\x00-\x1f\x7f]+)_(?P<level>FULL|DIFF|INCR)_"
    r"(?P<date>\d{4}-\d{2}-\d{2})(?:_(?P<time>\d{6}))?$"
)
SLICE_RE = re.compile(r"^(?P<base>.+)\.(?P<number>[1-9][0-9]*)\.dar$")


def check_definition_name(name):
    """Refuse names for new definitions that could escape a directory or break the name fields."""
    if not isinstance(name, str) or not DEFINITION_RE.fullmatch(name):
        raise DarBackupError(
            "definition name %r is not safe for a new definition: use letters, digits and inner hyphens only "
            "(no '_', '/', '.', spaces or shell characters), e.g. 'home-docs'; archives of dar-backup definitions "
            "with spaces in their names are still read and restored (dar_restore, dar_info, par2_verify)" % (name,),
            phase="validate")
    return name


def check_existing_name(name):
    """A definition name that existing archives may carry (dar-backup's, spaces included): read, never made."""
    if not isinstance(name, str) or not ADOPTED_DEFINITION_RE.fullmatch(name) or name.strip(".") == "":
        raise DarBackupError(
            "definition name %r cannot name archives: it must be non-empty, not '.' or '..', and hold no '/', '_' or "
            "control characters" % (name,), phase="validate")
    return name


class ArchiveName(object):
    """One archive's identity, parsed from or formatted into its basename."""

    __slots__ = ("definition", "level", "timestamp", "has_time")

    def __init__(self, definition, level, timestamp, has_time=True):
        self.definition = definition
        self.level = level
        self.timestamp = timestamp
        self.has_time = has_time

    @classmethod
    def parse(cls, basename):
        match = ARCHIVE_RE.fullmatch(basename)
        if not match:
            return None
        try:
            day = datetime.datetime.strptime(match.group("date"), "%Y-%m-%d")
            if match.group("time"):
                clock = datetime.datetime.strptime(match.group("time"), "%H%M%S").time()
                return cls(match.group("definition"), match.group("level"), datetime.datetime.combine(day.date(), clock))
        except ValueError:
            return None
        # dar-backup's date-only archives: read as midnight, ordered before same-day timed ones.
        return cls(match.group("definition"), match.group("level"), day, has_time=False)

    @property
    def basename(self):
        text = "%s_%s_%s" % (self.definition, self.level, self.timestamp.strftime("%Y-%m-%d"))
        if self.has_time:
            text += self.timestamp.strftime("_%H%M%S")
        return text

    def sort_key(self):
        return (self.timestamp, LEVEL_RANK[self.level])

    def __repr__(self):
        return "ArchiveName(%r)" % self.basename


class Archive(object):
    """An archive found on disk: its name, directory and slice files."""

    def __init__(self, name, directory, slices):
        self.name = name
        self.directory = directory
        self.slices = sorted(slices)  # list of (number, path)
        self.owner_uid = None  # of slice 1, when discover() read it
        self._manifest = None

    @property
    def manifest(self):
        """Its manifest (a dict), or None for archives without one (dar-backup's, older ones); read once.
        Raises manifest.ManifestUnreadable when the file is there but is not a manifest of ours."""
        if self._manifest is None:
            try:
                self._manifest = (manifest_mod.read(manifest_mod.manifest_path(self.directory, self.basename)), None)
            except manifest_mod.ManifestUnreadable as exc:
                self._manifest = (None, exc)
        if self._manifest[1] is not None:
            raise self._manifest[1]
        return self._manifest[0]

    @property
    def basename(self):
        return self.name.basename

    @property
    def level(self):
        return self.name.level

    @property
    def timestamp(self):
        return self.name.timestamp

    @property
    def path(self):
        """What dar calls the archive: directory plus basename, without slice suffix."""
        return os.path.join(self.directory, self.basename)

    @property
    def slice_paths(self):
        return [path for _number, path in self.slices]

    @property
    def contiguous(self):
        return [number for number, _path in self.slices] == list(range(1, len(self.slices) + 1))

    @property
    def size_bytes(self):
        total = 0
        for path in self.slice_paths:
            try:
                total += os.stat(path).st_size
            except OSError:
                pass
        return total

    def sort_key(self):
        return self.name.sort_key()

    def __repr__(self):
        return "Archive(%r, %d slices)" % (self.basename, len(self.slices))


def discover(directory, definition=None, trusted_uids=None, ignored=None, named=()):
    """Archives in ``directory`` (not below it), oldest first.

    An archive exists when its first slice does: slices are published last-to-first,
    so an interrupted publication never shows a slice 1 without its followers.
    Symlinks and anything that is not a regular file are ignored.

    An archive whose slice 1 another user owns (``trusted_uids``, by default trusted_owners()) may have been
    planted in a shared directory, e.g. with a future time so that it is restored by default or becomes the
    next DIFF's reference: it is left out, and appended to ``ignored`` when that is a list, unless its
    basename is in ``named`` (the user chose it).
    """
    groups = {}
    owners = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        match = SLICE_RE.fullmatch(entry.name)
        if not match:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
        except OSError:
            continue
        name = ArchiveName.parse(match.group("base"))
        if name is None or (definition is not None and name.definition != definition):
            continue
        if match.group("number") == "1":
            try:
                owners[name.basename] = entry.stat(follow_symlinks=False).st_uid
            except OSError:
                continue
        groups.setdefault(name.basename, (name, []))[1].append((int(match.group("number")), entry.path))
    trusted = trusted_owners(directory) if trusted_uids is None else set(trusted_uids)
    archives = []
    for name, slices in groups.values():
        if name.basename not in owners:
            continue
        archive = Archive(name, directory, slices)
        archive.owner_uid = owners[name.basename]
        if archive.owner_uid in trusted or name.basename in (named or ()):
            archives.append(archive)
        elif ignored is not None:
            ignored.append(archive)
    archives.sort(key=Archive.sort_key)
    if ignored is not None:
        ignored.sort(key=Archive.sort_key)
    return archives


def ignored_warnings(ignored, directory):
    """The one-line warning about archives discover() left out as another user's, or none."""
    if not ignored:
        return []
    shown = ", ".join("%s (uid %s)" % (a.basename, a.owner_uid) for a in ignored[:5])
    if len(ignored) > 5:
        shown += " and %d more" % (len(ignored) - 5)
    return ["ignored %d archive(s) in %s owned by another user (not uid %d, root or the "
            "directory's owner), which anyone sharing the directory could have planted: %s; chown them if they "
            "are yours, or name one explicitly to use it" % (len(ignored), directory, os.geteuid(), shown)]


def newest(archives, level, before=None):
    """The newest archive of ``level`` (optionally strictly older than ``before``)."""
    candidates = [a for a in archives if a.level == level and (before is None or a.sort_key() < before.sort_key())]
    return candidates[-1] if candidates else None


def reference_for(level, archives, incr_reference="diff"):
    """The archive a new ``level`` archive must be made against, or None for FULL.

    DIFF: the newest FULL. INCR: the newest DIFF made after the newest FULL (so a
    restore needs at most FULL + DIFF + INCR); with no such DIFF, the FULL itself.
    ``incr_reference='previous'`` makes INCR reference the newest archive of any level.
    """
    if level == "FULL":
        return None
    full = newest(archives, "FULL")
    if full is None:
        raise DarBackupError("a %s archive needs a FULL archive to refer to, and there is none; "
                             "run with level=full (or level=auto) first" % level, phase="plan")
    if level == "DIFF":
        return full
    later = [a for a in archives if a.sort_key() > full.sort_key()]
    if incr_reference == "previous":
        return later[-1] if later else full
    diffs = [a for a in later if a.level == "DIFF"]
    return diffs[-1] if diffs else full


def chain_of(archive, archives):
    """The archives a restore from ``archive`` needs, oldest first, inferred from the naming rule."""
    chain = [archive]
    current = archive
    while current.level != "FULL":
        earlier = [a for a in archives if a.sort_key() < current.sort_key()]
        if current.level == "DIFF":
            parent = newest(earlier, "FULL")
        else:
            full = newest(earlier, "FULL")
            diffs = [a for a in earlier if a.level == "DIFF" and full is not None and a.sort_key() > full.sort_key()]
            parent = diffs[-1] if diffs else full
        if parent is None:
            break
        chain.insert(0, parent)
        current = parent
    return chain
