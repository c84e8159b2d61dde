#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dar_report
short_description: Write the fleet backup report (JSON and a self-contained HTML page) on the control node
version_added: 0.1.0
description:
  - Runs on the control node (the report playbook's second play, on localhost). From what the first play gathered
    with M(dar.backup.dar_info) on every host, builds one row per host x definition with a state, V(green),
    V(amber), V(red) or V(unknown), and writes C(report.json) and C(report.html) into O(report_dir), each
    atomically (a temporary file renamed into place).
  - A row is V(red) when a level is stale (its newest archive, or a newer one of a bigger level, is older than
    that level's maximum age), when there is no archive, when the last backup run failed, an archive is
    incomplete or unreadable, the catalog is corrupt, the last verify run failed, or the last restore drill
    failed. It is V(amber) for a last run with warnings, incomplete PAR2 coverage, a catalog missing or out of
    sync, or an age above 80 % of the maximum. A host that could not be reached, or whose M(dar.backup.dar_info)
    failed, gives V(unknown) rows; it is never dropped.
  - A level's maximum age is the largest gap between two firings of its systemd OnCalendar schedule (over four
    years) plus O(max_age_grace), unless the host's C(max_age) sets it; a level without a schedule has none.
  - Red rows and unknown hosts are the offenders, one line each in RV(offenders). The module itself does not
    fail for them; the report playbook fails after writing the files.
  - Optionally posts the headline and the offenders to a Discord and/or a generic JSON webhook.
options:
  hosts:
    description:
      - One entry per inventory host of the gathering play, with the keys C(host) (inventory name, required),
        C(result) (the registered result of M(dar.backup.dar_info) for that host, including an unreachable or
        failed one; empty when the host was not gathered), C(definitions) (the host's C(dar_backup_definitions),
        a list of dicts with C(name) and optionally C(schedule), C(par2), C(catalog)), C(schedule) (the host's
        C(dar_backup_schedule); null for the configure role's defaults) and C(max_age) (the host's
        C(dar_backup_max_age), a dict of C(full), C(diff), C(incr) durations such as C(400d), C(35d), C(5d)).
    type: list
    elements: dict
    required: true
  report_dir:
    description: Directory for C(report.json) and C(report.html); created when missing.
    type: path
    default: ~/dar-backup-report
  drills_file:
    description:
      - JSON file of restore drill results, an object of host to definition to a result with C(time), C(target),
        C(archive), C(files), C(passed), C(failures) and C(error), shown in the C(last drill) column. A missing file
        means no drills.
      - Defaults to C(drills.json) in O(report_dir), where the drill playbook writes it.
    type: path
  max_age_grace:
    description:
      - Added to the largest gap of each schedule to make the maximum age, as a duration (C(90s), C(30m), C(20h),
        C(1d), C(2w)).
      - One day covers a run that starts at the firing and runs up to the default 24 h timeout, and a host that was
        off at the firing and catches up at boot.
    type: str
    default: 1d
  title:
    description: Title of the HTML page.
    type: str
    default: dar.backup fleet report
  notify_when:
    description:
      - When to post the summary, V(failure) (there are offenders), V(always) or V(never).
      - Nothing is sent in check mode.
    type: str
    choices: [never, failure, always]
    default: failure
  notify_discord_url:
    description: Discord webhook URL (a secret). Empty or unset for none.
    type: str
  notify_webhook_url:
    description:
      - Generic webhook URL (a secret) that gets a JSON object with C(headline), C(status), C(counts), C(offenders),
        C(generated) and C(files). Empty or unset for none.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dar.backup.common
attributes:
  check_mode:
    support: full
    details: Builds the report and returns the summary; writes no file and sends nothing.
notes:
  - C(changed) means the fleet's state differs from the previous report in O(report_dir) (another state, reason,
    archive, run or drill); ages and the time of the report do not count. The files are rewritten on every run, so
    their ages are current.
seealso:
  - module: dar.backup.dar_info
author:
  - dar.backup contributors (@dar-backup)
"""

EXAMPLES = r"""
- name: Gather every host's archives and run records
  dar.backup.dar_info:
    backup_dir: /srv/dar-backup
    state_dir: /var/lib/dar-backup
  register: gathered
  ignore_unreachable: true
  failed_when: false

- name: Write the report on the control node
  dar.backup.dar_report:
    report_dir: ~/dar-backup-report
    hosts:
      - host: web1
        result: "{{ hostvars['web1'].gathered }}"
        definitions: "{{ hostvars['web1'].dar_backup_definitions }}"
        max_age: {incr: 5d}
  delegate_to: localhost
  run_once: true
  register: report
"""

RETURN = r"""
report_json:
  description: Path of the JSON report.
  returned: always
  type: str
  sample: /home/ops/dar-backup-report/report.json
report_html:
  description: Path of the HTML report.
  returned: always
  type: str
  sample: /home/ops/dar-backup-report/report.html
headline:
  description: One line with the number of rows per state.
  returned: always
  type: str
  sample: "dar.backup report: 12 green, 1 amber, 2 red, 1 unknown (16 host x definition)"
counts:
  description: Rows per state (C(green), C(amber), C(red), C(unknown)) and C(rows).
  returned: always
  type: dict
  sample: {green: 12, amber: 1, red: 2, unknown: 1, rows: 16}
offenders:
  description: One line per red row and per unknown host.
  returned: always
  type: list
  elements: str
  sample:
    - "web1 docs: STALE: newest INCR, DIFF or FULL is 9d old, max_age 7d"
    - "db1 pg: FAILED: restore_test: 1 of 5 sampled file(s) failed the restore test"
    - "host9: UNKNOWN: unreachable: Failed to connect to the host via ssh"
summary:
  description: The headline, then one line per row (the worst first, at most 40), as a text summary.
  returned: always
  type: list
  elements: str
rows:
  description: Per row C(host), C(definition), C(state) and C(reasons); the full rows are in the JSON file.
  returned: always
  type: list
  elements: dict
fingerprint:
  description: Digest of the fleet's state in this report (what C(changed) compares).
  returned: always
  type: str
notified:
  description: Channels the summary was posted to (C(discord), C(webhook)).
  returned: always
  type: list
  elements: str
notify_errors:
  description: Why a post failed, one line per channel, never with the URL.
  returned: always
  type: list
  elements: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dar.backup.plugins.module_utils import report as report_mod
from ansible_collections.dar.backup.plugins.module_utils.errors import DarBackupError
from ansible_collections.dar.backup.plugins.module_utils.fsutil import write_atomically
from ansible_collections.dar.backup.plugins.module_utils.report_html import render


def read_drills(path, module):
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        module.warn("drills file %s cannot be read (%s); the report shows no drills" % (path, exc))
        return {}
    if not isinstance(data, dict):
        module.warn("drills file %s does not hold a JSON object; the report shows no drills" % path)
        return {}
    return data


def previous_fingerprint(path):
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return json.load(handle).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="list", elements="dict", required=True),
            report_dir=dict(type="path", default="~/dar-backup-report"),
            drills_file=dict(type="path"),
            max_age_grace=dict(type="str", default=report_mod.DEFAULT_GRACE),
            title=dict(type="str", default="dar.backup fleet report"),
            notify_when=dict(type="str", choices=["never", "failure", "always"], default="failure"),
            notify_discord_url=dict(type="str", no_log=True),
            notify_webhook_url=dict(type="str", no_log=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    report_dir = os.path.abspath(params["report_dir"])
    paths = {"json": os.path.join(report_dir, "report.json"), "html": os.path.join(report_dir, "report.html")}
    for index, entry in enumerate(params["hosts"]):
        if not entry.get("host"):
            module.fail_json(msg="hosts[%d] has no host: give each entry the inventory name as host" % index)
    drills = read_drills(params["drills_file"] or os.path.join(report_dir, "drills.json"), module)
    try:
        report = report_mod.build_report(params["hosts"], drills=drills, grace=params["max_age_grace"])
    except DarBackupError as exc:
        module.fail_json(**exc.fail_json_args())
    changed = report["fingerprint"] != previous_fingerprint(paths["json"]) or not os.path.exists(paths["html"])
    result = dict(
        changed=changed, report_json=paths["json"], report_html=paths["html"], headline=report["headline"],
        counts=report["counts"], offenders=report["offenders"], summary=report_mod.summary_lines(report),
        rows=[dict((k, r[k]) for k in ("host", "definition", "state", "reasons")) for r in report["rows"]],
        fingerprint=report["fingerprint"], notified=[], notify_errors=[])
    if module.check_mode:
        module.exit_json(**result)
    try:
        os.makedirs(report_dir, exist_ok=True)
        write_atomically(paths["json"], json.dumps(report, indent=1, sort_keys=True) + "\n")
        write_atomically(paths["html"], render(report, params["title"]))
    except OSError as exc:
        module.fail_json(msg="cannot write the report into %s: %s; check the directory exists and is writable, or set "
                             "report_dir" % (report_dir, exc.strerror or exc))
    urls = {"discord_url": params["notify_discord_url"], "webhook_url": params["notify_webhook_url"]}
    result["notified"], result["notify_errors"] = report_mod.notify(report, urls, params["notify_when"], paths)
    for error in result["notify_errors"]:
        module.warn(error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
