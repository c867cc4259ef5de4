"""A digest is rendered outside the outbox lease: the lease is committed, nothing is locked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engagement import notify
from engagement.cards import ChatContent
from engagement.notify import DispatchResult, dispatch
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import utcnow
from tests.engagement.fakes import FakeNotifier

Row = models.ChatMessage
DigestDraw = Callable[[Session, datetime, datetime], ChatContent]


@pytest.fixture
def other(db: Database) -> Iterator[Engine]:
    """A second connection that gives up after a second instead of waiting for a lock."""
    timeout = {"timeout": 1} if db.dialect == "sqlite" else {}
    engine = create_engine(db.engine.url, poolclass=NullPool, connect_args=timeout)
    yield engine
    engine.dispose()


def _queue_digest(db: Database) -> int:
    """Queue last week's digest; due from the real clock's now on."""
    until = utcnow()
    with db.transaction() as session:
        notify.queue_digest(session, "alerts", until - timedelta(days=7), until)
        return session.scalars(select(Row.id)).one()


def _send(
    db: Database, digest: DigestDraw, notifier: FakeNotifier, now: datetime
) -> DispatchResult:
    render = notify.renderer(lambda _session, _task: ChatContent(), digest)
    return dispatch(db, notifier, render, lambda _queue: "333", now=now)


def _row(db: Database, row_id: int) -> models.ChatMessage:
    with db.transaction() as session:
        return session.get_one(Row, row_id)


def _write_elsewhere(db: Database, other: Engine, row_id: int, **values: object) -> datetime:
    """Update the row on the second connection; the lease that connection saw first."""
    with other.begin() as connection:
        if db.dialect == "postgresql":
            connection.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
        leased = connection.scalar(select(Row.next_attempt_at).where(Row.id == row_id))
        connection.execute(update(Row).where(Row.id == row_id).values(**values))
    assert leased is not None
    return leased


def test_a_digest_is_rendered_with_its_lease_committed_and_the_row_unlocked(
    db: Database, other: Engine
) -> None:
    row_id = _queue_digest(db)
    now = utcnow()
    seen: list[datetime] = []

    def digest(session: Session, since: datetime, until: datetime) -> ChatContent:
        # another connection sees the lease and can write the row: no transaction holds it
        seen.append(_write_elsewhere(db, other, row_id, priority=Row.priority))
        return ChatContent(content="weekly", files=(("sentiment.png", b"png"),))

    notifier = FakeNotifier()
    assert _send(db, digest, notifier, now) == DispatchResult(posted=1)
    assert seen == [now + notify.LEASE]
    assert [post.content.content for post in notifier.posts] == ["weekly"]
    row = _row(db, row_id)
    assert (row.state, row.delivered_version, row.message_id) == (
        "sent",
        1,
        notifier.posts[0].message_id,
    )


def test_a_digest_that_fails_to_render_is_retried_later(db: Database) -> None:
    row_id = _queue_digest(db)
    now = utcnow()
    calls: list[int] = []

    def digest(session: Session, since: datetime, until: datetime) -> ChatContent:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a report query failed")
        return ChatContent(content="weekly")

    notifier = FakeNotifier()
    assert _send(db, digest, notifier, now) == DispatchResult(failed=1)
    row = _row(db, row_id)
    assert (row.state, row.attempts, row.delivered_version) == ("pending", 1, 0)
    assert row.next_attempt_at == now + timedelta(seconds=notify.backoff(1))
    assert "a report query failed" in (row.last_error or "")
    assert notifier.posts == []
    later = now + timedelta(minutes=1)
    assert _send(db, digest, notifier, later) == DispatchResult(posted=1)
    assert (_row(db, row_id).state, len(notifier.posts)) == ("sent", 1)


def test_a_digest_leased_again_while_it_renders_is_left_to_the_new_lease(
    db: Database, other: Engine
) -> None:
    row_id = _queue_digest(db)
    now = utcnow()
    theirs = now + timedelta(minutes=5)

    def digest(session: Session, since: datetime, until: datetime) -> ChatContent:
        # a second dispatcher claimed the row after our lease ran out (a very slow render)
        _write_elsewhere(db, other, row_id, next_attempt_at=theirs)
        return ChatContent(content="weekly")

    notifier = FakeNotifier()
    assert _send(db, digest, notifier, now) == DispatchResult()
    assert notifier.posts == []
    row = _row(db, row_id)
    assert (row.state, row.next_attempt_at, row.delivered_version) == ("pending", theirs, 0)


def test_the_render_transaction_refuses_writes(db: Database) -> None:
    _queue_digest(db)
    with pytest.raises(DBAPIError), db.reading() as session:
        session.execute(update(Row).values(priority=1))
    assert _row_priorities(db) == [4]


def test_a_read_only_transaction_blocks_no_writer(db: Database, other: Engine) -> None:
    row_id = _queue_digest(db)
    with db.reading() as session:
        assert session.get_one(Row, row_id).priority == 4
        _write_elsewhere(db, other, row_id, priority=2)  # would time out if a lock were held
    assert _row_priorities(db) == [2]


def _row_priorities(db: Database) -> list[int]:
    with db.transaction() as session:
        return list(session.scalars(select(Row.priority)))
