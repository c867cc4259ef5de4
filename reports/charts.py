"""Plotly figures of a report, as plain figure specs; coverage gaps are shaded on every time chart.

A figure is the JSON that Plotly.js draws: `{"data": [traces], "layout": {...}}`, built as dicts
with no `plotly.graph_objects` (whose validation cost more than every query of a page). The
layout carries the `plotly_white` template in full, as `graph_objects` used to expand it.

Text from the internet (terms, handles, names) goes into a figure HTML-escaped: Plotly draws
labels through its own small HTML subset (<b>, <a href>...), which must see none of ours.
Figures reach a page as JSON in a `<script type="application/json">` element: `script_json`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files
from typing import Any

from reports.report import Report
from reports.types import CoverageGap

SENTIMENT_COLOURS = {
    "negative": "#d62728",
    "neutral": "#9e9e9e",
    "positive": "#2ca02c",
    "unlabelled": "#d9d9d9",
}
GAP_COLOURS = {
    "failing": "#d62728",
    "rate_limited": "#ff7f0e",
    "not_configured": "#7f7f7f",
    "not_running": "#9467bd",
}
GAP_NAMES = {
    "failing": "source failing",
    "rate_limited": "source rate-limited",
    "not_configured": "source not configured",
    "not_running": "nothing collected (not running)",
}
TEMPLATE_NAME = "plotly_white"
LAYOUT: dict[str, Any] = {
    "margin": {"l": 50, "r": 20, "t": 50, "b": 40},
    "legend": {"orientation": "h", "y": -0.15},
    "height": 360,
}
Label = Callable[[str], str]
# a figure spec; its layout's template is shared by every figure: read it, never change it
Figure = dict[str, Any]


def _field(row: Mapping[str, object], key: str) -> object:
    return row[key]


def safe(value: object) -> str:
    """Text for a figure: HTML-escaped, so Plotly shows it as it is."""
    return html.escape(str(value), quote=True)


@lru_cache(maxsize=1)
def template() -> dict[str, Any]:
    """The `plotly_white` template from the installed plotly package (read once)."""
    path = files("plotly") / "package_data" / "templates" / f"{TEMPLATE_NAME}.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _period(report: Report) -> dict[str, Any]:
    """Trace options that put a bucket's point in the middle of its day or week."""
    days = 1 if report.bucket == "day" else 7
    # 2024-01-01 was a Monday: weeks start on Mondays, as the queries' buckets do
    return {"xperiod": days * 86_400_000, "xperiod0": "2024-01-01", "xperiodalignment": "middle"}


def _figure(title: str, *traces: dict[str, Any], **layout: Any) -> Figure:
    """A figure of `traces` with the common layout, a title and `layout` on top."""
    merged = {"template": template(), **LAYOUT, "title": {"text": title}, **layout}
    return {"data": list(traces), "layout": merged}


def _trace(kind: str, **options: Any) -> dict[str, Any]:
    """A trace of type `kind`; options set to None are left out, as Plotly leaves them."""
    return {"type": kind, **{key: value for key, value in options.items() if value is not None}}


def shade_gaps(figure: Figure, gaps: list[CoverageGap]) -> Figure:
    """Shade each coverage gap across the chart, with one legend entry per kind of gap."""
    shapes = figure["layout"].setdefault("shapes", []) if gaps else []
    kinds: dict[str, set[str]] = {}
    for gap in gaps:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "y domain",
                "x0": gap["start"],
                "x1": gap["end"],
                "y0": 0,
                "y1": 1,
                "fillcolor": GAP_COLOURS.get(gap["status"], "#7f7f7f"),
                "opacity": 0.12,
                "layer": "below",
                "line": {"width": 0},
            }
        )
        kinds.setdefault(gap["status"], set()).add(gap["source"])
    for kind, sources in sorted(kinds.items()):
        marker = {"size": 12, "symbol": "square", "color": GAP_COLOURS.get(kind)}
        figure["data"].append(
            _trace(
                "scatter",
                x=[None],
                y=[None],
                mode="markers",
                marker={key: value for key, value in marker.items() if value is not None},
                name=safe(f"{GAP_NAMES.get(kind, kind)}: {', '.join(sorted(sources))}"),
            )
        )
    return figure


def sentiment_trend(report: Report) -> Figure:
    """Stacked mentions per sentiment per bucket, and the uncertain share as a line."""
    x = [point["bucket"] for point in report.trend]
    bars = [
        _trace(
            "bar",
            x=x,
            y=[_field(point, name) for point in report.trend],
            name=name,
            marker={"color": colour},
            **_period(report),
        )
        for name, colour in SENTIMENT_COLOURS.items()
    ]
    share = _trace(
        "scatter",
        x=x,
        y=[point["uncertain_share"] for point in report.trend],
        name="uncertain share",
        yaxis="y2",
        mode="lines+markers",
        line={"color": "#1f77b4", "dash": "dot"},
        **_period(report),
    )
    figure = _figure(
        f"Sentiment per {report.bucket}",
        *bars,
        share,
        barmode="stack",
        yaxis2={"overlaying": "y", "side": "right", "range": [0, 1], "tickformat": ".0%"},
    )
    return shade_gaps(figure, report.coverage)


def volume_by_source(report: Report) -> Figure:
    """Mentions per source per bucket."""
    series: dict[str, list[tuple[Any, int]]] = {}
    for row in report.volume:
        series.setdefault(row["source"], []).append((row["bucket"], row["count"]))
    lines = [
        _trace(
            "scatter",
            x=[x for x, _ in points],
            y=[y for _, y in points],
            name=safe(source),
            mode="lines+markers",
            **_period(report),
        )
        for source, points in sorted(series.items())
    ]
    return shade_gaps(_figure(f"Mentions per source per {report.bucket}", *lines), report.coverage)


def share_of_voice(report: Report) -> Figure:
    """The brand against each competitor, by mentions."""
    pie = _trace(
        "pie",
        labels=[safe(row["name"]) for row in report.voice],
        values=[row["count"] for row in report.voice],
        hole=0.45,
        sort=False,
    )
    return _figure("Share of voice", pie)


def intents_over_time(report: Report) -> Figure:
    """Mentions with each intent per bucket."""
    names = sorted({name for point in report.intents for name in point["counts"]})
    x = [point["bucket"] for point in report.intents]
    lines = [
        _trace(
            "scatter",
            x=x,
            y=[point["counts"].get(name, 0) for point in report.intents],
            name=safe(name.replace("_", " ")),
            mode="lines+markers",
            **_period(report),
        )
        for name in names
    ]
    return shade_gaps(_figure(f"Intents per {report.bucket}", *lines), report.coverage)


def top_terms(report: Report) -> Figure:
    """The commonest words of recent mentions (a sample)."""
    terms = list(reversed(report.terms))
    bars = _trace(
        "bar",
        x=[term["count"] for term in terms],
        y=[safe(term["term"]) for term in terms],
        orientation="h",
        marker={"color": "#1f77b4"},
    )
    return _figure("Top terms (recent sample)", bars, height=max(300, 22 * len(terms) + 80))


def top_authors(report: Report, label: Label | None = None) -> Figure:
    """Authors by reach (followers), with their mentions; `label` may pseudonymise them."""
    authors = list(reversed(report.authors))
    name = label or (lambda handle: handle)
    bars = _trace(
        "bar",
        x=[author["followers"] or 0 for author in authors],
        y=[safe(f"{name(author['handle'])} ({author['source']})") for author in authors],
        text=[f"{author['mentions']} mentions" for author in authors],
        orientation="h",
        marker={"color": "#9467bd"},
    )
    return _figure("Top authors by reach", bars, height=max(300, 26 * len(authors) + 80))


def response_times(report: Report) -> Figure:
    """Mean first response and resolution per queue, in minutes, with SLA met %."""
    rows = report.responses["by_queue"]
    names = [safe(row["name"]) for row in rows]
    met = [
        "SLA met: -" if row["sla_met_share"] is None else f"SLA met: {row['sla_met_share']:.0%}"
        for row in rows
    ]
    bars = [
        _trace("bar", x=names, y=[_field(row, key) for row in rows], name=title, hovertext=met)
        for key, title in (
            ("first_response_minutes", "first response"),
            ("resolution_minutes", "resolution"),
        )
    ]
    return _figure("Response times per queue (minutes)", *bars, barmode="group")


def reply_outcomes(report: Report) -> Figure:
    """Answered conversations by what the author did next."""
    outcomes = report.outcomes["outcomes"]
    bars = _trace(
        "bar",
        x=[safe(name) for name in outcomes],
        y=list(outcomes.values()),
        marker={"color": "#17becf"},
    )
    return _figure("Reply outcomes", bars)


def coverage(report: Report) -> Figure:
    """When each source was failing, rate-limited or not configured: one line per gap."""
    lines = [
        _trace(
            "scatter",
            x=[gap["start"], gap["end"]],
            y=[safe(gap["source"]), safe(gap["source"])],
            mode="lines",
            line={"width": 14, "color": GAP_COLOURS.get(gap["status"], "#7f7f7f")},
            name=safe(f"{gap['source']}: {GAP_NAMES.get(gap['status'], gap['status'])}"),
            hovertext=safe(gap["error"] or gap["status"]),
            showlegend=False,
        )
        for gap in report.coverage
    ]
    return _figure("Source coverage gaps", *lines, xaxis={"range": [report.since, report.until]})


def brand_health(report: Report) -> Figure:
    """The brand-health score as a gauge (0..100)."""
    score = report.overview["brand_health"]
    gauge = _trace(
        "indicator",
        mode="gauge+number",
        value=score if score is not None else 0,
        number={"suffix": "" if score is not None else " (no data)"},
        gauge={"axis": {"range": [0, 100]}, "bar": {"color": "#1f77b4"}},
    )
    return _figure("Brand health", gauge, height=260)


def figures(report: Report, author_label: Label | None = None) -> dict[str, Figure]:
    """Every chart of a report, by name (the order a page shows them)."""
    return {
        "brand_health": brand_health(report),
        "sentiment_trend": sentiment_trend(report),
        "volume_by_source": volume_by_source(report),
        "share_of_voice": share_of_voice(report),
        "intents_over_time": intents_over_time(report),
        "top_terms": top_terms(report),
        "top_authors": top_authors(report, author_label),
        "response_times": response_times(report),
        "reply_outcomes": reply_outcomes(report),
        "coverage": coverage(report),
    }


def to_json(figure: Figure) -> str:
    """A figure as compact JSON text; dates and times in ISO 8601, as Plotly writes them."""
    return json.dumps(figure, default=_default, separators=(",", ":"))


def to_dict(figure: Figure) -> dict[str, Any]:
    """A figure as plain JSON data (a copy: dates and times as text)."""
    return json.loads(to_json(figure))  # type: ignore[no-any-return]


def script_json(figure: Figure) -> str:
    """JSON for a `<script type="application/json">` element: <, > and & escaped, so no data
    can close the element or open a comment."""
    text = to_json(figure)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)
