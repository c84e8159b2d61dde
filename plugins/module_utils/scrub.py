# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prove archives against their PAR2 sets, repair what can be repaired, protect what is unprotected."""

from __future__ import annotations

import os
import stat

from . import command
from . import inventory
from . import naming
from .errors import DarBackupError
from .fsutil import make_private, move_into
from .manifest import SUFFIX as MANIFEST_SUFFIX, is_structural
from .par2 import OK, REPAIRABLE, UNREPAIRABLE, par2_files_for

NO_PAR2 = "no_par2"
REPAIRED = "repaired"
MISSING = "missing"


class ScrubRequest(object):
    def __init__(self, backup_dir, names=None, archive=None, par2_dir=None, repair=False, create_missing=False,
                 par2=None, workers=None, fail_on_unprotected=False, test=False):
        self.backup_dir = os.path.abspath(backup_dir)
        if not os.path.isdir(self.backup_dir):
            raise DarBackupError("backup_dir %s does not exist" % self.backup_dir, phase="validate")
        self.names = [naming.check_existing_name(n) for n in names] if names else None
        if archive is not None and naming.ArchiveName.parse(archive) is None:
            raise DarBackupError("archive %r is not an archive name (<name>_<FULL|DIFF|INCR>_<date>[_<time>])"
                                 % (archive,), phase="validate")
        self.archive = archive
        self.par2_dir = os.path.abspath(par2_dir) if par2_dir else None
        self.repair = repair
        self.create_missing = create_missing
        self.par2 = par2  # backup.Par2Settings for create_missing
        self.workers = workers or min(4, os.cpu_count() or 1)
        if self.workers < 1:
            raise DarBackupError("workers must be at least 1", phase="validate")
        self.fail_on_unprotected = fail_on_unprotected
        self.test = test


def select_archives(request, ignored=None):
    found = []
    archives = [a for a in naming.discover(request.backup_dir, ignored=found,
                                           named=[request.archive] if request.archive else ())
                if request.names is None or a.name.definition in request.names]
    if ignored is not None and request.archive is None:
        ignored.extend(a for a in found if request.names is None or a.name.definition in request.names)
    if request.archive is not None:
        archives = [a for a in archives if a.basename == request.archive]
        if not archives:
            raise DarBackupError("archive %s is not in %s" % (request.archive, request.backup_dir), phase="validate")
    return archives


def _slices(archive, par2_dir):
    """Every slice the archive should have (1..highest, or as many as its manifest lists), present or not, with
    the PAR2 files found for it."""
    present = dict(archive.slices)
    highest = max(present)
    try:
        recorded = archive.manifest
    except DarBackupError:
        recorded = None  # reported by _integrity
    if recorded is not None:
        highest = max([highest] + [entry["number"] for entry in recorded["slices"]])
    found = []
    for number in range(1, highest + 1):
        name = "%s.%d.dar" % (archive.basename, number)
        path = present.get(number, os.path.join(archive.directory, name))
        found.append({"slice": name, "path": path, "present": number in present,
                      "par2_files": par2_files_for(name, par2_dir or archive.directory)})
    return found


def _archive_status(slices):
    statuses = [s["status"] for s in slices]
    for status in (UNREPAIRABLE, REPAIRABLE, MISSING, NO_PAR2):
        if status in statuses:
            return UNREPAIRABLE if status == MISSING else status
    return OK


def scrub(request, tools, check_mode=False):
    """Verify every selected slice (in parallel), then repair / create as asked. Returns the result dict."""
    par2, dar = tools["par2"], tools["dar"]
    ignored = []
    archives = select_archives(request, ignored)
    reports = []
    jobs = []
    for archive in archives:
        slices = _slices(archive, request.par2_dir)
        for item in slices:
            if item["par2_files"]:
                jobs.append((item, par2.check_args("verify", item["path"], item["par2_files"])))
            else:
                item["status"] = NO_PAR2 if item["present"] else MISSING
        reports.append((archive, slices))
    for (item, _argv), result in zip(jobs, command.run_many([argv for _item, argv in jobs], request.workers,
                                                            timeout=par2.timeout)):
        item["status"] = par2.verdict(item["path"], result)
        item["rc"] = result.rc

    out = []
    changed = False
    for archive, slices in reports:
        status = _archive_status(slices)
        entry = {"archive": archive.basename, "definition": archive.name.definition, "level": archive.level,
                 "status": status, "slices": [dict((k, v) for k, v in s.items() if k != "path") for s in slices],
                 "detail": None, "par2_created": [], "manifest": inventory.has_manifest(archive), "problems": []}
        _integrity(archive, entry, dar)
        status = entry["status"]
        if status == REPAIRABLE and request.repair:
            entry["detail"] = "would repair" if check_mode else None
            if check_mode:
                changed = True
            else:
                entry.update(_repair(archive, slices, par2, dar))
                changed = changed or entry["status"] == REPAIRED
        elif status == NO_PAR2 and request.create_missing:
            if check_mode:
                entry["detail"] = "would create PAR2 files"
                changed = True
            else:
                entry.update(_protect(archive, slices, request, par2, dar))
                changed = changed or bool(entry["par2_created"])
        out.append(entry)
    if request.test:
        _test_all(archives, out, dar, request.workers)
    warnings = naming.ignored_warnings(ignored, request.backup_dir)
    for stray in inventory.strays(request.backup_dir, par2_dir=request.par2_dir, archives=archives):
        if request.archive is not None and stray["archive"] != request.archive or \
                request.names is not None and stray["definition"] not in request.names:
            continue
        if stray["kind"] == inventory.ORPHANED_PAR2:
            warnings.append(stray["detail"] + "; remove them if the archive was deleted on purpose")
            continue
        # An archive without its slice 1 is an archive lost, not an archive absent.
        out.append({"archive": stray["archive"], "definition": stray["definition"], "level": stray["level"],
                    "status": UNREPAIRABLE, "slices": [], "detail": stray["detail"], "par2_created": [],
                    "manifest": any(f.endswith(MANIFEST_SUFFIX) for f in stray["files"]),
                    "problems": [stray["detail"]], "files": stray["files"]})
    summary = {}
    for entry in out:
        summary[entry["status"]] = summary.get(entry["status"], 0) + 1
    return {"changed": changed, "archives": out, "summary": summary, "warnings": warnings}


def _integrity(archive, entry, dar):
    """The archive against its manifest (every slice there, sizes and SHA-256 equal), or, without one, its header
    read by dar (which needs the true last slice). What PAR2 alone cannot see: a lost last slice together with
    its PAR2 set, an extra slice, bytes changed before a PAR2 set was remade."""
    slice_problems = inventory.archive_problems(archive, lambda a: dar.header(a.path), with_hashes=True)
    entry["problems"] = slice_problems + inventory.archive_par2_problems(archive)
    if entry["problems"]:
        entry["detail"] = "; ".join(entry["problems"])
    # Changed bytes in slices PAR2 found damaged are what a repair fixes; a slice missing or extra, or damage
    # PAR2 did not see (its set was remade over it), is not.
    repairable = entry["status"] == REPAIRABLE and not any(is_structural(p) for p in slice_problems)
    if slice_problems and not repairable:
        entry["status"] = UNREPAIRABLE


def _test_all(archives, entries, dar, workers):
    """dar -t of every archive PAR2 did not find damaged (repaired ones were tested already)."""
    todo = [(archive, entry) for archive, entry in zip(archives, entries) if entry["status"] in (OK, NO_PAR2)]
    results = command.run_many([dar.test_args(a.path) for a, _entry in todo], workers, timeout=dar.timeout)
    for (archive, entry), result in zip(todo, results):
        entry["dar_test"] = result.rc == 0
        if result.rc != 0:
            entry["status"] = UNREPAIRABLE
            entry["detail"] = "dar -t fails (rc %s) although %s" % (
                result.rc, "its PAR2 set matches: it was damaged before PAR2 was made" if entry["slices"]
                and all(s["status"] == OK for s in entry["slices"]) else "it has no PAR2 set to repair it")


def _repair(archive, slices, par2, dar):
    for item in slices:
        if item["status"] == REPAIRABLE:
            par2.repair(item["path"], item["par2_files"])
            item["status"] = REPAIRED
    # par2 proved each slice's bytes; dar -t proves the archive as a whole again.
    try:
        dar.test(archive.path)
    except DarBackupError as exc:
        return {"status": UNREPAIRABLE, "detail": "par2 repaired the slices but dar -t still fails: %s" % exc.msg}
    left = inventory.archive_problems(archive, with_hashes=True)
    if left:
        return {"status": UNREPAIRABLE, "detail": "par2 repaired the slices but they still differ from the "
                                                  "manifest: %s" % "; ".join(left), "problems": left}
    return {"status": REPAIRED, "problems": [], "detail": "repaired %d slice(s); dar -t passes"
            % sum(1 for s in slices if s["status"] == REPAIRED)}


def _protect(archive, slices, request, par2, dar):
    # Never give a damaged archive redundancy that would "repair" files back to the damage.
    try:
        dar.test(archive.path)
    except DarBackupError as exc:
        return {"status": UNREPAIRABLE, "detail": "not protected: dar -t fails: %s" % exc.msg}
    created = []
    redundancy = request.par2.redundancy_for(archive.level)
    for item in slices:
        if item["status"] != NO_PAR2:
            continue
        made = par2.create(item["path"], redundancy, request.par2.block_count)
        # PAR2 data rebuilds the slice: as private as the slice it protects, whatever the umask.
        group_readable = bool(os.stat(item["path"]).st_mode & stat.S_IRGRP)
        for path in made:
            make_private(path, group_readable)
        if request.par2_dir:
            os.makedirs(request.par2_dir, mode=0o750, exist_ok=True)
            made = [move_into(path, request.par2_dir) for path in made]
        item["status"] = OK
        item["par2_files"] = made
        created += made
    return {"status": OK, "par2_created": created, "detail": "created PAR2 files at %d%%" % redundancy}


def describe(entry):
    """One archive's problem in words, naming the slices PAR2 found damaged."""
    damaged = [s["slice"] for s in entry["slices"] if s.get("status") == REPAIRABLE]
    parts = ["damaged: " + ", ".join(damaged)] if entry["status"] == REPAIRABLE and damaged else []
    parts += [entry["detail"]] if entry["detail"] else []
    return "%s is %s%s" % (entry["archive"], entry["status"], " (%s)" % "; ".join(parts) if parts else "")


def failures(result, fail_on_unprotected):
    """The archives that fail the task: unrepairable ones, and unprotected ones when asked."""
    return [a for a in result["archives"]
            if a["status"] == UNREPAIRABLE or (fail_on_unprotected and a["status"] == NO_PAR2)]
