"""Report files: HTML self-contained and escaped, CSV injection-safe, PNG written; charts."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from reports import charts, render
from reports.cells import safe_cell
from reports.filters import MentionFilter
from reports.queries import iter_mentions
from reports.report import Report, gather
from socialcrm.db import Database
from tests.reports import builders as b

XSS = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'
FORMULAS = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.fixture
def report(db: Database) -> Report:
    """A week with hostile author names and texts, a task, and an outage."""
    evil = b.author(db, XSS, followers=99)
    formula = b.author(db, FORMULAS[0], followers=5)
    for day in range(3):
        b.mention(db, evil, b.at(day, 1), f"refund {XSS}", sentiment="negative")
        b.mention(db, formula, b.at(day, 2), FORMULAS[day], sentiment="positive")
    b.run(db, "reddit", b.at(1), "error", XSS)
    b.runs(db, "reddit", b.at(2), b.at(7))  # collecting again, every 15 minutes
    with db.transaction() as session:
        return gather(session, b.at(0), b.at(7), sources=["reddit"], watch_terms=["acme"])


def test_html_is_self_contained(report: Report) -> None:
    page = render.html(report)
    assert not re.search(r"<script[^>]+src=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]+href=", page, re.IGNORECASE)
    assert "Plotly" in page  # the bundle is inlined
    assert page.count('<script type="application/json"') == len(charts.figures(report))


def test_html_escapes_hostile_text_everywhere(report: Report) -> None:
    page = render.html(report)
    assert '<script>alert("x")' not in page
    assert "<img src=x" not in page
    # the figure JSON has no raw <, > or &: nothing in it can end its element
    for block in re.findall(r'type="application/json"[^>]*>(.*?)</script>', page, re.DOTALL):
        assert not set(block) & {"<", ">", "&"}
        json.loads(block)


def test_figure_labels_are_escaped_for_plotly(report: Report) -> None:
    authors = charts.to_dict(charts.top_authors(report))
    labels = authors["data"][0]["y"]
    assert any("&lt;/script&gt;" in label for label in labels)
    assert not any("<script" in label for label in labels)


def test_time_charts_shade_coverage_gaps(report: Report) -> None:
    figure = charts.to_dict(charts.sentiment_trend(report))
    shapes = figure["layout"]["shapes"]
    assert len(shapes) == 1
    assert shapes[0]["x0"].startswith("2026-03-03")
    assert any("source failing: reddit" in trace.get("name", "") for trace in figure["data"])


def test_report_csv_cells_cannot_run(report: Report) -> None:
    cells = [cell for row in csv.reader(io.StringIO(render.csv_text(report))) for cell in row]
    assert "'" + FORMULAS[0] in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)


def test_mention_csv_cells_cannot_run(db: Database, report: Report) -> None:
    out = io.StringIO()
    with db.transaction() as session:
        render.write_mentions(out, iter_mentions(session, MentionFilter()))
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][:3] == ["id", "created_at", "source"]
    texts = {row[8] for row in rows[1:]}
    assert {'\'=HYPERLINK("http://evil")', "'+1+1", "'-2+3"} <= texts
    assert all(row[4].startswith(("'", "<")) for row in rows[1:])


@pytest.mark.parametrize("value", [*FORMULAS, "-", "=", 42, None])
def test_safe_cell(value: object) -> None:
    cell = safe_cell(value)
    if isinstance(value, str):
        assert cell == "'" + value
    else:
        assert cell == ("" if value is None else value)


def test_png_is_written(report: Report) -> None:
    picture = render.render(report, "png")
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(picture) > 10_000


def test_an_empty_window_still_renders(db: Database) -> None:
    with db.transaction() as session:
        empty = gather(session, b.at(0), b.at(1))
    for fmt in render.FORMATS:
        assert render.render(empty, fmt)
    with pytest.raises(ValueError, match="unknown format"):
        render.render(empty, "pdf")
