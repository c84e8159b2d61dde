# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dar-backup-run's alerts with the secrets file the configure role writes for the README's
``dar_backup_notify`` (only a Discord URL) plus a healthchecks URL, against a local listener, with real dar."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading

import pytest

from conftest import RUNNER_ENTRY, TARGET_PYTHON

DISCORD_TOKEN = "DiscordT0ken-in-the-path-0123456789"
HC_UUID = "5e1f0b7a-hc-check-uuid-9876543210"


class Listener(object):
    """Records every request (method, path, body) and answers 200, as Discord and healthchecks would."""

    def __init__(self):
        self.requests = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8") if length else ""
                listener.requests.append({"method": self.command, "path": self.path, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = _record  # noqa: N815 (http.server's names)
            do_POST = _record  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.daemon = True
        self.thread.start()
        base = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.discord_path = "/api/webhooks/4242/" + DISCORD_TOKEN
        self.hc_path = "/ping/" + HC_UUID
        self.discord_url = base + self.discord_path
        self.hc_url = base + self.hc_path

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def test_failure_alert_and_healthchecks_pings(engine, workdir, source, backup_dir, listener):
    secrets = workdir / "notify.json"
    # Exactly what the role used to write for a Discord URL alone: webhook_url "" refused the whole file.
    secrets.write_text(json.dumps({"discord_url": listener.discord_url, "webhook_url": "",
                                   "healthchecks_url": listener.hc_url}))
    os.chmod(str(secrets), 0o600)
    gone = workdir / "gone"
    gone.mkdir()
    config = workdir / "config.json"
    config.write_text(json.dumps({
        "backup_dir": str(backup_dir), "state_dir": str(workdir / "state"), "timeout": 600,
        "notify": {"on": "failure", "secrets_file": str(secrets)},
        "definitions": {"docs": {"root": str(source), "restore_test": {"files": 2}},
                        "gone": {"root": str(gone)}}}))
    gone.rmdir()  # the definition's disk is gone by the time the timer fires

    def run(*args):
        env = dict((k, v) for k, v in os.environ.items() if "proxy" not in k.lower())
        proc = subprocess.run([TARGET_PYTHON, "-c", RUNNER_ENTRY, engine, "--config", str(config)] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                              timeout=600, check=False)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    ok = run("backup", "docs", "--level", "full")
    assert ok.returncode == 0, ok.stderr
    # when: failure: no Discord message for a success, but the healthchecks check hears start and success.
    with open(str(workdir / "state" / "runs.jsonl")) as handle:
        first = json.loads(handle.readline())
    assert first["status"] == "SUCCESS" and first["notify_error"] is None, first
    assert [(r["method"], r["path"]) for r in listener.requests] == [
        ("GET", listener.hc_path + "/start?rid=" + first["run_id"]),
        ("POST", listener.hc_path + "?rid=" + first["run_id"])]
    assert "docs SUCCESS" in listener.requests[1]["body"]

    del listener.requests[:]
    failed = run("backup", "gone", "--level", "full")
    assert failed.returncode == 1
    with open(str(workdir / "state" / "runs.jsonl")) as handle:
        records_text = handle.read()
    record = json.loads(records_text.splitlines()[-1])
    assert record["status"] == "FAILURE" and record["notify_error"] is None, record
    assert record["level"] == "FULL" and record["failed_phase"], json.dumps(record)
    by_path = dict((r["path"], r) for r in listener.requests)
    rid = "?rid=" + record["run_id"]
    assert sorted(by_path) == sorted([listener.hc_path + "/start" + rid, listener.hc_path + "/fail" + rid,
                                      listener.discord_path]), listener.requests
    assert by_path[listener.hc_path + "/start" + rid]["method"] == "GET"
    alert = json.loads(by_path[listener.discord_path]["body"])["content"]
    assert ": gone FAILURE" in alert.splitlines()[0] and "on %s:" % record["host"] in alert.splitlines()[0]
    assert "level: FULL" in alert and "failed phase: %s" % record["failed_phase"] in alert, alert
    assert "failed phase: %s" % record["failed_phase"] in by_path[listener.hc_path + "/fail" + rid]["body"]
    for text in (ok.stdout, ok.stderr, failed.stdout, failed.stderr, records_text):
        assert DISCORD_TOKEN not in text and HC_UUID not in text and "127.0.0.1:" not in text
