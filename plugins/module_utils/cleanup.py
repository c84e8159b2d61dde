# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention: which archives of a definition go (by age or by name), which must stay for a kept chain, and
their removal with their PAR2 files and catalog entries."""

from __future__ import annotations

import datetime
import os
import re
import stat

from . import catalog as catalog_mod
from . import command
from . import inventory
from . import naming
from .dar import Dar
from .errors import DarBackupError
from .history import Chains
from .lock import definition_lock
from .manifest import SUFFIX as MANIFEST_SUFFIX
from .par2 import PAR2_FILE_RE

FULL_REFUSED = ("%s: a FULL archive is removed only when it is named in archives and allow_full is true; "
                "nothing was removed")


def check_age(value, what):
    """A whole, non-negative number of days."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DarBackupError("%s %r must be a whole number of days, 0 or more (e.g. 40)" % (what, value),
                             phase="validate")
    return value


class Selection(object):
    """The outcome of select(): what goes, what stays and why."""

    def __init__(self):
        self.remove = []       # Archives, oldest first
        self.kept = []         # Archives, oldest first
        self.protected = []    # {"archive", "needed_by", "reason"}
        self.unreadable = []   # {"archive", "error"}


def is_due(name, now, diff_age, incr_age):
    """True when an archive of this name is older than its level's retention (FULL never is)."""
    if name.level == "DIFF":
        return name.timestamp < now - datetime.timedelta(days=diff_age)
    if name.level == "INCR":
        return name.timestamp < now - datetime.timedelta(days=incr_age)
    return False


def _possible_references(keeper, archives):
    """What an archive whose reference cannot be read might have been made against: everything before it
    back to the newest FULL before it (every reference rule of dar_backup and dar-backup stays inside that)."""
    older = [a for a in archives if a.sort_key() < keeper.sort_key()]
    fulls = [a for a in older if a.level == "FULL"]
    if fulls:
        older = [a for a in older if a.sort_key() >= fulls[-1].sort_key()]
    return older


def select(archives, reference_of, now, diff_age, incr_age, named=(), allow_full=False):
    """Split ``archives`` (one definition, oldest first) into those that go and those that stay.

    Candidates are DIFFs older than ``diff_age`` days, INCRs older than ``incr_age`` days and the archives
    in ``named`` (a FULL only with ``allow_full``). A candidate that a kept archive was made against stays
    (protected), and so, in turn, does what it was made against. ``reference_of(archive)`` returns the
    archive it was made against or None, and raises DarBackupError when that cannot be known; such an
    archive is reported in ``unreadable`` and keeps every candidate it might depend on.
    """
    named = set(named)
    selection = Selection()
    candidates = {}
    for archive in archives:
        if archive.basename in named:
            if archive.level == "FULL" and not allow_full:
                raise DarBackupError(FULL_REFUSED % archive.basename, phase="validate")
            candidates[archive.basename] = archive
        elif is_due(archive.name, now, diff_age, incr_age):
            candidates[archive.basename] = archive
    if candidates:
        oldest = min(a.sort_key() for a in candidates.values())
        # An archive older than every candidate cannot have been made against one: its header is not read.
        pending = [a for a in archives if a.basename not in candidates and a.sort_key() > oldest]
    else:
        pending = []
    protected = {}
    examined = set()
    while pending:
        keeper = pending.pop(0)
        if keeper.basename in examined:
            continue
        examined.add(keeper.basename)
        try:
            reference = reference_of(keeper)
            needs = [reference] if reference is not None else []
            reason = "%s was made against it" % keeper.basename
        except DarBackupError as exc:
            selection.unreadable.append({"archive": keeper.basename, "error": exc.msg})
            needs = _possible_references(keeper, archives)
            reason = "the reference of %s cannot be read, and it may have been made against it" % keeper.basename
        for needed in needs:
            if needed.basename in candidates and needed.basename not in protected:
                protected[needed.basename] = {"archive": needed.basename, "needed_by": keeper.basename,
                                              "reason": reason}
                pending.append(needed)
    selection.protected = [protected[a.basename] for a in archives if a.basename in protected]
    selection.remove = [a for a in archives if a.basename in candidates and a.basename not in protected]
    selection.kept = [a for a in archives if a.basename not in candidates or a.basename in protected]
    return selection


def _regular(path):
    """True for a regular file (never following a symlink), False for anything else, None when gone."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return None


# <basename>.manifest.json; the number group keeps scan()'s shape.
MANIFEST_RE = re.compile(r"(?P<base>.+)(?P<number>)" + re.escape(MANIFEST_SUFFIX))


def scan(directory, definition, pattern):
    """{basename: [(number, path)]} of the definition's files in ``directory`` whose names fit ``pattern``
    (SLICE_RE or PAR2_FILE_RE) and whose basename is a real archive name. Symlinks and other non-regular files
    are included: the caller decides (and never deletes them)."""
    found = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for entry in names:
        match = pattern.fullmatch(entry)
        if not match:
            continue
        name = naming.ArchiveName.parse(match.group("base"))
        if name is None or name.definition != definition:
            continue
        found.setdefault(name.basename, []).append((int(match.group("number") or 0), os.path.join(directory, entry)))
    return found


class Files(object):
    """The definition's slice and PAR2 files, scanned once."""

    def __init__(self, backup_dir, definition, par2_dirs):
        self.slices = scan(backup_dir, definition, naming.SLICE_RE)
        self.manifests = scan(backup_dir, definition, MANIFEST_RE)
        self.par2 = {}
        for directory in par2_dirs:
            for base, files in scan(directory, definition, PAR2_FILE_RE).items():
                self.par2.setdefault(base, []).extend(files)

    def bases(self):
        """Every basename with at least one regular slice or PAR2 file."""
        result = set()
        for group in (self.slices, self.par2, self.manifests):
            for base, files in group.items():
                if any(_regular(path) for _number, path in files):
                    result.add(base)
        return result

    def of(self, basename):
        """(paths to delete in order, paths left alone): slice 1 first (it is what makes an archive visible),
        then the other slices, then the PAR2 files, then the manifest (what is left of an interrupted removal
        is then reported as an archive that lost slice 1, and the next clean-up removes it); symlinks and other
        non-regular files are left alone."""
        ordered = [path for _number, path in sorted(self.slices.get(basename, []))]
        ordered += sorted(path for _number, path in self.par2.get(basename, []))
        ordered += [path for _number, path in self.manifests.get(basename, [])]
        delete, left_alone = [], []
        for path in ordered:
            kind = _regular(path)
            if kind:
                delete.append(path)
            elif kind is False:
                left_alone.append(path)
        return delete, left_alone


def check_names(names, definition, known, backup_dir):
    """Every name must be an archive name of this definition with files in backup_dir."""
    problems = []
    for name in names:
        parsed = naming.ArchiveName.parse(name) if isinstance(name, str) else None
        if parsed is None or parsed.definition != definition or parsed.basename != name:
            problems.append("%r is not an archive name of definition %s (expected e.g. %s_DIFF_2026-01-31_190301, "
                            "without the slice suffix)" % (name, definition, definition))
        elif name not in known:
            problems.append("archive %s is not in %s" % (name, backup_dir))
    if problems:
        raise DarBackupError("; ".join(problems) + "; nothing was removed", phase="validate")
    return list(names)


class CleanupRequest(object):
    def __init__(self, name, backup_dir, diff_age=100, incr_age=40, archives=None, allow_full=False,
                 par2_dir=None, catalog=True, catalog_dir=None, timeout=command.DEFAULT_TIMEOUT):
        self.name = naming.check_existing_name(name)
        self.backup_dir = os.path.abspath(backup_dir)
        if not os.path.isdir(self.backup_dir):
            raise DarBackupError("backup_dir %s does not exist" % self.backup_dir, phase="validate")
        self.diff_age = check_age(diff_age, "diff_age")
        self.incr_age = check_age(incr_age, "incr_age")
        self.archives = list(archives or [])
        self.allow_full = bool(allow_full)
        self.par2_dir = os.path.abspath(par2_dir) if par2_dir else None
        self.catalog = catalog
        self.catalog_dir = os.path.abspath(catalog_dir) if catalog_dir else None
        self.timeout = timeout

    @property
    def par2_dirs(self):
        dirs = [self.backup_dir]
        if self.par2_dir and self.par2_dir not in dirs:
            dirs.append(self.par2_dir)
        return dirs

    @property
    def db_path(self):
        return catalog_mod.database_path(self.name, self.backup_dir, self.catalog_dir)


def _plan(request, dar, now, ignored=None):
    ignored = [] if ignored is None else ignored
    archives = naming.discover(request.backup_dir, request.name, ignored=ignored, named=request.archives)
    files = Files(request.backup_dir, request.name, request.par2_dirs)
    on_disk = set(a.basename for a in archives)
    # What an interrupted removal (or publication) left: files of an archive whose slice 1 is gone. Another
    # user's archive is neither: it is left alone unless named.
    leftover_bases = sorted(files.bases() - on_disk - set(a.basename for a in ignored))
    named = check_names(request.archives, request.name, on_disk | set(leftover_bases), request.backup_dir)
    fulls = [base for base in named if naming.ArchiveName.parse(base).level == "FULL"]
    if fulls and not request.allow_full:
        raise DarBackupError(FULL_REFUSED % ", ".join(fulls), phase="validate")
    selection = select(archives, Chains(dar, archives).reference_of, now, request.diff_age, request.incr_age,
                       named=named, allow_full=request.allow_full)
    leftovers = [base for base in leftover_bases
                 if base in named or is_due(naming.ArchiveName.parse(base), now, request.diff_age, request.incr_age)]
    return files, named, selection, leftovers


def run_cleanup(request, check_mode=False, now=None, dar=None, catalog=None):
    """Apply retention to one definition; returns the result dict. Holds the definition's lock to delete."""
    now = now or datetime.datetime.now()
    if dar is None:
        dar = Dar(timeout=request.timeout)
    if request.catalog and catalog is None:
        catalog = catalog_mod.Catalog(request.db_path, timeout=request.timeout)
    if check_mode:
        return _run(request, dar, catalog, now, check_mode=True)
    with definition_lock(request.backup_dir, request.name):
        return _run(request, dar, catalog, now, check_mode=False)


def _run(request, dar, catalog, now, check_mode):
    ignored = []
    files, named, selection, leftovers = _plan(request, dar, now, ignored)
    warnings = naming.ignored_warnings(ignored, request.backup_dir)
    if request.par2_dir and not os.path.isdir(request.par2_dir):
        warnings.append("par2_dir %s does not exist; no PAR2 files were looked for there" % request.par2_dir)
    for entry in selection.unreadable:
        warnings.append("archive %s cannot be read (%s); everything it may depend on was kept"
                        % (entry["archive"], entry["error"]))
    for entry in selection.protected:
        if entry["archive"] in named:
            warnings.append("archive %s was named in archives but is kept: %s"
                            % (entry["archive"], entry["reason"]))
    # Newest first: an interruption never leaves a kept archive whose reference is already gone.
    order = [a.basename for a in sorted(selection.remove, key=lambda a: a.sort_key(), reverse=True)]
    order += sorted(leftovers, reverse=True)
    result = {"changed": bool(order), "removed": [a.basename for a in selection.remove], "leftovers": leftovers,
              "removed_files": [], "left_alone": [], "protected": selection.protected,
              "unreadable": selection.unreadable, "kept": len(selection.kept), "catalog": None,
              "warnings": warnings}
    failure = None
    for basename in order:
        delete, left_alone = files.of(basename)
        result["left_alone"].extend(left_alone)
        if check_mode:
            result["removed_files"].extend(delete)
            continue
        for path in delete:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                failure = "cannot remove %s: %s" % (path, exc.strerror)
                break
            result["removed_files"].append(path)
        if failure:
            break
    if not check_mode:
        result["changed"] = bool(result["removed_files"])
    if failure:
        # Report only what really went; the catalog is still brought in line with what is left.
        remaining = naming.discover(request.backup_dir, request.name)
        left = set(a.basename for a in remaining)
        result["removed"] = [b for b in result["removed"] if b not in left]
        result["kept"] = len(remaining)
    else:
        remaining = selection.kept
    # A look-alike dar cannot read is no archive to list: dar_manager would refuse it, and the whole sync with it.
    remaining, _unreadable = inventory.catalogable(remaining, dar)
    catalog_failure = None
    if catalog is not None and catalog.exists():
        try:
            result["catalog"] = catalog_mod.sync(catalog, remaining, "present", check_mode=check_mode, now=now)
        except DarBackupError as exc:
            if check_mode:
                raise
            result["catalog"], catalog_failure = _mend_catalog(request, catalog, remaining, exc, now,
                                                               result["removed"] + result["leftovers"])
            if catalog_failure is None:
                warnings.append("bringing catalog %s in line failed (%s); it was rebuilt from the archives on disk"
                                % (catalog.db_path, exc.msg))
        result["changed"] = result["changed"] or bool(result["catalog"] and result["catalog"]["changed"])
    if failure:
        if catalog_failure:
            failure += "; " + catalog_failure
        raise CleanupError(failure + "; removed before the failure: %s" % (", ".join(result["removed"]) or "none"),
                           result)
    if catalog_failure:
        gone = result["removed"] + result["leftovers"]
        raise CleanupError("%s; %s" % ("removed %d archive(s) (%d files): %s" % (
            len(gone), len(result["removed_files"]), ", ".join(gone)) if gone else "nothing was removed",
            catalog_failure), result, phase="catalog")
    return result


def _mend_catalog(request, catalog, remaining, error, now, gone):
    """After sync failed (part way, or after setting a corrupt database aside): rebuild the database from the
    archives left on disk. Returns (the catalog result, None) or (None, what is wrong and how to fix it)."""
    aside = "%s.corrupt-%s" % (catalog.db_path, now.strftime("%Y%m%d-%H%M%S"))
    try:
        os.makedirs(os.path.dirname(catalog.db_path), exist_ok=True)
        catalog_mod.rebuild(catalog, remaining)
    except (DarBackupError, OSError) as again:
        if catalog.exists():
            state = "it may still list archives that are gone"
        elif os.path.exists(aside):
            state = "it was found corrupt and set aside as %s, so there is no catalog now" % aside
        else:
            state = "there is no catalog now"
        fix = "dar.backup.dar_catalog state=present name=%s backup_dir=%s" % (request.name, request.backup_dir)
        if request.catalog_dir:
            fix += " catalog_dir=%s" % request.catalog_dir
        return None, ("the catalog %s could not be brought in line: %s; rebuilding it from the archives on disk "
                      "failed too: %s; %s (restores do not need it); fix it with %s"
                      % (catalog.db_path, error.msg, getattr(again, "msg", None) or again, state, fix))
    return {"db": catalog.db_path, "state": "present", "changed": True, "added": [], "removed": list(gone),
            "corrupt": None, "set_aside": aside if os.path.exists(aside) else None, "action": "rebuild",
            "error": error.msg}, None


class CleanupError(DarBackupError):
    """A removal that failed part way; ``result`` says what was removed before it."""

    def __init__(self, msg, result, phase="remove"):
        super().__init__(msg, phase=phase)
        self.result = result
