# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared set-up for the unit tests.

The engine is imported as ``ansible_collections.dar.backup.plugins.module_utils``, the path the modules use.
Unless that package already resolves to this checkout (ansible-test's own tree), a temporary
``ansible_collections/dar/backup`` symlink to the repository root is put first on ``sys.path`` so the tests
exercise the working tree, not an installed copy of the collection.
"""

from __future__ import annotations

import atexit
import datetime
import importlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import types

import pytest

REPO_ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PACKAGE = "ansible_collections.dar.backup"


def _resolves_to_checkout():
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError, AttributeError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(os.path.realpath(p) == REPO_ROOT for p in spec.submodule_search_locations)


def _collection_loader_active():
    """ansible-test installs Ansible's collection finder, which ignores sys.path for ansible_collections."""
    return any(type(f).__name__ == "_AnsibleCollectionFinder" for f in sys.meta_path)


def _expose_checkout():
    if _resolves_to_checkout():
        return
    if _collection_loader_active() and importlib.util.find_spec(PACKAGE) is not None:
        return  # the collection loader already maps the collection; nothing to add
    top = tempfile.mkdtemp(prefix="dar-backup-unit-")
    namespace = os.path.join(top, "ansible_collections", "dar")
    os.makedirs(namespace)
    link = os.path.join(namespace, "backup")
    os.symlink(REPO_ROOT, link)

    def cleanup():
        try:
            os.unlink(link)  # the symlink first: never walk into the repository
        except OSError:
            pass
        shutil.rmtree(top, ignore_errors=True)

    atexit.register(cleanup)
    sys.path.insert(0, top)
    # Forget a copy imported from elsewhere (e.g. an installed collection) so the checkout wins.
    for name in list(sys.modules):
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            del sys.modules[name]
    importlib.invalidate_caches()


_expose_checkout()

from ansible_collections.dar.backup.plugins.module_utils import naming  # noqa: E402
from ansible_collections.dar.backup.plugins.module_utils.command import CommandResult  # noqa: E402


@pytest.fixture(autouse=True)
def keep_sigterm_handler():
    """The module installs a SIGTERM handler; give the test process its own back afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def touch(path, data=b"x", mtime=None):
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def make_archive(directory, basename, slices=1, data=b"slice"):
    """Write ``basename.1.dar`` .. ``basename.<slices>.dar`` and return their paths."""
    return [touch(os.path.join(directory, "%s.%d.dar" % (basename, n)), data) for n in range(1, slices + 1)]


def result(argv=("dar",), rc=0, stdout="", stderr="", timed_out=False):
    return CommandResult(list(argv), rc, stdout, stderr, 0.01, timed_out)


def ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def archive(basename, directory="/nowhere"):
    """An Archive object for a name, without files (for pure planning logic)."""
    name = naming.ArchiveName.parse(basename)
    assert name is not None, basename
    return naming.Archive(name, directory, [(1, os.path.join(directory, basename + ".1.dar"))])


@pytest.fixture
def helpers():
    """Small builders shared by the test files (conftest is not importable as a module)."""
    return types.SimpleNamespace(touch=touch, make_archive=make_archive, result=result, ts=ts, archive=archive)
