# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dar_manager catalog database of one definition."""

from __future__ import annotations

import datetime
import os
import tempfile

from . import command

# dar_manager can print these and still exit 0: its exit code alone is not trusted.
_FAILURE_MARKERS = ("Corrupted database", "FATAL error", "Aborting")


def database_path(definition, backup_dir, catalog_dir=None):
    return os.path.join(catalog_dir or backup_dir, definition + ".db")


class Catalog(object):
    def __init__(self, db_path, binary=None, timeout=command.DEFAULT_TIMEOUT, mode=0o600):
        self.db_path = db_path
        self.binary = binary or command.find_tool("dar_manager")
        self.timeout = timeout
        self.mode = mode  # the catalog names every file of every archive: private like the archives

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
        result = self._run(["-C", self.db_path], "--create of %s" % self.db_path)
        # dar_manager follows the umask, and later writes keep the mode the file has.
        os.chmod(self.db_path, self.mode)
        return result

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

    def delete(self, number):
        return self._run(["-B", self.db_path, "-D", str(number), "-Q"], "--delete of entry %d" % number)

    def health(self):
        """None when the database reads whole, else why not. -c walks all of it; -l alone reads only its head."""
        for args in (["-l", "-Q"], ["-c", "-Q"]):
            result = command.run([self.binary, "-B", self.db_path] + args, timeout=self.timeout)
            output = result.stdout + result.stderr
            marker = next((m for m in _FAILURE_MARKERS if m in output), None)
            if result.rc != 0 or marker:
                lines = [l.strip() for l in output.splitlines() if marker and marker in l] or output.strip().splitlines()
                return "dar_manager %s: rc %s%s" % (args[0], result.rc, ", " + lines[-1] if lines else "")
        return None

    def list(self):
        """[(number, directory, basename)] as dar_manager -l prints them (tab separated)."""
        result = self._run(["-B", self.db_path, "-l", "-Q"], "--list of %s" % self.db_path)
        entries = []
        for line in result.stdout.splitlines():
            fields = [f for f in line.split("\t") if f.strip()]
            if len(fields) == 3 and fields[0].strip().isdigit():
                entries.append((int(fields[0].strip()), fields[1], fields[2]))
        return entries


def desired_entries(archives):
    """What the database of these archives must list, in order: time, then FULL < DIFF < INCR."""
    return [(a.directory, a.basename) for a in sorted(archives, key=lambda a: a.sort_key())]


def plan_sync(current, desired):
    """How to turn the listed entries into the desired ones: (action, added, removed), where action is
    ok, append, delete or rebuild.

    dar_manager treats the order archives were added in as their age, so an archive missing from the
    middle cannot just be appended: the database is rebuilt in order instead.
    """
    listed = [(directory, base) for _number, directory, base in current]
    added = [d for d in desired if d not in listed]
    removed = [entry for entry in current if (entry[1], entry[2]) not in desired]
    if listed == desired:
        return "ok", [], []
    if not added and [e for e in listed if e in desired] == desired:
        return "delete", [], removed
    if not removed and desired[:len(listed)] == listed:
        return "append", added, []
    return "rebuild", added, removed


def rebuild(catalog, archives):
    """Create the database afresh from ``archives`` beside the old one, then swap it in at once."""
    directory, name = os.path.split(catalog.db_path)
    fd, temp = tempfile.mkstemp(prefix="." + name + ".", suffix=".rebuild", dir=directory)
    os.close(fd)
    os.unlink(temp)  # dar_manager -C refuses an existing file
    fresh = Catalog(temp, binary=catalog.binary, timeout=catalog.timeout, mode=catalog.mode)
    try:
        fresh.create()
        for directory, base in desired_entries(archives):
            fresh.add(os.path.join(directory, base))
        os.replace(temp, catalog.db_path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def set_aside(db_path, now):
    """Keep a corrupt database for inspection under a name no run will mistake for the live one."""
    aside = "%s.corrupt-%s" % (db_path, now.strftime("%Y%m%d-%H%M%S"))
    os.replace(db_path, aside)
    return aside


def sync(catalog, archives, state="present", check_mode=False, now=None):
    """Make the database match ``state``; returns the result dict (changed, added, removed, ...)."""
    result = {"db": catalog.db_path, "state": state, "changed": False, "added": [], "removed": [],
              "corrupt": None, "set_aside": None, "action": "ok"}
    exists = catalog.exists()
    if state == "absent":
        if exists:
            result.update(changed=True, action="remove")
            if not check_mode:
                os.unlink(catalog.db_path)
        return result
    desired = desired_entries(archives)
    corrupt = catalog.health() if exists else None
    if corrupt:
        result["corrupt"] = corrupt
    added_entries, removed_entries = [], []
    if not exists or corrupt or state == "rebuilt":
        listed = [] if (not exists or corrupt) else [(d, base) for _n, d, base in catalog.list()]
        action = "create" if not exists else "rebuild"
        added = [base for directory, base in desired if (directory, base) not in listed]
        removed = [base for directory, base in listed if (directory, base) not in desired]
    else:
        action, added_entries, removed_entries = plan_sync(catalog.list(), desired)
        added = [base for _d, base in added_entries]
        removed = [base for _n, _d, base in removed_entries]
    result.update(action=action, added=added, removed=removed, changed=action != "ok")
    if check_mode or action == "ok":
        return result
    if action == "append":
        for directory, base in added_entries:
            catalog.add(os.path.join(directory, base))
    elif action == "delete":
        # Highest number first: deleting renumbers the entries after it.
        for number, _directory, _base in sorted(removed_entries, reverse=True):
            catalog.delete(number)
    else:
        if corrupt:
            result["set_aside"] = set_aside(catalog.db_path, now or datetime.datetime.now())
        os.makedirs(os.path.dirname(catalog.db_path), exist_ok=True)
        rebuild(catalog, archives)
    return result
