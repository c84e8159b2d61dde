"""Verify the default scenario: run by Molecule's testinfra verifier."""

from __future__ import annotations

import json
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


BACKUP_DIR = "/srv/dar-backup"


@pytest.mark.parametrize("path,mode", [
    ("/etc/dar-backup/config.json", 0o640),
    ("/etc/dar-backup/backup.d/docs", 0o640),
    ("/etc/dar-backup/backup.d/media", 0o640),
    ("/usr/local/bin/dar-backup-run", 0o755),
    ("/usr/local/lib/dar-backup/dar_backup_engine/runner.py", 0o644),
    ("/usr/local/lib/dar-backup/dar_backup_engine/backup.py", 0o644),
])
def test_configured_files(host, path, mode):
    target = host.file(path)
    assert target.is_file and target.mode == mode and target.user == "root"


def test_directories_are_private(host):
    for path in (BACKUP_DIR, "/var/lib/dar-backup", "/etc/dar-backup"):
        assert host.file(path).is_directory and host.file(path).mode == 0o750, path


def test_no_notification_secrets_without_urls(host):
    assert not host.file("/etc/dar-backup/notify.json").exists


def test_definition_file_is_a_dcf(host):
    content = host.file("/etc/dar-backup/backup.d/docs").content_string
    assert '-R "/data/docs"' in content and '-P "tmp"' in content


@pytest.mark.parametrize("timer,calendar", [
    ("dar-backup-docs-full", "*-12-30 10:03:00"),
    ("dar-backup-docs-diff", "*-*-01 19:03:00"),
    ("dar-backup-docs-incr", "*-*-04/3 19:03:00"),
    ("dar-backup-media-full", "*-12-30 10:03:00"),
    ("dar-backup-media-diff", "*-*-01 19:03:00"),
    ("dar-backup-cleanup", "*-*-* 21:07:00"),
])
def test_timers_enabled_and_scheduled(host, timer, calendar):
    unit = host.service(timer + ".timer")
    assert unit.is_enabled and unit.is_running
    content = host.file("/etc/systemd/system/%s.timer" % timer).content_string
    assert "OnCalendar=%s" % calendar in content and "RandomizedDelaySec=600" in content
    listed = host.check_output("systemctl list-timers --all --no-legend")
    assert timer + ".timer" in listed


def test_disabled_level_has_no_timer(host):
    assert not host.file("/etc/systemd/system/dar-backup-media-incr.timer").exists


def test_runner_config_is_valid(host):
    host.check_output("/usr/local/bin/dar-backup-run check-config")


def test_backup_service_makes_a_verified_archive(host):
    """Start the FULL service as its timer would, then check archive, PAR2, catalog and run record."""
    started = host.run("systemctl start dar-backup-docs-full.service")
    assert started.rc == 0, host.run("journalctl -u dar-backup-docs-full.service --no-pager -n 50").stdout
    slices = host.check_output("find %s -maxdepth 1 -name 'docs_FULL_*.1.dar'" % BACKUP_DIR).split()
    assert len(slices) == 1
    archive = slices[0][:-len(".1.dar")]
    assert host.file(slices[0] + ".par2").exists
    assert host.run("dar -t %s -N -Q" % archive).rc == 0
    catalog = host.check_output("dar_manager -B %s/docs.db -l" % BACKUP_DIR)
    assert archive.rsplit("/", 1)[1] in catalog
    records = [json.loads(line) for line in host.file("/var/lib/dar-backup/runs.jsonl").content_string.splitlines()]
    last = [r for r in records if r["definition"] == "docs"][-1]
    assert last["status"] == "SUCCESS" and last["level"] == "FULL" and last["verify_passed"] is True, last
    assert last["restore_test"]["passed"] is True and last["restore_test"]["sampled"] == 4, last
    assert last["archive"] == archive.rsplit("/", 1)[1]


def test_diff_service_refers_to_the_full(host):
    host.run_expect([0], "echo changed >> /data/docs/letters/one.txt")
    host.run_expect([0], "systemctl start dar-backup-docs-diff.service")
    records = [json.loads(line) for line in host.file("/var/lib/dar-backup/runs.jsonl").content_string.splitlines()]
    last = records[-1]
    assert last["status"] == "SUCCESS" and last["level"] == "DIFF", last
    assert last["reference"].startswith("docs_FULL_")


def test_status_reports_both_definitions(host):
    status = json.loads(host.check_output("/usr/local/bin/dar-backup-run status --json"))
    assert "docs" in json.dumps(status) and "media" in json.dumps(status)


def as_alice(host, command):
    uid = host.check_output("id -u alice")
    return host.run("runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/%s %s" % (uid, command))


def test_per_user_setup(host):
    assert host.file("/var/lib/systemd/linger/alice").exists
    for path in ("/home/alice/.config/dar-backup/config.json", "/home/alice/.local/bin/dar-backup-run",
                 "/home/alice/.config/systemd/user/dar-backup-photos-full.timer"):
        assert host.file(path).user == "alice", path
    assert host.file("/home/alice/.config").user == "alice"
    assert not host.file("/home/alice/.config/systemd/user/dar-backup-photos-diff.timer").exists
    enabled = as_alice(host, "systemctl --user is-enabled dar-backup-photos-incr.timer")
    assert enabled.stdout.strip() == "enabled", enabled.stderr
    assert "dar-backup-photos-full.timer" in as_alice(host, "systemctl --user list-timers --all").stdout


def test_per_user_backup_service(host):
    started = as_alice(host, "systemctl --user start dar-backup-photos-full.service")
    assert started.rc == 0, as_alice(host, "journalctl --user -u dar-backup-photos-full --no-pager -n 30").stdout
    slices = host.check_output("find /home/alice/backups -maxdepth 1 -name 'photos_FULL_*.1.dar'").split()
    assert len(slices) == 1 and host.file(slices[0]).user == "alice"
    record = json.loads(host.file("/home/alice/.local/state/dar-backup/runs.jsonl").content_string.splitlines()[-1])
    assert record["status"] == "SUCCESS" and record["definition"] == "photos", record
