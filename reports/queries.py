"""Report queries: every figure is aggregated in SQL (SQLite and PostgreSQL), never row by row.

This module is the public surface: the mention list and the overview live here, the other
reports in `reports.trends`, `reports.responses` and `reports.coverage`, re-exported below.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from engagement.states import OPEN
from reports import rollup
from reports.coverage import coverage
from reports.filters import INTENT_THRESHOLD, UNLABELLED, MentionFilter
from reports.responses import reply_outcomes, response_times, sla_counts
from reports.sql import dialect_of, search_words, text_matches
from reports.trends import (
    LabelRow,
    intents_over_time,
    label_rows,
    sentiment_trend,
    share_of_voice,
    split_of,
    top_authors,
    top_terms,
    volume_by_source,
)
from reports.types import (
    AuthorReach,
    Bucket,
    CoverageGap,
    IntentPoint,
    MentionRow,
    Overview,
    Page,
    ReplyOutcomes,
    ResponseStats,
    ResponseTimes,
    SourceVolume,
    TermCount,
    TrendPoint,
    VoiceShare,
)
from socialcrm import models

__all__ = [
    "AuthorReach",
    "Bucket",
    "CoverageGap",
    "IntentPoint",
    "LabelRow",
    "MentionRow",
    "Overview",
    "Page",
    "ReplyOutcomes",
    "ResponseStats",
    "ResponseTimes",
    "SourceVolume",
    "TermCount",
    "TrendPoint",
    "VoiceShare",
    "brand_health",
    "coverage",
    "intents_over_time",
    "iter_mentions",
    "label_rows",
    "mention_by_id",
    "mention_page",
    "overview",
    "reply_outcomes",
    "response_times",
    "sentiment_trend",
    "share_of_voice",
    "top_authors",
    "top_terms",
    "volume_by_source",
]

Query = Select[*tuple[Any, ...]]
M, A, C = models.Mention, models.Author, models.Classification
D = models.ReportDaily
MAX_LIMIT = 500
WINDOWS = (2_000, 20_000, 200_000)  # mention_page looks among this many newest ids first
PROBE = 2_000  # a window this small is read row by row even for a search: a common word is there
SENTIMENT_WEIGHT = 0.7  # brand health: the rest is the SLA met share
OPEN_STATES = tuple(state.value for state in OPEN)


def _listing() -> Query:
    return (
        select(M, A.handle, A.display_name, A.followers, A.customer_id, C)
        .join(A, A.id == M.author_id)
        .outerjoin(C, C.mention_id == M.id)
    )


def _matching(f: MentionFilter) -> Query:
    """The ids to filter: labels joined only when a filter needs them, authors never."""
    query = select(M.id)
    if f.sentiment is not None or f.intent is not None:
        query = query.outerjoin(C, C.mention_id == M.id)
    return query


def _filtered(
    query: Query, f: MentionFilter, dialect: str, ids: tuple[int | None, int | None] = (None, None)
) -> Query | None:
    """`query` narrowed by `f` and to ids in (floor, upper]; None when nothing can match."""
    floor, upper = ids
    if floor is not None:
        query = query.where(M.id > floor)
    if upper is not None:
        query = query.where(M.id <= upper)
    if f.source is not None:
        query = query.where(M.source == f.source)
    if f.query is not None:
        query = query.where(M.matched_query == f.query)
    if f.sentiment == UNLABELLED:
        query = query.where(C.sentiment.is_(None))
    elif f.sentiment is not None:
        query = query.where(C.sentiment == f.sentiment)
    if f.intent is not None:
        query = query.where(C.intents[f.intent].as_float() >= INTENT_THRESHOLD)
    if f.customer_id is not None:
        authors = select(A.id).where(A.customer_id == f.customer_id)
        query = query.where(M.author_id.in_(authors))
    if f.since is not None:
        query = query.where(M.created_at >= f.since)
    if f.until is not None:
        query = query.where(M.created_at < f.until)
    if f.text is not None:
        words = search_words(f.text)
        if not words:
            return None
        query = query.where(text_matches(words, dialect, floor, upper))
    return query


def _row(found: Any) -> MentionRow:
    mention, handle, name, followers, customer_id, labels = found
    return MentionRow(
        id=mention.id,
        source=mention.source,
        source_id=mention.source_id,
        created_at=mention.created_at,
        text=mention.text,
        title=mention.title,
        url=mention.url,
        matched_query=mention.matched_query,
        state=mention.state,
        author_id=mention.author_id,
        author_handle=handle,
        author_name=name,
        followers=followers,
        customer_id=customer_id,
        sentiment=labels.sentiment if labels else None,
        uncertain=labels.uncertain if labels else None,
        needs_reply=labels.needs_reply if labels else None,
        intents={k: float(v) for k, v in (labels.intents if labels else {}).items()},
    )


def mention_page(
    session: Session, f: MentionFilter, limit: int = 50, after_id: int | None = None
) -> Page:
    """Mentions matching `f`, newest first (by id), `limit` at most, those with id < `after_id`.

    Looked for among the newest 2,000 ids first, then 20,000, 200,000, then all: a list of
    common mentions is found in the first window, and a rare one never makes the database walk
    the whole table backwards (its planner cannot know that matches are rare, or all old). The
    last step orders by `id + 0`, so the planner picks its most selective index over the id
    order; on PostgreSQL a search uses the GIN index from the second window on.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    dialect = dialect_of(session)
    upper = after_id - 1 if after_id is not None else session.scalar(select(func.max(M.id)))
    if upper is None or upper < 1:
        return Page([], None)
    # PostgreSQL checks a search through its GIN index, never row by row along the id order
    gin = dialect == "postgresql" and f.text is not None
    ids: list[int] = []
    for size in (*WINDOWS, None):
        floor = upper - size if size is not None and upper > size else None
        query = _filtered(_matching(f), f, dialect, (floor, upper))
        if query is None:
            return Page([], None)
        walk = floor is not None and (not gin or size == PROBE)
        order = M.id.desc() if walk else (M.id + 0).desc()
        ids = list(session.scalars(query.order_by(order).limit(limit + 1)))
        if len(ids) > limit or floor is None:
            break
    shown = ids[:limit]
    found = session.execute(_listing().where(M.id.in_(shown)).order_by(M.id.desc())).all()
    return Page([_row(item) for item in found], shown[-1] if len(ids) > limit else None)


def iter_mentions(
    session: Session, f: MentionFilter, batch: int = 500, limit: int | None = None
) -> Iterator[MentionRow]:
    """Every mention matching `f`, newest first, fetched page by page (for CSV exports)."""
    after: int | None = None
    left = limit
    while left is None or left > 0:
        page = mention_page(session, f, batch if left is None else min(batch, left), after)
        yield from page.rows
        if left is not None:
            left -= len(page.rows)
        if page.next_after is None:
            return
        after = page.next_after


def mention_by_id(session: Session, mention_id: int) -> MentionRow | None:
    """One mention as a list shows it, or None."""
    found = session.execute(_listing().where(M.id == mention_id)).one_or_none()
    return None if found is None else _row(found)


def sentiment_split(session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Mentions per sentiment in the window; the unlabelled under "unlabelled", uncertain ones
    (labelled, but the model was unsure) also counted under "uncertain"."""
    return split_of(label_rows(session, since, until, None, ("sentiment", "uncertain")))


def _mention_count(session: Session, since: datetime, until: datetime) -> int:
    """Mentions in [since, until): whole days from the daily rollup, the partial days at the
    edges counted on the `created_at` index alone (no row read, no label joined)."""
    window = rollup.split(since, until)
    total: Any = (
        select(func.coalesce(func.sum(D.volume), 0))
        .where(D.day >= window.first_day, D.day < window.end_day)
        .scalar_subquery()
    )
    for start, end in window.edges:
        edge = select(func.count()).select_from(M).where(M.created_at >= start, M.created_at < end)
        total = total + edge.scalar_subquery()
    return int(session.scalar(select(total)) or 0)


def overview(
    session: Session, since: datetime, until: datetime, labels: Sequence[LabelRow] | None = None
) -> Overview:
    """Headline numbers of [since, until); `labels`: its `label_rows`, when read already."""
    split = sentiment_split(session, since, until) if labels is None else split_of(labels)
    uncertain = split.pop("uncertain")
    volume = sum(split.values())
    labelled = volume - split[UNLABELLED]
    span, floor = until - since, datetime.min.replace(tzinfo=UTC)
    # the window of equal length before; a very long one starts at the beginning of time
    previous = _mention_count(session, since - span if since - floor > span else floor, since)
    open_tasks = session.scalar(
        select(func.count()).select_from(models.Task).where(models.Task.state.in_(OPEN_STATES))
    )
    met, judged = sla_counts(session, since, until)
    sla = round(met / judged, 4) if judged else None
    return Overview(
        since=since,
        until=until,
        volume=volume,
        previous_volume=previous,
        sentiment=split,
        uncertain_share=round(uncertain / labelled, 4) if labelled else None,
        open_tasks=open_tasks or 0,
        sla_met_share=sla,
        brand_health=brand_health(split, sla),
    )


def brand_health(sentiment: dict[str, int], sla_met_share: float | None) -> float | None:
    """0..100: 70% net sentiment, 30% SLA met share (all sentiment when no SLA was judged).

    Net sentiment is (positive - negative) / labelled mentions, from -1 to 1, mapped to 0..1;
    None when no mention in the window was labelled.
    """
    positive, negative = sentiment.get("positive", 0), sentiment.get("negative", 0)
    labelled = positive + negative + sentiment.get("neutral", 0)
    if labelled == 0:
        return None
    mood = ((positive - negative) / labelled + 1) / 2
    if sla_met_share is None:
        return round(100 * mood, 1)
    return round(100 * (SENTIMENT_WEIGHT * mood + (1 - SENTIMENT_WEIGHT) * sla_met_share), 1)
