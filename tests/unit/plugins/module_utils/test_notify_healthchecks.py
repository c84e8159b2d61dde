# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Healthchecks-style pings, and secrets files with channels left empty."""

from __future__ import annotations

import json
import os
import urllib.error

import pytest

from ansible_collections.dar.backup.plugins.module_utils import notify

HC = "https://hc-ping.example.org/4f0c9a8e-6b1d-4c55-9d7e-abcdefabcdef"
DISCORD = "https://discord.com/api/webhooks/123456789/S3cr3tT0kenXYZ"
RUN_ID = "0b7e1c2a-1111-2222-3333-444455556666"


def secrets_file(tmp_path, data, mode=0o600):
    path = tmp_path / "notify.json"
    path.write_text(json.dumps(data))
    os.chmod(str(path), mode)
    return str(path)


def record(**extra):
    base = {"run_id": RUN_ID, "host": "h1", "command": "backup", "definition": "docs", "status": "FAILURE",
            "archive": None, "level": "FULL", "failed_phase": "validate", "error": "root /data does not exist",
            "warnings": []}
    base.update(extra)
    return base


def test_empty_and_null_channels_are_not_set(tmp_path):
    # What the configure role used to write with only discord_url set: the whole file was refused.
    path = secrets_file(tmp_path, {"discord_url": DISCORD, "webhook_url": "", "healthchecks_url": None})
    assert notify.load_secrets(path) == {"discord_url": DISCORD}


def test_healthchecks_url_is_a_known_secret(tmp_path):
    path = secrets_file(tmp_path, {"healthchecks_url": HC})
    assert notify.load_secrets(path) == {"healthchecks_url": HC}


@pytest.mark.parametrize("value", [5, "hc-ping.example.org/abc", "ftp://hc.example.org/abcdef"])
def test_bad_healthchecks_url_refused_without_echo(tmp_path, value):
    path = secrets_file(tmp_path, {"healthchecks_url": value})
    with pytest.raises(notify.NotifyError) as info:
        notify.load_secrets(path)
    assert "healthchecks_url" in str(info.value) and "hc-ping" not in str(info.value)


@pytest.mark.parametrize("status, event", [
    ("SUCCESS", "success"), ("WARNING", "success"), ("FAILURE", "fail"), ("SKIPPED", "log"),
])
def test_healthchecks_event(status, event):
    assert notify.healthchecks_event(status) == event


@pytest.mark.parametrize("url, event, expected", [
    (HC, "start", HC + "/start?rid=" + RUN_ID),
    (HC, "success", HC + "?rid=" + RUN_ID),
    (HC, "fail", HC + "/fail?rid=" + RUN_ID),
    (HC, "log", HC + "/log?rid=" + RUN_ID),
    (HC + "/", "fail", HC + "/fail?rid=" + RUN_ID),
    ("https://hc.example.org/ping/key/dar-docs?create=1", "start",
     "https://hc.example.org/ping/key/dar-docs/start?create=1&rid=" + RUN_ID),
])
def test_ping_url(url, event, expected):
    assert notify.ping_url(url, event, RUN_ID) == expected


def test_ping_url_without_run_id():
    assert notify.ping_url(HC, "fail") == HC + "/fail"


class _Opener(object):
    def __init__(self, exc=None):
        self.exc = exc
        self.requests = []

    def open(self, request, timeout=None):
        self.requests.append(request)
        if self.exc:
            raise self.exc
        return _Response()


class _Response(object):
    def read(self, size):
        return b"OK"

    def getcode(self):
        return 200

    def close(self):
        pass


def test_ping_start_is_a_get_the_end_a_post_with_the_summary(monkeypatch):
    opener = _Opener()
    monkeypatch.setattr(notify.urllib.request, "build_opener", lambda *handlers: opener)
    assert notify.ping(HC, "start", run_id=RUN_ID) == 200
    assert notify.ping(HC, "fail", body="docs FAILURE\nfailed phase: validate", run_id=RUN_ID) == 200
    start, fail = opener.requests
    assert start.get_method() == "GET" and start.data is None and start.full_url == HC + "/start?rid=" + RUN_ID
    assert start.get_header("User-agent") == "dar.backup"
    assert fail.get_method() == "POST" and fail.full_url == HC + "/fail?rid=" + RUN_ID
    assert fail.get_header("Content-type") == "text/plain; charset=utf-8"
    assert fail.data == b"docs FAILURE\nfailed phase: validate"


def test_ping_body_is_bounded(monkeypatch):
    opener = _Opener()
    monkeypatch.setattr(notify.urllib.request, "build_opener", lambda *handlers: opener)
    notify.ping(HC, "success", body="x" * (notify.PING_BODY_LIMIT * 3))
    assert len(opener.requests[0].data) == notify.PING_BODY_LIMIT


@pytest.mark.parametrize("exc", [
    urllib.error.HTTPError(HC + "/fail", 404, "Not Found", {}, None),
    urllib.error.URLError("no route to %s/fail" % HC),
    OSError("reset by %s/start?rid=%s" % (HC, RUN_ID)),
])
def test_ping_errors_never_hold_the_url(monkeypatch, exc):
    monkeypatch.setattr(notify.urllib.request, "build_opener", lambda *handlers: _Opener(exc=exc))
    with pytest.raises(notify.NotifyError) as info:
        notify.ping(HC, "fail", body="x", run_id=RUN_ID)
    assert "4f0c9a8e" not in str(info.value) and "abcdef" not in str(info.value)


def test_healthchecks_pings_what_the_file_names(tmp_path):
    path = secrets_file(tmp_path, {"discord_url": DISCORD, "healthchecks_url": HC})
    pings = []

    def ping(url, event, body=None, run_id=None):
        pings.append((url, event, body, run_id))
    settings = {"on": "failure", "secrets_file": path}
    assert notify.healthchecks(record(status=None), settings, "start", ping_func=ping) is None
    # on: failure still pings a success: the check needs to hear that backups arrive.
    assert notify.healthchecks(record(status="SUCCESS"), settings, "success", ping_func=ping) is None
    assert notify.healthchecks(record(), settings, "fail", ping_func=ping) is None
    assert [(p[0], p[1], p[3]) for p in pings] == [(HC, "start", RUN_ID), (HC, "success", RUN_ID),
                                                   (HC, "fail", RUN_ID)]
    assert pings[0][2] is None
    assert "h1: docs FAILURE" in pings[2][2] and "failed phase: validate" in pings[2][2]


def test_healthchecks_off(tmp_path):
    pings = []
    with_hc = secrets_file(tmp_path, {"healthchecks_url": HC})
    assert notify.healthchecks(record(), {"on": "never", "secrets_file": with_hc}, "fail",
                               ping_func=lambda *a, **k: pings.append(a)) is None
    (tmp_path / "notify.json").unlink()
    without = secrets_file(tmp_path, {"discord_url": DISCORD})
    assert notify.healthchecks(record(), {"on": "always", "secrets_file": without}, "fail",
                               ping_func=lambda *a, **k: pings.append(a)) is None
    assert pings == []


def test_healthchecks_never_raises_and_scrubs(tmp_path):
    path = secrets_file(tmp_path, {"healthchecks_url": HC})

    def ping(url, event, body=None, run_id=None):
        raise RuntimeError("cannot reach %s/%s" % (url, event))
    message = notify.healthchecks(record(), {"on": "failure", "secrets_file": path}, "fail", ping_func=ping)
    assert message.startswith("healthchecks fail ping failed: RuntimeError: cannot reach ")
    assert "4f0c9a8e" not in message and "abcdef" not in message
    missing = notify.healthchecks(record(), {"on": "failure", "secrets_file": str(tmp_path / "none.json")}, "start")
    assert missing.startswith("notification failed: cannot open secrets file")


def test_send_ignores_the_healthchecks_url():
    posted = []
    assert notify.send(record(), {"healthchecks_url": HC}, post=lambda url, payload: posted.append(url)) == []
    assert posted == []
