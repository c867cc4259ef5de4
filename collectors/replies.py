"""Posting a reply exactly once: the key is stored before posting, the platform's id after."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from collectors.base import PostedReply, Responder, SourceError, TargetGoneError
from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.mention import Mention, utcnow

log = logging.getLogger(__name__)

# a pending reply younger than this is taken to be in flight in another worker
IN_FLIGHT = timedelta(minutes=2)


class ReplyError(Exception):
    """A reply that cannot be sent as asked; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """The posted reply, and whether this call posted it (False: an earlier call had)."""

    reply: PostedReply
    posted_now: bool


def send_reply(
    db: Database, responder: Responder, mention_id: int, text: str, idempotency_key: str
) -> ReplyOutcome:
    """Post `text` as a reply to mention `mention_id` once per `idempotency_key`.

    The key is committed before the platform is called and the platform's reply id after, so a
    repeated call returns the stored reply instead of posting again. A crash between the post
    and the second commit leaves the row pending: the retry then relies on the responder's own
    idempotency (Mastodon's Idempotency-Key, Bluesky's fixed record key, Reddit's duplicate check).
    The platform is never called inside a transaction.
    """
    if not text.strip():
        raise ReplyError("a reply needs some text")
    mention, done = _claim(db, responder.name, mention_id, text, idempotency_key)
    if done is not None:
        return ReplyOutcome(done, posted_now=False)
    try:
        reply = responder.post(mention, text, idempotency_key)
    except TargetGoneError as error:
        _finish(db, idempotency_key, state="gone", error=str(error))
        with db.transaction() as session:
            storage.mark_deleted(session, mention_id)
        raise
    except SourceError as error:
        _finish(db, idempotency_key, state="failed", error=str(error))
        raise
    except Exception as error:
        # a bug, not a platform answer: record it so the reply is not left pending
        _finish(db, idempotency_key, state="failed", error=repr(error))
        raise
    _finish(db, idempotency_key, state="sent", reply=reply)
    log.info("replied to mention %d on %s: %s", mention_id, mention.source, reply.url)
    return ReplyOutcome(reply, posted_now=True)


def _claim(
    db: Database, platform: str, mention_id: int, text: str, key: str
) -> tuple[Mention, PostedReply | None]:
    now = utcnow()
    with db.transaction() as session:
        mentions = storage.load_mentions(session, [mention_id])
        if not mentions:
            raise ReplyError(f"no mention with id {mention_id}")
        if mentions[0].source != platform:
            raise ReplyError(f"mention {mention_id} is from {mentions[0].source}, not {platform}")
        # insert-or-nothing, then lock the row: two callers with one key cannot both post
        session.execute(
            storage.upsert(session, models.Reply.__table__)
            .values(
                mention_id=mention_id,
                idempotency_key=key,
                text=text,
                state="new",
                attempts=0,
                attempted_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        row = session.scalars(
            select(models.Reply).where(models.Reply.idempotency_key == key).with_for_update()
        ).one()
        if row.mention_id != mention_id:
            raise ReplyError(f"idempotency key {key!r} was used for mention {row.mention_id}")
        if row.state == "sent" and row.platform_reply_id is not None:
            return mentions[0], PostedReply(row.platform_reply_id, row.url)
        if row.state == "gone":
            raise ReplyError(f"mention {mention_id} was deleted on {mentions[0].source}")
        if row.state == "pending" and now - row.attempted_at < IN_FLIGHT:
            raise ReplyError(f"the reply {key!r} is being sent right now; try again shortly")
        row.state, row.text, row.attempted_at = "pending", text, now
        row.attempts += 1
        return mentions[0], None


def _finish(
    db: Database,
    key: str,
    state: str,
    reply: PostedReply | None = None,
    error: str | None = None,
) -> None:
    values: dict[str, object] = {"state": state, "error": error}
    if reply is not None:
        values |= {"platform_reply_id": reply.reply_id, "url": reply.url, "sent_at": utcnow()}
    with db.transaction() as session:
        session.execute(
            update(models.Reply).where(models.Reply.idempotency_key == key).values(**values)
        )
