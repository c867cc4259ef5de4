"""The outbox: messages to CRM connectors, written in the stage's transaction, sent after commit."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Update, func, select, update
from sqlalchemy.orm import Session

from crm_sync.connectors import (
    Connector,
    ConnectorAuthError,
    ConnectorError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
)
from crm_sync.events import CONTACT_FORGET
from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import CrmSettings

log = logging.getLogger(__name__)

KNOWN_CONNECTORS: Final = ("webhook", "hubspot")
# connectors that can address a contact only by email or CRM id: authors who are not customers
# (leads) have neither, so their events go only to the others
NEEDS_CONTACT_ID: Final = ("hubspot",)
DEFAULT_LIMIT: Final = 50
# A claimed message is not due again for this long: enough for a round of DEFAULT_LIMIT sends
# at the longest timeout; if the process dies mid-round its messages are retried after it.
LEASE: Final = timedelta(minutes=30)


def enabled_connectors(crm: CrmSettings) -> list[str]:
    """Names of the connectors switched on in settings."""
    return [name for name in KNOWN_CONNECTORS if getattr(crm, name).enabled]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A payload to queue, and whose data it carries (forgetting them deletes it while queued)."""

    payload: Mapping[str, Any]
    customer_id: int | None = None
    author_id: int | None = None


def enqueue(
    session: Session,
    connectors: Sequence[str],
    payload: Mapping[str, Any],
    customer_id: int | None = None,
    author_id: int | None = None,
) -> None:
    """Queue `payload` once for each connector; a key already queued is not queued again."""
    enqueue_many(session, connectors, [Outgoing(payload, customer_id, author_id)])


def enqueue_many(session: Session, connectors: Sequence[str], messages: Sequence[Outgoing]) -> None:
    """Queue each message once for each connector, in one statement.

    A payload's `id` is its idempotency key: a key already queued is not queued again.
    """
    if not connectors or not messages:
        return
    now = utcnow()
    rows = [
        {
            "connector": name,
            "topic": message.payload["event"],
            "idempotency_key": f"{name}:{message.payload['id']}",
            "payload": dict(message.payload),
            "customer_id": message.customer_id,
            "author_id": message.author_id,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for message in messages
        for name in connectors
    ]
    stmt = storage.upsert(session, models.OutboxMessage.__table__)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["idempotency_key"]), rows)


@dataclass(frozen=True, slots=True)
class DispatchSummary:
    """What one dispatch round did: delivered, to be retried, dead-lettered, held back."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    waiting: int = 0  # rate limited or refused credentials: not counted as an attempt

    @property
    def total(self) -> int:
        """How many messages the round claimed."""
        return self.sent + self.retried + self.dead + self.waiting

    def __add__(self, other: DispatchSummary) -> DispatchSummary:
        """The two rounds together."""
        return DispatchSummary(
            self.sent + other.sent,
            self.retried + other.retried,
            self.dead + other.dead,
            self.waiting + other.waiting,
        )


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A message leased to this round, detached from any session."""

    id: int
    connector: str
    key: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class _Result:
    kind: str  # sent | retried | dead | waiting
    hold_until: datetime | None = None  # the connector's other messages wait until then too


class _Outages:
    """Which connectors are failing now, so an outage is logged when it starts and ends."""

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}

    def start(self, connector: str, error: ConnectorError) -> None:
        """Log the failure if it begins an outage of this kind."""
        kind = type(error).__name__
        if self._failing.get(connector) == kind:
            return
        self._failing[connector] = kind
        if isinstance(error, ConnectorAuthError):
            log.error("CRM connector %s is held back until this is fixed: %s", connector, error)
        else:
            log.warning("CRM connector %s is failing, retrying with backoff: %s", connector, error)

    def end(self, connector: str) -> None:
        """Log the recovery if the connector was failing."""
        if self._failing.pop(connector, None) is not None:
            log.info("CRM connector %s delivers again", connector)


_outages = _Outages()


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before retry after `attempts` failures: base·2^(attempts-1), capped, jittered."""
    ceiling = min(cap, base * 2.0 ** max(0, attempts - 1))
    # between half and all of the ceiling: spread out, yet never hammering a struggling system
    return ceiling * (0.5 + 0.5 * rng.random())


def dispatch(
    db: Database,
    connectors: Mapping[str, Connector],
    crm: CrmSettings,
    now: datetime | None = None,
    rng: random.Random | None = None,
    limit: int = DEFAULT_LIMIT,
) -> DispatchSummary:
    """Deliver up to `limit` due messages of `connectors`; each outcome committed on its own."""
    now = now or utcnow()
    rng = rng or random.Random()  # noqa: S311 - jitter, nothing secret
    tally: Counter[str] = Counter()
    held: dict[str, datetime] = {}
    for message in _claim(db, list(connectors), now, limit):
        if message.connector in held:
            _hold(db, message, held[message.connector], None)
            tally["waiting"] += 1
            continue
        result = _deliver(db, connectors[message.connector], message, crm, now, rng)
        tally[result.kind] += 1
        if result.hold_until is not None:
            held[message.connector] = result.hold_until
    return DispatchSummary(**tally)


def _claim(db: Database, names: Sequence[str], now: datetime, limit: int) -> list[_Claimed]:
    """Lease due messages in one short transaction, so no other worker takes them meanwhile."""
    if not names:
        return []
    row = models.OutboxMessage
    query = (
        select(row)
        .where(row.connector.in_(names), row.state == "pending", row.next_attempt_at <= now)
        .order_by(row.next_attempt_at, row.id)
        .limit(limit)
    )
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # another worker takes the next rows instead of waiting for these
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        claimed = [
            _Claimed(r.id, r.connector, _event_key(r), dict(r.payload), r.attempts) for r in rows
        ]
        if claimed:
            session.execute(
                update(row)
                .where(row.id.in_([c.id for c in claimed]))
                .values(next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
    return claimed


def _event_key(row: models.OutboxMessage) -> str:
    # the payload's id: the same for every connector, so a receiver can dedupe on it
    return row.idempotency_key.removeprefix(f"{row.connector}:")


def _deliver(
    db: Database,
    connector: Connector,
    message: _Claimed,
    crm: CrmSettings,
    now: datetime,
    rng: random.Random,
) -> _Result:
    """Send one message (no transaction is open) and record what came of it."""
    try:
        connector.send(message.payload, message.key)
    except RateLimitedError as error:
        until = now + timedelta(seconds=error.retry_after)
        _hold(db, message, until, str(error))
        return _Result("waiting", until)
    except ConnectorAuthError as error:
        _outages.start(message.connector, error)
        until = now + timedelta(seconds=crm.retry_max_seconds)
        _hold(db, message, until, str(error))
        return _Result("waiting", until)
    except RejectedError as error:
        _bury(db, message, str(error))
        return _Result("dead")
    except DeliveryError as error:
        _outages.start(message.connector, error)
        return _fail(db, message, str(error), crm, now, rng)
    except Exception as error:
        # a bug on one message must not stall the queue behind it: it is retried, then buried
        log.exception("CRM connector %s failed on outbox message %s", connector.name, message.id)
        return _fail(db, message, f"bug: {type(error).__name__}: {error}", crm, now, rng)
    _outages.end(message.connector)
    _mark_sent(db, message, now)
    return _Result("sent")


def _pending(message: _Claimed) -> Update:
    row = models.OutboxMessage
    # a message someone buried or re-sent meanwhile is left alone
    return (
        update(row)
        .where(row.id == message.id, row.state == "pending")
        .execution_options(synchronize_session=False)
    )


def _hold(db: Database, message: _Claimed, until: datetime, error: str | None) -> None:
    """Wait without counting an attempt."""
    values: dict[str, Any] = {"next_attempt_at": until}
    if error is not None:
        values["last_error"] = error
    with db.transaction() as session:
        session.execute(_pending(message).values(**values))


def _fail(
    db: Database, message: _Claimed, error: str, crm: CrmSettings, now: datetime, rng: random.Random
) -> _Result:
    """Count a failed attempt: retry later with backoff, or bury it after the last one."""
    attempts = message.attempts + 1
    if attempts >= crm.max_attempts:
        _bury(db, message, error)
        return _Result("dead")
    delay = backoff(attempts, crm.retry_base_seconds, crm.retry_max_seconds, rng)
    log.debug("outbox message %s: %s; retry %d in %.0f s", message.id, error, attempts, delay)
    with db.transaction() as session:
        session.execute(
            _pending(message).values(
                attempts=attempts,
                last_error=error,
                next_attempt_at=now + timedelta(seconds=delay),
            )
        )
    return _Result("retried")


def _bury(db: Database, message: _Claimed, error: str) -> None:
    """Dead-letter the message with the reason, for a person to fix and `crm retry-dead`."""
    log.error("outbox message %s to %s is dead: %s", message.id, message.connector, error)
    with db.transaction() as session:
        session.execute(
            _pending(message).values(state="dead", attempts=message.attempts + 1, last_error=error)
        )


def _mark_sent(db: Database, message: _Claimed, now: datetime) -> None:
    values: dict[str, Any] = {"state": "sent", "sent_at": now, "attempts": message.attempts + 1}
    if message.payload.get("event") == CONTACT_FORGET:
        # delivered: nothing of the forgotten person may stay behind in our tables
        values["payload"] = {"event": CONTACT_FORGET, "id": message.payload.get("id")}
    with db.transaction() as session:
        session.execute(_pending(message).values(**values))


def retry_dead(db: Database, connector: str | None = None) -> int:
    """Queue dead letters (of one connector, or all) again with fresh attempts; return how many."""
    row = models.OutboxMessage
    stmt = update(row).where(row.state == "dead")
    if connector is not None:
        stmt = stmt.where(row.connector == connector)
    with db.transaction() as session:
        result = session.execute(
            stmt.values(state="pending", attempts=0, next_attempt_at=utcnow()).execution_options(
                synchronize_session=False
            )
        )
        return int(cast(CursorResult[Any], result).rowcount)


def counts(session: Session) -> dict[tuple[str, str], int]:
    """How many messages each connector has in each state."""
    row = models.OutboxMessage
    query = select(row.connector, row.state, func.count()).group_by(row.connector, row.state)
    return {(name, state): int(n) for name, state, n in session.execute(query)}


def oldest_pending(session: Session) -> dict[str, datetime]:
    """When the oldest message still waiting to be delivered was queued, per connector."""
    row = models.OutboxMessage
    query = (
        select(row.connector, func.min(row.created_at))
        .where(row.state == "pending")
        .group_by(row.connector)
    )
    return {name: at for name, at in session.execute(query)}


def last_errors(session: Session) -> dict[str, str]:
    """The latest error of each connector among messages not delivered yet or dead."""
    row = models.OutboxMessage
    newest = (
        select(func.max(row.id))
        .where(row.last_error.is_not(None), row.state.in_(("pending", "dead")))
        .group_by(row.connector)
    )
    found = session.execute(select(row.connector, row.last_error).where(row.id.in_(newest)))
    return {connector: error for connector, error in found if error}


def dead_letters(session: Session, limit: int = 5) -> list[models.OutboxMessage]:
    """The most recently queued dead letters, with their reasons."""
    row = models.OutboxMessage
    query = select(row).where(row.state == "dead").order_by(row.id.desc()).limit(limit)
    return list(session.scalars(query))
