#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dar_restore
short_description: Restore files of a backup definition as they were at a point in time
version_added: 0.1.0
description:
  - Restores O(paths) of a definition into O(dest) as they were at O(when) (default the newest archive),
    or as recorded by one named O(archive).
  - The state at a point in time is that of the newest archive made at or before it, by archive time (the time in
    the archive's name), never by file modification times, and without C(dar_manager -w). The archive's chain
    (its FULL, then DIFF and INCR) is read from the archive headers, so only the archive directory is needed;
    the catalog database is not.
  - A path that did not exist at that time (deleted before it, or never saved) fails the task, naming the archive
    that last held it; nothing is restored from an older archive behind your back. Likewise, when the catalog or a
    later archive's header shows that an archive made at or before O(when) is missing, the task fails rather than
    restore the older state.
  - Before extracting, every slice of every archive in the chain is checked to be present, and the last slice to
    really be the last.
  - Archives whose slice 1 another user owns (not the user running the module, root or the owner of O(backup_dir))
    are ignored, with a warning naming them, unless named in O(archive); in a shared directory anyone could have
    planted one, for instance with a future time in its name so that it would be restored by default.
  - Before extracting, the restore is refused when the sizes of the regular files to restore exceed the free space
    of the filesystem of O(dest) (sparse and hard-linked files are not counted, so this only refuses what clearly
    cannot fit). The chain is extracted into a private staging directory inside O(dest) and proven against the
    archive's listing, every regular file present with the size the archive recorded; a file dar reports as not
    restored fails the task whatever dar's exit code. Only then is the result compared with O(dest) and moved in,
    so a failed restore leaves O(dest) as it was. Existing files that differ are not replaced unless
    O(overwrite=true); identical files are left alone, so restoring the same version twice reports
    C(changed=false) the second time.
options:
  name:
    description:
      - Name of the backup definition whose archives to restore from.
      - Names of existing archives are accepted as dar-backup makes them, spaces included (V(my docs)); only
        C(/), C(_) and control characters are refused.
    type: str
    required: true
  backup_dir:
    description: Directory holding the definition's archives.
    type: path
    required: true
  dest:
    description:
      - Directory to restore into; created when missing. Paths are restored below it as they are below the
        definition's root.
      - V(/) and system directories (C(/etc), C(/usr), C(/bin), C(/boot), C(/proc), C(/sys), C(/dev), C(/var) except
        C(/var/tmp), C(/root), ...) are refused, also when reached through a symlink.
      - O(backup_dir), its work directory C(.dar-backup-work), O(catalog_dir), and any directory below them are
        refused too (symlinks resolved), and a restore into a directory above them fails when it would write into
        them, as an overwrite there would replace archives.
    type: path
    required: true
  paths:
    description:
      - Files or directories to restore, relative to the definition's root, without C(..). Everything when empty.
    type: list
    elements: str
    default: []
  selection:
    description:
      - Shell patterns (V(*.NEF), V(Documents/**/*.pdf)) matched against the paths of the state being restored, as
        dar-backup's C(--selection) does; every match is restored, together with O(paths).
      - A pattern without C(/) matches a name at any depth; with C(/) it matches the whole path relative to the
        definition's root, C(*) and C(?) never crossing a C(/) and C(**) spanning any number of directories. Files
        deleted before that point in time are not matched.
      - A selection that matches nothing fails, and so does one that matches more than 20000 paths (restore their
        directory with O(paths) instead). The number matched is returned as RV(selected).
    type: list
    elements: str
    default: []
  when:
    description:
      - ISO 8601 time (V(2026-03-03T12:00), V(2026-03-03T12:00+01:00), V(2026-03-03)); the state of the newest
        archive made at or before it is restored. Times without an offset are the target's local time.
      - Mutually exclusive with O(archive). The newest archive when neither is given.
    type: str
  archive:
    description:
      - Restore the state recorded by this archive (a basename such as V(docs_DIFF_2026-11-21_190301)); for a DIFF or
        INCR its FULL and DIFF are applied first.
    type: str
  overwrite:
    description: Replace existing files in O(dest) that differ from the restored version.
    type: bool
    default: false
  catalog_dir:
    description:
      - Directory of the definition's catalog database; O(backup_dir) when unset. The restore does not need the
        catalog, but when it lists an archive newer than the chosen one (at or before O(when)) that is missing from
        O(backup_dir), the restore fails instead of returning an older state.
    type: path
  owner:
    description:
      - Restore file ownership as saved (needs root).
      - When false, restored files belong to the user running the task, and their setuid and setgid bits are
        cleared (on files and directories), as a root-owned copy of another user's setuid program would be a privilege
        its owner never had. The other mode bits are restored as saved.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dar.backup.common
  - dar.backup.common.timeout
attributes:
  check_mode:
    support: full
    details:
      - Reports, per path, the archive its version comes from, and what would be written. When O(dest) exists the
        chain is extracted into a private temporary directory (not into O(dest)) to compare with it.
requirements:
  - dar on the target
seealso:
  - module: dar.backup.dar_backup
  - module: dar.backup.dar_info
author:
  - dar.backup contributors (@dar-backup)
"""

EXAMPLES = r"""
- name: Get back a document as it was on 3 March
  dar.backup.dar_restore:
    name: docs
    backup_dir: /srv/backup
    paths:
      - Documents/tax/2025.pdf
    when: "2026-03-03T12:00"
    dest: /tmp/restore

- name: Restore every raw photo as it was at the start of March
  dar.backup.dar_restore:
    name: photos
    backup_dir: /srv/backup
    selection:
      - "*.NEF"
    when: "2026-03-01"
    dest: /srv/restore/raw

- name: Restore a whole directory from a named archive, replacing what differs
  dar.backup.dar_restore:
    name: docs
    backup_dir: /srv/backup
    paths:
      - Photos/2025
    archive: docs_DIFF_2026-06-01_190301
    dest: /srv/restore
    overwrite: true

- name: Which archives would a restore of everything use?
  dar.backup.dar_restore:
    name: docs
    backup_dir: /srv/backup
    dest: /srv/restore
  check_mode: true
"""

RETURN = r"""
archive:
  description: The archive whose recorded state is restored (the newest at or before O(when)).
  returned: success
  type: str
  sample: docs_INCR_2026-03-02_190301
archives:
  description: The chain applied, oldest first.
  returned: success
  type: list
  elements: str
  sample: [docs_FULL_2025-12-30_100301, docs_DIFF_2026-03-01_190301, docs_INCR_2026-03-02_190301]
when:
  description: O(when) as understood, in the target's local time.
  returned: success
  type: str
  sample: "2026-03-03T12:00:00"
restored:
  description:
    - One entry per requested path (one entry with an empty path when restoring everything), with its C(kind)
      (file, directory, symlink, ...) and C(source), the archive its version comes from (the chain for a directory).
  returned: success
  type: list
  elements: dict
  sample: [{path: Documents/tax/2025.pdf, status: found, kind: file, source: docs_DIFF_2026-03-01_190301}]
selected:
  description: With O(selection), how many paths of the state it matched (each is in RV(restored)).
  returned: when O(selection) is given
  type: int
  sample: 12
written:
  description: How many files, directories and links were (or in check mode would be) written; null in check mode when O(dest) does not exist yet.
  returned: success
  type: int
  sample: 1
unchanged:
  description: How many restored entries were already identical in O(dest).
  returned: when O(dest) was compared
  type: int
  sample: 0
bytes_needed:
  description:
    - Sum of the sizes of the regular files restored, sparse and hard-linked files not counted; compared with
      RV(bytes_free) before extracting.
  returned: success
  type: int
  sample: 6291456
bytes_free:
  description: Free bytes on the filesystem of O(dest) (of its nearest existing parent when it does not exist yet).
  returned: success
  type: int
  sample: 104857600
files:
  description: Relative paths written (at most 1000).
  returned: when O(dest) was compared
  type: list
  elements: str
  sample: [Documents/tax/2025.pdf]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dar.backup.plugins.module_utils.backup import raise_on_sigterm
from ansible_collections.dar.backup.plugins.module_utils.dar import Dar
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.restore import RestoreRequest, run_restore


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            backup_dir=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            paths=dict(type="list", elements="str", default=[]),
            selection=dict(type="list", elements="str", default=[]),
            when=dict(type="str"),
            archive=dict(type="str"),
            overwrite=dict(type="bool", default=False),
            owner=dict(type="bool", default=False),
            catalog_dir=dict(type="path"),
            timeout=dict(type="int", default=86400),
        ),
        mutually_exclusive=[("when", "archive")],
        supports_check_mode=True,
    )
    raise_on_sigterm()
    params = module.params
    try:
        request = RestoreRequest(params["name"], params["backup_dir"], params["dest"], paths=params["paths"],
                                 when=params["when"], archive=params["archive"], overwrite=params["overwrite"],
                                 owner=params["owner"], catalog_dir=params["catalog_dir"],
                                 selection=params["selection"])
        result = run_restore(request, Dar(timeout=params["timeout"]), check_mode=module.check_mode)
    except DarBackupError as exc:
        module.fail_json(**exc.fail_json_args())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
