"""The few database reads and writes the Discord adapter needs beyond the queue service.

Each function opens its own short transaction and is meant to run in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update

from socialcrm import models
from socialcrm.db import Database


@dataclass(frozen=True, slots=True)
class CardLocation:
    """Where a task's card was posted, and its notes thread when there is one."""

    channel_id: str
    message_id: str
    thread_id: str | None


def card_key(task_id: int) -> str:
    """The chat outbox key of a task's card."""
    return f"task:{task_id}"


def owner_of(db: Database, task_id: int) -> str | None:
    """Who has claimed the task (None: nobody, or no such task)."""
    with db.transaction() as session:
        return session.scalar(select(models.Task.assignee).where(models.Task.id == task_id))


def card_location(db: Database, task_id: int) -> CardLocation | None:
    """Where the task's card is in Discord (None: not delivered yet)."""
    with db.transaction() as session:
        row = session.execute(
            select(
                models.ChatMessage.channel_id,
                models.ChatMessage.message_id,
                models.ChatMessage.thread_id,
            ).where(models.ChatMessage.key == card_key(task_id))
        ).one_or_none()
    if row is None or row.channel_id is None or row.message_id is None:
        return None
    return CardLocation(row.channel_id, row.message_id, row.thread_id)


def remember_thread(db: Database, task_id: int, thread_id: str) -> None:
    """Store the id of the notes thread opened on the task's card."""
    with db.transaction() as session:
        session.execute(
            update(models.ChatMessage)
            .where(models.ChatMessage.key == card_key(task_id))
            .values(thread_id=thread_id)
        )


def card_links(db: Database, guild_id: str, task_ids: Iterable[int]) -> dict[int, str]:
    """Links to the delivered cards of `task_ids`, by task id."""
    keys = [card_key(task_id) for task_id in task_ids]
    if not keys or not guild_id:
        return {}
    with db.transaction() as session:
        rows = session.execute(
            select(
                models.ChatMessage.task_id,
                models.ChatMessage.channel_id,
                models.ChatMessage.message_id,
            ).where(models.ChatMessage.key.in_(keys), models.ChatMessage.message_id.is_not(None))
        ).all()
    return {
        row.task_id: f"https://discord.com/channels/{guild_id}/{row.channel_id}/{row.message_id}"
        for row in rows
        if row.task_id is not None
    }


# an intent the model gives at least this probability starts out ticked in Correct label
TICKED = 0.5


def current_labels(db: Database, task_id: int) -> tuple[str | None, list[str]]:
    """The task's mention's labels as a person last gave them, else as the model did."""
    with db.transaction() as session:
        mention_id = session.scalar(select(models.Task.mention_id).where(models.Task.id == task_id))
        if mention_id is None:
            return None, []
        corrected = session.scalars(
            select(models.LabelCorrection)
            .where(models.LabelCorrection.mention_id == mention_id)
            .order_by(models.LabelCorrection.id.desc())
            .limit(1)
        ).first()
        labels = session.get(models.Classification, mention_id)
        model_intents = labels.intents if labels is not None else {}
        sentiment = labels.sentiment if labels is not None else None
        intents = sorted(name for name, p in model_intents.items() if float(p) >= TICKED)
        if corrected is not None:
            sentiment = corrected.sentiment or sentiment
            intents = corrected.intents if corrected.intents is not None else intents
    return sentiment, intents
