"""Response bodies of `/api/reports/*`: the shapes of reports.queries' results, as pydantic models.

They mirror the TypedDicts of `reports.queries` field for field (unknown fields are refused, so a
change there fails the API tests instead of changing the API unseen).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from socialcrm.web.api_models import Model

Bucket = Literal["day", "week"]


class OverviewOut(Model):
    """Headline numbers of a window."""

    since: datetime
    until: datetime
    volume: int
    previous_volume: int
    sentiment: dict[str, int]
    uncertain_share: float | None
    open_tasks: int
    sla_met_share: float | None
    brand_health: float | None


class TrendPoint(Model):
    """One bucket of the sentiment trend."""

    bucket: date
    negative: int
    neutral: int
    positive: int
    unlabelled: int
    total: int
    uncertain_share: float | None


class SourceVolume(Model):
    """Mentions of one source in one bucket."""

    bucket: date
    source: str
    count: int


class VoiceShare(Model):
    """One side of share of voice: the brand (all brand terms) or one competitor term."""

    name: str
    kind: Literal["brand", "competitor"]
    count: int
    share: float
    positive: int
    negative: int


class IntentPoint(Model):
    """Mentions with each intent in one bucket."""

    bucket: date
    counts: dict[str, int]
    total: int


class TermCount(Model):
    """A word and in how many sampled mentions it occurs."""

    term: str
    count: int


class AuthorReach(Model):
    """An author by reach (followers) and how often they mentioned us in the window."""

    author_id: int
    source: str
    handle: str
    display_name: str | None
    followers: int | None
    mentions: int
    negative: int
    customer_id: int | None


class ResponseStats(Model):
    """Response figures of a group of tasks (all, one queue or one person)."""

    name: str
    tasks: int
    answered: int
    first_response_minutes: float | None
    resolution_minutes: float | None
    sla_met_share: float | None


class ResponseTimes(Model):
    """Response figures overall, per queue (team) and per person."""

    overall: ResponseStats
    by_queue: list[ResponseStats]
    by_person: list[ResponseStats]


class ReplyOutcomes(Model):
    """Replies by delivery state, and answered tasks by what the author did next."""

    replies: dict[str, int]
    outcomes: dict[str, int]


class CoverageGap(Model):
    """An interval when a source was not collecting: failing, rate_limited or not_configured."""

    source: str
    status: str
    start: datetime
    end: datetime
    error: str | None


class Window(Model):
    """The window [since, until) a report covers."""

    since: datetime
    until: datetime


class TrendReport(Window):
    """The sentiment trend per bucket."""

    bucket: Bucket
    items: list[TrendPoint]


class VolumeReport(Window):
    """Mentions per source and bucket."""

    bucket: Bucket
    items: list[SourceVolume]


class IntentReport(Window):
    """Mentions with each intent per bucket."""

    bucket: Bucket
    items: list[IntentPoint]


class VoiceReport(Window):
    """Share of voice: the brand against each competitor."""

    items: list[VoiceShare]


class TermReport(Window):
    """The commonest words of a bounded sample of the window's newest mentions."""

    items: list[TermCount]


class AuthorReport(Window):
    """Authors by reach."""

    items: list[AuthorReach]


class ResponseReport(Window, ResponseTimes):
    """Response times of tasks opened in the window: overall, per queue and per person."""


class OutcomeReport(Window, ReplyOutcomes):
    """Replies created in the window by delivery state, and their tasks' outcomes."""


class CoverageReport(Window):
    """When each enabled source was not collecting."""

    items: list[CoverageGap]
