# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore paths as they were at a point in time, into a destination that is never harmed.

The archives are chosen by archive time (the newest archive made at or before ``when``, then the
chain its header records), never by file mtimes and never with ``dar_manager -w``. The chain is
extracted into a private staging directory inside ``dest`` and proven against the archive's listing
(every regular file there, with its recorded size: dar under -Q may skip a file and still exit 0); only
then is the result compared with what ``dest`` holds and moved in, so a refused or failed restore writes
nothing, and restoring the same version twice changes nothing the second time. Without ``owner`` no
restored file is setuid or setgid: a root-owned copy of another user's setuid file is a privilege its owner
never had.
"""

from __future__ import annotations

import fcntl
import fnmatch
import os
import shutil
import stat
import tempfile

from . import catalog as catalog_mod
from . import lock
from . import inventory
from . import naming
from .dar import iter_entries
from .errors import DarBackupError
from .history import Chains, archive_at, parse_when, recorded_reference

# Never restore into these (or below them): a restore must not be able to replace system files.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run",
               "/sbin", "/sys", "/usr", "/var")
ALLOWED_BELOW_SYSTEM = ("/var/tmp",)
STAGING_PREFIX = ".dar-restore-"
SET_ID_BITS = stat.S_ISUID | stat.S_ISGID


def check_dest(dest):
    """The real (symlink-resolved) destination, or a refusal."""
    if not dest or not os.path.isabs(dest):
        raise DarBackupError("dest %r must be an absolute path" % (dest,), phase="validate")
    real = os.path.realpath(dest)
    for allowed in ALLOWED_BELOW_SYSTEM:
        if real == allowed or real.startswith(allowed + "/"):
            return real
    if real == "/" or any(real == d or real.startswith(d + "/") for d in SYSTEM_DIRS):
        shown = dest if real == dest else "%s (which resolves to %s)" % (dest, real)
        raise DarBackupError("dest %s is a system directory; restore into a directory of its own, e.g. "
                             "/var/tmp/restore or /srv/restore" % shown, phase="validate")
    return real


def _inside(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


def archive_places(backup_dir, catalog_dir=None):
    """(what, real path) of the directories a restore must never write into: the archives and their catalog."""
    places = [("backup_dir", backup_dir), ("the work directory", lock.work_root(backup_dir))]
    if catalog_dir:
        places.append(("catalog_dir", catalog_dir))
    return [(what, os.path.realpath(path)) for what, path in places]


def check_dest_outside(real_dest, places):
    """Refuse a dest at or below the archives: an overwrite there would replace slices or the catalog."""
    for what, real in places:
        if _inside(real_dest, real):
            inside = "" if real_dest == real else "inside "
            raise DarBackupError("dest %s is %s%s %s: a restore there could overwrite archives; restore into a "
                                 "directory outside it" % (real_dest, inside, what, real), phase="validate")


def check_paths(paths):
    """Normalised relative paths; '' (everything) when none are given."""
    cleaned = []
    for path in paths or []:
        if not isinstance(path, str) or not path.strip("/"):
            raise DarBackupError("paths entries must be non-empty paths relative to the definition's root, not %r"
                                 % (path,), phase="validate")
        if path.startswith("/"):
            raise DarBackupError("path %r is absolute: give it relative to the definition's root" % path,
                                 phase="validate")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise DarBackupError("path %r must not contain '..'" % path, phase="validate")
        cleaned.append("/".join(parts))
    return sorted(set(cleaned))


class RestoreRequest(object):
    def __init__(self, name, backup_dir, dest, paths=None, when=None, archive=None, overwrite=False, owner=False,
                 catalog_dir=None, selection=None):
        self.name = naming.check_existing_name(name)
        self.backup_dir = os.path.abspath(backup_dir)
        if not os.path.isdir(self.backup_dir):
            raise DarBackupError("backup_dir %s does not exist" % self.backup_dir, phase="validate")
        self.dest = dest
        self.real_dest = check_dest(dest)
        self.places = archive_places(self.backup_dir, catalog_dir)
        check_dest_outside(self.real_dest, self.places)
        self.paths = check_paths(paths)
        self.selection = check_selection(selection)
        if when is not None and archive is not None:
            raise DarBackupError("give when or archive, not both", phase="validate")
        self.when = parse_when(when) if when is not None else None
        self.archive = archive
        self.overwrite = bool(overwrite)
        self.owner = bool(owner)
        self.catalog_dir = catalog_dir
        if self.owner and os.geteuid() != 0:
            raise DarBackupError("owner=true restores file ownership, which needs root; run with become or "
                                 "leave owner=false", phase="validate")


# Each matched path becomes a dar -g argument: past this many, restore a directory instead.
MAX_SELECTED = 20000


def check_selection(patterns):
    """Shell patterns relative to the definition's root; '**' spans directories; a pattern without '/' matches
    a name at any depth (dar-backup's --selection -I '*.NEF')."""
    cleaned = []
    for pattern in patterns or []:
        if not isinstance(pattern, str) or not pattern.strip("/"):
            raise DarBackupError("selection entries must be non-empty patterns, not %r" % (pattern,), phase="validate")
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise DarBackupError("selection pattern %r must be relative to the definition's root, without '..'"
                                 % pattern, phase="validate")
        parts = [p for p in pattern.split("/") if p not in ("", ".")]
        cleaned.append(parts if len(parts) > 1 else ["**"] + parts)
    return cleaned


def glob_matches(parts, path_parts):
    """Whether a relative path (its components) matches a pattern's components: each component by fnmatch
    (so '*' never crosses a '/'), '**' any number of components."""
    if not parts:
        return not path_parts
    if parts[0] == "**":
        return any(glob_matches(parts[1:], path_parts[index:]) for index in range(len(path_parts) + 1))
    return bool(path_parts) and fnmatch.fnmatchcase(path_parts[0], parts[0]) \
        and glob_matches(parts[1:], path_parts[1:])


def select_paths(entries, selection):
    """The paths of the state (not deleted) that some selection pattern matches, sorted."""
    return sorted(path for path, entry in entries.items() if entry.data != "deleted"
                  and any(glob_matches(parts, path.split("/")) for parts in selection))


def _xml_entries(dar, archive, paths, workdir):
    listing = os.path.join(workdir, "listing.xml")
    dar.list_xml(archive.path, listing, paths=paths, phase="plan")
    with open(listing, "rb") as handle:
        text = handle.read().decode("utf-8", errors="surrogateescape")
    os.unlink(listing)
    return dict((e.path, e) for e in iter_entries(text))


def locate(dar, chains, chain, older, paths, workdir, last=None):
    """Per requested path: where its state at the chain's end comes from, or why it cannot be restored."""
    listings = [(archive, last if last is not None and archive is chain[-1] else
                 _xml_entries(dar, archive, paths, workdir)) for archive in chain]
    last_archive, last = listings[-1]
    found = []
    for path in paths:
        entry = last.get(path)
        if entry is None or entry.data == "deleted":
            seen = None
            for archive in reversed(older):
                chains.header(archive)
                earlier = _xml_entries(dar, archive, [path], workdir).get(path)
                if earlier is not None and earlier.data != "deleted":
                    seen = archive
                    break
            found.append({"path": path, "status": "deleted" if seen else "not_found",
                          "last_seen_in": seen.basename if seen else None})
            continue
        if entry.kind == "Directory":
            source = [a.basename for a in chain]
        else:
            source = None
            for archive, entries in reversed(listings):
                candidate = entries.get(path)
                if candidate is not None and candidate.data == "saved":
                    source = archive.basename
                    break
        found.append({"path": path, "status": "found", "kind": entry.kind.lower(), "source": source})
    return found


def expected_files(entries):
    """The regular files the restored state holds, as the last archive of the chain lists them."""
    return sorted((e for e in entries.values() if e.kind == "File" and e.data in ("saved", "referenced")),
                  key=lambda e: e.path)


def needed_bytes(files):
    """A lower bound of the space a restore of ``files`` takes: sparse files (their holes take no space) and
    hard-linked files (one copy for several names, which the listing does not group) are not counted."""
    return sum(e.size or 0 for e in files if not e.sparse and not e.linked)


def free_bytes(path):
    """Free bytes on the filesystem of path (or of its nearest existing parent), as the caller may use them."""
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    st = os.statvfs(probe)
    return (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize


def _mib(count):
    return "%.1f MiB" % (count / 1048576.0)


def check_space(dest, files):
    """Refuse before extracting when the data to restore clearly does not fit (it is staged inside dest)."""
    needed = needed_bytes(files)
    free = free_bytes(dest)
    if needed > free:
        raise DarBackupError(
            "restoring %d file(s) needs at least %d bytes (%s) but the filesystem of %s has %d bytes (%s) free; "
            "free space there, restore fewer paths, or choose another dest" % (
                len(files), needed, _mib(needed), dest, free, _mib(free)), phase="plan")
    return needed, free


def prove_staging(staging, files):
    """Every regular file of the archive's state is in staging with its recorded size, or the restore fails."""
    problems = []
    for entry in files:
        try:
            st = os.lstat(os.path.join(staging, entry.path))
        except FileNotFoundError:
            problems.append("%r is missing" % entry.path)
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append("%r is not a regular file" % entry.path)
        elif entry.size is not None and not entry.dirty and st.st_size != entry.size:
            # A file saved dirty (changing while read) may hold other data than its recorded size says.
            problems.append("%r has %d of its %d bytes" % (entry.path, st.st_size, entry.size))
    if problems:
        raise DarBackupError("the restore is incomplete, so nothing was written: %d of %d file(s) differ from the "
                             "archive's listing: %s%s" % (
                                 len(problems), len(files), "; ".join(problems[:10]),
                                 "; and %d more" % (len(problems) - 10) if len(problems) > 10 else ""),
                             phase="extract")


def drop_set_id_bits(staging):
    """Clear setuid and setgid: the copies belong to the user restoring, not to whoever owned the originals."""
    for rel, st in _walk(staging):
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & SET_ID_BITS:
            os.chmod(os.path.join(staging, rel), stat.S_IMODE(st.st_mode) & ~SET_ID_BITS)


def check_plan_outside(plan, dest, places):
    """Refuse a plan that writes into the archives when they lie below dest (a dest above backup_dir)."""
    for what, real in places:
        if not _inside(real, dest) or real == dest:
            continue
        inner = os.path.relpath(real, dest)
        for rel, _st, action in plan:
            if action == "same":
                continue
            if _inside(rel, inner) or (action == "replace" and _inside(inner, rel)):
                raise DarBackupError("the restore would write %r, which is %s %s; restore into a directory outside "
                                     "it" % (rel, "in" if _inside(rel, inner) else "above", what), phase="compare")


def _walk(top):
    """(relative path, lstat) of everything below top, parents before children, never following links."""
    for current, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            full = os.path.join(current, name)
            yield os.path.relpath(full, top), os.lstat(full)


def _same(src, src_st, dst, dst_st, owner=False):
    if stat.S_IFMT(src_st.st_mode) != stat.S_IFMT(dst_st.st_mode):
        return False
    if stat.S_ISDIR(src_st.st_mode):
        return True
    if owner and (src_st.st_uid, src_st.st_gid) != (dst_st.st_uid, dst_st.st_gid):
        return False
    if stat.S_ISLNK(src_st.st_mode):
        return os.readlink(src) == os.readlink(dst)
    if stat.S_IMODE(src_st.st_mode) != stat.S_IMODE(dst_st.st_mode) or int(src_st.st_mtime) != int(dst_st.st_mtime):
        return False
    if stat.S_ISREG(src_st.st_mode):
        if src_st.st_size != dst_st.st_size:
            return False
        with open(src, "rb") as a, open(dst, "rb") as b:
            while True:
                block_a, block_b = a.read(1 << 20), b.read(1 << 20)
                if block_a != block_b:
                    return False
                if not block_a:
                    return True
    return True


def compare_tree(staging, dest, owner=False):
    """[(rel, lstat, action)] with action create / same / replace, parents first; with ``owner`` a file owned
    by someone else than the restored one differs."""
    plan = []
    replaced_dirs = []
    for rel, st in _walk(staging):
        target = os.path.join(dest, rel)
        if any(rel.startswith(d + "/") for d in replaced_dirs):
            plan.append((rel, st, "create"))
            continue
        try:
            target_st = os.lstat(target)
        except FileNotFoundError:
            plan.append((rel, st, "create"))
            continue
        if _same(os.path.join(staging, rel), st, target, target_st, owner):
            plan.append((rel, st, "same"))
        else:
            plan.append((rel, st, "replace"))
            if stat.S_ISDIR(st.st_mode):
                # What stands in the way (a file, or a symlink that could lead out of dest) is replaced,
                # never followed: everything below is new.
                replaced_dirs.append(rel)
    return _keep_hard_links(plan, dest)


def _keep_hard_links(plan, dest):
    """Files hard-linked in the archive stay linked: when one of them is written, or their copies in dest are
    separate files, every member is moved in from staging ("relink": identical content, no overwrite needed)."""
    groups = {}
    for index, (_rel, st, _action) in enumerate(plan):
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            groups.setdefault((st.st_dev, st.st_ino), []).append(index)
    plan = list(plan)
    for members in groups.values():
        actions = [plan[i][2] for i in members]
        if all(a == "same" for a in actions):
            inodes = set()
            for i in members:
                target_st = os.lstat(os.path.join(dest, plan[i][0]))
                inodes.add((target_st.st_dev, target_st.st_ino))
            if len(inodes) == 1:
                continue
        for i in members:
            if plan[i][2] == "same":
                plan[i] = (plan[i][0], plan[i][1], "relink")
    return plan


def _remove(path):
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def apply_plan(plan, staging, dest, owner=False):
    dirs = []
    for rel, st, action in plan:
        source = os.path.join(staging, rel)
        target = os.path.join(dest, rel)
        if stat.S_ISDIR(st.st_mode):
            if action == "replace":
                _remove(target)
            if action != "same":
                os.mkdir(target, 0o700)
            dirs.append((rel, st, action))
            continue
        if action == "same":
            continue
        if action == "replace" and stat.S_ISDIR(os.lstat(target).st_mode):
            shutil.rmtree(target)
        os.replace(source, target)
    # Directory modes and times last, deepest first: writing into a directory changes its mtime, so an
    # existing directory something was written into gets its saved mtime back too.
    touched = set(os.path.dirname(rel) for rel, _st, action in plan if action != "same")
    for rel, st, action in reversed(dirs):
        target = os.path.join(dest, rel)
        if action != "same":
            if owner:
                os.lchown(target, st.st_uid, st.st_gid)
            os.chmod(target, stat.S_IMODE(st.st_mode))
        if action != "same" or rel in touched:
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _select(request, chains, archives):
    if request.archive is not None:
        if request.archive not in chains.by_name:
            raise DarBackupError("archive %s is not in %s (known: %s)" % (
                request.archive, request.backup_dir, ", ".join(a.basename for a in archives[-5:]) or "none"),
                phase="plan")
        return chains.by_name[request.archive]
    if request.when is None:
        if not archives:
            raise DarBackupError("there are no archives of %s in %s" % (request.name, request.backup_dir),
                                 phase="plan")
        return archives[-1]
    return archive_at(archives, request.when)


def _known_elsewhere(request, chains, archives, target):
    """Archive names the catalog or the headers of later archives know of: evidence of what once existed."""
    names = {}
    db = catalog_mod.database_path(request.name, request.backup_dir, request.catalog_dir)
    if os.path.isfile(db):
        try:
            catalog = catalog_mod.Catalog(db)
            if not catalog.health():
                for _number, _directory, base in catalog.list():
                    names.setdefault(base, "listed in catalog %s" % db)
        except DarBackupError:
            pass  # a catalog we cannot read proves nothing either way
    for archive in archives:
        if archive.sort_key() <= target.sort_key():
            continue
        try:
            recorded = recorded_reference(chains.header(archive))
        except DarBackupError:
            continue  # not needed for this restore; its own damage is reported when it is
        if recorded and recorded[1]:
            names.setdefault(recorded[1], "made against by %s" % archive.basename)
    return names


def check_nothing_newer_missing(request, chains, archives, target, ignored=()):
    """Refuse to pass off an older state as the one asked for when a newer archive has gone missing."""
    # Another user's archive (ignored) is on disk, only not trusted: not evidence of a missing one; its header
    # is never read, so a planted archive cannot claim that one of ours went missing either.
    on_disk = set(a.basename for a in list(archives) + list(ignored))
    missing = []
    for base, evidence in sorted(_known_elsewhere(request, chains, archives, target).items()):
        name = naming.ArchiveName.parse(base)
        if base in on_disk or name is None or name.definition != request.name:
            continue
        if name.sort_key() > target.name.sort_key() and (request.when is None or name.timestamp <= request.when):
            missing.append("%s (%s)" % (base, evidence))
    if missing:
        raise DarBackupError(
            "archive(s) %s are missing from %s; the newest archive there, %s, holds an older state than the one "
            "asked for. Put them back, or choose an earlier when" % (
                ", ".join(missing), request.backup_dir, target.basename), phase="plan")


def _clear_stale_staging(dest):
    for entry in os.listdir(dest):
        if entry.startswith(STAGING_PREFIX):
            path = os.path.join(dest, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)


def check_chain_whole(chain):
    """Every archive of the chain as its manifest recorded it (slices present, sizes equal), before a byte is
    extracted: a truncated slice would otherwise surface as a dar error in the middle of the chain."""
    for archive in chain:
        problems = inventory.archive_problems(archive)
        if problems:
            raise DarBackupError("archive %s, which this restore needs, is damaged (%s): repair it "
                                 "(dar.backup.par2_verify repair=true), or restore an earlier point in time"
                                 % (archive.basename, "; ".join(problems)), phase="plan")


def run_restore(request, dar, check_mode=False):
    ignored = []
    archives = naming.discover(request.backup_dir, request.name, ignored=ignored,
                               named=[request.archive] if request.archive else ())
    warnings = naming.ignored_warnings(ignored, request.backup_dir)
    while True:
        chains = Chains(dar, archives)
        target = _select(request, chains, archives)
        look_alike = request.archive is None and inventory.look_alike(target, chains.header)
        if not look_alike:
            break
        # A file that merely looks like an archive (garbage, foreign, named for the future) is not the state
        # asked for: skip it, and say so.
        warnings.append("%s is skipped: it looks like an archive but dar cannot read it (%s)"
                        % (target.basename, look_alike))
        archives = [a for a in archives if a is not target]
    chain = chains.chain(target)
    check_chain_whole(chain)
    if request.archive is None:
        check_nothing_newer_missing(request, chains, archives, target, ignored)
    older = [a for a in archives if a.sort_key() < target.sort_key()]
    result = {"archive": target.basename, "archives": [a.basename for a in chain],
              "when": request.when.isoformat() if request.when else None,
              "warnings": warnings}
    scratch = tempfile.mkdtemp(prefix="dar-restore-plan-")
    try:
        if request.selection:
            selected = select_paths(_xml_entries(dar, chain[-1], [], scratch), request.selection)
            if not selected:
                raise DarBackupError("selection %s matches nothing in the state of %s; nothing was restored" % (
                    ", ".join("/".join(p) for p in request.selection), target.basename), phase="plan")
            if len(selected) > MAX_SELECTED:
                raise DarBackupError("selection matches %d paths, more than %d: restore their directory with paths "
                                     "instead" % (len(selected), MAX_SELECTED), phase="plan")
            request.paths = sorted(set(request.paths) | set(selected))
            result["selected"] = len(selected)
        # The state the chain ends in: what is located, what must fit, and what staging is proven against.
        final = _xml_entries(dar, chain[-1], request.paths, scratch)
        located = locate(dar, chains, chain, older, request.paths, scratch, last=final) if request.paths else [
            {"path": "", "status": "found", "kind": "directory", "source": result["archives"]}]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    missing = [p for p in located if p["status"] != "found"]
    if missing:
        moment = request.when.isoformat() if request.when else target.basename
        details = []
        for item in missing:
            if item["status"] == "deleted":
                details.append("%s was deleted before %s (last saved in %s)"
                               % (item["path"], moment, item["last_seen_in"]))
            else:
                details.append("%s is in no archive of %s up to %s" % (item["path"], request.name, moment))
        raise DarBackupError("; ".join(details) + "; nothing was restored", phase="plan")
    result["restored"] = located
    expected = expected_files(final)
    result["bytes_needed"], result["bytes_free"] = check_space(request.real_dest, expected)
    dest_exists = os.path.isdir(request.real_dest)
    if check_mode and not dest_exists:
        result.update(changed=True, written=None, msg="would restore into the new directory %s" % request.dest)
        return result
    if not check_mode:
        os.makedirs(request.real_dest, mode=0o700, exist_ok=True)
        staging_parent = request.real_dest
    else:
        staging_parent = None  # check mode extracts outside dest, to compare only
    lock_fd = os.open(request.real_dest, os.O_RDONLY | os.O_DIRECTORY) if dest_exists or not check_mode else None
    written = None
    try:
        if lock_fd is not None and not check_mode:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise DarBackupError("another restore into %s is in progress" % request.dest, phase="lock")
            _clear_stale_staging(request.real_dest)
        staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=staging_parent)
        try:
            for archive in chain:
                dar.extract(archive.path, staging, request.paths, request.owner)
            prove_staging(staging, expected)
            if not request.owner:
                drop_set_id_bits(staging)
            plan = compare_tree(staging, request.real_dest, request.owner)
            check_plan_outside(plan, request.real_dest, request.places)
            conflicts = [rel for rel, _st, action in plan if action == "replace"]
            if conflicts and not request.overwrite:
                shown = ", ".join(repr(c) for c in conflicts[:5]) + (" and %d more" % (len(conflicts) - 5)
                                                                     if len(conflicts) > 5 else "")
                raise DarBackupError("%d path(s) in %s differ from the restored version and overwrite is false: %s; "
                                     "set overwrite=true to replace them, or restore into another dest"
                                     % (len(conflicts), request.dest, shown), phase="compare")
            changes = [rel for rel, _st, action in plan if action != "same"]
            if not check_mode:
                apply_plan(plan, staging, request.real_dest, request.owner)
            written = changes
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise DarBackupError("restore into %s failed: %s: %s"
                             % (request.dest, exc.strerror or exc, exc.filename or ""), phase="extract")
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        if written is None and not dest_exists and not check_mode:
            try:
                os.rmdir(request.real_dest)  # a failed restore leaves no dest it made
            except OSError:
                pass
    result.update(changed=bool(written), written=len(written), unchanged=len(plan) - len(written),
                  files=written[:1000])
    verb = "would restore" if check_mode else "restored"
    result["msg"] = "%s %d path(s) from %s into %s (%d already identical)" % (
        verb, len(written), " + ".join(result["archives"]), request.dest, len(plan) - len(written))
    return result
