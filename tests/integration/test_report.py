# -*- coding: utf-8 -*-
"""The fleet report playbook against a fleet with known state, all on this machine.

web1  healthy: a FULL made by the on-host runner (run record SUCCESS)
db1   a FULL, then a runner backup whose restore test failed (a dar that corrupts what it extracts)
old   archives made by the module under faketime five days ago; its INCR schedule is daily
gone  unreachable (ssh to 127.0.0.1 port 1: connection refused at once)
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from conftest import (BIN, REPO, RUNNER_ENTRY, TARGET_PYTHON, ansible_env, faketime_env, install_engine, lying_dar_env,
                      run_module, write_file)

SCHEDULE = {"full": "*-01-01 00:00:00", "diff": "*-*-01 00:00:00", "incr": "*-*-* 03:00:00"}
TOKEN = "Rep0rtT0kenOfTheDiscordHook"
PLAYBOOK = os.path.join(REPO, "playbooks", "report.yml")


def runner(engine, base, source, *args, **kwargs):
    config = os.path.join(base, "config.json")
    with open(config, "w") as handle:
        json.dump({"backup_dir": os.path.join(base, "backups"), "state_dir": os.path.join(base, "state"),
                   "timeout": 600, "notify": {"on": "never"},
                   "definitions": {"docs": {"root": source, "restore_test": {"files": 3}}}}, handle)
    env = dict((k, v) for k, v in os.environ.items() if "proxy" not in k.lower())
    env.update(kwargs.get("env") or {})
    proc = subprocess.run([TARGET_PYTHON, "-c", RUNNER_ENTRY, engine, "--config", config] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          timeout=600, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


class Fleet(object):
    def __init__(self, base):
        self.base = base
        self.source = os.path.join(base, "src")
        for index in range(12):
            write_file(os.path.join(self.source, "docs", "note-%02d.txt" % index), ("note %d\n" % index) * 300)
        write_file(os.path.join(self.source, "odd <name> & more.txt"), "awkward\n")
        self.engine = install_engine(os.path.join(base, "lib"))
        self.dirs = dict((h, os.path.join(base, h)) for h in ("web1", "db1", "old"))
        for path in self.dirs.values():
            os.makedirs(path)

        made = runner(self.engine, self.dirs["web1"], self.source, "backup", "docs")
        assert made.returncode == 0, made.stderr
        made = runner(self.engine, self.dirs["db1"], self.source, "backup", "docs")
        assert made.returncode == 0, made.stderr
        self.failed = runner(self.engine, self.dirs["db1"], self.source, "backup", "docs", "--level", "full",
                             env=lying_dar_env(os.path.join(base, "lying-bin")))
        assert self.failed.returncode == 1, self.failed.stdout

        five_days_ago = datetime.datetime.now().replace(microsecond=0) - datetime.timedelta(days=5)
        old = run_module("dar_backup", {"name": "docs", "root": self.source, "level": "full",
                                        "backup_dir": os.path.join(self.dirs["old"], "backups"),
                                        "restore_test": {"files": 2}}, env=faketime_env(five_days_ago))
        assert not old.failed, old
        self.old_archive = old.result["archive"]

        self.inventory = os.path.join(base, "inventory.yml")
        hosts = {}
        for name, path in self.dirs.items():
            hosts[name] = {"ansible_connection": "local", "dar_backup_dir": os.path.join(path, "backups"),
                           "dar_backup_state_dir": os.path.join(path, "state")}
        hosts["gone"] = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh"}
        with open(self.inventory, "w") as handle:
            json.dump({"all": {"children": {"fleet": {"hosts": hosts, "vars": {
                "ansible_python_interpreter": TARGET_PYTHON, "dar_backup_schedule": SCHEDULE,
                "dar_backup_definitions": [{"name": "docs", "root": self.source}]}}}}}, handle)

    def playbook(self, report_dir, *extra, **kwargs):
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, PLAYBOOK,
                "-e", "dar_backup_report_dir=%s" % report_dir] + list(extra)
        env = dict((k, v) for k, v in ansible_env().items() if "proxy" not in k.lower())
        env.update(kwargs.get("env") or {})
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=600, check=False)
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        return proc


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    os.chmod(str(base), 0o755)
    return Fleet(str(base))


class Hooks(object):
    """A local HTTP server that records what the webhooks receive."""

    def __init__(self):
        posts = self.posts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                posts.append({"path": self.path, "body": json.loads(body.decode("utf-8"))})
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.daemon = True
        self.thread.start()
        port = self.server.server_address[1]
        self.discord_url = "http://127.0.0.1:%d/api/webhooks/77/%s" % (port, TOKEN)
        self.webhook_url = "http://127.0.0.1:%d/hook" % port


@pytest.fixture
def hooks():
    server = Hooks()
    yield server
    server.server.shutdown()
    server.server.server_close()


def fail_message(stdout):
    """The msg of the failed task on localhost, from the default callback's JSON."""
    marker = stdout.find("fatal: [localhost]: FAILED! => ")
    assert marker >= 0, stdout
    result, _end = json.JSONDecoder().raw_decode(stdout[marker + len("fatal: [localhost]: FAILED! => "):])
    return result["msg"]


def recap(stdout, host):
    match = re.search(r"^%s\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(host),
                      stdout, re.M)
    assert match, stdout
    return dict(zip(("ok", "changed", "unreachable", "failed"), (int(g) for g in match.groups())))


def test_report_of_a_fleet_with_known_state(fleet, hooks, tmp_path):
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    (report_dir / "drills.json").write_text(json.dumps({"web1": {"docs": {
        "time": "2026-11-22T01:00:00Z", "target": "db1", "archive": "docs_FULL_x", "files": 4, "passed": True,
        "failures": [], "error": None}}}))
    notify = {"when": "failure", "discord_url": hooks.discord_url, "webhook_url": hooks.webhook_url}
    proc = fleet.playbook(str(report_dir), "-e", json.dumps({"dar_backup_notify": notify}))
    assert proc.returncode == 2, proc.stdout + proc.stderr

    report = json.loads((report_dir / "report.json").read_text())
    assert os.path.isfile(str(report_dir / "report.html"))
    rows = dict(((r["host"], r["definition"]), r) for r in report["rows"])
    assert [(r["host"], r["definition"], r["state"]) for r in report["rows"]] == [
        ("web1", "docs", "green"), ("db1", "docs", "red"), ("old", "docs", "red"), ("gone", "docs", "unknown")]
    assert report["counts"] == {"green": 1, "amber": 0, "red": 2, "unknown": 1, "rows": 4}
    assert report["headline"] == "dar.backup report: 1 green, 0 amber, 2 red, 1 unknown (4 host x definition)"

    web1 = rows[("web1", "docs")]
    assert web1["reasons"] == [] and web1["phase_source"] == "last run" and web1["runner_records"]
    assert web1["phases"] == {"dar": "ok", "test": "ok", "restore_test": "ok", "par2": "ok", "catalog": "ok"}
    assert web1["last_run"]["status"] == "SUCCESS" and web1["last_verified"]["level"] == "FULL"
    assert 0 <= web1["last_verified"]["age_seconds"] < 3600
    assert web1["levels"]["INCR"]["max_age_seconds"] == 2 * 86400      # daily + 1d grace
    assert web1["levels"]["DIFF"]["max_age_seconds"] == 32 * 86400     # monthly on the 1st + 1d
    assert web1["levels"]["FULL"]["max_age_seconds"] == 367 * 86400    # yearly, a leap year in the window, + 1d
    assert web1["drill"]["target"] == "db1" and web1["drill"]["passed"] is True
    assert web1["catalog"]["state"] == "in sync" and web1["par2"]["complete"] is True

    db1 = rows[("db1", "docs")]
    failed_record = json.loads(open(os.path.join(fleet.dirs["db1"], "state", "runs.jsonl")).read().splitlines()[-1])
    assert failed_record["status"] == "FAILURE" and failed_record["failed_phase"] == "restore_test"
    assert db1["red_reasons"] == ["FAILED: restore_test: %s" % failed_record["error"]]
    assert "content differs" in failed_record["error"]
    assert db1["phases"] == {"dar": "ok", "test": "ok", "restore_test": "failed", "par2": "not run",
                             "catalog": "not run"}

    old = rows[("old", "docs")]
    assert old["red_reasons"] == ["STALE: newest INCR, DIFF or FULL is 5d old, max_age 2d"]
    assert old["last_verified"]["archive"] == fleet.old_archive
    assert 5 * 86400 <= old["last_verified"]["age_seconds"] < 5 * 86400 + 3600
    assert old["levels"]["DIFF"]["state"] == "green" and old["levels"]["INCR"]["state"] == "red"
    assert old["phase_source"] == "newest archive (no runner records)" and not old["runner_records"]

    gone = rows[("gone", "docs")]
    assert len(gone["reasons"]) == 1 and gone["reasons"][0].startswith("UNKNOWN: unreachable: ")
    # ansible's own wording varies with the connection settings; ssh's does not.
    assert gone["reasons"][0].endswith("ssh: connect to host 127.0.0.1 port 1: Connection refused")
    unreachable = "gone: " + gone["reasons"][0]
    assert report["offenders"] == [
        "db1 docs: FAILED: restore_test: %s" % failed_record["error"],
        "old docs: STALE: newest INCR, DIFF or FULL is 5d old, max_age 2d",
        unreachable,
    ]

    # The play fails with the headline and one line per offender, after writing the files.
    assert fail_message(proc.stdout).split("\n") == [report["headline"]] + report["offenders"]
    assert recap(proc.stdout, "localhost")["failed"] == 1

    # Both webhooks got the summary; the secret URL is nowhere in the output.
    paths = sorted(p["path"] for p in hooks.posts)
    assert paths == sorted(["/api/webhooks/77/%s" % TOKEN, "/hook"])
    discord = [p["body"] for p in hooks.posts if p["path"] != "/hook"][0]
    webhook = [p["body"] for p in hooks.posts if p["path"] == "/hook"][0]
    assert discord["content"] == "\n".join([report["headline"]] + report["offenders"])
    assert webhook["offenders"] == report["offenders"] and webhook["status"] == "FAILURE"
    assert webhook["files"]["html"] == str(report_dir / "report.html")
    assert TOKEN not in proc.stdout + proc.stderr


def test_fresh_hosts_pass_and_an_unchanged_rerun_is_not_changed(fleet, tmp_path):
    report_dir = tmp_path / "fresh"
    first = fleet.playbook(str(report_dir), "-e", "dar_backup_report_hosts=web1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap(first.stdout, "localhost") == {"ok": 2, "changed": 1, "unreachable": 0, "failed": 0}
    report = json.loads((report_dir / "report.json").read_text())
    assert report["headline"] == "dar.backup report: 1 green, 0 amber, 0 red, 0 unknown (1 host x definition)"
    assert report["offenders"] == []
    second = fleet.playbook(str(report_dir), "-e", "dar_backup_report_hosts=web1")
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap(second.stdout, "localhost") == {"ok": 2, "changed": 0, "unreachable": 0, "failed": 0}
    assert recap(second.stdout, "web1") == {"ok": 2, "changed": 0, "unreachable": 0, "failed": 0}
    again = json.loads((report_dir / "report.json").read_text())
    assert again["fingerprint"] == report["fingerprint"] and again["generated"] >= report["generated"]


def test_stale_is_reported_but_does_not_fail_when_asked(fleet, tmp_path):
    report_dir = tmp_path / "nofail"
    proc = fleet.playbook(str(report_dir), "-e", "dar_backup_report_hosts=old",
                          "-e", "dar_backup_report_fail_on_stale=false")
    assert proc.returncode == 0, proc.stdout
    report = json.loads((report_dir / "report.json").read_text())
    assert report["offenders"] == ["old docs: STALE: newest INCR, DIFF or FULL is 5d old, max_age 2d"]
    # A larger max_age for INCR makes the same archives fresh.
    proc = fleet.playbook(str(report_dir), "-e", "dar_backup_report_hosts=old",
                          "-e", json.dumps({"dar_backup_max_age": {"incr": "6d"}}))
    assert proc.returncode == 0, proc.stdout
    report = json.loads((report_dir / "report.json").read_text())
    assert report["rows"][0]["state"] == "amber"  # 5d of 6d is above 80 %
    assert report["rows"][0]["reasons"] == ["AGING: newest INCR, DIFF or FULL is 5d old, max_age 6d"]


def test_host_whose_backup_dir_is_missing_is_unknown(fleet, tmp_path):
    report_dir = tmp_path / "missing"
    proc = fleet.playbook(str(report_dir), "-e", "dar_backup_report_hosts=web1",
                          "-e", "dar_backup_dir=%s" % (tmp_path / "nothing-here"))
    assert proc.returncode == 2
    report = json.loads((report_dir / "report.json").read_text())
    assert report["offenders"] == ["web1: UNKNOWN: dar_info failed: validate: backup_dir %s does not exist"
                                   % (tmp_path / "nothing-here")]


def test_check_mode_writes_nothing(fleet, tmp_path):
    report_dir = tmp_path / "check"
    proc = fleet.playbook(str(report_dir), "-e", "dar_backup_report_hosts=web1", "--check")
    assert proc.returncode == 0, proc.stdout
    assert "dar.backup report: 1 green, 0 amber, 0 red, 0 unknown (1 host x definition)" in proc.stdout
    assert not report_dir.exists()


def test_oncalendar_agrees_with_systemd_analyze(tmp_path):
    """Our evaluator against systemd's own, for the calendars the configure role and users write."""
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is not installed: run the tests through `make test`, whose setup installs systemd"
    checker = ("import datetime, json, sys\n"
               "sys.path.insert(0, sys.argv[1])\n"
               "from dar_backup_engine import oncalendar\n"
               "base = datetime.datetime(2026, 11, 22, 2, 30, 0)\n"
               "print(json.dumps([str(t) for t in oncalendar.parse(sys.argv[2]).firings(base, 25)]))\n")
    engine = install_engine(str(tmp_path / "lib"))
    for expr in ("*-12-30 10:03:00", "*-*-01 19:03:00", "*-*-04/3 19:03:00", "*-*-* 21:07:00", "Mon..Fri 08:00",
                 "Sat,Sun 12:30", "*-*-1,15 02:00", "*-*-1..5/2 03:00:30", "quarterly", "semiannually", "weekly",
                 "*:0/20", "*-*-31", "Wed *-*-1..7 04:00", "*-02-29 06:00"):
        proc = subprocess.run([tool, "calendar", "--iterations=25", "--base-time=2026-11-22 02:30:00 UTC", expr],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=dict(os.environ, TZ="UTC"), check=False)
        assert proc.returncode == 0, proc.stderr
        want = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", proc.stdout)
        assert len(want) == 25, proc.stdout
        got = subprocess.run([TARGET_PYTHON, "-c", checker, engine, expr], stdout=subprocess.PIPE,
                             universal_newlines=True, check=True).stdout
        assert json.loads(got) == want, expr
