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
    description:
      - Only this definition; every definition found in O(backup_dir) when unset.
      - Names of existing archives are accepted as dar-backup makes them, spaces included (V(my docs)); only
        C(/), C(_) and control characters are refused.
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
  contents:
    description:
      - An archive (its basename, for example V(docs_DIFF_2026-01-05_190301)) whose recorded entries to list in
        RV(contents), as dar-backup's C(--list-contents) does.
    type: str
  pattern:
    description:
      - With O(contents), only the entries whose path relative to the definition's root, or whose last component,
        matches this shell pattern (V(*.NEF), V(Documents/*.pdf); C(*) also matches C(/)).
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
          (no slice missing, extra or of the wrong size), C(size_bytes), C(reference), C(readable), C(error) (the
          first problem), C(problems), C(manifest) and C(par2) (C(slices_protected), C(complete), C(problems)).
        - An archive with a manifest (C(<archive>.manifest.json), written when it was published) is checked against
          it, every slice it lists present, none extra, each of the size it had. One without (made by dar-backup, or
          before manifests existed) must have a header C(dar) can read, which needs its true last slice.
        - C(par2.problems) names PAR2 files the manifest lists that are gone or resized.
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
      description: Every slice of every archive has a PAR2 set, and no PAR2 file its manifest lists is missing.
      type: bool
    strays:
      description:
        - What is left of archives that are not visible because their slice 1 is gone (C(kind) V(slice_1_missing);
          the archive is lost unless slice 1 is put back), and PAR2 sets with no slice left (V(orphaned_par2)).
        - Each with C(archive), C(definition), C(level), C(kind), C(files) and C(detail).
      type: list
      elements: dict
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
           problems: [], manifest: true, par2: {slices_protected: 1, complete: true, problems: []}}
      chains: [{full: docs_FULL_2026-01-02_100301, archives: [docs_FULL_2026-01-02_100301]}]
      catalog: {db: /srv/backup/docs.db, exists: true, corrupt: null, in_sync: true, missing: [], extra: []}
      newest: {FULL: {archive: docs_FULL_2026-01-02_100301, time: "2026-01-02T10:03:01", age_seconds: 3600}}
      size_bytes: 7340032
      par2_complete: true
      strays: []
contents:
  description:
    - With O(contents), what that archive records, in its catalogue order.
    - C(entries) has at most 100000 entries, each with C(path), C(kind) (V(file), V(directory), V(symlink), ...),
      C(size) in bytes, C(mtime) (seconds since the epoch) and C(status), which is V(saved) (this archive holds
      its data), V(unchanged) (as in the archive this one was made against) or V(deleted) (removed since then).
    - C(matched) counts every entry that matched O(pattern); C(truncated) is true when C(entries) holds fewer.
  returned: when O(contents) is set
  type: dict
  contains:
    archive:
      description: The archive listed.
      type: str
    pattern:
      description: The pattern given, or null.
      type: str
    entries:
      description: The entries.
      type: list
      elements: dict
    matched:
      description: Entries that matched.
      type: int
    truncated:
      description: Whether C(entries) was cut at 100000.
      type: bool
  sample:
    archive: docs_DIFF_2026-01-05_190301
    pattern: "*.pdf"
    entries:
      - {path: Documents/tax/2025.pdf, kind: file, size: 183442, mtime: 1767190000, status: saved}
    matched: 1
    truncated: false
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
from ansible_collections.dar.backup.plugins.module_utils.info import contents_of, describe, runs_in
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
            contents=dict(type="str"),
            pattern=dict(type="str"),
        ),
        required_by={"path": "name", "pattern": "contents"},
        supports_check_mode=True,
    )
    params = module.params
    try:
        names = [naming.check_existing_name(params["name"])] if params["name"] else None
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
    if params["contents"] is not None:
        try:
            result["contents"] = contents_of(Dar(), os.path.abspath(params["backup_dir"]), params["contents"],
                                             params["pattern"])
        except DarBackupError as exc:
            module.fail_json(**exc.fail_json_args())
    if params["state_dir"]:
        result["runs"] = runs_in(params["state_dir"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
