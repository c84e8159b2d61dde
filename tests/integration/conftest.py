# -*- coding: utf-8 -*-
"""Integration tests: the real module through the real `ansible` CLI, with real dar, dar_manager and par2."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pathlib
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
TARGET_PYTHON = "/usr/bin/python3"  # the target's own interpreter, as on a managed host


def _collections_path():
    configured = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if configured:
        return configured
    # Running pytest by hand: serve the working tree as the collection.
    base = tempfile.mkdtemp(prefix="dar-backup-collections-")
    os.makedirs(os.path.join(base, "ansible_collections", "dar"))
    os.symlink(REPO, os.path.join(base, "ansible_collections", "dar", "backup"))
    return base


COLLECTIONS_PATH = _collections_path()


def _require(tool):
    path = shutil.which(tool)
    assert path, "%s is not installed: run the tests through `make test`, which installs it" % tool
    return path


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_PATH,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    })
    env.update(extra or {})
    return env


class ModuleRun(object):
    def __init__(self, proc, result):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.result = result

    @property
    def failed(self):
        return bool(self.result.get("failed"))

    @property
    def changed(self):
        return bool(self.result.get("changed"))

    def __repr__(self):
        shown = json.dumps(self.result, indent=1)[:4000]
        return "ModuleRun(rc=%s, result=%s, stderr=%s)" % (self.rc, shown, self.stderr[-2000:])


def run_module(module, args, check=False, become_user=None, env=None, timeout=900, popen=False):
    """`ansible localhost -m dar.backup.<module> -a <json>`; returns the parsed task result."""
    argv = [os.path.join(BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=" + TARGET_PYTHON,
            "-m", "dar.backup." + module, "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    if become_user:
        argv += ["-b", "--become-method", "ansible.builtin.su", "--become-user", become_user]
    if popen:
        return subprocess.Popen(argv, env=ansible_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    proc = subprocess.run(argv, env=ansible_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)
    return ModuleRun(proc, parse_adhoc(proc.stdout))


def parse_adhoc(stdout):
    """'localhost | CHANGED => {...}': the status word says whether the task failed."""
    marker = stdout.find(" => ")
    assert marker >= 0, "no task result in ansible output:\n%s" % stdout
    result = json.loads(stdout[marker + 4:])
    status = stdout[:marker].rsplit("|", 1)[-1].strip()
    result["failed"] = status.startswith(("FAILED", "UNREACHABLE"))
    return result


def dar_list(archive_path):
    """dar's own listing of an archive (-Tslicing prints each path), read by nothing of ours."""
    proc = subprocess.run([_require("dar"), "-l", archive_path, "-N", "-Q", "-Tslicing"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("utf-8", "surrogateescape")


def dar_test(archive_path):
    return subprocess.run([_require("dar"), "-t", archive_path, "-N", "-Q"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False).returncode


def catalog_basenames(db_path):
    proc = subprocess.run([_require("dar_manager"), "-B", db_path, "-l", "-Q"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    names = []
    for line in proc.stdout.splitlines():
        fields = [f for f in line.split("\t") if f.strip()]
        if len(fields) == 3 and fields[0].strip().isdigit():
            names.append(fields[2])
    return names


def write_file(path, data, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


AWKWARD_NAMES = [
    "with space.txt",
    "new\nline.txt",
    "tab\there.txt",
    "Ünïcødé résumé.txt",
    "日本語のファイル.txt",
    "-leading-dash.txt",
    "--double",
    "*?[x].txt",
    "sub dir/[ab].txt",
    "sub dir/a.txt",
    "quote's \"and\" <amp> & more.txt",
]


RUNNER_ENTRY = ("import sys; sys.path.insert(0, sys.argv.pop(1)); from dar_backup_engine.runner import main; "
                "sys.exit(main())")


def install_engine(top):
    """plugins/module_utils/*.py as the package dar_backup_engine in ``top``, as the configure role installs it
    for dar-backup-run; returns ``top``, which the runner's entry script (RUNNER_ENTRY) puts on sys.path."""
    package = os.path.join(str(top), "dar_backup_engine")
    os.makedirs(package, exist_ok=True)
    for path in glob.glob(os.path.join(REPO, "plugins", "module_utils", "*.py")):
        shutil.copy(path, package)
    with open(os.path.join(package, "__init__.py"), "w"):
        pass
    return str(top)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """The engine installed as the runner imports it, once per test file."""
    return install_engine(tmp_path_factory.mktemp("lib"))


@pytest.fixture(scope="session", autouse=True)
def tools_present():
    for tool in ("dar", "dar_manager", "par2", TARGET_PYTHON):
        _require(tool)


@pytest.fixture
def workdir(tmp_path):
    path = tmp_path / "w"
    path.mkdir()
    os.chmod(str(tmp_path), 0o755)
    return path


@pytest.fixture
def source(workdir):
    """A small tree with awkward names, some incompressible data and an excluded cache dir."""
    root = workdir / "src"
    for index, name in enumerate(AWKWARD_NAMES):
        write_file(str(root / name), "content of %r\n" % name * (index + 1))
    for index in range(20):
        write_file(str(root / "docs" / ("note-%02d.txt" % index)), ("note %d\n" % index) * 200)
    write_file(str(root / "photos" / "img.jpg"), os.urandom(300 * 1024))
    write_file(str(root / "cache" / "junk.bin"), os.urandom(1024))
    return root


@pytest.fixture
def photos(workdir):
    """2 MiB of incompressible data and a note: one slice for the PAR2 tests."""
    root = workdir / "photos"
    write_file(str(root / "a.raw"), os.urandom(1536 * 1024))
    write_file(str(root / "b.raw"), os.urandom(512 * 1024))
    write_file(str(root / "notes.txt"), "holiday\n" * 100)
    return root


@pytest.fixture
def backup_dir(workdir):
    return workdir / "backups"


def make_archive(backup_dir, definition, level, moment, root, reference=None):
    """An archive made with dar itself, named for ``moment`` (a datetime), as dar_backup would name it."""
    basename = "%s_%s_%s" % (definition, level, moment.strftime("%Y-%m-%d_%H%M%S"))
    argv = [_require("dar"), "-c", os.path.join(str(backup_dir), basename), "-N", "-Q", "-q", "-R", str(root),
            "--user-comment", "dar.backup level=%s reference=%s" % (level, reference or "none")]
    if reference:
        argv += ["-A", os.path.join(str(backup_dir), reference)]
    os.makedirs(str(backup_dir), exist_ok=True)
    subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return basename


FAKETIME_LIBS = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
UNPRIVILEGED_USER = "darbackup-it"


def faketime_env(moment):
    """Environment for run_module that gives the ansible CLI and the module the clock starting at ``moment``.

    FAKETIME_DONT_FAKE_MONOTONIC is deliberately not set: with libfaketime 0.9.10 it makes Python 3.11's
    time.sleep() (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)) fail with EINVAL (libfaketime issue #426),
    which crashes the ansible CLI.
    NO_FAKE_STAT: otherwise libfaketime shifts the mtimes stat() returns by the fake offset, and dar would
    record shifted mtimes in the archives.
    """
    assert FAKETIME_LIBS, "libfaketime is not installed: apt-get install -y faketime (the Makefile installs it)"
    return {"LD_PRELOAD": FAKETIME_LIBS[0], "FAKETIME": "@" + moment.strftime("%Y-%m-%d %H:%M:%S"),
            "NO_FAKE_STAT": "1"}


def epoch(moment):
    """A naive local datetime as an integer epoch (archive names and `when` are local time)."""
    return int(time.mktime(moment.timetuple()))


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture(scope="session")
def unprivileged_user():
    """A normal user for the tests that run the modules with become."""
    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", UNPRIVILEGED_USER], check=True)
    return pwd.getpwnam(UNPRIVILEGED_USER)


@pytest.fixture
def user_workdir():
    """Outside pytest's 0700 tmp tree, so the unprivileged user can reach it."""
    path = tempfile.mkdtemp(prefix="dar-backup-user-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def small_tmpfs(path, size):
    """A tmpfs of ``size`` (e.g. "3m") mounted on ``path`` for the block: a disk that fills up on cue."""
    os.makedirs(str(path), exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


_MISBEHAVING_DAR = r'''#!/usr/bin/python3
import os, subprocess, sys

REAL, ONLY_UNDER, HOW = %r, %r, %r


def regular_files(top):
    found = {}
    for parent, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(parent, name)
            st = os.lstat(path)
            if not os.path.islink(path):
                found[path] = (st.st_ino, st.st_ctime_ns, st.st_size)
    return found


def flip(path, stamp):
    st = os.lstat(path)
    with open(path, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]) if first else b"A")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def cut(path, stamp):
    if stamp[2] > 0:
        os.truncate(path, stamp[2] // 2)


extracting = "-x" in sys.argv and "-R" in sys.argv
dest = sys.argv[sys.argv.index("-R") + 1] if extracting else ""
lying = extracting and (ONLY_UNDER is None or ONLY_UNDER in dest)
before = regular_files(dest) if lying else {}
rc = subprocess.call([REAL] + sys.argv[1:])
if lying:
    for path, stamp in regular_files(dest).items():
        if before.get(path) != stamp:
            {"flip": flip, "cut": cut}[HOW](path, stamp)
sys.exit(rc)
'''


def _misbehaving_dar_env(bindir, only_under, how):
    bindir = str(bindir)
    os.makedirs(bindir)
    wrapper = os.path.join(bindir, "dar")
    with open(wrapper, "w") as handle:
        handle.write(_MISBEHAVING_DAR % (shutil.which("dar"), only_under, how))
    os.chmod(wrapper, 0o755)
    return {"PATH": "%s:%s" % (bindir, os.environ["PATH"])}


def lying_dar_env(bindir, only_under=None):
    """Environment whose PATH finds a dar that lies on extraction: it flips the first byte of every regular
    file an extraction (``-x``) wrote, once, and keeps its times, so that only comparing contents can notice.
    With ``only_under`` it lies only when the extraction's ``-R`` directory contains that string."""
    return _misbehaving_dar_env(bindir, only_under, "flip")


def short_dar_env(bindir, only_under=None):
    """Environment whose PATH finds a dar that writes short files, as when the disk fills: every non-empty regular
    file an extraction (``-x``) wrote is cut to half its size, with a fresh mtime, and dar's exit code is kept.
    With ``only_under`` it does so only when the extraction's ``-R`` directory contains that string."""
    return _misbehaving_dar_env(bindir, only_under, "cut")
