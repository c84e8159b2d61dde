# -*- coding: utf-8 -*-
# Copyright: dar.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no URL.

Every piece of text from the fleet (host, definition and archive names, error messages) goes through
``esc``: names may hold ``<``, ``&``, quotes and newlines. Each state is a class, a data attribute
and a visible word, never a colour alone.
"""

from __future__ import annotations

import datetime
import html

from .report import AMBER, GREEN, LEVELS, OK, PHASES, RED, UNKNOWN, human_duration, human_size

STATE_COLOURS = {RED: "#d32f2f", AMBER: "#f2a900", GREEN: "#2e7d32", UNKNOWN: "#6d6d6d"}
ROW_TINTS = {RED: "#fdecea", AMBER: "#fff6dc", GREEN: "#ffffff", UNKNOWN: "#eeeeee"}
LEVEL_COLOURS = {"FULL": "#1565c0", "DIFF": "#8e24aa", "INCR": "#00897b"}

CHART_W = 240
CHART_H = 96
MARGIN_L = 50
MARGIN_R = 8
MARGIN_T = 8
MARGIN_B = 22

CSS = """
body { font-family: sans-serif; font-size: 13px; color: #1b1b1b; margin: 16px; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
p.headline { font-size: 15px; font-weight: bold; margin: 4px 0 10px 0; }
table.report { border-collapse: collapse; background: #ffffff; }
table.report th, table.report td { border: 1px solid #c8c8c8; padding: 4px 6px; vertical-align: top; text-align: left; }
table.report th { background: #37474f; color: #ffffff; font-weight: normal; }
td.state { color: #ffffff; font-weight: bold; text-align: center; white-space: nowrap; }
td.state-red { background: %(red)s; }
td.state-amber { background: %(amber)s; color: #1b1b1b; }
td.state-green { background: %(green)s; }
td.state-unknown { background: %(unknown)s; }
tr.state-red { background: %(tint_red)s; }
tr.state-amber { background: %(tint_amber)s; }
tr.state-unknown { background: %(tint_unknown)s; }
ul.reasons { margin: 0; padding-left: 16px; }
span.phase { display: inline-block; margin-right: 6px; white-space: nowrap; }
span.phase-ok { color: #2e7d32; }
span.phase-failed { color: #ffffff; background: %(red)s; padding: 0 3px; font-weight: bold; }
span.phase-missing { color: #8a5a00; font-weight: bold; }
span.phase-not-run { color: #757575; }
.small { font-size: 11px; color: #555555; }
.mono { font-family: monospace; }
div.offenders { border: 2px solid %(red)s; background: #ffffff; padding: 6px 10px; margin: 8px 0; }
div.offenders pre { margin: 0; white-space: pre-wrap; }
span.legend { display: inline-block; margin-right: 12px; }
span.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
""" % {"red": STATE_COLOURS[RED], "amber": STATE_COLOURS[AMBER], "green": STATE_COLOURS[GREEN],
       "unknown": STATE_COLOURS[UNKNOWN], "tint_red": ROW_TINTS[RED], "tint_amber": ROW_TINTS[AMBER],
       "tint_unknown": ROW_TINTS[UNKNOWN]}


def esc(value):
    """Text or attribute value, safe whatever it holds."""
    return html.escape("" if value is None else str(value), quote=True)


def _when(text):
    return esc((text or "-").replace("T", " "))


def _moment(text):
    value = str(text)
    if value.endswith("Z"):
        value = value[:-1]
    try:
        return datetime.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None


def _ticks(top):
    """A round upper bound for the size axis."""
    if top <= 0:
        return 1
    step = 1
    while step * 10 <= top:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= top:
            return step * factor
    return step * 10


def chart(archives, label):
    """Archive size (y) over archive time (x), markers coloured by level, axes labelled; an inline SVG."""
    points = [(a, _moment(a["time"])) for a in archives if a.get("size_bytes") is not None]
    points = [(a, m) for a, m in points if m is not None]
    parts = ['<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="%s">' % (CHART_W, CHART_H, CHART_W, CHART_H, esc(label))]
    parts.append("<title>%s</title>" % esc(label))
    left, right, top, bottom = MARGIN_L, CHART_W - MARGIN_R, MARGIN_T, CHART_H - MARGIN_B
    parts.append('<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444444" stroke-width="1"/>'
                 % (left, bottom, right, bottom))
    parts.append('<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444444" stroke-width="1"/>'
                 % (left, top, left, bottom))
    if not points:
        parts.append('<text x="%d" y="%d" font-size="10" fill="#757575">no archives</text>' % (left + 6, top + 30))
        parts.append("</svg>")
        return "".join(parts)
    high = _ticks(max(a["size_bytes"] for a, _m in points))
    first, last = points[0][1], points[-1][1]
    span = (last - first).total_seconds()
    parts.append('<text x="%d" y="%d" font-size="9" text-anchor="end" fill="#333333">%s</text>'
                 % (left - 3, top + 8, esc(human_size(high))))
    parts.append('<text x="%d" y="%d" font-size="9" text-anchor="end" fill="#333333">0</text>' % (left - 3, bottom))
    parts.append('<text x="%d" y="%d" font-size="9" fill="#333333">%s</text>'
                 % (left, CHART_H - 10, esc(first.strftime("%Y-%m-%d"))))
    if span:
        parts.append('<text x="%d" y="%d" font-size="9" text-anchor="end" fill="#333333">%s</text>'
                     % (right, CHART_H - 10, esc(last.strftime("%Y-%m-%d"))))
    parts.append('<text x="%d" y="%d" font-size="8" text-anchor="middle" fill="#555555">time</text>'
                 % ((left + right) // 2, CHART_H - 1))
    parts.append('<text x="10" y="%d" font-size="8" text-anchor="middle" fill="#555555" '
                 'transform="rotate(-90 10 %d)">size</text>' % ((top + bottom) // 2, (top + bottom) // 2))
    coords = []
    for archive, moment in points:
        x = left + 6 + ((moment - first).total_seconds() / span * (right - left - 12) if span else (right - left - 12) / 2)
        y = bottom - archive["size_bytes"] / float(high) * (bottom - top)
        coords.append((x, y, archive))
    if len(coords) > 1:
        parts.append('<polyline fill="none" stroke="#9e9e9e" stroke-width="1" points="%s"/>'
                     % " ".join("%.1f,%.1f" % (x, y) for x, y, _a in coords))
    for x, y, archive in coords:
        level = archive["level"] if archive["level"] in LEVEL_COLOURS else "FULL"
        parts.append('<circle class="point level-%s" data-level="%s" data-size="%d" cx="%.1f" cy="%.1f" r="4.5" '
                     'fill="%s"><title>%s</title></circle>' % (
                         level, level, archive["size_bytes"], x, y, LEVEL_COLOURS[level],
                         esc("%s: %s, %s" % (archive["archive"], human_size(archive["size_bytes"]),
                                             archive["time"]))))
    parts.append("</svg>")
    return "".join(parts)


def _phases(row):
    if not row["phases"]:
        return "-"
    parts = []
    for key, _phase, label in PHASES:
        value = row["phases"][key]
        css = "phase-" + value.replace(" ", "-")
        parts.append('<span class="phase %s" data-phase="%s">%s: %s</span>' % (
            esc(css), esc(key), esc(label), esc(value if value != OK else "ok")))
    run = row["last_run"]
    source = row["phase_source"]
    if run:
        source = "%s: %s %s ago" % (source, run.get("status"), human_duration(run.get("age_seconds")))
    return '<div>%s</div><div class="small">%s</div>' % (" ".join(parts), esc(source))


def _freshness(row):
    if not row["levels"]:
        return "-"
    lines = []
    for level in LEVELS:
        entry = row["levels"][level]
        newest = entry["newest"]
        age = human_duration(newest["age_seconds"]) if newest else "none"
        limit = human_duration(entry["max_age_seconds"]) if entry["max_age_seconds"] is not None else "no limit"
        mark = {RED: " STALE", AMBER: " aging"}.get(entry["state"], "")
        lines.append('<div class="level level-%s" data-state="%s">%s %s / %s%s</div>'
                     % (level, esc(entry["state"] or "none"), level, esc(age), esc(limit), esc(mark)))
    return "".join(lines)


def _sizes(row):
    sizes = row["sizes"]
    if not sizes:
        return "-"
    text = "total %s" % human_size(sizes["total_bytes"])
    if sizes["newest_full_bytes"] is not None:
        text += "<br>FULL %s" % esc(human_size(sizes["newest_full_bytes"]))
    if sizes["full_change_bytes"] is not None:
        sign = "+" if sizes["full_change_bytes"] >= 0 else "-"
        pct = " (%+.1f %%)" % sizes["full_change_percent"] if sizes["full_change_percent"] is not None else ""
        text += '<br><span class="small">vs previous FULL %s%s%s</span>' % (
            sign, esc(human_size(abs(sizes["full_change_bytes"]))), esc(pct))
    return text


def _drill(row):
    drill = row["drill"]
    if not drill:
        return '<span class="small">none</span>'
    passed = drill.get("passed") is True and not drill.get("error")
    return '%s<br><span class="small">%s on %s, %s file(s)</span>' % (
        "passed" if passed else "<b>FAILED</b>", _when(drill.get("time")), esc(drill.get("target")),
        esc(drill.get("files")))


def _row(row):
    state = row["state"]
    last = row["last_verified"]
    if last:
        verified = "%s<br>%s ago (%s)" % (_when(last["time"]), esc(human_duration(last["age_seconds"])),
                                          esc(last["level"]))
    else:
        verified = "none"
    par2 = row["par2"]
    par2_text = "-" if not par2 else ("disabled" if not par2["enabled"] else "%d/%d slices" % (
        par2["slices_protected"], par2["slices"]))
    reasons = "".join("<li>%s</li>" % esc(r) for r in row["reasons"])
    cells = [
        '<td class="state state-%s">%s</td>' % (state, esc(row["label"])),
        '<td class="host">%s</td>' % esc(row["host"]),
        '<td class="definition">%s</td>' % esc(row["definition"] if row["definition"] is not None else "-"),
        "<td>%s</td>" % verified,
        "<td>%s</td>" % _freshness(row),
        "<td>%s</td>" % esc(row["chain"]["text"] if row["chain"] else "-"),
        "<td>%s</td>" % _phases(row),
        "<td>%s</td>" % esc(par2_text),
        "<td>%s</td>" % esc(row["catalog"]["state"] if row["catalog"] else "-"),
        "<td>%s</td>" % _sizes(row),
        "<td>%s</td>" % _drill(row),
        "<td>%s</td>" % (chart(row["archives"], "archive size over time: %s %s" % (row["host"], row["definition"]))
                         if row["reachable"] else "-"),
        '<td class="reasons">%s</td>' % ('<ul class="reasons">%s</ul>' % reasons if reasons else "-"),
    ]
    return '<tr class="row state-%s" data-state="%s" data-host="%s" data-definition="%s">%s</tr>' % (
        state, state, esc(row["host"]), esc(row["definition"] or ""), "".join(cells))


def render(report, title="dar.backup fleet report"):
    """The page for a report built by report.build_report."""
    legend = "".join('<span class="legend"><span class="swatch" style="background:%s"></span>%s</span>'
                     % (LEVEL_COLOURS[level], level) for level in LEVELS)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>%s</title>" % esc(title),
        "<style>%s</style></head><body>" % CSS,
        "<h1>%s</h1>" % esc(title),
        '<p class="headline" id="headline">%s</p>' % esc(report["headline"]),
        '<p class="small">generated %s UTC; ages are as of then, by each host\'s clock; max_age grace %s</p>'
        % (_when(report["generated"].rstrip("Z")), esc(human_duration(report.get("max_age_grace_seconds")))),
    ]
    if report["offenders"]:
        out.append('<div class="offenders" id="offenders"><b>Needs attention (%d)</b><pre>%s</pre></div>'
                   % (len(report["offenders"]), esc("\n".join(report["offenders"]))))
    out.append('<p class="small">chart markers: %s</p>' % legend)
    headings = ("State", "Host", "Definition", "Last verified", "Age / max_age per level", "Chain",
                "Last run: dar, test, restore test, PAR2, catalog", "PAR2", "Catalog", "Size", "Last drill",
                "Size over time", "Problems")
    out.append('<table class="report" id="report"><thead><tr>%s</tr></thead><tbody>'
               % "".join("<th>%s</th>" % h for h in headings))
    out.extend(_row(row) for row in report["rows"])
    out.append("</tbody></table>")
    empty = [h["host"] for h in report["hosts"] if h["reachable"] and not h["definitions"]]
    if empty:
        out.append('<p class="small">Reachable hosts without definitions: %s</p>' % esc(", ".join(empty)))
    out.append('<p class="small">not run: the phase did not run (disabled, or an earlier phase failed); '
               'missing: the newest archive has no PAR2 set or is not in the catalog.</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
