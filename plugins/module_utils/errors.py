# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception type the engine raises for anything a caller should report."""

from __future__ import annotations


class DarBackupError(Exception):
    """A failure with enough context for a one-line message and the failing command.

    ``phase`` names the step that failed (validate, lock, create, verify,
    restore_test, par2, publish, catalog) so the caller's message can say where.
    """

    def __init__(self, msg, phase=None, rc=None, stdout="", stderr="", cmd=None):
        super().__init__(msg)
        self.msg = msg
        self.phase = phase
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.cmd = cmd

    def as_dict(self):
        result = {"msg": self.msg}
        if self.phase is not None:
            result["phase"] = self.phase
        if self.rc is not None:
            result["rc"] = self.rc
        if self.cmd is not None:
            result["cmd"] = list(self.cmd)
        result["stdout"] = self.stdout or ""
        result["stderr"] = self.stderr or ""
        return result

    def fail_json_args(self):
        """as_dict() with the phase leading the message: what a module passes to fail_json."""
        result = self.as_dict()
        if self.phase:
            result["msg"] = "%s: %s" % (self.phase, self.msg)
        return result
