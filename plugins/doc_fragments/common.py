# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # Every module runs on POSIX hosts only and has no diff output unless it says otherwise.
    DOCUMENTATION = r"""
options: {}
attributes:
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

    # For the modules that run dar, dar_manager or par2.
    TIMEOUT = r"""
options:
  timeout:
    description:
      - Seconds each C(dar), C(dar_manager) or C(par2) command the module runs may take before it is killed;
        V(0) for no limit.
    type: int
    default: 86400
"""
