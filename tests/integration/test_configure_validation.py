# -*- coding: utf-8 -*-
"""dar.backup.configure refuses bad definitions by name and key before it changes anything on the host."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import BIN, TARGET_PYTHON, ansible_env


def run_configure(tmp_path, definitions, extra=None):
    """ansible-playbook with the role on localhost; the role writes to /etc only after validation."""
    variables = {"dar_backup_dir": str(tmp_path / "backups"), "dar_backup_definitions": definitions}
    variables.update(extra or {})
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(variables))
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: true\n  roles:\n    - dar.backup.configure\n")
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=" + TARGET_PYTHON, "-e", "@" + str(vars_file),
                           str(playbook)], env=ansible_env({"ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml"}),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    return proc


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return str(path)


@pytest.fixture(autouse=True)
def nothing_written(tmp_path):
    before = [os.path.exists(p) for p in ("/etc/dar-backup", "/usr/local/lib/dar-backup", "/var/lib/dar-backup")]
    yield
    after = [os.path.exists(p) for p in ("/etc/dar-backup", "/usr/local/lib/dar-backup", "/var/lib/dar-backup")]
    assert after == before, "the role changed the host before refusing"
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize("definition,fragments", [
    # meta/argument_specs.yml (generated from settings.py) refuses unknown keys, wrong types and choices.
    ({"name": "docs", "root": "ROOT", "exclude_paths": ["x"]},
     ["dar_backup_definitions.exclude_paths", "Supported parameters include"]),
    ({"name": "docs", "root": "ROOT", "par2": {"redundancy": "lots"}}, ["redundancy", "lots", "par2"]),
    ({"name": "docs", "root": "ROOT", "level": "weekly"}, ["level must be one of", "weekly"]),
    # The runner's own value checks, made on the control node before any change.
    ({"name": "docs", "root": "ROOT", "compression": "zip9"}, ["definition docs: compression", "zip9"]),
    ({"name": "docs", "root": "ROOT", "slice_size": "4 gigs"}, ["definition docs: slice_size", "is not a size"]),
    ({"name": "docs", "root": "ROOT", "full_interval": "yearly"}, ["definition docs: full_interval"]),
    ({"name": "docs", "root": "ROOT", "restore_test": {"max_size": "1k", "min_size": "2k"}},
     ["definition docs: restore_test.max_size", "smaller than restore_test.min_size"]),
    # null disables a timer: accepted, so the next check (the missing root) is the one that fails.
    ({"name": "docs", "root": "/nonexistent/dar-backup-root", "schedule": {"full": None, "diff": ""}},
     ["root /nonexistent/dar-backup-root does not exist"]),
    ({"name": "my_docs", "root": "ROOT"}, ["definition my_docs", "name is not safe"]),
    ({"name": "../x", "root": "ROOT"}, ["definition ../x", "name is not safe"]),
    ({"name": "docs"}, ["missing required arguments: root", "dar_backup_definitions"]),
    ({"name": "docs", "root": "/nonexistent/dar-backup-root"},
     ["definition docs", "root /nonexistent/dar-backup-root does not exist"]),
    ({"name": "docs", "root": "ROOT", "schedule": {"full": "every tuesday-ish"}},
     ["definition docs, level full", 'schedule "every tuesday-ish" is not a systemd calendar']),
    ({"name": "docs", "root": "ROOT", "schedule": {"weekly": "Mon"}},
     ["schedule.weekly", "Supported parameters include"]),
    ({"name": "docs", "root": "ROOT/with\"quote"}, ["definition docs", "must not contain double quotes"]),
])
def test_bad_definition_is_refused_before_any_change(tmp_path, root, definition, fragments):
    definition = json.loads(json.dumps(definition).replace("ROOT", root))
    proc = run_configure(tmp_path, [definition])
    assert proc.returncode != 0, proc.stdout[-3000:]
    for fragment in fragments:
        assert fragment in proc.stdout, (fragment, proc.stdout[-3000:])


def test_duplicate_names_refused(tmp_path, root):
    proc = run_configure(tmp_path, [{"name": "docs", "root": root}, {"name": "docs", "root": root}])
    assert proc.returncode != 0 and "a definition name is used twice" in proc.stdout, proc.stdout[-3000:]


def test_bad_cleanup_schedule_refused(tmp_path, root):
    proc = run_configure(tmp_path, [{"name": "docs", "root": root}],
                         {"dar_backup_schedule": {"full": "", "diff": "", "incr": "", "cleanup": "nightly-ish"}})
    assert proc.returncode != 0 and "cleanup: schedule" in proc.stdout, proc.stdout[-3000:]


def test_argument_spec_refuses_wrong_types(tmp_path, root):
    proc = run_configure(tmp_path, [{"name": "docs", "root": root}], {"dar_backup_notify": {"when": "sometimes"}})
    assert proc.returncode != 0 and "dar_backup_notify" in proc.stdout and "sometimes" in proc.stdout, \
        proc.stdout[-3000:]
