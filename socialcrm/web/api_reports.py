"""`GET /api/reports/*`: the marketers' reports (reports.queries) over a window [since, until)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from reports import filters, queries
from reports.coverage import schedule_intervals
from socialcrm.web.api_auth import Reader
from socialcrm.web.api_params import AUTH_ERRORS, NO_NUL, invalid
from socialcrm.web.api_report_models import (
    AuthorReport,
    Bucket,
    CoverageReport,
    IntentReport,
    OutcomeReport,
    OverviewOut,
    ResponseReport,
    TermReport,
    TrendReport,
    VoiceReport,
    VolumeReport,
)
from socialcrm.web.deps import db_of, settings_of

router = APIRouter(prefix="/reports", tags=["reports"], responses=AUTH_ERRORS)
DEFAULT_WINDOW: Final = "30d"
R = TypeVar("R", bound=BaseModel)

Since = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=NO_NUL,
        description="Start: ISO 8601 (UTC unless it has a zone), a date, or a span back from now "
        "(30m, 24h, 7d, 2w). Default: 30d.",
    ),
]
Until = Annotated[
    str | None,
    Query(
        max_length=40, pattern=NO_NUL, description="End (exclusive), like `since`. Default: now."
    ),
]
BucketParam = Annotated[Bucket, Query(description="Group by day or by week (from Monday).")]
Top = Annotated[int, Query(ge=1, le=100, description="At most this many.")]


def _window(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """The window the parameters name, or a 422 saying what to write instead."""
    try:
        return filters.parse_window(since, until, default=DEFAULT_WINDOW)
    except (filters.FilterError, OverflowError) as error:
        raise invalid("query", "since", str(error)) from None


def _report(
    request: Request,
    since: str | None,
    until: str | None,
    model: type[R],
    build: Callable[[Session, datetime, datetime], dict[str, Any]],
) -> R:
    start, end = _window(since, until)
    with db_of(request).transaction() as session:
        fields = build(session, start, end)
    return model.model_validate({"since": start, "until": end, **fields})


@router.get("/overview", response_model=OverviewOut)
def overview(request: Request, _: Reader, since: Since = None, until: Until = None) -> OverviewOut:
    """Headline numbers: volume, sentiment split, uncertain share, open tasks, SLA, brand health."""
    return _report(
        request, since, until, OverviewOut, lambda s, a, b: dict(queries.overview(s, a, b))
    )


@router.get("/sentiment-trend", response_model=TrendReport)
def sentiment_trend(
    request: Request,
    _: Reader,
    since: Since = None,
    until: Until = None,
    bucket: BucketParam = "day",
) -> TrendReport:
    """Mentions per sentiment per day or week, with the share of uncertain labels."""
    return _report(
        request,
        since,
        until,
        TrendReport,
        lambda s, a, b: {"bucket": bucket, "items": queries.sentiment_trend(s, a, b, bucket)},
    )


@router.get("/volume-by-source", response_model=VolumeReport)
def volume_by_source(
    request: Request,
    _: Reader,
    since: Since = None,
    until: Until = None,
    bucket: BucketParam = "day",
) -> VolumeReport:
    """Mentions per source per day or week."""
    return _report(
        request,
        since,
        until,
        VolumeReport,
        lambda s, a, b: {"bucket": bucket, "items": queries.volume_by_source(s, a, b, bucket)},
    )


@router.get("/intents", response_model=IntentReport)
def intents(
    request: Request,
    _: Reader,
    since: Since = None,
    until: Until = None,
    bucket: BucketParam = "day",
) -> IntentReport:
    """Mentions with each intent per day or week."""
    return _report(
        request,
        since,
        until,
        IntentReport,
        lambda s, a, b: {"bucket": bucket, "items": queries.intents_over_time(s, a, b, bucket)},
    )


@router.get("/share-of-voice", response_model=VoiceReport)
def share_of_voice(
    request: Request, _: Reader, since: Since = None, until: Until = None
) -> VoiceReport:
    """The brand's mentions against each competitor query's."""
    return _report(
        request,
        since,
        until,
        VoiceReport,
        lambda s, a, b: {"items": queries.share_of_voice(s, a, b)},
    )


@router.get("/top-terms", response_model=TermReport)
def top_terms(
    request: Request, _: Reader, since: Since = None, until: Until = None, limit: Top = 20
) -> TermReport:
    """The commonest words of the window's newest mentions (a bounded sample)."""
    watch = settings_of(request).watch
    exclude = [*watch.brand, *watch.competitors]
    return _report(
        request,
        since,
        until,
        TermReport,
        lambda s, a, b: {"items": queries.top_terms(s, a, b, limit=limit, exclude=exclude)},
    )


@router.get("/top-authors", response_model=AuthorReport)
def top_authors(
    request: Request, _: Reader, since: Since = None, until: Until = None, limit: Top = 10
) -> AuthorReport:
    """Authors who mentioned us in the window, by reach (followers), then by mentions."""
    return _report(
        request,
        since,
        until,
        AuthorReport,
        lambda s, a, b: {"items": queries.top_authors(s, a, b, limit)},
    )


@router.get("/response-times", response_model=ResponseReport)
def response_times(
    request: Request, _: Reader, since: Since = None, until: Until = None
) -> ResponseReport:
    """First response, resolution and SLA met share: overall, per queue and per person."""
    return _report(
        request,
        since,
        until,
        ResponseReport,
        lambda s, a, b: dict(queries.response_times(s, a, b)),
    )


@router.get("/reply-outcomes", response_model=OutcomeReport)
def reply_outcomes(
    request: Request, _: Reader, since: Since = None, until: Until = None
) -> OutcomeReport:
    """Replies by delivery state, and what their authors did next."""
    return _report(
        request,
        since,
        until,
        OutcomeReport,
        lambda s, a, b: dict(queries.reply_outcomes(s, a, b)),
    )


@router.get("/coverage", response_model=CoverageReport)
def coverage(
    request: Request, _: Reader, since: Since = None, until: Until = None
) -> CoverageReport:
    """When each enabled source was failing, rate-limited, not configured or not running."""
    schedule = schedule_intervals(settings_of(request).sources)
    return _report(
        request,
        since,
        until,
        CoverageReport,
        lambda s, a, b: {"items": queries.coverage(s, a, b, intervals=schedule)},
    )
