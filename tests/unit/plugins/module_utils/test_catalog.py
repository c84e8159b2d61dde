# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

import pytest

from ansible_collections.dar.backup.plugins.module_utils import catalog as catalog_mod
from ansible_collections.dar.backup.plugins.module_utils import command
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

# `dar_manager -B cat.db -l -Q | cat -A` from dar 2.7.8: each entry line starts with a space and a tab.
LISTING = (
    "\n"
    "dar path         : \n"
    "dar options      :  \n"
    "database version : 6\n"
    "compression used : gzip\n"
    "compression level: 9\n"
    "\n"
    "archive #   |    path      |    basename\n"
    "------------+--------------+---------------\n"
    " \t1\t/tmp/p/out\tt3\n"
    " \t2\t/srv/backup dir\tdocs_DIFF_2026-01-05_100000\n"
)


class Scripted(object):
    def __init__(self, rc=0, stdout="", stderr=""):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.calls = []

    def __call__(self, argv, timeout=None, **kwargs):
        self.calls.append(list(argv))
        if "-C" in argv and self.rc == 0:
            # dar_manager -C creates the database (with the umask's mode)
            with open(argv[argv.index("-C") + 1], "w"):
                pass
        return command.CommandResult(argv, self.rc, self.stdout, self.stderr, 0.1)


@pytest.fixture
def scripted(monkeypatch):
    def install(**kwargs):
        fake = Scripted(**kwargs)
        monkeypatch.setattr(command, "run", fake)
        return fake
    return install


def test_database_path():
    assert catalog_mod.database_path("docs", "/srv/backup") == "/srv/backup/docs.db"
    assert catalog_mod.database_path("docs", "/srv/backup", "/var/lib/cat") == "/var/lib/cat/docs.db"


def test_create_argv_and_private_mode(scripted, tmp_path):
    fake = scripted(rc=0)
    db = str(tmp_path / "docs.db")
    old_umask = os.umask(0)
    try:
        catalog_mod.Catalog(db, binary="/usr/bin/dar_manager").create()
    finally:
        os.umask(old_umask)
    assert fake.calls == [["/usr/bin/dar_manager", "-C", db]]
    assert os.stat(db).st_mode & 0o777 == 0o600


def test_add_argv(scripted):
    fake = scripted(rc=0)
    catalog_mod.Catalog("/c/docs.db", binary="dar_manager").add("/srv/backup/docs_FULL_2026-01-01_100000")
    argv = fake.calls[0]
    assert argv[argv.index("-B") + 1] == "/c/docs.db"
    assert argv[argv.index("-A") + 1] == "/srv/backup/docs_FULL_2026-01-01_100000"
    assert "-Q" in argv and "-ai" in argv


def test_add_makes_path_absolute(scripted, tmp_path, monkeypatch):
    fake = scripted(rc=0)
    monkeypatch.chdir(str(tmp_path))
    catalog_mod.Catalog("docs.db", binary="dar_manager").add("docs_FULL_2026-01-01")
    argv = fake.calls[0]
    assert argv[argv.index("-A") + 1] == os.path.join(str(tmp_path), "docs_FULL_2026-01-01")


@pytest.mark.parametrize("stdout, stderr", [
    ("Corrupted database\n", ""),
    ("", "FATAL error, aborting operation: bad header\n"),
    ("Aborting\n", ""),
])
def test_rc0_with_failure_marker_is_an_error(scripted, stdout, stderr):
    scripted(rc=0, stdout=stdout, stderr=stderr)
    with pytest.raises(DarBackupError) as info:
        catalog_mod.Catalog("/c/docs.db", binary="dar_manager").add("/b/x")
    assert info.value.phase == "catalog"
    assert info.value.rc == 0
    assert (stderr or stdout).strip() in info.value.msg


def test_nonzero_rc_is_an_error(scripted):
    scripted(rc=2, stderr="cannot open file\n")
    with pytest.raises(DarBackupError) as info:
        catalog_mod.Catalog("/c/docs.db", binary="dar_manager").create()
    assert info.value.phase == "catalog"
    assert info.value.rc == 2
    assert "cannot open file" in info.value.msg
    assert info.value.cmd == ["dar_manager", "-C", "/c/docs.db"]


def test_ensure(scripted, tmp_path):
    fake = scripted(rc=0)
    db = str(tmp_path / "docs.db")
    cat = catalog_mod.Catalog(db, binary="dar_manager")
    assert cat.ensure() is True
    assert fake.calls == [["dar_manager", "-C", db]]
    with open(db, "w"):
        pass
    assert cat.ensure() is False
    assert len(fake.calls) == 1


def test_list_parses_dar_manager_output(scripted):
    fake = scripted(rc=0, stdout=LISTING)
    entries = catalog_mod.Catalog("/c/docs.db", binary="dar_manager").list()
    assert fake.calls[0][fake.calls[0].index("-B") + 1] == "/c/docs.db" and "-l" in fake.calls[0]
    assert entries == [(1, "/tmp/p/out", "t3"), (2, "/srv/backup dir", "docs_DIFF_2026-01-05_100000")]


def test_list_without_leading_space(scripted):
    scripted(rc=0, stdout="\t1\t/tmp/p/out\tt3\n")
    assert catalog_mod.Catalog("/c/docs.db", binary="dar_manager").list() == [(1, "/tmp/p/out", "t3")]


def test_list_empty_database(scripted):
    scripted(rc=0, stdout=LISTING.split("------------+", maxsplit=1)[0])
    assert catalog_mod.Catalog("/c/docs.db", binary="dar_manager").list() == []
