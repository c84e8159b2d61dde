# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report model: states, freshness and its edge cases, offenders, headline, notification."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.dar.backup.plugins.module_utils import report
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

DAY = 86400
NOW = datetime.datetime(2026, 11, 22, 3, 0, 0, tzinfo=datetime.timezone.utc)
DAILY = {"full": "*-01-01 00:00", "diff": "*-*-01 00:00", "incr": "*-*-* 03:00"}  # gaps 366d, 31d, 1d


def archive(level, age, size=1000, name="docs", complete=True, readable=True, protected=True, error=None):
    moment = datetime.datetime(2026, 11, 22, 3, 0, 0) - datetime.timedelta(seconds=age)
    basename = "%s_%s_%s" % (name, level, moment.strftime("%Y-%m-%d_%H%M%S"))
    return {"archive": basename, "level": level, "time": moment.isoformat(), "age_seconds": age, "slices": 1,
            "complete": complete, "size_bytes": size, "reference": None, "readable": readable, "error": error,
            "par2": {"slices_protected": 1 if protected else 0, "complete": protected}}


def info(*archives, **catalog):
    state = {"db": "/b/docs.db", "exists": True, "corrupt": None, "in_sync": True, "missing": [], "extra": []}
    state.update(catalog)
    chains = []
    for item in archives:
        if item["level"] == "FULL":
            chains.append({"full": item["archive"], "archives": [item["archive"]]})
        elif chains:
            chains[-1]["archives"].append(item["archive"])
    return {"archives": list(archives), "chains": chains, "catalog": state,
            "size_bytes": sum(a["size_bytes"] for a in archives),
            "par2_complete": all(a["par2"]["complete"] for a in archives)}


def host(name="web1", definitions=None, runs=None, config=None, schedule="daily", max_age=None, result=None):
    if result is None:
        result = {"changed": False, "definitions": definitions or {}, "runs": runs or {}}
    return {"host": name, "result": result, "definitions": config if config is not None else [{"name": "docs"}],
            "schedule": dict(DAILY) if schedule == "daily" else schedule, "max_age": max_age}


def record(status="SUCCESS", age=3600, failed_phase=None, error=None, command="backup", **extra):
    rec = {"command": command, "status": status, "age_seconds": age, "failed_phase": failed_phase, "error": error,
           "finished": "2026-11-22T02:00:00Z", "warnings": [], "verify_passed": True,
           "restore_test": {"passed": True, "sampled": 5, "failed": 0}, "catalog_added": True, "dar_rc": 0,
           "durations": {"create": 1, "verify": 1, "restore_test": 1, "par2": 1, "publish": 0, "catalog": 1,
                         "total": 5}}
    rec.update(extra)
    return rec


def runs(*records):
    return {"last_run": records[-1], "last_runs": dict((r["command"], r) for r in records)}


def build(*hosts, **kwargs):
    return report.build_report(list(hosts), now=NOW, **kwargs)


def only_row(rep):
    assert len(rep["rows"]) == 1
    return rep["rows"][0]


def test_fresh_definition_is_green():
    rep = build(host(definitions={"docs": info(archive("FULL", 10 * DAY), archive("INCR", 3600))}))
    row = only_row(rep)
    assert row["state"] == "green" and row["reasons"] == [] and rep["offenders"] == []
    assert rep["headline"] == "dar.backup report: 1 green, 0 amber, 0 red, 0 unknown (1 host x definition)"
    assert row["levels"]["FULL"]["max_age_seconds"] == 367 * DAY
    assert row["levels"]["DIFF"]["max_age_seconds"] == 32 * DAY
    assert row["levels"]["INCR"]["max_age_seconds"] == 2 * DAY
    # No DIFF at all: the newer FULL covers the DIFF level.
    assert row["levels"]["DIFF"]["covered_by"]["archive"] == row["levels"]["FULL"]["newest"]["archive"]
    assert row["phase_source"] == "newest archive (no runner records)"
    assert row["phases"] == {"dar": "ok", "test": "ok", "restore_test": "ok", "par2": "ok", "catalog": "ok"}


def test_stale_incr_level_is_red_with_one_offender_line():
    rep = build(host(definitions={"docs": info(archive("FULL", 5 * DAY))}))
    row = only_row(rep)
    assert row["state"] == "red"
    assert row["red_reasons"] == ["STALE: newest INCR, DIFF or FULL is 5d old, max_age 2d"]
    assert rep["offenders"] == ["web1 docs: STALE: newest INCR, DIFF or FULL is 5d old, max_age 2d"]


def test_a_bigger_newer_level_satisfies_smaller_ones():
    # The DIFF is 40 days old (max 32d) but a FULL from yesterday covers DIFF and INCR.
    rep = build(host(definitions={"docs": info(archive("DIFF", 40 * DAY), archive("FULL", DAY))}))
    assert only_row(rep)["state"] == "green"


def test_age_over_eighty_percent_is_amber():
    rep = build(host(definitions={"docs": info(archive("FULL", int(1.7 * DAY)))}))
    row = only_row(rep)
    assert row["state"] == "amber"
    assert row["reasons"] == ["AGING: newest INCR, DIFF or FULL is 1d 16h old, max_age 2d"]
    assert rep["offenders"] == []


def test_exactly_max_age_is_not_stale():
    rep = build(host(definitions={"docs": info(archive("FULL", 2 * DAY))}))
    assert only_row(rep)["state"] == "amber"
    rep = build(host(definitions={"docs": info(archive("FULL", 2 * DAY + 1))}))
    assert only_row(rep)["state"] == "red"


def test_disabled_timer_has_no_max_age_and_an_override_wins():
    schedule = {"full": "*-01-01 00:00", "diff": "", "incr": ""}
    rep = build(host(definitions={"docs": info(archive("FULL", 100 * DAY))}, schedule=schedule))
    row = only_row(rep)
    assert row["state"] == "green"
    assert row["levels"]["INCR"]["max_age_seconds"] is None and row["levels"]["INCR"]["source"] == "disabled"
    rep = build(host(definitions={"docs": info(archive("FULL", 100 * DAY))}, schedule=schedule,
                     max_age={"full": "30d", "incr": None}))
    row = only_row(rep)
    assert row["levels"]["FULL"]["max_age_seconds"] == 30 * DAY
    assert row["levels"]["FULL"]["source"] == "dar_backup_max_age"
    assert rep["offenders"] == ["web1 docs: STALE: newest FULL is 100d old, max_age 30d"]


def test_definition_schedule_overrides_host_schedule_per_level():
    config = [{"name": "docs", "schedule": {"incr": ""}}]
    rep = build(host(definitions={"docs": info(archive("FULL", 5 * DAY))}, config=config))
    row = only_row(rep)
    assert row["levels"]["INCR"]["schedule"] == "" and row["state"] == "green"
    assert row["levels"]["DIFF"]["schedule"] == DAILY["diff"]


def test_configure_role_defaults_when_the_host_sets_no_schedule():
    rep = build(host(definitions={"docs": info(archive("FULL", DAY))}, schedule=None))
    levels = only_row(rep)["levels"]
    assert levels["FULL"]["max_age_seconds"] == 367 * DAY     # *-12-30: 2028 is a leap year
    assert levels["DIFF"]["max_age_seconds"] == 32 * DAY      # *-*-01
    assert levels["INCR"]["max_age_seconds"] == 7 * DAY       # *-*-04/3: 28th -> 4th after a 30-day month
    # A host schedule without a level keeps that level's default, as in the configure role; null disables it.
    levels = only_row(build(host(definitions={"docs": info(archive("FULL", DAY))},
                                 schedule={"full": "yearly", "diff": None})))["levels"]
    assert levels["INCR"]["max_age_seconds"] == 7 * DAY
    assert levels["DIFF"]["max_age_seconds"] is None


def test_bad_schedule_is_a_red_row_naming_host_and_definition():
    config = [{"name": "docs", "schedule": {"incr": "every tuesday"}}]
    rep = build(host(definitions={"docs": info(archive("FULL", DAY))}, config=config))
    row = only_row(rep)
    assert row["state"] == "red"
    assert rep["offenders"][0].startswith("web1 docs: BAD SCHEDULE: OnCalendar 'every tuesday': cannot read")


def test_bad_max_age_is_red():
    rep = build(host(definitions={"docs": info(archive("FULL", DAY))}, max_age={"weekly": "3d"}))
    assert "unknown level weekly" in only_row(rep)["reasons"][0]
    rep = build(host(definitions={"docs": info(archive("FULL", DAY))}, max_age={"incr": "soon"}))
    assert "is not a duration" in only_row(rep)["reasons"][0]


def test_configured_definition_without_archives_is_red():
    rep = build(host(definitions={}))
    row = only_row(rep)
    assert row["state"] == "red" and row["red_reasons"] == ["NO ARCHIVE: no complete, readable archive of docs"]
    assert row["phases"] == dict((k, "not run") for k in ("dar", "test", "restore_test", "par2", "catalog"))


def test_unconfigured_definition_found_on_disk_is_reported():
    rep = build(host(definitions={"docs": info(archive("FULL", DAY)), "old": info(archive("FULL", DAY, name="old"))}))
    assert [(r["definition"], r["configured"]) for r in rep["rows"]] == [("docs", True), ("old", False)]


def test_broken_archives_are_red_and_do_not_count_as_fresh():
    broken = archive("INCR", 3600, readable=False, error="cannot be read")
    rep = build(host(definitions={"docs": info(archive("FULL", 10 * DAY), broken)}))
    row = only_row(rep)
    assert row["state"] == "red"
    assert row["red_reasons"][0] == "BROKEN: %s: cannot be read" % broken["archive"]
    assert row["red_reasons"][1].startswith("STALE: newest INCR, DIFF or FULL is 10d old")
    assert row["last_verified"]["level"] == "FULL"


def test_an_archive_that_lost_slice_1_is_red_and_a_leftover_par2_set_amber():
    lost = {"archive": "docs_DIFF_2026-11-21_190301", "definition": "docs", "level": "DIFF",
            "kind": "slice_1_missing", "files": ["docs_DIFF_2026-11-21_190301.2.dar"],
            "detail": "slice 1 of docs_DIFF_2026-11-21_190301 is missing, so the archive cannot be read"}
    leftover = {"archive": "docs_INCR_2026-11-01_190301", "definition": "docs", "level": "INCR",
                "kind": "orphaned_par2", "files": ["docs_INCR_2026-11-01_190301.1.dar.par2"],
                "detail": "PAR2 files of docs_INCR_2026-11-01_190301 remain, but no slice of it"}
    for strays, state, reason in (([lost], "red", "BROKEN: " + lost["detail"]),
                                  ([leftover], "amber", "LEFTOVER: " + leftover["detail"])):
        described = info(archive("FULL", 3600))
        described["strays"] = strays
        row = only_row(build(host(definitions={"docs": described})))
        assert row["state"] == state
        assert reason in row["reasons"]


def test_last_run_failed_in_restore_test_is_red():
    failed = record("FAILURE", failed_phase="restore_test", error="1 of 4 sampled file(s) differ",
                    durations={"create": 1, "verify": 1, "total": 3}, restore_test=None)
    rep = build(host(definitions={"docs": info(archive("FULL", 2 * 3600))}, runs={"docs": runs(failed)}))
    row = only_row(rep)
    assert row["state"] == "red"
    assert rep["offenders"] == ["web1 docs: FAILED: restore_test: 1 of 4 sampled file(s) differ"]
    assert row["phases"] == {"dar": "ok", "test": "ok", "restore_test": "failed", "par2": "not run",
                             "catalog": "not run"}
    assert row["phase_source"] == "last run"


def test_restore_test_that_compared_nothing_is_not_shown_as_ok():
    proved_nothing = record("WARNING", restore_test={"passed": None, "sampled": 0, "failed": 0},
                            warnings=["restore test proved nothing: restore_test.files is 0"])
    rep = build(host(definitions={"docs": info(archive("FULL", 3600))}, runs={"docs": runs(proved_nothing)}))
    assert only_row(rep)["phases"]["restore_test"] == "not run"


def test_failed_run_followed_by_a_newer_archive_is_amber():
    failed = record("FAILURE", age=5 * 3600, failed_phase="create", error="disk full")
    rep = build(host(definitions={"docs": info(archive("FULL", 3600))}, runs={"docs": runs(failed)}))
    row = only_row(rep)
    assert row["state"] == "amber"
    assert row["reasons"] == ["FAILED: create: disk full (a newer archive exists)"]


def test_warning_run_and_incomplete_par2_and_catalog_out_of_sync_are_amber():
    warned = record("WARNING", warnings=["dar rc 5: some files unreadable"])
    rep = build(host(definitions={"docs": info(archive("FULL", 3600, protected=False), in_sync=False,
                                               missing=["x"])},
                     runs={"docs": runs(warned)}))
    row = only_row(rep)
    assert row["state"] == "amber"
    assert row["reasons"] == ["CATALOG OUT OF SYNC: 1 archive(s) missing from it, 0 extra",
                              "PAR2 INCOMPLETE: 0 of 1 slice(s) protected",
                              "WARNING: dar rc 5: some files unreadable"]


def test_par2_and_catalog_disabled_are_not_warnings():
    config = [{"name": "docs", "par2": {"enabled": False}, "catalog": False}]
    rep = build(host(definitions={"docs": info(archive("FULL", 3600, protected=False), exists=False)},
                     config=config))
    row = only_row(rep)
    assert row["state"] == "green"
    assert row["phases"]["par2"] == "not run" and row["catalog"]["state"] == "disabled"


def test_corrupt_catalog_and_failed_verify_are_red():
    verify = record("FAILURE", command="verify", failed_phase="verify", error="1 archive(s) failed the PAR2 check")
    rep = build(host(definitions={"docs": info(archive("FULL", 3600), corrupt="reached End of File")},
                     runs={"docs": runs(verify)}))
    assert only_row(rep)["red_reasons"] == ["CATALOG CORRUPT: /b/docs.db",
                                            "VERIFY FAILED: 1 archive(s) failed the PAR2 check"]


def test_skipped_and_up_to_date_runs_fall_back_to_the_archive():
    for rec in (record("SKIPPED", failed_phase="lock", error="in progress"), record(up_to_date=True)):
        row = only_row(build(host(definitions={"docs": info(archive("FULL", 3600))}, runs={"docs": runs(rec)})))
        assert row["state"] == "green" and row["phase_source"] == "newest archive"


def test_failed_drill_is_red_and_passed_drill_is_shown():
    drills = {"web1": {"docs": {"time": "2026-11-22T01:00:00Z", "target": "web2", "archive": "a", "files": 5,
                                "passed": False, "failures": ["a.txt: content differs", "b.txt: missing"],
                                "error": None}}}
    rep = build(host(definitions={"docs": info(archive("FULL", 3600))}), drills=drills)
    assert rep["offenders"] == ["web1 docs: DRILL FAILED at 2026-11-22T01:00:00Z on web2: a.txt: content differs "
                                "(+1 more)"]
    drills["web1"]["docs"].update(passed=True, failures=[])
    row = only_row(build(host(definitions={"docs": info(archive("FULL", 3600))}), drills=drills))
    assert row["state"] == "green" and row["drill"]["target"] == "web2"


def test_unreachable_and_failed_hosts_are_unknown_not_dropped():
    gone = host("gone", result={"unreachable": True, "changed": False,
                                "msg": "Task failed: Failed to connect to the host via ssh: refused"})
    broken = host("broken", config=[], result={"failed": False, "failed_when_result": False,
                                               "msg": "validate: backup_dir /srv/dar-backup does not exist"})
    rep = build(host(definitions={"docs": info(archive("FULL", 3600))}), gone, broken)
    assert [(r["host"], r["definition"], r["state"]) for r in rep["rows"]] == [
        ("web1", "docs", "green"), ("gone", "docs", "unknown"), ("broken", None, "unknown")]
    assert rep["offenders"] == [
        "gone: UNKNOWN: unreachable: Failed to connect to the host via ssh: refused",
        "broken: UNKNOWN: dar_info failed: validate: backup_dir /srv/dar-backup does not exist"]
    assert rep["headline"] == "dar.backup report: 1 green, 0 amber, 0 red, 2 unknown (3 host x definition)"
    assert [h["state"] for h in rep["hosts"]] == ["green", "unknown", "unknown"]


def test_host_never_gathered_is_unknown():
    rep = build(host("limited", result={}))
    assert rep["offenders"] == ["limited: UNKNOWN: no result: the host was not part of the gathering play "
                                "(skipped or limited out)"]


def test_bad_definitions_list_is_a_clear_error():
    with pytest.raises(DarBackupError) as info_:
        build(host(config=[{"root": "/x"}]))
    assert info_.value.msg == "host web1: every entry of dar_backup_definitions needs a name"


def test_multi_line_errors_become_one_line():
    failed = record("FAILURE", failed_phase="create", error="line one\nline two")
    rep = build(host(definitions={"docs": info(archive("FULL", 3600))}, runs={"docs": runs(failed)}))
    assert rep["offenders"] == ["web1 docs: FAILED: create: line one line two"]


def test_growth_of_full_archives():
    rep = build(host(definitions={"docs": info(archive("FULL", 40 * DAY, size=1000), archive("DIFF", 20 * DAY, size=50),
                                               archive("FULL", 3600, size=1250))}))
    sizes = only_row(rep)["sizes"]
    assert sizes == {"total_bytes": 2300, "newest_full_bytes": 1250, "previous_full_bytes": 1000,
                     "full_change_bytes": 250, "full_change_percent": 25.0}
    assert only_row(rep)["chain"]["text"] == "FULL"


def test_chain_text():
    rep = build(host(definitions={"docs": info(archive("FULL", 4 * 3600), archive("DIFF", 3 * 3600),
                                               archive("INCR", 2 * 3600), archive("INCR", 3600))}))
    assert only_row(rep)["chain"]["text"] == "FULL + DIFF + 2 INCR"


def test_fingerprint_ignores_ages_but_not_states():
    full = archive("FULL", 5 * DAY)
    one = build(host(definitions={"docs": info(full)}))
    two = build(host(definitions={"docs": info(dict(full, age_seconds=6 * DAY))}))
    three = build(host(definitions={"docs": info(archive("FULL", 3600))}))
    assert one["fingerprint"] == two["fingerprint"] != three["fingerprint"]


def test_summary_lines_worst_first():
    gone = host("gone", result={"unreachable": True, "msg": "refused"})
    rep = build(host(definitions={"docs": info(archive("FULL", 3600))}), gone,
                host("db1", definitions={"docs": info(archive("FULL", 9 * DAY))}))
    lines = report.summary_lines(rep)
    assert lines[0] == rep["headline"]
    assert lines[1].startswith("FAIL    db1  docs") and "STALE" in lines[1]
    assert lines[2].startswith("UNKNOWN gone docs UNKNOWN: unreachable: refused")
    assert lines[3] == "OK      web1 docs last FULL 1h ago, chain FULL, 1 archive(s) 1000 B, no runner records"
    assert len(report.summary_lines(rep, limit=1)) == 3


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59, "59s"), (61, "1m"), (3600, "1h"), (5400, "1h 30m"),
                                           (9 * DAY + 3 * 3600 + 5, "9d 3h"), (2 * DAY, "2d"), (None, "-")])
def test_human_duration(seconds, text):
    assert report.human_duration(seconds) == text


def test_notify_sends_headline_and_offenders_only_when_asked():
    posts = []
    rep = build(host(definitions={"docs": info(archive("FULL", 5 * DAY))}))
    urls = {"discord_url": "https://discord.example/api/webhooks/1/T0ken-secret", "webhook_url": "http://h/x"}
    sent, errors = report.notify(rep, urls, "failure", post=lambda url, payload: posts.append((url, payload)))
    assert sent == ["discord", "webhook"] and errors == []
    assert posts[0][1]["content"] == rep["headline"] + "\n" + rep["offenders"][0]
    assert posts[0][1]["allowed_mentions"] == {"parse": []}
    assert posts[1][1]["offenders"] == rep["offenders"] and posts[1][1]["status"] == "FAILURE"
    assert report.notify(rep, urls, "never", post=lambda u, p: posts.append(p)) == ([], [])
    green = build(host(definitions={"docs": info(archive("FULL", 3600))}))
    assert report.notify(green, urls, "failure", post=lambda u, p: posts.append(p)) == ([], [])
    assert len(posts) == 2


def test_notify_errors_never_hold_the_url():
    rep = build(host(definitions={"docs": info(archive("FULL", 5 * DAY))}))
    url = "https://discord.example/api/webhooks/1/T0ken-secret"

    def boom(target, payload):
        raise ValueError("cannot post to %s" % target)
    sent, errors = report.notify(rep, {"discord_url": url}, "always", post=boom)
    assert sent == [] and len(errors) == 1
    assert "T0ken-secret" not in errors[0] and errors[0].startswith("discord notification failed: ValueError")
