#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dar_info
short_description: Report the archives, chains and catalog state of backup definitions
version_added: 0.1.0
description:
  - Read-only. For each definition with archives in O(backup_dir) (or only O(name)), lists its archives with level,
    time, age, slices, size, the archive each was made against (read from the archive header, or by dar-backup's
    rule for archives that do not record it), PAR2 coverage, the chains they form, and the state of the catalog
    database (missing, corrupt, in sync, archives missing from it or extra in it).
  - With O(path), also the versions of that file or directory across the archives.
  - Archives whose slice 1 another user owns (not the user running the module, root or the owner of O(backup_dir))
    are not listed, with a warning naming them; in a shared directory anyone could have planted them.
  - With O(state_dir), also the last runs of the on-host runner C(dar-backup-run) per definition, read from its run
    records C(runs.jsonl) (and C(runs.jsonl.1)) there.
options:
  backup_dir:
    description: Directory holding the archives.
    type: path
    required: true
  name:
    description: Only this definition; every definition found in O(backup_dir) when unset.
    type: str
  catalog_dir:
    description: Directory of the catalog databases; O(backup_dir) when unset.
    type: path
  par2_dir:
    description: Directory of the PAR2 files when they are not beside the slices.
    type: path
  path:
    description: A path relative to the definition's root whose versions to list (needs O(name)).
    type: str
  state_dir:
    description:
      - The runner's state directory, where its run records are; C(~user) is expanded on the target.
      - The configure role puts it in C(/var/lib/dar-backup) for root and in C(~user/.local/state/dar-backup) for any
        other C(dar_backup_user).
      - A missing directory or file means no run records, not an error.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dar.backup.common
attributes:
  check_mode:
    support: full
    details: The module only reads.
requirements:
  - dar (with dar_manager) on the target
seealso:
  - module: dar.backup.dar_backup
  - module: dar.backup.dar_restore
  - module: dar.backup.dar_catalog
author:
  - dar.backup contributors (@dar-backup)
"""

EXAMPLES = r"""
- name: What is in the backup directory?
  dar.backup.dar_info:
    backup_dir: /srv/backup
  register: backups

- name: Every version of one file
  dar.backup.dar_info:
    backup_dir: /srv/backup
    name: docs
    path: Documents/tax/2025.pdf
  register: history

- name: Archives and the runner's last runs
  dar.backup.dar_info:
    backup_dir: /srv/dar-backup
    state_dir: /var/lib/dar-backup
  register: backups_and_runs

- name: Fail when the newest archive of docs is older than two days
  ansible.builtin.assert:
    that: backups.definitions.docs.archives[-1].age_seconds < 172800
"""

RETURN = r"""
definitions:
  description: One entry per definition, keyed by its name.
  returned: always
  type: dict
  contains:
    archives:
      description:
        - Archives oldest first, each with C(archive), C(level), C(time), C(age_seconds), C(slices), C(complete)
          (no slice missing), C(size_bytes), C(reference), C(readable) (its header could be read, which also proves
          the last slice is there), C(error) and C(par2) (C(slices_protected), C(complete)).
      type: list
      elements: dict
    chains:
      description: One entry per FULL archive with C(full) and C(archives), the FULL and the archives that depend on it.
      type: list
      elements: dict
    catalog:
      description: C(db), C(exists), C(corrupt), C(in_sync), C(missing), C(extra) and C(out_of_order).
      type: dict
    newest:
      description: Newest archive per level, with C(archive), C(time) and C(age_seconds).
      type: dict
    size_bytes:
      description: Size of all the definition's slices.
      type: int
    par2_complete:
      description: Every slice of every archive has a PAR2 set.
      type: bool
    versions:
      description:
        - With O(path), per archive oldest first, C(archive), C(level), C(time), C(kind), C(size) and C(status),
          which is C(saved) (this archive holds that version), C(unchanged) (same as in the archive it refers to),
          C(deleted) (removed since then) or C(absent).
      type: list
      elements: dict
  sample:
    docs:
      archives:
        - {archive: docs_FULL_2026-01-02_100301, level: FULL, time: "2026-01-02T10:03:01", age_seconds: 3600,
           slices: 1, complete: true, size_bytes: 7340032, reference: null, readable: true, error: null,
           par2: {slices_protected: 1, complete: true}}
      chains: [{full: docs_FULL_2026-01-02_100301, archives: [docs_FULL_2026-01-02_100301]}]
      catalog: {db: /srv/backup/docs.db, exists: true, corrupt: null, in_sync: true, missing: [], extra: []}
      newest: {FULL: {archive: docs_FULL_2026-01-02_100301, time: "2026-01-02T10:03:01", age_seconds: 3600}}
      size_bytes: 7340032
      par2_complete: true
runs:
  description:
    - With O(state_dir), per definition that has run records, C(last_run) (the newest record of any command) and
      C(last_runs) (the newest record per command, C(backup), C(verify), C(restore), C(cleanup)).
    - Each record is the runner's JSON record (C(status) SUCCESS, WARNING, FAILURE or SKIPPED, C(failed_phase),
      C(error), C(durations), C(verify_passed), C(restore_test), C(catalog_added), C(dar_rc), ...) with
      C(age_seconds), the seconds since it finished by the target's clock.
  returned: when O(state_dir) is set
  type: dict
  sample:
    docs:
      last_run: {command: backup, status: SUCCESS, archive: docs_INCR_2026-01-05_190301, finished: "2026-01-05T18:04:12Z",
                 age_seconds: 3600, failed_phase: null, error: null}
      last_runs:
        backup: {command: backup, status: SUCCESS, archive: docs_INCR_2026-01-05_190301,
                 finished: "2026-01-05T18:04:12Z", age_seconds: 3600}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dar.backup.plugins.module_utils import naming
from ansible_collections.dar.backup.plugins.module_utils.dar import Dar
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.info import describe, runs_in
from ansible_collections.dar.backup.plugins.module_utils.restore import check_paths


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_dir=dict(type="path", required=True),
            name=dict(type="str"),
            catalog_dir=dict(type="path"),
            par2_dir=dict(type="path"),
            path=dict(type="str"),
            state_dir=dict(type="path"),
        ),
        required_by={"path": "name"},
        supports_check_mode=True,
    )
    params = module.params
    try:
        names = [naming.check_definition_name(params["name"])] if params["name"] else None
        path = check_paths([params["path"]])[0] if params["path"] is not None else None
        definitions = describe(Dar(), os.path.abspath(params["backup_dir"]), names=names,
                               catalog_dir=params["catalog_dir"], par2_dir=params["par2_dir"], path=path)
    except DarBackupError as exc:
        module.fail_json(**exc.fail_json_args())
    ignored = []
    naming.discover(os.path.abspath(params["backup_dir"]), ignored=ignored)
    for warning in naming.ignored_warnings([a for a in ignored if names is None or a.name.definition in names],
                                           os.path.abspath(params["backup_dir"])):
        module.warn(warning)
    result = dict(changed=False, definitions=definitions)
    if params["state_dir"]:
        result["runs"] = runs_in(params["state_dir"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
