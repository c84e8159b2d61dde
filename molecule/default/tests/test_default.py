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


DISCORD_PATH = "/api/webhooks/4242/MoleculeDiscordT0ken-secret"
HC_PATH = "/ping/molecule-hc-5e1f0b7a-secret"
SECRETS = ("MoleculeDiscordT0ken", "molecule-hc-5e1f0b7a")
HOOKS_LOG = "/var/lib/molecule-hooks/requests.jsonl"


def test_notification_secrets_hold_only_the_urls_set(host):
    secrets = host.file("/etc/dar-backup/notify.json")
    assert secrets.is_file and secrets.mode == 0o600 and secrets.user == "root"
    # No "webhook_url": "" (the runner refused the whole file for it).
    assert json.loads(secrets.content_string) == {
        "discord_url": "http://127.0.0.1:8765" + DISCORD_PATH, "healthchecks_url": "http://127.0.0.1:8765" + HC_PATH}
    config = json.loads(host.file("/etc/dar-backup/config.json").content_string)
    assert config["notify"] == {"on": "failure", "secrets_file": "/etc/dar-backup/notify.json"}
    assert config["cleanup"] == {"diff_age": 100, "incr_age": 30}  # dar_backup_cleanup sets incr_age only
    assert not any(secret in json.dumps(config) for secret in SECRETS)
    assert not host.file("/home/alice/.config/dar-backup/notify.json").exists


def test_definition_file_is_a_dcf(host):
    content = host.file("/etc/dar-backup/backup.d/docs").content_string
    assert '-R "/data/docs"' in content and '-P "tmp"' in content


@pytest.mark.parametrize("timer,calendar", [
    # dar_backup_schedule sets incr only: full, diff and cleanup keep their defaults.
    ("dar-backup-docs-full", "*-12-30 10:03:00"),
    ("dar-backup-docs-diff", "*-*-01 19:03:00"),
    ("dar-backup-docs-incr", "*-*-* 03:15:00"),
    ("dar-backup-cleanup", "*-*-* 21:07:00"),
    ("dar-backup-media-full", "*-12-30 10:03:00"),
    ("dar-backup-media-diff", "*-*-01 19:03:00"),
    ("dar-backup-gone-full", "*-12-30 10:03:00"),
])
def test_timers_enabled_and_scheduled(host, timer, calendar):
    unit = host.service(timer + ".timer")
    assert unit.is_enabled and unit.is_running
    content = host.file("/etc/systemd/system/%s.timer" % timer).content_string
    assert "OnCalendar=%s" % calendar in content and "RandomizedDelaySec=600" in content
    listed = host.check_output("systemctl list-timers --all --no-legend")
    assert timer + ".timer" in listed


@pytest.mark.parametrize("unit", ["dar-backup-media-incr", "dar-backup-gone-diff", "dar-backup-gone-incr"])
def test_disabled_level_has_no_timer(host, unit):
    # "" (media incr, gone diff) and null (gone incr) in a definition's schedule.
    assert not host.file("/etc/systemd/system/%s.timer" % unit).exists


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


def test_failed_backup_alerts_once_and_pings_without_leaking_urls(host):
    """A definition whose disk is gone: its FULL timer's service fails, Discord gets one message naming host,
    definition, level and failed phase, the healthchecks check gets /start then /fail; no URL anywhere."""
    host.run_expect([0], "rm -rf /data/gone")
    failed = host.run("systemctl start dar-backup-gone-full.service")
    assert failed.rc != 0, failed.stdout
    records_text = host.file("/var/lib/dar-backup/runs.jsonl").content_string
    records = [json.loads(line) for line in records_text.splitlines()]
    [record] = [r for r in records if r["definition"] == "gone"]
    assert record["status"] == "FAILURE" and record["level"] == "FULL" and record["failed_phase"] == "validate"
    assert record["notify_error"] is None, record
    requests = [json.loads(line) for line in host.file(HOOKS_LOG).content_string.splitlines()]
    # when: failure: the successful docs backups before this one sent no Discord message.
    [alert] = [r for r in requests if r["path"] == DISCORD_PATH]
    assert alert["method"] == "POST"
    content = json.loads(alert["body"])["content"]
    assert content.splitlines()[0] == "dar-backup backup on dar-molecule-default: gone FAILURE", content
    assert "level: FULL" in content and "failed phase: validate" in content and "/data/gone" in content
    pings = [(r["method"], r["path"]) for r in requests if r["path"].startswith(HC_PATH)]
    rid = "?rid=" + record["run_id"]
    assert pings[-2:] == [("GET", HC_PATH + "/start" + rid), ("POST", HC_PATH + "/fail" + rid)], pings
    for done in [r for r in records if r["definition"] == "docs" and r["status"] == "SUCCESS"]:
        assert ("POST", HC_PATH + "?rid=" + done["run_id"]) in pings, pings
    assert "failed phase: validate" in [r for r in requests if r["path"] == HC_PATH + "/fail" + rid][0]["body"]
    # Counted inside the container: the whole journal, then the backup units' own lines. Ansible logs each
    # command it runs, this one too: the secrets are written split in two so that line cannot match.
    patterns = " ".join("-e '%s''%s'" % (secret[:8], secret[8:]) for secret in SECRETS)
    counts = host.run(
        "journalctl --no-pager -o cat > /var/tmp/journal.txt"
        " && journalctl --no-pager -o cat -u 'dar-backup-*' > /var/tmp/units.txt"
        " && grep -c -F 'gone: FAILURE: validate' /var/tmp/units.txt;"
        " grep -c -F %s /var/tmp/journal.txt; grep -c -F 127.0.0.1:8765 /var/tmp/units.txt" % patterns)
    failures, secrets, urls = [int(count) for count in counts.stdout.split()]
    leaked = host.run("grep -F %s /var/tmp/journal.txt | cut -c1-300" % patterns).stdout if secrets else ""
    assert failures >= 1 and secrets == 0 and urls == 0, (counts.stdout, counts.stderr, leaked)
    assert not any(secret in records_text for secret in SECRETS) and "127.0.0.1:8765" not in records_text


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
    assert not host.file("/home/alice/.config/systemd/user/dar-backup-cleanup.timer").exists  # cleanup: null
    full = host.file("/home/alice/.config/systemd/user/dar-backup-photos-full.timer").content_string
    assert "OnCalendar=*-12-30 10:03:00" in full  # full left out of dar_backup_schedule: the default
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
