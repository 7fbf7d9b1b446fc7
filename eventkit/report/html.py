"""The report's index.html: one self-contained page (inline CSS and script, no network).

Charts are ``<img>`` elements pointing at ``charts/<name>.png`` with links to the SVG and the
CSV. A tiny inline script marks ``<body>`` once the page has loaded: ``data-images-ok="k/N"``
(images that decoded with a non-zero width) and ``data-broken="a.png,b.png"``, so a headless
browser can check that nothing is broken.
"""

from __future__ import annotations

import html
import numbers
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

GENERATOR = "eventkit report"


@dataclass
class Section:
    """One part of the report: a heading, an optional chart, an optional table.

    Attributes:
        anchor: The id of the section (for links).
        title: Heading.
        description: A paragraph under the heading (plain text).
        chart: Chart file stem under ``charts/`` (PNG and SVG), or None.
        table: The frame to show (already sorted and rounded).
        csv: The CSV file under ``tables/`` holding the full table.
        notes: Extra lines shown under the description (plain text).
        chart_size: The PNG's width and height in pixels (the page reserves that shape).
    """

    anchor: str
    title: str
    description: str = ""
    chart: str | None = None
    table: pd.DataFrame | None = None
    csv: str | None = None
    notes: list[str] = field(default_factory=list)
    chart_size: tuple[int, int] = (1296, 648)


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
header{border-bottom:1px solid #d9dde3;margin-bottom:16px}
h1{margin:0 0 4px;font-size:26px} h2{font-size:19px;margin:0 0 6px}
.meta{color:#5b6675;font-size:13px} nav a{margin-right:12px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:16px;margin:16px 0}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.links a{margin-right:14px;font-size:13px}
.scroll{max-height:420px;overflow:auto;border:1px solid #eef0f3}
table{border-collapse:collapse;font-size:13px;min-width:50%}
th,td{padding:3px 8px;border-bottom:1px solid #eef0f3;text-align:right;white-space:nowrap}
th{position:sticky;top:0;background:#f0f2f5} td.s,th.s{text-align:left}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}
dt{color:#5b6675}
"""

# Runs on window load, when every image has either decoded or failed.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images), ok = 0, broken = [];
  imgs.forEach(function (img) {
    if (img.complete && img.naturalWidth > 0) { ok += 1; }
    else { broken.push(img.getAttribute("src")); }
  });
  document.body.setAttribute("data-images-ok", ok + "/" + imgs.length);
  document.body.setAttribute("data-broken", broken.join(","));
  document.body.setAttribute("data-report-ready", "1");
});
"""


def render(*, title: str, description: str, generated_at: str, summary: Sequence[tuple[str, str]],
           event_types: pd.DataFrame | None, sections: Sequence[Section], max_rows: int,
           leaves_out: Sequence[str] = ()) -> str:
    """The whole page as a string; ``leaves_out`` lists what the data does not cover."""
    e = html.escape
    nav = " ".join(f'<a href="#{e(s.anchor)}">{e(s.title)}</a>' for s in sections)
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in summary)
    gaps = "".join(f"<li>{e(x)}</li>" for x in leaves_out)
    gaps = f'<h3 id="leaves-out">What this data leaves out</h3>\n<ul>{gaps}</ul>' if gaps else ""
    types = _table(event_types, max_rows) if event_types is not None and len(event_types) else ""
    body = "\n".join(_section(s, max_rows) for s in sections)
    intro = f"<p>{e(description)}</p>" if description else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{_CSS}</style>
<script>{_SCRIPT}</script>
</head>
<body>
<main>
<header>
<h1>{e(title)}</h1>
<p class="meta">Generated {e(generated_at)} by eventkit</p>
{intro}
<nav>{nav}</nav>
</header>
<section id="store">
<h2>The store</h2>
<dl>{facts}</dl>
{gaps}
{types}
</section>
{body}
</main>
</body>
</html>
"""


def _section(s: Section, max_rows: int) -> str:
    e = html.escape
    parts = [f'<section id="{e(s.anchor)}">', f"<h2>{e(s.title)}</h2>"]
    if s.description:
        parts.append(f"<p>{e(s.description)}</p>")
    parts += [f'<p class="meta">{e(n)}</p>' for n in s.notes]
    links = []
    if s.chart:
        png, svg = f"charts/{s.chart}.png", f"charts/{s.chart}.svg"
        w, h = s.chart_size
        parts.append(f'<img src="{e(png)}" alt="{e(s.title)}" width="{w}" height="{h}">')
        links.append(f'<a href="{e(svg)}">chart as SVG</a>')
    if s.csv:
        links.append(f'<a href="tables/{e(s.csv)}">table as CSV</a>')
    if links:
        parts.append(f'<p class="links">{" ".join(links)}</p>')
    if s.table is not None:
        shown = min(len(s.table), max_rows)
        note = f"{len(s.table):,} rows" + (f", the first {shown:,} shown" if shown < len(s.table) else "")
        parts.append(f'<p class="meta">Table: {note}.</p>')
        parts.append(_table(s.table, max_rows))
    parts.append("</section>")
    return "\n".join(parts)


def _table(frame: pd.DataFrame, max_rows: int) -> str:
    e = html.escape
    head = frame.head(max_rows)
    text = [not pd.api.types.is_numeric_dtype(head[c]) for c in head.columns]
    cls = [' class="s"' if t else "" for t in text]
    ths = "".join(f"<th{c}>{e(str(col))}</th>" for col, c in zip(head.columns, cls))
    rows = []
    for row in head.itertuples(index=False):
        tds = "".join(f"<td{c}>{e(_cell(v))}</td>" for v, c in zip(row, cls))
        rows.append(f"<tr>{tds}</tr>")
    return f'<div class="scroll"><table><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _cell(value: Any) -> str:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real):
        return f"{value:,.2f}"
    return str(value)
