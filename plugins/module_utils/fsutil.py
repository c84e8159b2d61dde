# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File moves that never leave a torn file under a final name; archive files only their owner reads."""

from __future__ import annotations

import errno
import os
import shutil
import stat
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


def private_mode(group_readable=False):
    """The mode of an archive file: a slice holds the backed-up data in the clear, whatever the umask was."""
    return 0o640 if group_readable else 0o600


def make_private(path, group_readable=False):
    """chmod ``path`` to private_mode() (never following a symlink: another user's link is not ours to chmod)."""
    mode = private_mode(group_readable)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return mode


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


def trusted_owners(directory):
    """The uids whose archive files in ``directory`` are ours: the backup user, root, and the directory's owner
    (who can rename or replace any file in it anyway)."""
    uids = set([os.geteuid(), 0])
    try:
        uids.add(os.stat(directory).st_uid)
    except OSError:
        pass
    return uids


def ours(path, trusted=None):
    """A regular file (not followed through a symlink) that a trusted uid owns; another user's file in a shared
    directory (a planted PAR2 set or manifest) is not evidence about our archives."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if trusted is None:
        trusted = trusted_owners(os.path.dirname(path) or ".")
    return stat.S_ISREG(st.st_mode) and st.st_uid in trusted
