# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One verified archive for one definition: plan, then create -> test -> restore test -> PAR2 -> publish -> catalog.

The archive is made in a staging directory inside the backup directory and only moved
to its final name once it has passed every check, so a failed or killed run never leaves
a slice that looks like a good archive, and is never cataloged.
"""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import stat
import tempfile
import threading
import time

from . import catalog as catalog_mod
from . import command
from . import inventory
from . import manifest as manifest_mod
from . import naming
from . import restore_test as restore_test_mod
from .dar import Dar, parse_stats, slices_written
from .errors import DarBackupError
from .fsutil import move_into
from .lock import definition_lock, work_root
from .par2 import Par2, check_redundancy, par2_files_of_archive

COMMENT_TAG = "dar.backup"
# PAR2 blocks per slice when none is set. On a 256 MiB slice at 5 % (docs/performance.md): 1000 blocks took
# 60 % of the CPU of par2's own default of 2000 and still repair 50 scattered bad blocks (2000: 100, 500: 25);
# the contiguous damage repaired (about 5 % of the slice) and the PAR2 size are the same for all three.
DEFAULT_PAR2_BLOCK_COUNT = 1000
LEVEL_CHOICES = ("auto", "full", "diff", "incr")


class Interrupted(BaseException):
    """SIGTERM arrived: unwind so that cleanup runs (a BaseException so nothing swallows it)."""


def raise_on_sigterm():
    def handler(signum, _frame):
        raise Interrupted("terminated by signal %d" % signum)
    signal.signal(signal.SIGTERM, handler)


class Par2Settings(object):
    def __init__(self, enabled=True, redundancy=5, redundancy_full=None, redundancy_diff=None,
                 redundancy_incr=None, directory=None, block_count=None, binary=None):
        self.enabled = bool(enabled)
        self.binary = binary  # a par2cmdline-compatible program, by name or path; par2 from PATH when None
        self.redundancy = check_redundancy(redundancy)
        self.per_level = {}
        for level, value in (("FULL", redundancy_full), ("DIFF", redundancy_diff), ("INCR", redundancy_incr)):
            if value is not None:
                self.per_level[level] = check_redundancy(value, "redundancy_%s" % level.lower())
        self.directory = os.path.abspath(directory) if directory else None
        if block_count is not None:
            try:
                block_count = 0 if isinstance(block_count, bool) else int(block_count)
            except (TypeError, ValueError):
                block_count = 0
            if not 1 <= block_count <= 32768:
                raise DarBackupError("par2 block_count must be a whole number from 1 to 32768", phase="validate")
        self.block_count = DEFAULT_PAR2_BLOCK_COUNT if block_count is None else block_count

    def redundancy_for(self, level):
        return self.per_level.get(level, self.redundancy)


class BackupRequest(object):
    def __init__(self, definition, backup_dir, level="auto", full_interval=None, diff_interval=None,
                 min_interval=None, incr_reference="diff", verify=True, restore_test=None, par2=None,
                 catalog=True, catalog_dir=None, timeout=None, group_readable=False):
        self.definition = definition
        # Archive files are private whatever the caller's umask: a slice is the backed-up data in the clear.
        self.file_mode = 0o640 if group_readable else 0o600
        self.backup_dir = os.path.abspath(backup_dir)
        if level not in LEVEL_CHOICES:
            raise DarBackupError("level %r is not one of %s" % (level, ", ".join(LEVEL_CHOICES)), phase="validate")
        if incr_reference not in ("diff", "previous"):
            raise DarBackupError("incr_reference must be diff or previous", phase="validate")
        self.level = level
        self.full_interval = full_interval
        self.diff_interval = diff_interval
        self.min_interval = min_interval
        self.incr_reference = incr_reference
        self.verify = verify
        self.restore_test = restore_test  # RestoreTestSettings or None
        self.par2 = par2 or Par2Settings(enabled=False)
        self.catalog = catalog
        self.catalog_dir = os.path.abspath(catalog_dir) if catalog_dir else None
        self.timeout = timeout
        self.reference = None  # an explicit reference archive (basename) for this one run, see set_reference
        if os.path.realpath(self.backup_dir) == os.path.realpath(definition.root):
            raise DarBackupError("backup_dir %s is the root being backed up: put the archives elsewhere "
                                 "(a subdirectory of root is fine, it is excluded)" % self.backup_dir, phase="validate")

    def set_reference(self, basename):
        """Make this run's DIFF or INCR against the named archive instead of the one the level rule picks
        (dar-backup's --alternate-reference-archive)."""
        name = naming.ArchiveName.parse(basename) if isinstance(basename, str) else None
        if name is None or name.definition != self.definition.name:
            raise DarBackupError("reference %r is not an archive name of definition %s (%s_<FULL|DIFF|INCR>_<date>"
                                 "[_<time>])" % (basename, self.definition.name, self.definition.name),
                                 phase="validate")
        if self.level not in ("diff", "incr"):
            raise DarBackupError("reference needs level=diff or level=incr (the level of the new archive), not %s"
                                 % self.level, phase="validate")
        self.reference = basename

    @property
    def db_path(self):
        return catalog_mod.database_path(self.definition.name, self.backup_dir, self.catalog_dir)


def _age(archive, now):
    return (now - archive.timestamp).total_seconds()


def choose_level(request, archives, now):
    if request.level != "auto":
        return request.level.upper()
    full = naming.newest(archives, "FULL")
    if full is None or (request.full_interval is not None and _age(full, now) >= request.full_interval):
        return "FULL"
    diffs = [a for a in archives if a.level == "DIFF" and a.sort_key() > full.sort_key()]
    if not diffs or (request.diff_interval is not None and _age(diffs[-1], now) >= request.diff_interval):
        return "DIFF"
    return "INCR"


def _plan_on(request, archives, now):
    """(plan, the archives it relies on): the newest for min_interval, else the reference and its chain."""
    if request.min_interval is not None and archives:
        latest = archives[-1]
        if _age(latest, now) < request.min_interval:
            return {"skip": True, "existing": latest, "archives": archives}, [latest]
    level = choose_level(request, archives, now)
    name = naming.ArchiveName(request.definition.name, level, now)
    if request.reference is not None:
        reference = dict((a.basename, a) for a in archives).get(request.reference)
        if reference is None:
            raise DarBackupError("reference %s is not an archive in %s (or its slice 1 is missing)"
                                 % (request.reference, request.backup_dir), phase="plan")
        if reference.sort_key() >= name.sort_key():
            raise DarBackupError("reference %s is not older than the new archive %s: an archive is made against an "
                                 "earlier one" % (request.reference, name.basename), phase="plan")
    else:
        reference = naming.reference_for(level, archives, request.incr_reference)
    plan = {"skip": False, "level": level, "reference": reference, "name": name, "archives": archives}
    return plan, naming.chain_of(reference, archives) if reference else []


def make_plan(request, now, dar=None):
    """What a run would do now, read-only. Raises when it cannot be done (e.g. DIFF with no FULL).

    Every archive the plan relies on is checked first. One with a manifest must match it (slice presence and
    sizes), or the run fails naming it: a DIFF on top of a damaged FULL would be a chain that cannot restore.
    One without a manifest (dar-backup's, older ones) must have a header dar can read (with ``dar``); one that
    cannot is a file that merely looks like an archive: it is skipped with a warning and the plan made again."""
    ignored = []
    archives = naming.discover(request.backup_dir, request.definition.name, ignored=ignored)
    warnings = naming.ignored_warnings(ignored, request.backup_dir)
    checked = set()
    while True:
        plan, relied_on = _plan_on(request, archives, now)
        unreadable = None
        for archive in relied_on:
            if archive.basename in checked:
                continue
            problems = inventory.archive_problems(archive, (lambda a: dar.header(a.path)) if dar is not None else None)
            if problems and (inventory.has_manifest(archive) or archive.basename == request.reference):
                use = "is newer than min_interval" if plan["skip"] else "would be the reference of the new %s" \
                    % plan["level"]
                raise DarBackupError(
                    "archive %s is damaged (%s) and %s: repair it (dar.backup.par2_verify repair=true), make a new "
                    "FULL (level=full), or remove it" % (archive.basename, "; ".join(problems), use), phase="plan")
            if problems:
                unreadable = archive
                warnings.append("%s is skipped: it looks like an archive but dar cannot read it (%s)"
                                % (archive.basename, problems[0]))
                break
            checked.add(archive.basename)
        if unreadable is None:
            plan["warnings"] = warnings
            return plan
        archives = [a for a in archives if a is not unreadable]


def _now():
    return datetime.datetime.now().replace(microsecond=0)


def check_writable_dir(path, what):
    """Create the directory when missing, then prove we can write in it (root ignores mode bits, not ro mounts)."""
    try:
        os.makedirs(path, mode=0o750, exist_ok=True)
    except OSError as exc:
        raise DarBackupError("%s %s cannot be created: %s" % (what, path, exc.strerror), phase="validate")
    if not os.path.isdir(path):
        raise DarBackupError("%s %s is not a directory" % (what, path), phase="validate")
    try:
        fd, probe = tempfile.mkstemp(prefix=".dar-backup-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DarBackupError("%s %s is not writable by uid %d: %s" % (what, path, os.geteuid(), exc.strerror),
                             phase="validate")


def check_private_dir(path, what):
    """Warnings about a directory other users can read or write; a refusal when they can replace what is in it.

    Others who can write may remove or replace our archives, unless the directory is sticky and ours (owned
    by us or root): then they can only add files, which naming.discover ignores as another user's."""
    st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    warnings = []
    if mode & stat.S_IWOTH:
        if not (mode & stat.S_ISVTX and st.st_uid in (os.geteuid(), 0)):
            raise DarBackupError(
                "%s %s is writable by every user (mode %04o%s): anyone could remove or replace its archives; "
                "chmod o-w %s (or, for a shared directory, chmod +t it, owned by uid %d or root)"
                % (what, path, mode, ", sticky but owned by uid %d" % st.st_uid if mode & stat.S_ISVTX else "",
                   path, os.geteuid()), phase="validate")
        warnings.append("%s %s is writable by every user (mode %04o): sticky, so they cannot replace its archives, "
                        "but they can add their own (ignored as another user's); a directory of its own, chmod "
                        "0750, is safer" % (what, path, mode))
    elif mode & stat.S_IROTH:
        warnings.append("%s %s is readable by every user (mode %04o): they can list its archives (the files "
                        "themselves are private); chmod o-rwx %s" % (what, path, mode, path))
    return warnings


def check_private_dirs(request):
    """check_private_dir of every directory the backup writes into."""
    warnings = check_private_dir(request.backup_dir, "backup_dir")
    if request.catalog_dir:
        warnings += check_private_dir(request.catalog_dir, "catalog_dir")
    if request.par2.enabled and request.par2.directory:
        warnings += check_private_dir(request.par2.directory, "par2.dir")
    return warnings


def _check_dir_usable(path, what):
    """Read-only counterpart for check mode: an existing dir must be writable, a missing one creatable."""
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise DarBackupError("%s %s is not writable by uid %d" % (what, path, os.geteuid()), phase="validate")


def _selection_args(request):
    args = request.definition.create_args()
    root = request.definition.root
    # A backup dir inside the tree being saved would archive the archives.
    for inner in (request.backup_dir, request.par2.directory if request.par2.enabled else None, request.catalog_dir):
        if inner and os.path.commonpath([root, inner]) == root and inner != root:
            args += ["-P", os.path.relpath(inner, root)]
    return args


def archive_comment(level, reference):
    """Written into the archive header, so the chain can be read from the archives alone."""
    return "%s level=%s reference=%s" % (COMMENT_TAG, level, reference.basename if reference else "none")


def recover_stale(staging_root, backup_dir, definition, par2_dir=None):
    """Remove what killed runs of this definition left behind (the caller holds its lock)."""
    recovered = []
    prefix = definition + "_"
    for entry in sorted(os.listdir(staging_root)):
        staging = os.path.join(staging_root, entry)
        if not entry.startswith(prefix) or not os.path.isdir(staging) or os.path.islink(staging):
            continue
        name = naming.ArchiveName.parse(entry)
        if name is None or name.definition != definition:
            continue
        # An interrupted publication may have moved PAR2 files and the last slices, but never slice 1:
        # take them back out.
        if not os.path.exists(os.path.join(backup_dir, entry + ".1.dar")):
            for _number, path in slices_written(backup_dir, entry):
                os.unlink(path)
            if os.path.isfile(manifest_mod.manifest_path(backup_dir, entry)):
                os.unlink(manifest_mod.manifest_path(backup_dir, entry))
            for directory in set([backup_dir, par2_dir or backup_dir]):
                for path in par2_files_of_archive(directory, entry):
                    os.unlink(path)
        shutil.rmtree(staging, ignore_errors=True)
        recovered.append(entry)
    return recovered


def _unpublish(paths):
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


class BackupRun(object):
    """Executes one plan. Each phase records its duration; any failure removes the staging area."""

    def __init__(self, request, plan, tools):
        self.request = request
        self.plan = plan
        self.dar = tools["dar"]
        self.par2 = tools.get("par2")
        self.catalog = tools.get("catalog")
        self.durations = {}
        self.warnings = []
        self.phase = "create"
        self.digests = {}

    def _timed(self, phase, func, *args):
        self.phase = phase
        started = time.monotonic()
        try:
            return func(*args)
        finally:
            self.durations[phase] = round(time.monotonic() - started, 3)

    def _step(self, phase, func, *args):
        """One timed step of the concurrent part: it cannot use self.phase, so errors carry their phase."""
        started = time.monotonic()
        try:
            return func(*args)
        except OSError as exc:
            raise DarBackupError("%s: %s" % (exc.strerror or exc, exc.filename or ""), phase=phase)
        finally:
            self.durations[phase] = round(time.monotonic() - started, 3)

    def _verify_and_restore_test(self, target, result, started_epoch):
        request = self.request
        if request.verify:
            self._step("verify", self.dar.test, target)
            result["verify"]["passed"] = True
        if request.restore_test is not None:
            report = self._step("restore_test", restore_test_mod.run, self.dar, target,
                                request.definition.root, request.restore_test, started_epoch,
                                result["level"] != "FULL")
            result["restore_test"].update(report)
            if report.get("warning"):
                self.warnings.append(report["warning"])
            # None is "nothing was compared" (warned above), not a failure: only False fails.
            if report["passed"] is False:
                bad = [f for f in report["files"] if f["result"] == restore_test_mod.FAILED]
                raise DarBackupError(
                    "restore test failed for %d of %d sampled files; first: %s: %s"
                    % (len(bad), report["sampled"], bad[0]["path"], bad[0]["detail"]), phase="restore_test")

    def _par2(self, slices, result, stop=None):
        request = self.request
        redundancy = request.par2.redundancy_for(result["level"])
        result["par2"]["redundancy"] = redundancy
        return self._step("par2", self.par2.create_all, [path for _number, path in slices], redundancy,
                          request.par2.block_count, par2_workers(len(slices)), stop)

    def _check_and_protect(self, target, slices, result, started_epoch):
        """dar -t and the restore test run in a second thread beside PAR2 creation: all of them only read the
        staged slices, and nothing is published before every one has passed. The first failure stops the
        other side (its processes are killed) and is raised with its own phase."""
        request = self.request
        checks = request.verify or request.restore_test is not None
        if not request.par2.enabled or not checks:
            self.phase = "verify"
            self._verify_and_restore_test(target, result, started_epoch)
            self._hash_slices(slices)
            self.phase = "par2"
            return self._par2(slices, result) if request.par2.enabled else []
        scope = command.Scope()
        outcome = {}

        def run_checks():
            try:
                command.run_in_scope(scope, self._verify_and_restore_test, target, result, started_epoch)
                # The slices were just read by dar -t and the restore test: hashing them now reads the page cache.
                self._hash_slices(slices)
            except BaseException as exc:  # handed over to the main thread, which raises it
                outcome["error"] = exc

        thread = threading.Thread(target=run_checks, name="dar-backup-checks")
        thread.daemon = True
        self.phase = "par2"
        thread.start()
        try:
            try:
                par2_made = self._par2(slices, result, stop=lambda: "error" in outcome)
            except command.Stopped:
                par2_made = []  # the checks failed: their error is raised below
            # Signals reach only this thread: wait in short steps so SIGTERM still interrupts.
            while thread.is_alive():
                thread.join(0.05)
        except BaseException:
            scope.cancel()
            thread.join()
            raise
        if "error" in outcome:
            raise outcome["error"]
        return par2_made

    def _hash_slices(self, slices):
        self.digests.update(self._step("hash", manifest_mod.digests, [path for _number, path in slices]))

    def _write_manifest(self, staging, name, reference, slices, par2_made, result, started_epoch):
        request = self.request
        self.digests.update(manifest_mod.digests(par2_made))
        par2_rel = None
        if request.par2.enabled and request.par2.directory:
            par2_rel = os.path.relpath(request.par2.directory, request.backup_dir)
        record = manifest_mod.build(name, reference.basename if reference else None, slices, par2_made, par2_rel,
                                    self.digests, self.dar.version(), started_epoch, os.geteuid(),
                                    result["par2"].get("redundancy"))
        path = manifest_mod.manifest_path(staging, name.basename)
        manifest_mod.write(path, record, mode=request.file_mode)
        return path

    def run(self, staging_root):
        request = self.request
        name = self.plan["name"]
        reference = self.plan["reference"]
        staging = os.path.join(staging_root, name.basename)
        os.mkdir(staging, 0o700)
        target = os.path.join(staging, name.basename)
        published = []
        result = {
            "archive": name.basename, "level": name.level,
            "reference": reference.basename if reference else None,
            "verify": {"enabled": bool(request.verify), "passed": None},
            "restore_test": {"enabled": request.restore_test is not None, "passed": None, "files": []},
            "par2": {"enabled": request.par2.enabled, "files": []},
            "catalog": {"enabled": bool(request.catalog), "db": request.db_path if request.catalog else None,
                        "added": False, "created": False},
        }
        started_epoch = time.time()
        try:
            create, warning = self._timed("create", self.dar.create, target, _selection_args(request),
                                          reference.path if reference else None,
                                          archive_comment(name.level, reference))
            result["dar_rc"] = create.rc
            result["dar_stats"] = parse_stats(create.stdout)
            if warning:
                self.warnings.append(warning)
            selected = sum(result["dar_stats"].get(k, 0)
                           for k in ("saved", "not_saved", "metadata_only", "changed_while_saving", "failed"))
            if "saved" in result["dar_stats"] and selected == 0:
                self.warnings.append(
                    "definition %s selects nothing under %s: the archive holds no file (%d excluded by its include/"
                    "exclude); check root and include" % (request.definition.name, request.definition.root,
                                                          result["dar_stats"].get("excluded", 0)))
            slices = slices_written(staging, name.basename)
            if not slices:
                raise create.error("dar -c exited %s but wrote no slice for %s" % (create.rc, name.basename), "create")
            par2_made = self._check_and_protect(target, slices, result, started_epoch)
            self.phase = "publish"
            started = time.monotonic()
            manifest_path = self._write_manifest(staging, name, reference, slices, par2_made, result, started_epoch)
            # Private whatever the umask: the slices are the backed-up data in the clear.
            for path in par2_made + [path for _number, path in slices]:
                os.chmod(path, request.file_mode)
            par2_dest = request.par2.directory or request.backup_dir
            if par2_made and request.par2.directory:
                os.makedirs(par2_dest, mode=0o750, exist_ok=True)
            for path in par2_made:
                published.append(move_into(path, par2_dest))
            # The manifest before any slice, so a visible archive always has one; then the last slice first:
            # slice 1 is what makes an archive visible, so it arrives last.
            published.append(move_into(manifest_path, request.backup_dir))
            for _number, path in reversed(slices):
                published.append(move_into(path, request.backup_dir))
            self.durations["publish"] = round(time.monotonic() - started, 3)
        except BaseException as exc:
            _unpublish(published)
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                raise DarBackupError("%s: %s" % (exc.strerror or exc, exc.filename or ""), phase=self.phase)
            raise
        shutil.rmtree(staging, ignore_errors=True)
        final_slices = [p for p in published if p.endswith(".dar")]
        final_slices.sort(key=lambda p: int(p.rsplit(".", 2)[-2]))
        result["archive_path"] = os.path.join(request.backup_dir, name.basename)
        result["manifest"] = manifest_mod.manifest_path(request.backup_dir, name.basename)
        result["slices"] = final_slices
        result["size_bytes"] = sum(os.stat(p).st_size for p in final_slices)
        result["par2"]["files"] = [p for p in published if p.endswith(".par2")]
        result["par2"]["dir"] = par2_dest if request.par2.enabled else None
        result["par2"]["size_bytes"] = sum(os.stat(p).st_size for p in result["par2"]["files"])
        if request.catalog:
            started = time.monotonic()
            try:
                result["catalog"]["created"] = self.catalog.ensure()
                result["catalog"]["also_added"] = self._catalog_published(request, name)
                result["catalog"]["added"] = True
            except DarBackupError as exc:
                exc.msg = ("archive %s was made and verified, but registering it in catalog %s failed: %s; "
                           "fix the catalog and re-add it (dar.backup.dar_catalog state=present)"
                           % (name.basename, request.db_path, exc.msg))
                exc.args = (exc.msg,)
                raise
            finally:
                self.durations["catalog"] = round(time.monotonic() - started, 3)
        return result

    def _catalog_published(self, request, name):
        """Register the new archive, and any published archive an earlier run could not register (killed
        while cataloging): the catalog then lists every archive on disk, in time order. Returns the others."""
        archives, _warnings = inventory.catalogable(naming.discover(request.backup_dir, request.definition.name),
                                                    self.dar)  # the plan warned of them already
        action, added, _removed = catalog_mod.plan_sync(self.catalog.list(), catalog_mod.desired_entries(archives))
        if action == "append":
            for directory, base in added:
                self.catalog.add(os.path.join(directory, base))
        elif action != "ok":
            catalog_mod.rebuild(self.catalog, archives)
        return [base for _directory, base in added if base != name.basename]


# More par2 processes than this would mostly compete for the disk (and each holds its own buffers).
MAX_PAR2_WORKERS = 4


def par2_workers(slices):
    """par2 processes at a time: one per core, as par2's own threads leave cores idle while it hashes."""
    return max(1, min(slices, os.cpu_count() or 1, MAX_PAR2_WORKERS))


def _tools(request):
    """Find every program before anything is written, so a missing one changes nothing."""
    tools = {"dar": Dar(timeout=request.timeout)}
    if request.par2.enabled:
        tools["par2"] = Par2(binary=request.par2.binary, timeout=request.timeout)
    if request.catalog:
        tools["catalog"] = catalog_mod.Catalog(request.db_path, timeout=request.timeout, mode=request.file_mode)
    return tools


def _plan_summary(plan):
    return {
        "archive": plan["name"].basename, "level": plan["name"].level,
        "reference": plan["reference"].basename if plan["reference"] else None,
    }


def run_backup(request, check_mode=False, now=None, tools=None):
    """The whole job. Returns a result dict with ``changed``; raises DarBackupError with the phase."""
    started = time.monotonic()
    tools = tools if tools is not None else _tools(request)
    # read-only: bad requests fail before anything is written
    plan = make_plan(request, now or _now(), tools.get("dar"))
    if plan["skip"]:
        existing = plan["existing"]
        return {"changed": False, "up_to_date": True, "archive": existing.basename, "level": existing.level,
                "archive_path": existing.path, "msg": "archive %s is newer than min_interval; nothing to do"
                % existing.basename, "warnings": plan["warnings"]}
    if check_mode:
        _check_dir_usable(request.backup_dir, "backup_dir")
        dir_warnings = check_private_dir(request.backup_dir, "backup_dir") if os.path.isdir(request.backup_dir) else []
        summary = _plan_summary(plan)
        summary.update({"changed": True, "msg": "would create %s" % summary["archive"],
                        "warnings": dir_warnings + plan["warnings"]})
        return summary
    check_writable_dir(request.backup_dir, "backup_dir")
    if request.catalog_dir:
        check_writable_dir(request.catalog_dir, "catalog_dir")
    if request.par2.enabled and request.par2.directory:
        check_writable_dir(request.par2.directory, "par2.dir")
    dir_warnings = check_private_dirs(request)
    lock = definition_lock(request.backup_dir, request.definition.name)
    staging_root = work_root(request.backup_dir)
    with lock:
        recovered = recover_stale(staging_root, request.backup_dir, request.definition.name,
                                  request.par2.directory)
        # Plan again under the lock: a run that just finished may have changed what is on disk.
        plan = make_plan(request, now or _now(), tools.get("dar"))
        if plan["skip"]:
            existing = plan["existing"]
            return {"changed": False, "up_to_date": True, "archive": existing.basename, "level": existing.level,
                    "archive_path": existing.path, "recovered": recovered, "warnings": dir_warnings + plan["warnings"]}
        while _name_taken(request, staging_root, plan["name"].basename):
            time.sleep(1.05 - (time.time() % 1))
            plan = make_plan(request, _now(), tools.get("dar"))
        backup = BackupRun(request, plan, tools)
        backup.warnings.extend(dir_warnings + plan["warnings"])
        result = backup.run(staging_root)
    result.update({"changed": True, "recovered": recovered, "warnings": backup.warnings,
                   "durations": dict(backup.durations, total=round(time.monotonic() - started, 3))})
    result["msg"] = "made %s archive %s (%d slice(s), %d bytes)" % (
        result["level"], result["archive"], len(result["slices"]), result["size_bytes"])
    return result


def _name_taken(request, staging_root, basename):
    return (os.path.exists(os.path.join(request.backup_dir, basename + ".1.dar"))
            or os.path.exists(os.path.join(staging_root, basename)))
