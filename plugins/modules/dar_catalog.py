#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dar_catalog
short_description: Keep a backup definition's dar_manager catalog database true to the archives on disk
version_added: 0.1.0
description:
  - Manages C(<catalog_dir>/<name>.db), the C(dar_manager) database of one backup definition.
  - With O(state=present) the database exists and lists exactly the archives of the definition in O(backup_dir),
    in time order (FULL before DIFF before INCR at the same time). Missing archives are added, entries whose
    archives are gone are removed. An archive missing from the middle of the history makes the database be
    rebuilt, because C(dar_manager) takes the order archives were added in as their age.
  - A corrupt database (truncated, or garbage in it) is detected by reading it whole (C(dar_manager -l) and
    C(-c)), and not by exit codes alone (C(dar_manager) can report a corrupted database and exit 0). It is kept
    aside as C(<name>.db.corrupt-<time>) and rebuilt; RV(corrupt) and RV(set_aside) say so.
  - O(state=rebuilt) recreates the database from the archives on disk every time; O(state=absent) removes it.
  - Only complete archives (slice 1 present and no slice missing) under their final names count; a backup in
    progress is not visible until it has passed its checks.
  - Archives whose slice 1 another user owns (not the user running the module, root or the owner of O(backup_dir))
    are left out of the database, with a warning; in a shared directory anyone could have planted them.
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
  catalog_dir:
    description: Directory of the database; O(backup_dir) when unset.
    type: path
  state:
    description: What the database should be.
    type: str
    choices: [present, absent, rebuilt]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dar.backup.common
  - dar.backup.common.timeout
attributes:
  check_mode:
    support: full
    details:
      - Reports the archives that would be added and removed, and whether the database would be rebuilt.
      - When O(backup_dir) does not exist yet (a playbook run in check mode on a fresh host, where an earlier task
        would create it), reports that an empty database would be created, with a warning.
  diff_mode:
    support: full
    details: Shows the archives listed before and after, one per line.
requirements:
  - dar_manager (from the dar package) on the target
seealso:
  - module: dar.backup.dar_backup
  - module: dar.backup.dar_info
author:
  - dar.backup contributors (@dar-backup)
"""

EXAMPLES = r"""
- name: Make sure the catalog lists exactly the archives on disk
  dar.backup.dar_catalog:
    name: docs
    backup_dir: /srv/backup

- name: Rebuild the catalog of archives copied from another machine
  dar.backup.dar_catalog:
    name: docs
    backup_dir: /mnt/usb/backup
    catalog_dir: /var/lib/dar-backup
    state: rebuilt
"""

RETURN = r"""
db:
  description: Path of the database.
  returned: always
  type: str
  sample: /srv/backup/docs.db
action:
  description: What was (or would be) done, V(ok), V(append), V(delete), V(create), V(rebuild) or V(remove).
  returned: always
  type: str
  sample: append
added:
  description: Archives added to the database, oldest first.
  returned: always
  type: list
  elements: str
  sample: [docs_INCR_2026-11-21_190301]
removed:
  description: Archives whose entries were removed because they are no longer on disk.
  returned: always
  type: list
  elements: str
  sample: []
corrupt:
  description: Why the database was found corrupt; null when it was not.
  returned: always
  type: str
  sample: "dar_manager -c: rc 0, Corrupted database :reached End of File before all expected data could be read"
set_aside:
  description: Where the corrupt database was kept.
  returned: always
  type: str
  sample: /srv/backup/docs.db.corrupt-20261121-190301
archives:
  description: The archives the database lists afterwards, oldest first.
  returned: when state is present or rebuilt
  type: list
  elements: str
  sample: [docs_FULL_2026-01-02_100301, docs_DIFF_2026-11-01_190301]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dar.backup.plugins.module_utils import catalog as catalog_mod
from ansible_collections.dar.backup.plugins.module_utils import inventory
from ansible_collections.dar.backup.plugins.module_utils import naming
from ansible_collections.dar.backup.plugins.module_utils.dar import Dar
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.lock import definition_lock


def would_not_exist(module, backup_dir, db_path):
    """Check mode before the directory exists (site.yml --check on a fresh host): a new, empty database."""
    state = module.params["state"]
    module.warn("backup_dir %s does not exist: check mode assumes an earlier task creates it (a real run fails "
                "when it still does not exist)" % backup_dir)
    result = {"db": db_path, "state": state, "changed": state != "absent", "added": [], "removed": [],
              "corrupt": None, "set_aside": None, "action": "ok" if state == "absent" else "create"}
    if state != "absent":
        result["archives"] = []
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            backup_dir=dict(type="path", required=True),
            catalog_dir=dict(type="path"),
            state=dict(type="str", choices=["present", "absent", "rebuilt"], default="present"),
            timeout=dict(type="int", default=86400),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        name = naming.check_existing_name(params["name"])
        backup_dir = os.path.abspath(params["backup_dir"])
        db_path = catalog_mod.database_path(name, backup_dir, params["catalog_dir"])
        if not os.path.isdir(backup_dir):
            if module.check_mode and not os.path.lexists(backup_dir):
                would_not_exist(module, backup_dir, db_path)
            raise DarBackupError("backup_dir %s does not exist" % backup_dir, phase="validate")
        catalog = catalog_mod.Catalog(db_path, timeout=params["timeout"])
        before = [base for _n, _d, base in catalog.list()] if catalog.exists() and not catalog.health() else []
        dar = Dar(timeout=params["timeout"])
        ignored = []
        archives, unreadable = inventory.catalogable(naming.discover(backup_dir, name, ignored=ignored), dar)
        if module.check_mode:
            result = catalog_mod.sync(catalog, archives, params["state"], check_mode=True)
        else:
            with definition_lock(backup_dir, name):
                ignored = []
                archives, unreadable = inventory.catalogable(naming.discover(backup_dir, name, ignored=ignored), dar)
                result = catalog_mod.sync(catalog, archives, params["state"])
    except DarBackupError as exc:
        module.fail_json(**exc.fail_json_args())
    for warning in naming.ignored_warnings(ignored, backup_dir) + unreadable:
        module.warn(warning)
    after = []
    if params["state"] != "absent":
        # present and rebuilt both leave (or would leave) exactly the archives on disk, in order.
        after = [base for _d, base in catalog_mod.desired_entries(archives)]
        result["archives"] = after
    if module._diff:
        result["diff"] = {"before": "\n".join(before) + ("\n" if before else ""),
                          "after": "\n".join(after) + ("\n" if after else ""),
                          "before_header": result["db"], "after_header": result["db"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
