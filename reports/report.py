"""One report: every query of a window gathered once, for charts, files, pages and the digest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from reports import queries, trends
from reports.types import (
    AuthorReach,
    Bucket,
    CoverageGap,
    IntentPoint,
    Overview,
    ReplyOutcomes,
    ResponseTimes,
    SourceVolume,
    TermCount,
    TrendPoint,
    VoiceShare,
)

# windows up to this long are drawn per day, longer ones per week
DAILY_UP_TO = timedelta(days=62)


@dataclass(frozen=True, slots=True)
class Report:
    """The figures of one window."""

    since: datetime
    until: datetime
    bucket: Bucket
    overview: Overview
    trend: list[TrendPoint]
    volume: list[SourceVolume]
    voice: list[VoiceShare]
    intents: list[IntentPoint]
    terms: list[TermCount]
    authors: list[AuthorReach]
    responses: ResponseTimes
    outcomes: ReplyOutcomes
    coverage: list[CoverageGap]


def bucket_for(since: datetime, until: datetime) -> Bucket:
    """Days for windows up to two months, weeks beyond."""
    return "day" if until - since <= DAILY_UP_TO else "week"


def gather(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    bucket: Bucket | None = None,
    sources: Sequence[str] = (),
    intervals: Mapping[str, float] | None = None,
    watch_terms: Sequence[str] = (),
) -> Report:
    """Run every report query for [since, until).

    `sources`, `intervals`: the sources expected to run and their schedule intervals in seconds
    (`coverage.schedule_intervals`), for coverage; `watch_terms`: left out of top terms.
    The sentiment, volume and voice reports and the headline numbers are folded from one read
    of the rollups (`label_rows`), not read one by one.
    """
    bucket = bucket or bucket_for(since, until)
    labels = trends.label_rows(session, since, until, bucket)
    return Report(
        since=since,
        until=until,
        bucket=bucket,
        overview=queries.overview(session, since, until, labels),
        trend=trends.trend_of(labels),
        volume=trends.volume_of(labels),
        voice=trends.voice_of(labels),
        intents=queries.intents_over_time(
            session, since, until, bucket, trends.bucket_totals(labels)
        ),
        terms=queries.top_terms(session, since, until, exclude=watch_terms),
        authors=queries.top_authors(session, since, until),
        responses=queries.response_times(session, since, until),
        outcomes=queries.reply_outcomes(session, since, until),
        coverage=queries.coverage(session, since, until, sources, intervals),
    )
