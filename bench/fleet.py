# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: playbooks/backup.yml over 1, 5 and 20 podman containers, and a no-op re-run.

    python bench/fleet.py [--hosts 1,5,20] [--runs 3]

Containers are named dar-bench-NN, run from an image with dar and par2 installed (built once from the
Molecule base image), and always removed at the end. Every host backs up the same small read-only tree
(mounted from the host). Control-node CPU is the user+sys time of the ansible-playbook process tree
(ansible and the podman exec clients it starts; the dar and par2 inside the containers are not its children).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import dataset  # noqa: E402  pylint: disable=wrong-import-position
from measure import measure, median, wait_for_quiet  # noqa: E402  pylint: disable=wrong-import-position

BASE_IMAGE = "localhost/dar-backup-systemd:bookworm"
IMAGE = "localhost/dar-bench-node:bookworm"
PREFIX = "dar-bench-"
CONTAINERFILE = """FROM %s
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dar par2 \\
    && rm -rf /var/lib/apt/lists/*
CMD ["sleep", "infinity"]
""" % BASE_IMAGE


def log(text):
    sys.stderr.write("[fleet %s] %s\n" % (datetime.datetime.now().strftime("%H:%M:%S"), text))
    sys.stderr.flush()


def podman(*args, **kwargs):
    return subprocess.run(["podman"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=kwargs.get("check", True))


def ensure_image():
    if podman("image", "exists", IMAGE, check=False).returncode == 0:
        return
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        sys.exit("fleet: %s is missing: run tests/molecule/build-image.sh (make molecule does)" % BASE_IMAGE)
    log("building %s (dar + par2 on the Molecule base image)" % IMAGE)
    proc = subprocess.run(["podman", "build", "-t", IMAGE, "-f", "-", HERE], input=CONTAINERFILE,
                          universal_newlines=True, check=False)
    if proc.returncode != 0:
        sys.exit("fleet: podman build failed")


def others_running():
    names = podman("ps", "--format", "{{.Names}}").stdout.split()
    return [n for n in names if not n.startswith(PREFIX)]


def start(count, data):
    names = ["%s%02d" % (PREFIX, n) for n in range(1, count + 1)]
    for name in names:
        podman("run", "-d", "--name", name, "--hostname", name, "-v", "%s:/data/docs:ro" % data, IMAGE)
    return names


def remove_all():
    names = podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    mine = [n for n in names if n.startswith(PREFIX)]
    if mine:
        podman("rm", "-f", "-t", "0", *mine, check=False)


def write_inventory(path, names):
    hosts = {name: {} for name in names}
    inventory = {"all": {"hosts": hosts, "vars": {
        "ansible_connection": "containers.podman.podman",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_become_method": "ansible.builtin.su",  # the image has no sudo; root su needs no password
        "dar_backup_dir": "/srv/dar-backup",
        "dar_backup_definitions": [{"name": "docs", "root": "/data/docs", "restore_test": {"files": 5}}],
    }}}
    with open(path, "w") as handle:
        json.dump(inventory, handle)  # JSON is YAML


def playbook(inventory, limit, forks, extra, out_path):
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", inventory, "--limit", limit,
            "-f", str(forks), os.path.join(REPO, "playbooks", "backup.yml")]
    for item in extra:
        argv += ["-e", item]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_DEPRECATION_WARNINGS="0")
    return measure(argv, out_path, env=env)


def recap(text):
    """PLAY RECAP counts summed over hosts: ok, changed, failed, unreachable."""
    totals = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0}
    started = False
    for line in text.splitlines():
        if line.startswith("PLAY RECAP"):
            started = True
            continue
        if started and ":" in line:
            for key in totals:
                marker = key + "="
                if marker in line:
                    totals[key] += int(line.split(marker, 1)[1].split()[0])
    return totals


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", default="1,5,20")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--forks", type=int, default=20, help="ansible-playbook -f (default 20)")
    parser.add_argument("--data-size", default=4 * 1024 * 1024, type=int, help="bytes of data per host")
    parser.add_argument("--work", default="/var/tmp/dar-bench")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--max-wait", type=int, default=600)
    parser.add_argument("--json", metavar="PATH")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    counts = [int(n) for n in args.hosts.split(",")]
    if not os.environ.get("CONTAINERS_CONF"):
        conf = os.path.join(REPO, ".cache", "molecule", "containers.conf")
        if not os.path.exists(conf):
            sys.exit("fleet: %s is missing: run tests/molecule/build-image.sh (make molecule does)" % conf)
        os.environ["CONTAINERS_CONF"] = conf
    deadline = time.monotonic() + args.max_wait
    while others_running() and time.monotonic() < deadline:
        log("other containers are running (%s): waiting" % ", ".join(others_running()))
        time.sleep(20)
    data = os.path.join(args.work, "fleet-data")
    summary = dataset.ensure(data, args.data_size, seed=11)
    ensure_image()
    inventory = os.path.join(args.work, "fleet-inventory.yml")
    out = os.path.join(args.work, "out-fleet.txt")
    results = {"cores": os.cpu_count(), "data": summary, "forks": args.forks, "runs": {}}
    remove_all()
    try:
        names = start(max(counts), data)
        write_inventory(inventory, names)
        log("warm-up run over %d hosts (not timed)" % len(names))
        warm = playbook(inventory, "all", args.forks, ["dar_backup_run_level=full"], out)
        if warm.rc != 0:
            sys.exit("fleet: warm-up failed, see %s" % out)
        plan = [("backup", n, ["dar_backup_run_level=full"]) for n in counts]
        plan.append(("no-op re-run (min_interval 1h)", max(counts), ["dar_backup_run_min_interval=1h"]))
        for run in range(args.runs):
            for label, count, extra in plan:
                load = wait_for_quiet(args.max_load, args.max_wait, log)
                limit = ",".join(names[:count])
                outcome = playbook(inventory, limit, args.forks, extra, out)
                text = outcome.output()
                counts_seen = recap(text)
                if outcome.rc != 0 or counts_seen["failed"] or counts_seen["unreachable"]:
                    sys.exit("fleet: %s over %d hosts failed, see %s" % (label, count, out))
                key = "%s x%d" % (label, count)
                record = outcome.as_dict()
                record.update(load=round(load, 2), changed=counts_seen["changed"])
                results["runs"].setdefault(key, {"label": label, "hosts": count, "runs": []})["runs"].append(record)
                log("run %d: %s: wall %.1f s, control CPU %.1f s, changed %d (load %.2f)"
                    % (run + 1, key, outcome.wall, outcome.cpu, counts_seen["changed"], load))
    finally:
        remove_all()
    print("\n### Fleet: playbooks/backup.yml over podman hosts (median of %d runs, -f %d, %.0f MiB per host)\n"
          % (args.runs, args.forks, summary["bytes"] / 1024.0 ** 2))
    print("| run | hosts | wall s | control-node CPU s | CPU s per host | peak RSS MiB | tasks changed |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for item in results["runs"].values():
        wall = median([r["wall"] for r in item["runs"]])
        cpu = median([r["cpu"] for r in item["runs"]])
        print("| %s | %d | %.1f | %.1f | %.2f | %.0f | %d |" % (
            item["label"], item["hosts"], wall, cpu, cpu / item["hosts"],
            median([r["maxrss_mib"] for r in item["runs"]]), median([r["changed"] for r in item["runs"]])))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
