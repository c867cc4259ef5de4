"""Retention: what is older than the settings allow goes, newer rows and 0-day tables stay."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from crm_sync import retention
from socialcrm import models
from socialcrm.cli import app
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import RetentionSettings
from tests.fakes import count_rows

NOW = utcnow().replace(microsecond=0)
DEFAULTS = RetentionSettings()  # mentions 730, quarantine 30, runs 90, sent 30, dead 90, ...
KEEP_ALL = RetentionSettings(
    chat_alerts_days=0,
    incidents_days=0,
    mentions_days=0,
    quarantine_days=0,
    collector_runs_days=0,
    outbox_sent_days=0,
    outbox_dead_days=0,
    audit_log_days=0,
    customer_history_days=0,
)


def _ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _author(session: Session, handle: str, seen_days_ago: float, **details: object) -> int:
    row = models.Author(
        source="reddit",
        key=handle,
        handle=handle,
        first_seen_at=_ago(seen_days_ago),
        last_seen_at=_ago(seen_days_ago),
        **details,
    )
    session.add(row)
    session.flush()
    return row.id


def _mention(session: Session, author_id: int, name: str, days: float) -> int:
    row = models.Mention(
        source="reddit", source_id=name, author_id=author_id, text=name, created_at=_ago(days)
    )
    session.add(row)
    session.flush()
    return row.id


def _outbox(session: Session, key: str, state: str, days: float) -> None:
    session.add(
        models.OutboxMessage(
            connector="webhook",
            topic="contact.upsert",
            idempotency_key=key,
            payload={"id": key},
            state=state,
            created_at=_ago(days),
            sent_at=_ago(days) if state == "sent" else None,
        )
    )


def _old_and_new_mentions(session: Session) -> None:
    """An author whose only mention is too old, and one with an old and a new mention."""
    gone = _author(session, "gone", 800)
    _mention(session, gone, "old-1", 800)
    kept = _author(session, "kept", 800)
    old = _mention(session, kept, "old-2", 731)
    _mention(session, kept, "new-1", 729)
    session.add(
        models.Task(
            conversation="x:old-2:kept",
            mention_id=old,
            author_id=kept,
            reason="complaint",
            queue="support",
        )
    )
    session.add(
        models.Classification(
            mention_id=old,
            sentiment="neutral",
            sentiment_scores={},
            intents={},
            uncertain=False,
            model="test@1",
        )
    )


def _records(session: Session) -> None:
    """Two of every other kind of record: one past its limit, one within it."""
    customer = models.Customer(display_name="c")
    session.add(customer)
    session.flush()
    for days, name in ((31, "old"), (29, "new")):
        session.add(
            models.QuarantinedItem(source="x", reason=name, payload="{}", created_at=_ago(days))
        )
        _outbox(session, f"sent-{name}", "sent", days)
    for days, name in ((91, "old"), (89, "new")):
        session.add(models.CollectorRun(source=name, started_at=_ago(days)))
        _outbox(session, f"dead-{name}", "dead", days)
    for days in (731, 729):
        session.add(models.AuditEntry(actor="sam", action="x", subject_type="x", at=_ago(days)))
    for days in (366, 364):
        session.add(
            models.CustomerHistory(customer_id=customer.id, action="x", actor="sam", at=_ago(days))
        )
    # decided suggestions are history too; an open one waits for a person, whatever its age
    for days, state, handle in (
        (366, "rejected", "s1"),
        (364, "accepted", "s2"),
        (900, "open", "s3"),
    ):
        session.add(
            models.LinkSuggestion(
                author_id=_author(session, handle, 0.01),
                customer_id=customer.id,
                confidence=0.5,
                evidence=[],
                state=state,
                created_at=_ago(days),
                decided_at=None if state == "open" else _ago(days),
            )
        )
    _outbox(session, "pending-ancient", "pending", 5000)  # never sent: no age removes it
    for days, state, key in ((91, "sent", "old"), (89, "sent", "new"), (500, "pending", "due")):
        session.add(
            models.ChatMessage(
                key=f"alert:{key}", kind="alert", queue="alerts", state=state, created_at=_ago(days)
            )
        )
    for days, hour in ((366, 1), (364, 2)):
        session.add(
            models.Incident(
                query="brand:inkwell",
                window_start=_ago(days),
                kind="volume",
                volume=hour,
                negatives=0,
                opened_at=_ago(days),
            )
        )
    # no mentions, but a customer, or seen just now (its first mention may be on its way)
    _author(session, "linked", 800, customer_id=customer.id)
    _author(session, "fresh", 0.01)
    _author(session, "orphan", 2)


@pytest.fixture
def filled(db: Database) -> Database:
    """A database with rows on both sides of every default limit."""
    with db.transaction() as session:
        _old_and_new_mentions(session)
        _records(session)
    return db


EXPECTED = {
    "mentions": 2,
    "quarantine": 1,
    "collector_runs": 1,
    "outbox_sent": 1,
    "outbox_dead": 1,
    "audit_log": 1,
    "customer_history": 1,
    "decided_suggestions": 1,
    "chat_alerts": 1,
    "incidents": 1,
    "orphan_authors": 2,  # "gone" (its mention was purged) and "orphan"
}


def _names(db: Database, column: object) -> list[str]:
    with db.transaction() as session:
        return sorted(session.scalars(select(column)))  # type: ignore[call-overload]


def test_purge_deletes_what_is_past_its_limit_and_keeps_the_rest(filled: Database) -> None:
    counts = retention.purge(filled, DEFAULTS, now=NOW)
    assert counts == EXPECTED
    assert _names(filled, models.Mention.source_id) == ["new-1"]
    assert _names(filled, models.Author.handle) == ["fresh", "kept", "linked", "s1", "s2", "s3"]
    assert _names(filled, models.QuarantinedItem.reason) == ["new"]
    assert _names(filled, models.CollectorRun.source) == ["new"]
    assert _names(filled, models.OutboxMessage.idempotency_key) == [
        "dead-new",
        "pending-ancient",
        "sent-new",
    ]
    assert count_rows(filled, models.AuditEntry) == 1
    assert count_rows(filled, models.CustomerHistory) == 1
    assert _names(filled, models.LinkSuggestion.state) == ["accepted", "open"]
    assert _names(filled, models.ChatMessage.key) == ["alert:due", "alert:new"]
    assert _names(filled, models.Incident.volume) == [2]
    # what hung on the purged mention went with it
    assert count_rows(filled, models.Task) == 0
    assert count_rows(filled, models.Classification) == 0


def test_a_second_purge_finds_nothing(filled: Database) -> None:
    retention.purge(filled, DEFAULTS, now=NOW)
    assert set(retention.purge(filled, DEFAULTS, now=NOW).values()) == {0}


def test_a_dry_run_counts_the_same_and_deletes_nothing(filled: Database) -> None:
    before = {m: count_rows(filled, m) for m in (models.Mention, models.Author, models.AuditEntry)}
    assert retention.purge(filled, DEFAULTS, now=NOW, dry_run=True) == EXPECTED
    after = {m: count_rows(filled, m) for m in (models.Mention, models.Author, models.AuditEntry)}
    assert after == before


def test_zero_days_keeps_every_row_of_that_kind(filled: Database) -> None:
    counts = retention.purge(filled, KEEP_ALL, now=NOW)
    assert {k: v for k, v in counts.items() if k != retention.ORPHANS} == dict.fromkeys(
        EXPECTED.keys() - {retention.ORPHANS}, 0
    )
    assert counts[retention.ORPHANS] == 1  # only the author that never had a mention
    assert count_rows(filled, models.Mention) == 3
    assert count_rows(filled, models.QuarantinedItem) == 2
    assert count_rows(filled, models.OutboxMessage) == 5


def test_a_large_table_is_purged_in_committed_batches(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.transaction() as session:
        author = _author(session, "busy", 0)
        for n in range(7):
            _mention(session, author, f"old-{n}", 800)
        _mention(session, author, "new", 1)
    opened = []
    original = db.transaction

    @contextmanager
    def counted() -> Iterator[Session]:
        opened.append(1)
        with original() as session:
            yield session

    monkeypatch.setattr(db, "transaction", counted)
    only_mentions = KEEP_ALL.model_copy(update={"mentions_days": 730})
    counts = retention.purge(db, only_mentions, now=NOW, batch_size=3)
    assert counts["mentions"] == 7
    assert len(opened) == 4  # mentions: 3 + 3 + 1 (the last batch is short), then orphans
    with original() as session:
        assert session.scalar(select(func.count()).select_from(models.Mention)) == 1


@pytest.fixture
def cli(database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke `socialcrm` against the test database with the default retention."""
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = write_settings('[app]\nlog_level = "WARNING"\n[retention]\naudit_log_days = 0\n')

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["--config", str(path), *args])

    return invoke


def test_cli_purge_prints_counts_and_a_dry_run_deletes_nothing(cli, filled: Database) -> None:  # type: ignore[no-untyped-def]
    dry = cli("retention", "purge", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing was deleted" in dry.output
    assert "mentions: 2 to delete" in dry.output
    assert "audit_log: kept for ever (0 days)" in dry.output
    assert count_rows(filled, models.Mention) == 3
    done = cli("retention", "purge")
    assert done.exit_code == 0, done.output
    assert "mentions: 2 deleted" in done.output
    assert "orphan_authors: 2 deleted" in done.output
    assert count_rows(filled, models.Mention) == 1
    assert count_rows(filled, models.AuditEntry) == 2
