# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Archives are private and ours: another user's archive in a shared backup_dir is ignored unless named,
a backup_dir others can write into is refused, and archive files do not follow the umask."""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import shutil
import stat
import subprocess

import pytest

from conftest import BIN, REPO, RUNNER_ENTRY, TARGET_PYTHON, ansible_env, make_archive, run_module, write_file


def warnings_of(run):
    """The module's warnings: in the result, or printed by the CLI as [WARNING] lines."""
    return " ".join(run.result.get("warnings") or []) + run.stderr + run.stdout


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def private_dir(path):
    os.makedirs(str(path))
    os.chmod(str(path), 0o750)
    return path


@contextlib.contextmanager
def umask(value):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def shared(workdir, unprivileged_user):
    """A backup_dir with our FULL (made 2 h ago) and, planted by another user, a FULL named a year ahead."""
    backup_dir = private_dir(workdir / "backups")
    ours_root, evil_root = workdir / "src", workdir / "evil"
    write_file(str(ours_root / "a.txt"), "ours\n")
    write_file(str(evil_root / "a.txt"), "planted\n")
    now = datetime.datetime.now().replace(microsecond=0)
    ours = make_archive(backup_dir, "docs", "FULL", now - datetime.timedelta(hours=2), ours_root)
    planted = make_archive(backup_dir, "docs", "FULL", now + datetime.timedelta(days=365), evil_root)
    for path in glob.glob(os.path.join(str(backup_dir), planted + ".*")):
        os.chown(path, unprivileged_user.pw_uid, unprivileged_user.pw_gid)
    return {"dir": backup_dir, "root": ours_root, "ours": ours, "planted": planted,
            "uid": unprivileged_user.pw_uid}


def _ignored(text, shared):
    return "%s (uid %d)" % (shared["planted"], shared["uid"]) in text and "owned by another user" in text


def test_planted_archive_is_ignored_by_every_module_unless_named(shared, workdir):
    backup_dir, ours, planted = str(shared["dir"]), shared["ours"], shared["planted"]

    restored = run_module("dar_restore", {"name": "docs", "backup_dir": backup_dir, "dest": str(workdir / "r1")})
    assert not restored.failed, restored
    assert restored.result["archives"] == [ours], restored
    assert (workdir / "r1" / "a.txt").read_text() == "ours\n"
    assert _ignored(warnings_of(restored), shared), restored

    diff = run_module("dar_backup", {"name": "docs", "root": str(shared["root"]), "backup_dir": backup_dir,
                                     "restore_test": {"enabled": False}})
    assert not diff.failed, diff
    assert (diff.result["level"], diff.result["reference"]) == ("DIFF", ours), diff
    assert _ignored(warnings_of(diff), shared), diff

    info = run_module("dar_info", {"backup_dir": backup_dir})
    assert not info.failed, info
    assert [a["archive"] for a in info.result["definitions"]["docs"]["archives"]] == [ours, diff.result["archive"]]
    assert _ignored(warnings_of(info), shared), info

    verify = run_module("par2_verify", {"backup_dir": backup_dir, "name": "docs"})
    assert not verify.failed, verify
    assert [a["archive"] for a in verify.result["archives"]] == [ours, diff.result["archive"]], verify
    assert _ignored(warnings_of(verify), shared), verify

    catalog = run_module("dar_catalog", {"name": "docs", "backup_dir": backup_dir, "state": "rebuilt"})
    assert not catalog.failed, catalog
    assert catalog.result["archives"] == [ours, diff.result["archive"]], catalog
    assert _ignored(warnings_of(catalog), shared), catalog

    kept = run_module("dar_cleanup", {"name": "docs", "backup_dir": backup_dir})
    assert not kept.failed, kept
    assert os.path.exists(os.path.join(backup_dir, planted + ".1.dar")), kept
    assert planted not in kept.result["removed"] + kept.result["leftovers"], kept
    assert _ignored(warnings_of(kept), shared), kept

    # Named, it is the user's choice.
    chosen = run_module("dar_restore", {"name": "docs", "backup_dir": backup_dir, "dest": str(workdir / "r2"),
                                        "archive": planted})
    assert not chosen.failed, chosen
    assert chosen.result["archives"] == [planted] and (workdir / "r2" / "a.txt").read_text() == "planted\n"
    named_verify = run_module("par2_verify", {"backup_dir": backup_dir, "archive": planted})
    assert not named_verify.failed and [a["archive"] for a in named_verify.result["archives"]] == [planted]
    assert "owned by another user" not in warnings_of(named_verify), named_verify
    removed = run_module("dar_cleanup", {"name": "docs", "backup_dir": backup_dir, "archives": [planted],
                                         "allow_full": True})
    assert not removed.failed and removed.result["removed"] == [planted], removed
    assert not glob.glob(os.path.join(backup_dir, planted + ".*"))


def run_runner(engine, workdir, backup_dir, root, *args):
    config = workdir / "config.json"
    config.write_text(json.dumps({
        "backup_dir": str(backup_dir), "catalog_dir": None, "state_dir": str(workdir / "state"), "timeout": 600,
        "cleanup": {"diff_age": 100, "incr_age": 40}, "notify": {"on": "never", "secrets_file": None},
        "definitions": {"docs": {"root": str(root), "restore_test": {"enabled": False}}}}))
    proc = subprocess.run([TARGET_PYTHON, "-c", RUNNER_ENTRY, engine, "--config", str(config)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600,
                          check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    with open(str(workdir / "state" / "runs.jsonl")) as handle:
        return proc, [json.loads(line) for line in handle][-1]


def test_runner_ignores_a_planted_archive(shared, workdir, engine):
    proc, record = run_runner(engine, workdir, shared["dir"], shared["root"], "restore", "docs",
                              "--dest", str(workdir / "r"))
    assert proc.returncode == 0, proc.stderr
    assert record["status"] == "WARNING" and record["restore"]["archives"] == [shared["ours"]], record
    assert _ignored(" ".join(record["warnings"]), shared), record
    proc, record = run_runner(engine, workdir, shared["dir"], shared["root"], "backup", "docs")
    assert proc.returncode == 0, proc.stderr
    assert (record["level"], record["reference"]) == ("DIFF", shared["ours"]), record
    assert _ignored(" ".join(record["warnings"]), shared), record
    proc, record = run_runner(engine, workdir, shared["dir"], shared["root"], "verify", "docs")
    assert proc.returncode == 0, proc.stderr
    assert record["verify"]["archives"] == 2 and _ignored(" ".join(record["warnings"]), shared), record


def _backup(backup_dir, root, check=False, **extra):
    args = {"name": "docs", "root": str(root), "backup_dir": str(backup_dir), "restore_test": {"enabled": False},
            "par2": {"enabled": False}, "catalog": False}
    args.update(extra)
    return run_module("dar_backup", args, check=check)


def test_backup_dir_that_others_can_write_is_refused_unless_sticky_and_ours(workdir, unprivileged_user, engine):
    root = workdir / "src"
    write_file(str(root / "a.txt"), "a\n")

    for name, dir_mode, owner in (("open", 0o777, 0), ("sticky-theirs", 0o1777, unprivileged_user.pw_uid)):
        backup_dir = workdir / name
        backup_dir.mkdir()
        os.chmod(str(backup_dir), dir_mode)
        os.chown(str(backup_dir), owner, -1)
        for check in (True, False):
            run = _backup(backup_dir, root, check=check)
            assert run.failed and run.result["phase"] == "validate", run
            assert "backup_dir %s is writable by every user (mode %04o" % (backup_dir, dir_mode) \
                in run.result["msg"], run
            assert "\n" not in run.result["msg"]
            assert os.listdir(str(backup_dir)) == [], name

    sticky = workdir / "sticky-ours"
    sticky.mkdir()
    os.chmod(str(sticky), 0o1777)
    run = _backup(sticky, root)
    assert not run.failed, run
    assert "is writable by every user (mode 1777): sticky" in warnings_of(run), run

    readable = workdir / "readable"
    readable.mkdir()
    os.chmod(str(readable), 0o755)
    run = _backup(readable, root)
    assert not run.failed, run
    assert "backup_dir %s is readable by every user (mode 0755)" % readable in warnings_of(run), run
    proc, record = run_runner(engine, workdir, readable, root, "backup", "docs")
    assert proc.returncode == 0 and record["status"] == "WARNING", (proc.stderr, record)
    assert any("is readable by every user (mode 0755)" in w for w in record["warnings"]), record

    quiet = private_dir(workdir / "private")
    run = _backup(quiet, root)
    assert not run.failed and "every user" not in warnings_of(run), run


def test_archive_files_do_not_follow_the_umask(workdir):
    root = workdir / "src"
    write_file(str(root / "a.txt"), "a\n")
    with umask(0):
        default = run_module("dar_backup", {"name": "docs", "root": str(root),
                                            "backup_dir": str(private_dir(workdir / "b1")),
                                            "restore_test": {"enabled": False}})
        grouped = run_module("dar_backup", {"name": "docs", "root": str(root),
                                            "backup_dir": str(private_dir(workdir / "b2")),
                                            "restore_test": {"enabled": False}, "group_readable": True})
    assert not default.failed and not grouped.failed, (default, grouped)
    for run, expected in ((default, 0o600), (grouped, 0o640)):
        files = run.result["slices"] + run.result["par2"]["files"]
        assert files and [oct(mode(p)) for p in files] == [oct(expected)] * len(files), run


@pytest.mark.parametrize("slice_mode", [0o600, 0o640])
def test_par2_files_made_by_create_missing_are_as_private_as_the_slice(workdir, slice_mode):
    backup_dir = private_dir(workdir / "backups")
    write_file(str(workdir / "src" / "a.txt"), "a\n" * 1000)
    base = make_archive(backup_dir, "docs", "FULL", datetime.datetime.now() - datetime.timedelta(hours=1),
                        workdir / "src")
    os.chmod(os.path.join(str(backup_dir), base + ".1.dar"), slice_mode)
    with umask(0):
        run = run_module("par2_verify", {"backup_dir": str(backup_dir), "create_missing": True})
    assert not run.failed, run
    (entry,) = run.result["archives"]
    assert entry["par2_created"] and [mode(p) for p in entry["par2_created"]] == \
        [slice_mode] * len(entry["par2_created"]), run


def test_configure_role_passes_group_readable_to_the_runner_config(tmp_path):
    """The role's config.json.j2 as the role renders it: the role-wide default, and a definition's own value."""
    variables = {"__dar_backup_runner_config": {}, "__dar_backup_config_dir": "/etc/dar-backup",
                 "dar_backup_par2_dir": "", "dar_backup_group_readable": True,
                 "dar_backup_definitions": [{"name": "docs", "root": "/srv/docs"},
                                            {"name": "mail", "root": "/srv/mail", "group_readable": False}]}
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(variables))
    template = os.path.join(REPO, "roles", "configure", "templates", "config.json.j2")
    definitions = json.loads(render(vars_file, template))["definitions"]
    assert (definitions["docs"]["group_readable"], definitions["mail"]["group_readable"]) == (True, False)


def render(vars_file, template):
    proc = subprocess.run([os.path.join(BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=" + TARGET_PYTHON, "-e", "@" + str(vars_file),
                           "-m", "ansible.builtin.debug", "-a",
                           "msg={{ lookup('ansible.builtin.template', %r) }}" % template],
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout[proc.stdout.find(" => ") + 4:])
    return result["msg"] if isinstance(result["msg"], str) else json.dumps(result["msg"])


def test_planted_par2_set_and_manifest_are_not_used(workdir, unprivileged_user):
    """Another user's PAR2 set named for our slice would let repair=true rewrite our slice into their bytes; their
    manifest beside our adopted archive could redirect its chain. Neither is used."""
    backup_dir = private_dir(workdir / "backups")
    write_file(str(workdir / "src" / "a.bin"), os.urandom(64 * 1024))
    made = run_module("dar_backup", {"name": "docs", "root": str(workdir / "src"), "backup_dir": str(backup_dir),
                                     "par2": {"enabled": False}, "restore_test": {"files": 1}})
    assert not made.failed, made
    slice_1 = made.result["slices"][0]
    with open(slice_1, "rb") as handle:
        original = handle.read()
    # Their set: made for their own bytes under our slice's name, then put beside our slice.
    forge = workdir / "forge"
    os.makedirs(str(forge))
    forged = str(forge / os.path.basename(slice_1))
    with open(forged, "wb") as handle:
        handle.write(original[:4096] + os.urandom(len(original) - 4096))
    subprocess.run(["par2", "create", "-q", "-q", "-r30", "-B", str(forge), "--", forged + ".par2", forged],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for path in glob.glob(forged + "*.par2"):
        target = os.path.join(str(backup_dir), os.path.basename(path))
        shutil.move(path, target)
        os.chown(target, unprivileged_user.pw_uid, unprivileged_user.pw_gid)
    repaired = run_module("par2_verify", {"backup_dir": str(backup_dir), "repair": True})
    assert repaired.result["archives"][0]["status"] == "no_par2", repaired
    assert not repaired.changed
    with open(slice_1, "rb") as handle:
        assert handle.read() == original
    # Their manifest in place of ours: ignored, the header decides (the archive is still whole and readable).
    manifest = made.result["manifest"]
    with open(manifest) as handle:
        record = json.load(handle)
    record["slices"][0]["size"] += 1
    with open(manifest, "w") as handle:
        json.dump(record, handle)
    os.chown(manifest, unprivileged_user.pw_uid, unprivileged_user.pw_gid)
    entry = run_module("dar_info", {"backup_dir": str(backup_dir)}).result["definitions"]["docs"]["archives"][0]
    assert entry["manifest"] is False and entry["readable"] is True and entry["complete"] is True, entry
