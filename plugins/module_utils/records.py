# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run records: one JSON line per job in ``<state_dir>/runs.jsonl``, appended by the runner, read by dar_info.

Below both the runner (which writes them) and info/report (which read them), so neither imports the other.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import time
import uuid

RECORDS_FILE = "runs.jsonl"
RECORD_SCHEMA = 1
# runs.jsonl is moved to runs.jsonl.1 (replacing it) when it grows past this.
RECORDS_MAX_BYTES = 8 * 1024 * 1024
RECORD_LOCK_WAIT = 10.0
ERROR_LIMIT = 2000

SUCCESS = "SUCCESS"
WARNING = "WARNING"
FAILURE = "FAILURE"
SKIPPED = "SKIPPED"  # the definition's lock was held by another run: nothing was done


def one_line(text, limit=ERROR_LIMIT):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_record(command, definition):
    return {
        "schema": RECORD_SCHEMA, "run_id": str(uuid.uuid4()), "host": socket.gethostname(), "command": command,
        "definition": definition, "level": None, "archive": None, "reference": None,
        "started": None, "finished": None, "duration": None, "status": None, "failed_phase": None,
        "error": None, "durations": {}, "size_bytes": None, "par2_size_bytes": None, "dar_rc": None,
        "verify_passed": None, "restore_test": None, "catalog_added": None, "warnings": [],
        "notify_error": None,
    }


def _lock_records(fd):
    deadline = time.monotonic() + RECORD_LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _open_records(path):
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)


def append_record(state_dir, record):
    """Append one JSON line under an flock; rotate to runs.jsonl.1 past RECORDS_MAX_BYTES. Raises OSError."""
    os.makedirs(state_dir, mode=0o750, exist_ok=True)
    path = os.path.join(state_dir, RECORDS_FILE)
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    fd = _open_records(path)
    try:
        while True:
            _lock_records(fd)
            # Another writer may have rotated the file while we waited: write to the file at the path.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
            fd = _open_records(path)
        if os.fstat(fd).st_size + len(line) > RECORDS_MAX_BYTES and os.fstat(fd).st_size > 0:
            os.replace(path, path + ".1")
            os.close(fd)
            fd = _open_records(path)
            _lock_records(fd)
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
    return path


def read_records(state_dir):
    """Every parseable record, oldest first (runs.jsonl.1, then runs.jsonl); bad lines are skipped."""
    records = []
    for name in (RECORDS_FILE + ".1", RECORDS_FILE):
        try:
            with open(os.path.join(state_dir, name), "rb") as handle:
                for raw in handle:
                    try:
                        record = json.loads(raw.decode("utf-8"))
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        records.append(record)
        except OSError:
            continue
    return records


def last_runs(records):
    """{definition: {"last_run": record, "last_runs": {command: record}}} by finishing order."""
    found = {}
    for record in records:
        entry = found.setdefault(record.get("definition"), {"last_run": None, "last_runs": {}})
        entry["last_run"] = record
        entry["last_runs"][record.get("command")] = record
    return found
