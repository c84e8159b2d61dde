# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore drill: sample files of a host's newest archive, check copies restored elsewhere, record the outcome.

The three steps run in different places: ``sample`` on the source host (it reads the live files), ``check``
on the host the sample was restored on (it reads only the restore), ``record`` on the control node.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import random
import shutil
import stat
import tempfile

from . import naming
from .dar import iter_entries
from .errors import DarBackupError
from .fsutil import write_atomically
from .history import Chains
from .restore import check_paths
from .restore_test import parse_size, reservoir_sample

OK = "ok"
MISMATCH = "mismatch"
MISSING = "missing"
NOT_A_FILE = "not_a_file"
CONTROL_NODE = "control node"
# Inventory names that mean the machine ansible runs on.
CONTROL_NODE_NAMES = ("localhost", "127.0.0.1", "::1")
DRILLS_FILE = "drills.json"
_CHUNK = 1024 * 1024


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(path):
    """A path on one line: control characters (a newline in a file name) escaped."""
    return "".join(c if c >= " " and c != "\x7f" else "\\x%02x" % ord(c) for c in path)


def _hash_fd(fd):
    digest = hashlib.sha256()
    while True:
        block = os.read(fd, _CHUNK)
        if not block:
            return digest.hexdigest()
        digest.update(block)


# ---------------------------------------------------------------------------------------------------------
# sample (on the source host)

def present_files(xml_text):
    """Regular files present in the state an archive records (saved in it or unchanged since its reference)."""
    for entry in iter_entries(xml_text):
        if entry.kind == "File" and entry.data in ("saved", "referenced"):
            yield entry


def _unchanged(root, entry):
    """'ok', 'gone' or 'changed': is the live file still the one the archive recorded (size and mtime)?"""
    try:
        st = os.lstat(os.path.join(root, entry.path))
    except FileNotFoundError:
        return "gone"
    except OSError:
        return "changed"
    if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size or int(st.st_mtime) != entry.mtime:
        return "changed"
    return "ok"


def _hash_source(root, entry):
    """sha256 of the live file, or None when it is not (or stops being) the recorded one while it is read."""
    path = os.path.join(root, entry.path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or before.st_size != entry.size or int(before.st_mtime) != entry.mtime:
            return None
        digest = _hash_fd(fd)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (before.st_size, before.st_mtime_ns, before.st_ctime_ns):
        return None
    return digest


def sample(dar, backup_dir, name, root, files=10, seed=None, max_size="100M"):
    """Pick ``files`` random regular files of the newest archive's state that are unchanged on the source since,
    and hash them. The chain and its slice files are returned too, for whoever restores the sample elsewhere."""
    naming.check_existing_name(name)
    if not isinstance(files, int) or isinstance(files, bool) or files < 1:
        raise DarBackupError("files must be a whole number >= 1, not %r" % (files,), phase="validate")
    limit = parse_size(max_size, "max_size")
    if not root or not os.path.isabs(root) or not os.path.isdir(root):
        raise DarBackupError("root %r must be the definition's root, an existing absolute directory" % (root,),
                             phase="validate")
    if not os.path.isdir(backup_dir):
        raise DarBackupError("no archive of %s: backup_dir %s does not exist" % (name, backup_dir))
    archives = naming.discover(backup_dir, name)
    if not archives:
        raise DarBackupError("no archive of %s in %s" % (name, backup_dir))
    newest = archives[-1]
    chain = Chains(dar, archives).chain(newest)
    taken = utc_now()
    work = tempfile.mkdtemp(prefix="dar-backup-drill-")
    try:
        listing = os.path.join(work, "listing.xml")
        dar.list_xml(newest.path, listing, phase="sample")
        with open(listing, "rb") as handle:
            xml_text = handle.read().decode("utf-8", errors="surrogateescape")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counts = {"in_archive": 0, "candidates": 0, "skipped_changed": 0, "skipped_gone": 0, "skipped_size": 0}

    def candidates():
        for entry in present_files(xml_text):
            counts["in_archive"] += 1
            if entry.size is None or entry.mtime is None:
                counts["skipped_changed"] += 1
                continue
            if limit is not None and entry.size > limit:
                counts["skipped_size"] += 1
                continue
            verdict = _unchanged(root, entry)
            if verdict != "ok":
                counts["skipped_" + verdict] += 1
                continue
            counts["candidates"] += 1
            yield entry
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    chosen = []
    for entry in reservoir_sample(candidates(), files, rng):
        digest = _hash_source(root, entry)
        if digest is None:
            counts["skipped_changed"] += 1  # changed while being read: not a candidate after all
            continue
        chosen.append({"path": entry.path, "size": entry.size, "mtime": entry.mtime, "sha256": digest})
    chosen.sort(key=lambda item: item["path"])
    result = {
        "changed": False, "archive": newest.basename, "chain": [a.basename for a in chain],
        "slices": [path for archive in chain for path in archive.slice_paths],
        "files": chosen, "time": _iso(taken),
    }
    result.update(counts)
    if chosen:
        result["msg"] = "sampled %d of %d unchanged file(s) of %s" % (
            len(chosen), counts["candidates"], newest.basename)
    else:
        result["msg"] = "no file of %s is unchanged on the source (%d regular file(s) in it, %d changed since, " \
                        "%d gone, %d over max_size)" % (newest.basename, counts["in_archive"],
                                                        counts["skipped_changed"], counts["skipped_gone"],
                                                        counts["skipped_size"])
    return result


# ---------------------------------------------------------------------------------------------------------
# prepare and check (on the host the sample is restored on)

def _own_private_dir(path, euid):
    """Refuse a scratch directory another user could swap or read: the drill restores private files there."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != euid or stat.S_IMODE(st.st_mode) & 0o022:
        raise DarBackupError(
            "scratch %s is not a directory owned by uid %d and writable only by it (it is %s, uid %d, mode %o); "
            "remove it or choose another scratch directory" % (
                path, euid, "a symlink" if stat.S_ISLNK(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                else "not a directory", st.st_uid, stat.S_IMODE(st.st_mode)), phase="prepare")


def prepare(scratch, dest):
    """An empty dest below scratch, scratch being the caller's own private directory (made 0700 when missing)."""
    for what, value in (("scratch", scratch), ("dest", dest)):
        if not value or not os.path.isabs(value):
            raise DarBackupError("%s %r must be an absolute path" % (what, value), phase="validate")
    scratch = os.path.normpath(scratch)
    rel = os.path.relpath(os.path.normpath(dest), scratch)
    if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
        raise DarBackupError("dest %s must be below scratch %s" % (dest, scratch), phase="validate")
    euid = os.geteuid()
    try:
        if not os.path.lexists(scratch):
            os.makedirs(os.path.dirname(scratch), exist_ok=True)
            try:
                os.mkdir(scratch, 0o700)
            except FileExistsError:
                pass  # another drill made it just now; it is checked below like any existing one
        _own_private_dir(scratch, euid)
        current = scratch
        for part in rel.split(os.sep):
            current = os.path.join(current, part)
            if os.path.lexists(current) and current != os.path.join(scratch, rel):
                _own_private_dir(current, euid)
        target = os.path.join(scratch, rel)
        existed = os.path.lexists(target)
        if existed:
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        os.makedirs(target, 0o700)
    except OSError as exc:
        raise DarBackupError("cannot prepare %s: %s" % (dest, exc.strerror or exc), phase="prepare")
    return {"changed": True, "path": target, "replaced": existed,
            "msg": "%s is a fresh, empty directory" % target}


def _check_expected(files):
    if not isinstance(files, list) or not files:
        raise DarBackupError("files must be the non-empty list of files from state=sample", phase="validate")
    cleaned = []
    for index, item in enumerate(files):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not isinstance(
                item.get("sha256"), str):
            raise DarBackupError("files[%d] must be a dict with path and sha256, as state=sample returns" % index,
                                 phase="validate")
        normal = check_paths([item["path"]])[0]
        if normal != item["path"]:
            raise DarBackupError("files[%d].path %r is not a normalised relative path" % (index, item["path"]),
                                 phase="validate")
        cleaned.append(item)
    return cleaned


def _open_below(dest_fd, relpath):
    """An fd of relpath below dest_fd, never following a symlink (so never leaving dest); or (result, why)."""
    parts = relpath.split("/")
    current = dest_fd
    opened = []
    try:
        for part in parts[:-1]:
            try:
                current = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=current)
            except FileNotFoundError:
                return None, (MISSING, "missing from the restore")
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    return None, (NOT_A_FILE, "%s is not a directory (a symlink or a file)" % shown(part))
                raise
            opened.append(current)
        try:
            return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=current), None
        except FileNotFoundError:
            return None, (MISSING, "missing from the restore")
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None, (NOT_A_FILE, "restored as a symlink, not a regular file")
            raise
    finally:
        for fd in opened:
            os.close(fd)


def check_one(dest_fd, item):
    entry = {"path": item["path"], "expected": item["sha256"], "actual": None}
    try:
        fd, problem = _open_below(dest_fd, item["path"])
        if fd is None:
            entry["result"], entry["detail"] = problem
            return entry
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                entry["result"], entry["detail"] = NOT_A_FILE, "restored as something other than a regular file"
                return entry
            entry["actual"] = _hash_fd(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        entry["result"], entry["detail"] = MISSING, "cannot be read: %s" % (exc.strerror or exc)
        return entry
    if entry["actual"] == entry["expected"]:
        entry["result"], entry["detail"] = OK, ""
    else:
        expected_size = item.get("size")
        if isinstance(expected_size, int) and expected_size != st.st_size:
            why = "content differs (%d bytes, the source had %d)" % (st.st_size, expected_size)
        else:
            why = "content differs (sha256 %s, the source had %s)" % (entry["actual"][:12], entry["expected"][:12])
        entry["result"], entry["detail"] = MISMATCH, why
    return entry


def check(dest, files):
    """Compare the files restored below dest with the sample's checksums."""
    expected = _check_expected(files)
    if not dest or not os.path.isabs(dest):
        raise DarBackupError("dest %r must be an absolute path" % (dest,), phase="validate")
    try:
        dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise DarBackupError("dest %s cannot be opened as a directory: %s" % (dest, exc.strerror), phase="validate")
    try:
        results = [check_one(dest_fd, item) for item in expected]
    finally:
        os.close(dest_fd)
    failures = ["%s: %s" % (shown(r["path"]), r["detail"]) for r in results if r["result"] != OK]
    good = len(results) - len(failures)
    return {"changed": False, "passed": not failures, "files": results, "failures": failures,
            "msg": "%d of %d restored file(s) match the source's checksums" % (good, len(results))}


# ---------------------------------------------------------------------------------------------------------
# record (on the control node)

def _nth(registered, index):
    """The result for one definition from a registered loop variable (or the whole result when the task did
    not loop, as when its host was unreachable); None when there is none."""
    if not isinstance(registered, dict):
        return None
    results = registered.get("results")
    if isinstance(results, list):
        return results[index] if index < len(results) and isinstance(results[index], dict) else None
    return registered


def _broken(result):
    return isinstance(result, dict) and bool(result.get("unreachable") or result.get("failed"))


def _message(result):
    text = str(result.get("msg") or "failed without a message").strip()
    return " ".join(text.split())


def judge(target, sample_result, prepare_result, restore_result, check_result):
    """(error or None, failures, passed) for one drill from the registered task results of its steps."""
    where = target
    if not isinstance(sample_result, dict) or sample_result.get("skipped"):
        return "not sampled", [], False
    if sample_result.get("unreachable"):
        return "source unreachable: %s" % _message(sample_result), [], False
    if sample_result.get("failed"):
        return _message(sample_result), [], False
    if not sample_result.get("files"):
        return "nothing to drill: %s" % _message(sample_result), [], False
    # Each step's own success key: a result without it (skipped, or never registered) means the step did not run.
    for step, result, key in (("prepare", prepare_result, "path"), ("restore", restore_result, "restored"),
                              ("check", check_result, "passed")):
        if not isinstance(result, dict):
            result = {}
        if result.get("unreachable"):
            return "%s unreachable: %s" % (where, _message(result)), [], False
        if result.get("failed"):
            return "%s on %s failed: %s" % (step, where, _message(result)), [], False
        if key not in result:
            return "%s on %s did not run" % (step, where), [], False
    failures = [str(line) for line in check_result.get("failures") or []]
    return None, failures, bool(check_result.get("passed")) and not failures


def target_label(target):
    return CONTROL_NODE if not target or target in CONTROL_NODE_NAMES else target


def build_entries(drills, now=None):
    """{host: {definition: entry}} and the one-line summaries of the failed drills."""
    now = now or utc_now()
    entries = {}
    lines = []
    for drill in drills:
        if not isinstance(drill, dict) or not isinstance(drill.get("host"), str):
            raise DarBackupError("each drills entry needs a host (and target, definitions, sample, restore, check)",
                                 phase="validate")
        host = drill["host"]
        target = target_label(drill.get("target"))
        for index, name in enumerate(drill.get("definitions") or []):
            sample_result = _nth(drill.get("sample"), index)
            error, failures, passed = judge(target, sample_result, _nth(drill.get("prepare"), index),
                                            _nth(drill.get("restore"), index), _nth(drill.get("check"), index))
            good = isinstance(sample_result, dict) and not _broken(sample_result)
            entry = {
                "time": (sample_result.get("time") if good else None) or _iso(now),
                "target": target,
                "archive": sample_result.get("archive") if good else None,
                "files": len(sample_result.get("files") or []) if good else 0,
                "passed": passed,
                "failures": failures,
                "error": error,
            }
            entries.setdefault(host, {})[str(name)] = entry
            if not passed:
                if error is not None:
                    why = error
                else:
                    why = "%d of %d files differ: %s" % (len(failures), entry["files"], "; ".join(failures))
                lines.append("%s %s -> %s: %s" % (host, name, target, why))
    return entries, lines


def _read_existing(path):
    """The drills recorded so far; a file that is not a JSON object is set aside, not merged into."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return {}, None
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        return data, None
    aside = "%s.unreadable-%s" % (path, utc_now().strftime("%Y%m%dT%H%M%SZ"))
    os.replace(path, aside)
    return {}, aside


def record(report_dir, drills, check_mode=False, now=None):
    """Merge these drills into <report_dir>/drills.json: other hosts' and definitions' entries are kept."""
    if not report_dir or not os.path.isabs(report_dir):
        raise DarBackupError("report_dir %r must be an absolute path" % (report_dir,), phase="validate")
    if not isinstance(drills, list):
        raise DarBackupError("drills must be a list", phase="validate")
    entries, lines = build_entries(drills, now)
    path = os.path.join(report_dir, DRILLS_FILE)
    count = sum(len(v) for v in entries.values())
    result = {"changed": bool(entries), "path": path, "drills": entries, "failed_drills": lines, "set_aside": None,
              "msg": "%d drill(s), %d failed, recorded in %s" % (count, len(lines), path)}
    if check_mode or not entries:
        return result
    try:
        os.makedirs(report_dir, exist_ok=True)
        merged, aside = _read_existing(path)
        for host, by_definition in entries.items():
            merged.setdefault(host, {}).update(by_definition)
        write_atomically(path, json.dumps(merged, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise DarBackupError("cannot write %s: %s" % (path, exc.strerror or exc), phase="record")
    result["set_aside"] = aside
    return result
