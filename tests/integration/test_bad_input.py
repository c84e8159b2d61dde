# -*- coding: utf-8 -*-
"""Bad input: one clear message, and nothing written."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import run_module


def args_for(source, backup_dir, **extra):
    args = {"name": "docs", "root": str(source), "backup_dir": str(backup_dir)}
    args.update(extra)
    return args


def assert_refused(run, *fragments):
    assert run.failed, run
    msg = run.result["msg"]
    assert "\n" not in msg.strip() and "Traceback" not in run.stdout, run
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


@pytest.mark.parametrize("name", ["../x", "a_b", "a;b", "", "a/b", "-x", "x y"])
def test_unsafe_definition_name(source, backup_dir, name):
    run = run_module("dar_backup", args_for(source, backup_dir, name=name))
    assert_refused(run, "not safe", repr(name))
    assert not backup_dir.exists()


def test_missing_root(workdir, backup_dir):
    run = run_module("dar_backup", args_for(workdir / "nope", backup_dir))
    assert_refused(run, "does not exist", str(workdir / "nope"))
    assert not backup_dir.exists()


def test_neither_root_nor_definition_file(backup_dir):
    run = run_module("dar_backup", {"name": "docs", "backup_dir": str(backup_dir)})
    assert_refused(run, "one of the following is required: definition_file, root")


def test_definition_file_without_root_line(workdir, backup_dir):
    dcf = workdir / "bad.dcf"
    dcf.write_text("-z6\n")
    run = run_module("dar_backup", {"name": "docs", "definition_file": str(dcf), "backup_dir": str(backup_dir)})
    assert_refused(run, "no -R <root> line")
    assert not backup_dir.exists()


def test_backup_dir_on_a_read_only_filesystem(source, workdir):
    mount = workdir / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)], check=True)
    try:
        run = run_module("dar_backup", args_for(source, mount))
        assert_refused(run, "backup_dir", "not writable")
        assert os.listdir(str(mount)) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_backup_dir_is_the_root(source):
    run = run_module("dar_backup", args_for(source, source))
    assert_refused(run, "is the root being backed up")
    assert not (source / ".dar-backup-work").exists()


def test_diff_with_no_full(source, backup_dir):
    run = run_module("dar_backup", args_for(source, backup_dir, level="diff"))
    assert_refused(run, "needs a FULL archive", "level=full")
    assert not backup_dir.exists()


def test_incr_with_no_full(source, backup_dir):
    backup_dir.mkdir()
    run = run_module("dar_backup", args_for(source, backup_dir, level="incr"))
    assert_refused(run, "needs a FULL archive")
    assert os.listdir(str(backup_dir)) == []


@pytest.mark.parametrize("compression,fragment", [
    ("brotli", "unknown compression 'brotli'"),
    ("zstd:99", "from 1 to 22"),
    ("gzip:x", "from 1 to 9"),
])
def test_unknown_compression(source, backup_dir, compression, fragment):
    run = run_module("dar_backup", args_for(source, backup_dir, compression=compression))
    assert_refused(run, fragment)
    assert not backup_dir.exists()


def test_compression_none_is_valid(source, backup_dir):
    run = run_module("dar_backup", args_for(source, backup_dir, compression="none", restore_test={"files": 1}))
    assert not run.failed and run.changed, run


def test_non_numeric_redundancy(source, backup_dir):
    run = run_module("dar_backup", args_for(source, backup_dir, par2={"redundancy": "lots"}))
    assert_refused(run, "redundancy")
    assert not backup_dir.exists()


@pytest.mark.parametrize("bad", [0, 101])
def test_redundancy_out_of_range(source, backup_dir, bad):
    run = run_module("dar_backup", args_for(source, backup_dir, par2={"redundancy": bad}))
    assert_refused(run, "from 1 to 100")
    assert not backup_dir.exists()


@pytest.mark.parametrize("option,value,fragment", [
    ("min_interval", "soon", "min_interval 'soon' is not a duration"),
    ("slice_size", "big", "slice_size 'big' is not a size"),
])
def test_bad_durations_and_sizes(source, backup_dir, option, value, fragment):
    run = run_module("dar_backup", args_for(source, backup_dir, **{option: value}))
    assert_refused(run, fragment)
    assert not backup_dir.exists()


@pytest.mark.parametrize("path", ["/etc", "../up", "a/../../b"])
def test_include_must_be_relative(source, backup_dir, path):
    run = run_module("dar_backup", args_for(source, backup_dir, include=[path]))
    assert_refused(run, "must be relative to root")


def _path_without(tmp_path, missing):
    """A PATH holding every program of the usual dirs except ``missing``."""
    bindir = tmp_path / ("bin-without-" + missing)
    bindir.mkdir()
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(directory):
            continue
        for entry in os.listdir(directory):
            link = bindir / entry
            if entry != missing and not link.exists():
                os.symlink(os.path.join(directory, entry), str(link))
    return str(bindir)


@pytest.mark.parametrize("tool,hint", [("dar", "install the 'dar' package"), ("par2", "par2.enabled=false"),
                                       ("dar_manager", "ships dar_manager")])
def test_tool_missing_from_path(source, backup_dir, tmp_path, tool, hint):
    path = _path_without(tmp_path, tool)
    run = run_module("dar_backup", args_for(source, backup_dir), env={"PATH": path})
    assert_refused(run, "%s was not found in PATH" % tool, hint)
    assert not backup_dir.exists()


def test_par2_missing_is_fine_when_disabled(source, backup_dir, tmp_path):
    path = _path_without(tmp_path, "par2")
    run = run_module("dar_backup", args_for(source, backup_dir, par2={"enabled": False}), env={"PATH": path})
    assert not run.failed and run.changed, run
    assert not [n for n in os.listdir(str(backup_dir)) if n.endswith(".par2")]
