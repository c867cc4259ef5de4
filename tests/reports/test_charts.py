"""Chart figures as plain Plotly specs: the traces, shapes and layout of a known report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
import pytest

from reports import charts
from reports.report import Report
from reports.types import CoverageGap, ResponseStats

DAYS = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
EVIL = "<b>evil</b>&co"
PERIOD = {"xperiod": 86_400_000, "xperiod0": "2024-01-01", "xperiodalignment": "middle"}


def _at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, 2 + day, hour, tzinfo=UTC)


def _stats(
    name: str, first: float | None, resolution: float | None, met: float | None
) -> ResponseStats:
    return ResponseStats(
        name=name,
        tasks=2,
        answered=1,
        first_response_minutes=first,
        resolution_minutes=resolution,
        sla_met_share=met,
    )


def _report(**changes: Any) -> Report:
    """Three days: two sources (one with a hostile name), brand against a competitor, a gap."""
    gap = CoverageGap(
        source="reddit", status="failing", start=_at(1), end=_at(1, 6), error="boom <x>"
    )
    values: dict[str, Any] = {
        "since": _at(0),
        "until": _at(3),
        "bucket": "day",
        "overview": {
            "since": _at(0),
            "until": _at(3),
            "volume": 5,
            "previous_volume": 2,
            "sentiment": {"negative": 2, "neutral": 1, "positive": 1, "unlabelled": 1},
            "uncertain_share": 0.25,
            "open_tasks": 1,
            "sla_met_share": 0.5,
            "brand_health": 47.5,
        },
        "trend": [
            {
                "bucket": DAYS[0],
                "negative": 1,
                "neutral": 0,
                "positive": 1,
                "unlabelled": 0,
                "total": 2,
                "uncertain_share": 0.5,
            },
            {
                "bucket": DAYS[1],
                "negative": 1,
                "neutral": 0,
                "positive": 0,
                "unlabelled": 1,
                "total": 2,
                "uncertain_share": 0.0,
            },
            {
                "bucket": DAYS[2],
                "negative": 0,
                "neutral": 1,
                "positive": 0,
                "unlabelled": 0,
                "total": 1,
                "uncertain_share": None,
            },
        ],
        "volume": [
            {"bucket": DAYS[0], "source": "reddit", "count": 2},
            {"bucket": DAYS[1], "source": EVIL, "count": 1},
            {"bucket": DAYS[1], "source": "reddit", "count": 1},
            {"bucket": DAYS[2], "source": "reddit", "count": 1},
        ],
        "voice": [
            {
                "name": "brand",
                "kind": "brand",
                "count": 3,
                "share": 0.6,
                "positive": 1,
                "negative": 1,
            },
            {
                "name": EVIL,
                "kind": "competitor",
                "count": 2,
                "share": 0.4,
                "positive": 0,
                "negative": 1,
            },
        ],
        "intents": [
            {"bucket": DAYS[0], "counts": {"complaint": 1, "purchase_intent": 0}, "total": 2},
            {"bucket": DAYS[2], "counts": {"complaint": 0, "purchase_intent": 2}, "total": 1},
        ],
        "terms": [{"term": "refund", "count": 3}, {"term": EVIL, "count": 1}],
        "authors": [
            {
                "author_id": 1,
                "source": "reddit",
                "handle": "big",
                "display_name": None,
                "followers": 5000,
                "mentions": 1,
                "negative": 1,
                "customer_id": None,
            },
            {
                "author_id": 2,
                "source": "mastodon",
                "handle": EVIL,
                "display_name": None,
                "followers": None,
                "mentions": 3,
                "negative": 0,
                "customer_id": None,
            },
        ],
        "responses": {
            "overall": _stats("all", 30.0, 90.0, 0.5),
            "by_queue": [_stats("support", 30.0, None, 0.5), _stats(EVIL, None, 12.5, None)],
            "by_person": [],
        },
        "outcomes": {"replies": {}, "outcomes": {"improved": 2, "silent": 1}},
        "coverage": [gap],
    }
    return Report(**{**values, **changes})


@pytest.fixture
def report() -> Report:
    """The known report."""
    return _report()


def test_every_figure_is_a_valid_plotly_spec_exactly_as_plotly_writes_it(report: Report) -> None:
    for name, spec in charts.figures(report).items():
        written = json.loads(pio.to_json(go.Figure(spec)))  # validates every property
        assert charts.to_dict(spec) == written, name
        assert written["layout"]["template"]["layout"]["plot_bgcolor"] == "white", name


def test_sentiment_trend_has_a_bar_per_sentiment_the_uncertain_line_and_the_gap(
    report: Report,
) -> None:
    figure = charts.to_dict(charts.sentiment_trend(report))
    x = ["2026-03-02", "2026-03-03", "2026-03-04"]
    bars = {
        t["name"]: (t["type"], t["x"], t["y"], t["marker"]["color"]) for t in figure["data"][:4]
    }
    assert bars == {
        "negative": ("bar", x, [1, 1, 0], "#d62728"),
        "neutral": ("bar", x, [0, 0, 1], "#9e9e9e"),
        "positive": ("bar", x, [1, 0, 0], "#2ca02c"),
        "unlabelled": ("bar", x, [0, 1, 0], "#d9d9d9"),
    }
    assert all(t["xperiod"] == 86_400_000 for t in figure["data"][:5])
    share = figure["data"][4]
    assert (share["name"], share["yaxis"], share["y"]) == (
        "uncertain share",
        "y2",
        [0.5, 0.0, None],
    )
    legend = figure["data"][5]
    assert (legend["name"], legend["x"], legend["marker"]["color"]) == (
        "source failing: reddit",
        [None],
        "#d62728",
    )
    assert figure["layout"]["shapes"] == [
        {
            "type": "rect",
            "xref": "x",
            "yref": "y domain",
            "x0": "2026-03-03T00:00:00+00:00",
            "x1": "2026-03-03T06:00:00+00:00",
            "y0": 0,
            "y1": 1,
            "fillcolor": "#d62728",
            "opacity": 0.12,
            "layer": "below",
            "line": {"width": 0},
        }
    ]
    assert figure["layout"]["title"] == {"text": "Sentiment per day"}
    assert figure["layout"]["barmode"] == "stack"
    assert figure["layout"]["yaxis2"]["range"] == [0, 1]


def test_week_buckets_are_drawn_a_week_wide(report: Report) -> None:
    weekly = _report(bucket="week")
    figure = charts.to_dict(charts.volume_by_source(weekly))
    assert {t["xperiod"] for t in figure["data"] if "xperiod" in t} == {7 * 86_400_000}
    assert figure["layout"]["title"]["text"] == "Mentions per source per week"


def test_volume_has_a_line_per_source_with_hostile_names_escaped(report: Report) -> None:
    figure = charts.to_dict(charts.volume_by_source(report))
    lines = [(t["name"], t["x"], t["y"]) for t in figure["data"] if t["mode"] == "lines+markers"]
    assert lines == [
        ("&lt;b&gt;evil&lt;/b&gt;&amp;co", ["2026-03-03"], [1]),
        ("reddit", ["2026-03-02", "2026-03-03", "2026-03-04"], [2, 1, 1]),
    ]
    assert lines[0][0] == charts.safe(EVIL)
    assert len(figure["layout"]["shapes"]) == 1
    assert all(trace[key] == value for trace in figure["data"][:2] for key, value in PERIOD.items())


def test_share_of_voice_is_a_donut_of_brand_and_competitors(report: Report) -> None:
    (pie,) = charts.to_dict(charts.share_of_voice(report))["data"]
    assert pie == {
        "type": "pie",
        "labels": ["brand", "&lt;b&gt;evil&lt;/b&gt;&amp;co"],
        "values": [3, 2],
        "hole": 0.45,
        "sort": False,
    }


def test_intents_have_a_line_per_intent(report: Report) -> None:
    figure = charts.to_dict(charts.intents_over_time(report))
    lines = [(t["name"], t["y"]) for t in figure["data"][:2]]
    assert lines == [("complaint", [1, 0]), ("purchase intent", [0, 2])]
    assert figure["data"][0]["x"] == ["2026-03-02", "2026-03-04"]
    assert figure["data"][2]["name"] == "source failing: reddit"


def test_top_terms_and_authors_are_horizontal_bars_biggest_on_top(report: Report) -> None:
    (terms,) = charts.to_dict(charts.top_terms(report))["data"]
    assert (terms["orientation"], terms["x"], terms["y"]) == (
        "h",
        [1, 3],
        ["&lt;b&gt;evil&lt;/b&gt;&amp;co", "refund"],
    )
    figure = charts.to_dict(charts.top_authors(report, lambda handle: f"p-{len(handle)}"))
    (authors,) = figure["data"]
    assert authors["x"] == [0, 5000]  # unknown followers drawn as 0
    assert authors["y"] == ["p-14 (mastodon)", "p-3 (reddit)"]
    assert authors["text"] == ["3 mentions", "1 mentions"]
    assert figure["layout"]["height"] == 300
    named = charts.to_dict(charts.top_authors(report))["data"][0]["y"]
    assert named == ["&lt;b&gt;evil&lt;/b&gt;&amp;co (mastodon)", "big (reddit)"]


def test_response_times_and_outcomes(report: Report) -> None:
    first, resolution = charts.to_dict(charts.response_times(report))["data"]
    assert first["x"] == ["support", "&lt;b&gt;evil&lt;/b&gt;&amp;co"]
    assert (first["name"], first["y"]) == ("first response", [30.0, None])
    assert (resolution["name"], resolution["y"]) == ("resolution", [None, 12.5])
    assert first["hovertext"] == ["SLA met: 50%", "SLA met: -"]
    (bars,) = charts.to_dict(charts.reply_outcomes(report))["data"]
    assert (bars["x"], bars["y"]) == (["improved", "silent"], [2, 1])


def test_coverage_draws_a_line_per_gap_over_the_window(report: Report) -> None:
    figure = charts.to_dict(charts.coverage(report))
    (line,) = figure["data"]
    assert line["x"] == ["2026-03-03T00:00:00+00:00", "2026-03-03T06:00:00+00:00"]
    assert line["y"] == ["reddit", "reddit"]
    assert line["line"] == {"width": 14, "color": "#d62728"}
    assert line["hovertext"] == "boom &lt;x&gt;"
    assert line["showlegend"] is False
    assert figure["layout"]["xaxis"]["range"] == [
        "2026-03-02T00:00:00+00:00",
        "2026-03-05T00:00:00+00:00",
    ]


def test_brand_health_gauge_and_an_empty_window() -> None:
    (gauge,) = charts.to_dict(charts.brand_health(_report()))["data"]
    assert (gauge["type"], gauge["value"], gauge["number"]) == ("indicator", 47.5, {"suffix": ""})
    empty = _report(
        overview={**_report().overview, "brand_health": None},
        trend=[],
        volume=[],
        coverage=[],
    )
    (gauge,) = charts.to_dict(charts.brand_health(empty))["data"]
    assert (gauge["value"], gauge["number"]) == (0, {"suffix": " (no data)"})
    trend = charts.to_dict(charts.sentiment_trend(empty))
    assert [t["x"] for t in trend["data"]] == [[], [], [], [], []]
    assert "shapes" not in trend["layout"]


def test_script_json_escapes_markup_and_keeps_the_figure(report: Report) -> None:
    for spec in charts.figures(report).values():
        text = charts.script_json(spec)
        assert not set(text) & {"<", ">", "&"}
        assert json.loads(text) == charts.to_dict(spec)
    assert list(charts.figures(report)) == [
        "brand_health",
        "sentiment_trend",
        "volume_by_source",
        "share_of_voice",
        "intents_over_time",
        "top_terms",
        "top_authors",
        "response_times",
        "reply_outcomes",
        "coverage",
    ]
