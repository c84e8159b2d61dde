# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tell someone how a run went: a Discord webhook, a generic JSON webhook, and healthchecks-style pings.

A healthchecks URL (healthchecks.io, or any server that speaks its ping API, as borgmatic uses it) is
pinged at ``<url>/start`` when a run begins, at ``<url>`` when it succeeds and at ``<url>/fail`` when
it fails, so a check that stops hearing from a host raises the alarm itself.

The URLs are secrets (a Discord webhook URL is all it takes to post in the channel), so they
are read only from a secrets file that only its owner can read, never from the command line or the
main config, and they never appear in any message: errors name the channel ("discord notification
failed: ...") and have the URL scrubbed from whatever the HTTP library said.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 10
USER_AGENT = "dar.backup"
DISCORD_LIMIT = 2000
# The channels that receive a message about a run (the fleet report posts to the same ones).
CHANNELS = (("discord", "discord_url"), ("webhook", "webhook_url"))
HEALTHCHECKS_KEY = "healthchecks_url"
SECRET_KEYS = tuple(key for _channel, key in CHANNELS) + (HEALTHCHECKS_KEY,)
NOTIFY_ON = ("failure", "always", "never")
# Ping suffixes of the healthchecks API; "log" records an event without changing the check's state.
PING_EVENTS = {"start": "/start", "success": "", "fail": "/fail", "log": "/log"}
# Healthchecks keeps at most 100 kB of a ping body; a summary is all it needs.
PING_BODY_LIMIT = 10000


class NotifyError(Exception):
    """A notification could not be sent; the message never holds a URL."""


def should_send(on, status):
    """``on`` is failure, always or never; a run that could not start (SKIPPED) is not a failure."""
    if on == "always":
        return True
    return on == "failure" and status == "FAILURE"


def _check_url(key, value, path):
    if not isinstance(value, str) or not value:
        raise NotifyError("secrets file %s: %s must be a non-empty string" % (path, key))
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        # Not even the scheme is echoed: a pasted URL with a typo is still a secret.
        raise NotifyError("secrets file %s: %s is not an http(s) URL" % (path, key))
    return value


def load_secrets(path):
    """{"discord_url": ..., "webhook_url": ..., "healthchecks_url": ...} (any may be missing) from a file only its
    owner can read. A key whose value is null or "" is not set (a channel left empty is off, not an error).

    Refused unless the file is a regular file (not a symlink), of mode 0600 or stricter, owned by the
    running user or root.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotifyError("secrets file %s is a symlink; refusing it: put the file itself there" % path)
        raise NotifyError("cannot open secrets file %s: %s" % (path, exc.strerror))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotifyError("secrets file %s is not a regular file; refusing it" % path)
        mode = stat.S_IMODE(info.st_mode)
        if mode & ~0o600:
            raise NotifyError("secrets file %s has mode %04o; refusing it: it holds webhook URLs, make it 0600 "
                              "(chmod 0600 %s)" % (path, mode, path))
        if info.st_uid not in (os.geteuid(), 0):
            raise NotifyError("secrets file %s is owned by uid %d, not by uid %d (the running user) or root; "
                              "refusing it" % (path, info.st_uid, os.geteuid()))
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            if sum(len(c) for c in chunks) > 1024 * 1024:
                raise NotifyError("secrets file %s is larger than 1 MiB" % path)
    finally:
        os.close(fd)
    try:
        data = json.loads(b"".join(chunks).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        # json's message quotes no input text, only positions.
        raise NotifyError("secrets file %s is not valid JSON: %s" % (path, getattr(exc, "msg", "not UTF-8")))
    if not isinstance(data, dict):
        raise NotifyError("secrets file %s must hold a JSON object" % path)
    unknown = sorted(str(k) for k in data if k not in SECRET_KEYS)
    if unknown:
        raise NotifyError("secrets file %s: unknown key %s (known: %s)" % (path, unknown[0], ", ".join(SECRET_KEYS)))
    return dict((key, _check_url(key, value, path)) for key, value in data.items() if value not in (None, ""))


def scrub(text, url):
    """``text`` without the URL or any recognisable part of it (Discord's token is a path segment)."""
    text = str(text)
    if not url:
        return text
    parsed = urllib.parse.urlsplit(url)
    secrets = set([url, urllib.parse.unquote(url), parsed.path, parsed.query, parsed.path + "?" + parsed.query])
    secrets.update(segment for segment in parsed.path.split("/") if len(segment) >= 6)
    if parsed.username or parsed.password:
        secrets.update(p for p in (parsed.username, parsed.password) if p)
    for secret in sorted((s for s in secrets if s and s not in ("/", "?")), key=len, reverse=True):
        text = text.replace(secret, "<secret>")
    return text


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET elsewhere: report it instead of following it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def post_json(url, payload, timeout=TIMEOUT):
    """POST ``payload`` as JSON; raises NotifyError (URL-free) unless the answer is 2xx."""
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    return _request(url, body, "application/json", timeout)


def _request(url, body, content_type, timeout):
    """GET (``body`` None) or POST ``body``; the answer code, or NotifyError (URL-free) unless it is 2xx."""
    headers = {"User-Agent": USER_AGENT}
    if body is not None:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, method="GET" if body is None else "POST", headers=headers)
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        response = opener.open(request, timeout=timeout)
        try:
            response.read(65536)
            code = response.getcode()
        finally:
            response.close()
    except urllib.error.HTTPError as exc:
        try:
            exc.close()
        except Exception:  # pylint: disable=broad-except
            pass
        raise NotifyError(scrub("HTTP %s %s" % (exc.code, exc.reason), url))
    except urllib.error.URLError as exc:
        raise NotifyError(scrub("cannot connect: %s" % (exc.reason,), url))
    except Exception as exc:  # pylint: disable=broad-except
        # socket.timeout, ConnectionResetError, http.client errors, bad URLs...
        raise NotifyError(scrub("%s: %s" % (type(exc).__name__, exc), url))
    if not 200 <= code < 300:
        raise NotifyError("HTTP %s" % code)
    return code


def _one_line(value, limit=300):
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def discord_text(record):
    """A short summary: host, definition, status, archive, failed phase and error."""
    head = "dar-backup %s on %s: %s %s" % (record.get("command") or "run", record.get("host") or "?",
                                           record.get("definition") or "-", record.get("status") or "?")
    lines = [head]
    if record.get("archive"):
        level = " (%s)" % record["level"] if record.get("level") else ""
        lines.append("archive: %s%s" % (record["archive"], level))
    elif record.get("level"):
        lines.append("level: %s" % record["level"])
    if record.get("failed_phase"):
        lines.append("failed phase: %s" % record["failed_phase"])
    if record.get("error"):
        lines.append("error: %s" % _one_line(record["error"], 1200))
    warnings = record.get("warnings") or []
    if warnings:
        lines.append("warnings: %s" % _one_line("; ".join(warnings), 300))
    text = "\n".join(lines)
    return text if len(text) <= DISCORD_LIMIT else text[:DISCORD_LIMIT - 3] + "..."


def discord_payload(record):
    # No @everyone / @here / role pings, whatever a path name or an error message says.
    return {"content": discord_text(record), "allowed_mentions": {"parse": []}}


def send(record, secrets, post=None):
    """Send ``record`` to every configured channel; returns the list of URL-free error strings."""
    post = post or post_json
    errors = []
    for channel, key in CHANNELS:
        url = secrets.get(key)
        if not url:
            continue
        payload = discord_payload(record) if channel == "discord" else record
        try:
            post(url, payload)
        except NotifyError as exc:
            errors.append("%s notification failed: %s" % (channel, scrub(exc, url)))
        except Exception as exc:  # pylint: disable=broad-except
            errors.append("%s notification failed: %s" % (channel, scrub("%s: %s" % (type(exc).__name__, exc), url)))
    return errors


def healthchecks_event(status):
    """The ping that ends a run: success (warnings included), fail, or log for a run that found its
    definition locked by another run (that run pings the outcome; a success here would hide its failure)."""
    if status == "FAILURE":
        return "fail"
    if status == "SKIPPED":
        return "log"
    return "success"


def ping_url(url, event, run_id=None):
    """``url`` with the event's suffix on its path and ``rid=<run_id>`` in its query, which pairs a start
    with its end even when two runs overlap; a query already in the URL (e.g. ``?create=1``) is kept."""
    parts = urllib.parse.urlsplit(url)
    query = parts.query
    if run_id:
        query = (query + "&" if query else "") + urllib.parse.urlencode({"rid": run_id})
    path = (parts.path.rstrip("/") + PING_EVENTS[event]) if PING_EVENTS[event] else parts.path
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def ping(url, event, body=None, run_id=None, timeout=TIMEOUT):
    """One healthchecks ping: GET without a body, else POST of ``body`` as text; NotifyError is URL-free."""
    data = None if body is None else body[:PING_BODY_LIMIT].encode("utf-8", "replace")
    try:
        return _request(ping_url(url, event, run_id), data, "text/plain; charset=utf-8", timeout)
    except NotifyError as exc:
        raise NotifyError(scrub(exc, url))


def healthchecks(record, settings, event, ping_func=None):
    """Ping the healthchecks URL, if the secrets file has one, for ``event`` (start, success, fail, log) of
    ``record``; returns None or one URL-free error line, never raises.

    Pings go out whatever ``on`` says except ``never``: a dead man's switch needs the successes too.
    """
    try:
        if settings.get("on", "failure") == "never":
            return None
        url = load_secrets(settings["secrets_file"]).get(HEALTHCHECKS_KEY)
        if not url:
            return None
        body = None if event == "start" else discord_text(record)
        try:
            (ping_func or ping)(url, event, body=body, run_id=record.get("run_id"))
        except Exception as exc:  # pylint: disable=broad-except
            detail = str(exc) if isinstance(exc, NotifyError) else "%s: %s" % (type(exc).__name__, exc)
            return "healthchecks %s ping failed: %s" % (event, scrub(detail, url))
    except NotifyError as exc:
        return "notification failed: %s" % exc
    except Exception as exc:  # pylint: disable=broad-except
        return "notification failed: %s" % type(exc).__name__
    return None


def notify(record, settings, post=None):
    """Send per ``settings`` ({"on": ..., "secrets_file": ...}); returns None or one URL-free error line.

    Never raises: a notification that cannot be sent must not change how the run is reported.
    """
    try:
        if not should_send(settings.get("on", "failure"), record.get("status")):
            return None
        secrets = load_secrets(settings["secrets_file"])
        errors = send(record, secrets, post=post)
    except NotifyError as exc:
        return "notification failed: %s" % exc
    except Exception as exc:  # pylint: disable=broad-except
        return "notification failed: %s" % type(exc).__name__
    return "; ".join(errors) or None
