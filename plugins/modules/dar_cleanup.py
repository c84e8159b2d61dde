#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dar_cleanup
short_description: Remove old DIFF and INCR archives of a backup definition, never one that a kept archive needs
version_added: 0.1.0
description:
  - Retention for one backup definition in O(backup_dir). DIFF archives older than O(diff_age) days and INCR
    archives older than O(incr_age) days are removed with all their slices, their PAR2 files and their entries in
    the definition's C(dar_manager) catalog database.
  - An archive's age is the time in its name (C(<name>_<LEVEL>_<YYYY-MM-DD>_<HHMMSS>), or dar-backup's
    C(<name>_<LEVEL>_<YYYY-MM-DD>) read as midnight) compared with the current time on the target, never a file's mtime.
  - FULL archives are never removed by age. A FULL goes only when it is named in O(archives) and O(allow_full=true).
  - Chain-aware. An archive that a kept archive was made against is kept, and so is what that one was made against,
    so every kept archive can still be restored. The reference of each archive is read from its header (written by
    M(dar.backup.dar_backup)), or follows dar-backup's rule (DIFF against the newest FULL, INCR against the newest
    DIFF after it) for archives without one. Kept archives are listed in RV(protected) with the archive that needs
    them. When an archive cannot be read, every archive it might have been made against (back to the newest FULL
    before it) is kept, and it is listed in RV(unreadable).
  - Only regular files directly in O(backup_dir) (and O(par2_dir)) named exactly C(<archive>.<N>.dar),
    C(<archive>.<N>.dar.par2) or C(<archive>.<N>.dar.volXX+YY.par2) are deleted. Symlinks are never deleted or
    followed, and files whose names merely resemble an archive (another definition, an impossible date, an extra
    suffix) are left alone.
  - Slice 1 of an archive is deleted first (an archive without slice 1 is not an archive to any module), then its
    other slices, then its PAR2 files; archives are removed newest first. Files left by an interrupted removal are
    removed by the next run and listed in RV(leftovers).
  - The definition's lock is held while deleting, so a backup of the same definition is never disturbed; the module
    fails when a backup is running.
  - Archives whose slice 1 another user owns (not the user running the module, root or the owner of O(backup_dir))
    are neither removed nor counted, with a warning naming them, unless named in O(archives).
  - When bringing the catalog in line fails after the removal (a C(dar_manager) error, a corrupt database that was
    set aside), the database is rebuilt from the archives left on disk, with a warning. When that fails too, the
    task fails, with C(changed=true) when anything was removed; RV(removed) and RV(removed_files) still list what
    went, and the message names the removed archives, the state of the catalog and the
    M(dar.backup.dar_catalog) task that mends it (restores do not need the catalog).
options:
  name:
    description:
      - Name of the backup definition.
      - Names of existing archives are accepted as dar-backup makes them, spaces included (V(my docs)); only
        C(/), C(_) and control characters are refused.
    type: str
    required: true
  backup_dir:
    description: Directory holding the definition's archives.
    type: path
    required: true
  diff_age:
    description: DIFF archives made more than this many days ago are removed.
    type: int
    default: 100
  incr_age:
    description: INCR archives made more than this many days ago are removed.
    type: int
    default: 40
  archives:
    description:
      - Archives to remove whatever their age, by basename (C(docs_DIFF_2026-01-01_190301), without slice suffix).
      - A name that is not an archive of this definition in O(backup_dir) fails the task and nothing is removed.
        Take names out of the list once they are gone.
      - A FULL archive may be named only with O(allow_full=true).
    type: list
    elements: str
    default: []
  allow_full:
    description: Allow the FULL archives named in O(archives) to be removed.
    type: bool
    default: false
  par2_dir:
    description:
      - Directory the PAR2 files are kept in when they are not beside the slices. PAR2 files beside the slices are
        removed in any case.
    type: path
  catalog:
    description:
      - After the removal, bring the catalog database C(<catalog_dir>/<name>.db) in line with the archives left
        (as M(dar.backup.dar_catalog) with O(dar.backup.dar_catalog#module:state=present) does), when it exists.
    type: bool
    default: true
  catalog_dir:
    description: Directory of the catalog database; O(backup_dir) when unset.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dar.backup.common
  - dar.backup.common.timeout
attributes:
  check_mode:
    support: full
    details: Lists the archives and files that would be removed and the archives that would be protected; deletes nothing.
requirements:
  - dar (with dar_manager) on the target
seealso:
  - module: dar.backup.dar_backup
  - module: dar.backup.dar_catalog
  - module: dar.backup.dar_info
author:
  - dar.backup contributors (@dar-backup)
"""

EXAMPLES = r"""
- name: Apply dar-backup's default retention (DIFF 100 days, INCR 40 days)
  dar.backup.dar_cleanup:
    name: docs
    backup_dir: /srv/backup

- name: See what a shorter retention would remove
  dar.backup.dar_cleanup:
    name: docs
    backup_dir: /srv/backup
    diff_age: 60
    incr_age: 14
  check_mode: true
  register: plan

- name: Retire a whole old chain, FULL included
  dar.backup.dar_cleanup:
    name: docs
    backup_dir: /srv/backup
    par2_dir: /srv/par2
    archives:
      - docs_FULL_2024-12-30_100301
      - docs_DIFF_2025-01-01_190301
    allow_full: true
"""

RETURN = r"""
removed:
  description: Archives removed (in check mode, that would be removed), oldest first.
  returned: always
  type: list
  elements: str
  sample: [docs_DIFF_2026-01-01_190301, docs_INCR_2026-01-04_190301]
removed_files:
  description: Files deleted (in check mode, that would be deleted), in the order they go.
  returned: always
  type: list
  elements: str
  sample: [/srv/backup/docs_INCR_2026-01-04_190301.1.dar, /srv/backup/docs_INCR_2026-01-04_190301.1.dar.par2]
leftovers:
  description: Archives whose slice 1 was already gone (an interrupted removal) and whose remaining files were removed.
  returned: always
  type: list
  elements: str
  sample: []
left_alone:
  description: Paths named like a file of a removed archive but left alone because they are not regular files (symlinks).
  returned: always
  type: list
  elements: str
  sample: []
protected:
  description: Archives due for removal but kept because a kept archive needs them.
  returned: always
  type: list
  elements: dict
  contains:
    archive:
      description: The archive that is kept.
      type: str
    needed_by:
      description: The kept archive that needs it.
      type: str
    reason:
      description: Why, in words.
      type: str
  sample: [{archive: docs_DIFF_2026-01-01_190301, needed_by: docs_INCR_2026-04-25_190301,
            reason: docs_INCR_2026-04-25_190301 was made against it}]
unreadable:
  description: Kept archives whose reference could not be read; everything they may depend on was kept.
  returned: always
  type: list
  elements: dict
  contains:
    archive:
      description: The archive.
      type: str
    error:
      description: Why it could not be read.
      type: str
  sample: []
kept:
  description: How many archives of the definition are left (in check mode, would be left).
  returned: always
  type: int
  sample: 7
catalog:
  description:
    - What bringing the catalog in line did (or would do), as M(dar.backup.dar_catalog) reports it (its C(removed) lists
      the entries removed); null when O(catalog=false) or the database does not exist.
    - When that failed and the database was rebuilt from the archives on disk instead, C(action) is V(rebuild) and
      C(error) says what failed; null when the rebuild failed too (the task then fails).
  returned: always
  type: dict
  sample: {db: /srv/backup/docs.db, action: delete, changed: true, added: [], removed: [docs_DIFF_2026-01-01_190301]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dar.backup.plugins.module_utils.cleanup import CleanupRequest, run_cleanup
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            backup_dir=dict(type="path", required=True),
            diff_age=dict(type="int", default=100),
            incr_age=dict(type="int", default=40),
            archives=dict(type="list", elements="str", default=[]),
            allow_full=dict(type="bool", default=False),
            par2_dir=dict(type="path"),
            catalog=dict(type="bool", default=True),
            catalog_dir=dict(type="path"),
            timeout=dict(type="int", default=86400),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        request = CleanupRequest(
            params["name"], params["backup_dir"], diff_age=params["diff_age"], incr_age=params["incr_age"],
            archives=params["archives"], allow_full=params["allow_full"], par2_dir=params["par2_dir"],
            catalog=params["catalog"], catalog_dir=params["catalog_dir"], timeout=params["timeout"])
        result = run_cleanup(request, check_mode=module.check_mode)
    except DarBackupError as exc:
        failure = exc.fail_json_args()
        # A removal that failed part way, or whose catalog step failed, still says what it removed (changed).
        partial = dict(getattr(exc, "result", {}))
        for warning in partial.pop("warnings", []):
            module.warn(warning)
        for key, value in partial.items():
            failure.setdefault(key, value)
        module.fail_json(**failure)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
