# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Points in time: which archive holds the state at a moment, and the chain a restore of it needs."""

from __future__ import annotations

import datetime
import re

from . import naming
from .errors import DarBackupError

# Written by backup.archive_comment into each archive's header.
_COMMENT_RE = re.compile(r"\bdar\.backup level=(FULL|DIFF|INCR) reference=(\S+)")


def parse_when(text):
    """ISO 8601 ('2026-03-03', '2026-03-03T12:00', '...+01:00', '...Z') -> naive local time, as archive names."""
    if isinstance(text, datetime.datetime):
        moment = text
    else:
        value = str(text).strip()
        if value.endswith(("Z", "z")):
            value = value[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
        except ValueError:
            raise DarBackupError("when %r is not an ISO 8601 time: use e.g. 2026-03-03T12:00 or 2026-03-03T12:00+01:00"
                                 % (text,), phase="validate")
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment


def archive_at(archives, when):
    """The newest archive made at or before ``when`` (archive time, never file mtimes)."""
    candidates = [a for a in archives if a.timestamp <= when]
    if not candidates:
        oldest = archives[0].basename if archives else None
        raise DarBackupError("no archive was made at or before %s%s" % (
            when.isoformat(), "; the oldest is %s" % oldest if oldest else "; there are no archives"), phase="plan")
    return candidates[-1]


def recorded_reference(header):
    """(level, reference basename or None) from an archive header, or None when it has no dar.backup comment."""
    match = _COMMENT_RE.search(header.get("User comment", ""))
    if not match:
        return None
    reference = match.group(2)
    return match.group(1), (None if reference == "none" else reference)


class Chains(object):
    """Reads archive headers once each; follows each archive's recorded reference to its FULL.

    Reading a header (dar -l -q) needs the last slice, so a successful read also proves the
    archive's last slice is present and really is the last one.
    """

    def __init__(self, dar, archives):
        self.dar = dar
        self.archives = archives
        self.by_name = dict((a.basename, a) for a in archives)
        self._headers = {}

    def header(self, archive):
        if archive.basename not in self._headers:
            if not archive.contiguous:
                numbers = [n for n, _path in archive.slices]
                missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
                raise DarBackupError("archive %s is missing slice(s) %s in %s" % (
                    archive.basename, ", ".join(str(n) for n in missing), archive.directory), phase="plan")
            try:
                self._headers[archive.basename] = self.dar.header(archive.path)
            except DarBackupError as exc:
                raise DarBackupError("archive %s cannot be read (a missing last slice or corruption): %s"
                                     % (archive.basename, exc.msg), phase="plan", rc=exc.rc, stdout=exc.stdout,
                                     stderr=exc.stderr, cmd=exc.cmd)
        return self._headers[archive.basename]

    def reference_of(self, archive):
        """The archive this one was made against (None for FULL); by its header, else dar-backup's rule."""
        if archive.level == "FULL":
            return None
        recorded = self._recorded(archive)
        if recorded is not None:
            name = recorded[1]
            if name is None:
                return None
            if name not in self.by_name:
                raise DarBackupError("archive %s was made against %s, which is not in %s (or incomplete)"
                                     % (archive.basename, name, archive.directory), phase="plan")
            return self.by_name[name]
        chain = naming.chain_of(archive, self.archives)
        if len(chain) < 2:
            raise DarBackupError("archive %s has no FULL archive before it in %s" % (
                archive.basename, archive.directory), phase="plan")
        return chain[-2]

    def _recorded(self, archive):
        """(level, reference) from its manifest, which needs no dar; else from its header."""
        try:
            manifest = archive.manifest
        except DarBackupError:
            manifest = None  # unreadable: the header decides
        if manifest is not None and manifest.get("level") == archive.level:
            return manifest["level"], manifest.get("reference")
        return recorded_reference(self.header(archive))

    def chain(self, archive):
        """[FULL, ..., archive]: what a restore of the state at ``archive`` applies, oldest first."""
        chain = [archive]
        self.header(archive)
        while True:
            parent = self.reference_of(chain[0])
            if parent is None:
                break
            if parent in chain:
                raise DarBackupError("archive references of %s form a loop" % archive.basename, phase="plan")
            self.header(parent)
            chain.insert(0, parent)
        return chain
