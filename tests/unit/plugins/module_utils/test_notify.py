# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import os
import urllib.error

import pytest

from ansible_collections.dar.backup.plugins.module_utils import notify

DISCORD = "https://discord.com/api/webhooks/123456789/S3cr3tT0kenXYZ"
WEBHOOK = "https://hooks.example.net/ingest/ab12cd34ef?key=topsecretkey"


def secrets_file(tmp_path, data, mode=0o600):
    path = tmp_path / "notify.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    os.chmod(str(path), mode)
    return str(path)


def record(**extra):
    base = {"host": "h1", "command": "backup", "definition": "docs", "status": "FAILURE", "archive": None,
            "level": "DIFF", "failed_phase": "create", "error": "dar -c failed (rc 2)", "warnings": []}
    base.update(extra)
    return base


@pytest.mark.parametrize("on, status, expected", [
    ("failure", "FAILURE", True), ("failure", "SUCCESS", False), ("failure", "WARNING", False),
    ("failure", "SKIPPED", False), ("always", "SUCCESS", True), ("always", "SKIPPED", True),
    ("never", "FAILURE", False),
])
def test_should_send(on, status, expected):
    assert notify.should_send(on, status) is expected


def test_load_secrets(tmp_path):
    path = secrets_file(tmp_path, {"discord_url": DISCORD, "webhook_url": WEBHOOK})
    assert notify.load_secrets(path) == {"discord_url": DISCORD, "webhook_url": WEBHOOK}
    os.chmod(path, 0o400)
    assert notify.load_secrets(path)["discord_url"] == DISCORD


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o700, 0o660])
def test_load_secrets_refuses_loose_modes(tmp_path, mode):
    path = secrets_file(tmp_path, {"discord_url": DISCORD}, mode=mode)
    with pytest.raises(notify.NotifyError) as info:
        notify.load_secrets(path)
    assert "mode %04o" % mode in str(info.value) and "refusing" in str(info.value)
    assert DISCORD not in str(info.value)


def test_load_secrets_refuses_other_owners(tmp_path, monkeypatch):
    path = secrets_file(tmp_path, {"discord_url": DISCORD})
    real_fstat = os.fstat

    class Fake(object):
        def __init__(self, st):
            self.st_mode = st.st_mode
            self.st_uid = 4242

    class OsSeenByNotify(object):
        """The os module as the code under test sees it: its fstat says another user owns the file. Only the
        notify module's ``os`` name is replaced; os.fstat stays itself for pytest and everything else."""

        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def fstat(fd):
            return Fake(os.fstat(fd))
    monkeypatch.setattr(notify, "os", OsSeenByNotify())
    with pytest.raises(notify.NotifyError, match="owned by uid 4242"):
        notify.load_secrets(path)
    assert os.fstat is real_fstat


def test_load_secrets_refuses_symlinks(tmp_path):
    path = secrets_file(tmp_path, {"discord_url": DISCORD})
    link = str(tmp_path / "link.json")
    os.symlink(path, link)
    with pytest.raises(notify.NotifyError, match="symlink"):
        notify.load_secrets(link)


@pytest.mark.parametrize("content, text", [
    ("not json " + DISCORD, "not valid JSON"),
    (json.dumps([DISCORD]), "JSON object"),
    (json.dumps({"discord": DISCORD}), "unknown key discord"),
    (json.dumps({"discord_url": "ftp://" + DISCORD[8:]}), "not an http(s) URL"),
    (json.dumps({"webhook_url": 5}), "non-empty string"),
])
def test_load_secrets_bad_content_never_echoes_it(tmp_path, content, text):
    path = secrets_file(tmp_path, content)
    with pytest.raises(notify.NotifyError) as info:
        notify.load_secrets(path)
    assert text in str(info.value)
    assert "S3cr3tT0ken" not in str(info.value)


def test_load_secrets_missing(tmp_path):
    with pytest.raises(notify.NotifyError, match="cannot open secrets file"):
        notify.load_secrets(str(tmp_path / "nope.json"))


def test_scrub():
    text = "POST %s failed: <urlopen error 404 for /api/webhooks/123456789/S3cr3tT0kenXYZ>" % DISCORD
    cleaned = notify.scrub(text, DISCORD)
    assert "S3cr3tT0ken" not in cleaned and "discord.com/api" not in cleaned
    assert "topsecretkey" not in notify.scrub("bad query key=topsecretkey", WEBHOOK)


def test_discord_text():
    text = notify.discord_text(record(error="x" * 5000, archive="docs_DIFF_2026-01-01_190301"))
    assert len(text) <= notify.DISCORD_LIMIT
    assert text.startswith("dar-backup backup on h1: docs FAILURE")
    assert "archive: docs_DIFF_2026-01-01_190301 (DIFF)" in text
    assert "failed phase: create" in text
    assert notify.discord_payload(record())["allowed_mentions"] == {"parse": []}


def test_send_posts_to_both(monkeypatch):
    posted = []
    errors = notify.send(record(), {"discord_url": DISCORD, "webhook_url": WEBHOOK},
                         post=lambda url, payload: posted.append((url, payload)))
    assert errors == []
    assert posted[0][0] == DISCORD and "docs FAILURE" in posted[0][1]["content"]
    assert posted[1] == (WEBHOOK, record())


def test_send_errors_never_hold_the_url():
    def post(url, payload):
        raise RuntimeError("connection to %s refused" % url)
    errors = notify.send(record(), {"discord_url": DISCORD, "webhook_url": WEBHOOK}, post=post)
    assert errors[0].startswith("discord notification failed: RuntimeError: connection to ")
    assert errors[1].startswith("webhook notification failed: ")
    for error in errors:
        assert "S3cr3tT0ken" not in error and "topsecretkey" not in error and "ab12cd34ef" not in error


class _Response(object):
    def __init__(self, code):
        self.code = code

    def read(self, size):
        return b""

    def getcode(self):
        return self.code

    def close(self):
        pass


class _Opener(object):
    def __init__(self, exc=None, code=204):
        self.exc = exc
        self.code = code
        self.requests = []

    def open(self, request, timeout=None):
        self.requests.append((request, timeout))
        if self.exc:
            raise self.exc
        return _Response(self.code)


def test_post_json_request(monkeypatch):
    opener = _Opener()
    monkeypatch.setattr(notify.urllib.request, "build_opener", lambda *handlers: opener)
    assert notify.post_json(DISCORD, {"content": "hi"}) == 204
    request, timeout = opener.requests[0]
    assert timeout == 10
    assert request.get_method() == "POST"
    assert request.get_header("User-agent") == "dar.backup"
    assert request.get_header("Content-type") == "application/json"
    assert json.loads(request.data.decode()) == {"content": "hi"}


@pytest.mark.parametrize("exc, text", [
    (urllib.error.HTTPError(DISCORD, 404, "Not Found", {}, None), "HTTP 404 Not Found"),
    (urllib.error.URLError("timed out reaching " + DISCORD), "cannot connect: timed out reaching <secret>"),
    (OSError("reset by %s" % DISCORD), "OSError: reset by <secret>"),
])
def test_post_json_errors_are_scrubbed(monkeypatch, exc, text):
    monkeypatch.setattr(notify.urllib.request, "build_opener", lambda *handlers: _Opener(exc=exc))
    with pytest.raises(notify.NotifyError) as info:
        notify.post_json(DISCORD, {"content": "hi"})
    assert str(info.value) == text
    assert "S3cr3tT0ken" not in str(info.value)


def test_notify_never_raises(tmp_path):
    settings = {"on": "failure", "secrets_file": str(tmp_path / "missing.json")}
    assert notify.notify(record(status="SUCCESS"), settings) is None  # nothing to send: the file is not read
    message = notify.notify(record(), settings)
    assert message.startswith("notification failed: cannot open secrets file")


def test_notify_refuses_loose_secrets_file(tmp_path):
    path = secrets_file(tmp_path, {"discord_url": DISCORD}, mode=0o644)
    posted = []
    message = notify.notify(record(), {"on": "always", "secrets_file": path},
                            post=lambda url, payload: posted.append(url))
    assert posted == []
    assert "mode 0644" in message and "S3cr3tT0ken" not in message


def test_notify_reports_channel_failures(tmp_path):
    path = secrets_file(tmp_path, {"discord_url": DISCORD, "webhook_url": WEBHOOK})

    def post(url, payload):
        if url == WEBHOOK:
            raise notify.NotifyError("HTTP 500 Internal Server Error")
    message = notify.notify(record(), {"on": "failure", "secrets_file": path}, post=post)
    assert message == "webhook notification failed: HTTP 500 Internal Server Error"
