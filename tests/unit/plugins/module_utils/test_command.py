# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""command.run runs small Python children here (never dar or par2)."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

PY = sys.executable


def py(code):
    return [PY, "-c", code]


def test_refuses_shell_strings():
    with pytest.raises(TypeError):
        command.run("echo hi")
    with pytest.raises(TypeError):
        command.run(b"echo hi")


def test_success_output_and_rc():
    res = command.run(py("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"), timeout=30)
    assert res.rc == 3
    assert res.stdout == "out\n"
    assert res.stderr == "err\n"
    assert res.timed_out is False
    assert res.argv[0] == PY
    assert res.duration >= 0


def test_c_locale_and_closed_stdin():
    res = command.run(py("import os, sys; print(os.environ['LC_ALL'], os.environ['LANG']); print(repr(sys.stdin.read()))"),
                      timeout=30)
    assert res.stdout.splitlines() == ["C C", "''"]


def test_argument_is_not_interpreted_by_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    res = command.run(py("import sys; print(sys.argv[1])") + ["; touch %s" % marker], timeout=30)
    assert res.stdout == "; touch %s\n" % marker
    assert not marker.exists()


def test_paths_are_accepted(tmp_path):
    res = command.run([PY, "-c", "import os; print(os.getcwd())"], timeout=30, cwd=tmp_path)
    assert res.stdout.strip() == str(tmp_path)


def test_timeout_kills_and_marks():
    started = time.monotonic()
    res = command.run(py("import time; time.sleep(60)"), timeout=0.5)
    assert time.monotonic() - started < 20
    assert res.timed_out is True
    assert res.rc is not None and res.rc < 0
    assert "timeout" in res.stderr


def test_zero_timeout_means_no_limit():
    res = command.run(py("import time; time.sleep(0.2); print('done')"), timeout=0)
    assert res.rc == 0 and res.stdout == "done\n" and not res.timed_out


def test_stdout_to_file_in_full(tmp_path):
    out = tmp_path / "listing.xml"
    res = command.run(py("print('x' * 200000)"), timeout=30, stdout_path=str(out), tail_bytes=1024)
    assert res.stdout == ""
    assert out.read_text() == "x" * 200000 + "\n"


def test_tail_is_cut():
    res = command.run(py("print('\\n'.join('line %d' % i for i in range(5000)))"), timeout=30, tail_bytes=100)
    assert res.stdout.startswith("[... ")
    assert "bytes cut" in res.stdout
    assert res.stdout.rstrip().endswith("line 4999")
    assert len(res.stdout) < 200


def test_cannot_start(tmp_path):
    with pytest.raises(DarBackupError) as info:
        command.run([str(tmp_path / "no-such-program")], timeout=5)
    assert "cannot start" in info.value.msg
    assert info.value.cmd == [str(tmp_path / "no-such-program")]


def test_error_carries_the_result():
    res = command.CommandResult(["dar", "-t", "x"], 5, "o", "e", 0.1)
    err = res.error("bad", "verify")
    assert (err.msg, err.phase, err.rc, err.stdout, err.stderr, err.cmd) == ("bad", "verify", 5, "o", "e",
                                                                             ["dar", "-t", "x"])
    assert err.as_dict() == {"msg": "bad", "phase": "verify", "rc": 5, "cmd": ["dar", "-t", "x"],
                             "stdout": "o", "stderr": "e"}


def test_error_as_dict_minimal():
    assert DarBackupError("m").as_dict() == {"msg": "m", "stdout": "", "stderr": ""}


def test_find_tool(monkeypatch, tmp_path):
    tool = tmp_path / "dar"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert command.find_tool("dar") == str(tool)
    with pytest.raises(DarBackupError) as info:
        command.find_tool("par2", phase="par2")
    assert info.value.phase == "par2"
    assert "par2cmdline" in info.value.msg  # the install hint
    assert str(tmp_path) in info.value.msg
    with pytest.raises(DarBackupError) as info:
        command.find_tool("frobnicate")
    assert "install it" in info.value.msg


# --- Scope: commands of one thread that another thread can stop ---------------------------------------------

SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"


def _wait_for(path, limit=20):
    deadline = time.monotonic() + limit
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.01)
    return int(path.read_text())


def _dead(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_scope_cancel_kills_the_running_child(tmp_path):
    scope = command.Scope()
    outcome = {}
    pid_file = tmp_path / "pid"

    def work():
        try:
            command.run_in_scope(scope, command.run, py(SLEEPER) + [str(pid_file)], 300)
        except BaseException as exc:
            outcome["error"] = exc
    thread = threading.Thread(target=work)
    started = time.monotonic()
    thread.start()
    pid = _wait_for(pid_file)
    scope.cancel()
    thread.join(30)
    assert not thread.is_alive()
    assert time.monotonic() - started < 30
    assert isinstance(outcome.get("error"), command.Stopped)
    assert _dead(pid)


def test_cancelled_scope_starts_nothing(tmp_path):
    scope = command.Scope()
    scope.cancel()
    marker = tmp_path / "ran"
    with pytest.raises(command.Stopped):
        command.run_in_scope(scope, command.run, py("open(%r, 'w')" % str(marker)))
    assert not marker.exists()


def test_scope_is_per_thread(tmp_path):
    scope = command.Scope()
    scope.cancel()
    res = command.run(py("print('free')"), timeout=30)  # this thread is in no scope
    assert res.stdout == "free\n"


def test_run_many_stop_kills_the_running_children(tmp_path):
    files = [tmp_path / ("pid%d" % n) for n in range(2)]
    asked = []

    def stop(results):
        asked.append(list(results))
        return all(f.exists() and f.read_text() for f in files)
    started = time.monotonic()
    with pytest.raises(command.Stopped):
        command.run_many([py(SLEEPER) + [str(f)] for f in files] + [py("pass")], 2, timeout=300, stop=stop)
    assert time.monotonic() - started < 30
    assert all(_dead(int(f.read_text())) for f in files)
    assert asked and all(r == [None, None, None] for r in asked)  # the third never started


def test_openmp_threads_sleep_instead_of_spinning(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    res = command.run(py("import os; print(os.environ['OMP_WAIT_POLICY'])"), timeout=30)
    assert res.stdout == "PASSIVE\n"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # a deliberate setting is kept
    res = command.run(py("import os; print(os.environ['OMP_WAIT_POLICY'])"), timeout=30)
    assert res.stdout == "ACTIVE\n"
