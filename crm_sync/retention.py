"""Retention: delete what is older than the settings allow, in batches; then orphan authors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, CursorResult, and_, delete, exists, func, select, true
from sqlalchemy import inspect as inspect_model
from sqlalchemy.orm import Session

from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import RetentionSettings

log = logging.getLogger(__name__)

# rows per transaction: a large table never holds one long lock
BATCH_SIZE: Final = 1000
# an author seen this recently may be getting its first mention in a transaction not yet
# committed: it is no orphan yet
ORPHAN_GRACE: Final = timedelta(days=1)
ORPHANS: Final = "orphan_authors"

Condition = Callable[[datetime], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class Rule:
    """Rows of `model` that `condition(cutoff)` selects are deleted once `days` old (0: never)."""

    name: str
    model: type[models.Base]
    days: int
    condition: Condition


def rules(settings: RetentionSettings) -> list[Rule]:
    """What the settings keep for how long, one rule per kind of record."""
    m = models
    sent = m.OutboxMessage.state == "sent"
    dead = m.OutboxMessage.state == "dead"
    return [
        # the post's own date (indexed), so an imported archive is held to the same limit
        Rule("mentions", m.Mention, settings.mentions_days, lambda c: m.Mention.created_at < c),
        Rule(
            "quarantine",
            m.QuarantinedItem,
            settings.quarantine_days,
            lambda c: m.QuarantinedItem.created_at < c,
        ),
        Rule(
            "collector_runs",
            m.CollectorRun,
            settings.collector_runs_days,
            lambda c: m.CollectorRun.started_at < c,
        ),
        Rule(
            "outbox_sent",
            m.OutboxMessage,
            settings.outbox_sent_days,
            lambda c: and_(
                sent, func.coalesce(m.OutboxMessage.sent_at, m.OutboxMessage.created_at) < c
            ),
        ),
        Rule(
            "outbox_dead",
            m.OutboxMessage,
            settings.outbox_dead_days,
            lambda c: and_(dead, m.OutboxMessage.created_at < c),
        ),
        Rule("audit_log", m.AuditEntry, settings.audit_log_days, lambda c: m.AuditEntry.at < c),
        Rule(
            "customer_history",
            m.CustomerHistory,
            settings.customer_history_days,
            lambda c: m.CustomerHistory.at < c,
        ),
        # a decision on a suggested link is history too (after it, the pair may be suggested again)
        Rule(
            "decided_suggestions",
            m.LinkSuggestion,
            settings.customer_history_days,
            lambda c: and_(m.LinkSuggestion.state != "open", m.LinkSuggestion.decided_at < c),
        ),
        # chat alerts delivered or given up on (cards go with their tasks, tasks with mentions)
        Rule(
            "chat_alerts",
            m.ChatMessage,
            settings.chat_alerts_days,
            lambda c: and_(
                m.ChatMessage.kind == "alert",
                m.ChatMessage.state != "pending",
                m.ChatMessage.created_at < c,
            ),
        ),
        Rule("incidents", m.Incident, settings.incidents_days, lambda c: m.Incident.opened_at < c),
    ]


def purge(
    db: Database,
    settings: RetentionSettings,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> dict[str, int]:
    """Delete every row older than `settings` allow, then orphan authors; count per kind.

    Each batch commits on its own. `dry_run` counts what would go and deletes nothing.
    """
    now = now or utcnow()
    counts: dict[str, int] = {}
    for rule in rules(settings):
        if rule.days == 0:
            counts[rule.name] = 0
            continue
        condition = rule.condition(now - timedelta(days=rule.days))
        if dry_run:
            counts[rule.name] = _count(db, rule.model, condition)
        else:
            counts[rule.name] = _delete_in_batches(db, rule.model, condition, batch_size)
    orphans = _orphans(now, _kept_mentions(settings, now) if dry_run else true())
    if dry_run:
        counts[ORPHANS] = _count(db, models.Author, orphans)
    else:
        counts[ORPHANS] = _delete_in_batches(db, models.Author, orphans, batch_size)
    log.info("retention %s: %s", "dry run" if dry_run else "purge", counts)
    return counts


def _kept_mentions(settings: RetentionSettings, now: datetime) -> ColumnElement[bool]:
    """Mentions a purge would keep: a dry run counts the authors left without any."""
    if settings.mentions_days == 0:
        return true()
    return models.Mention.created_at >= now - timedelta(days=settings.mentions_days)


def _orphans(now: datetime, kept: ColumnElement[bool]) -> ColumnElement[bool]:
    """Authors with no (kept) mention and no customer: nothing is known through them any more."""
    author = models.Author
    mentions = select(models.Mention.id).where(models.Mention.author_id == author.id, kept)
    return and_(
        author.customer_id.is_(None),
        author.last_seen_at < now - ORPHAN_GRACE,
        ~exists(mentions),
    )


def _count(db: Database, model: type[models.Base], condition: ColumnElement[bool]) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(condition)) or 0


def _delete_in_batches(
    db: Database, model: type[models.Base], condition: ColumnElement[bool], batch_size: int
) -> int:
    """Delete the rows `condition` selects, `batch_size` per committed transaction."""
    deleted = 0
    while True:
        with db.transaction() as session:
            ids, count = _delete_batch(session, model, condition, batch_size)
        deleted += count
        if len(ids) < batch_size:
            return deleted


def _delete_batch(
    session: Session, model: type[models.Base], condition: ColumnElement[bool], batch_size: int
) -> tuple[list[Any], int]:
    pk = inspect_model(model).primary_key[0]
    ids = list(session.scalars(select(pk).where(condition).order_by(pk).limit(batch_size)))
    if not ids:
        return ids, 0
    # the condition again: a row may have changed (an outbox message resent) since it was read
    statement = delete(model).where(pk.in_(ids), condition)
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        statement.execution_options(synchronize_session=False)
    )
    return ids, int(result.rowcount)
