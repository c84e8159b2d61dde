# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File moves that never leave a torn file under a final name."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile


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


def write_atomically(path, text, mode=0o644):
    """Replace path with text: readers see the old file or the whole new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
