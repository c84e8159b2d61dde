# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dar-backup-run: the command systemd timers run on each host, over the very engine the modules use.

Installed on a host as the package ``dar_backup_engine`` (these module_utils files plus an empty
``__init__.py``) with an entry script doing ``from dar_backup_engine.runner import main; sys.exit(main())``.
Only the standard library and relative imports of the engine: no Ansible on the host.

It reads one JSON config (the configure role renders it), runs one job per definition, appends one
run record per definition to ``<state_dir>/runs.jsonl``, notifies as configured, prints one line per
definition on stdout and one line per problem on stderr, and exits with

  0   every job succeeded (warnings are printed, and still 0)
  1   a job failed
  2   usage or configuration error (nothing was run)
  75  a definition's lock is held by another run (EX_TEMPFAIL: try again later)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import sys
import time

from . import backup as backup_mod
from . import info as info_mod
from . import lock as lock_mod
from . import naming
from . import notify as notify_mod
from . import restore as restore_mod
from . import scrub as scrub_mod
from . import settings as settings_mod
from .dar import Dar
from .errors import DarBackupError
from .par2 import Par2
from .records import (ERROR_LIMIT, FAILURE, RECORDS_FILE, SKIPPED, SUCCESS, WARNING, append_record, iso,
                      last_runs, new_record, one_line, read_records, utc_now)

PROG = "dar-backup-run"
DEFAULT_CONFIG = "/etc/dar-backup/config.json"
CONFIG_ENV = "DAR_BACKUP_CONFIG"
DEFAULT_STATE_DIR = "/var/lib/dar-backup"
DEFAULT_SECRETS_FILE = "/etc/dar-backup/notify.json"
# The commands whose runs ping the healthchecks URL. Only backups: the check says "backups arrive", and
# a daily cleanup or verify that succeeds must not turn it green again after a failed backup.
PING_COMMANDS = ("backup",)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75

TOP_OPTIONS = {
    "backup_dir": settings_mod.option("path", required=True),
    "catalog_dir": settings_mod.option("path"),
    "state_dir": settings_mod.option("path", DEFAULT_STATE_DIR),
    "timeout": settings_mod.option("int", 86400),
    "cleanup": settings_mod.option("dict", {}, options={
        "diff_age": settings_mod.option("int", 100),
        "incr_age": settings_mod.option("int", 40),
    }),
    "notify": settings_mod.option("dict", {}, options={
        "on": settings_mod.option("str", "failure", choices=notify_mod.NOTIFY_ON),
        "secrets_file": settings_mod.option("path", DEFAULT_SECRETS_FILE),
    }),
}


class ConfigError(Exception):
    """The config cannot be used; the message is one line naming the file, definition and key."""


class UsageError(Exception):
    """The command line cannot be used."""


# --- output -----------------------------------------------------------------------------------------------

def _emit(stream, text):
    data = (text + "\n").encode(getattr(stream, "encoding", None) or "utf-8", "backslashreplace")
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        buffer.write(data)
    else:
        stream.write(data.decode(getattr(stream, "encoding", None) or "utf-8", "replace"))
    stream.flush()


def out(text):
    _emit(sys.stdout, text)


def err(phase, text):
    _emit(sys.stderr, "%s: %s: %s" % (PROG, phase, one_line(text)))


# --- config -----------------------------------------------------------------------------------------------

def config_path(arg=None):
    return arg or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ConfigError("duplicate key %r" % key)
        result[key] = value
    return result


def parse_config(data, path="config"):
    """A config mapping (parsed JSON) -> normalized config; raises ConfigError with a one-line message."""
    def fail(where, msg):
        raise ConfigError("config %s: %s%s" % (path, where, msg))

    if not isinstance(data, dict):
        fail("", "must be a JSON object")
    if "definitions" not in data:
        fail("", "definitions: is required (an object of definition name -> settings)")
    data = dict(data)
    definitions = data.pop("definitions")
    try:
        config = settings_mod.normalize(data, TOP_OPTIONS)
    except settings_mod.OptionError as exc:
        if exc.detail.startswith("unknown key") and "." not in exc.key:
            fail("", "%s: unknown key (known: %s)" % (exc.key, ", ".join(sorted(list(TOP_OPTIONS) + ["definitions"]))))
        fail("", exc.msg)
    if config["timeout"] < 0:
        fail("", "timeout: must be 0 (no limit) or more seconds")
    for key in ("diff_age", "incr_age"):
        if config["cleanup"][key] < 0:
            fail("", "cleanup.%s: must be 0 or more days" % key)
    if not isinstance(definitions, dict):
        fail("", "definitions: must be an object of definition name -> settings")
    config["definitions"] = {}
    for name, options in definitions.items():
        try:
            naming.check_definition_name(name)
        except DarBackupError as exc:
            fail("", "definition %r: bad name: %s" % (name, exc.msg))
        try:
            normalized = settings_mod.normalize(options, settings_mod.DEFINITION_OPTIONS)
            normalized.update(name=name, backup_dir=config["backup_dir"], catalog_dir=config["catalog_dir"],
                              timeout=config["timeout"])
            settings_mod.check_values(normalized)
        except settings_mod.OptionError as exc:
            fail("definition %s: " % name, exc.msg)
        config["definitions"][name] = normalized
    return config


def load_config(path):
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError("cannot read config %s: %s" % (path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise ConfigError("config %s: not UTF-8 text" % path)
    try:
        data = json.loads(text, object_pairs_hook=no_duplicate_keys)
    except ConfigError as exc:
        raise ConfigError("config %s: %s" % (path, exc))
    except ValueError as exc:
        raise ConfigError("config %s: not valid JSON: %s" % (path, exc))
    config = parse_config(data, path)
    config["path"] = path
    return config


def pick_definitions(config, names, use_all=False):
    """The definitions a command runs for, in config order; UsageError for unknown names."""
    known = list(config["definitions"])
    if use_all or not names:
        return known
    unknown = [n for n in names if n not in config["definitions"]]
    if unknown:
        raise UsageError("definition %s is not in config %s (known: %s)"
                         % (unknown[0], config["path"], ", ".join(known) or "none"))
    seen = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen


# --- jobs ---------------------------------------------------------------------------------------------------

def lock_busy(exc):
    """The engine's definition lock (or a restore's dest lock) is held by another run."""
    return isinstance(exc, DarBackupError) and exc.phase == "lock" and "in progress" in (exc.msg or "")


class Job(object):
    """One command for one definition: times it, classifies the outcome, notifies, records, prints."""

    def __init__(self, ctx, command, definition):
        self.ctx = ctx
        self.record = new_record(command, definition)
        self.message = ""
        self.interrupted = None
        self.notify_errors = []

    def _ping(self, event):
        if self.record["command"] in PING_COMMANDS:
            self.notify_errors.append(notify_mod.healthchecks(self.record, self.ctx["config"]["notify"], event))

    def run(self, func):
        record = self.record
        started = utc_now()
        clock = time.monotonic()
        record["started"] = iso(started)
        self._ping("start")
        try:
            self.message = func(record) or ""
            record["status"] = WARNING if record["warnings"] else SUCCESS
        except DarBackupError as exc:
            record["failed_phase"] = exc.phase or "run"
            record["error"] = one_line(exc.msg)
            record["status"] = SKIPPED if lock_busy(exc) else FAILURE
            if exc.rc is not None:
                record["failed_rc"] = exc.rc
            if exc.stderr:
                record["failed_stderr"] = exc.stderr[-ERROR_LIMIT:]
        except (backup_mod.Interrupted, KeyboardInterrupt) as exc:
            # Stop here (no further definitions), but record and report the run first.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            record.update(status=FAILURE, failed_phase="interrupted",
                          error=one_line(str(exc) or "interrupted (Ctrl-C)"))
            self.interrupted = exc
        except Exception as exc:  # pylint: disable=broad-except
            record.update(status=FAILURE, failed_phase="internal", error=one_line("%s: %s" % (type(exc).__name__, exc)))
        record["finished"] = iso(utc_now())
        record["duration"] = round(time.monotonic() - clock, 3)
        record["durations"].setdefault("total", record["duration"])
        self._finish()
        return record

    def _finish(self):
        record = self.record
        name = record["definition"]
        self.notify_errors.append(notify_mod.notify(record, self.ctx["config"]["notify"]))
        self._ping(notify_mod.healthchecks_event(record["status"]))
        errors = []
        for error in self.notify_errors:
            if error and error not in errors:
                errors.append(error)
        record["notify_error"] = "; ".join(errors) or None
        try:
            append_record(self.ctx["config"]["state_dir"], record)
        except Exception as exc:  # pylint: disable=broad-except
            err("record", "cannot write the run record of %s to %s: %s"
                % (name, os.path.join(self.ctx["config"]["state_dir"], RECORDS_FILE),
                   getattr(exc, "strerror", None) or exc))
        status = record["status"]
        if status in (SUCCESS, WARNING):
            extra = " (%d warning(s))" % len(record["warnings"]) if record["warnings"] else ""
            out("%s: %s: %s%s" % (name, status, self.message, extra))
            for warning in record["warnings"]:
                err("warning", "%s: %s" % (name, warning))
        else:
            out("%s: %s: %s: %s" % (name, status, record["failed_phase"], record["error"]))
            err(record["failed_phase"], "%s: %s" % (name, record["error"]))
        if record["notify_error"]:
            err("notify", "%s: %s" % (name, record["notify_error"]))


def _backup(ctx, name, level):
    options = dict(ctx["config"]["definitions"][name])
    if level:
        options["level"] = level

    def work(record):
        if options.get("level") not in (None, "auto"):
            # Known before anything can fail: an alert about a run that never started still names its level.
            record["level"] = options["level"].upper()
        request = settings_mod.request_from_options(options)
        try:
            plan = backup_mod.make_plan(request, datetime.datetime.now().replace(microsecond=0))
            if not plan["skip"]:
                record["level"] = plan["level"]
                record["reference"] = plan["reference"].basename if plan["reference"] else None
        except DarBackupError:
            pass  # run_backup reports it with its phase
        result = backup_mod.run_backup(request)
        record.update(level=result.get("level"), archive=result.get("archive"), reference=result.get("reference"))
        if result.get("up_to_date"):
            record["up_to_date"] = True
            return result.get("msg") or "archive %s is newer than min_interval; nothing to do" % result["archive"]
        rt = result.get("restore_test") or {}
        record.update(
            durations=dict(result.get("durations") or {}), size_bytes=result.get("size_bytes"),
            par2_size_bytes=(result.get("par2") or {}).get("size_bytes"), dar_rc=result.get("dar_rc"),
            verify_passed=(result.get("verify") or {}).get("passed"),
            restore_test={"passed": rt.get("passed"), "sampled": rt.get("sampled", 0),
                          "failed": sum(1 for f in rt.get("files", []) if f.get("result") == "failed")}
            if rt.get("enabled") else None,
            catalog_added=(result.get("catalog") or {}).get("added"),
            warnings=list(result.get("warnings") or []), slices=len(result.get("slices") or []),
            recovered=list(result.get("recovered") or []))
        return "%s in %.1fs" % (result["msg"], record["durations"].get("total", 0))
    return work


def _verify(ctx, name, repair, create_missing):
    options = ctx["config"]["definitions"][name]

    def work(record):
        request = scrub_mod.ScrubRequest(options["backup_dir"], names=[name], par2_dir=options["par2"]["dir"],
                                         repair=repair, create_missing=create_missing,
                                         par2=settings_mod.par2_settings(options))
        tools = {"par2": Par2(binary=options["par2"]["binary"], timeout=options["timeout"]),
                 "dar": Dar(timeout=options["timeout"])}
        if repair or create_missing:
            # Repair and protection write beside the archives: not while a backup or cleanup of them runs.
            with lock_mod.definition_lock(options["backup_dir"], name):
                result = scrub_mod.scrub(request, tools)
        else:
            result = scrub_mod.scrub(request, tools)
        archives = result["archives"]
        record["warnings"].extend(result.get("warnings") or [])
        record["verify"] = {
            "archives": len(archives), "summary": result["summary"],
            "repaired": [a["archive"] for a in archives if a["status"] == scrub_mod.REPAIRED],
            "par2_created": sum(len(a["par2_created"]) for a in archives),
            "problems": [{"archive": a["archive"], "status": a["status"], "detail": a["detail"]}
                         for a in archives if a["status"] not in (scrub_mod.OK, scrub_mod.REPAIRED)],
        }
        unprotected = [a["archive"] for a in archives if a["status"] == scrub_mod.NO_PAR2]
        if unprotected and options["par2"]["enabled"]:
            record["warnings"].append("%d archive(s) have no PAR2 files: %s; run verify %s --create-missing"
                                      % (len(unprotected), ", ".join(unprotected[:5]), name))
        bad = scrub_mod.failures(result, False)
        damaged = [a for a in archives if a["status"] == scrub_mod.REPAIRABLE]
        if bad or damaged:
            parts = [scrub_mod.describe(a) for a in bad + damaged]
            hint = "; run verify %s --repair" % name if damaged else ""
            raise DarBackupError("%d archive(s) failed the PAR2 check: %s%s" % (len(parts), "; ".join(parts), hint),
                                 phase="verify")
        summary = ", ".join("%d %s" % (count, status) for status, count in sorted(result["summary"].items()))
        return "verified %d archive(s)%s" % (len(archives), ": " + summary if summary else "")
    return work


def _restore(ctx, name, args):
    options = ctx["config"]["definitions"][name]

    def work(record):
        request = restore_mod.RestoreRequest(name, options["backup_dir"], args.dest, paths=args.path or [],
                                             when=args.when, archive=args.archive, overwrite=args.overwrite,
                                             owner=args.owner)
        result = restore_mod.run_restore(request, Dar(timeout=options["timeout"]))
        record["warnings"].extend(result.get("warnings") or [])
        record["archive"] = result["archive"]
        record["restore"] = {"dest": args.dest, "paths": list(args.path or []), "when": result.get("when"),
                             "archives": result.get("archives"), "written": result.get("written"),
                             "unchanged": result.get("unchanged")}
        return result["msg"]
    return work


def _cleanup(ctx, name):
    options = ctx["config"]["definitions"][name]
    ages = ctx["config"]["cleanup"]

    def work(record):
        try:
            from . import cleanup as cleanup_mod  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise DarBackupError("retention is not available in this installation (%s)" % exc, phase="validate")
        request = cleanup_mod.CleanupRequest(
            name, options["backup_dir"], diff_age=ages["diff_age"], incr_age=ages["incr_age"],
            par2_dir=options["par2"]["dir"], catalog=options["catalog"], catalog_dir=options["catalog_dir"],
            timeout=options["timeout"])
        try:
            result = cleanup_mod.run_cleanup(request)
        except DarBackupError as exc:
            partial = getattr(exc, "result", None)
            if partial:
                record["cleanup"] = {"removed": list(partial.get("removed", []))}
            raise
        record["cleanup"] = {"removed": list(result.get("removed", [])), "leftovers": list(result.get("leftovers", [])),
                             "protected": [p["archive"] for p in result.get("protected", [])],
                             "kept": result.get("kept"), "files": len(result.get("removed_files", []))}
        record["warnings"] = list(result.get("warnings") or [])
        removed = result.get("removed", [])
        return "removed %d archive(s)%s, kept %s" % (len(removed), " (%s)" % ", ".join(removed) if removed else "",
                                                     result.get("kept"))
    return work


def run_jobs(ctx, command, names, make_work):
    """One Job per definition; returns the exit code."""
    statuses = []
    for name in names:
        job = Job(ctx, command, name)
        record = job.run(make_work(name))
        statuses.append(record["status"])
        if job.interrupted is not None:
            return EXIT_FAILED
    if FAILURE in statuses:
        return EXIT_FAILED
    if SKIPPED in statuses:
        return EXIT_LOCKED
    return EXIT_OK


# --- status ---------------------------------------------------------------------------------------------------

def _age(seconds):
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _size(count):
    value = float(count or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return ("%d %s" % (value, unit)) if unit == "B" else "%.1f %s" % (value, unit)
        value /= 1024
    return "%d B" % count


def status(ctx, as_json):
    config = ctx["config"]
    runs = last_runs(read_records(config["state_dir"]))
    dar = Dar()
    report = {"host": socket.gethostname(), "config": config["path"], "backup_dir": config["backup_dir"],
              "definitions": {}}
    for name, options in config["definitions"].items():
        described = info_mod.describe(dar, config["backup_dir"], names=[name], catalog_dir=config["catalog_dir"],
                                      par2_dir=options["par2"]["dir"])
        entry = {"info": described.get(name)}
        entry.update(runs.get(name, {"last_run": None, "last_runs": {}}))
        report["definitions"][name] = entry
    if as_json:
        out(json.dumps(report, indent=2, sort_keys=True))
        return EXIT_OK
    for name, entry in report["definitions"].items():
        data = entry["info"] or {}
        archives = data.get("archives", [])
        parts = ["%d archive(s)" % len(archives)]
        newest = data.get("newest", {})
        for level in naming.LEVELS:
            if level in newest:
                parts.append("%s %s (%s ago)" % (level, newest[level]["archive"], _age(newest[level]["age_seconds"])))
        if archives:
            parts.append(_size(data.get("size_bytes")))
            catalog = data.get("catalog") or {}
            parts.append("catalog %s" % ("in sync" if catalog.get("in_sync") else "missing" if not catalog.get("exists")
                                         else "corrupt" if catalog.get("corrupt") else "out of sync"))
            parts.append("par2 %s" % ("complete" if data.get("par2_complete") else "incomplete"))
        last = entry["last_run"]
        if last:
            parts.append("last run: %s %s%s at %s%s" % (
                last.get("command"), last.get("status"), " " + last["archive"] if last.get("archive") else "",
                last.get("finished"),
                " (%s: %s)" % (last.get("failed_phase"), last.get("error")) if last.get("failed_phase") else ""))
        else:
            parts.append("no run recorded")
        out("%s: %s" % (name, "; ".join(parts)))
    return EXIT_OK


# --- command line ---------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError("%s (see %s --help)" % (message, self.prog))


def build_parser():
    common = _Parser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH",
                        help="config file (default: $%s or %s)" % (CONFIG_ENV, DEFAULT_CONFIG))
    parser = _Parser(prog=PROG, description="Run dar.backup jobs on this host (what the systemd timers call).",
                     parents=[common],
                     epilog="exit codes: 0 success (warnings included), 1 a job failed, 2 usage or config error, "
                            "75 a definition's lock is held by another run")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    cmd = commands.add_parser("backup", parents=[common], help="make one verified archive per definition")
    cmd.add_argument("definitions", nargs="*", metavar="DEFINITION")
    cmd.add_argument("--all", action="store_true", help="every definition in the config")
    cmd.add_argument("--level", choices=backup_mod.LEVEL_CHOICES,
                     help="override the definition's level (default: the config's, auto)")

    cmd = commands.add_parser("verify", parents=[common], help="prove archives against their PAR2 sets")
    cmd.add_argument("definitions", nargs="*", metavar="DEFINITION", help="default: every definition")
    cmd.add_argument("--repair", action="store_true", help="repair damaged slices, then test with dar -t")
    cmd.add_argument("--create-missing", action="store_true", help="make PAR2 sets for unprotected archives")

    cmd = commands.add_parser("restore", parents=[common], help="restore paths of one definition")
    cmd.add_argument("definition", metavar="DEFINITION")
    cmd.add_argument("--dest", required=True, help="directory to restore into (absolute)")
    cmd.add_argument("--path", action="append", metavar="P", help="path relative to the root; repeat; default all")
    which = cmd.add_mutually_exclusive_group()
    which.add_argument("--when", metavar="T", help="ISO 8601 time: the state as of then (default: newest)")
    which.add_argument("--archive", metavar="A", help="one named archive (and the chain it needs)")
    cmd.add_argument("--overwrite", action="store_true", help="replace differing files in dest")
    cmd.add_argument("--owner", action="store_true", help="restore ownership (root only)")

    cmd = commands.add_parser("cleanup", parents=[common], help="remove DIFF/INCR archives past their retention")
    cmd.add_argument("definitions", nargs="*", metavar="DEFINITION", help="default: every definition")

    cmd = commands.add_parser("status", parents=[common], help="archives per definition and the last runs")
    cmd.add_argument("--json", action="store_true", help="machine-readable output")

    commands.add_parser("check-config", parents=[common], help="validate the config and exit (0 ok, 2 not)")
    return parser


def _work_maker(ctx, args):
    """name -> the work function of one job, for the command in ``args``."""
    def make(name):
        if args.command == "backup":
            return _backup(ctx, name, args.level)
        if args.command == "verify":
            return _verify(ctx, name, args.repair, args.create_missing)
        if args.command == "restore":
            return _restore(ctx, name, args)
        return _cleanup(ctx, name)
    return make


def dispatch(args):
    path = config_path(getattr(args, "config", None))
    config = load_config(path)
    ctx = {"config": config}
    if args.command == "check-config":
        listed = ": " + ", ".join(config["definitions"]) if config["definitions"] else ""
        out("config %s: ok, %d definition(s)%s" % (path, len(config["definitions"]), listed))
        return EXIT_OK
    if args.command == "status":
        return status(ctx, args.json)
    if args.command == "restore":
        names = pick_definitions(config, [args.definition])
    elif args.command == "backup":
        if args.all and args.definitions:
            raise UsageError("give DEFINITION names or --all, not both")
        if not args.all and not args.definitions:
            raise UsageError("give a DEFINITION or --all (see %s backup --help)" % PROG)
        names = pick_definitions(config, args.definitions, args.all)
    else:
        names = pick_definitions(config, args.definitions)
    if not names:
        out("no definitions in config %s: nothing to do" % path)
        return EXIT_OK
    return run_jobs(ctx, args.command, names, _work_maker(ctx, args))


def main(argv=None):
    """The dar-backup-run command; returns the exit code (never raises, never prints a traceback)."""
    try:
        backup_mod.raise_on_sigterm()
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        return dispatch(args)
    except UsageError as exc:
        err("usage", exc)
        return EXIT_USAGE
    except ConfigError as exc:
        err("config", exc)
        return EXIT_USAGE
    except DarBackupError as exc:
        err(exc.phase or "error", exc.msg)
        return EXIT_LOCKED if lock_busy(exc) else EXIT_FAILED
    except (backup_mod.Interrupted, KeyboardInterrupt) as exc:
        err("interrupted", str(exc) or "interrupted")
        return EXIT_FAILED
    except Exception as exc:  # pylint: disable=broad-except
        err("internal", "%s: %s" % (type(exc).__name__, exc))
        return EXIT_FAILED
