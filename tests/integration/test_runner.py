# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dar-backup-run as a host runs it: the engine files copied into a package ``dar_backup_engine`` and
imported by the host's /usr/bin/python3, with real dar, dar_manager and par2."""

from __future__ import annotations

import fcntl
import glob
import http.server
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time

import pytest

# Not imported from conftest, so this file also runs with --import-mode=importlib next to the unit
# test of the same basename (tests/unit/plugins/module_utils/test_runner.py).
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET_PYTHON = "/usr/bin/python3"  # the host's own interpreter, as the installed entry script uses

ENTRY = "import sys; sys.path.insert(0, sys.argv.pop(1)); from dar_backup_engine.runner import main; sys.exit(main())"
TOKEN = "T0kenOfTheDiscordWebhook-abcdef"
HOOK_SECRET = "generic-hook-secret-42"


class Runner(object):
    def __init__(self, engine, workdir, source, backup_dir):
        self.engine = engine
        self.workdir = workdir
        self.config = workdir / "config.json"
        self.state = workdir / "state"
        self.secrets = workdir / "notify.json"
        self.backup_dir = backup_dir
        self.data = {
            "backup_dir": str(backup_dir), "catalog_dir": None, "state_dir": str(self.state), "timeout": 600,
            "cleanup": {"diff_age": 100, "incr_age": 40},
            "notify": {"on": "never", "secrets_file": str(self.secrets)},
            "definitions": {
                "docs": {"root": str(source), "exclude": ["cache"], "restore_test": {"files": 4},
                         "par2": {"redundancy": 10}},
                "broken": {"root": str(workdir / "not-mounted")},
            },
        }
        self.write()

    def write(self):
        self.config.write_text(json.dumps(self.data, indent=1))

    def env(self, extra=None):
        env = dict((k, v) for k, v in os.environ.items() if "proxy" not in k.lower())
        env.pop("DAR_BACKUP_CONFIG", None)
        env.update(extra or {})
        return env

    def argv(self, *args):
        return [TARGET_PYTHON, "-c", ENTRY, self.engine, "--config", str(self.config)] + list(args)

    def __call__(self, *args, **kwargs):
        proc = subprocess.run(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=self.env(kwargs.get("env")), timeout=600, check=False)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def records(self):
        path = self.state / "runs.jsonl"
        if not path.exists():
            return []
        with open(str(path)) as handle:
            return [json.loads(line) for line in handle]


@pytest.fixture
def runner(engine, workdir, source, backup_dir):
    return Runner(engine, workdir, source, backup_dir)


def test_chain_status_verify_restore_cleanup(runner, source, workdir):
    full = runner("backup", "docs")
    assert full.returncode == 0, full.stderr
    assert full.stderr == ""
    assert full.stdout.startswith("docs: SUCCESS: made FULL archive docs_FULL_")
    diff = runner("backup", "docs", "--level", "auto")
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.startswith("docs: SUCCESS: made DIFF archive docs_DIFF_")
    assert len(diff.stdout.splitlines()) == 1

    first, second = runner.records()
    assert (first["level"], second["level"]) == ("FULL", "DIFF")
    assert second["reference"] == first["archive"]
    for record in (first, second):
        assert record["status"] == "SUCCESS" and record["command"] == "backup" and record["definition"] == "docs"
        assert set(["create", "verify", "restore_test", "par2", "publish", "catalog", "total"]) <= set(record["durations"])
        assert record["verify_passed"] is True and record["catalog_added"] is True and record["dar_rc"] == 0
        # The DIFF saved no file (nothing changed since the FULL): its restore test had nothing to prove.
        assert record["restore_test"]["passed"] is (True if record is first else None)
        assert record["restore_test"]["failed"] == 0
        assert record["size_bytes"] > 0 and record["par2_size_bytes"] > 0
        tested = subprocess.run([shutil.which("dar"), "-t", os.path.join(str(runner.backup_dir), record["archive"]),
                                 "-N", "-Q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        assert tested.returncode == 0, tested.stderr
    assert first["restore_test"]["sampled"] == 4  # the DIFF saved no file: nothing to sample
    assert stat.S_IMODE(os.stat(str(runner.state / "runs.jsonl")).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(str(runner.state)).st_mode) == 0o750

    status = runner("status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    docs = report["definitions"]["docs"]
    assert [a["archive"] for a in docs["info"]["archives"]] == [first["archive"], second["archive"]]
    assert docs["info"]["catalog"]["in_sync"] is True and docs["info"]["par2_complete"] is True
    assert docs["last_run"]["run_id"] == second["run_id"]
    assert report["definitions"]["broken"]["last_run"] is None
    human = runner("status")
    assert human.returncode == 0 and human.stdout.startswith("docs: 2 archive(s); FULL docs_FULL_")

    verify = runner("verify")
    assert verify.returncode == 0, verify.stderr
    assert "docs: SUCCESS: verified 2 archive(s): 2 ok" in verify.stdout
    assert runner.records()[-2]["command"] == "verify"

    wanted = "docs/note-03.txt"
    with open(str(source / wanted), "rb") as handle:
        original = handle.read()
    with open(str(source / wanted), "ab") as handle:
        handle.write(b"changed after the backup\n")
    dest = workdir / "restored"
    restore = runner("restore", "docs", "--dest", str(dest), "--path", wanted)
    assert restore.returncode == 0, restore.stderr
    assert restore.stdout.startswith("docs: SUCCESS: restored ")
    with open(str(dest / wanted), "rb") as handle:
        assert handle.read() == original
    again = runner("restore", "docs", "--dest", str(dest), "--path", wanted, "--archive", first["archive"])
    assert again.returncode == 0, again.stderr
    assert runner.records()[-1]["restore"]["archives"] == [first["archive"]]

    cleanup = runner("cleanup", "docs")
    assert cleanup.returncode == 0, cleanup.stderr
    assert cleanup.stdout.strip() == "docs: SUCCESS: removed 0 archive(s), kept 2"


def test_failing_backup_exit_1(runner):
    proc = runner("backup", "--all")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("docs: SUCCESS: made FULL archive")
    assert lines[1].startswith("broken: FAILURE: validate: root %s" % (runner.workdir / "not-mounted"))
    assert proc.stderr.splitlines() == ["dar-backup-run: validate: broken: root %s of definition broken does not "
                                        "exist or is not a directory" % (runner.workdir / "not-mounted")]
    good, bad = runner.records()
    assert good["status"] == "SUCCESS"
    assert bad["status"] == "FAILURE" and bad["failed_phase"] == "validate" and bad["definition"] == "broken"
    assert "does not exist" in bad["error"] and bad["archive"] is None


def test_lock_held_exit_75(runner):
    lock_dir = runner.backup_dir / ".dar-backup-work"
    lock_dir.mkdir(parents=True)
    fd = os.open(str(lock_dir / "docs.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = runner("backup", "docs")
    finally:
        os.close(fd)
    assert proc.returncode == 75, proc.stderr
    assert proc.stdout.startswith("docs: SKIPPED: lock: another run of definition docs is in progress")
    assert proc.stderr.startswith("dar-backup-run: lock: docs: another run")
    assert runner.records()[0]["status"] == "SKIPPED"
    assert not glob.glob(str(runner.backup_dir / "*.dar"))
    assert runner("backup", "docs").returncode == 0  # released: the next run goes ahead


def test_config_error_exit_2(runner):
    runner.data["definitions"]["docs"]["par2"]["redundancy_ful"] = 20
    runner.write()
    proc = runner("backup", "--all")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("dar-backup-run: config: config %s: definition docs: par2.redundancy_ful: "
                                  "unknown key" % runner.config)
    assert runner.records() == []
    assert not runner.backup_dir.exists()


def test_sigterm_cleans_up(runner, workdir):
    """systemctl stop: the runner unwinds, the engine removes its staging area, the record says why."""
    fake_bin = workdir / "bin"
    fake_bin.mkdir()
    fake_dar = fake_bin / "dar"
    fake_dar.write_text("#!/bin/sh\necho started > %s\nexec sleep 60\n" % (workdir / "dar-started"))
    os.chmod(str(fake_dar), 0o755)
    for tool in ("dar_manager", "par2"):
        os.symlink(shutil.which(tool), str(fake_bin / tool))
    env = runner.env({"PATH": "%s:%s" % (fake_bin, os.environ["PATH"])})
    proc = subprocess.Popen(runner.argv("backup", "docs"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (workdir / "dar-started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert stdout.startswith("docs: FAILURE: interrupted: terminated by signal 15")
    [record] = runner.records()
    assert record["failed_phase"] == "interrupted" and record["status"] == "FAILURE"
    assert os.listdir(str(runner.backup_dir / ".dar-backup-work")) == ["docs.lock"]
    assert not glob.glob(str(runner.backup_dir / "*.dar"))


class _Hooks(object):
    """A local stand-in for Discord and a generic webhook: records every POST."""

    def __init__(self):
        self.posts = []
        self.fail_paths = set()
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                hooks.posts.append({"path": self.path, "body": json.loads(body.decode("utf-8")),
                                    "agent": self.headers.get("User-Agent"),
                                    "type": self.headers.get("Content-Type")})
                self.send_response(500 if self.path in hooks.fail_paths else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 1
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.daemon = True
        self.thread.start()
        self.discord_path = "/api/webhooks/424242/%s" % TOKEN
        self.webhook_path = "/hooks/%s" % HOOK_SECRET
        self.discord_url = "http://127.0.0.1:%d%s" % (self.port, self.discord_path)
        self.webhook_url = "http://127.0.0.1:%d%s" % (self.port, self.webhook_path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def hooks():
    server = _Hooks()
    yield server
    server.close()


def _no_secret(runner, *procs):
    texts = [p.stdout + p.stderr for p in procs]
    with open(str(runner.state / "runs.jsonl")) as handle:
        texts.append(handle.read())
    for text in texts:
        assert TOKEN not in text and HOOK_SECRET not in text and "/api/webhooks/" not in text


def test_notifications(runner, hooks):
    runner.secrets.write_text(json.dumps({"discord_url": hooks.discord_url, "webhook_url": hooks.webhook_url}))
    os.chmod(str(runner.secrets), 0o600)
    runner.data["notify"]["on"] = "failure"
    runner.write()

    ok = runner("backup", "docs")
    assert ok.returncode == 0, ok.stderr
    assert hooks.posts == []  # on: failure sends nothing for a success

    failed = runner("backup", "broken")
    assert failed.returncode == 1
    assert sorted(p["path"] for p in hooks.posts) == sorted([hooks.discord_path, hooks.webhook_path])
    discord = [p for p in hooks.posts if p["path"] == hooks.discord_path][0]
    generic = [p for p in hooks.posts if p["path"] == hooks.webhook_path][0]
    assert discord["agent"] == "dar.backup" and discord["type"] == "application/json"
    content = discord["body"]["content"]
    assert content.splitlines()[0].endswith(": broken FAILURE")
    assert "failed phase: validate" in content and "does not exist" in content
    record = runner.records()[-1]
    assert record["notify_error"] is None
    expected = dict(record, notify_error=None)
    assert generic["body"] == expected  # the run record itself

    # always: a success is sent too; a channel that fails is recorded, the exit code is unchanged
    runner.data["notify"]["on"] = "always"
    runner.write()
    hooks.fail_paths.add(hooks.webhook_path)
    del hooks.posts[:]
    ok_always = runner("backup", "docs")
    assert ok_always.returncode == 0, ok_always.stderr
    assert len(hooks.posts) == 2
    assert "docs SUCCESS" in [p for p in hooks.posts if p["path"] == hooks.discord_path][0]["body"]["content"]
    record = runner.records()[-1]
    assert record["status"] == "SUCCESS"
    assert record["notify_error"] == "webhook notification failed: HTTP 500 Internal Server Error"
    assert "dar-backup-run: notify: docs: webhook notification failed: HTTP 500" in ok_always.stderr

    # a secrets file others can read is refused, and nothing is sent
    os.chmod(str(runner.secrets), 0o644)
    del hooks.posts[:]
    refused = runner("backup", "broken")
    assert refused.returncode == 1
    assert hooks.posts == []
    assert "has mode 0644; refusing it" in runner.records()[-1]["notify_error"]
    assert "refusing it" in refused.stderr
    _no_secret(runner, ok, failed, ok_always, refused)
