# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dar_manager catalog database of one definition."""

from __future__ import annotations

import os

from . import command

# dar_manager can print these and still exit 0: its exit code alone is not trusted.
_FAILURE_MARKERS = ("Corrupted database", "FATAL error", "Aborting")


def database_path(definition, backup_dir, catalog_dir=None):
    return os.path.join(catalog_dir or backup_dir, definition + ".db")


class Catalog(object):
    def __init__(self, db_path, binary=None, timeout=command.DEFAULT_TIMEOUT):
        self.db_path = db_path
        self.binary = binary or command.find_tool("dar_manager")
        self.timeout = timeout

    def _run(self, args, what):
        result = command.run([self.binary] + args, timeout=self.timeout)
        output = result.stdout + result.stderr
        if result.rc not in (0, 5) or any(marker in output for marker in _FAILURE_MARKERS):
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()
            detail = ": " + last[-1].strip() if last else ""
            raise result.error("dar_manager %s failed (rc %s)%s" % (what, result.rc, detail), "catalog")
        return result

    def exists(self):
        return os.path.isfile(self.db_path)

    def create(self):
        return self._run(["-C", self.db_path], "--create of %s" % self.db_path)

    def ensure(self):
        """Create the database when it is missing; True when it was created."""
        if self.exists():
            return False
        self.create()
        return True

    def add(self, archive_path):
        """Register an archive (absolute path, no slice suffix); -ai: archives may arrive out of date order."""
        return self._run(["-B", self.db_path, "-A", os.path.abspath(archive_path), "-Q", "-ai"],
                         "--add of %s" % os.path.basename(archive_path))

    def list(self):
        """[(number, directory, basename)] as dar_manager -l prints them (tab separated)."""
        result = self._run(["-B", self.db_path, "-l", "-Q"], "--list of %s" % self.db_path)
        entries = []
        for line in result.stdout.splitlines():
            fields = [f for f in line.split("\t") if f.strip()]
            if len(fields) == 3 and fields[0].strip().isdigit():
                entries.append((int(fields[0].strip()), fields[1], fields[2]))
        return entries
