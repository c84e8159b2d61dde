# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a scrub names an archive's problem (the module's and the runner's messages)."""

from __future__ import annotations

from ansible_collections.dar.backup.plugins.module_utils import scrub


def entry(status, detail=None, slices=()):
    return {"archive": "docs_FULL_2026-01-02_100301", "status": status, "detail": detail,
            "slices": [{"slice": "docs_FULL_2026-01-02_100301.%d.dar" % n, "status": s} for n, s in slices]}


def test_damaged_repairable_names_its_damaged_slices():
    text = scrub.describe(entry("damaged_repairable", slices=[(1, "ok"), (2, "damaged_repairable"),
                                                              (3, "damaged_repairable")]))
    assert text == ("docs_FULL_2026-01-02_100301 is damaged_repairable "
                    "(damaged: docs_FULL_2026-01-02_100301.2.dar, docs_FULL_2026-01-02_100301.3.dar)")


def test_detail_is_kept_beside_the_damaged_slices():
    text = scrub.describe(entry("damaged_repairable", "bytes changed", slices=[(1, "damaged_repairable")]))
    assert text.endswith("(damaged: docs_FULL_2026-01-02_100301.1.dar; bytes changed)")


def test_other_statuses_say_their_detail_or_nothing():
    assert scrub.describe(entry("unrepairable", "dar -t fails")) == \
        "docs_FULL_2026-01-02_100301 is unrepairable (dar -t fails)"
    assert scrub.describe(entry("no_par2")) == "docs_FULL_2026-01-02_100301 is no_par2"
