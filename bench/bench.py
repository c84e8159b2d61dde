# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dar.backup benchmark: prints markdown tables; not a test (nothing here passes or fails on time).

    python bench/bench.py [--size 1G] [--runs 3] [--parts backup,par2,pitr] [--before REV]

Parts:
  backup  one FULL backup of the data set, side by side: (a) the raw commands (bench/raw-backup.sh),
          (b) dar.backup.dar_backup through `ansible localhost`, (c) the on-host runner dar-backup-run;
          with --before REV also (b0) the module as it was at git revision REV.
  par2    PAR2 block counts at 5 %: time to create, and measured repair capacity on one slice.
  pitr    one file from a chain FULL + DIFF + 10 INCR: dar.backup.dar_restore vs raw `dar -x`.
The fleet part is bench/fleet.py (podman).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import hashlib
import importlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import dataset  # noqa: E402  pylint: disable=wrong-import-position
from measure import adhoc_result, measure, median, wait_for_quiet  # noqa: E402  pylint: disable=wrong-import-position

TARGET_PYTHON = "/usr/bin/python3"
ENTRY = "import sys; sys.path.insert(0, sys.argv.pop(1)); from dar_backup_engine.runner import main; sys.exit(main())"
SIZE_RE = re.compile(r"^([0-9]+)([KMG]?)$")
UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
DEFINITION = "bench"


def log(text):
    sys.stderr.write("[bench %s] %s\n" % (datetime.datetime.now().strftime("%H:%M:%S"), text))
    sys.stderr.flush()


def parse_size(text):
    match = SIZE_RE.match(text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError("%r is not a size like 64M or 1G" % text)
    return int(match.group(1)) * UNITS[match.group(2)]


def tool(name):
    path = shutil.which(name)
    if not path:
        sys.exit("bench: %s is not installed (make setup installs it)" % name)
    return path


def venv_bin(name):
    path = os.path.join(REPO, ".venv", "bin", name)
    if not os.path.exists(path):
        sys.exit("bench: %s missing: run `make setup` first" % path)
    return path


# --- the engine as the module and the runner see it -------------------------------------------------------------

def collection_from_tree(work):
    """The installed collection that `make setup` built (ANSIBLE_COLLECTIONS_PATH), as the tests use it."""
    path = os.path.join(REPO, ".collections")
    installed = os.path.join(path, "ansible_collections", "dar", "backup")
    if not os.path.isdir(installed):
        sys.exit("bench: %s has no dar.backup: run `make setup` first" % path)
    for sub in ("plugins/module_utils", "plugins/modules"):
        for source in glob.glob(os.path.join(REPO, sub, "*.py")):
            copy = os.path.join(installed, sub, os.path.basename(source))
            if not os.path.exists(copy) or _read(copy) != _read(source):
                sys.exit("bench: %s differs from the working tree (%s): run `make collection` (make bench does)"
                         % (path, os.path.join(sub, os.path.basename(source))))
    return path


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def collection_from_revision(work, revision):
    """plugins/, meta/ and galaxy.yml as they were at git ``revision``, laid out as a collection."""
    base = os.path.join(work, "collection-" + revision)
    target = os.path.join(base, "ansible_collections", "dar", "backup")
    if os.path.isdir(target):
        return base
    data = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", revision, "plugins", "meta", "galaxy.yml"],
                          stdout=subprocess.PIPE, check=True).stdout
    os.makedirs(target)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(target)
    return base


def runner_engine(collection_path, work, label):
    """plugins/module_utils as the package dar_backup_engine, as the configure role installs it."""
    top = os.path.join(work, "engine-" + label)
    package = os.path.join(top, "dar_backup_engine")
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(package)
    source = os.path.join(collection_path, "ansible_collections", "dar", "backup", "plugins", "module_utils")
    for path in glob.glob(os.path.join(source, "*.py")):
        shutil.copy(path, package)
    with open(os.path.join(package, "__init__.py"), "w"):
        pass
    return top


# --- part 1: one FULL backup, three ways -----------------------------------------------------------------------

class Settings(object):
    def __init__(self, args):
        self.compression = "zstd:3"
        self.slice_size = args.slice
        self.redundancy = 5
        # Given to every variant, so (a) uses the engine's default too.
        self.block_count = args.block_count or engine_module("backup").DEFAULT_PAR2_BLOCK_COUNT
        self.sample_files = 5
        self.max_size = "20M"
        self.seed = 1

    def module_args(self, root, backup_dir):
        par2 = {"redundancy": self.redundancy}
        if self.block_count:
            par2["block_count"] = self.block_count
        return {"name": DEFINITION, "backup_dir": backup_dir, "root": root, "compression": self.compression,
                "slice_size": self.slice_size, "level": "full",
                "restore_test": {"files": self.sample_files, "max_size": self.max_size, "seed": self.seed},
                "par2": par2, "catalog": True}

    def runner_config(self, root, backup_dir, state_dir):
        definition = self.module_args(root, backup_dir)
        for key in ("name", "backup_dir", "level"):
            definition.pop(key)
        return {"backup_dir": backup_dir, "state_dir": state_dir, "notify": {"on": "never"},
                "definitions": {DEFINITION: definition}}

    def dar_create_args(self, root):
        """What the engine passes to dar -c for these settings (the same compression masks, slicing)."""
        definition = engine_module("definition").Definition(DEFINITION, root=root, compression=self.compression,
                                                            slice_size=self.slice_size)
        return definition.create_args()


def engine_module(name):
    """One module of the working tree's engine (plugins/module_utils), imported as a plain package."""
    sys.path.insert(0, os.path.join(REPO, "plugins"))
    try:
        return importlib.import_module("module_utils." + name)
    finally:
        sys.path.pop(0)


def restore_sample(root, count, max_size, seed):
    """The raw variant's restore-test sample: files of at most max_size, drawn with a fixed seed."""
    candidates = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.getsize(path) <= max_size:
                candidates.append(os.path.relpath(path, root))
    candidates.sort()
    return random.Random(seed).sample(candidates, min(count, len(candidates)))


class Variant(object):
    def __init__(self, key, label, argv_for, env=None, check=None):
        self.key = key
        self.label = label
        self.argv_for = argv_for
        self.env = env
        self.check = check
        self.runs = []
        self.phases = []


def backup_variants(args, settings, root, work):
    ansible = venv_bin("ansible")
    raw_script = os.path.join(HERE, "raw-backup.sh")
    sample_file = os.path.join(work, "sample.list")
    with open(sample_file, "wb") as handle:
        for path in restore_sample(root, settings.sample_files, 20 * 1024 ** 2, settings.seed):
            handle.write(os.fsencode(path) + b"\0")
    create_args = settings.dar_create_args(root)

    def raw(backup_dir):
        return (["bash", raw_script, os.path.join(backup_dir, "%s_FULL_raw" % DEFINITION),
                 os.path.join(backup_dir, DEFINITION + ".db"), str(settings.redundancy), str(settings.block_count or 0),
                 sample_file, root, "--"] + create_args)

    def module(collections):
        def argv(backup_dir):
            return [ansible, "localhost", "-i", "localhost,", "-c", "local",
                    "-e", "ansible_python_interpreter=" + TARGET_PYTHON,
                    "-m", "dar.backup.dar_backup", "-a", json.dumps(settings.module_args(root, backup_dir))]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
                   ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
                   ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_PIPELINING="1")
        return argv, env

    def runner(engine):
        def argv(backup_dir):
            config = os.path.join(backup_dir + "-state", "config.json")
            os.makedirs(os.path.dirname(config), exist_ok=True)
            with open(config, "w") as handle:
                json.dump(settings.runner_config(root, backup_dir, os.path.dirname(config)), handle)
            return [TARGET_PYTHON, "-c", ENTRY, engine, "--config", config, "backup", DEFINITION, "--level", "full"]
        return argv

    current = collection_from_tree(work)
    variants = [Variant("a", "raw commands (bench/raw-backup.sh)", raw)]
    argv, env = module(current)
    variants.append(Variant("b", "dar.backup.dar_backup via `ansible localhost`", argv, env, "module"))
    variants.append(Variant("c", "on-host runner dar-backup-run", runner(runner_engine(current, work, "current")),
                            check="runner"))
    if args.before:
        old = collection_from_revision(work, args.before)
        argv, env = module(old)
        variants.append(Variant("b0", "dar_backup module at %s (before)" % args.before, argv, env, "module"))
    return variants


def phases_of(variant, measurement, backup_dir):
    """The engine's own per-phase durations, from the module result or the runner's run record."""
    if variant.check == "module":
        result = adhoc_result(measurement.output())
        if result.get("failed"):
            raise SystemExit("bench: %s failed: %s" % (variant.key, result.get("msg")))
        return result.get("durations")
    if variant.check == "runner":
        records = os.path.join(backup_dir + "-state", "runs.jsonl")
        with open(records) as handle:
            record = json.loads(handle.read().splitlines()[-1])
        if record.get("status") != "SUCCESS":
            raise SystemExit("bench: runner did not succeed: %s" % record)
        return record.get("durations")
    return None


def archive_summary(backup_dir):
    slices = sorted(glob.glob(os.path.join(backup_dir, "*.dar")))
    par2 = glob.glob(os.path.join(backup_dir, "*.par2"))
    return {"slices": len(slices), "archive_bytes": sum(os.path.getsize(p) for p in slices),
            "par2_bytes": sum(os.path.getsize(p) for p in par2)}


def part_backup(args, settings, root, work, results):
    variants = backup_variants(args, settings, root, work)
    runs_dir = os.path.join(work, "runs")
    for run in range(args.runs):
        # Interleaved, and the order rotates, so drifting load does not favour one variant.
        order = variants[run % len(variants):] + variants[:run % len(variants)]
        for variant in order:
            backup_dir = os.path.join(runs_dir, variant.key)
            for path in (backup_dir, backup_dir + "-state"):
                shutil.rmtree(path, ignore_errors=True)
            os.makedirs(backup_dir)
            load = wait_for_quiet(args.max_load, args.max_wait, log)
            log("run %d/%d: %s (load %.2f)" % (run + 1, args.runs, variant.key, load))
            outcome = measure(variant.argv_for(backup_dir), os.path.join(work, "out-%s.txt" % variant.key),
                              env=variant.env)
            if outcome.rc != 0:
                raise SystemExit("bench: variant %s exited %s; see %s" % (variant.key, outcome.rc, outcome.out_path))
            variant.phases.append(phases_of(variant, outcome, backup_dir))
            record = outcome.as_dict()
            record.update(archive_summary(backup_dir), load=round(load, 2))
            variant.runs.append(record)
            log("  %s: wall %.1f s, cpu %.1f s, peak %.0f MiB" % (variant.key, outcome.wall, outcome.cpu,
                                                                  outcome.maxrss_mib))
    results["backup"] = {v.key: {"label": v.label, "runs": v.runs, "phases": v.phases} for v in variants}
    print_backup(results["backup"], args.runs)


def _fmt(value, digits=1):
    return "-" if value is None else "%.*f" % (digits, value)


def print_backup(backup, runs):
    base = {k: median([r[k] for r in backup["a"]["runs"]]) for k in ("wall", "cpu", "maxrss_mib")}
    print("\n### One FULL backup (median of %d runs)\n" % runs)
    print("| variant | wall s | CPU s (user+sys) | peak RSS MiB | wall / a | CPU / a | slices | archive MiB | PAR2 MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, item in backup.items():
        keys = ("wall", "cpu", "maxrss_mib", "archive_bytes", "par2_bytes", "slices")
        med = {k: median([r[k] for r in item["runs"]]) for k in keys}
        print("| (%s) %s | %s | %s | %.0f | %s | %s | %d | %.0f | %.1f |" % (
            key, item["label"], _fmt(med["wall"]), _fmt(med["cpu"]), med["maxrss_mib"],
            _fmt(med["wall"] / base["wall"], 3), _fmt(med["cpu"] / base["cpu"], 2), med["slices"],
            med["archive_bytes"] / 1024.0 ** 2, med["par2_bytes"] / 1024.0 ** 2))
    print("\nAll runs (wall s): " + "; ".join(
        "%s: %s" % (k, ", ".join(_fmt(r["wall"]) for r in v["runs"])) for k, v in backup.items()))
    phased = [(k, v) for k, v in backup.items() if any(v["phases"])]
    if phased:
        names = ["create", "verify", "restore_test", "par2", "publish", "catalog", "total"]
        print("\nThe engine's own phase durations (median s; verify + restore_test run beside par2 where the engine "
              "overlaps them):\n")
        print("| variant | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for key, item in phased:
            cells = [_fmt(median([(p or {}).get(n) for p in item["phases"]]), 2) for n in names]
            print("| (%s) | %s |" % (key, " | ".join(cells)))


# --- part 2: PAR2 block counts ---------------------------------------------------------------------------------

def _sha(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


PAR2_ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", LC_ALL="C")  # as the engine runs par2


def _par2_create(par2, slice_path, redundancy, blocks, out_path):
    argv = [par2, "create", "-r%d" % redundancy, "-b%d" % blocks, "-B", os.path.dirname(slice_path), "--",
            slice_path + ".par2", slice_path]
    outcome = measure(argv, out_path, env=PAR2_ENV)
    text = outcome.output()
    if outcome.rc != 0:
        raise SystemExit("bench: par2 create failed (%s): %s" % (outcome.rc, text[-500:]))
    block_size = int(re.search(r"Block size: (\d+)", text).group(1))
    recovery = int(re.search(r"Recovery block count: (\d+)", text).group(1))
    return outcome, block_size, recovery


def _damage(path, ranges):
    """Overwrite each (offset, length) with bytes that differ from what is there."""
    with open(path, "r+b") as handle:
        for offset, length in ranges:
            handle.seek(offset)
            data = handle.read(length)
            handle.seek(offset)
            handle.write(bytes((b ^ 0xA5) for b in data))


def _try_repair(par2, slice_path, original_sha, ranges, out_path):
    pristine = slice_path + ".pristine"
    shutil.copyfile(pristine, slice_path)
    _damage(slice_path, ranges)
    outcome = measure([par2, "repair", "-q", "-q", "-B", os.path.dirname(slice_path), "--", slice_path + ".par2"],
                      out_path, env=PAR2_ENV)
    repaired = outcome.rc == 0 and _sha(slice_path) == original_sha
    for leftover in glob.glob(slice_path + ".[0-9]*"):
        os.unlink(leftover)
    return repaired, outcome


def part_par2(args, root, work, results):
    """Block counts at 5 % on one slice of the data set's archive: create time and measured repair limits."""
    par2 = tool("par2")
    dar = tool("dar")
    pdir = os.path.join(work, "par2")
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir)
    slice_path = os.path.join(pdir, "slice.1.dar")
    source = sorted(glob.glob(os.path.join(work, "runs", "a", "*.1.dar")))
    if source:
        shutil.copyfile(source[0], slice_path)
    else:
        log("no archive from the backup part: making one")
        base = os.path.join(pdir, "tmp")
        subprocess.run([dar, "-c", base, "-N", "-Q", "-q", "-R", root, "-s", args.slice, "-zzstd:3"], check=True)
        os.rename(base + ".1.dar", slice_path)
        for path in glob.glob(base + ".*.dar"):
            os.unlink(path)
    shutil.copyfile(slice_path, slice_path + ".pristine")
    original = _sha(slice_path)
    size = os.path.getsize(slice_path)
    rng = random.Random(3)
    rows = []
    for blocks in args.block_counts:
        for path in glob.glob(slice_path + "*.par2"):
            os.unlink(path)
        wait_for_quiet(args.max_load, args.max_wait, log)
        log("par2 -b%d on %d MiB" % (blocks, size // 1024 ** 2))
        creates = []
        for _run in range(args.runs):
            for path in glob.glob(slice_path + "*.par2"):
                os.unlink(path)
            shutil.copyfile(slice_path + ".pristine", slice_path)
            creates.append(_par2_create(par2, slice_path, 5, blocks, os.path.join(work, "out-par2.txt")))
        outcome, block_size, recovery = creates[-1]
        par2_bytes = sum(os.path.getsize(p) for p in glob.glob(slice_path + "*.par2"))
        nblocks = (size + block_size - 1) // block_size
        # Scattered: one flipped byte in each of k distinct blocks; contiguous: one run of bytes.
        scattered = {}
        for k in (recovery, recovery + 1):
            chosen = rng.sample(range(nblocks), k)
            ranges = [(b * block_size + rng.randrange(min(block_size, size - b * block_size)), 1) for b in chosen]
            scattered[k] = _try_repair(par2, slice_path, original, ranges, os.path.join(work, "out-repair.txt"))
        contiguous = {}
        for length in ((recovery - 1) * block_size, recovery * block_size + 1):
            start = rng.randrange(0, nblocks - recovery - 2) * block_size + rng.randrange(1, block_size)
            contiguous[length] = _try_repair(par2, slice_path, original, [(start, length)],
                                             os.path.join(work, "out-repair.txt"))
        row = {"blocks": blocks, "block_size": block_size, "recovery_blocks": recovery, "par2_bytes": par2_bytes,
               "create_wall": median([c[0].wall for c in creates]), "create_cpu": median([c[0].cpu for c in creates]),
               "create_maxrss_mib": max(c[0].maxrss_mib for c in creates),
               "scattered": {str(k): v[0] for k, v in scattered.items()},
               "repair_wall": scattered[recovery][1].wall,
               "contiguous": {str(k): v[0] for k, v in contiguous.items()}}
        rows.append(row)
        log("  %r" % row)
    results["par2"] = {"slice_bytes": size, "rows": rows}
    print("\n### PAR2 block count at 5 %% on one %.0f MiB slice (create: median of %d runs)\n"
          % (size / 1024.0 ** 2, args.runs))
    print("| -b | block size | recovery blocks | create wall s | create CPU s | peak RSS MiB | PAR2 MiB "
          "| scattered: bad blocks repaired | contiguous: bytes repaired | repair wall s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
    for row in rows:
        sc = ", ".join("%s: %s" % (k, "yes" if ok else "no") for k, ok in row["scattered"].items())
        co = ", ".join("%s: %s" % (k, "yes" if ok else "no") for k, ok in row["contiguous"].items())
        print("| %d | %d | %d | %.1f | %.1f | %.0f | %.1f | %s | %s | %.1f |" % (
            row["blocks"], row["block_size"], row["recovery_blocks"], row["create_wall"], row["create_cpu"],
            row["create_maxrss_mib"], row["par2_bytes"] / 1024.0 ** 2, sc, co, row["repair_wall"]))


# --- part 3: point-in-time restore of one file --------------------------------------------------------------------

def _replace(path, data, mtime):
    """A new inode: the chain's tree is a hard-linked copy of the cached data set, which must stay as it is."""
    tmp = path + ".new"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


def part_pitr(args, root, work, results):
    dar = tool("dar")
    pdir = os.path.join(work, "pitr")
    shutil.rmtree(pdir, ignore_errors=True)
    tree = os.path.join(pdir, "src")
    backups = os.path.join(pdir, "backups")
    os.makedirs(backups)
    subprocess.run(["cp", "-al", root, tree], check=True)
    wanted = "docs/d000/note-00042.txt"
    start = datetime.datetime(2026, 3, 1, 10, 0, 0)
    chain = []
    log("pitr: building FULL + DIFF + 10 INCR")
    for step in range(12):
        level = "FULL" if step == 0 else "DIFF" if step == 1 else "INCR"
        moment = start + datetime.timedelta(hours=step)
        epoch = (moment - datetime.datetime(1970, 1, 1)).total_seconds()
        if step:
            _replace(os.path.join(tree, wanted), b"version %d\n" % step * 100, epoch - 60)
            for other in range(3):
                rel = "docs/d%03d/note-%05d.txt" % (1 + other, 200 * (1 + other) + step)
                if os.path.exists(os.path.join(tree, rel)):
                    _replace(os.path.join(tree, rel), b"changed at step %d\n" % step, epoch - 60)
        base = "%s_%s_%s" % (DEFINITION, level, moment.strftime("%Y-%m-%d_%H%M%S"))
        reference = None if level == "FULL" else chain[0] if level == "DIFF" else chain[1]
        argv = [dar, "-c", os.path.join(backups, base), "-N", "-Q", "-q", "-R", tree, "-zzstd:3",
                "--user-comment", "dar.backup level=%s reference=%s" % (level, reference or "none")]
        if reference:
            argv += ["-A", os.path.join(backups, reference)]
        subprocess.run(argv, check=True)
        chain.append(base)
    # As of 30 minutes after INCR 7 (step 8): the version written before that archive.
    target_step = 8
    when = (start + datetime.timedelta(hours=target_step, minutes=30)).isoformat()
    expected = b"version %d\n" % target_step * 100
    ansible = venv_bin("ansible")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collection_from_tree(work),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_PIPELINING="1")
    engine = runner_engine(collection_from_tree(work), work, "pitr")
    config = os.path.join(pdir, "runner.json")
    with open(config, "w") as handle:
        json.dump({"backup_dir": backups, "state_dir": os.path.join(pdir, "state"), "notify": {"on": "never"},
                   "definitions": {DEFINITION: {"root": tree}}}, handle)
    runs = {"module": [], "runner": [], "raw": []}
    kinds = ["module", "runner", "raw"]
    for run in range(args.runs):
        for kind in kinds[run % 3:] + kinds[:run % 3]:
            dest = os.path.join(pdir, "dest-" + kind)
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(dest)
            wait_for_quiet(args.max_load, args.max_wait, log)
            if kind == "module":
                argv = [ansible, "localhost", "-i", "localhost,", "-c", "local",
                        "-e", "ansible_python_interpreter=" + TARGET_PYTHON, "-m", "dar.backup.dar_restore",
                        "-a", json.dumps({"name": DEFINITION, "backup_dir": backups, "dest": dest,
                                          "paths": [wanted], "when": when})]
                outcome = measure(argv, os.path.join(work, "out-pitr.txt"), env=env)
                result = adhoc_result(outcome.output())
                if result.get("failed"):
                    raise SystemExit("bench: dar_restore failed: %s" % result.get("msg"))
            elif kind == "runner":
                argv = [TARGET_PYTHON, "-c", ENTRY, engine, "--config", config, "restore", DEFINITION, "--dest", dest,
                        "--path", wanted, "--when", when]
                outcome = measure(argv, os.path.join(work, "out-pitr.txt"))
                if outcome.rc != 0:
                    raise SystemExit("bench: dar-backup-run restore failed: %s" % outcome.output()[-1000:])
            else:
                argv = [dar, "-x", os.path.join(backups, chain[target_step]), "-N", "-Q", "-q", "-R", dest, "-wa",
                        "--fsa-scope", "none", "-g", wanted]
                outcome = measure(argv, os.path.join(work, "out-pitr.txt"))
            with open(os.path.join(dest, wanted), "rb") as handle:
                if handle.read() != expected:
                    raise SystemExit("bench: %s restored the wrong version of %s" % (kind, wanted))
            runs[kind].append(outcome.as_dict())
    results["pitr"] = {"archives": len(chain), "runs": runs}
    print("\n### Point-in-time restore of one file from FULL + DIFF + 10 INCR (median of %d runs)\n" % args.runs)
    print("| how | wall s | CPU s | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for kind, label in (("raw", "raw `dar -x` of the right INCR (known in advance)"),
                        ("runner", "dar-backup-run restore --when ... (the engine, no Ansible)"),
                        ("module", "dar.backup.dar_restore `when=...` via `ansible localhost`")):
        print("| %s | %s | %s | %.0f |" % (label, _fmt(median([r["wall"] for r in runs[kind]]), 2),
                                           _fmt(median([r["cpu"] for r in runs[kind]]), 2),
                                           median([r["maxrss_mib"] for r in runs[kind]])))
    raw_wall = median([r["wall"] for r in runs["raw"]])
    ratios = [median([r["wall"] for r in runs[kind]]) / raw_wall for kind in ("runner", "module")]
    print("\nwall / raw: runner %.1f, module %.1f" % tuple(ratios))


# --- main ------------------------------------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=parse_size, default="1G", help="data set size (default 1G; 64M for a quick run)")
    parser.add_argument("--slice", default=None, help="slice size (default: a quarter of --size, e.g. 256M)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement (median reported)")
    parser.add_argument("--parts", default="backup,par2,pitr", help="comma list of backup, par2, pitr")
    parser.add_argument("--block-count", type=int, default=None,
                        help="PAR2 block count for the backup part (default: the engine's default)")
    parser.add_argument("--block-counts", default="500,1000,2000", help="block counts for the par2 part")
    parser.add_argument("--before", metavar="REV", help="also measure the module as it was at git revision REV")
    parser.add_argument("--work", default="/var/tmp/dar-bench", help="work directory (data set cached there)")
    parser.add_argument("--max-load", type=float, default=1.0, help="wait before each run until the 1-min load is below")
    parser.add_argument("--max-wait", type=int, default=600, help="longest wait for a quiet machine, seconds")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON here")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.block_counts = [int(b) for b in args.block_counts.split(",") if b]
    if args.slice is None:
        args.slice = "%dM" % max(1, args.size // 4 // 1024 ** 2)
    for name in ("dar", "dar_manager", "par2"):
        tool(name)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    os.makedirs(args.work, exist_ok=True)
    root = os.path.join(args.work, "data-%d" % args.size)
    log("data set %s (%d bytes)" % (root, args.size))
    summary = dataset.ensure(root, args.size)
    results = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv), "cores": os.cpu_count(),
               "load_start": os.getloadavg(), "dataset": summary, "slice": args.slice,
               "dar": subprocess.run([tool("dar"), "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, check=False, universal_newlines=True).stdout.strip()
               .split("\n", 1)[0].split(",", 1)[0]}
    print("## dar.backup benchmark, %s\n" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    print("- command: `%s`" % results["command"])
    print("- machine: %d cores, load at start %.2f / %.2f / %.2f; %s"
          % ((os.cpu_count(),) + os.getloadavg() + (results["dar"],)))
    print("- data set: %d MiB: %d text files, %d photo-like files, one %d MiB file; slice size %s; zstd:3; "
          "PAR2 5 %%" % (summary["bytes"] // 1024 ** 2, summary["text_files"], summary["photos"],
                         summary["large"] // 1024 ** 2, args.slice))
    settings = Settings(args)
    if "backup" in parts:
        part_backup(args, settings, root, args.work, results)
    if "par2" in parts:
        part_par2(args, root, args.work, results)
    if "pitr" in parts:
        part_pitr(args, root, args.work, results)
    results["load_end"] = os.getloadavg()
    print("\n- load at end %.2f / %.2f / %.2f" % results["load_end"])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
