# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run external programs: argument lists only, C locale, stdin closed, bounded time and output."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from .errors import DarBackupError

# Enough of dar's summary and error lines to explain a failure without holding GBs in memory.
TAIL_BYTES = 64 * 1024
DEFAULT_TIMEOUT = 86400

INSTALL_HINTS = {
    "dar": "install the 'dar' package (the dar.backup.install role does this)",
    "dar_manager": "install the 'dar' package, which ships dar_manager",
    "par2": "install 'par2' (Debian/Ubuntu) or 'par2cmdline' (Fedora/EPEL, Arch), or set par2.enabled=false",
}


class CommandResult(object):
    def __init__(self, argv, rc, stdout, stderr, duration, timed_out=False):
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration
        self.timed_out = timed_out

    def error(self, msg, phase):
        return DarBackupError(msg, phase=phase, rc=self.rc, stdout=self.stdout,
                              stderr=self.stderr, cmd=self.argv)


def find_tool(name, phase="validate"):
    """Absolute path of a program on PATH, or a failure that says how to get it."""
    path = shutil.which(name)
    if path is None:
        hint = INSTALL_HINTS.get(name, "install it")
        raise DarBackupError("%s was not found in PATH (%s); %s" % (name, os.environ.get("PATH", ""), hint),
                             phase=phase)
    return path


_PRCTL = []


def _die_with_parent():
    """A function for the child to run before exec: if the thread that started it dies (the whole process
    killed, even with -9), the kernel kills this child too, so no dar keeps writing into a staging area
    that the next run removes. libc is looked up here, in the parent: the child of a process with
    threads must not load libraries between fork and exec."""
    if not _PRCTL:
        try:
            import ctypes
            _PRCTL.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError):
            _PRCTL.append(None)
    prctl = _PRCTL[0]
    if prctl is None:
        return None

    def set_death_signal():
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    return set_death_signal


def _tail(handle, limit):
    handle.flush()
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - limit))
    data = handle.read()
    text = data.decode("utf-8", errors="replace")
    if size > limit:
        text = "[... %d bytes cut ...]\n" % (size - limit) + text.split("\n", 1)[-1]
    return text


def _kill_group(proc):
    """Stop the child and anything it started; it runs in its own session."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Stopped(DarBackupError):
    """A command was not started, or was killed, because the work it belonged to was called off."""

    def __init__(self, msg="stopped: a concurrent step failed"):
        super().__init__(msg)


class Scope(object):
    """Children started by one thread, which another thread can kill: the concurrent step of a backup
    (dar -t and the restore test beside PAR2 creation) is stopped at once when the other one fails."""

    def __init__(self):
        self.cancelled = False
        self._lock = threading.Lock()
        self._children = []

    def cancel(self):
        with self._lock:
            self.cancelled = True
            children = list(self._children)
        for child in children:
            child.kill()

    def add(self, child):
        with self._lock:
            if not self.cancelled:
                self._children.append(child)
                return
        child.kill()
        child.close()
        raise Stopped()

    def remove(self, child):
        with self._lock:
            if child in self._children:
                self._children.remove(child)

    def check(self):
        if self.cancelled:
            raise Stopped()


_local = threading.local()


def current_scope():
    return getattr(_local, "scope", None)


def run_in_scope(scope, func, *args):
    """Call ``func`` with every command that this thread runs meanwhile registered with ``scope``."""
    _local.scope = scope
    try:
        scope.check()
        return func(*args)
    finally:
        _local.scope = None


class _Running(object):
    """One started child: its process, its captured output, and when it started."""

    def __init__(self, argv, cwd=None, stdout_path=None):
        if isinstance(argv, (str, bytes)):
            raise TypeError("commands are argument lists, never shell strings")
        self.argv = [os.fspath(a) for a in argv]
        self.stdout_path = stdout_path
        env = dict(os.environ)
        env.update({"LC_ALL": "C", "LANG": "C", "LC_MESSAGES": "C"})
        # par2 uses OpenMP, whose idle threads spin by default: beside another busy process (dar -t runs
        # beside PAR2 creation) that made par2 create 4x slower on 2 cores. Sleeping threads cost nothing.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self.out = open(stdout_path, "w+b") if stdout_path else tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err, cwd=cwd, env=env,
                start_new_session=True, close_fds=True,
                preexec_fn=_die_with_parent() if sys.platform.startswith("linux") else None)
        except OSError as exc:
            self.close()
            raise DarBackupError("cannot start %s: %s" % (self.argv[0], exc), rc=None, cmd=self.argv)

    def kill(self):
        _kill_group(self.proc)

    def close(self):
        self.out.close()
        self.err.close()

    def finish(self, tail_bytes, timed_out=False, timeout=None):
        try:
            stdout = "" if self.stdout_path else _tail(self.out, tail_bytes)
            stderr = _tail(self.err, tail_bytes)
        finally:
            self.close()
        if timed_out:
            stderr += "\n[killed after the %s s timeout]" % timeout
        return CommandResult(self.argv, self.proc.returncode, stdout, stderr, time.monotonic() - self.started,
                             timed_out)


def _no_limit(timeout):
    return None if timeout is not None and timeout <= 0 else timeout


def run(argv, timeout=DEFAULT_TIMEOUT, cwd=None, stdout_path=None, tail_bytes=TAIL_BYTES):
    """Run ``argv`` (a list, never a shell string) and return a CommandResult.

    stdout goes to ``stdout_path`` in full when given (listings), otherwise only its
    tail is kept. A timeout kills the whole process group. If this process is
    interrupted (SIGTERM turned into an exception, KeyboardInterrupt), the child is
    killed before the exception travels on, so no dar keeps writing behind our back.
    """
    timeout = _no_limit(timeout)
    scope = current_scope()
    if scope is not None:
        scope.check()
    child = _Running(argv, cwd=cwd, stdout_path=stdout_path)
    timed_out = False
    try:
        if scope is not None:
            scope.add(child)
        child.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        child.kill()
    except Stopped:
        raise
    except BaseException:
        child.kill()
        child.close()
        raise
    finally:
        if scope is not None:
            scope.remove(child)
    if scope is not None and scope.cancelled:
        child.close()
        raise Stopped()
    return child.finish(tail_bytes, timed_out, timeout)


def run_many(argvs, workers, timeout=DEFAULT_TIMEOUT, tail_bytes=TAIL_BYTES, poll=0.05, stop=None):
    """Run independent commands, at most ``workers`` at a time, all started from this thread.

    Returns the CommandResults in the order of ``argvs``. Same guarantees as run(): argument
    lists only, per-command timeout, and every child killed if this process is interrupted.
    ``stop(results)`` is asked after each poll with the results so far (None where not finished);
    when it answers true, the running children are killed and Stopped is raised.
    """
    timeout = _no_limit(timeout)
    results = [None] * len(argvs)
    pending = list(enumerate(argvs))
    running = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                index, argv = pending.pop(0)
                running[index] = _Running(argv)
            for index, child in list(running.items()):
                if child.proc.poll() is not None:
                    results[index] = child.finish(tail_bytes)
                    del running[index]
                elif timeout is not None and time.monotonic() - child.started > timeout:
                    child.kill()
                    results[index] = child.finish(tail_bytes, True, timeout)
                    del running[index]
            if stop is not None and stop(results):
                raise Stopped()
            if running:
                time.sleep(poll)
    except BaseException:
        for child in running.values():
            child.kill()
            child.close()
        raise
    return results
