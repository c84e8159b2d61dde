# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File moves that never leave a torn file under a final name."""

from __future__ import annotations

import errno
import os
import shutil


def move_into(src, dst_dir):
    """Move one file into dst_dir; across filesystems through a temporary name so no torn file appears."""
    dst = os.path.join(dst_dir, os.path.basename(src))
    try:
        os.replace(src, dst)
        return dst
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = os.path.join(dst_dir, ".%s.partial" % os.path.basename(src))
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.unlink(src)
    return dst
