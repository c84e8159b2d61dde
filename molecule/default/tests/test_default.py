"""Verify the default scenario: run by Molecule's testinfra verifier."""

from __future__ import annotations

import time

import pytest


@pytest.mark.parametrize("package", ["dar", "par2"])
def test_package_installed(host, package):
    assert host.package(package).is_installed


@pytest.mark.parametrize("command", ["dar", "dar_manager", "par2"])
def test_command_on_path(host, command):
    assert host.exists(command)


def test_dar_runs(host):
    out = host.check_output("dar --version")
    assert "dar version" in out


def test_systemd_is_running(host):
    # "starting" right after boot; wait for the final state.
    deadline = time.monotonic() + 60
    while True:
        state = host.run("systemctl is-system-running").stdout.strip()
        if state != "starting" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert state in ("running", "degraded"), host.run("systemctl --failed --no-legend").stdout
