# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archives are private and ours: file modes, directory permissions."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.dar.backup.plugins.module_utils import fsutil
from ansible_collections.dar.backup.plugins.module_utils.backup import check_private_dir
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("group_readable, expected", [(False, 0o600), (True, 0o640)])
def test_make_private(tmp_path, group_readable, expected):
    path = tmp_path / "docs_FULL_2026-01-01_100000.1.dar"
    path.write_bytes(b"slice")
    os.chmod(str(path), 0o666)
    assert fsutil.make_private(str(path), group_readable) == expected
    assert _mode(str(path)) == expected
    assert fsutil.private_mode(group_readable) == expected


def test_make_private_does_not_follow_a_symlink(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not ours")
    os.chmod(str(target), 0o644)
    link = tmp_path / "docs_FULL_2026-01-01_100000.1.dar"
    link.symlink_to(target)
    with pytest.raises(OSError):
        fsutil.make_private(str(link))
    assert _mode(str(target)) == 0o644


def _dir(tmp_path, mode):
    path = tmp_path / "backups"
    path.mkdir()
    os.chmod(str(path), mode)
    return str(path)


def test_private_dir_has_no_warning(tmp_path):
    assert check_private_dir(_dir(tmp_path, 0o750), "backup_dir") == []


def test_readable_by_others_warns(tmp_path):
    (warning,) = check_private_dir(_dir(tmp_path, 0o755), "backup_dir")
    assert "readable by every user (mode 0755)" in warning and "chmod o-rwx" in warning


def test_writable_by_others_is_refused(tmp_path):
    path = _dir(tmp_path, 0o777)
    with pytest.raises(DarBackupError) as info:
        check_private_dir(path, "backup_dir")
    assert info.value.phase == "validate"
    assert "writable by every user (mode 0777)" in info.value.msg and "chmod o-w %s" % path in info.value.msg


def test_sticky_and_ours_is_accepted_with_a_warning(tmp_path):
    path = _dir(tmp_path, 0o1777)
    (warning,) = check_private_dir(path, "backup_dir")
    assert "writable by every user (mode 1777): sticky" in warning
