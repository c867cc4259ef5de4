"""The REST API: token auth and scopes, mentions, customers, tasks, reports, signed ingestion."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from socialcrm import models
from socialcrm.cli import app as cli_app
from socialcrm.db import Database
from socialcrm.settings import Secrets, Settings, SettingsError, load_settings
from socialcrm.web import api_ingest, tokens
from socialcrm.web.app import create_app
from tests.engagement.builders import START, post, route, store, tasks

INGEST_SECRET = "i" * 32
READ_PATHS = (
    "/api/mentions",
    "/api/mentions/1",
    "/api/customers",
    "/api/customers/1",
    "/api/tasks",
    "/api/tasks/1",
    "/api/reports/overview",
)


def api_settings(**sections: Any) -> Settings:
    """Settings with the ingest secret (and a session key, so the pages write no key file)."""
    secrets = Secrets(web_secret=SecretStr("w" * 32), ingest_secret=SecretStr(INGEST_SECRET))  # type: ignore[call-arg]
    return Settings.model_validate({**sections, "secrets": secrets})


def api_app(db: Database, settings: Settings | None = None) -> FastAPI:
    """The whole app (pages and API) over the test database."""
    return create_app(settings or api_settings(), db)


def make_token(db: Database, *scopes: str, name: str = "crm") -> str:
    """A new token with these scopes."""
    with db.transaction() as session:
        token, _ = tokens.create(session, name, scopes, "test")
    return token


def bearer(token: str) -> dict[str, str]:
    """The header that carries `token`."""
    return {"Authorization": f"Bearer {token}"}


def seed(db: Database) -> dict[str, int]:
    """Mentions on two sources in two threads, a customer linked to ana, routed tasks."""
    ids = {
        "leak": store(db, post(1, text="my pen leaks everywhere"), "negative", complaint=0.9),
        "reply": store(db, post(2, handle="bea", text="same here, ink on my shirt"), "negative"),
        "price": store(
            db, post(3, handle="cy", thread="t2", text="how much is the pro plan"), question=0.9
        ),
        "love": store(db, post(4, handle="dee", thread="t3", source="bluesky"), "positive"),
        "later": store(
            db, post(5, handle="ana", thread="t4", text="thanks for the fix"), "positive"
        ),
    }
    with db.transaction() as session:
        customer = models.Customer(display_name="Ana", email="ana@example.com", crm_id="crm-1")
        session.add(customer)
        session.flush()
        session.execute(
            update(models.Author)
            .where(models.Author.handle == "ana")
            .values(customer_id=customer.id, link_method="manual", link_confidence=1.0)
        )
        ids["customer"] = customer.id
    route(db)
    return ids


@pytest.fixture
def api(db: Database) -> Iterator[TestClient]:
    """A client of the app; no token unless a test sends one."""
    with TestClient(api_app(db), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def reader(db: Database) -> dict[str, str]:
    """Headers with a read-only token."""
    return bearer(make_token(db, "read"))


# --- tokens and auth ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", READ_PATHS)
def test_without_a_token_every_endpoint_is_401_with_a_bearer_challenge(
    api: TestClient, path: str
) -> None:
    response = api.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Bearer" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer scrm_not-a-real-token", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "],
)
def test_an_unknown_or_malformed_token_is_401(api: TestClient, header: str) -> None:
    response = api.get("/api/mentions", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401(api: TestClient, db: Database) -> None:
    token = make_token(db, "read")
    assert api.get("/api/customers", headers=bearer(token)).status_code == 200
    with db.transaction() as session:
        token_id = tokens.list_all(session)[0].id
        tokens.revoke(session, token_id, "test")
    response = api.get("/api/customers", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_the_wrong_scope_is_403(api: TestClient, db: Database) -> None:
    seed(db)
    task_id = tasks(db)[0].id
    write_only = bearer(make_token(db, "write", name="bot"))
    read_only = bearer(make_token(db, "read"))
    listed = api.get("/api/mentions", headers=write_only)
    assert listed.status_code == 403
    assert "read scope" in listed.json()["detail"]
    assert "insufficient_scope" in listed.headers["WWW-Authenticate"]
    claimed = api.post(f"/api/tasks/{task_id}/claim", headers=read_only)
    assert claimed.status_code == 403
    assert tasks(db)[0].assignee is None


def test_tokens_are_stored_only_as_their_sha256(db: Database) -> None:
    token = make_token(db, "write", "read", "read")
    assert token.startswith("scrm_")
    assert len(token) > 40
    with db.transaction() as session:
        row = session.scalars(select(models.ApiToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.scopes == ["read", "write"]
        assert token not in json.dumps([row.name, row.token_hash, row.scopes])
        assert tokens.authenticate(session, token) is not None
        assert tokens.authenticate(session, token + "x") is None
        assert tokens.authenticate(session, row.token_hash) is None


def test_last_use_is_written_at_most_once_a_minute(db: Database) -> None:
    token = make_token(db, "read")
    with db.transaction() as session:
        first = tokens.authenticate(session, token, now=START)
        soon = tokens.authenticate(session, token, now=START + timedelta(seconds=59))
        later = tokens.authenticate(session, token, now=START + timedelta(seconds=61))
    assert first is not None
    assert soon is not None
    assert later is not None
    assert first.last_used_at == START
    assert soon.last_used_at == START
    assert later.last_used_at == START + timedelta(seconds=61)


@pytest.mark.parametrize(
    ("scopes", "message"),
    [([], "at least one scope"), (["admin"], "unknown scope 'admin'"), (["read", "x"], "'x'")],
)
def test_a_token_needs_known_scopes(db: Database, scopes: list[str], message: str) -> None:
    with db.transaction() as session, pytest.raises(tokens.TokenError, match=message):
        tokens.create(session, "crm", scopes, "test")


def test_revoking_is_audited_and_an_unknown_id_is_one_clear_error(db: Database) -> None:
    make_token(db, "read")
    with db.transaction() as session:
        token_id = tokens.list_all(session)[0].id
        tokens.revoke(session, token_id, "cli:ana")
        tokens.revoke(session, token_id, "cli:ana")  # twice: nothing more happens
        actions = session.scalars(
            select(models.AuditEntry.action).order_by(models.AuditEntry.id)
        ).all()
        with pytest.raises(tokens.TokenError, match="no token has id 999"):
            tokens.revoke(session, 999, "cli:ana")
    assert actions == ["token.create", "token.revoke"]


def test_tokens_can_be_created_listed_and_revoked_from_the_command_line(
    db: Database, database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = write_settings("")
    runner = CliRunner(env={"COLUMNS": "200", "LOGNAME": "ana"})

    def cli(*args: str) -> Result:
        return runner.invoke(cli_app, ["--config", str(path), *args])

    created = cli("tokens", "create", "hubspot sync", "--scope", "read", "--scope", "write")
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("scrm_")
    with db.transaction() as session:
        info = tokens.authenticate(session, token)
    assert info is not None
    assert info.scopes == ("read", "write")

    listed = cli("tokens", "list")
    assert listed.exit_code == 0
    assert "hubspot sync" in listed.output
    assert "read,write" in listed.output
    assert token not in listed.output

    assert cli("tokens", "revoke", str(info.id)).exit_code == 0
    with db.transaction() as session:
        assert tokens.authenticate(session, token) is None
    unknown = cli("tokens", "revoke", "999")
    assert unknown.exit_code == 2
    assert "no token has id 999" in unknown.output
    bad_scope = cli("tokens", "create", "x", "--scope", "admin")
    assert bad_scope.exit_code == 2
    assert "unknown scope 'admin'" in bad_scope.output


# --- mentions ----------------------------------------------------------------------------------


def listed(api: TestClient, headers: dict[str, str], **params: Any) -> list[int]:
    """The ids GET /api/mentions returns for these parameters (one page)."""
    response = api.get("/api/mentions", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_mentions_come_newest_first_with_author_labels_and_task(
    api: TestClient, db: Database, reader: dict[str, str]
) -> None:
    ids = seed(db)
    body = api.get("/api/mentions", headers=reader).json()
    mentions = sorted((v for k, v in ids.items() if k != "customer"), reverse=True)
    assert [item["id"] for item in body["items"]] == mentions
    assert body["next"] is None
    leak = next(item for item in body["items"] if item["id"] == ids["leak"])
    assert leak["text"] == "my pen leaks everywhere"
    assert leak["author"]["handle"] == "ana"
    assert leak["author"]["customer_id"] == ids["customer"]
    assert leak["labels"]["sentiment"] == "negative"
    assert leak["labels"]["intents"]["complaint"] == 0.9
    assert leak["task_id"] is not None
    assert leak["created_at"] == (START + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")


def test_mention_filters(api: TestClient, db: Database, reader: dict[str, str]) -> None:
    ids = seed(db)
    assert listed(api, reader, source="bluesky") == [ids["love"]]
    assert listed(api, reader, sentiment="negative") == [ids["reply"], ids["leak"]]
    assert listed(api, reader, intent="question") == [ids["price"]]
    assert listed(api, reader, customer_id=ids["customer"]) == [ids["later"], ids["leak"]]
    assert listed(api, reader, q="leaks") == [ids["leak"]]
    assert listed(api, reader, q="ink shirt") == [ids["reply"]]
    since, until = (START + timedelta(minutes=m) for m in (2, 4))
    window = {"since": since.isoformat(), "until": until.isoformat()}
    assert listed(api, reader, **window) == [ids["price"], ids["reply"]]
    assert listed(api, reader, source="mastodon", sentiment="positive") == [ids["later"]]
    assert listed(api, reader, query="brand:inkwell", source="nowhere") == []


@pytest.mark.parametrize(
    "params",
    [
        {"sentiment": "angry"},
        {"intent": "gossip"},
        {"since": "last tuesday"},
        {"since": "2026-11-03", "until": "2026-11-02"},
        {"since": "0001-01-01T00:00:00+01:00"},
        {"limit": "0"},
        {"limit": "201"},
        {"after": "0"},
        {"customer_id": str(2**63)},
        {"source": "a\x00b"},
    ],
)
def test_bad_filters_are_422_not_500(
    api: TestClient, reader: dict[str, str], params: dict[str, str]
) -> None:
    response = api.get("/api/mentions", params=params, headers=reader)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["msg"]


def test_pages_follow_a_stable_keyset_cursor(
    api: TestClient, db: Database, reader: dict[str, str]
) -> None:
    stored = [store(db, post(n, thread=f"t{n}")) for n in range(1, 8)]
    first = api.get("/api/mentions", params={"limit": 3}, headers=reader).json()
    assert [m["id"] for m in first["items"]] == stored[:-4:-1]
    newer = store(db, post(99, thread="t99"))  # arrives between two page requests
    second = api.get(
        "/api/mentions", params={"limit": 3, "after": first["next"]}, headers=reader
    ).json()
    assert [m["id"] for m in second["items"]] == stored[-4:-7:-1]
    third = api.get(
        "/api/mentions", params={"limit": 3, "after": second["next"]}, headers=reader
    ).json()
    assert [m["id"] for m in third["items"]] == [stored[0]]
    assert third["next"] is None
    assert listed(api, reader, limit=1) == [newer]


def test_one_mention_with_its_thread_and_replies(
    api: TestClient, db: Database, reader: dict[str, str]
) -> None:
    ids = seed(db)
    with db.transaction() as session:
        session.add(
            models.Reply(mention_id=ids["leak"], idempotency_key="k1", text="sorry!", state="sent")
        )
    body = api.get(f"/api/mentions/{ids['leak']}", headers=reader).json()
    assert body["id"] == ids["leak"]
    assert [m["id"] for m in body["thread"]] == [ids["reply"]]
    assert [(r["text"], r["state"]) for r in body["replies"]] == [("sorry!", "sent")]
    missing = api.get("/api/mentions/999999", headers=reader)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "mention 999999 does not exist"}


# --- customers and tasks -----------------------------------------------------------------------


def test_customers_are_paginated_by_id(
    api: TestClient, db: Database, reader: dict[str, str]
) -> None:
    with db.transaction() as session:
        rows = [models.Customer(display_name=f"c{n}", email=f"c{n}@example.com") for n in range(5)]
        session.add_all(rows)
        session.flush()
        rows[1].merged_into_id = rows[0].id
        ids = [row.id for row in rows]
    first = api.get("/api/customers", params={"limit": 2}, headers=reader).json()
    assert [c["id"] for c in first["items"]] == [ids[0], ids[2]]
    rest = api.get(
        "/api/customers", params={"limit": 2, "after": first["next"]}, headers=reader
    ).json()
    assert [c["id"] for c in rest["items"]] == [ids[3], ids[4]]
    assert rest["next"] is None
    everyone = api.get("/api/customers", params={"include_merged": True}, headers=reader).json()
    assert [c["id"] for c in everyone["items"]] == ids
    by_email = api.get("/api/customers", params={"email": "c3@example.com"}, headers=reader)
    assert [c["name"] for c in by_email.json()["items"]] == ["c3"]


def test_a_customer_is_their_enriched_profile(
    api: TestClient, db: Database, reader: dict[str, str]
) -> None:
    ids = seed(db)
    response = api.get(f"/api/customers/{ids['customer']}", headers=reader)
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["customer_id"] == ids["customer"]
    assert profile["crm_id"] == "crm-1"
    assert [a["handle"] for a in profile["authors"]] == ["ana"]
    assert profile["sentiment"]["negative"] == 1
    assert profile["sentiment"]["positive"] == 1
    assert profile["counts"]["mention"] == 2
    assert {item["kind"] for item in profile["history"]} >= {"mention"}
    assert profile["value"]["segment"] in ("A", "B", "C")
    assert api.get("/api/customers/424242", headers=reader).status_code == 404


def test_tasks_are_listed_filtered_and_shown(
    api: TestClient, db: Database, reader: dict[str, str]
) -> None:
    seed(db)
    all_tasks = tasks(db)
    assert all_tasks, "routing made no task"
    body = api.get("/api/tasks", headers=reader).json()
    assert [t["id"] for t in body["items"]] == sorted((t.id for t in all_tasks), reverse=True)
    first = all_tasks[0]
    queue_only = api.get("/api/tasks", params={"queue": first.queue}, headers=reader).json()
    assert first.id in [t["id"] for t in queue_only["items"]]
    assert api.get("/api/tasks", params={"queue": "nope"}, headers=reader).json()["items"] == []
    assert api.get("/api/tasks", params={"state": "sent"}, headers=reader).json()["items"] == []
    detail = api.get(f"/api/tasks/{first.id}", headers=reader).json()
    assert detail["mention"]["id"] == first.mention_id
    assert first.mention_id in detail["mention_ids"]
    assert detail["notes"] == []
    assert api.get("/api/tasks/424242", headers=reader).status_code == 404


def test_a_write_token_works_the_queue_as_itself(api: TestClient, db: Database) -> None:
    seed(db)
    task_id = tasks(db)[0].id
    writer = bearer(make_token(db, "read", "write", name="helpdesk"))
    claimed = api.post(f"/api/tasks/{task_id}/claim", headers=writer)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["state"] == "claimed"
    assignee = claimed.json()["assignee"]
    assert assignee.startswith("api:")
    again = api.post(f"/api/tasks/{task_id}/claim", headers=writer)
    assert again.status_code == 409
    assert "already yours" in again.json()["detail"]
    drafted = api.post(f"/api/tasks/{task_id}/draft", json={"text": "Sorry!"}, headers=writer)
    assert drafted.json()["draft"] == "Sorry!"
    noted = api.post(f"/api/tasks/{task_id}/notes", json={"text": "VIP"}, headers=writer)
    assert noted.status_code == 200
    notes = api.get(f"/api/tasks/{task_id}", headers=writer).json()["notes"]
    assert [(n["author"], n["text"]) for n in notes] == [("api:helpdesk", "VIP")]
    assert (
        api.post(f"/api/tasks/{task_id}/notes", json={"text": ""}, headers=writer).status_code
        == 422
    )
    dismissed = api.post(f"/api/tasks/{task_id}/dismiss", json={"reason": "spam"}, headers=writer)
    assert dismissed.json()["state"] == "dismissed"
    assert api.post("/api/tasks/424242/claim", headers=writer).status_code == 404
    with db.transaction() as session:
        actors = set(session.scalars(select(models.AuditEntry.actor)))
    assert assignee in actors


# --- reports -----------------------------------------------------------------------------------

REPORTS = (
    "overview",
    "sentiment-trend",
    "volume-by-source",
    "intents",
    "share-of-voice",
    "top-terms",
    "top-authors",
    "response-times",
    "reply-outcomes",
    "coverage",
)


def test_every_report_answers_for_a_window(
    api: TestClient, db: Database, reader: dict[str, str]
) -> None:
    seed(db)
    window = {"since": "2026-11-01", "until": "2026-11-08"}
    bodies = {}
    for name in REPORTS:
        response = api.get(f"/api/reports/{name}", params=window, headers=reader)
        assert response.status_code == 200, (name, response.text)
        bodies[name] = response.json()
        assert bodies[name]["since"] == "2026-11-01T00:00:00Z"
    overview = bodies["overview"]
    assert overview["volume"] == 5
    assert overview["sentiment"]["negative"] == 2
    assert sum(p["total"] for p in bodies["sentiment-trend"]["items"]) == 5
    by_source = {v["source"]: v["count"] for v in bodies["volume-by-source"]["items"]}
    assert by_source == {"mastodon": 4, "bluesky": 1}
    weekly = api.get(
        "/api/reports/sentiment-trend", params={**window, "bucket": "week"}, headers=reader
    ).json()
    assert weekly["bucket"] == "week"


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-08", "until": "2026-11-01"},
        {"since": "soon"},
        {"bucket": "month"},
        {"until": "9999-12-31T23:00:00-05:00"},
    ],
)
def test_a_bad_report_window_is_422(
    api: TestClient, reader: dict[str, str], params: dict[str, str]
) -> None:
    response = api.get("/api/reports/sentiment-trend", params=params, headers=reader)
    assert response.status_code == 422, response.text


# --- signed ingestion --------------------------------------------------------------------------

RECORD = {
    "id": "t3_abc",
    "source": "webhook",
    "text": "Does Inkwell export to Markdown?",
    "created_at": "2026-11-02T10:00:00Z",
    "author": "quietcoder",
    "author_followers": 12,
    "query": "brand:inkwell",
}


def push(
    api: TestClient,
    body: bytes,
    timestamp: str | None = None,
    secret: str = INGEST_SECRET,
    signature: str | None = None,
    skew: int = 0,
) -> Any:
    """POST the body to /api/ingest, signed with `secret` unless a signature is given."""
    timestamp = timestamp or str(int(time.time()) + skew)
    signature = signature or api_ingest.sign(secret.encode(), timestamp, body)
    headers = {
        api_ingest.TIMESTAMP_HEADER: timestamp,
        api_ingest.SIGNATURE_HEADER: signature,
        "Content-Type": "application/json",
    }
    return api.post("/api/ingest", content=body, headers=headers)


def test_a_signed_mention_is_stored_once(api: TestClient, db: Database) -> None:
    body = json.dumps(RECORD).encode()
    created = push(api, body)
    assert created.status_code == 201, created.text
    mention_id = created.json()["id"]
    assert created.json()["created"] is True
    again = push(api, body)
    assert again.status_code == 200
    assert again.json() == {"id": mention_id, "created": False}
    late = push(api, json.dumps({**RECORD, "id": "t3_late"}).encode(), skew=-290)
    assert late.status_code == 201  # inside the five-minute window
    with db.transaction() as session:
        row = session.get(models.Mention, mention_id)
        assert row is not None
        assert (row.source, row.source_id, row.state) == ("webhook", "t3_abc", "collected")
        assert row.matched_query == "brand:inkwell"
        author = session.get(models.Author, row.author_id)
        assert author is not None
        assert (author.handle, author.followers) == ("quietcoder", 12)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"secret": "wrong" * 8}, "does not match"),
        ({"signature": "sha256=" + "0" * 64}, "does not match"),
        ({"signature": "md5=abc"}, "does not match"),
        ({"skew": -301}, "5 minutes"),
        # ahead by 301 whole seconds is only 300.x ahead of the server's clock: once a second
        # ticks over before the check, it is inside the window; 310 stays outside
        ({"skew": 310}, "5 minutes"),
        ({"timestamp": "yesterday"}, "Unix seconds"),
        ({"timestamp": "+1764000000", "signature": "sha256=0"}, "Unix seconds"),
    ],
)
def test_a_bad_or_stale_signature_is_401(
    api: TestClient, db: Database, change: dict[str, Any], reason: str
) -> None:
    response = push(api, json.dumps(RECORD).encode(), **change)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    with db.transaction() as session:
        assert session.scalars(select(models.Mention)).first() is None


def test_a_body_changed_after_signing_is_401(api: TestClient) -> None:
    timestamp = str(int(time.time()))
    signature = api_ingest.sign(INGEST_SECRET.encode(), timestamp, json.dumps(RECORD).encode())
    tampered = json.dumps({**RECORD, "text": "buy crypto"}).encode()
    assert push(api, tampered, timestamp, signature=signature).status_code == 401
    unsigned = api.post("/api/ingest", content=json.dumps(RECORD).encode())
    assert unsigned.status_code == 401
    assert "X-Socialcrm-Timestamp" in unsigned.json()["detail"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "one JSON object"),
        (json.dumps({"id": "x", "text": "hi"}).encode(), "missing required field(s)"),
        (json.dumps({**RECORD, "created_at": "2026-11-02T10:00:00"}).encode(), "no time zone"),
        (json.dumps({**RECORD, "created_at": 1e300}).encode(), ""),
        (json.dumps({**RECORD, "created_at": "0001-01-01T00:00:00+01:00"}).encode(), ""),
        (json.dumps({**RECORD, "text": "nul\x00byte"}).encode(), "NUL"),
        (json.dumps({**RECORD, "author": "\ud800"}).encode(), "not valid Unicode"),
        (json.dumps({**RECORD, "author_followers": 10**30}).encode(), "author_followers"),
        (json.dumps({**RECORD, "id": "x" * 300}).encode(), "longer than"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_bad_payload_is_422_with_a_one_line_reason(
    api: TestClient, body: bytes, reason: str
) -> None:
    response = push(api, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert reason in detail
    assert "\n" not in detail


def _stored_sources(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(models.Mention.source).order_by(models.Mention.id)))


@pytest.mark.parametrize("source", ["reddit", "import", "Webhook", "webhook\n", ""])
def test_a_source_that_takes_no_pushes_is_422_naming_the_allowed_ones(
    api: TestClient, db: Database, source: str
) -> None:
    response = push(api, json.dumps({**RECORD, "source": source}).encode())
    if source == "":  # an empty source is no source: it gets the default
        assert response.status_code == 201, response.text
        assert _stored_sources(db) == ["webhook"]
        return
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.endswith("takes no pushes: use 'webhook' ([web] ingest_sources)")
    assert "\n" not in detail
    assert len(detail) < 200
    assert _stored_sources(db) == []


def test_a_push_naming_no_source_gets_the_first_ingest_source(db: Database) -> None:
    settings = api_settings(web={"ingest_sources": ["zapier", "make"]})
    with TestClient(api_app(db, settings), base_url="http://127.0.0.1") as client:
        unnamed = {key: value for key, value in RECORD.items() if key != "source"}
        assert push(client, json.dumps(unnamed).encode()).status_code == 201
        named = {**RECORD, "id": "t3_other", "source": "make"}
        assert push(client, json.dumps(named).encode()).status_code == 201
        refused = push(client, json.dumps({**RECORD, "id": "t3_x"}).encode())
    assert refused.status_code == 422
    assert "use 'zapier' or 'make'" in refused.json()["detail"]
    assert _stored_sources(db) == ["zapier", "make"]


def test_a_collectors_source_takes_pushes_only_when_explicitly_allowed(
    db: Database, write_settings: Any
) -> None:
    refused = write_settings('[web]\ningest_sources = ["webhook", "reddit"]\n')
    with pytest.raises(SettingsError, match=r"collector source 'reddit'.*ingest_collector_sources"):
        load_settings(refused)
    allowed = {"ingest_sources": ["reddit"], "ingest_collector_sources": True}
    with TestClient(api_app(db, api_settings(web=allowed)), base_url="http://127.0.0.1") as client:
        pushed = push(client, json.dumps({**RECORD, "source": "reddit"}).encode())
    assert pushed.status_code == 201, pushed.text
    assert _stored_sources(db) == ["reddit"]


def test_a_huge_body_is_413(api: TestClient) -> None:
    body = json.dumps({**RECORD, "text": "x" * api_ingest.MAX_BODY_BYTES}).encode()
    assert push(api, body).status_code == 413


def test_ingestion_is_off_without_its_secret(db: Database) -> None:
    secrets = Secrets(web_secret=SecretStr("w" * 32))  # type: ignore[call-arg]
    settings = Settings.model_validate({"secrets": secrets})
    with TestClient(create_app(settings, db), base_url="http://127.0.0.1") as client:
        response = push(client, json.dumps(RECORD).encode())
    assert response.status_code == 503
    assert "SOCIALCRM_INGEST_SECRET" in response.json()["detail"]


def test_pushed_authors_are_pseudonymised_when_configured(db: Database) -> None:
    secrets = Secrets(ingest_secret=SecretStr(INGEST_SECRET), pseudonym_key=SecretStr("p" * 32))  # type: ignore[call-arg]
    settings = Settings.model_validate(
        {"privacy": {"pseudonymise_authors": True}, "secrets": secrets}
    )
    with TestClient(create_app(settings, db), base_url="http://127.0.0.1") as client:
        first = push(client, json.dumps(RECORD).encode())
        second = push(client, json.dumps(RECORD).encode())
    assert first.status_code == 201
    assert second.json() == {"id": first.json()["id"], "created": False}
    with db.transaction() as session:
        handles = session.scalars(select(models.Author.handle)).all()
    assert handles
    assert all(h.startswith("psn_") for h in handles)
