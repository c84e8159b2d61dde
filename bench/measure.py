# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one measured step in a fresh child process: wall time, CPU time and peak memory of its whole tree."""

from __future__ import annotations

import json
import os
import statistics
import time


class Measurement(object):
    def __init__(self, rc, wall, user, sys_time, maxrss_kib, out_path):
        self.rc = rc
        self.wall = wall
        self.cpu = user + sys_time
        self.user = user
        self.sys = sys_time
        self.maxrss_mib = maxrss_kib / 1024.0
        self.out_path = out_path

    def output(self):
        with open(self.out_path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def as_dict(self):
        return {"rc": self.rc, "wall": round(self.wall, 3), "cpu": round(self.cpu, 3), "user": round(self.user, 3),
                "sys": round(self.sys, 3), "maxrss_mib": round(self.maxrss_mib, 1)}


def measure(argv, out_path, env=None, cwd=None):
    """Start ``argv`` with stdout and stderr to ``out_path``; wait4 gives the rusage of the child and
    every descendant it waited for: user+sys summed over the tree, ru_maxrss the largest single process."""
    actions = [(os.POSIX_SPAWN_CLOSE, 0), (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    env = dict(os.environ if env is None else env)
    if cwd:
        argv = ["/usr/bin/env", "-C", cwd] + list(argv)
    started = time.monotonic()
    pid = os.posix_spawnp(argv[0], list(argv), env, file_actions=actions)
    _pid, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    return Measurement(os.waitstatus_to_exitcode(status), wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss,
                       out_path)


def wait_for_quiet(threshold, max_wait, log):
    """Wait (up to max_wait s) until the 1-minute load average is below threshold; returns the load."""
    deadline = time.monotonic() + max_wait
    load = os.getloadavg()[0]
    while threshold and load > threshold and time.monotonic() < deadline:
        log("load %.2f > %.2f: waiting" % (load, threshold))
        time.sleep(20)
        load = os.getloadavg()[0]
    return load


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def adhoc_result(text):
    """The task result of `ansible localhost -m ...` (default callback, JSON result format)."""
    marker = text.find(" => ")
    if marker < 0:
        return {"failed": True, "msg": text[-2000:]}
    result = json.loads(text[marker + 4:])
    status = text[:marker].rsplit("|", 1)[-1].strip()
    result["failed"] = status.startswith(("FAILED", "UNREACHABLE"))
    return result
