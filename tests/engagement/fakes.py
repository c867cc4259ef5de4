"""Fakes for the chat tests: a notifier that fails on demand, and small database builders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from engagement.cards import ChatContent
from engagement.notify import ChatError, ChatMessageGoneError, ChatRejectedError
from engagement.notify import ChatUnavailableError as Unavailable
from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.mention import Author, Cursor, Mention, Page

# a Tuesday, 10:00 UTC
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@dataclass
class FakeChat:
    """Chat's side, which outlives our process: its messages and Discord's memory of nonces."""

    messages: dict[str, tuple[str, ChatContent]] = field(default_factory=dict)  # id -> channel
    nonces: dict[str, str] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def delete(self, message_id: str) -> None:
        """Someone deletes the message in chat."""
        self.messages.pop(message_id)
        self.deleted.add(message_id)


@dataclass(frozen=True)
class Posted:
    """A post that created a message."""

    channel_id: str
    message_id: str
    nonce: str
    content: ChatContent


@dataclass(frozen=True)
class Edited:
    """An edit of a message."""

    channel_id: str
    message_id: str
    content: ChatContent


class FakeNotifier:
    """A `Notifier`: fails the next `failures` calls with `error`, records posts and edits.

    Like Discord with `enforce_nonce`, a post with a nonce seen before returns the message
    already made and posts nothing. `lose_answers` posts that land and then time out model a
    crash between chat accepting the post and our commit.
    """

    def __init__(self, chat: FakeChat | None = None) -> None:
        self.chat = chat if chat is not None else FakeChat()
        self.posts: list[Posted] = []
        self.edits: list[Edited] = []
        self.calls = 0
        self.failures = 0
        self.error: ChatError | Exception = Unavailable("chat is down")
        self.lose_answers = 0
        self.during_call: Callable[[], None] | None = None

    def fail(self, times: int, error: ChatError | Exception | None = None) -> FakeNotifier:
        """Fail the next `times` calls with `error` (unavailable unless told)."""
        self.failures = times
        self.error = error if error is not None else Unavailable("chat is down")
        return self

    def _call(self) -> None:
        self.calls += 1
        if self.during_call is not None:
            hook, self.during_call = self.during_call, None
            hook()
        if self.failures > 0:
            self.failures -= 1
            raise self.error

    def post(self, channel_id: str, content: ChatContent, nonce: str) -> str:
        """Post once per nonce; the message id."""
        self._call()
        if nonce in self.chat.nonces:
            return self.chat.nonces[nonce]
        message_id = str(900_000 + len(self.chat.nonces))
        self.chat.nonces[nonce] = message_id
        self.chat.messages[message_id] = (channel_id, content)
        self.posts.append(Posted(channel_id, message_id, nonce, content))
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise Unavailable("timed out waiting for chat's answer")
        return message_id

    def edit(self, channel_id: str, message_id: str, content: ChatContent) -> None:
        """Replace a message's content."""
        self._call()
        if message_id in self.chat.deleted:
            raise ChatMessageGoneError("404 Unknown Message")
        if self.chat.messages.get(message_id, ("", None))[0] != channel_id:
            raise ChatRejectedError("404 Unknown Channel or Message")
        self.chat.messages[message_id] = (channel_id, content)
        self.edits.append(Edited(channel_id, message_id, content))


def save_mentions(db: Database, *mentions: Mention) -> list[int]:
    """Store mentions as a collector would; their ids in order."""
    with db.transaction() as session:
        storage.save_page(session, "test", Page(tuple(mentions), Cursor()))
        rows = session.execute(select(models.Mention.source_id, models.Mention.id))
        ids = {str(source_id): int(id_) for source_id, id_ in rows}
    return [ids[mention.source_id] for mention in mentions]


def label(db: Database, mention_id: int, sentiment: str | None) -> None:
    """Give a stored mention a sentiment (None: another language, not labelled)."""
    with db.transaction() as session:
        session.add(
            models.Classification(
                mention_id=mention_id,
                sentiment=sentiment,
                sentiment_scores={},
                intents={},
                needs_reply=0.5,
                uncertain=False,
                lang="en",
                model="test@1",
            )
        )


def make_task(
    db: Database,
    number: int,
    priority: int = 3,
    queue: str = "support",
    state: str = "notified",
    sla_due_at: datetime | None = None,
    opened_at: datetime = NOW,
) -> int:
    """A task over a fresh mention by a fresh author; its id."""
    (mention_id,) = save_mentions(
        db,
        Mention(
            source="mastodon",
            source_id=f"task{number}",
            text=f"post {number} about inkwell",
            created_at=NOW - timedelta(minutes=number),
            author=Author(handle=f"author{number}"),
            url=f"https://example.social/@author{number}/{number}",
        ),
    )
    with db.transaction() as session:
        author_id = session.get_one(models.Mention, mention_id).author_id
        task = models.Task(
            conversation=f"mastodon:t{number}:author{number}",
            mention_id=mention_id,
            author_id=author_id,
            state=state,
            priority=priority,
            queue=queue,
            sla_due_at=sla_due_at,
            opened_at=opened_at,
        )
        session.add(task)
        session.flush()
        return task.id


def chat_rows(db: Database) -> list[models.ChatMessage]:
    """Every chat message row (detached), by id."""
    with db.transaction() as session:
        rows = list(session.scalars(select(models.ChatMessage).order_by(models.ChatMessage.id)))
        session.expunge_all()
    return rows


def chat_row(db: Database, key: str) -> models.ChatMessage:
    """The chat message row with `key` (detached)."""
    with db.transaction() as session:
        row = session.scalars(select(models.ChatMessage).where(models.ChatMessage.key == key)).one()
        session.expunge(row)
    return row
