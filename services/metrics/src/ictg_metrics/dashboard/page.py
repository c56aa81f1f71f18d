"""The dashboard page: one release's headline charts, each beside its data table and a CSV of its values,
in GOV.UK's type and colours. Plain HTML: no script, nothing fetched (the charts are inline SVG images),
so it reads the same without JavaScript, saved to a file, or behind a network that blocks other hosts."""

from __future__ import annotations

import base64
import csv
import io
from datetime import date
from html import escape
from typing import Any
from urllib.parse import quote

from .charts import ChartData

STYLE = """
body{margin:0;font-family:"GDS Transport",arial,sans-serif;color:#0b0c0c;background:#fff;line-height:1.4}
a{color:#1d70b8}a:visited{color:#4c2c92}a:hover{color:#003078}
a:focus{outline:3px solid transparent;color:#0b0c0c;background:#ffdd00;box-shadow:0 -2px #ffdd00,0 4px #0b0c0c;text-decoration:none}
.skip{position:absolute;left:-9999px}.skip:focus{position:static}
header{background:#0b0c0c;color:#fff;padding:12px 30px;font-weight:700;font-size:1.2rem}
main{max-width:960px;margin:0 auto;padding:20px 30px 60px}
h1{font-size:2rem;margin:20px 0 10px}h2{font-size:1.5rem;margin-top:40px;border-top:2px solid #1d70b8;padding-top:15px}
.lead{font-size:1.15rem}
figure{margin:10px 0}figure img{max-width:100%;height:auto}figcaption{color:#505a5f;font-size:.9rem}
table{border-collapse:collapse;margin:10px 0 20px;font-size:.95rem}
caption{text-align:left;font-weight:700;padding-bottom:5px}
th,td{border-bottom:1px solid #b1b4b6;padding:6px 12px 6px 0;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.links a{margin-right:20px}
footer{border-top:1px solid #b1b4b6;padding:20px 30px;color:#505a5f;font-size:.9rem}
"""


def _number(mark: str) -> str:
    """A value as the table shows it: thousands separated; `[c]` and `[x]` as they are."""
    try:
        value = float(mark)
    except ValueError:
        return mark
    return f"{int(value):,}" if value.is_integer() and "." not in mark else f"{value:,}"


def _csv_link(chart: ChartData, release: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(chart.csv_rows())
    href = "data:text/csv;charset=utf-8," + quote(buf.getvalue())
    name = f"ictg-release-{release}-dashboard-{chart.id}.csv"
    return f'<a href="{href}" download="{escape(name)}">Download this chart\'s data (CSV)</a>'


def _table(chart: ChartData) -> str:
    head = "".join(
        f'<th scope="col">{escape(h)}</th>' for h in (chart.category_header, *(s.label for s in chart.series))
    )
    body = []
    for i, category in enumerate(chart.categories):
        cells = "".join(f'<td class="n">{escape(_number(s.marks[i]))}</td>' for s in chart.series)
        body.append(f'<tr><th scope="row">{escape(category)}</th>{cells}</tr>')
    return (f'<table><caption>The data of the chart: {escape(chart.title)} ({escape(chart.unit)})</caption>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')  # fmt: skip


def _section(chart: ChartData, svg: str, release: str) -> str:
    image = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    table_url = f"/v1/releases/{release}/tables/{chart.table}"
    return (
        f'<section id="{chart.id}" aria-labelledby="{chart.id}-title">'
        f'<h2 id="{chart.id}-title">{escape(chart.title)}</h2>'
        f'<figure><img src="{image}" alt="{escape(chart.summary)}">'
        f"<figcaption>Source: release {escape(release)}, table <code>{escape(chart.table)}</code>. "
        "[c] withheld to protect confidentiality; [x] not applicable.</figcaption></figure>"
        f'<p class="links">{_csv_link(chart, release)}'
        f'<a href="{escape(table_url)}?format=csv">The whole table (CSV, from the API)</a></p>'
        f"{_table(chart)}</section>"
    )


def page(*, release: Any, charts: list[tuple[ChartData, str]], releases: list[str], partial: list[str]) -> str:
    """The whole page for a stored release (`release`: its row), its charts with their SVGs, and the names
    of every release (for links to the others)."""
    name = escape(release.release)
    as_at: date = release.as_at
    pt = release.disclosure.get("ptable", {})
    contents = "".join(f'<li><a href="#{c.id}">{escape(c.title)}</a></li>' for c, _ in charts)
    others = "".join(
        f'<li><a href="/dashboard?release={escape(r)}">Release {escape(r)}</a></li>'
        for r in releases
        if r != release.release
    )
    revised = (
        f"{len(release.revisions)} values of earlier periods are published differently from release "
        f"{escape(release.previous)} (listed in the release's revision notes)."
        if release.revisions
        else f"No value of an earlier period changed since release {escape(release.previous)}."
        if release.previous
        else "This is the first release."
    )
    return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ICTG service statistics, release {name}: dashboard</title><style>{STYLE}</style></head>
<body><a class="skip" href="#main">Skip to main content</a>
<header>Independent Child Trafficking Guardian service statistics</header>
<main id="main">
<h1>Release {name}: headline figures</h1>
<p class="lead">Children referred to the Independent Child Trafficking Guardian service in England and Wales, and
their support, as at {as_at.day} {as_at:%B %Y}. Published {release.published_at:%d %B %Y}.</p>
<p>Every figure here is a value the release published: counts perturbed by the cell key method (ptable
{escape(str(pt.get("name")))}, threshold {escape(str(pt.get("threshold")))}, noise of at most
±{escape(str(pt.get("max_noise")))}), values under the threshold withheld as [c]. Nothing is added up here: a
chart leaves a gap where a value is withheld. {revised} Partial periods (not over at the as-at date, and bound
to change): {escape(", ".join(partial)) if partial else "none"}.</p>
<p class="links"><a href="/v1/releases/{name}/workbook.ods">The release as a spreadsheet (ODS)</a>
<a href="/v1/releases/{name}/workbook.xlsx">(Excel)</a> <a href="/v1/releases/{name}">The release (JSON)</a></p>
<nav aria-label="Charts on this page"><h2>Contents</h2><ul>{contents}</ul></nav>
{"".join(_section(c, svg, release.release) for c, svg in charts)}
<nav aria-label="Other releases"><h2>Other releases</h2><ul>{others or "<li>None yet</li>"}</ul></nav>
</main>
<footer>Source: the ICTG service's case records. Released monthly; each release is computed once and never
changed, later releases may revise earlier periods.</footer>
</body></html>
"""
