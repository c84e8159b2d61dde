# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: one row per host x definition with its state, freshness, last run, sizes and drill.

Input is what the report playbook gathers: per inventory host the registered result of
``dar.backup.dar_info`` (archives, catalog, PAR2, run records), the host's definitions and schedules,
and the restore drills recorded on the control node. Output is a plain dict (report.json), a headline,
one line per offender, and a short text summary. Every age is the host's own (dar_info computes it
against the host's clock), so time zones and clock differences between hosts do not matter.
"""

from __future__ import annotations

import datetime
import hashlib
import json

from . import notify as notify_mod
from . import oncalendar
from .errors import DarBackupError
from .intervals import parse_duration
from .records import FAILURE, SUCCESS, WARNING, one_line

SCHEMA = 1
LEVELS = ("FULL", "DIFF", "INCR")
# The configure role's calendars (roles/configure/defaults/main.yml), for hosts that do not set any.
DEFAULT_SCHEDULE = {"full": "*-12-30 10:03:00", "diff": "*-*-01 19:03:00", "incr": "*-*-04/3 19:03:00"}
# A run starts at the firing (plus any randomized delay) and may take up to dar_backup_timeout, 86400 s by
# default, and a host that was off at the firing catches up when it boots: one day covers both.
DEFAULT_GRACE = "1d"
WARN_FRACTION = 0.8

GREEN = "green"
AMBER = "amber"
RED = "red"
UNKNOWN = "unknown"
STATES = (GREEN, AMBER, RED, UNKNOWN)
LABELS = {GREEN: "OK", AMBER: "WARN", RED: "FAIL", UNKNOWN: "UNKNOWN"}

# (report key, engine phase name, label) in the order a backup runs them.
PHASES = (("dar", "create", "dar"), ("test", "verify", "test"), ("restore_test", "restore_test", "restore test"),
          ("par2", "par2", "PAR2"), ("catalog", "catalog", "catalog"))
# The engine's phases in the order a backup runs them (publish moves the tested archive into place).
RUN_ORDER = ("create", "verify", "restore_test", "par2", "publish", "catalog")
OK = "ok"
FAILED = "failed"
NOT_RUN = "not run"
MISSING = "missing"

COVERING = {"FULL": "FULL", "DIFF": "DIFF or FULL", "INCR": "INCR, DIFF or FULL"}
TEXT_ROWS = 40
# ansible-core 2.19 puts this before the message of a failed or unreachable task.
TASK_FAILED = "Task failed: "


def human_duration(seconds):
    """9d 3h, 5h 12m, 12m, 40s: two units at most, rounded down."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (unit, size) in enumerate(units):
        if seconds >= size or unit == "s":
            text = "%d%s" % (seconds // size, unit)
            if index < 2:
                rest_unit, rest_size = units[index + 1]
                rest = (seconds % size) // rest_size
                if rest:
                    text += " %d%s" % (rest, rest_unit)
            return sign + text
    return sign + "0s"


def human_size(count):
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return "%d %s" % (value, unit) if unit == "B" else "%.1f %s" % (value, unit)
        value /= 1024
    return "%d B" % count


# --- freshness ------------------------------------------------------------------------------------------------

def level_schedules(definition, host_schedule):
    """{level: calendar or ''} as the configure role resolves it: the definition's, else the host's, else
    dar-backup's default; only an explicit "" or null disables a level."""
    own = definition.get("schedule") or {}
    if not isinstance(own, dict):
        raise DarBackupError("schedule must be a mapping of full/diff/incr to OnCalendar expressions", phase="validate")
    result = {}
    for level in LEVELS:
        key = level.lower()
        if key in own:
            value = own[key]
        else:
            value = (host_schedule or {}).get(key, DEFAULT_SCHEDULE[key])
        result[level] = value or ""
    return result


def _override(max_age, level):
    if not max_age:
        return None
    if not isinstance(max_age, dict):
        raise DarBackupError("dar_backup_max_age must be a mapping like {full: 400d, diff: 35d, incr: 5d}, not %r"
                             % (max_age,), phase="validate")
    unknown = sorted(str(k) for k in max_age if str(k).upper() not in LEVELS)
    if unknown:
        raise DarBackupError("dar_backup_max_age: unknown level %s (use full, diff, incr)" % unknown[0], phase="validate")
    for key, value in max_age.items():
        if str(key).upper() == level and value not in (None, ""):
            return parse_duration(value, "dar_backup_max_age.%s" % key)
    return None


def max_ages(schedules, max_age, grace, start):
    """{level: {schedule, gap_seconds, max_age_seconds, source}}: an override wins, else largest gap + grace."""
    result = {}
    for level in LEVELS:
        expr = schedules[level]
        entry = {"schedule": expr, "gap_seconds": None, "max_age_seconds": None, "source": "disabled"}
        if expr:
            entry["gap_seconds"] = oncalendar.largest_gap(expr, start)
        override = _override(max_age, level)
        if override is not None:
            entry.update(max_age_seconds=override, source="dar_backup_max_age")
        elif expr:
            entry.update(max_age_seconds=entry["gap_seconds"] + grace, source="schedule")
        result[level] = entry
    return result


def freshness(newest, limits):
    """Per level: the newest archive of that level or a bigger one, its age against max_age, and a state."""
    result = {}
    for index, level in enumerate(LEVELS):
        candidates = [newest[lv] for lv in LEVELS[:index + 1] if lv in newest]
        covering = min(candidates, key=lambda a: a["age_seconds"]) if candidates else None
        limit = limits[level]["max_age_seconds"]
        entry = dict(limits[level])
        entry.update(newest=newest.get(level), covered_by=covering,
                     age_seconds=covering["age_seconds"] if covering else None, state=None)
        if limit is not None and covering is not None:
            if covering["age_seconds"] > limit:
                entry["state"] = RED
            elif covering["age_seconds"] > WARN_FRACTION * limit:
                entry["state"] = AMBER
            else:
                entry["state"] = GREEN
        result[level] = entry
    return result


# --- one row ----------------------------------------------------------------------------------------------------

def _phases_from_record(record):
    failed = record.get("failed_phase") if record.get("status") == FAILURE else None
    durations = record.get("durations") or {}
    # A failed run records no phase durations: the phases before the failed one passed, or it was not reached.
    reached = RUN_ORDER.index(failed) if failed in RUN_ORDER else -1
    phases = {}
    for key, phase, _label in PHASES:
        if failed == phase:
            phases[key] = FAILED
        elif phase in durations or RUN_ORDER.index(phase) < reached:
            phases[key] = OK
        else:
            phases[key] = NOT_RUN
    if record.get("verify_passed") is False:
        phases["test"] = FAILED
    if (record.get("restore_test") or {}).get("passed") is False:
        phases["restore_test"] = FAILED
    # None: the restore test compared nothing (files 0, nothing in its bounds): it ran, it proved nothing.
    if (record.get("restore_test") is None or (record.get("restore_test") or {}).get("passed") is None) \
            and phases["restore_test"] == OK:
        phases["restore_test"] = NOT_RUN
    return phases


def _phases_from_archive(archive, catalog, par2_enabled, catalog_enabled):
    """A published archive passed dar -t and its restore test by construction (the engine publishes no other)."""
    if archive is None:
        return dict((key, NOT_RUN) for key, _phase, _label in PHASES)
    cataloged = bool(catalog.get("exists")) and archive["archive"] not in (catalog.get("missing") or [])
    return {"dar": OK, "test": OK, "restore_test": OK,
            "par2": OK if archive["par2"]["complete"] else (MISSING if par2_enabled else NOT_RUN),
            "catalog": OK if cataloged else (MISSING if catalog_enabled else NOT_RUN)}


def _run_summary(record):
    if not record:
        return None
    keys = ("command", "status", "started", "finished", "age_seconds", "archive", "level", "failed_phase", "error",
            "warnings", "dar_rc", "verify_passed", "restore_test", "catalog_added", "size_bytes", "up_to_date")
    return dict((k, record.get(k)) for k in keys if k in record)


def _chain(info):
    chains = (info or {}).get("chains") or []
    if not chains:
        return None
    archives = chains[-1]["archives"]
    levels = [a.split("_")[1] for a in archives]
    counts = [(lv, levels.count(lv)) for lv in LEVELS if lv in levels]
    text = " + ".join(("%d %s" % (n, lv)) if n > 1 else lv for lv, n in counts)
    return {"full": chains[-1]["full"], "archives": archives, "text": text}


def _sizes(good, info):
    fulls = [a for a in good if a["level"] == "FULL"]
    sizes = {"total_bytes": (info or {}).get("size_bytes", 0), "newest_full_bytes": None,
             "previous_full_bytes": None, "full_change_bytes": None, "full_change_percent": None}
    if fulls:
        sizes["newest_full_bytes"] = fulls[-1]["size_bytes"]
    if len(fulls) > 1:
        sizes["previous_full_bytes"] = fulls[-2]["size_bytes"]
        sizes["full_change_bytes"] = fulls[-1]["size_bytes"] - fulls[-2]["size_bytes"]
        if fulls[-2]["size_bytes"]:
            sizes["full_change_percent"] = round(100.0 * sizes["full_change_bytes"] / fulls[-2]["size_bytes"], 1)
    return sizes


def _catalog_text(catalog, enabled, has_archives):
    if not enabled:
        return "disabled", None
    if catalog.get("error"):
        return "error", (AMBER, "CATALOG: %s" % catalog["error"])
    if not catalog.get("exists"):
        return "missing", (AMBER, "CATALOG MISSING: %s" % catalog.get("db")) if has_archives else None
    if catalog.get("corrupt"):
        return "corrupt", (RED, "CATALOG CORRUPT: %s" % catalog.get("db"))
    if not catalog.get("in_sync"):
        return "out of sync", (AMBER, "CATALOG OUT OF SYNC: %d archive(s) missing from it, %d extra%s" % (
            len(catalog.get("missing") or []), len(catalog.get("extra") or []),
            ", out of order" if catalog.get("out_of_order") else ""))
    return "in sync", None


def _drill_problem(drill):
    if not isinstance(drill, dict):
        return None
    if drill.get("error"):
        return "DRILL FAILED at %s on %s: %s" % (drill.get("time"), drill.get("target"), drill["error"])
    if drill.get("passed") is not True:
        failures = drill.get("failures") or []
        detail = failures[0] if failures else "not passed"
        more = " (+%d more)" % (len(failures) - 1) if len(failures) > 1 else ""
        return "DRILL FAILED at %s on %s: %s%s" % (drill.get("time"), drill.get("target"), detail, more)
    return None


def _age_reason(level, entry, word):
    return "%s: newest %s is %s old, max_age %s" % (
        word, COVERING[level], human_duration(entry["age_seconds"]), human_duration(entry["max_age_seconds"]))


def build_row(host, name, info, runs, config, host_config, drill, grace, start):
    """The report row of one reachable host's definition."""
    reasons = []
    archives = (info or {}).get("archives") or []
    good = [a for a in archives if a.get("complete") and a.get("readable")]
    broken = [a for a in archives if not (a.get("complete") and a.get("readable"))]
    newest = {}
    for archive in good:
        newest[archive["level"]] = {"archive": archive["archive"], "time": archive["time"],
                                    "age_seconds": archive["age_seconds"]}
    par2_enabled = (config.get("par2") or {}).get("enabled", True) is not False
    catalog_enabled = config.get("catalog", True) is not False

    levels = None
    try:
        schedules = level_schedules(config, host_config.get("schedule"))
        levels = freshness(newest, max_ages(schedules, host_config.get("max_age"), grace, start))
    except DarBackupError as exc:
        reasons.append((RED, "BAD SCHEDULE: %s" % exc.msg))

    if not good:
        reasons.append((RED, "NO ARCHIVE: no complete, readable archive of %s" % name))
    for archive in broken[:3]:
        reasons.append((RED, "BROKEN: %s: %s" % (archive["archive"], archive.get("error") or "slices missing")))
    # What is left of an archive that lost its slice 1 is an archive lost; a PAR2 set alone is a leftover.
    for stray in ((info or {}).get("strays") or [])[:3]:
        lost = stray.get("kind") != "orphaned_par2"
        reasons.append((RED if lost else AMBER, "%s: %s" % ("BROKEN" if lost else "LEFTOVER", stray.get("detail"))))
    for level in LEVELS if levels and good else ():
        if levels[level]["state"] == RED:
            reasons.append((RED, _age_reason(level, levels[level], "STALE")))
        elif levels[level]["state"] == AMBER:
            reasons.append((AMBER, _age_reason(level, levels[level], "AGING")))

    catalog = (info or {}).get("catalog") or {}
    catalog_state, problem = _catalog_text(catalog, catalog_enabled, bool(archives))
    if problem:
        reasons.append(problem)
    slices = sum(a.get("slices", 0) for a in archives)
    protected = sum((a.get("par2") or {}).get("slices_protected", 0) for a in archives)
    if par2_enabled and protected < slices:
        reasons.append((AMBER, "PAR2 INCOMPLETE: %d of %d slice(s) protected" % (protected, slices)))

    last_runs = (runs or {}).get("last_runs") or {}
    backup_run = last_runs.get("backup")
    newest_good_age = min(a["age_seconds"] for a in good) if good else None
    if backup_run and backup_run.get("status") == FAILURE:
        text = "FAILED: %s: %s" % (backup_run.get("failed_phase"), backup_run.get("error"))
        run_age = backup_run.get("age_seconds")
        if newest_good_age is not None and run_age is not None and newest_good_age < run_age:
            reasons.append((AMBER, text + " (a newer archive exists)"))
        else:
            reasons.append((RED, text))
    elif backup_run and backup_run.get("status") == WARNING:
        reasons.append((AMBER, "WARNING: %s" % "; ".join(backup_run.get("warnings") or ["warnings"])))
    verify_run = last_runs.get("verify")
    if verify_run and verify_run.get("status") == FAILURE:
        reasons.append((RED, "VERIFY FAILED: %s" % verify_run.get("error")))
    cleanup_run = last_runs.get("cleanup")
    if cleanup_run and cleanup_run.get("status") == FAILURE:
        reasons.append((AMBER, "CLEANUP FAILED: %s" % cleanup_run.get("error")))
    drill_problem = _drill_problem(drill)
    if drill_problem:
        reasons.append((RED, drill_problem))

    if backup_run and backup_run.get("status") in (SUCCESS, WARNING, FAILURE) and not backup_run.get("up_to_date"):
        phases, phase_source = _phases_from_record(backup_run), "last run"
    else:
        phases = _phases_from_archive(good[-1] if good else None, catalog, par2_enabled, catalog_enabled)
        phase_source = "newest archive (no runner records)" if not backup_run else "newest archive"

    state = RED if any(s == RED for s, _t in reasons) else AMBER if reasons else GREEN
    last = good[-1] if good else None
    return {
        "host": host, "definition": name, "state": state, "label": LABELS[state],
        "reasons": [one_line(t) for _s, t in reasons],
        "red_reasons": [one_line(t) for s, t in reasons if s == RED],
        "configured": bool(config), "reachable": True,
        "last_verified": {"archive": last["archive"], "level": last["level"], "time": last["time"],
                          "age_seconds": last["age_seconds"]} if last else None,
        "levels": levels,
        "chain": _chain(info),
        "last_run": _run_summary(backup_run),
        "last_runs": dict((k, _run_summary(v)) for k, v in sorted(last_runs.items())),
        "runner_records": bool(last_runs),
        "phases": phases, "phase_source": phase_source,
        "catalog": {"state": catalog_state, "db": catalog.get("db"), "missing": catalog.get("missing") or [],
                    "extra": catalog.get("extra") or []},
        "par2": {"enabled": par2_enabled, "slices": slices, "slices_protected": protected,
                 "complete": protected == slices},
        "sizes": _sizes(good, info),
        "archives": [{"archive": a["archive"], "level": a["level"], "time": a["time"], "size_bytes": a["size_bytes"],
                      "age_seconds": a["age_seconds"], "ok": a in good} for a in archives],
        "drill": drill if isinstance(drill, dict) else None,
    }


# --- the fleet ----------------------------------------------------------------------------------------------------

def host_outcome(result):
    """(reachable, error) of a registered dar_info result: unreachable, failed, or usable."""
    if not isinstance(result, dict) or not result:
        return False, "no result: the host was not part of the gathering play (skipped or limited out)"
    msg = result.get("msg") or ""
    if msg.startswith(TASK_FAILED):
        msg = msg[len(TASK_FAILED):]
    if result.get("unreachable"):
        return False, "unreachable: %s" % one_line(msg or "host unreachable", 500)
    if result.get("failed") or not isinstance(result.get("definitions"), dict):
        return False, "dar_info failed: %s" % one_line(msg or "no definitions in the result", 500)
    return True, None


def _configured(host, definitions):
    if definitions in (None, ""):
        return []
    if not isinstance(definitions, list):
        raise DarBackupError("host %s: dar_backup_definitions must be a list of definitions" % host, phase="validate")
    result = []
    for entry in definitions:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise DarBackupError("host %s: every entry of dar_backup_definitions needs a name" % host, phase="validate")
        result.append(entry)
    return result


def _unknown_row(host, name, error):
    return {"host": host, "definition": name, "state": UNKNOWN, "label": LABELS[UNKNOWN],
            "reasons": ["UNKNOWN: %s" % error], "red_reasons": [], "configured": name is not None, "reachable": False,
            "last_verified": None, "levels": None, "chain": None, "last_run": None, "last_runs": {},
            "runner_records": False, "phases": None, "phase_source": None, "catalog": None, "par2": None,
            "sizes": None, "archives": [], "drill": None}


def build_report(hosts, drills=None, grace=DEFAULT_GRACE, now=None):
    """The whole report from the gathered hosts (see the module's ``hosts`` option)."""
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    grace_seconds = parse_duration(grace, "max_age_grace")
    start = now.date()
    drills = drills if isinstance(drills, dict) else {}
    rows = []
    host_entries = []
    offenders = []
    for entry in hosts:
        host = str(entry.get("host"))
        configured = _configured(host, entry.get("definitions"))
        reachable, error = host_outcome(entry.get("result"))
        result = entry.get("result") or {}
        names = [d["name"] for d in configured]
        if reachable:
            found = sorted(set(result["definitions"]) | set(result.get("runs") or {}))
            names += [n for n in found if n not in names]
        host_entries.append({"host": host, "reachable": reachable, "error": error, "definitions": names,
                             "state": None if reachable else UNKNOWN})
        if not reachable:
            rows.extend(_unknown_row(host, n, error) for n in (names or [None]))
            offenders.append(one_line("%s: UNKNOWN: %s" % (host, error)))
            continue
        host_config = {"schedule": entry.get("schedule"), "max_age": entry.get("max_age")}
        by_name = dict((d["name"], d) for d in configured)
        host_drills = drills.get(host) if isinstance(drills.get(host), dict) else {}
        for name in names:
            row = build_row(host, name, result["definitions"].get(name), (result.get("runs") or {}).get(name),
                            by_name.get(name, {}), host_config, host_drills.get(name), grace_seconds, start)
            rows.append(row)
            if row["state"] == RED:
                offenders.append(one_line("%s %s: %s" % (host, name, "; ".join(row["red_reasons"]))))
        states = [r["state"] for r in rows if r["host"] == host]
        host_entries[-1]["state"] = next((s for s in (RED, AMBER, GREEN) if s in states), None)
    counts = dict((state, sum(1 for r in rows if r["state"] == state)) for state in STATES)
    counts["rows"] = len(rows)
    headline = "dar.backup report: %d green, %d amber, %d red, %d unknown (%d host x definition)" % (
        counts[GREEN], counts[AMBER], counts[RED], counts[UNKNOWN], counts["rows"])
    report = {"schema": SCHEMA, "generated": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "headline": headline,
              "counts": counts, "offenders": offenders, "hosts": host_entries, "rows": rows,
              "max_age_grace_seconds": grace_seconds}
    report["fingerprint"] = fingerprint(report)
    return report


_VOLATILE = ("age_seconds", "generated", "fingerprint")


def _strip_volatile(value):
    if isinstance(value, dict):
        return dict((k, _strip_volatile(v)) for k, v in value.items() if k not in _VOLATILE)
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


def fingerprint(report):
    """A digest of the report's state, without the ages and the time it was made.

    Two reports with the same fingerprint say the same thing about the fleet: the same states, reasons,
    archives, runs and drills; only the clock moved.
    """
    stable = _strip_volatile(dict((k, v) for k, v in report.items() if k != "headline"))
    # Ages are out, but a reason quotes an age ("9d old"): keep the reason's words and drop its numbers.
    for row in stable["rows"]:
        row["reasons"] = [" ".join(w for w in r.split() if not w[:1].isdigit()) for r in row["reasons"]]
        row["red_reasons"] = [" ".join(w for w in r.split() if not w[:1].isdigit()) for r in row["red_reasons"]]
    stable["offenders"] = [" ".join(w for w in r.split() if not w[:1].isdigit()) for r in stable["offenders"]]
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode("utf-8")).hexdigest()


# --- text ----------------------------------------------------------------------------------------------------------

def _row_text(row):
    if row["state"] == UNKNOWN:
        return row["reasons"][0]
    last = row["last_verified"]
    parts = ["last %s %s ago" % (last["level"], human_duration(last["age_seconds"])) if last else "no archive"]
    if row["chain"]:
        parts.append("chain %s" % row["chain"]["text"])
    if row["archives"]:
        parts.append("%d archive(s) %s" % (len(row["archives"]), human_size(row["sizes"]["total_bytes"])))
    run = row["last_run"]
    parts.append("last run %s" % run["status"] if run else "no runner records")
    if row["reasons"]:
        parts.append(row["reasons"][0] + (" (+%d)" % (len(row["reasons"]) - 1) if len(row["reasons"]) > 1 else ""))
    return ", ".join(parts)


def summary_lines(report, limit=TEXT_ROWS):
    """The headline, one line per row (the worst first, at most ``limit``) and the offenders."""
    order = {RED: 0, UNKNOWN: 1, AMBER: 2, GREEN: 3}
    rows = sorted(report["rows"], key=lambda r: order[r["state"]])
    width_host = max([len(r["host"]) for r in rows] or [4])
    width_name = max([len(r["definition"] or "-") for r in rows] or [4])
    lines = [report["headline"]]
    for row in rows[:limit]:
        line = "%-7s %-*s %-*s %s" % (row["label"], width_host, one_line(row["host"]), width_name,
                                      row["definition"] or "-", one_line(_row_text(row)))
        lines.append(line if len(line) <= 200 else line[:197] + "...")
    if len(rows) > limit:
        lines.append("... and %d more row(s): see the report files" % (len(rows) - limit))
    return lines


# --- notification -----------------------------------------------------------------------------------------------

def notify(report, urls, when, paths=None, post=None):
    """Send the headline and offenders to the configured webhooks; returns (sent channels, URL-free errors)."""
    status = FAILURE if report["offenders"] else SUCCESS
    if not notify_mod.should_send(when, status):
        return [], []
    post = post or notify_mod.post_json
    text = "\n".join([report["headline"]] + report["offenders"])
    if len(text) > notify_mod.DISCORD_LIMIT:
        text = text[:notify_mod.DISCORD_LIMIT - 3] + "..."
    payloads = {
        "discord": {"content": text, "allowed_mentions": {"parse": []}},
        "webhook": {"source": "dar.backup report", "status": status, "headline": report["headline"],
                    "counts": report["counts"], "offenders": report["offenders"], "generated": report["generated"],
                    "files": paths or {}},
    }
    sent, errors = [], []
    for channel, key in notify_mod.CHANNELS:
        url = urls.get(key)
        if not url:
            continue
        try:
            post(url, payloads[channel])
            sent.append(channel)
        except Exception as exc:  # pylint: disable=broad-except
            detail = str(exc) if isinstance(exc, notify_mod.NotifyError) else "%s: %s" % (type(exc).__name__, exc)
            errors.append("%s notification failed: %s" % (channel, notify_mod.scrub(detail, url)))
    return sent, errors
