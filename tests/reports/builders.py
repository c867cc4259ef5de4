"""Small hand-built data for the report tests: authors, mentions with labels, tasks, runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from socialcrm import models
from socialcrm.db import Database

# a Monday, 00:00 UTC
DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


def at(days: float = 0, hours: float = 0) -> datetime:
    """DAY0 plus some days and hours."""
    return DAY0 + timedelta(days=days, hours=hours)


def author(
    db: Database,
    handle: str,
    source: str = "reddit",
    followers: int | None = None,
    customer_id: int | None = None,
) -> int:
    """Store an author; its id."""
    with db.transaction() as session:
        row = models.Author(
            source=source,
            key=f"k-{handle}",
            handle=handle,
            display_name=handle.title(),
            followers=followers,
            customer_id=customer_id,
        )
        session.add(row)
        session.flush()
        return row.id


def customer(db: Database, name: str) -> int:
    """Store a customer; its id."""
    with db.transaction() as session:
        row = models.Customer(display_name=name)
        session.add(row)
        session.flush()
        return row.id


_counter = iter(range(1, 10**9))


def mention(
    db: Database,
    author_id: int,
    created_at: datetime,
    text_: str = "hello there",
    source: str = "reddit",
    query: str | None = "brand:acme",
    sentiment: str | None = "neutral",
    uncertain: bool = False,
    labelled: bool = True,
    intents: Mapping[str, float] | None = None,
) -> int:
    """Store a mention (and, when `labelled`, its classification); its id."""
    with db.transaction() as session:
        row = models.Mention(
            source=source,
            source_id=f"s{next(_counter)}",
            author_id=author_id,
            text=text_,
            matched_query=query,
            created_at=created_at,
        )
        session.add(row)
        session.flush()
        if labelled:
            session.add(
                models.Classification(
                    mention_id=row.id,
                    sentiment=sentiment,
                    sentiment_scores={} if sentiment is None else {sentiment: 0.9},
                    intents=dict(intents or {}),
                    needs_reply=0.5,
                    uncertain=uncertain,
                    lang="en",
                    model="test@1",
                )
            )
        return row.id


def task(
    db: Database,
    mention_id: int,
    author_id: int,
    opened_at: datetime,
    queue: str = "support",
    state: str = "new",
    assignee: str | None = None,
    sla_minutes: float | None = 60,
    first_response_minutes: float | None = None,
    closed_minutes: float | None = None,
    reply_key: str | None = None,
    outcome: str | None = None,
) -> int:
    """Store a task opened at `opened_at`, answered and closed so many minutes later."""

    def later(minutes: float | None) -> datetime | None:
        return None if minutes is None else opened_at + timedelta(minutes=minutes)

    with db.transaction() as session:
        row = models.Task(
            conversation=f"c{mention_id}",
            mention_id=mention_id,
            author_id=author_id,
            state=state,
            queue=queue,
            assignee=assignee,
            opened_at=opened_at,
            sla_due_at=later(sla_minutes),
            first_response_at=later(first_response_minutes),
            closed_at=later(closed_minutes),
            reply_key=reply_key,
            outcome=outcome,
        )
        session.add(row)
        session.flush()
        return row.id


# (days after DAY0, hours, source, query, sentiment, uncertain); None sentiment: not labelled
Row = tuple[int, int, str, str | None, str | None, bool]


def rows(db: Database, table: Sequence[Row], other_intents: Mapping[str, float]) -> Database:
    """Store the rows by one author: a complaint on each negative one, `other_intents` on the
    rest."""
    ada = author(db, "ada")
    for days, hours, source, query, sentiment, uncertain in table:
        mention(
            db,
            ada,
            at(days, hours),
            source=source,
            query=query,
            sentiment=sentiment,
            uncertain=uncertain,
            labelled=sentiment is not None,
            intents={"complaint": 0.9} if sentiment == "negative" else other_intents,
        )
    return db


def run(
    db: Database, source: str, started_at: datetime, status: str, error: str | None = None
) -> None:
    """Store one finished collector run."""
    with db.transaction() as session:
        session.add(_run(source, started_at, status, error))


def runs(
    db: Database,
    source: str,
    start: datetime,
    end: datetime,
    minutes: float = 15,
    status: str = "ok",
) -> None:
    """Store finished runs of a source every `minutes` in [start, end), as the scheduler would."""
    every = timedelta(minutes=minutes)
    times = [start + every * step for step in range(int((end - start) / every))]
    with db.transaction() as session:
        session.add_all(_run(source, began, status) for began in times)


def _run(
    source: str, started_at: datetime, status: str, error: str | None = None
) -> models.CollectorRun:
    return models.CollectorRun(
        source=source,
        started_at=started_at,
        finished_at=started_at + timedelta(minutes=1),
        status=status,
        error=error,
    )


def rollup_from_scratch(db: Database) -> dict[tuple[Any, ...], int]:
    """What `report_daily` must hold, counted from the raw rows (the test's oracle)."""
    with db.transaction() as session:
        rows = session.execute(
            select(
                models.Mention.created_at,
                models.Mention.source,
                models.Mention.matched_query,
                models.Classification.sentiment,
                models.Classification.uncertain,
            ).outerjoin(models.Classification)
        ).all()
    want: dict[tuple[Any, ...], int] = {}
    for created, source, query, sentiment, uncertain in rows:
        key = (created.date(), source, query or "", sentiment or "", bool(sentiment and uncertain))
        want[key] = want.get(key, 0) + 1
    return want


def rollup_stored(db: Database) -> dict[tuple[Any, ...], int]:
    """What `report_daily` holds (zero rows left out)."""
    D = models.ReportDaily
    with db.transaction() as session:
        rows = session.execute(
            select(D.day, D.source, D.query, D.sentiment, D.uncertain, D.volume).where(
                D.volume != 0
            )
        ).all()
    return {(day, source, query, s, bool(u)): volume for day, source, query, s, u, volume in rows}


def intent_rollup(db: Database) -> dict[tuple[Any, ...], int]:
    """What `report_intent_daily` holds (zero rows left out)."""
    I = models.ReportIntentDaily  # noqa: E741
    with db.transaction() as session:
        rows = session.execute(
            select(I.day, I.query, I.intent, func.sum(I.volume))
            .group_by(I.day, I.query, I.intent)
            .having(func.sum(I.volume) != 0)
        ).all()
    return {(day, query, intent): int(volume) for day, query, intent, volume in rows}


def fts_ids(db: Database, word: str) -> set[int]:
    """Ids the full-text index finds for one word."""
    with db.transaction() as session:
        if db.dialect == "sqlite":
            sql = "SELECT rowid FROM mentions_fts WHERE mentions_fts MATCH :w"
        else:
            sql = (
                "SELECT id FROM mentions WHERE to_tsvector('simple', text) "
                "@@ plainto_tsquery('simple', :w)"
            )
        return {row[0] for row in session.execute(text(sql), {"w": word})}
