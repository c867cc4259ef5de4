"""Daily counts for any window: whole UTC days from the rollups, the partial days at its edges
counted from the mentions themselves, so a report is exact and costs days, not rows.

The rollups (`report_daily`, `report_intent_daily`) are kept by triggers (migration 0007).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Subquery,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from reports.filters import INTENT_THRESHOLD
from reports.sql import day_of, dialect_of
from socialcrm import models

M, C = models.Mention, models.Classification
D, ID = models.ReportDaily, models.ReportIntentDaily


@dataclass(frozen=True, slots=True)
class Split:
    """A window as whole days [first_day, end_day) and the partial spans around them."""

    first_day: date
    end_day: date
    edges: tuple[tuple[datetime, datetime], ...]


def split(since: datetime, until: datetime) -> Split:
    """Cut [since, until) into whole UTC days and at most two partial spans."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    first = since.date() if since.time() == time(0) else since.date() + timedelta(days=1)
    end = until.date()
    if first >= end:  # no whole day inside: all of it is an edge
        return Split(first, first, ((since, until),))
    edges = []
    first_start = datetime.combine(first, time(0), UTC)
    end_start = datetime.combine(end, time(0), UTC)
    if since < first_start:
        edges.append((since, first_start))
    if end_start < until:
        edges.append((end_start, until))
    return Split(first, end, tuple(edges))


def _in_edges(edges: tuple[tuple[datetime, datetime], ...]) -> ColumnElement[bool]:
    if not edges:
        return false()
    return or_(*(and_(M.created_at >= start, M.created_at < end) for start, end in edges))


def labelled(session: Session, since: datetime, until: datetime) -> Subquery:
    """Rows (day, source, query, sentiment, uncertain, volume) covering exactly the window."""
    window = split(since, until)
    dialect = dialect_of(session)
    day = day_of(M.created_at, dialect)
    sentiment = func.coalesce(C.sentiment, "")
    uncertain = and_(sentiment != "", func.coalesce(C.uncertain, false()))
    whole = select(
        D.day.label("day"),
        D.source.label("source"),
        D.query.label("query"),
        D.sentiment.label("sentiment"),
        D.uncertain.label("uncertain"),
        D.volume.label("volume"),
    ).where(D.day >= window.first_day, D.day < window.end_day, D.volume != 0)
    edges = (
        select(
            day,
            M.source,
            func.coalesce(M.matched_query, ""),
            sentiment,
            cast(uncertain, Boolean),
            func.count(),
        )
        .outerjoin(C, C.mention_id == M.id)
        .where(_in_edges(window.edges))
        .group_by(day, M.source, M.matched_query, sentiment, cast(uncertain, Boolean))
    )
    return union_all(whole, edges).subquery("labelled")


def intents(session: Session, since: datetime, until: datetime) -> Subquery:
    """Rows (day, source, query, intent, volume) covering exactly the window."""
    window = split(since, until)
    dialect = dialect_of(session)
    day = day_of(M.created_at, dialect)
    whole = select(
        ID.day.label("day"),
        ID.source.label("source"),
        ID.query.label("query"),
        ID.intent.label("intent"),
        ID.volume.label("volume"),
    ).where(ID.day >= window.first_day, ID.day < window.end_day, ID.volume != 0)
    pairs = _intent_pairs(dialect)
    edges = (
        select(day, M.source, func.coalesce(M.matched_query, ""), pairs.c.key, func.count())
        .select_from(M)
        .join(C, C.mention_id == M.id)
        .join(pairs, true())
        .where(_in_edges(window.edges), _intent_present(pairs, dialect))
        .group_by(day, M.source, M.matched_query, pairs.c.key)
    )
    return union_all(whole, edges).subquery("intents")


def _intent_pairs(dialect: str) -> Any:
    """The (key, value) pairs of each classification's intents, as a lateral table."""
    if dialect == "postgresql":
        only_objects = case(
            (func.json_typeof(C.intents) == "object", C.intents),
            else_=literal_column("'{}'::json"),
        )
        return func.json_each(only_objects).table_valued("key", "value").lateral("pairs")
    # SQLite has no LATERAL, and needs none: a table-valued function sees the tables before it
    return func.json_each(C.intents).table_valued("key", "value", "type").alias("pairs")


def _intent_present(pairs: Any, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        # CASE, not AND: PostgreSQL may cast before it checks the type
        number = func.json_typeof(pairs.c.value) == "number"
        as_float = case((number, cast(cast(pairs.c.value, Text), Float)), else_=None)
        return as_float >= INTENT_THRESHOLD
    return and_(
        func.typeof(pairs.c.key) == "text",
        pairs.c.type.in_(("integer", "real")),
        pairs.c.value >= INTENT_THRESHOLD,
    )
