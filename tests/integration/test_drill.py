# -*- coding: utf-8 -*-
"""The restore drill playbook, end to end: real archives, real dar, several inventory hosts on this machine."""

from __future__ import annotations

import datetime
import json
import os
import subprocess

import pytest

from conftest import AWKWARD_NAMES, BIN, REPO, TARGET_PYTHON, ansible_env, lying_dar_env, make_archive, write_file

OLD = 1735689600  # file mtimes well before the archives are made
T_FULL = datetime.datetime(2026, 11, 20, 10, 0, 0)
T_DIFF = datetime.datetime(2026, 11, 21, 10, 0, 0)


def make_host(base, host, awkward=False):
    """A root with files, and its FULL (and for awkward hosts a DIFF) in the host's own backup dir.

    Returns the relative paths a drill may sample: present in the newest archive and unchanged since."""
    root = base / host / "data"
    backup = base / host / "backup"
    names = ["notes/%s-%02d.txt" % (host, i) for i in range(6)] + ["big.bin", "gone.txt", "changed.txt"]
    if awkward:
        names += AWKWARD_NAMES + ["{{ lookup('env', 'HOME') }}.txt", "-rf"]
    for index, name in enumerate(names):
        data = os.urandom(200 * 1024) if name == "big.bin" else ("%s %s\n" % (host, name)) * (index + 1)
        write_file(str(root / name), data, mtime=OLD)
    full = make_archive(backup, "docs", "FULL", T_FULL, root)
    newest = full
    if awkward:
        write_file(str(root / "notes/added later.txt"), "new in the diff\n", mtime=OLD + 10)
        write_file(str(root / "notes" / ("%s-00.txt" % host)), "rewritten before the diff\n", mtime=OLD + 20)
        newest = make_archive(backup, "docs", "DIFF", T_DIFF, root, reference=full)
        names.append("notes/added later.txt")
    # After the newest backup: one file changes, one goes. Neither may be sampled, and neither fails a drill.
    write_file(str(root / "changed.txt"), "changed after the backup\n", mtime=OLD + 999)
    os.unlink(str(root / "gone.txt"))
    unchanged = sorted(set(names) - {"changed.txt", "gone.txt"})
    return {"root": str(root), "backup": str(backup), "newest": newest, "unchanged": unchanged}


def inventory(path, hosts, extra_vars=None):
    """YAML inventory (JSON is YAML) of hosts run on this machine, each with its own dirs."""
    data = {"all": {"hosts": {}, "vars": {"ansible_connection": "local", "ansible_become": False,
                                          "ansible_python_interpreter": TARGET_PYTHON}}}
    for name, host in hosts.items():
        data["all"]["hosts"][name] = dict(host)
    data["all"]["vars"].update(extra_vars or {})
    path.write_text(json.dumps(data))
    return str(path)


def host_vars(info, **extra):
    result = {"dar_backup_dir": info["backup"], "dar_backup_definitions": [{"name": "docs", "root": info["root"]}]}
    result.update(extra)
    return result


def drill(inventory_path, extra=None, env=None):
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", inventory_path, os.path.join(REPO, "playbooks", "drill.yml")]
    for key, value in (extra or {}).items():
        argv += ["-e", json.dumps({key: value})]
    return subprocess.run(argv, env=ansible_env(dict({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"},
                                                     **(env or {}))),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=900,
                          check=False)


@pytest.fixture
def site(tmp_path):
    base = tmp_path / "site"
    base.mkdir()
    return {"base": base, "report": base / "report", "scratch": base / "scratch"}


def common(site, **extra):
    result = {"dar_backup_report_dir": str(site["report"]), "dar_backup_drill_scratch": str(site["scratch"]),
              "dar_backup_drill_files": 100}
    result.update(extra)
    return result


def drills_json(site):
    return json.loads((site["report"] / "drills.json").read_text())


def test_drill_across_hosts_passes_and_merges(site):
    hosts = {"ha": make_host(site["base"], "ha", awkward=True), "hb": make_host(site["base"], "hb"),
             "hc": make_host(site["base"], "hc")}
    inv = inventory(site["base"] / "inventory.yml", dict((h, host_vars(i)) for h, i in hosts.items()))
    site["report"].mkdir()
    earlier = {"old-host": {"etc": {"passed": True, "files": 3}}, "ha": {"home": {"passed": False}}}
    (site["report"] / "drills.json").write_text(json.dumps(earlier))
    run = drill(inv, common(site))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    recorded = drills_json(site)
    assert recorded["old-host"] == earlier["old-host"] and recorded["ha"]["home"] == {"passed": False}
    for host, target in (("ha", "hb"), ("hb", "hc"), ("hc", "ha")):
        entry = recorded[host]["docs"]
        assert entry["target"] == target and entry["passed"] is True, entry
        assert entry["error"] is None and entry["failures"] == []
        assert entry["archive"] == hosts[host]["newest"]
        # files=100 takes every candidate: exactly the files unchanged since the newest backup.
        assert entry["files"] == len(hosts[host]["unchanged"]), entry
        assert entry["time"].endswith("Z")
    assert "3 drill(s), 0 failed" in run.stdout
    # ha's candidates include every awkward name (see make_host): all were sampled, restored and matched.
    assert set(AWKWARD_NAMES) <= set(hosts["ha"]["unchanged"])
    assert os.listdir(str(site["scratch"])) == []
    assert not [name for name in os.listdir(str(site["report"])) if name != "drills.json"]


def test_failed_drills_are_recorded_and_fail_the_play(site, tmp_path):
    hosts = {"ha": make_host(site["base"], "ha"), "hc": make_host(site["base"], "hc")}
    empty = site["base"] / "hb"
    (empty / "data").mkdir(parents=True)
    inv = inventory(site["base"] / "inventory.yml", {
        "ha": host_vars(hosts["ha"]),
        "hb": {"dar_backup_dir": str(empty / "backup"),
               "dar_backup_definitions": [{"name": "docs", "root": str(empty / "data")}]},
        "hc": host_vars(hosts["hc"]),
        # Nothing listens on port 1 of the loopback address: an unreachable host.
        "hd": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
               "dar_backup_definitions": [{"name": "docs", "root": "/nonexistent"}]},
    })
    # The scratch directory of ha's drill (restored on hb) is named after ha: only that restore is corrupted.
    env = lying_dar_env(tmp_path / "lying-bin", only_under="/ha/docs/")
    run = drill(inv, common(site), env=env)
    assert run.returncode != 0, run.stdout[-6000:]
    recorded = drills_json(site)
    ha = recorded["ha"]["docs"]
    assert ha["passed"] is False and ha["error"] is None and ha["target"] == "hb"
    assert ha["files"] == len(hosts["ha"]["unchanged"])
    assert len(ha["failures"]) == ha["files"]
    assert all("content differs" in line for line in ha["failures"]), ha
    hb = recorded["hb"]["docs"]
    assert hb["passed"] is False and hb["archive"] is None and hb["files"] == 0
    assert hb["error"] == "no archive of docs: backup_dir %s does not exist" % (empty / "backup")
    hc = recorded["hc"]["docs"]
    assert hc["target"] == "hd" and hc["passed"] is False and hc["error"].startswith("hd unreachable: ")
    hd = recorded["hd"]["docs"]
    assert hd["target"] == "ha" and hd["error"].startswith("source unreachable: ")
    expected = [
        "ha docs -> hb: %d of %d files differ: " % (ha["files"], ha["files"]),
        "hb docs -> hc: no archive of docs",
        "hc docs -> hd: hd unreachable: ",
        "hd docs -> ha: source unreachable: ",
    ]
    failed_task = run.stdout[run.stdout.index("TASK [Fail when a drill failed]"):]
    for line in expected:
        assert line in failed_task, failed_task[:4000]
    assert "4 drill(s), 4 failed" in run.stdout
    assert os.listdir(str(site["scratch"])) == []


def test_drill_on_the_control_node_with_fetch(site):
    host = make_host(site["base"], "solo", awkward=True)
    # The archives are not where the control node would look without fetch: only fetching finds them.
    inv = inventory(site["base"] / "inventory.yml", {"solo": host_vars(
        host, dar_backup_drill_backup_dir=str(site["base"] / "not-mounted-here"))})
    run = drill(inv, common(site, dar_backup_drill_fetch=True, dar_backup_drill_keep=True))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    entry = drills_json(site)["solo"]["docs"]
    assert entry["target"] == "control node" and entry["passed"] is True
    assert entry["archive"] == host["newest"] and entry["files"] == len(host["unchanged"])
    kept = site["scratch"] / "solo" / "docs"
    # Exactly the chain's slices were fetched: the FULL and the DIFF, nothing else.
    assert sorted(os.listdir(str(kept / "archives"))) == sorted(
        name for name in os.listdir(host["backup"]) if name.endswith(".dar"))
    assert len(os.listdir(str(kept / "archives"))) == 2
    restored = []
    for top, _dirs, files in os.walk(str(kept / "files")):
        restored += [os.path.relpath(os.path.join(top, f), str(kept / "files")) for f in files]
    assert sorted(restored) == host["unchanged"]
    # Without fetch the drill looks in dar_backup_drill_backup_dir, finds nothing and says so.
    run = drill(inv, common(site, dar_backup_drill_on_control_node=True))
    assert run.returncode != 0
    entry = drills_json(site)["solo"]["docs"]
    assert entry["passed"] is False and entry["error"].startswith("restore on control node failed: ")
    assert "not-mounted-here" in entry["error"]
    # Not kept this time: the earlier kept copy is gone as well.
    assert os.listdir(str(site["scratch"])) == []


def test_drill_refuses_check_mode(site):
    host = make_host(site["base"], "ha")
    inv = inventory(site["base"] / "inventory.yml", {"ha": host_vars(host)})
    argv_extra = common(site)
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", inv, "--check",
                           "-e", json.dumps(argv_extra), os.path.join(REPO, "playbooks", "drill.yml")],
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "run it without --check" in proc.stdout
    assert not site["report"].exists()
