# -*- coding: utf-8 -*-
"""docs/reliability.md names real tests, and every fault test is named there: the document cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import COLLECTIONS_PATH, REPO

DOC = os.path.join(REPO, "docs", "reliability.md")
TEST_ID = re.compile(r"`(tests/integration/test_[a-z0-9_]+\.py::test_[A-Za-z0-9_]+(?:\[[^\]`]*\])?)`")
FAULT_FILES = re.compile(r"test_faults[a-z0-9_]*\.py$")


def named_in_doc():
    with open(DOC, encoding="utf-8") as handle:
        return TEST_ID.findall(handle.read())


@pytest.fixture(scope="module")
def collected():
    """Node ids pytest collects from every test file in tests/integration (collection only, nothing runs)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH)
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "tests/integration"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = set(line.strip() for line in proc.stdout.splitlines() if "::" in line)
    assert len(ids) > 100, proc.stdout[-3000:]
    return ids


def function_of(node_id):
    return node_id.split("[", 1)[0]


def test_the_doc_names_many_tests():
    assert len(set(named_in_doc())) >= 60


def test_every_named_test_exists(collected):
    functions = set(function_of(n) for n in collected)
    missing = [n for n in named_in_doc() if n not in collected and ("[" in n or n not in functions)]
    assert missing == [], "docs/reliability.md names tests that do not exist: %s" % missing


def test_every_fault_test_is_in_the_doc(collected):
    named = set(function_of(n) for n in named_in_doc()) | set(named_in_doc())
    fault_tests = sorted(n for n in collected if FAULT_FILES.search(n.split("::", 1)[0]))
    assert fault_tests, "no fault tests collected"
    undocumented = [n for n in fault_tests if n not in named and function_of(n) not in named]
    assert undocumented == [], "fault tests missing from docs/reliability.md: %s" % undocumented
