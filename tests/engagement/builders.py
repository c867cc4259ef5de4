"""Builders for the queue and route-stage tests: labelled mentions routed into tasks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from collectors.base import PostedReply, SourceError
from engagement.stage import RouteStage
from socialcrm import models, pipeline, storage
from socialcrm.db import Database
from socialcrm.mention import Author, Cursor, Mention, MentionState, Page
from socialcrm.settings import Settings

# a Tuesday, 10:00 UTC: inside the default business hours
START = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
SCORES = {
    "negative": {"negative": 0.8, "neutral": 0.15, "positive": 0.05},
    "neutral": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
    "positive": {"negative": 0.05, "neutral": 0.15, "positive": 0.8},
}


def post(
    number: int,
    handle: str = "ana",
    thread: str | None = "t1",
    source: str = "mastodon",
    text: str | None = None,
    minutes: int | None = None,
) -> Mention:
    """The `number`th mention, by `handle`, in `thread`."""
    return Mention(
        source=source,
        source_id=f"p{number}",
        text=text or f"post {number} about inkwell",
        created_at=START + timedelta(minutes=number if minutes is None else minutes),
        author=Author(handle=handle),
        url=f"https://example.social/@{handle}/{number}",
        thread_id=thread,
        matched_query="brand:inkwell",
    )


def store(
    db: Database,
    mention: Mention,
    sentiment: str = "neutral",
    needs_reply: float = 0.2,
    uncertain: bool = False,
    **intents: float,
) -> int:
    """Store a mention with labels, in the state the route stage takes; its id."""
    with db.transaction() as session:
        storage.save_page(session, "test", Page((mention,), Cursor()))
        mention_id = session.scalars(
            select(models.Mention.id).where(models.Mention.source_id == mention.source_id)
        ).one()
        session.add(
            models.Classification(
                mention_id=mention_id,
                sentiment=sentiment,
                sentiment_scores=SCORES[sentiment],
                intents={"complaint": 0.0, "question": 0.0, "spam": 0.0, **intents},
                needs_reply=needs_reply,
                uncertain=uncertain,
                lang="en",
                model="test@1",
            )
        )
        row = session.get(models.Mention, mention_id)
        assert row is not None
        row.state = MentionState.LINKED.value
    return mention_id


def route(db: Database, settings: Settings | None = None, now: datetime = START) -> int:
    """Run the route stage over every linked mention; how many it moved."""
    settings = settings or Settings()
    stage = pipeline.Stage(
        "route",
        MentionState.LINKED,
        MentionState.ROUTED,
        RouteStage(settings.engagement, settings.crm, clock=lambda: now),
    )
    return pipeline.run_stage(db, stage)


def tasks(db: Database) -> list[models.Task]:
    """Every task (detached), by id."""
    with db.transaction() as session:
        rows = list(session.scalars(select(models.Task).order_by(models.Task.id)))
        session.expunge_all()
    return rows


def task_mentions(db: Database, task_id: int) -> list[int]:
    """The mention ids of a task's conversation."""
    with db.transaction() as session:
        return list(
            session.scalars(
                select(models.TaskMention.mention_id)
                .where(models.TaskMention.task_id == task_id)
                .order_by(models.TaskMention.mention_id)
            )
        )


def decisions(db: Database) -> dict[int, models.RouteDecision]:
    """Every routing decision (detached), by mention id."""
    with db.transaction() as session:
        rows = {r.mention_id: r for r in session.scalars(select(models.RouteDecision))}
        session.expunge_all()
    return rows


def audit(db: Database, task_id: int) -> list[models.AuditEntry]:
    """The audit entries of a task (detached), oldest first."""
    with db.transaction() as session:
        rows = list(
            session.scalars(
                select(models.AuditEntry)
                .where(
                    models.AuditEntry.subject_type == "task",
                    models.AuditEntry.subject_id == str(task_id),
                )
                .order_by(models.AuditEntry.id)
            )
        )
        session.expunge_all()
    return rows


@dataclass
class FakeResponder:
    """Records what it posts; fails with `error` while `failures` is above zero."""

    source: str = "mastodon"
    posted: list[tuple[str, str, str]] = field(default_factory=list)
    error: SourceError | None = None
    failures: int = 0

    @property
    def name(self) -> str:
        """The source it answers on."""
        return self.source

    def post(self, mention: Mention, text: str, idempotency_key: str) -> PostedReply:
        """Post (record) the reply."""
        if self.failures > 0 and self.error is not None:
            self.failures -= 1
            raise self.error
        self.posted.append((mention.source_id, text, idempotency_key))
        number = len(self.posted)
        return PostedReply(f"r{number}", f"https://example.social/@brand/r{number}")


def responders(*fakes: FakeResponder) -> Any:
    """A `queue.Responders` over the fakes, by source."""
    by_source: Mapping[str, FakeResponder] = {fake.source: fake for fake in fakes}
    return lambda source: by_source[source]
