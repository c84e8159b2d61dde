# -*- coding: utf-8 -*-
"""Every module's documentation renders with ansible-doc, from the installed collection."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import BIN, REPO, ansible_env

MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                 if name.endswith(".py") and not name.startswith("_"))


def test_there_are_modules():
    assert {"dar_backup", "dar_restore", "dar_catalog", "dar_info"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module):
    proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "dar.backup." + module], env=ansible_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "EXAMPLES:" in proc.stdout and "RETURN VALUES:" in proc.stdout, proc.stdout[:2000]
    assert "[WARNING]" not in proc.stderr and "[ERROR]" not in proc.stderr, proc.stderr
