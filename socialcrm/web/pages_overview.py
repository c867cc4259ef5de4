"""The overview: headline numbers of a window and the reports' charts, with coverage gaps shown."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from reports import charts
from reports.coverage import schedule_intervals
from reports.filters import FilterError, parse_window
from reports.report import Report, gather
from reports.types import Bucket
from socialcrm.web.auth import Viewer
from socialcrm.web.deps import db_of, settings_of
from socialcrm.web.pages_common import ANYONE, People, render

router = APIRouter(include_in_schema=False)
Anyone = Annotated[Viewer, Depends(ANYONE)]
PERIODS: Final = ("7d", "30d", "90d", "365d")
BUCKETS: Final[dict[str, Bucket]] = {"day": "day", "week": "week"}
TITLES: Final = {
    "brand_health": "Brand health",
    "sentiment_trend": "Sentiment trend",
    "volume_by_source": "Volume by source",
    "share_of_voice": "Share of voice",
    "intents_over_time": "Intents over time",
    "top_terms": "Top terms",
    "top_authors": "Top authors by reach",
    "response_times": "Response times",
    "reply_outcomes": "Reply outcomes",
    "coverage": "Coverage",
}


@router.get("/", response_class=HTMLResponse)
def overview_page(
    request: Request, who: Anyone, since: str = "30d", until: str = "", bucket: str = ""
) -> Response:
    """Headline numbers and every chart of the window (default: the last 30 days)."""
    context: dict[str, Any] = {
        "since": since[:40],
        "until": until[:40],
        "bucket": bucket if bucket in BUCKETS else "",
        "periods": PERIODS,
        "error": None,
        "numbers": None,
        "charts": [],
        "gaps": [],
    }
    try:
        start, end = parse_window(since, until or None)
    except FilterError as error:
        context["error"] = str(error)
        return render(request, "overview.html", context, status_code=400)
    settings = settings_of(request)
    with db_of(request).transaction() as session:
        report = gather(
            session,
            start,
            end,
            bucket=BUCKETS.get(bucket),
            intervals=schedule_intervals(settings.sources),
            watch_terms=[*settings.watch.brand, *settings.watch.competitors],
        )
    context |= {
        "numbers": report.overview,
        "gaps": report.coverage,
        "charts": chart_list(report, People(request, who)),
    }
    return render(request, "overview.html", context)


def chart_list(report: Report, people: People) -> list[dict[str, Any]]:
    """Every chart as {id, title, figure JSON}; analysts see top authors pseudonymised."""
    label = people.handle if people.hidden else None
    return [
        {"id": f"chart-{name}", "title": TITLES.get(name, name), "figure": charts.script_json(fig)}
        for name, fig in charts.figures(report, label).items()
    ]
