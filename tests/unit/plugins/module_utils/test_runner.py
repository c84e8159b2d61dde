# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-host runner with the engine's entry points mocked: config, exit codes, records, output."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from ansible_collections.dar.backup.plugins.module_utils import backup as backup_mod
from ansible_collections.dar.backup.plugins.module_utils import cleanup as cleanup_mod
from ansible_collections.dar.backup.plugins.module_utils import info as info_mod
from ansible_collections.dar.backup.plugins.module_utils import notify as notify_mod
from ansible_collections.dar.backup.plugins.module_utils import records as records_mod
from ansible_collections.dar.backup.plugins.module_utils import runner
from ansible_collections.dar.backup.plugins.module_utils import scrub as scrub_mod
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError

DISCORD = "https://discord.com/api/webhooks/987654/VeryS3cretT0ken"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A config with two definitions whose roots exist; tools 'exist' and may not run."""
    for name in ("docs", "photos"):
        (tmp_path / "src" / name).mkdir(parents=True)
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: "/nonexistent/bin/" + name)
    monkeypatch.delenv(runner.CONFIG_ENV, raising=False)
    data = {
        "backup_dir": str(tmp_path / "backups"), "catalog_dir": None, "state_dir": str(tmp_path / "state"),
        "timeout": 600, "cleanup": {"diff_age": 100, "incr_age": 40},
        "notify": {"on": "never", "secrets_file": str(tmp_path / "notify.json")},
        "definitions": {
            "docs": {"root": str(tmp_path / "src" / "docs"), "par2": {"redundancy": 10}},
            "photos": {"root": str(tmp_path / "src" / "photos"), "restore_test": {"files": 2}},
        },
    }

    class Env(object):
        path = tmp_path
        config = tmp_path / "config.json"
        state = tmp_path / "state"

        def write(self, content=None):
            self.config.write_text(content if isinstance(content, str) else json.dumps(content or data))
            return str(self.config)

        def records(self):
            with open(str(self.state / "runs.jsonl")) as handle:
                return [json.loads(line) for line in handle]

    result = Env()
    result.data = data
    result.write()
    return result


def run(env, capsys, *argv):
    code = runner.main(["--config", str(env.config)] + list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def backup_result(level="FULL", warnings=(), **extra):
    result = {
        "changed": True, "archive": "docs_%s_2026-01-02_100301" % level, "level": level,
        "reference": None if level == "FULL" else "docs_FULL_2026-01-01_100301",
        "slices": ["/b/docs.1.dar"], "size_bytes": 1234, "dar_rc": 0,
        "verify": {"enabled": True, "passed": True},
        "restore_test": {"enabled": True, "passed": True, "sampled": 3,
                         "files": [{"path": "a", "result": "passed"}, {"path": "b", "result": "changed_since_backup"}]},
        "par2": {"enabled": True, "size_bytes": 99, "files": []},
        "catalog": {"enabled": True, "added": True, "created": False},
        "durations": {"create": 1.0, "verify": 0.5, "restore_test": 0.2, "par2": 0.3, "publish": 0.01,
                      "catalog": 0.1, "total": 2.2},
        "warnings": list(warnings), "recovered": [], "msg": "made %s archive docs_%s_2026-01-02_100301" % (level, level),
    }
    result.update(extra)
    return result


@pytest.fixture
def fake_backup(monkeypatch):
    calls = []
    outcomes = {}

    def fake(request, check_mode=False, now=None, tools=None):
        calls.append(request)
        outcome = outcomes.get(request.definition.name, backup_result())
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome
    monkeypatch.setattr(backup_mod, "run_backup", fake)
    return calls, outcomes


# --- config ---------------------------------------------------------------------------------------------------

def _config_error(env, capsys, data):
    env.write(data)
    code, stdout, stderr = run(env, capsys, "backup", "--all")
    assert code == 2
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dar-backup-run: config: config %s: " % env.config)
    return lines[0]


def test_config_unknown_definition_key(env, capsys):
    env.data["definitions"]["docs"]["rooot"] = "/x"
    line = _config_error(env, capsys, env.data)
    assert "definition docs: rooot: unknown key (known: catalog, compression," in line
    assert not env.state.exists()  # nothing ran, nothing was recorded


@pytest.mark.parametrize("change, text", [
    (lambda d: d["definitions"]["docs"].update(par2={"redundancy": 0}), "definition docs: par2: par2 redundancy 0"),
    (lambda d: d["definitions"]["docs"].update(par2={"redundancy": "x"}),
     "definition docs: par2.redundancy: must be a whole number"),
    (lambda d: d["definitions"]["docs"].update(level="hourly"), "definition docs: level: 'hourly' is not one of"),
    (lambda d: d["definitions"]["photos"].update(compression="rar"), "definition photos: compression: unknown"),
    (lambda d: d["definitions"]["photos"].update(min_interval="1y"), "definition photos: min_interval: "),
    (lambda d: d["definitions"]["photos"].update(root="src/photos"), "definition photos: root: 'src/photos' must be"),
    (lambda d: d["definitions"]["photos"].pop("root"), "definition photos: root: is required (or definition_file)"),
    (lambda d: d["definitions"]["photos"].update(backup_dir="/elsewhere"), "definition photos: backup_dir: unknown key"),
    (lambda d: d["definitions"].update({"my_docs": {"root": "/x"}}), "definition 'my_docs': bad name"),
    (lambda d: d["definitions"].update({"docs": []}), "definition docs: options: must be a mapping"),
    (lambda d: d.pop("backup_dir"), "backup_dir: is required"),
    (lambda d: d.pop("definitions"), "definitions: is required"),
    (lambda d: d.update(definitions=[]), "definitions: must be an object"),
    (lambda d: d.update(backup_dri="/x"), "backup_dri: unknown key (known: backup_dir, catalog_dir, cleanup,"),
    (lambda d: d.update(state_dir="var/lib"), "state_dir: 'var/lib' must be an absolute path"),
    (lambda d: d.update(timeout=-1), "timeout: must be 0"),
    (lambda d: d["cleanup"].update(diff_age=-3), "cleanup.diff_age: must be 0 or more days"),
    (lambda d: d["cleanup"].update(keep=3), "cleanup.keep: unknown key"),
    (lambda d: d["notify"].update(on="sometimes"), "notify.on: 'sometimes' is not one of failure, always, never"),
    (lambda d: d["notify"].update(discord_url=DISCORD), "notify.discord_url: unknown key"),
])
def test_config_errors_name_definition_and_key(env, capsys, change, text):
    change(env.data)
    line = _config_error(env, capsys, env.data)
    assert text in line
    assert "VeryS3cretT0ken" not in line


@pytest.mark.parametrize("content, text", [
    ("{not json", "not valid JSON: Expecting property name"),
    ("[1, 2]", "must be a JSON object"),
    ('{"backup_dir": "/a", "backup_dir": "/b", "definitions": {}}', "duplicate key 'backup_dir'"),
])
def test_config_unreadable(env, capsys, content, text):
    assert text in _config_error(env, capsys, content)


def test_config_missing_file(env, capsys):
    code = runner.main(["--config", str(env.path / "nope.json"), "status"])
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.strip() == "dar-backup-run: config: cannot read config %s: No such file or directory" % (
        env.path / "nope.json")


def test_config_from_environment(env, capsys, monkeypatch):
    monkeypatch.setenv(runner.CONFIG_ENV, str(env.config))
    assert runner.main(["check-config"]) == 0
    assert capsys.readouterr().out.strip() == "config %s: ok, 2 definition(s): docs, photos" % env.config
    # --config wins over the environment, before or after the command
    monkeypatch.setenv(runner.CONFIG_ENV, str(env.path / "nope.json"))
    assert runner.main(["check-config", "--config", str(env.config)]) == 0


def test_config_defaults(env):
    config = runner.parse_config({"backup_dir": "/srv/b", "definitions": {"docs": {"root": "/home"}}})
    assert config["state_dir"] == "/var/lib/dar-backup" and config["timeout"] == 86400
    assert config["cleanup"] == {"diff_age": 100, "incr_age": 40}
    assert config["notify"] == {"on": "failure", "secrets_file": "/etc/dar-backup/notify.json"}
    docs = config["definitions"]["docs"]
    assert docs["backup_dir"] == "/srv/b" and docs["timeout"] == 86400 and docs["name"] == "docs"
    assert docs["par2"]["redundancy"] == 5 and docs["full_interval"] == "365d"


# --- usage ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, text", [
    (["backup"], "give a DEFINITION or --all"),
    (["backup", "docs", "--all"], "not both"),
    (["backup", "music"], "definition music is not in config"),
    (["backup", "docs", "--level", "weekly"], "invalid choice: 'weekly'"),
    (["restore", "docs"], "required: --dest"),
    (["restore", "docs", "--dest", "/r", "--when", "2026-01-01", "--archive", "x"], "not allowed with argument"),
    (["frobnicate"], "invalid choice"),
    ([], "required: COMMAND"),
])
def test_usage_errors(env, capsys, fake_backup, argv, text):
    code, stdout, stderr = run(env, capsys, *argv)
    assert code == 2
    assert len(stderr.splitlines()) == 1 and stderr.startswith("dar-backup-run: usage: ") and text in stderr
    assert fake_backup[0] == []


def test_help(capsys):
    assert runner.main(["--help"]) == 0
    assert "dar-backup-run" in capsys.readouterr().out


# --- backup ---------------------------------------------------------------------------------------------------

def test_backup_success_record(env, capsys, fake_backup):
    code, stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 0 and stderr == ""
    assert stdout.splitlines() == ["docs: SUCCESS: made FULL archive docs_FULL_2026-01-02_100301 in 2.2s"]
    [record] = env.records()
    assert record["status"] == "SUCCESS" and record["command"] == "backup" and record["definition"] == "docs"
    assert record["archive"] == "docs_FULL_2026-01-02_100301" and record["level"] == "FULL"
    assert record["size_bytes"] == 1234 and record["par2_size_bytes"] == 99 and record["dar_rc"] == 0
    assert record["verify_passed"] is True and record["catalog_added"] is True
    assert record["restore_test"] == {"passed": True, "sampled": 3, "failed": 0}
    assert record["durations"]["create"] == 1.0 and record["durations"]["total"] == 2.2
    assert record["failed_phase"] is None and record["error"] is None and record["notify_error"] is None
    assert len(record["run_id"]) == 36 and record["host"]
    assert record["started"].endswith("Z") and record["finished"] >= record["started"]
    request = fake_backup[0][0]
    assert request.par2.redundancy == 10 and request.timeout == 600 and request.level == "auto"
    assert stat.S_IMODE(os.stat(str(env.state)).st_mode) & 0o027 == 0
    assert stat.S_IMODE(os.stat(str(env.state / "runs.jsonl")).st_mode) & 0o137 == 0


def test_backup_level_override(env, capsys, fake_backup):
    assert run(env, capsys, "backup", "--all", "--level", "incr")[0] == 0
    assert [r.level for r in fake_backup[0]] == ["incr", "incr"]
    assert [r["definition"] for r in env.records()] == ["docs", "photos"]


def test_backup_warnings_still_exit_0(env, capsys, fake_backup):
    fake_backup[1]["docs"] = backup_result(warnings=["dar -c (create) finished with rc 11: files changed"])
    code, stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 0
    assert stdout.startswith("docs: WARNING: made FULL archive") and "(1 warning(s))" in stdout
    assert stderr.strip() == "dar-backup-run: warning: docs: dar -c (create) finished with rc 11: files changed"
    assert env.records()[0]["status"] == "WARNING"
    assert env.records()[0]["warnings"] == ["dar -c (create) finished with rc 11: files changed"]


def test_backup_up_to_date(env, capsys, fake_backup):
    fake_backup[1]["docs"] = {"changed": False, "up_to_date": True, "archive": "docs_FULL_2026-01-02_100301",
                              "level": "FULL", "msg": "archive docs_FULL_2026-01-02_100301 is newer than min_interval"}
    code, stdout, _stderr = run(env, capsys, "backup", "docs")
    assert code == 0 and "newer than min_interval" in stdout
    assert env.records()[0]["up_to_date"] is True and env.records()[0]["status"] == "SUCCESS"


def test_backup_failure_and_others_continue(env, capsys, fake_backup):
    fake_backup[1]["docs"] = DarBackupError("dar -c failed (rc 2):\nsomething\nbad", phase="create", rc=2,
                                            stderr="FATAL error")
    code, stdout, stderr = run(env, capsys, "backup", "--all")
    assert code == 1
    assert stdout.splitlines() == ["docs: FAILURE: create: dar -c failed (rc 2): something bad",
                                   "photos: SUCCESS: made FULL archive docs_FULL_2026-01-02_100301 in 2.2s"]
    assert stderr.splitlines() == ["dar-backup-run: create: docs: dar -c failed (rc 2): something bad"]
    failed, good = env.records()
    assert failed["status"] == "FAILURE" and failed["failed_phase"] == "create"
    assert failed["error"] == "dar -c failed (rc 2): something bad" and failed["failed_rc"] == 2
    assert failed["level"] == "FULL"  # from the plan: known even though the run failed
    assert good["status"] == "SUCCESS"


def test_backup_validation_failure_is_a_job_failure(env, capsys, fake_backup):
    os.rmdir(str(env.path / "src" / "docs"))
    code, stdout, _stderr = run(env, capsys, "backup", "docs")
    assert code == 1
    assert "docs: FAILURE: validate: root" in stdout
    assert env.records()[0]["failed_phase"] == "validate"
    assert fake_backup[0] == []


def test_backup_lock_held_exits_75(env, capsys, fake_backup):
    fake_backup[1]["docs"] = DarBackupError("another run of definition docs is in progress (lock /x is held); "
                                            "try again when it has finished", phase="lock")
    code, stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 75
    assert stdout.startswith("docs: SKIPPED: lock: another run")
    assert stderr.startswith("dar-backup-run: lock: docs: another run")
    assert env.records()[0]["status"] == "SKIPPED"


def test_failure_beats_lock(env, capsys, fake_backup):
    fake_backup[1]["docs"] = DarBackupError("another run of definition docs is in progress", phase="lock")
    fake_backup[1]["photos"] = DarBackupError("boom", phase="verify")
    assert run(env, capsys, "backup", "--all")[0] == 1


def test_real_lock_held(env, capsys, monkeypatch):
    """The engine's own lock, not a mock of it: run_backup stops at the lock and the runner says 75."""
    monkeypatch.setattr(backup_mod, "_tools", lambda request: {})
    lock = backup_mod.definition_lock(env.data["backup_dir"], "docs")
    with lock:
        code, _stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 75 and "is in progress" in stderr


def test_unexpected_exception_no_traceback(env, capsys, fake_backup):
    fake_backup[1]["docs"] = KeyError("surprise")
    code, stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 1
    assert "Traceback" not in stderr
    assert stderr.strip() == "dar-backup-run: internal: docs: KeyError: 'surprise'"
    assert env.records()[0]["failed_phase"] == "internal"


def test_interrupted_stops_and_records(env, capsys, fake_backup):
    fake_backup[1]["docs"] = backup_mod.Interrupted("terminated by signal 15")
    code, stdout, _stderr = run(env, capsys, "backup", "--all")
    assert code == 1
    assert stdout.splitlines() == ["docs: FAILURE: interrupted: terminated by signal 15"]
    assert [r["definition"] for r in env.records()] == ["docs"]
    assert len(fake_backup[0]) == 1  # photos never started


def test_sigterm_handler_installed(env, capsys, fake_backup):
    import signal
    run(env, capsys, "backup", "docs")
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(backup_mod.Interrupted):
        handler(signal.SIGTERM, None)


def test_record_write_failure_does_not_fail_the_backup(env, capsys, fake_backup):
    env.state.write_text("a file, not a directory")
    code, stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 0
    assert stdout.startswith("docs: SUCCESS")
    assert stderr.startswith("dar-backup-run: record: cannot write the run record of docs to ")


# --- notifications ------------------------------------------------------------------------------------------

def write_secrets(env, mode=0o600, on="failure"):
    env.data["notify"]["on"] = on
    env.write()
    path = env.path / "notify.json"
    path.write_text(json.dumps({"discord_url": DISCORD, "webhook_url": DISCORD + "/generic"}))
    os.chmod(str(path), mode)


def test_notify_on_failure_only(env, capsys, fake_backup, monkeypatch):
    write_secrets(env)
    posts = []
    monkeypatch.setattr(notify_mod, "post_json", lambda url, payload, timeout=10: posts.append((url, payload)))
    run(env, capsys, "backup", "docs")
    assert posts == []
    fake_backup[1]["docs"] = DarBackupError("dar -t failed", phase="verify")
    run(env, capsys, "backup", "docs")
    assert [url for url, _payload in posts] == [DISCORD, DISCORD + "/generic"]
    assert "docs FAILURE" in posts[0][1]["content"] and "failed phase: verify" in posts[0][1]["content"]
    assert posts[1][1]["status"] == "FAILURE" and posts[1][1]["failed_phase"] == "verify"
    assert posts[1][1]["run_id"] == env.records()[-1]["run_id"]


def test_notify_failure_is_recorded_not_fatal_and_url_free(env, capsys, fake_backup, monkeypatch):
    write_secrets(env, on="always")

    def post(url, payload, timeout=10):
        raise OSError("cannot reach %s" % url)
    monkeypatch.setattr(notify_mod, "post_json", post)
    code, stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 0
    record = env.records()[0]
    assert record["notify_error"].startswith("discord notification failed: OSError: cannot reach")
    assert "dar-backup-run: notify: docs: discord notification failed" in stderr
    with open(str(env.state / "runs.jsonl")) as handle:
        text = handle.read()
    for blob in (stdout, stderr, text):
        assert "VeryS3cretT0ken" not in blob and "discord.com/api" not in blob


def test_notify_missing_secrets_file_is_reported(env, capsys, fake_backup):
    env.data["notify"]["on"] = "failure"
    env.write()
    fake_backup[1]["docs"] = DarBackupError("boom", phase="create")
    code, _stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 1
    assert "dar-backup-run: notify: docs: notification failed: cannot open secrets file" in stderr
    assert env.records()[0]["notify_error"].startswith("notification failed: cannot open secrets file")


def test_notify_refuses_loose_secrets(env, capsys, fake_backup, monkeypatch):
    write_secrets(env, mode=0o644)
    posts = []
    monkeypatch.setattr(notify_mod, "post_json", lambda url, payload, timeout=10: posts.append(url))
    fake_backup[1]["docs"] = DarBackupError("boom", phase="create")
    code, _stdout, stderr = run(env, capsys, "backup", "docs")
    assert code == 1 and posts == []
    assert "has mode 0644; refusing it" in env.records()[0]["notify_error"]
    assert "refusing it" in stderr and "VeryS3cretT0ken" not in stderr


# --- verify / restore / cleanup / status ----------------------------------------------------------------------

def scrub_result(*statuses):
    archives = [{"archive": "docs_FULL_2026-01-0%d_100301" % (i + 1), "definition": "docs", "level": "FULL",
                 "status": s, "slices": [], "detail": None, "par2_created": []} for i, s in enumerate(statuses)]
    summary = {}
    for s in statuses:
        summary[s] = summary.get(s, 0) + 1
    return {"changed": False, "archives": archives, "summary": summary}


@pytest.mark.parametrize("statuses, code, text", [
    (("ok", "ok"), 0, "docs: SUCCESS: verified 2 archive(s): 2 ok"),
    (("ok", "no_par2"), 0, "docs: WARNING: verified 2 archive(s)"),
    (("ok", "damaged_repairable"), 1, "damaged_repairable; run verify docs --repair"),
    (("unrepairable",), 1, "docs: FAILURE: verify: 1 archive(s) failed the PAR2 check"),
])
def test_verify(env, capsys, monkeypatch, statuses, code, text):
    os.makedirs(env.data["backup_dir"])
    seen = []

    def fake_scrub(request, tools, check_mode=False):
        seen.append(request)
        return scrub_result(*statuses)
    monkeypatch.setattr(scrub_mod, "scrub", fake_scrub)
    result = run(env, capsys, "verify", "docs")
    assert result[0] == code
    assert text in result[1]
    assert seen[0].names == ["docs"] and seen[0].par2.redundancy == 10 and not seen[0].repair
    record = env.records()[0]
    assert record["command"] == "verify" and record["verify"]["archives"] == len(statuses)


def test_verify_repair_takes_the_lock(env, capsys, monkeypatch):
    os.makedirs(env.data["backup_dir"])
    monkeypatch.setattr(scrub_mod, "scrub", lambda request, tools, check_mode=False: scrub_result("repaired"))
    with backup_mod.definition_lock(env.data["backup_dir"], "docs"):
        assert run(env, capsys, "verify", "docs", "--repair")[0] == 75
    assert run(env, capsys, "verify", "docs", "--repair")[0] == 0
    assert env.records()[-1]["verify"]["repaired"] == ["docs_FULL_2026-01-01_100301"]


def test_restore(env, capsys, monkeypatch):
    os.makedirs(env.data["backup_dir"])
    seen = []

    def fake_restore(request, dar, check_mode=False):
        seen.append(request)
        return {"archive": "docs_DIFF_x", "archives": ["docs_FULL_x", "docs_DIFF_x"], "when": None,
                "written": 1, "unchanged": 0, "msg": "restored 1 path(s)"}
    monkeypatch.setattr(runner.restore_mod, "run_restore", fake_restore)
    dest = str(env.path / "restore")
    code, stdout, _stderr = run(env, capsys, "restore", "docs", "--dest", dest, "--path", "a/b.txt",
                                "--path", "c", "--overwrite")
    assert code == 0 and stdout.strip() == "docs: SUCCESS: restored 1 path(s)"
    assert seen[0].paths == ["a/b.txt", "c"] and seen[0].overwrite and seen[0].dest == dest
    record = env.records()[0]
    assert record["command"] == "restore" and record["archive"] == "docs_DIFF_x"
    assert record["restore"]["written"] == 1


def test_restore_refuses_system_dest(env, capsys):
    os.makedirs(env.data["backup_dir"])
    code, stdout, _stderr = run(env, capsys, "restore", "docs", "--dest", "/etc")
    assert code == 1 and "docs: FAILURE: validate: dest /etc is a system directory" in stdout


def test_cleanup(env, capsys, monkeypatch):
    os.makedirs(env.data["backup_dir"])
    env.data["cleanup"] = {"diff_age": 60, "incr_age": 14}
    env.write()
    seen = []

    def fake_cleanup(request, check_mode=False, now=None, dar=None, catalog=None):
        seen.append(request)
        return {"changed": True, "removed": ["docs_INCR_2026-01-04_190301"], "leftovers": [],
                "removed_files": ["/b/x.1.dar"], "protected": [], "kept": 3, "warnings": [], "left_alone": [],
                "unreadable": [], "catalog": None}
    monkeypatch.setattr(cleanup_mod, "run_cleanup", fake_cleanup)
    code, stdout, _stderr = run(env, capsys, "cleanup", "docs")
    assert code == 0
    assert stdout.strip() == "docs: SUCCESS: removed 1 archive(s) (docs_INCR_2026-01-04_190301), kept 3"
    assert (seen[0].diff_age, seen[0].incr_age) == (60, 14)
    assert env.records()[0]["cleanup"]["removed"] == ["docs_INCR_2026-01-04_190301"]


def test_cleanup_partial_failure(env, capsys, monkeypatch):
    os.makedirs(env.data["backup_dir"])

    def fake_cleanup(request, **kwargs):
        raise cleanup_mod.CleanupError("cannot remove /b/x: Permission denied", {"removed": ["docs_INCR_a"]})
    monkeypatch.setattr(cleanup_mod, "run_cleanup", fake_cleanup)
    code, _stdout, stderr = run(env, capsys, "cleanup", "docs")
    assert code == 1 and "dar-backup-run: remove: docs: cannot remove" in stderr
    assert env.records()[0]["cleanup"] == {"removed": ["docs_INCR_a"]}


def test_status(env, capsys, fake_backup, monkeypatch):
    os.makedirs(env.data["backup_dir"])
    run(env, capsys, "backup", "docs")

    def fake_describe(dar, backup_dir, names=None, catalog_dir=None, par2_dir=None, path=None, now=None):
        return {names[0]: {"archives": [{"archive": "x"}], "newest": {"FULL": {
            "archive": "docs_FULL_2026-01-02_100301", "age_seconds": 7200, "time": "t"}}, "size_bytes": 2048,
            "catalog": {"exists": True, "in_sync": True}, "par2_complete": True, "chains": []}}
    monkeypatch.setattr(info_mod, "describe", fake_describe)
    code, stdout, _stderr = run(env, capsys, "status", "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["definitions"]["docs"]["last_run"]["archive"] == "docs_FULL_2026-01-02_100301"
    assert report["definitions"]["docs"]["last_runs"]["backup"]["status"] == "SUCCESS"
    assert report["definitions"]["photos"]["last_run"] is None
    code, stdout, _stderr = run(env, capsys, "status")
    lines = stdout.splitlines()
    assert lines[0].startswith("docs: 1 archive(s); FULL docs_FULL_2026-01-02_100301 (2h ago); 2.0 KiB; "
                               "catalog in sync; par2 complete; last run: backup SUCCESS docs_FULL_")
    assert lines[1].endswith("no run recorded")


# --- run records ----------------------------------------------------------------------------------------------

def test_append_record_concurrent(tmp_path):
    state = str(tmp_path / "state")

    def writer(index):
        for number in range(50):
            records_mod.append_record(state, {"writer": index, "n": number, "pad": "x" * 5000})
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = records_mod.read_records(state)
    assert len(records) == 300
    assert sorted((r["writer"], r["n"]) for r in records) == [(i, n) for i in range(6) for n in range(50)]


def test_append_record_rotates(tmp_path, monkeypatch):
    monkeypatch.setattr(records_mod, "RECORDS_MAX_BYTES", 300)
    state = str(tmp_path)
    for number in range(10):
        records_mod.append_record(state, {"definition": "docs", "command": "backup", "n": number, "pad": "y" * 50})
    assert os.path.getsize(os.path.join(state, "runs.jsonl")) <= 300
    assert os.path.exists(os.path.join(state, "runs.jsonl.1"))
    records = records_mod.read_records(state)
    assert records[-1]["n"] == 9
    assert records_mod.last_runs(records)["docs"]["last_run"]["n"] == 9


def test_read_records_skips_bad_lines(tmp_path):
    (tmp_path / "runs.jsonl").write_text('{"definition": "a", "command": "backup"}\nnot json\n[1]\n{"defin')
    assert records_mod.read_records(str(tmp_path)) == [{"definition": "a", "command": "backup"}]
