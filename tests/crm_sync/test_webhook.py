"""The signed webhook: verifiable by a receiver written from docs/crm.md, over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from crm_sync import events, outbox
from crm_sync.connectors import (
    ConnectorAuthError,
    ConnectorError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    build_connectors,
)
from crm_sync.webhook import WebhookConnector
from socialcrm import models
from socialcrm.cli import app
from socialcrm.db import Database
from socialcrm.settings import CrmSettings, Secrets, Settings, WebhookSettings

SECRET = "whsec-test-0123456789"
NOW = 1_800_000_000.0
PAYLOAD = events.envelope(
    events.CONTACT_MENTION,
    "mention:42",
    datetime(2027, 1, 15, 9, 30, tzinfo=UTC),
    {
        "customer_id": 7,
        "crm_id": "C-7",
        "email": "zoe@example.com",
        "name": "Zoë",
        "identities": [],
    },
    mention={"source": "reddit", "text": "Ça marche ✓", "sentiment": "positive", "intents": {}},
)


# --- a receiver, written from the documented scheme only (no import of the sending code) ---


def verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """What docs/crm.md tells a receiver to do with a delivery."""
    timestamp = headers["x-socialcrm-timestamp"]
    if abs(now - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    scheme, _, given = headers["x-socialcrm-signature"].partition("=")
    return scheme == "v1" and hmac.compare_digest(expected.hexdigest(), given)


@dataclass
class Delivery:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers the scripted statuses, then 204."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    got: list[Delivery] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {key.lower(): value for key, value in self.headers.items()}
        receiver = self.server.receiver
        receiver.got.append(Delivery(self.path, headers, body))
        self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads `Receiver.got`."""


class _Server(ThreadingHTTPServer):
    receiver: Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/crm")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- the connector against a mock transport ---


def connector(handler: Callable[[httpx.Request], httpx.Response]) -> WebhookConnector:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    settings = WebhookSettings(enabled=True, url="https://crm.example.com/hook?token=abc")
    return WebhookConnector(settings, SECRET, client, clock=lambda: NOW)


def test_the_signature_verifies_with_the_documented_recipe() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    connector(handler).send(PAYLOAD, "mention:42")
    (request,) = seen
    headers = {key.lower(): value for key, value in request.headers.items()}
    body = request.content
    assert body == json.dumps(
        PAYLOAD, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert "Zoë".encode() in body  # UTF-8, not \\u escapes
    assert headers["content-type"] == "application/json"
    assert headers["x-socialcrm-event"] == "contact.mention"
    assert headers["x-socialcrm-delivery"] == "mention:42"
    assert headers["x-socialcrm-timestamp"] == str(int(NOW))
    assert verify(SECRET, headers, body, now=NOW + 299)
    assert not verify(SECRET, headers, body, now=NOW + 301)  # a replay after the tolerance
    assert not verify("another-secret", headers, body, now=NOW)
    assert not verify(SECRET, headers, body.replace(b"positive", b"negative"), now=NOW)


@pytest.mark.parametrize(
    ("status", "headers", "error", "words"),
    [
        (500, {}, DeliveryError, "failed with HTTP 500"),
        (503, {}, DeliveryError, "failed with HTTP 503"),
        (408, {}, DeliveryError, "HTTP 408"),
        (429, {"Retry-After": "30"}, RateLimitedError, "rate limited"),
        (401, {}, ConnectorAuthError, "SOCIALCRM_WEBHOOK_SECRET"),
        (403, {}, ConnectorAuthError, "SOCIALCRM_WEBHOOK_SECRET"),
        (410, {}, RejectedError, "HTTP 410"),
        (400, {}, RejectedError, "HTTP 400"),
        (301, {"Location": "https://new.example.com/"}, RejectedError, "new.example.com"),
    ],
)
def test_status_codes_map_to_who_must_act(
    status: int, headers: dict[str, str], error: type[ConnectorError], words: str
) -> None:
    hook = connector(lambda _request: httpx.Response(status, headers=headers, text="no"))
    with pytest.raises(error) as raised:
        hook.send(PAYLOAD, "mention:42")
    assert words in str(raised.value)
    assert "token=abc" not in str(raised.value)  # a URL's query string may hold a secret
    assert type(raised.value) is error


def test_retry_after_is_honoured_with_a_default() -> None:
    asked = connector(lambda _r: httpx.Response(429, headers={"Retry-After": "30"}))
    with pytest.raises(RateLimitedError) as raised:
        asked.send(PAYLOAD, "k")
    assert raised.value.retry_after == 30
    unsaid = connector(lambda _r: httpx.Response(429))
    with pytest.raises(RateLimitedError) as raised:
        unsaid.send(PAYLOAD, "k")
    assert raised.value.retry_after == 60


@pytest.mark.parametrize(
    ("failure", "words"),
    [(httpx.ConnectError("connection refused"), "cannot be reached: connection refused"),
     (httpx.ReadTimeout("slow"), "timed out after 10 s")],
)  # fmt: skip
def test_network_failures_are_transient(failure: Exception, words: str) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(DeliveryError) as raised:
        connector(handler).send(PAYLOAD, "k")
    assert words in str(raised.value)


# --- real HTTP: dispatch through the outbox to a receiver on 127.0.0.1 ---


def settings_for(url: str) -> Settings:
    return Settings(
        crm=CrmSettings(webhook=WebhookSettings(enabled=True, url=url), retry_base_seconds=10),
        secrets=Secrets(webhook_secret=SecretStr(SECRET)),
    )


def test_dispatch_delivers_a_signed_payload_over_http_retrying_a_5xx(
    db: Database, receiver: Receiver
) -> None:
    with db.transaction() as session:
        outbox.enqueue(session, ["webhook"], PAYLOAD, customer_id=None)
    receiver.statuses = [503]
    settings = settings_for(receiver.url)
    with httpx.Client() as client:
        connectors = build_connectors(settings, client)
        first = outbox.dispatch(db, connectors, settings.crm)
        later = datetime.now(UTC) + timedelta(seconds=settings.crm.retry_base_seconds)
        second = outbox.dispatch(db, connectors, settings.crm, now=later)
    assert (first.retried, second.sent) == (1, 1)
    assert [d.path for d in receiver.got] == ["/hooks/crm", "/hooks/crm"]
    now = datetime.now(UTC).timestamp()
    for delivery in receiver.got:
        assert verify(SECRET, delivery.headers, delivery.body, now)
        assert delivery.headers["x-socialcrm-delivery"] == "mention:42"
        assert json.loads(delivery.body) == PAYLOAD
    with db.transaction() as session:
        row = session.scalars(select(models.OutboxMessage)).one()
        assert (row.state, row.attempts) == ("sent", 2)


def test_cli_dispatch_and_status_against_a_real_receiver(  # type: ignore[no-untyped-def]
    db: Database, receiver: Receiver, database_url: str, write_settings, monkeypatch
) -> None:
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    monkeypatch.setenv("SOCIALCRM_WEBHOOK_SECRET", SECRET)
    path = write_settings(f'[crm.webhook]\nenabled = true\nurl = "{receiver.url}"\n')
    with db.transaction() as session:
        outbox.enqueue(session, ["webhook"], PAYLOAD)
    dispatched = CliRunner().invoke(app, ["--config", str(path), "crm", "dispatch"])
    assert dispatched.exit_code == 0, dispatched.output
    assert "sent 1, to retry 0, dead 0, waiting 0" in dispatched.output
    (delivery,) = receiver.got
    assert verify(SECRET, delivery.headers, delivery.body, datetime.now(UTC).timestamp())
    shown = CliRunner().invoke(app, ["--config", str(path), "crm", "status"])
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if "webhook" in line)
    assert [cell.strip() for cell in line.split("│")[2:5]] == ["0", "1", "0"]  # pending/sent/dead


def test_cli_dispatch_says_why_when_the_receiver_fails(  # type: ignore[no-untyped-def]
    db: Database, receiver: Receiver, database_url: str, write_settings, monkeypatch
) -> None:
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    monkeypatch.setenv("SOCIALCRM_WEBHOOK_SECRET", SECRET)
    receiver.statuses = [503]
    path = write_settings(f'[crm.webhook]\nenabled = true\nurl = "{receiver.url}"\n')
    with db.transaction() as session:
        outbox.enqueue(session, ["webhook"], PAYLOAD)
    dispatched = CliRunner().invoke(app, ["--config", str(path), "crm", "dispatch"])
    assert dispatched.exit_code == 0, dispatched.output
    assert "sent 0, to retry 1, dead 0, waiting 0" in dispatched.stdout
    assert "webhook: " in dispatched.stderr
    assert "HTTP 503" in dispatched.stderr
