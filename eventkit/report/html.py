"""The report's index.html: one self-contained page (inline CSS and script, no network).

The page opens with the headline figures, then the store, then a section per chart, scenario and
table. Charts are ``<img>`` elements pointing at ``charts/<name>.png`` with links to the SVG and
the CSV; with ``embed`` the PNG and the CSV travel inside the page as ``data:`` URLs, so
index.html alone is the whole report. Each chart's ``data-panels`` lists the figure's panels
(``chart``, ``difference``). A table is shown once (a later chart of the same series links to
it) and only its first rows; the link beside it holds every row. A tiny inline script marks
``<body>`` once the page has loaded: ``data-images-ok="k/N"`` (images that decoded with a non-zero
width) and ``data-broken="a.png,b.png"``, so a headless browser can check that nothing is broken.
"""

from __future__ import annotations

import base64
import html
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

GENERATOR = "eventkit report"
#: A CSV larger than this stays a file beside the page, even with ``embed``.
EMBED_CSV_BYTES = 2_000_000


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
        panels: The chart's panels, top to bottom (``chart``, ``difference``).
        table_of: The series whose whole table this is: shown under the first section only.
    """

    anchor: str
    title: str
    description: str = ""
    chart: str | None = None
    table: pd.DataFrame | None = None
    csv: str | None = None
    notes: list[str] = field(default_factory=list)
    chart_size: tuple[int, int] = (1296, 648)
    panels: list[str] = field(default_factory=list)
    table_of: str | None = None


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
.headlines{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.figure{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:10px 14px;min-width:180px;flex:1}
.figure .label{color:#5b6675;font-size:13px} .figure .value{font-size:24px;font-weight:600}
.figure .unit{font-size:14px;color:#5b6675;margin-left:4px} .figure .note{color:#5b6675;font-size:12px}
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
           leaves_out: Sequence[str] = (), headlines: Sequence[Any] = (), embed: Path | None = None) -> str:
    """The whole page as a string.

    Args:
        leaves_out: What the data does not cover.
        headlines: :class:`~eventkit.report.headline.Headline` figures for the top of the page.
        embed: The report folder: its charts and tables go inside the page (``data:`` URLs).
    """
    e = html.escape
    nav = " ".join(f'<a href="#{e(s.anchor)}">{e(s.title)}</a>' for s in sections)
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in summary)
    gaps = "".join(f"<li>{e(x)}</li>" for x in leaves_out)
    gaps = f'<h3 id="leaves-out">What this data leaves out</h3>\n<ul>{gaps}</ul>' if gaps else ""
    types = _table(event_types, max_rows) if event_types is not None and len(event_types) else ""
    shown: dict[str, Section] = {}
    parts = []
    for s in sections:
        first = shown.get(s.table_of) if s.table_of else None
        parts.append(_section(s, max_rows, embed, shown_in=first))
        if s.table_of and first is None:
            shown[s.table_of] = s
    body = "\n".join(parts)
    figures = _headlines(headlines)
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
{figures}
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


def _headlines(figures: Sequence[Any]) -> str:
    e = html.escape
    cells = []
    for f in figures:
        label = f'<a href="#{e(f.anchor)}">{e(f.label)}</a>' if f.anchor else e(f.label)
        unit = f'<span class="unit">{e(f.unit)}</span>' if f.unit else ""
        note = f'<div class="note">{e(f.note)}</div>' if f.note else ""
        cells.append(f'<div class="figure"><div class="label">{label}</div>'
                     f'<div class="value">{e(f.value)}{unit}</div>{note}</div>')
    return f'<section id="headlines" class="headlines">{"".join(cells)}</section>' if cells else ""


def _section(s: Section, max_rows: int, embed: Path | None, shown_in: Section | None = None) -> str:
    e = html.escape
    parts = [f'<section id="{e(s.anchor)}">', f"<h2>{e(s.title)}</h2>"]
    if s.description:
        parts.append(f"<p>{e(s.description)}</p>")
    parts += [f'<p class="meta">{e(n)}</p>' for n in s.notes]
    links = []
    if s.chart:
        png, svg = f"charts/{s.chart}.png", f"charts/{s.chart}.svg"
        w, h = s.chart_size
        src = _data_url(embed / png, "image/png") if embed else png
        panels = f' data-panels="{e(" ".join(s.panels))}"' if s.panels else ""
        parts.append(f'<img src="{e(src)}" alt="{e(s.title)}" width="{w}" height="{h}"{panels}>')
        if not embed:  # the SVG stays beside a page that travels alone
            links.append(f'<a href="{e(svg)}">chart as SVG</a>')
    csv_link = ""
    if s.csv:
        path = f"tables/{s.csv}"
        if embed and (embed / path).stat().st_size <= EMBED_CSV_BYTES:
            csv_link = f'<a href="{e(_data_url(embed / path, "text/csv"))}" download="{e(s.csv)}">table as CSV</a>'
        else:
            csv_link = f'<a href="{e(path)}">table as CSV</a>'
        links.append(csv_link)
    if links:
        parts.append(f'<p class="links">{" ".join(links)}</p>')
    if s.table is not None and shown_in is not None:
        parts.append(f'<p class="meta">Its table is shown under <a href="#{e(shown_in.anchor)}">'
                     f"{e(shown_in.title)}</a>.</p>")
    elif s.table is not None:
        n = len(s.table)
        if n > max_rows:
            # An embedded CSV is not repeated (it may be large): the note points at its link.
            where = "the CSV linked above" if embed or not csv_link else csv_link
            note = f"Table: the first {max_rows:,} of {n:,} rows; all of them in {where}."
        else:
            note = f"Table: {n:,} row{'' if n == 1 else 's'}."
        parts.append(f'<p class="meta">{note}</p>')
        parts.append(_table(s.table, max_rows))
    parts.append("</section>")
    return "\n".join(parts)


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _table(frame: pd.DataFrame, max_rows: int) -> str:
    e = html.escape
    head = frame.head(max_rows)
    text = [not pd.api.types.is_numeric_dtype(head[c]) for c in head.columns]
    cls = [' class="s"' if t else "" for t in text]
    ths = "".join(f"<th{c}>{e(_heading(head[col], col))}</th>" for col, c in zip(head.columns, cls))
    rows = []
    for row in head.itertuples(index=False):
        tds = "".join(f"<td{c}>{e(_cell(v))}</td>" for v, c in zip(row, cls))
        rows.append(f"<tr>{tds}</tr>")
    return f'<div class="scroll"><table><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _heading(column: pd.Series, name: Any) -> str:
    """A column's heading; a time column says its zone (``as_of (America/New_York)``)."""
    tz = getattr(column.dtype, "tz", None)
    return f"{name} ({tz})" if tz is not None else str(name)


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
