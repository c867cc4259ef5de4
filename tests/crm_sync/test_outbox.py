"""The outbox: claimed after commit, retried with backoff, dead-lettered, held back, blanked."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from crm_sync import events, outbox
from crm_sync.connectors import (
    ConnectorAuthError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
)
from socialcrm import models
from socialcrm.cli import app
from socialcrm.db import Database
from socialcrm.settings import CrmSettings

# dispatch rounds happen "tomorrow": every message queued by a test (at the real now) is due
T = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
CRM = CrmSettings(max_attempts=3, retry_base_seconds=10, retry_max_seconds=100)


class FixedRandom(random.Random):
    """Jitter that always draws the same number."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


class ScriptedConnector:
    """Records what it is sent; raises the scripted outcomes in turn, then succeeds."""

    def __init__(self, name: str, outcomes: Sequence[Exception | None] = ()) -> None:
        self.name = name
        self.outcomes = list(outcomes)
        self.sent: list[tuple[dict[str, Any], str]] = []

    def send(self, payload: Mapping[str, Any], key: str) -> None:
        self.sent.append((dict(payload), key))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


@pytest.fixture(autouse=True)
def _fresh_outage_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no connector known to be failing."""
    monkeypatch.setattr(outbox, "_outages", outbox._Outages())


def upsert_event(key: str = "evt-1", email: str | None = "ada@example.com") -> dict[str, Any]:
    contact = {"customer_id": None, "crm_id": None, "email": email, "name": "Ada", "identities": []}
    return events.envelope(events.CONTACT_UPSERT, key, T, contact, profile={"segment": "A"})


def queue(db: Database, payload: Mapping[str, Any], names: Sequence[str] = ("webhook",)) -> None:
    with db.transaction() as session:
        outbox.enqueue(session, names, payload)


def rows(db: Database) -> list[models.OutboxMessage]:
    with db.transaction() as session:
        query = select(models.OutboxMessage).order_by(models.OutboxMessage.id)
        return list(session.scalars(query))


def run(db: Database, *connectors: ScriptedConnector, at: datetime = T) -> outbox.DispatchSummary:
    by_name = {c.name: c for c in connectors}
    return outbox.dispatch(db, by_name, CRM, now=at, rng=FixedRandom(0.0))


def test_a_failed_delivery_is_retried_with_backoff_then_sent(db: Database) -> None:
    queue(db, upsert_event())
    hook = ScriptedConnector("webhook", [DeliveryError("webhook: POST /x failed with HTTP 503")])
    assert run(db, hook) == outbox.DispatchSummary(retried=1)
    (row,) = rows(db)
    # first retry: base 10 s, jitter drawing 0.0 takes half of it
    assert (row.state, row.attempts, row.next_attempt_at) == (
        "pending",
        1,
        T + timedelta(seconds=5),
    )
    assert row.last_error == "webhook: POST /x failed with HTTP 503"
    assert run(db, hook, at=T + timedelta(seconds=4)).total == 0
    assert run(db, hook, at=T + timedelta(seconds=5)) == outbox.DispatchSummary(sent=1)
    (row,) = rows(db)
    assert (row.state, row.sent_at, row.attempts) == ("sent", T + timedelta(seconds=5), 2)
    assert [key for _, key in hook.sent] == ["evt-1", "evt-1"]


def test_backoff_doubles_up_to_the_cap_and_jitters_within_half() -> None:
    assert outbox.backoff(1, 10, 100, FixedRandom(0.0)) == 5
    assert outbox.backoff(3, 10, 100, FixedRandom(1.0)) == 40
    assert outbox.backoff(9, 10, 100, FixedRandom(1.0)) == 100
    spread = {outbox.backoff(2, 10, 100, random.Random(seed)) for seed in range(20)}
    assert all(10 <= delay <= 20 for delay in spread)
    assert len(spread) == 20


def test_a_message_failing_max_attempts_times_is_dead_with_the_reason(db: Database) -> None:
    queue(db, upsert_event())
    down = DeliveryError("webhook: POST /x cannot be reached: connection refused")
    hook = ScriptedConnector("webhook", [down] * 5)
    summaries = [run(db, hook, at=T + timedelta(hours=n)) for n in range(4)]
    assert [s.retried for s in summaries] == [1, 1, 0, 0]
    assert [s.dead for s in summaries] == [0, 0, 1, 0]
    (row,) = rows(db)
    assert (row.state, row.attempts) == ("dead", CRM.max_attempts)
    assert row.last_error == "webhook: POST /x cannot be reached: connection refused"
    assert len(hook.sent) == CRM.max_attempts


def test_a_rejected_message_is_dead_at_once(db: Database) -> None:
    queue(db, upsert_event())
    hook = ScriptedConnector("webhook", [RejectedError("webhook: rejected (HTTP 422): bad")])
    assert run(db, hook) == outbox.DispatchSummary(dead=1)
    (row,) = rows(db)
    assert (row.state, row.attempts, row.last_error) == (
        "dead",
        1,
        "webhook: rejected (HTTP 422): bad",
    )


def test_retry_dead_queues_dead_letters_again_with_fresh_attempts(db: Database) -> None:
    queue(db, upsert_event("a"), names=("webhook", "hubspot"))
    rejected = [RejectedError("no")]
    run(db, ScriptedConnector("webhook", rejected), ScriptedConnector("hubspot", [*rejected]))
    assert outbox.retry_dead(db, "hubspot") == 1
    states = {(r.connector, r.state, r.attempts) for r in rows(db)}
    assert states == {("webhook", "dead", 1), ("hubspot", "pending", 0)}
    assert outbox.retry_dead(db) == 1
    assert {r.state for r in rows(db)} == {"pending"}


def test_rate_limited_waits_retry_after_and_is_not_counted(db: Database) -> None:
    queue(db, upsert_event("a"))
    queue(db, upsert_event("b"))
    hook = ScriptedConnector("webhook", [RateLimitedError("webhook: rate limited", 120)])
    assert run(db, hook) == outbox.DispatchSummary(waiting=2)
    assert len(hook.sent) == 1  # the second message was not tried against a limit
    later = T + timedelta(seconds=120)
    assert {(r.state, r.attempts, r.next_attempt_at) for r in rows(db)} == {("pending", 0, later)}
    assert run(db, hook, at=later - timedelta(seconds=1)).total == 0
    assert run(db, hook, at=later) == outbox.DispatchSummary(sent=2)


def test_refused_credentials_keep_messages_pending_and_hold_only_that_connector(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    queue(db, upsert_event("a"), names=("webhook", "hubspot"))
    queue(db, upsert_event("b"), names=("webhook", "hubspot"))
    refused = ConnectorAuthError(
        "hubspot: POST /crm refused the credentials (HTTP 401): set SOCIALCRM_HUBSPOT_TOKEN"
    )
    hubspot = ScriptedConnector("hubspot", [refused, refused])
    hook = ScriptedConnector("webhook")
    with caplog.at_level(logging.INFO, logger="crm_sync.outbox"):
        assert run(db, hook, hubspot) == outbox.DispatchSummary(sent=2, waiting=2)
        assert len(hubspot.sent) == 1
        held = [r for r in rows(db) if r.connector == "hubspot"]
        later = T + timedelta(seconds=CRM.retry_max_seconds)
        assert {(r.state, r.attempts, r.next_attempt_at) for r in held} == {("pending", 0, later)}
        assert "SOCIALCRM_HUBSPOT_TOKEN" in (held[0].last_error or "")
        assert run(db, hook, hubspot, at=later) == outbox.DispatchSummary(waiting=2)
        assert run(db, hook, hubspot, at=later + timedelta(seconds=100)).sent == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # logged when the outage began, not on every round
    assert "SOCIALCRM_HUBSPOT_TOKEN" in errors[0]
    assert any("hubspot delivers again" in r.getMessage() for r in caplog.records)


def test_a_connector_bug_counts_as_a_failed_attempt(db: Database) -> None:
    queue(db, upsert_event())
    hook = ScriptedConnector("webhook", [KeyError("contact")])
    assert run(db, hook) == outbox.DispatchSummary(retried=1)
    (row,) = rows(db)
    assert row.last_error == "bug: KeyError: 'contact'"


def test_a_forget_payload_is_blanked_after_sending(db: Database) -> None:
    contact = {"customer_id": None, "email": "ada@example.com", "name": "Ada", "identities": []}
    forget = events.envelope(events.CONTACT_FORGET, "forget-1", T, contact)
    queue(db, forget)
    hook = ScriptedConnector("webhook")
    assert run(db, hook).sent == 1
    assert hook.sent[0][0]["contact"]["email"] == "ada@example.com"
    (row,) = rows(db)
    assert row.payload == {"event": "contact.forget", "id": "forget-1"}


def test_enqueue_twice_with_the_same_key_queues_once(db: Database) -> None:
    queue(db, upsert_event("same"), names=("webhook", "hubspot"))
    queue(db, upsert_event("same"), names=("webhook", "hubspot"))
    assert sorted(r.idempotency_key for r in rows(db)) == ["hubspot:same", "webhook:same"]


def test_messages_are_sent_after_the_claim_is_committed_and_leased(db: Database) -> None:
    queue(db, upsert_event())
    seen: list[Any] = []

    class Peeking(ScriptedConnector):
        def send(self, payload: Mapping[str, Any], key: str) -> None:
            if not seen:  # another worker, while this send is under way: the row is leased
                seen.append(rows(db)[0].next_attempt_at)
                seen.append(run(db, self))
            super().send(payload, key)

    peeking = Peeking("webhook")
    assert run(db, peeking).sent == 1
    assert seen == [T + outbox.LEASE, outbox.DispatchSummary()]
    assert len(peeking.sent) == 1


def test_only_due_messages_of_the_given_connectors_are_claimed(db: Database) -> None:
    queue(db, upsert_event("a"), names=("webhook", "hubspot"))
    hook = ScriptedConnector("webhook")
    assert run(db, hook, at=datetime.now(UTC) - timedelta(minutes=1)).total == 0
    assert run(db, hook).sent == 1
    assert {(r.connector, r.state) for r in rows(db)} == {
        ("webhook", "sent"),
        ("hubspot", "pending"),
    }


def test_counts_oldest_pending_and_dead_letters(db: Database) -> None:
    queue(db, upsert_event("a"), names=("webhook", "hubspot"))
    queue(db, upsert_event("b"), names=("webhook",))
    run(db, ScriptedConnector("webhook", [RejectedError("gone")]), at=datetime.now(UTC))
    with db.transaction() as session:
        counts = outbox.counts(session)
        oldest = outbox.oldest_pending(session)
        dead = outbox.dead_letters(session)
    assert counts == {("webhook", "dead"): 1, ("webhook", "sent"): 1, ("hubspot", "pending"): 1}
    assert list(oldest) == ["hubspot"]
    assert oldest["hubspot"].tzinfo is not None
    assert abs(datetime.now(UTC) - oldest["hubspot"]) < timedelta(minutes=5)
    assert [(m.connector, m.last_error) for m in dead] == [("webhook", "gone")]


@pytest.fixture
def cli(database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke `socialcrm` against the test database with no connector enabled."""
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path: Path = write_settings('[app]\nlog_level = "WARNING"\n')

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["--config", str(path), *args])

    return invoke


def test_cli_dispatch_without_a_connector_is_one_line(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("crm", "dispatch")
    assert result.exit_code == 2
    assert "no CRM connector is enabled" in result.output
    assert "Traceback" not in result.output


def test_cli_status_shows_counts_and_dead_letters_then_retry_dead(cli, db: Database) -> None:  # type: ignore[no-untyped-def]
    assert "outbox: empty" in cli("crm", "status").output
    queue(db, upsert_event("a"))
    queue(db, upsert_event("b"))
    run(db, ScriptedConnector("webhook", [RejectedError("HTTP 422")]), at=datetime.now(UTC))
    shown = cli("crm", "status")
    assert shown.exit_code == 0, shown.output
    assert "webhook" in shown.output
    assert "HTTP 422" in shown.output
    assert "crm retry-dead" in shown.output
    unknown = cli("crm", "retry-dead", "--connector", "salesforce")
    assert (unknown.exit_code, "expected webhook or hubspot" in unknown.output) == (2, True)
    retried = cli("crm", "retry-dead", "--connector", "webhook")
    assert retried.exit_code == 0
    assert "1 dead letter(s) queued again" in retried.output
    assert {r.state for r in rows(db)} == {"sent", "pending"}
