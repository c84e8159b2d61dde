# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run per definition at a time: an flock that the kernel drops when the holder dies."""

from __future__ import annotations

import errno
import fcntl
import os

from .errors import DarBackupError


# Inside the backup directory: staging areas of running backups and the per-definition locks.
WORK_DIR = ".dar-backup-work"


def work_root(backup_dir):
    return os.path.join(backup_dir, WORK_DIR)


def definition_lock(backup_dir, definition):
    """The lock every writer of a definition's archives or catalog takes (creates the work dir)."""
    root = work_root(backup_dir)
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise DarBackupError("cannot create %s: %s" % (root, exc.strerror), phase="validate")
    return DefinitionLock(os.path.join(root, definition + ".lock"), definition)


class DefinitionLock(object):
    def __init__(self, path, definition):
        self.path = path
        self.definition = definition
        self._fd = None

    def acquire(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise DarBackupError("another run of definition %s is in progress (lock %s is held); "
                                     "try again when it has finished" % (self.definition, self.path), phase="lock")
            raise DarBackupError("cannot lock %s: %s" % (self.path, exc.strerror), phase="lock")
        os.ftruncate(fd, 0)
        os.write(fd, ("%d\n" % os.getpid()).encode())
        self._fd = fd
        return self

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False
