"""Fixtures of the dashboard tests: the app over the test database, users, logged-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from crm_sync.customers import link
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import Author, Mention
from socialcrm.settings import Secrets, Settings
from socialcrm.web import pages
from socialcrm.web.app import create_app
from socialcrm.web.auth import add_user
from tests.engagement.builders import START, FakeResponder, responders, route, store, tasks

PASSWORD = "correct horse battery"
ROLES = ("admin", "agent", "analyst")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

MakeSettings = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _no_login_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed log-in answers at once in tests (the delay is a constant of the app)."""
    monkeypatch.setattr(pages, "FAILED_LOGIN_DELAY", 0.0)


@pytest.fixture
def make_settings() -> MakeSettings:
    """Settings with a session key and a pseudonym key; keyword tables override sections."""

    def make(**sections: Any) -> Settings:
        secrets = Secrets(web_secret=SecretStr("w" * 32), pseudonym_key=SecretStr("p" * 32))  # type: ignore[call-arg]
        return Settings.model_validate({**sections, "secrets": secrets})

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    """The default settings of these tests."""
    return make_settings()


@pytest.fixture
def responder() -> FakeResponder:
    """Records the replies the dashboard sends (on mastodon)."""
    return FakeResponder()


@pytest.fixture
def make_app(db: Database, responder: FakeResponder) -> Callable[[Settings], FastAPI]:
    """The app for some settings, over the test database, replying through the fake."""

    def make(settings: Settings) -> FastAPI:
        app = create_app(settings, db)
        app.state.responders = responders(responder)
        return app

    return make


@pytest.fixture
def app(make_app: Callable[[Settings], FastAPI], settings: Settings) -> FastAPI:
    """The app with the default test settings."""
    return make_app(settings)


@pytest.fixture
def users(db: Database) -> dict[str, str]:
    """One user per role, named after it; name -> password."""
    with db.transaction() as session:
        for role in ROLES:
            add_user(session, role, role, PASSWORD, "test")
    return dict.fromkeys(ROLES, PASSWORD)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A browser-like client (cookies kept), not logged in."""
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def as_role(app: FastAPI, users: dict[str, str]) -> Iterator[Callable[[str], TestClient]]:
    """A client logged in as the user of a role (one client per role)."""
    clients: dict[str, TestClient] = {}

    def make(role: str) -> TestClient:
        if role not in clients:
            test_client = TestClient(app, base_url="http://127.0.0.1")
            test_client.__enter__()
            login(test_client, role, users[role])
            clients[role] = test_client
        return clients[role]

    yield make
    for test_client in clients.values():
        test_client.__exit__(None, None, None)


def csrf_of(client: TestClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    match = _CSRF.search(client.get(path).text)
    assert match is not None, f"no CSRF token on {path}"
    return match.group(1)


def login(client: TestClient, name: str, password: str, next_path: str = "/queue") -> Any:
    """Log in through the form, as a browser does; the final response."""
    token = csrf_of(client, "/login")
    form = {"csrf_token": token, "name": name, "password": password, "next": next_path}
    return client.post("/login", data=form)


def post(
    client: TestClient, path: str, form: dict[str, str] | None = None, page: str = "/queue"
) -> Any:
    """Post a form with the session's CSRF token (read from `page`); no redirects followed."""
    data = {"csrf_token": csrf_of(client, page), **(form or {})}
    return client.post(path, data=data, follow_redirects=False)


# hostile text from the internet: none of it may ever reach a page unescaped or a CSV as a formula
XSS_TEXT = "=cmd|' /C calc'!A0 <script>alert('text')</script> my pen leaks"
XSS_HANDLE = "@<img src=x onerror=alert('handle')>"
XSS_NAME = "\"><svg onload=alert('name')>"
XSS_TITLE = "<b onmouseover=alert('title')>Leaky</b>"
XSS_URL = "javascript:alert('url')"
XSS_CUSTOMER = "<iframe src=javascript:alert('customer')>"
RAW_MARKUP = ("<script>alert", "<img src=x", "<svg onload", "<b onmouseover", "<iframe")
PRIVATE_HANDLE = "zoe_private"
PRIVATE_NAME = "Zoe Privatename"


@dataclass(frozen=True)
class Seeded:
    """What `seeded` stored: mention ids, the task of the hostile post, the customer."""

    hostile: int
    private: int
    happy: int
    reply_in_thread: int
    task: int
    customer: int


def _mention(number: int, author: Author, text: str, **extra: Any) -> Mention:
    return Mention(
        source="mastodon",
        source_id=f"w{number}",
        text=text,
        created_at=START + timedelta(minutes=number),
        author=author,
        matched_query="brand:inkwell",
        **extra,
    )


@pytest.fixture
def seeded(db: Database) -> Seeded:
    """A hostile complaint (linked to a hostile customer), a private author, a happy post."""
    hostile_author = Author(handle=XSS_HANDLE, display_name=XSS_NAME, url=XSS_URL, followers=10)
    private_author = Author(
        handle=PRIVATE_HANDLE,
        display_name=PRIVATE_NAME,
        url=f"https://example.social/@{PRIVATE_HANDLE}",
        followers=5000,
    )
    hostile = store(
        db,
        _mention(1, hostile_author, XSS_TEXT, title=XSS_TITLE, url=XSS_URL, thread_id="t1"),
        "negative",
        needs_reply=0.9,
        complaint=0.9,
    )
    private = store(
        db,
        _mention(
            2,
            private_author,
            "where can I buy refills?",
            url=f"https://example.social/@{PRIVATE_HANDLE}/2",
            thread_id="t2",
        ),
        "neutral",
        needs_reply=0.9,
        question=0.9,
    )
    happy = store(db, _mention(3, Author(handle="bea"), "I love my new inkwell pen"), "positive")
    route(db)
    reply = store(
        db, _mention(4, hostile_author, "still leaking, any news?", thread_id="t1"), "negative"
    )
    with db.transaction() as session:
        customer = models.Customer(display_name=XSS_CUSTOMER, email="leaky@example.com")
        session.add(customer)
        session.flush()
        author_id = session.scalars(
            select(models.Mention.author_id).where(models.Mention.id == hostile)
        ).one()
        private_author_id = session.scalars(
            select(models.Mention.author_id).where(models.Mention.id == private)
        ).one()
        link(session, author_id, customer.id, "test")
        link(session, private_author_id, customer.id, "test")
        customer_id = customer.id
    task = next(t.id for t in tasks(db) if t.mention_id == hostile)
    return Seeded(hostile, private, happy, reply, task, customer_id)
