# -*- coding: utf-8 -*-
"""A normal user backs up their own files (dar-backup's users back up FUSE mounts without root)."""

from __future__ import annotations

import os

from conftest import UNPRIVILEGED_USER as USER
from conftest import catalog_basenames, dar_test, run_module, write_file


def test_backup_as_a_normal_user(unprivileged_user, user_workdir):
    workdir = user_workdir
    home = workdir / "alice"
    for index in range(10):
        write_file(str(home / "Documents" / ("letter %d.txt" % index)), "dear %d\n" % index * 50)
    write_file(str(home / "private" / "secret.txt"), "only mine\n")
    os.chmod(str(home / "private"), 0o700)
    backup_dir = workdir / "alice-backups"
    backup_dir.mkdir()
    for path in [home, backup_dir] + list(home.rglob("*")):
        os.lchown(str(path), unprivileged_user.pw_uid, unprivileged_user.pw_gid)

    args = {"name": "alice", "root": str(home), "backup_dir": str(backup_dir), "restore_test": {"files": 20}}
    run = run_module("dar_backup", args, become_user=USER)
    assert not run.failed, run
    assert run.result["restore_test"]["passed"] and run.result["restore_test"]["sampled"] == 11, run
    assert "private/secret.txt" in [f["path"] for f in run.result["restore_test"]["files"]]
    for path in run.result["slices"] + run.result["par2"]["files"] + [str(backup_dir / "alice.db")]:
        assert os.stat(path).st_uid == unprivileged_user.pw_uid, path
    assert dar_test(run.result["archive_path"]) == 0
    assert catalog_basenames(str(backup_dir / "alice.db")) == [run.result["archive"]]

    diff = run_module("dar_backup", dict(args, level="diff"), become_user=USER)
    assert not diff.failed and diff.result["reference"] == run.result["archive"], diff


def test_normal_user_cannot_write_a_root_backup_dir(unprivileged_user, user_workdir):
    workdir = user_workdir
    home = workdir / "bob"
    write_file(str(home / "a.txt"), "a\n")
    os.chown(str(home), unprivileged_user.pw_uid, unprivileged_user.pw_gid)
    os.chown(str(home / "a.txt"), unprivileged_user.pw_uid, unprivileged_user.pw_gid)
    backup_dir = workdir / "root-owned"
    backup_dir.mkdir(mode=0o755)
    run = run_module("dar_backup", {"name": "bob", "root": str(home), "backup_dir": str(backup_dir)},
                     become_user=USER)
    assert run.failed, run
    assert "backup_dir" in run.result["msg"] and "not writable by uid %d" % unprivileged_user.pw_uid \
        in run.result["msg"], run
    assert os.listdir(str(backup_dir)) == []
