# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML page: everything escaped, self-contained, states marked by class, attribute and word."""

from __future__ import annotations

import datetime
import html.parser
import re

from ansible_collections.dar.backup.plugins.module_utils import report, report_html

NOW = datetime.datetime(2026, 11, 22, 3, 0, 0, tzinfo=datetime.timezone.utc)
SCHEDULE = {"full": "yearly", "diff": "monthly", "incr": "daily"}
EVIL_HOST = 'web<1>&"x"\nnew'
EVIL_MSG = "<script>alert(1)</script> & <img src=http://evil.example/x.png>"


def archive(level, age, size):
    moment = datetime.datetime(2026, 11, 22, 3, 0, 0) - datetime.timedelta(seconds=age)
    return {"archive": "docs_%s_%s" % (level, moment.strftime("%Y-%m-%d_%H%M%S")), "level": level,
            "time": moment.isoformat(), "age_seconds": age, "slices": 1, "complete": True, "size_bytes": size,
            "reference": None, "readable": True, "error": None, "par2": {"slices_protected": 1, "complete": True}}


def sample_report():
    archives = [archive("FULL", 30 * 86400, 5000), archive("DIFF", 10 * 86400, 700), archive("INCR", 5 * 86400, 90)]
    info = {"archives": archives, "chains": [{"full": archives[0]["archive"], "archives": [a["archive"] for a in archives]}],
            "catalog": {"db": "/b/docs.db", "exists": True, "corrupt": None, "in_sync": True, "missing": [], "extra": []},
            "size_bytes": 5790, "par2_complete": True}
    hosts = [
        {"host": EVIL_HOST, "result": {"definitions": {"docs": info}, "runs": {}}, "definitions": [{"name": "docs"}],
         "schedule": SCHEDULE, "max_age": None},
        {"host": "gone", "result": {"unreachable": True, "msg": EVIL_MSG}, "definitions": [{"name": "docs"}],
         "schedule": SCHEDULE, "max_age": None},
    ]
    return report.build_report(hosts, now=NOW)


class Collect(html.parser.HTMLParser):
    def __init__(self):
        html.parser.HTMLParser.__init__(self)
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parsed(page):
    collector = Collect()
    collector.feed(page)
    return collector


def test_page_is_self_contained():
    page = report_html.render(sample_report())
    tags = parsed(page).tags
    assert not [t for t, _a in tags if t in ("script", "img", "link", "iframe", "object", "embed")]
    assert not [a for _t, a in tags if any(k in a for k in ("src", "href")) or any(k.startswith("on") for k in a)]
    assert "url(" not in page and "@import" not in page


def test_every_name_and_message_is_escaped():
    page = report_html.render(sample_report())
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=http://evil.example/x.png&gt;" in page
    rows = [a for t, a in parsed(page).tags if t == "tr" and "data-state" in a]
    assert rows[0]["data-host"] == EVIL_HOST  # the attribute round-trips exactly, newline included
    assert "web&lt;1&gt;&amp;&quot;x&quot;\nnew" in page


def test_rows_carry_state_class_attribute_and_label():
    page = report_html.render(sample_report())
    rows = [a for t, a in parsed(page).tags if t == "tr" and "data-state" in a]
    assert [(r["data-state"], r["class"]) for r in rows] == [("red", "row state-red"), ("unknown", "row state-unknown")]
    assert re.search(r'<td class="state state-red">FAIL</td>', page)
    assert re.search(r'<td class="state state-unknown">UNKNOWN</td>', page)
    assert "STALE: newest INCR, DIFF or FULL is 5d old, max_age 2d" in page


def test_chart_has_one_marker_per_archive_coloured_by_level_and_labelled_axes():
    page = report_html.render(sample_report())
    points = [a for t, a in parsed(page).tags if t == "circle"]
    assert [(p["data-level"], p["data-size"], p["fill"]) for p in points] == [
        ("FULL", "5000", "#1565c0"), ("DIFF", "700", "#8e24aa"), ("INCR", "90", "#00897b")]
    # Time runs left to right, size bottom to top.
    xs = [float(p["cx"]) for p in points]
    ys = [float(p["cy"]) for p in points]
    assert xs == sorted(xs) and ys == sorted(ys)
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert ">4.9 KiB<" in svg and ">0<" in svg and ">2026-10-23<" in svg and ">2026-11-17<" in svg
    assert ">time<" in svg and ">size<" in svg


def test_chart_without_archives_says_so():
    svg = report_html.chart([], "x")
    assert "no archives" in svg and "<circle" not in svg


def test_chart_with_one_archive():
    svg = report_html.chart([archive("FULL", 10, 100)], "one")
    assert svg.count("<circle") == 1 and "<polyline" not in svg
