# -*- coding: utf-8 -*-
"""report.html in a real browser: headless Chromium renders the table and the charts, and the stale row is marked.

The report is made by the real modules: dar_info over real archives (made with dar at known times),
then dar_report. Chromium must be installed (the Makefile installs Debian's `chromium`): without it
these tests fail, they do not skip.
"""

from __future__ import annotations

import datetime
import html.parser
import json
import os
import shutil
import struct
import subprocess
import zlib

import pytest

from conftest import make_archive, run_module, write_file

RED = (0xd3, 0x2f, 0x2f)
GREEN = (0x2e, 0x7d, 0x32)
LEVEL_COLOURS = {"FULL": (0x15, 0x65, 0xc0), "DIFF": (0x8e, 0x24, 0xaa), "INCR": (0x00, 0x89, 0x7b)}
SIZE = (1400, 1000)
STALE_HOST = "db<1> & \"friends\""
SCHEDULE = {"full": "yearly", "diff": "monthly", "incr": "daily"}


def chromium():
    path = shutil.which("chromium")
    assert path, "chromium is not installed: run the tests through `make test`, whose setup installs it"
    return path


def browser(args, profile):
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=%s" % profile,
            "--no-first-run", "--hide-scrollbars"] + args
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG, decoded with zlib only."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + length
    width, height, depth, colour, _comp, _filter, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xff
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + previous[i]) & 0xff
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xff
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xff
        rows.append(line)
        previous = line
    return width, height, [[tuple(r[x * channels:x * channels + 3]) for x in range(width)] for r in rows]


def count(pixels, colour, tolerance=3):
    return sum(1 for row in pixels for px in row if all(abs(px[i] - colour[i]) <= tolerance for i in range(3)))


class Dom(html.parser.HTMLParser):
    def __init__(self):
        html.parser.HTMLParser.__init__(self)
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    base = tmp_path_factory.mktemp("html")
    os.chmod(str(base), 0o755)
    source = base / "src"
    for index in range(6):
        write_file(str(source / ("file-%d.txt" % index)), os.urandom(2000 * (index + 1)))
    stale_dir = base / "stale-backups"
    now = datetime.datetime.now().replace(microsecond=0)
    full = make_archive(stale_dir, "docs", "FULL", now - datetime.timedelta(days=40), source)
    write_file(str(source / "new.bin"), os.urandom(30000))
    diff = make_archive(stale_dir, "docs", "DIFF", now - datetime.timedelta(days=20), source, reference=full)
    write_file(str(source / "newer.bin"), os.urandom(9000))
    make_archive(stale_dir, "docs", "INCR", now - datetime.timedelta(days=6), source, reference=diff)
    stale = run_module("dar_info", {"backup_dir": str(stale_dir), "state_dir": str(base / "no-state")})
    assert not stale.failed, stale

    fresh_dir = base / "fresh-backups"
    made = run_module("dar_backup", {"name": "docs", "root": str(source), "backup_dir": str(fresh_dir),
                                     "restore_test": {"files": 2}})
    assert not made.failed, made
    fresh = run_module("dar_info", {"backup_dir": str(fresh_dir)})
    assert not fresh.failed, fresh

    hosts = [
        {"host": "web1", "result": fresh.result, "definitions": [{"name": "docs"}], "schedule": SCHEDULE},
        {"host": STALE_HOST, "result": stale.result, "definitions": [{"name": "docs"}], "schedule": SCHEDULE},
        {"host": "gone", "result": {"unreachable": True, "msg": "ssh: connect to host <gone> port 22: refused"},
         "definitions": [{"name": "docs"}]},
    ]
    report_dir = base / "report"
    made = run_module("dar_report", {"hosts": hosts, "report_dir": str(report_dir)})
    assert not made.failed, made
    return {"base": base, "html": made.result["report_html"], "result": made.result,
            "report": json.loads((report_dir / "report.json").read_text())}


def test_report_json_of_the_page(report_page):
    report = report_page["report"]
    assert [(r["host"], r["state"]) for r in report["rows"]] == [
        ("web1", "green"), (STALE_HOST, "red"), ("gone", "unknown")]
    assert report["offenders"][0] == "%s docs: STALE: newest INCR, DIFF or FULL is 6d old, max_age 2d" % STALE_HOST


def test_page_is_self_contained(report_page):
    with open(report_page["html"], encoding="utf-8") as handle:
        page = handle.read()
    dom = Dom()
    dom.feed(page)
    assert not [t for t, _a in dom.tags if t in ("script", "img", "link", "iframe", "object", "embed")]
    assert not [a for _t, a in dom.tags if "src" in a or "href" in a or any(k.startswith("on") for k in a)]
    assert "url(" not in page and "@import" not in page
    assert "<gone>" not in page and "&lt;gone&gt;" in page


def test_chromium_renders_table_chart_and_the_stale_row(report_page, tmp_path):
    profile = str(report_page["base"] / "chromium-profile")
    url = "file://" + report_page["html"]

    dumped = browser(["--dump-dom", url], profile).stdout
    dom = Dom()
    dom.feed(dumped)
    rows = [a for t, a in dom.tags if t == "tr" and "data-state" in a]
    assert [(r["data-host"], r["data-state"], r["class"]) for r in rows] == [
        ("web1", "green", "row state-green"), (STALE_HOST, "red", "row state-red"), ("gone", "unknown", "row state-unknown")]
    text = " ".join(dom.text)
    assert "STALE: newest INCR, DIFF or FULL is 6d old, max_age 2d" in text
    assert "FAIL" in text and "UNKNOWN" in text and "OK" in text
    svgs = [a for t, a in dom.tags if t == "svg"]
    assert len(svgs) == 2  # one chart per reachable row
    points = [a for t, a in dom.tags if t == "circle"]
    assert sorted(p["data-level"] for p in points) == ["DIFF", "FULL", "FULL", "INCR"]

    shot = str(tmp_path / "report.png")
    print("screenshot: %s" % shot)
    browser(["--screenshot=%s" % shot, "--window-size=%d,%d" % SIZE, url], profile)
    assert os.path.isfile(shot)
    width, height, pixels = png_pixels(shot)
    assert (width, height) == SIZE
    # The stale row's state cell is solid red; the healthy one green.
    assert count(pixels, RED) > 500
    assert count(pixels, GREEN) > 500
    # Every level has at least one marker in a chart, drawn in its colour.
    for level, colour in LEVEL_COLOURS.items():
        assert count(pixels, colour) >= 20, level
