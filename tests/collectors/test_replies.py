"""Replies go out once per idempotency key; failures and deleted targets are recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from collectors.base import PostedReply, TargetGoneError, TransientSourceError
from collectors.replies import ReplyError, send_reply
from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.mention import Cursor, Mention, Page, utcnow
from tests.fakes import mention


@dataclass
class FakeResponder:
    """Answers on the `fake` platform; counts posts; can be told to fail."""

    error: Exception | None = None
    posts: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "fake"

    def post(self, target: Mention, text: str, idempotency_key: str) -> PostedReply:
        if self.error is not None:
            raise self.error
        self.posts.append((target.source_id, text, idempotency_key))
        number = len(self.posts)
        return PostedReply(f"r{number}", f"https://fake.example/r{number}")


@pytest.fixture
def mention_id(db: Database) -> int:
    with db.transaction() as session:
        result = storage.save_page(session, "fake", Page((mention(1),), Cursor({})))
    return result.new_ids[0]


def _reply_row(db: Database) -> models.Reply:
    with db.transaction() as session:
        row = session.scalars(select(models.Reply)).one()
        session.expunge(row)
        return row


def test_a_reply_is_posted_once_per_key(db: Database, mention_id: int) -> None:
    responder = FakeResponder()
    first = send_reply(db, responder, mention_id, "Thanks!", "task-1")
    again = send_reply(db, responder, mention_id, "Thanks!", "task-1")
    assert first.posted_now
    assert not again.posted_now
    assert again.reply == first.reply == PostedReply("r1", "https://fake.example/r1")
    assert responder.posts == [("m1", "Thanks!", "task-1")]
    row = _reply_row(db)
    assert (row.state, row.platform_reply_id, row.attempts) == ("sent", "r1", 1)
    assert row.sent_at is not None


def test_a_failed_post_is_recorded_and_can_be_retried(db: Database, mention_id: int) -> None:
    responder = FakeResponder(error=TransientSourceError("fake: HTTP 503"))
    with pytest.raises(TransientSourceError):
        send_reply(db, responder, mention_id, "Thanks!", "task-1")
    assert (_reply_row(db).state, _reply_row(db).error) == ("failed", "fake: HTTP 503")
    responder.error = None
    assert send_reply(db, responder, mention_id, "Thanks!", "task-1").posted_now
    assert _reply_row(db).attempts == 2


def test_a_pending_reply_in_flight_is_not_posted_twice(db: Database, mention_id: int) -> None:
    with db.transaction() as session:
        session.add(
            models.Reply(
                mention_id=mention_id, idempotency_key="task-1", text="hi", state="pending"
            )
        )
    responder = FakeResponder()
    with pytest.raises(ReplyError, match="being sent right now"):
        send_reply(db, responder, mention_id, "hi", "task-1")
    assert responder.posts == []
    with db.transaction() as session:  # a crashed worker's claim expires
        session.execute(update(models.Reply).values(attempted_at=utcnow() - timedelta(hours=1)))
    assert send_reply(db, responder, mention_id, "hi", "task-1").posted_now


def test_a_deleted_target_marks_the_mention_deleted(db: Database, mention_id: int) -> None:
    responder = FakeResponder(error=TargetGoneError("fake: the post was deleted"))
    with pytest.raises(TargetGoneError):
        send_reply(db, responder, mention_id, "Thanks!", "task-1")
    with db.transaction() as session:
        assert session.get(models.Mention, mention_id).deleted_at is not None  # type: ignore[union-attr]
    with pytest.raises(ReplyError, match="was deleted"):
        send_reply(db, FakeResponder(), mention_id, "Thanks!", "task-1")


def test_bad_requests_are_one_line_errors(db: Database, mention_id: int) -> None:
    with pytest.raises(ReplyError, match="no mention with id 999"):
        send_reply(db, FakeResponder(), 999, "hi", "k")
    with pytest.raises(ReplyError, match="needs some text"):
        send_reply(db, FakeResponder(), mention_id, "  ", "k")
    send_reply(db, FakeResponder(), mention_id, "hi", "k")
    with db.transaction() as session:
        other = storage.save_page(session, "fake", Page((mention(2),), Cursor({})))
    with pytest.raises(ReplyError, match="was used for mention"):
        send_reply(db, FakeResponder(), other.new_ids[0], "hi", "k")


def test_the_wrong_platform_is_refused_before_anything_is_claimed(
    db: Database, mention_id: int
) -> None:
    class OtherResponder(FakeResponder):
        @property
        def name(self) -> str:
            return "elsewhere"

    with pytest.raises(ReplyError, match="is from fake, not elsewhere"):
        send_reply(db, OtherResponder(), mention_id, "hi", "k")
    assert send_reply(db, FakeResponder(), mention_id, "hi", "k").posted_now


def test_a_crashing_responder_leaves_the_reply_failed_not_pending(
    db: Database, mention_id: int
) -> None:
    with pytest.raises(KeyError):
        send_reply(db, FakeResponder(error=KeyError("bug")), mention_id, "hi", "k")
    assert (_reply_row(db).state, _reply_row(db).error) == ("failed", "KeyError('bug')")
