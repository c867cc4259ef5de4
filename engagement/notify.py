"""The chat outbox: cards, alerts and incidents queued in the caller's transaction, sent after.

A row's `version` rises whenever its message should change; `dispatch` brings
`delivered_version` up to it, posting once (the row's key as the nonce, so a post lost between
Discord and our commit is not repeated) and editing ever after. The content is rendered from
the database when it is sent, so an edit always shows the current state and repeating it is
harmless. While chat is down nothing is sent and nothing is lost: when it returns, the
messages go out in priority order.

A digest runs every report query and draws charts, too slow to hold a row's lease transaction
(and SQLite's one write lock) for: its lease is committed first, it is rendered in a read-only
transaction, and it is sent only if the lease is still ours; a failed render is retried.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, and_, case, func, not_, or_, select, update
from sqlalchemy.orm import Session

from engagement import cards
from engagement.cards import ChatContent
from engagement.states import CLOSED, Action, State, advance
from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.mention import fit_key, utcnow
from socialcrm.settings import DiscordSettings

log = logging.getLogger(__name__)

DEFAULT_LIMIT: Final = 50
# A claimed row is not due again for this long, so a second dispatcher leaves it alone; if the
# process dies mid-send, the row is retried after it (within Discord's nonce memory).
LEASE: Final = timedelta(minutes=2)
RETRY_BASE_SECONDS: Final = 5.0
RETRY_MAX_SECONDS: Final = 300.0
MAX_BUG_ATTEMPTS: Final = 5
NONCE_LENGTH: Final = 25  # Discord's limit
# kinds rendered after their lease is committed, in a read-only transaction (slow to render)
RENDERED_APART: Final = frozenset({"digest"})

Renderer = Callable[[Session, models.ChatMessage], ChatContent]
# an alert never posted for this long (chat off or down) is no longer news
STALE: Final = timedelta(days=1)


class ChatError(Exception):
    """Chat refused or failed a call; the subclass says who must act."""


class ChatUnavailableError(ChatError):
    """Chat cannot be reached (network, 5xx): retried later; the round stops."""


class ChatRateLimitedError(ChatError):
    """Chat asked us to slow down: everything waits `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChatRejectedError(ChatError):
    """Chat refused this message for good (missing permission, unknown channel): it is dead."""


class ChatMessageGoneError(ChatRejectedError):
    """The message to edit was deleted in chat (404 Unknown Message): it is posted again."""


class ChatAuthError(ChatError):
    """Chat refused the bot's token: a person must set SOCIALCRM_DISCORD_TOKEN again."""


class Notifier(Protocol):
    """Where chat messages go (the Discord adapter; `FakeNotifier` in tests)."""

    def post(self, channel_id: str, content: ChatContent, nonce: str) -> str:
        """Post a message and return its id; a repeated `nonce` must not post twice."""
        ...

    def edit(self, channel_id: str, message_id: str, content: ChatContent) -> None:
        """Replace the content of a posted message."""
        ...


def _upsert(session: Session, rows: Sequence[dict[str, Any]], bump: bool) -> None:
    """Insert the rows, or (`bump`) mark the existing ones changed; one statement for all."""
    if not rows:
        return
    now = utcnow()
    defaults = {
        "payload": {},
        "version": 1,
        "delivered_version": 0,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "task_id": None,
        "incident_id": None,
    }
    stmt = storage.upsert(session, models.ChatMessage.__table__)
    params = [defaults | row for row in rows]
    if not bump:
        session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]), params)
        return
    row = models.ChatMessage
    changed = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "version": row.version + 1,
            "state": "pending",
            "priority": stmt.excluded.priority,
            "queue": stmt.excluded.queue,
            # a dead message brought back by a change starts its count of failures afresh
            "attempts": case((row.state == "dead", 0), else_=row.attempts),
            "next_attempt_at": case(
                (row.state == "dead", stmt.excluded.next_attempt_at), else_=row.next_attempt_at
            ),
        },
    )
    session.execute(changed, params)


def queue_card(session: Session, task_id: int, queue: str, priority: int) -> None:
    """Queue the task's card to be posted, or edited to its current state, after commit."""
    queue_cards(session, [(task_id, queue, priority)])


def queue_cards(session: Session, cards: Sequence[tuple[int, str, int]]) -> None:
    """Queue the cards of (task id, queue, priority), in a few statements for any number."""
    wanted = {f"task:{task_id}": (task_id, queue, priority) for task_id, queue, priority in cards}
    posted = session.scalars(
        select(models.ChatMessage).where(
            models.ChatMessage.key.in_(list(wanted)), models.ChatMessage.message_id.is_not(None)
        )
    )
    for message in posted:
        if message.queue != wanted[message.key][1]:
            # moved to another queue (escalated): posted afresh in that channel, with a new nonce
            reposts = int(message.payload.get("reposts") or 0) + 1
            message.message_id = message.channel_id = message.thread_id = None
            message.payload = {**message.payload, "reposts": reposts}
    session.flush()
    rows = [
        {"key": key, "kind": "card", "queue": queue, "priority": priority, "task_id": task_id}
        for key, (task_id, queue, priority) in sorted(wanted.items())
    ]
    _upsert(session, rows, bump=True)


def queue_alert(
    session: Session,
    key: str,
    queue: str,
    text: str,
    priority: int = 2,
    task_id: int | None = None,
) -> None:
    """Queue an alert once per `key` (`task_id`: erased with the task it speaks of)."""
    # a long source name must not make the key too long for its column: it is shortened
    stored = fit_key(f"alert:{key}") or key
    values = {"key": stored, "kind": "alert", "queue": queue, "priority": priority}
    _upsert(session, [values | {"payload": {"text": text}, "task_id": task_id}], bump=False)


def queue_incident(session: Session, incident_id: int, queue: str, priority: int = 1) -> None:
    """Queue an incident's message to be posted, or edited to its current state."""
    key = f"incident:{incident_id}"
    values = {"key": key, "kind": "incident", "queue": queue, "priority": priority}
    _upsert(session, [values | {"incident_id": incident_id}], bump=True)


def queue_digest(session: Session, queue: str, since: datetime, until: datetime) -> None:
    """Queue the report digest of [since, until) once, rendered (charts and all) when sent."""
    payload = {"since": since.isoformat(), "until": until.isoformat()}
    values = {"key": f"digest:{until.isoformat()}", "kind": "digest", "queue": queue}
    _upsert(session, [values | {"priority": 4, "payload": payload}], bump=False)


def nonce_for(key: str, reposts: int = 0) -> str:
    """The nonce of a post: stable per message (and per re-post), at most 25 characters."""
    raw = key if reposts == 0 else f"{key}#{reposts}"
    if len(raw) <= NONCE_LENGTH:
        return raw
    return hashlib.sha256(raw.encode()).hexdigest()[:NONCE_LENGTH]


Digest = Callable[[Session, datetime, datetime], ChatContent]


def renderer(
    task_content: Callable[[Session, int], ChatContent], digest: Digest | None = None
) -> Renderer:
    """A `dispatch` renderer: cards by `task_content`, digests by `digest`, the rest from cards."""

    def render(session: Session, message: models.ChatMessage) -> ChatContent:
        if message.kind == "card" and message.task_id is not None:
            return task_content(session, message.task_id)
        if message.kind == "digest" and digest is not None:
            since = datetime.fromisoformat(str(message.payload["since"]))
            return digest(session, since, datetime.fromisoformat(str(message.payload["until"])))
        if message.kind == "incident" and message.incident_id is not None:
            incident = session.get(models.Incident, message.incident_id)
            if incident is not None:
                return cards.incident_card(cards.IncidentView.from_row(incident))
        if message.kind == "alert":
            return cards.alert_content(str(message.payload.get("text") or ""))
        raise ValueError(f"chat message {message.key} ({message.kind}) has nothing to show")

    return render


def channel_router(discord: DiscordSettings, alerts_queue: str) -> Callable[[str], str | None]:
    """A `dispatch` channel_for: the queue's channel, the alerts channel, else the default."""

    def channel_for(queue: str) -> str | None:
        if queue in discord.channels:
            return discord.channels[queue]
        if queue == alerts_queue and discord.alerts_channel:
            return discord.alerts_channel
        return discord.default_channel or None

    return channel_for


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What one round did; `stopped` says why it ended early (unavailable|rate_limited|auth)."""

    posted: int = 0
    edited: int = 0
    failed: int = 0  # a bug in the notifier: retried with backoff, then dead
    dead: int = 0
    unrouted: int = 0  # waiting for a channel in settings
    stopped: str | None = None


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A row leased to this round with its content (None: it could not be rendered)."""

    id: int
    key: str
    version: int
    channel_id: str
    message_id: str | None
    reposts: int
    attempts: int
    content: ChatContent | None
    lease: datetime  # the row's next_attempt_at while this round holds it
    apart: bool = False  # rendered after the lease commits (content still None)


class _Health:
    """Whether chat is failing now, so an outage is logged when it starts and when it ends."""

    def __init__(self) -> None:
        self.failing: str | None = None
        self.unrouted: set[str] = set()
        # no round tries anything before this (an outage, a rate limit)
        self.held_until: datetime | None = None

    def fail(self, error: ChatError) -> None:
        """Log the failure if it begins an outage of this kind."""
        if self.failing == type(error).__name__:
            return
        self.failing = type(error).__name__
        if isinstance(error, ChatAuthError):
            log.error("chat refused the bot token: set SOCIALCRM_DISCORD_TOKEN and restart")
        else:
            log.warning("chat is failing; messages wait until it returns: %s", error)

    def ok(self) -> None:
        """Log the recovery if chat was failing."""
        self.held_until = None
        if self.failing is not None:
            self.failing = None
            log.info("chat delivers again")

    def no_channel(self, queue: str) -> None:
        """Log once that a queue has nowhere to go."""
        if queue not in self.unrouted:
            self.unrouted.add(queue)
            log.warning(
                "queue %s has no chat channel: set discord.channels or .default_channel", queue
            )


_health = _Health()
_STOPS: Final = ("unavailable", "rate_limited", "auth")


def backoff(attempts: int) -> float:
    """Seconds to wait after `attempts` failures in a row: 5, 10, 20 ... up to 5 minutes."""
    return float(min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2.0 ** max(0, attempts - 1)))


def dispatch(
    db: Database,
    notifier: Notifier,
    render: Renderer,
    channel_for: Callable[[str], str | None],
    now: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> DispatchResult:
    """Deliver up to `limit` due messages, most urgent first; each outcome committed on its own."""
    now = now or utcnow()
    if _health.held_until is not None and now < _health.held_until:
        return DispatchResult()  # chat is down or asked us to wait: nothing is tried
    routes, unrouted = _routes(db, channel_for, now)
    tally: Counter[str] = Counter()
    stopped = None
    for _ in range(limit):
        claimed = _claim(db, render, routes, now)
        if claimed is None:
            break
        outcome = _render_and_deliver(db, notifier, render, claimed, now)
        if outcome in _STOPS:
            stopped = outcome
            break
        tally[outcome] += 1
    counts = {name: tally[name] for name in ("posted", "edited", "failed", "dead")}
    return DispatchResult(**counts, unrouted=unrouted, stopped=stopped)


def _due(now: datetime) -> list[ColumnElement[bool]]:
    row, task = models.ChatMessage, models.Task
    closed = select(task.id).where(task.state.in_([state.value for state in CLOSED]))
    return [
        row.state == "pending",
        row.delivered_version < row.version,
        row.next_attempt_at <= now,
        # never posted and no longer news (chat was off, or down for long): not posted at all;
        # a closed task's card appears if the task reopens
        not_(and_(row.message_id.is_(None), row.kind == "card", row.task_id.in_(closed))),
        not_(and_(row.message_id.is_(None), row.kind == "alert", row.created_at < now - STALE)),
    ]


def _routes(
    db: Database, channel_for: Callable[[str], str | None], now: datetime
) -> tuple[dict[str, str], int]:
    """Channels of the queues with due messages, and how many due messages have none."""
    row = models.ChatMessage
    with db.transaction() as session:
        # only new posts need a channel: a posted message is edited where it is
        new = select(row.queue, func.count()).where(*_due(now), row.message_id.is_(None))
        counts = session.execute(new.group_by(row.queue))
        found = {queue: int(n) for queue, n in counts}
    routes = {queue: channel for queue in found if (channel := channel_for(queue))}
    for queue in found.keys() - routes.keys():
        _health.no_channel(queue)
    return routes, sum(n for queue, n in found.items() if queue not in routes)


def _claim(
    db: Database, render: Renderer, routes: Mapping[str, str], now: datetime
) -> _Claimed | None:
    """Lease the most urgent due row and render it (not a slow kind), in one short transaction."""
    row = models.ChatMessage
    # a message already posted can be edited where it is, even if its queue lost its channel
    where = or_(row.queue.in_(list(routes)), row.message_id.is_not(None))
    query = select(row).where(*_due(now), where).order_by(row.priority, row.id).limit(1)
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        message = session.scalars(query).first()
        if message is None:
            return None
        message.next_attempt_at = lease = now + LEASE
        content: ChatContent | None = None
        apart = message.kind in RENDERED_APART
        try:
            if not apart:
                with session.begin_nested():
                    content = render(session, message)
        except Exception as error:
            # a message that cannot be rendered must not stall the queue behind it
            log.exception("chat message %s cannot be rendered", message.key)
            message.state, message.last_error = "dead", f"bug: {type(error).__name__}: {error}"
        return _Claimed(
            id=message.id,
            key=message.key,
            version=message.version,
            channel_id=message.channel_id or routes.get(message.queue, ""),
            message_id=message.message_id,
            reposts=int(message.payload.get("reposts") or 0),
            attempts=message.attempts,
            content=content,
            lease=lease,
            apart=apart,
        )


def _render_and_deliver(
    db: Database, notifier: Notifier, render: Renderer, claimed: _Claimed, now: datetime
) -> str:
    """Render a claimed row if it is rendered apart, then deliver it; the outcome's name."""
    if claimed.apart:
        rendered = _render_apart(db, render, claimed, now)
        if isinstance(rendered, str):
            return rendered
        claimed = rendered
    return "dead" if claimed.content is None else _deliver(db, notifier, claimed, now)


def _render_apart(
    db: Database, render: Renderer, claimed: _Claimed, now: datetime
) -> _Claimed | str:
    """Render with the lease committed and nothing locked; the rendered row, or an outcome."""
    started = time.monotonic()
    try:
        with db.reading() as session:
            message = session.get(models.ChatMessage, claimed.id)
            if message is None:
                return "gone"  # erased meanwhile
            content = render(session, message)
    except Exception as error:
        # a report query or chart that fails (a bug, a database hiccup) is retried with backoff
        log.exception("chat message %s cannot be rendered; it is tried again later", claimed.key)
        return _bug(db, claimed, f"render: {type(error).__name__}: {error}", now)
    # the lease runs from the end of rendering; lost if another round took the row meanwhile
    lease = claimed.lease + timedelta(seconds=time.monotonic() - started)
    if not _renew(db, claimed, lease):
        log.info("chat message %s was leased again while it was rendered: left to it", claimed.key)
        return "lost"
    return replace(claimed, content=content, lease=lease)


def _renew(db: Database, claimed: _Claimed, lease: datetime) -> bool:
    """Extend our lease to `lease` unless the row was leased again, changed state or erased."""
    row = models.ChatMessage
    stmt = (
        update(row)
        .where(row.id == claimed.id, row.next_attempt_at == claimed.lease, row.state == "pending")
        .values(next_attempt_at=lease)
    )
    with db.transaction() as session:
        return session.connection().execute(stmt).rowcount == 1


def _deliver(db: Database, notifier: Notifier, claimed: _Claimed, now: datetime) -> str:
    """Post or edit one message (no transaction is open), record the outcome and name it."""
    try:
        outcome = _send(db, notifier, claimed, now)
    except ChatRateLimitedError as error:
        _health.fail(error)
        _hold_all(db, claimed, now + timedelta(seconds=error.retry_after), str(error), 0)
        return "rate_limited"
    except ChatAuthError as error:
        _health.fail(error)
        return "auth"
    except ChatUnavailableError as error:
        _health.fail(error)
        until = now + timedelta(seconds=backoff(claimed.attempts + 1))
        _hold_all(db, claimed, until, str(error), 1)
        return "unavailable"
    except ChatRejectedError as error:
        return _bury(db, claimed, str(error))
    except Exception as error:
        # a bug on one message must not stall the queue: retried with backoff, then buried
        log.exception("chat message %s failed", claimed.key)
        return _bug(db, claimed, f"bug: {type(error).__name__}: {error}", now)
    _health.ok()
    return outcome


def _send(db: Database, notifier: Notifier, claimed: _Claimed, now: datetime) -> str:
    channel, content = claimed.channel_id, claimed.content or ChatContent()
    if claimed.message_id is None:
        message_id = notifier.post(channel, content, nonce_for(claimed.key, claimed.reposts))
        _record_sent(db, claimed, channel, message_id, now)
        return "posted"
    try:
        notifier.edit(channel, claimed.message_id, content)
    except ChatMessageGoneError:
        log.info("chat message %s was deleted in chat: posting it again", claimed.key)
        reposts = claimed.reposts + 1
        # forget the old id first: if the new post fails, the next attempt posts (same nonce)
        _forget_message(db, claimed, reposts)
        message_id = notifier.post(channel, content, nonce_for(claimed.key, reposts))
        _record_sent(db, replace(claimed, reposts=reposts), channel, message_id, now)
        return "posted"
    _record_sent(db, claimed, channel, claimed.message_id, now)
    return "edited"


def _record_sent(
    db: Database, claimed: _Claimed, channel_id: str, message_id: str, now: datetime
) -> None:
    with db.transaction() as session:
        # the task before the message, in the order the queue's actions lock them (no deadlock)
        task_id = session.scalar(
            select(models.ChatMessage.task_id).where(
                models.ChatMessage.id == claimed.id, models.ChatMessage.kind == "card"
            )
        )
        if task_id is not None:
            _notified(session, task_id)
        message = session.get(models.ChatMessage, claimed.id, with_for_update=True)
        if message is None:
            return  # erased meanwhile, with its task
        if int(message.payload.get("reposts") or 0) != claimed.reposts:
            # moved to another queue meanwhile: due at once, to be posted afresh there
            message.next_attempt_at = now
            return
        message.channel_id, message.message_id = channel_id, message_id
        message.delivered_version = max(message.delivered_version, claimed.version)
        # changed again while we were sending: stays due, and the next edit shows the change
        message.state = "sent" if message.version <= claimed.version else "pending"
        message.attempts, message.last_error = 0, None
        # due at once in this round if it changed meanwhile (`now` is the round's clock)
        message.sent_at, message.next_attempt_at = utcnow(), now


def _notified(session: Session, task_id: int) -> None:
    """The card is in chat: a new or reopened task is now `notified` (an escalated one stays)."""
    task = models.Task
    waiting = [State.NEW.value, State.REOPENED.value]
    session.execute(
        update(task)
        .where(task.id == task_id, task.state.in_(waiting))
        .values(state=advance(State.NEW, Action.NOTIFY).value)
        .execution_options(synchronize_session=False)
    )


def _forget_message(db: Database, claimed: _Claimed, reposts: int) -> None:
    with db.transaction() as session:
        message = session.get(models.ChatMessage, claimed.id, with_for_update=True)
        if message is not None:
            message.message_id = message.thread_id = None
            message.payload = {**message.payload, "reposts": reposts}


def _update(db: Database, claimed: _Claimed, **values: Any) -> None:
    row = models.ChatMessage
    stmt = update(row).where(row.id == claimed.id).values(**values)
    with db.transaction() as session:
        session.execute(stmt.execution_options(synchronize_session=False))


def _hold_all(db: Database, claimed: _Claimed, until: datetime, error: str, attempt: int) -> None:
    """Count the attempt on this row, and hold every round until `until`.

    The others would fail too; holding the rounds (not the rows) keeps the priority order for
    the return, and takes no lock on rows that the queue's actions may be changing.
    """
    _update(
        db, claimed, attempts=claimed.attempts + attempt, last_error=error, next_attempt_at=until
    )
    _health.held_until = until


def _bury(db: Database, claimed: _Claimed, error: str) -> str:
    log.error("chat message %s is dead: %s", claimed.key, error)
    _update(db, claimed, state="dead", last_error=error, attempts=claimed.attempts + 1)
    return "dead"


def _bug(db: Database, claimed: _Claimed, error: str, now: datetime) -> str:
    attempts = claimed.attempts + 1
    if attempts >= MAX_BUG_ATTEMPTS:
        return _bury(db, claimed, error)
    until = now + timedelta(seconds=backoff(attempts))
    _update(db, claimed, last_error=error, attempts=attempts, next_attempt_at=until)
    return "failed"
