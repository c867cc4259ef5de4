"""The values report queries return: typed for the dashboard and the API's response models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

# pydantic (the API's response models) needs this TypedDict on Python < 3.12
from typing_extensions import TypedDict

Bucket = Literal["day", "week"]


@dataclass(frozen=True, slots=True)
class MentionRow:
    """One mention as a list shows it: the post, its author, and its labels."""

    id: int
    source: str
    source_id: str
    created_at: datetime
    text: str
    title: str | None
    url: str | None
    matched_query: str | None
    state: str
    author_id: int
    author_handle: str
    author_name: str | None
    followers: int | None
    customer_id: int | None
    sentiment: str | None
    uncertain: bool | None
    needs_reply: float | None
    intents: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of mentions, newest first; `next_after` is the cursor of the next page (or None)."""

    rows: list[MentionRow]
    next_after: int | None


class Overview(TypedDict):
    """Headline numbers of a window."""

    since: datetime
    until: datetime
    volume: int
    previous_volume: int  # the window of the same length just before
    sentiment: dict[str, int]  # negative | neutral | positive | unlabelled -> mentions
    uncertain_share: float | None  # of labelled mentions, how many the model was unsure of
    open_tasks: int  # now, whatever the window
    sla_met_share: float | None  # of tasks opened in the window with an SLA and a response
    brand_health: float | None  # 0..100, see `brand_health`


class TrendPoint(TypedDict):
    """One bucket of the sentiment trend."""

    bucket: date
    negative: int
    neutral: int
    positive: int
    unlabelled: int
    total: int
    uncertain_share: float | None


class SourceVolume(TypedDict):
    """Mentions of one source in one bucket."""

    bucket: date
    source: str
    count: int


class VoiceShare(TypedDict):
    """One side of share of voice: the brand (all brand terms) or one competitor term."""

    name: str
    kind: Literal["brand", "competitor"]
    count: int
    share: float
    positive: int
    negative: int


class IntentPoint(TypedDict):
    """Mentions with each intent (probability >= INTENT_THRESHOLD) in one bucket."""

    bucket: date
    counts: dict[str, int]
    total: int


class TermCount(TypedDict):
    """A word and in how many sampled mentions it occurs."""

    term: str
    count: int


class AuthorReach(TypedDict):
    """An author by reach (their followers) and how often they mentioned us in the window."""

    author_id: int
    source: str
    handle: str
    display_name: str | None
    followers: int | None
    mentions: int
    negative: int
    customer_id: int | None


class ResponseStats(TypedDict):
    """Response figures of a group of tasks (all, one queue or one person)."""

    name: str
    tasks: int
    answered: int
    first_response_minutes: float | None  # mean, opened -> first response
    resolution_minutes: float | None  # mean, opened -> closed
    sla_met_share: float | None


class ResponseTimes(TypedDict):
    """Response figures overall, per queue (team) and per person (assignee)."""

    overall: ResponseStats
    by_queue: list[ResponseStats]
    by_person: list[ResponseStats]


class ReplyOutcomes(TypedDict):
    """Replies by delivery state, and answered tasks by what the author did next."""

    replies: dict[str, int]  # new | pending | sent | failed | gone
    outcomes: dict[str, int]  # improved | worse | unchanged | silent | pending


class CoverageGap(TypedDict):
    """An interval when a source was not collecting.

    `status`: failing | rate_limited | not_configured | not_running (no run at all: the bot was
    down or stuck, see `reports.coverage`).
    """

    source: str
    status: str
    start: datetime
    end: datetime
    error: str | None
