# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: runner_config_error
short_description: What the on-host runner would refuse in a configuration, checked on the control node
version_added: 0.1.0
description:
  - Parses a C(dar-backup-run) configuration (the JSON the P(dar.backup.configure#role) role renders) with the
    runner's own checks, the ones C(dar-backup-run check-config) makes on the host, and returns the first problem
    as one line, or an empty string when the runner would accept it.
  - The configure role uses it before it changes anything, so a value that can never work (C(compression=zip9), a
    size without a unit the engine knows, a bad duration) fails the play with the definition and key named,
    instead of after the directories, the engine and the definition files were written.
  - Reads no file and runs nothing; a root missing today is checked on the host, not here.
options:
  _input:
    description: The configuration, as JSON text or as a mapping.
    type: raw
    required: true
author:
  - dar.backup engineers
"""

EXAMPLES = r"""
- name: Refuse a configuration the runner would refuse
  ansible.builtin.assert:
    that: __problem | length == 0
    fail_msg: "{{ __problem }}"
  vars:
    __problem: "{{ lookup('ansible.builtin.template', 'config.json.j2') | dar.backup.runner_config_error }}"
"""

RETURN = r"""
_value:
  description:
    - Empty when the runner would accept the configuration; else one line naming the definition and the key, as
      C(dar-backup-run check-config) prints it (without the file name).
  type: str
"""

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.dar.backup.plugins.module_utils import runner


def runner_config_error(config):
    if isinstance(config, (bytes, str)):
        try:
            config = json.loads(config, object_pairs_hook=runner.no_duplicate_keys)
        except runner.ConfigError as exc:
            return "config: %s" % exc
        except ValueError as exc:
            raise AnsibleFilterError("runner_config_error: the input is not JSON: %s" % exc)
    try:
        runner.parse_config(config, path="")
    except runner.ConfigError as exc:
        return " ".join(str(exc).replace("config : ", "", 1).split())
    return ""


class FilterModule(object):
    def filters(self):
        return {"runner_config_error": runner_config_error}
