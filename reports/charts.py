"""Plotly figures of a report; coverage gaps are shaded on every chart over time.

Text from the internet (terms, handles, names) goes into a figure HTML-escaped: Plotly draws
labels through its own small HTML subset (<b>, <a href>...), which must see none of ours.
Figures reach a page as JSON in a `<script type="application/json">` element: `script_json`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]

from reports.report import Report
from reports.types import CoverageGap

SENTIMENT_COLOURS = {
    "negative": "#d62728",
    "neutral": "#9e9e9e",
    "positive": "#2ca02c",
    "unlabelled": "#d9d9d9",
}
GAP_COLOURS = {"failing": "#d62728", "rate_limited": "#ff7f0e", "not_configured": "#7f7f7f"}
GAP_NAMES = {
    "failing": "source failing",
    "rate_limited": "source rate-limited",
    "not_configured": "source not configured",
}
LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 50, "r": 20, "t": 50, "b": 40},
    "legend": {"orientation": "h", "y": -0.15},
    "height": 360,
}
Label = Callable[[str], str]


def _field(row: Mapping[str, object], key: str) -> object:
    return row[key]


def safe(value: object) -> str:
    """Text for a figure: HTML-escaped, so Plotly shows it as it is."""
    return html.escape(str(value), quote=True)


def _period(report: Report) -> dict[str, Any]:
    """Trace options that put a bucket's point in the middle of its day or week."""
    days = 1 if report.bucket == "day" else 7
    # 2024-01-01 was a Monday: weeks start on Mondays, as the queries' buckets do
    return {"xperiod": days * 86_400_000, "xperiod0": "2024-01-01", "xperiodalignment": "middle"}


def _figure(title: str, **layout: Any) -> go.Figure:
    return go.Figure(layout={**LAYOUT, "title": {"text": title}, **layout})


def shade_gaps(figure: go.Figure, gaps: list[CoverageGap]) -> go.Figure:
    """Shade each coverage gap across the chart, with one legend entry per kind of gap."""
    kinds: dict[str, set[str]] = {}
    for gap in gaps:
        figure.add_vrect(
            x0=gap["start"],
            x1=gap["end"],
            fillcolor=GAP_COLOURS.get(gap["status"], "#7f7f7f"),
            opacity=0.12,
            layer="below",
            line_width=0,
        )
        kinds.setdefault(gap["status"], set()).add(gap["source"])
    for kind, sources in sorted(kinds.items()):
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"size": 12, "symbol": "square", "color": GAP_COLOURS.get(kind)},
                name=safe(f"{GAP_NAMES.get(kind, kind)}: {', '.join(sorted(sources))}"),
            )
        )
    return figure


def sentiment_trend(report: Report) -> go.Figure:
    """Stacked mentions per sentiment per bucket, and the uncertain share as a line."""
    figure = _figure(
        f"Sentiment per {report.bucket}",
        barmode="stack",
        yaxis2={"overlaying": "y", "side": "right", "range": [0, 1], "tickformat": ".0%"},
    )
    x = [point["bucket"] for point in report.trend]
    for name, colour in SENTIMENT_COLOURS.items():
        figure.add_trace(
            go.Bar(
                x=x,
                y=[_field(point, name) for point in report.trend],
                name=name,
                marker_color=colour,
                **_period(report),
            )
        )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=[point["uncertain_share"] for point in report.trend],
            name="uncertain share",
            yaxis="y2",
            mode="lines+markers",
            line={"color": "#1f77b4", "dash": "dot"},
            **_period(report),
        )
    )
    return shade_gaps(figure, report.coverage)


def volume_by_source(report: Report) -> go.Figure:
    """Mentions per source per bucket."""
    figure = _figure(f"Mentions per source per {report.bucket}")
    series: dict[str, list[tuple[Any, int]]] = {}
    for row in report.volume:
        series.setdefault(row["source"], []).append((row["bucket"], row["count"]))
    for source, points in sorted(series.items()):
        figure.add_trace(
            go.Scatter(
                x=[x for x, _ in points],
                y=[y for _, y in points],
                name=safe(source),
                mode="lines+markers",
                **_period(report),
            )
        )
    return shade_gaps(figure, report.coverage)


def share_of_voice(report: Report) -> go.Figure:
    """The brand against each competitor, by mentions."""
    figure = _figure("Share of voice")
    figure.add_trace(
        go.Pie(
            labels=[safe(row["name"]) for row in report.voice],
            values=[row["count"] for row in report.voice],
            hole=0.45,
            sort=False,
        )
    )
    return figure


def intents_over_time(report: Report) -> go.Figure:
    """Mentions with each intent per bucket."""
    figure = _figure(f"Intents per {report.bucket}")
    names = sorted({name for point in report.intents for name in point["counts"]})
    x = [point["bucket"] for point in report.intents]
    for name in names:
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[point["counts"].get(name, 0) for point in report.intents],
                name=safe(name.replace("_", " ")),
                mode="lines+markers",
                **_period(report),
            )
        )
    return shade_gaps(figure, report.coverage)


def top_terms(report: Report) -> go.Figure:
    """The commonest words of recent mentions (a sample)."""
    terms = list(reversed(report.terms))
    figure = _figure("Top terms (recent sample)", height=max(300, 22 * len(terms) + 80))
    figure.add_trace(
        go.Bar(
            x=[term["count"] for term in terms],
            y=[safe(term["term"]) for term in terms],
            orientation="h",
            marker_color="#1f77b4",
        )
    )
    return figure


def top_authors(report: Report, label: Label | None = None) -> go.Figure:
    """Authors by reach (followers), with their mentions; `label` may pseudonymise them."""
    authors = list(reversed(report.authors))
    name = label or (lambda handle: handle)
    figure = _figure("Top authors by reach", height=max(300, 26 * len(authors) + 80))
    figure.add_trace(
        go.Bar(
            x=[author["followers"] or 0 for author in authors],
            y=[safe(f"{name(author['handle'])} ({author['source']})") for author in authors],
            text=[f"{author['mentions']} mentions" for author in authors],
            orientation="h",
            marker_color="#9467bd",
        )
    )
    return figure


def response_times(report: Report) -> go.Figure:
    """Mean first response and resolution per queue, in minutes, with SLA met %."""
    rows = report.responses["by_queue"]
    figure = _figure("Response times per queue (minutes)", barmode="group")
    names = [safe(row["name"]) for row in rows]
    met = [
        "SLA met: -" if row["sla_met_share"] is None else f"SLA met: {row['sla_met_share']:.0%}"
        for row in rows
    ]
    for key, title in (
        ("first_response_minutes", "first response"),
        ("resolution_minutes", "resolution"),
    ):
        figure.add_trace(
            go.Bar(x=names, y=[_field(row, key) for row in rows], name=title, hovertext=met)
        )
    return figure


def reply_outcomes(report: Report) -> go.Figure:
    """Answered conversations by what the author did next."""
    outcomes = report.outcomes["outcomes"]
    figure = _figure("Reply outcomes")
    figure.add_trace(
        go.Bar(
            x=[safe(name) for name in outcomes], y=list(outcomes.values()), marker_color="#17becf"
        )
    )
    return figure


def coverage(report: Report) -> go.Figure:
    """When each source was failing, rate-limited or not configured: one line per gap."""
    figure = _figure("Source coverage gaps", xaxis={"range": [report.since, report.until]})
    for gap in report.coverage:
        figure.add_trace(
            go.Scatter(
                x=[gap["start"], gap["end"]],
                y=[safe(gap["source"]), safe(gap["source"])],
                mode="lines",
                line={"width": 14, "color": GAP_COLOURS.get(gap["status"], "#7f7f7f")},
                name=safe(f"{gap['source']}: {GAP_NAMES.get(gap['status'], gap['status'])}"),
                hovertext=safe(gap["error"] or gap["status"]),
                showlegend=False,
            )
        )
    return figure


def brand_health(report: Report) -> go.Figure:
    """The brand-health score as a gauge (0..100)."""
    score = report.overview["brand_health"]
    figure = _figure("Brand health", height=260)
    figure.add_trace(
        go.Indicator(
            mode="gauge+number",
            value=score if score is not None else 0,
            number={"suffix": "" if score is not None else " (no data)"},
            gauge={"axis": {"range": [0, 100]}, "bar": {"color": "#1f77b4"}},
        )
    )
    return figure


def figures(report: Report, author_label: Label | None = None) -> dict[str, go.Figure]:
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


def to_dict(figure: go.Figure) -> dict[str, Any]:
    """A figure as plain JSON data."""
    return json.loads(pio.to_json(figure, validate=False))  # type: ignore[no-any-return]


def script_json(figure: go.Figure | dict[str, Any]) -> str:
    """JSON for a `<script type="application/json">` element: <, > and & escaped, so no data
    can close the element or open a comment."""
    text = pio.to_json(figure, validate=False) if isinstance(figure, go.Figure) else None
    text = text or json.dumps(figure, default=_default)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
