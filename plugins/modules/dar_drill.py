#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dar_drill
short_description: The steps of a restore drill - sample on the source, check the restore elsewhere, record it
version_added: 0.1.0
description:
  - A restore drill proves that a host's files can be restored somewhere else from its archives alone. The
    playbook C(dar.backup.drill) runs it across a fleet; this module does its three steps.
  - O(state=sample) runs on the source host. It takes the newest archive of the definition and the state it records
    (saved in it, or unchanged since the archive it was made against), and picks O(files) random regular files that
    are still on the source with the size and modification time the archive recorded. A file changed or removed
    since the backup is not a drill failure, only not a candidate. It returns each sampled file's path, size and
    sha256 (read from the live source), the archive chain a restore needs and its slice files.
  - O(state=prepare) runs where the sample will be restored. It makes O(dest), a fresh empty directory below
    O(scratch), removing what a kept earlier drill left there. O(scratch) is made with mode 0700 when missing, and
    refused when it is a symlink, belongs to another user or is writable by others, since the drill restores
    private files into it.
  - O(state=check) runs where the sample was restored (with M(dar.backup.dar_restore), O(dar.backup.dar_restore#module:archive)
    set to the sampled archive). It computes the sha256 of each restored file below O(dest) and compares it with
    the sample's. A path is never followed through a symlink, so nothing outside O(dest) is read.
  - O(state=record) runs on the control node. It turns the registered results of the three steps into one entry per
    host and definition and merges them into C(<report_dir>/drills.json), keeping the entries of other hosts and
    definitions. The file is replaced atomically (a temporary file, then a rename); a file that is not a JSON object
    is set aside under a new name and a fresh one is written.
options:
  state:
    description: Which step of the drill to run.
    type: str
    required: true
    choices: [sample, prepare, check, record]
  name:
    description: Name of the backup definition (O(state=sample)).
    type: str
  backup_dir:
    description: Directory holding the definition's archives on the source host (O(state=sample)).
    type: path
  root:
    description: The definition's root directory, where the live files are (O(state=sample)).
    type: path
  files:
    description:
      - With O(state=sample), how many files to sample (a whole number, default V(10)).
      - With O(state=check), the C(files) list that O(state=sample) returned (dicts with C(path), C(size), C(sha256)).
    type: raw
  seed:
    description: Seed for the random choice (O(state=sample)), so that a drill can be repeated with the same files.
    type: str
  max_size:
    description: Files larger than this (bytes, or a number with k, M, G or T) are not sampled (O(state=sample)).
    type: str
    default: 100M
  scratch:
    description: The drill's private scratch directory on the target, which O(dest) must be below (O(state=prepare)).
    type: path
  dest:
    description:
      - With O(state=prepare), the directory to make fresh and empty below O(scratch).
      - With O(state=check), the directory the sample was restored into.
    type: path
  report_dir:
    description: Directory of C(drills.json) on the control node (O(state=record)); created when missing.
    type: path
  drills:
    description:
      - With O(state=record), one dict per source host with C(host), C(target) (the inventory name of the host the
        files were restored on; C(localhost) for the control node), C(definitions) (the definition names in the
        order the loops ran) and C(sample), C(prepare), C(restore) and C(check), the variables registered by the
        tasks of each step, looped over the definitions in that order.
    type: list
    elements: dict
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dar.backup.common
  - dar.backup.common.timeout
attributes:
  check_mode:
    support: full
    details:
      - O(state=sample) and O(state=check) only read, and run the same in check mode. O(state=prepare) and
        O(state=record) report what they would do and write nothing.
requirements:
  - dar on the source host (O(state=sample))
notes:
  - O(state=sample) reads the live files; run it as a user who can read the whole root (usually root).
seealso:
  - module: dar.backup.dar_restore
  - module: dar.backup.dar_backup
author:
  - dar.backup contributors (@dar-backup)
"""

EXAMPLES = r"""
- name: Sample ten files of the newest docs archive on the source
  dar.backup.dar_drill:
    state: sample
    name: docs
    backup_dir: /srv/backup/web1
    root: /home/docs
    files: 10
  register: drill_sample

- name: Restore exactly that state on another host
  dar.backup.dar_restore:
    name: docs
    backup_dir: /srv/backup/web1
    archive: "{{ drill_sample.archive }}"
    paths: "{{ drill_sample.files | map(attribute='path') | list }}"
    dest: /var/tmp/drill/web1/docs
  delegate_to: web2

- name: Compare the restored files with the source's checksums
  dar.backup.dar_drill:
    state: check
    dest: /var/tmp/drill/web1/docs
    files: "{{ drill_sample.files }}"
  delegate_to: web2
  register: drill_check
"""

RETURN = r"""
archive:
  description: The newest archive of the definition, whose recorded state was sampled.
  returned: state=sample
  type: str
  sample: docs_INCR_2026-11-21_190301
chain:
  description: The archives a restore of that state applies, oldest first.
  returned: state=sample
  type: list
  elements: str
  sample: [docs_FULL_2026-10-30_100301, docs_DIFF_2026-11-01_190301, docs_INCR_2026-11-21_190301]
slices:
  description: The slice files of the archives of RV(chain), as paths on the source host.
  returned: state=sample
  type: list
  elements: str
  sample: [/srv/backup/web1/docs_FULL_2026-10-30_100301.1.dar]
time:
  description: When the sample was taken (UTC).
  returned: state=sample
  type: str
  sample: "2026-11-22T03:00:00Z"
in_archive:
  description: Regular files in the archive's recorded state.
  returned: state=sample
  type: int
  sample: 420
candidates:
  description: Of those, the files still unchanged on the source, which the sample was drawn from.
  returned: state=sample
  type: int
  sample: 402
skipped_changed:
  description: Files whose size or modification time on the source differ from the archive's record.
  returned: state=sample
  type: int
  sample: 12
skipped_gone:
  description: Files removed from the source since the archive was made.
  returned: state=sample
  type: int
  sample: 3
skipped_size:
  description: Files larger than O(max_size).
  returned: state=sample
  type: int
  sample: 3
files:
  description:
    - With O(state=sample), the sampled files (C(path) relative to the root, C(size), C(mtime), C(sha256)), by path.
    - With O(state=check), per file C(path), C(result) (C(ok), C(mismatch), C(missing) or C(not_a_file)),
      C(expected) and C(actual) sha256, and C(detail).
  returned: state=sample or state=check
  type: list
  elements: dict
  sample: [{path: notes/todo.txt, result: ok, expected: 9f86d0818..., actual: 9f86d0818..., detail: ""}]
passed:
  description: Every restored file matched.
  returned: state=check
  type: bool
  sample: true
failures:
  description: "One line per file that did not match, C(<path>: <why>), control characters in the path escaped."
  returned: state=check
  type: list
  elements: str
  sample: ["notes/todo.txt: content differs (sha256 2c26b46b68ff, the source had 9f86d0818cf4)"]
path:
  description: With O(state=prepare), the fresh directory; with O(state=record), the drills file written.
  returned: state=prepare or state=record
  type: str
  sample: /home/ops/dar-backup-report/drills.json
replaced:
  description: O(dest) existed (left by an earlier drill) and was emptied.
  returned: state=prepare
  type: bool
  sample: false
drills:
  description:
    - What was recorded now, by host and definition, each with C(time), C(target) (an inventory name, or
      C(control node)), C(archive), C(files) (how many were sampled), C(passed), C(failures) and C(error).
  returned: state=record
  type: dict
  sample: {web1: {docs: {time: "2026-11-22T03:00:00Z", target: web2, archive: docs_FULL_2026-11-21_100301,
                         files: 10, passed: true, failures: [], error: null}}}
failed_drills:
  description: "One line per drill that did not pass, C(<host> <definition> -> <target>: <why>)."
  returned: state=record
  type: list
  elements: str
  sample: ["web1 docs -> web2: 1 of 10 files differ: notes/todo.txt: content differs"]
set_aside:
  description: Where an unreadable C(drills.json) was moved before a new one was written, or null.
  returned: state=record
  type: str
  sample: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dar.backup.plugins.module_utils import drill
from ansible_collections.dar.backup.plugins.module_utils.dar import Dar
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError


def _count(value):
    if value is None:
        return 10
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["sample", "prepare", "check", "record"]),
            name=dict(type="str"),
            backup_dir=dict(type="path"),
            root=dict(type="path"),
            files=dict(type="raw"),
            seed=dict(type="str"),
            max_size=dict(type="str", default="100M"),
            scratch=dict(type="path"),
            dest=dict(type="path"),
            report_dir=dict(type="path"),
            drills=dict(type="list", elements="dict"),
            timeout=dict(type="int", default=86400),
        ),
        required_if=[
            ("state", "sample", ("name", "backup_dir", "root")),
            ("state", "prepare", ("scratch", "dest")),
            ("state", "check", ("dest", "files")),
            ("state", "record", ("report_dir", "drills")),
        ],
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["state"] == "sample":
            result = drill.sample(Dar(timeout=params["timeout"]), params["backup_dir"], params["name"], params["root"],
                                  files=_count(params["files"]), seed=params["seed"], max_size=params["max_size"])
        elif params["state"] == "prepare":
            if module.check_mode:
                module.exit_json(changed=True, path=params["dest"], replaced=None,
                                 msg="would make %s fresh and empty" % params["dest"])
            result = drill.prepare(params["scratch"], params["dest"])
        elif params["state"] == "check":
            result = drill.check(params["dest"], params["files"])
        else:
            result = drill.record(params["report_dir"], params["drills"], check_mode=module.check_mode)
    except DarBackupError as exc:
        module.fail_json(**exc.fail_json_args())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
