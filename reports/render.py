"""A report as a file: self-contained HTML (Plotly inlined, no CDN), CSV (injection-safe), PNG.

HTML goes through Jinja2 with autoescaping; the only markup not escaped is our own (Plotly's
bundled JavaScript, the page's script) and figure JSON with <, > and & escaped (`script_json`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any, TextIO

from jinja2 import Environment
from markupsafe import Markup

from reports import charts
from reports.cells import safe_cell
from reports.filters import INTENT_THRESHOLD
from reports.report import Report
from reports.types import MentionRow

FORMATS = ("html", "csv", "png")
# a spreadsheet runs a cell that starts with one of these as a formula
_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_PAGE = _ENV.from_string(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
.numbers { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 1rem; }
.number { border: 1px solid #ddd; border-radius: 6px; padding: .8rem; }
.number b { display: block; font-size: 1.6rem; }
.chart { min-height: 300px; margin: 1.5rem 0; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border-bottom: 1px solid #eee; padding: .3rem .8rem; text-align: left; }
</style>
<script>{{ plotly_js }}</script>
</head>
<body>
<h1>{{ title }}</h1>
<p>{{ since }} to {{ until }} (UTC), per {{ bucket }}</p>
<div class="numbers">
{% for label, value in numbers %}
<div class="number">{{ label }}<b>{{ value }}</b></div>
{% endfor %}
</div>
{% for name, figure in figures %}
<div class="chart" id="chart-{{ name }}"></div>
<script type="application/json" data-figure="chart-{{ name }}">{{ figure }}</script>
{% endfor %}
{% if gaps %}
<h2>Coverage gaps</h2>
<table><tr><th>source</th><th>status</th><th>from</th><th>to</th><th>error</th></tr>
{% for gap in gaps %}
<tr><td>{{ gap.source }}</td><td>{{ gap.status }}</td><td>{{ gap.start }}</td>
<td>{{ gap.end }}</td><td>{{ gap.error or "" }}</td></tr>
{% endfor %}
</table>
{% endif %}
<script>{{ boot }}</script>
</body>
</html>
"""
)
_BOOT = """
document.querySelectorAll('script[type="application/json"][data-figure]').forEach(function (el) {
  var figure = JSON.parse(el.textContent);
  Plotly.newPlot(el.dataset.figure, figure.data, figure.layout,
                 {displaylogo: false, responsive: true});
});
"""


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """Plotly's JavaScript bundle, from the installed package (never a CDN)."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    bundle: str = get_plotlyjs()
    # inside <script>, only "</script" could end the element early; the bundle has none
    return bundle.replace("</script", "<\\/script")


def headline(report: Report) -> list[tuple[str, str]]:
    """The headline numbers, as (label, value) text."""
    o = report.overview

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    return [
        ("Mentions", f"{o['volume']:,}"),
        ("Previous period", f"{o['previous_volume']:,}"),
        ("Negative", f"{o['sentiment'].get('negative', 0):,}"),
        ("Positive", f"{o['sentiment'].get('positive', 0):,}"),
        ("Uncertain labels", share(o["uncertain_share"])),
        ("Open tasks", f"{o['open_tasks']:,}"),
        ("SLA met", share(o["sla_met_share"])),
        ("Brand health", "-" if o["brand_health"] is None else f"{o['brand_health']:.0f}/100"),
    ]


def html(report: Report, author_label: charts.Label | None = None, title: str = "") -> str:
    """The report as one HTML file that works offline."""
    figures = charts.figures(report, author_label)
    return _PAGE.render(
        title=title or "Social listening report",
        since=f"{report.since:%Y-%m-%d %H:%M}",
        until=f"{report.until:%Y-%m-%d %H:%M}",
        bucket=report.bucket,
        numbers=headline(report),
        # JSON with <, > and & escaped: nothing in it can end the element
        figures=[(name, Markup(charts.script_json(fig))) for name, fig in figures.items()],  # noqa: S704
        gaps=report.coverage,
        # our own code: Plotly's bundle from the installed package and the page's few lines
        plotly_js=Markup(plotly_js()),  # noqa: S704
        boot=Markup(_BOOT),  # noqa: S704
    )


def write_rows(out: TextIO, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    """CSV with every cell made safe."""
    writer = csv.writer(out)
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)


def report_rows(report: Report, author_label: charts.Label | None = None) -> Iterator[list[Any]]:
    """The report as long rows: (section, key, series, value)."""
    name = author_label or (lambda handle: handle)
    overview = report.overview
    for key in ("volume", "previous_volume", "uncertain_share", "open_tasks", "sla_met_share"):
        yield ["overview", key, "", overview[key]]
    yield ["overview", "brand_health", "", overview["brand_health"]]
    for sentiment, count in overview["sentiment"].items():
        yield ["overview", "sentiment", sentiment, count]
    for point in report.trend:
        for series in ("negative", "neutral", "positive", "unlabelled", "uncertain_share"):
            yield ["sentiment_trend", point["bucket"], series, point[series]]
    for row in report.volume:
        yield ["volume_by_source", row["bucket"], row["source"], row["count"]]
    for voice in report.voice:
        yield ["share_of_voice", voice["name"], voice["kind"], voice["count"]]
    for intent_point in report.intents:
        for intent, count in intent_point["counts"].items():
            yield ["intents_over_time", intent_point["bucket"], intent, count]
    for term in report.terms:
        yield ["top_terms", term["term"], "", term["count"]]
    for author in report.authors:
        yield ["top_authors", name(author["handle"]), author["source"], author["followers"]]
    for group in ("by_queue", "by_person"):
        for stats in report.responses[group]:
            for metric in ("tasks", "first_response_minutes", "sla_met_share"):
                yield [f"response_times_{group}", stats["name"], metric, stats[metric]]
    for outcome, count in report.outcomes["outcomes"].items():
        yield ["reply_outcomes", outcome, "", count]
    for gap in report.coverage:
        yield [
            "coverage",
            gap["source"],
            gap["status"],
            f"{gap['start']:%Y-%m-%dT%H:%MZ}/{gap['end']:%Y-%m-%dT%H:%MZ}",
        ]


def csv_text(report: Report, author_label: charts.Label | None = None) -> str:
    """The report as CSV text."""
    out = io.StringIO()
    write_rows(out, ("section", "key", "series", "value"), report_rows(report, author_label))
    return out.getvalue()


MENTION_COLUMNS = (
    "id",
    "created_at",
    "source",
    "query",
    "author",
    "sentiment",
    "uncertain",
    "intents",
    "text",
    "url",
)


def write_mentions(
    out: TextIO, rows: Iterable[MentionRow], author_label: charts.Label | None = None
) -> None:
    """A filtered mention list as CSV (e.g. from `queries.iter_mentions`), injection-safe."""
    name = author_label or (lambda handle: handle)
    write_rows(
        out,
        MENTION_COLUMNS,
        (
            [
                row.id,
                row.created_at,
                row.source,
                row.matched_query,
                name(row.author_handle),
                row.sentiment,
                row.uncertain,
                " ".join(k for k, p in sorted(row.intents.items()) if p >= INTENT_THRESHOLD),
                row.text,
                row.url,
            ]
            for row in rows
        ),
    )


def render(report: Report, fmt: str, author_label: charts.Label | None = None) -> bytes:
    """The report in `fmt` (html | csv | png) as bytes to write."""
    if fmt == "html":
        return html(report, author_label).encode("utf-8")
    if fmt == "csv":
        return csv_text(report, author_label).encode("utf-8")
    if fmt == "png":
        from reports.pictures import png  # matplotlib: 0.4 s to import, only for this format

        return png(report)
    raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
