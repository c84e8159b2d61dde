# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

import pytest

from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.lock import DefinitionLock


def test_second_acquire_while_held_fails(tmp_path):
    path = str(tmp_path / "docs.lock")
    with DefinitionLock(path, "docs") as held:
        assert held._fd is not None
        with open(path) as handle:
            assert handle.read() == "%d\n" % os.getpid()
        with pytest.raises(DarBackupError) as info:
            DefinitionLock(path, "docs").acquire()
        assert info.value.phase == "lock"
        assert "docs" in info.value.msg and path in info.value.msg
        assert "in progress" in info.value.msg


def test_released_after_context_exit(tmp_path):
    path = str(tmp_path / "docs.lock")
    first = DefinitionLock(path, "docs")
    with first:
        pass
    assert first._fd is None
    second = DefinitionLock(path, "docs").acquire()
    try:
        assert second._fd is not None
    finally:
        second.release()


def test_released_when_the_body_raises(tmp_path):
    path = str(tmp_path / "docs.lock")
    with pytest.raises(RuntimeError):
        with DefinitionLock(path, "docs"):
            raise RuntimeError("boom")
    with DefinitionLock(path, "docs"):
        pass


def test_other_definitions_do_not_block(tmp_path):
    with DefinitionLock(str(tmp_path / "docs.lock"), "docs"):
        with DefinitionLock(str(tmp_path / "media.lock"), "media"):
            pass


def test_release_twice_is_harmless(tmp_path):
    lock = DefinitionLock(str(tmp_path / "docs.lock"), "docs").acquire()
    lock.release()
    lock.release()


def test_lock_in_missing_directory(tmp_path):
    with pytest.raises(OSError):
        DefinitionLock(str(tmp_path / "missing" / "docs.lock"), "docs").acquire()
