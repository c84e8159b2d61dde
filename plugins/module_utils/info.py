# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What exists, read-only: archives and chains per definition, catalog state, ages, sizes, PAR2 coverage."""

from __future__ import annotations

import datetime
import fnmatch
import os
import shutil
import tempfile

from . import catalog as catalog_mod
from . import inventory
from . import naming
from . import records as run_records
from .dar import iter_entries
from .errors import DarBackupError
from .history import Chains
from .par2 import par2_files_for

STATUS_BY_DATA = {"saved": "saved", "referenced": "unchanged", "deleted": "deleted"}


def definitions_in(backup_dir, par2_dir=None):
    """Every definition with an archive, or with what is left of one (a lost slice 1 must not hide it)."""
    names = set(a.name.definition for a in naming.discover(backup_dir))
    return sorted(names | set(s["definition"] for s in inventory.strays(backup_dir, par2_dir=par2_dir)))


def _archive_info(archive, chains, par2_dir, now):
    par2_dir = par2_dir or archive.directory
    protected = [n for n, path in archive.slices if par2_files_for(os.path.basename(path), par2_dir)]
    # Against the manifest (our archives), else dar must read the header (a FULL too: a truncated one has none).
    problems = inventory.archive_problems(archive, chains.header)
    par2_problems = inventory.archive_par2_problems(archive)
    info = {
        "archive": archive.basename, "level": archive.level, "time": archive.timestamp.isoformat(),
        "age_seconds": int((now - archive.timestamp).total_seconds()), "slices": len(archive.slices),
        "complete": archive.contiguous and not problems, "size_bytes": archive.size_bytes,
        "par2": {"slices_protected": len(protected),
                 "complete": len(protected) == len(archive.slices) and not par2_problems,
                 "problems": par2_problems},
        "reference": None, "readable": not problems, "error": problems[0] if problems else None,
        "manifest": inventory.has_manifest(archive), "problems": problems,
    }
    try:
        reference = chains.reference_of(archive)
        info["reference"] = reference.basename if reference else None
    except DarBackupError as exc:
        info.update(readable=False, error=info["error"] or exc.msg)
    return info


def _chains(infos):
    """One entry per FULL with the archives that depend on it, directly or through a DIFF."""
    owner = {}
    result = []
    for info in infos:
        if info["level"] == "FULL":
            owner[info["archive"]] = {"full": info["archive"], "archives": [info["archive"]]}
            result.append(owner[info["archive"]])
        elif info["reference"] in owner:
            chain = owner[info["reference"]]
            chain["archives"].append(info["archive"])
            owner[info["archive"]] = chain
    return result


def _catalog_state(name, backup_dir, catalog_dir, archives):
    try:
        catalog = catalog_mod.Catalog(catalog_mod.database_path(name, backup_dir, catalog_dir))
    except DarBackupError as exc:
        return {"db": None, "exists": False, "error": exc.msg}
    state = {"db": catalog.db_path, "exists": catalog.exists(), "corrupt": None, "in_sync": False,
             "missing": [], "extra": []}
    if not state["exists"]:
        state["missing"] = [a.basename for a in archives]
        return state
    state["corrupt"] = catalog.health()
    if state["corrupt"]:
        return state
    action, added, removed = catalog_mod.plan_sync(catalog.list(), catalog_mod.desired_entries(archives))
    state.update(in_sync=action == "ok", missing=[b for _d, b in added], extra=[b for _n, _d, b in removed],
                 out_of_order=action == "rebuild")
    return state


def versions_of(dar, archives, path):
    """For each archive, oldest first: what it holds of ``path`` (saved, unchanged, deleted or absent)."""
    work = tempfile.mkdtemp(prefix="dar-backup-info-")
    found = []
    try:
        listing = os.path.join(work, "listing.xml")
        for archive in archives:
            dar.list_xml(archive.path, listing, paths=[path])
            with open(listing, "rb") as handle:
                entries = dict((e.path, e) for e in iter_entries(handle.read().decode("utf-8", "surrogateescape")))
            entry = entries.get(path)
            found.append({"archive": archive.basename, "level": archive.level, "time": archive.timestamp.isoformat(),
                          "status": STATUS_BY_DATA.get(entry.data, entry.data) if entry else "absent",
                          "kind": entry.kind.lower() if entry else None,
                          "size": entry.size if entry else None})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return found


# An Ansible result is held in memory on both ends: a listing longer than this is cut, and says so.
MAX_CONTENT_ENTRIES = 100000


def contents_of(dar, backup_dir, archive_name, pattern=None):
    """What one archive records, like dar-backup's --list-contents: each entry's path, kind, size, mtime and
    status (saved in this archive, unchanged since its reference, deleted since then), optionally only the
    paths matching a shell pattern (matched against the whole relative path and against the last component)."""
    name = naming.ArchiveName.parse(archive_name or "")
    if name is None:
        raise DarBackupError("contents %r is not an archive name (<name>_<FULL|DIFF|INCR>_<date>[_<time>])"
                             % (archive_name,), phase="validate")
    archive = dict((a.basename, a) for a in naming.discover(backup_dir, name.definition)).get(archive_name)
    if archive is None:
        raise DarBackupError("archive %s is not in %s" % (archive_name, backup_dir), phase="validate")
    work = tempfile.mkdtemp(prefix="dar-backup-info-")
    try:
        listing = os.path.join(work, "listing.xml")
        dar.list_xml(archive.path, listing)
        with open(listing, "rb") as handle:
            text = handle.read().decode("utf-8", "surrogateescape")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    entries, matched = [], 0
    for entry in iter_entries(text):
        if pattern and not (fnmatch.fnmatchcase(entry.path, pattern)
                            or fnmatch.fnmatchcase(entry.path.rsplit("/", 1)[-1], pattern)):
            continue
        matched += 1
        if len(entries) < MAX_CONTENT_ENTRIES:
            entries.append({"path": entry.path, "kind": entry.kind.lower(), "size": entry.size, "mtime": entry.mtime,
                            "status": STATUS_BY_DATA.get(entry.data, entry.data)})
    return {"archive": archive_name, "pattern": pattern, "entries": entries, "matched": matched,
            "truncated": matched > len(entries)}


def describe(dar, backup_dir, names=None, catalog_dir=None, par2_dir=None, path=None, now=None):
    now = now or datetime.datetime.now().replace(microsecond=0)
    if not os.path.isdir(backup_dir):
        raise DarBackupError("backup_dir %s does not exist" % backup_dir, phase="validate")
    result = {}
    for name in names or definitions_in(backup_dir, par2_dir):
        archives = naming.discover(backup_dir, name)
        chains = Chains(dar, archives)
        infos = [_archive_info(a, chains, par2_dir, now) for a in archives]
        strays = inventory.strays(backup_dir, name, par2_dir, archives)
        newest = {}
        for info in infos:
            newest[info["level"]] = info
        entry = {
            "archives": infos,
            "chains": _chains(infos),
            "catalog": _catalog_state(name, backup_dir, catalog_dir, archives),
            "size_bytes": sum(i["size_bytes"] for i in infos),
            "newest": dict((level, {"archive": i["archive"], "time": i["time"], "age_seconds": i["age_seconds"]})
                           for level, i in newest.items()),
            "par2_complete": all(i["par2"]["complete"] for i in infos),
            "strays": strays,
        }
        if path is not None:
            entry["versions"] = versions_of(dar, [a for a, i in zip(archives, infos) if i["readable"]], path)
        result[name] = entry
    return result


def _record_age(record, now_utc):
    try:
        finished = datetime.datetime.strptime(record.get("finished") or "", "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return None
    return int((now_utc - finished.replace(tzinfo=datetime.timezone.utc)).total_seconds())


def runs_in(state_dir, now_utc=None):
    """The runner's last runs per definition from ``<state_dir>/runs.jsonl`` (+ ``.1``), each with its age.

    No directory or no file means no records (a host whose backups the modules make), not an error.
    """
    now_utc = now_utc or datetime.datetime.now(datetime.timezone.utc)
    found = run_records.last_runs(run_records.read_records(state_dir))
    result = {}
    for name, entry in found.items():
        if not isinstance(name, str):
            continue
        records = [entry["last_run"]] + list(entry["last_runs"].values())
        for record in records:
            record["age_seconds"] = _record_age(record, now_utc)
        result[name] = entry
    return result
