"""Sessions that end on the server (log-out, disabling, new password); the log-in rate limit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import ColumnElement, func, select
from typer.testing import CliRunner

from socialcrm import models
from socialcrm.cli import app as cli_app
from socialcrm.db import Database
from socialcrm.settings import Settings
from socialcrm.web import auth
from tests.web.conftest import PASSWORD, MakeSettings, login, post

COOKIE = "socialcrm_session"
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
NEW_PASSWORD = "a brand new passphrase"


class FakeClock:
    """The app's clock in these tests: stands still until moved."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        """The time now."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock on."""
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app: FastAPI) -> FakeClock:
    """The app's clock, injected."""
    fake = FakeClock()
    app.state.clock = fake
    return fake


@pytest.fixture
def make_client(app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    """Clients of the app from a given client address (a new browser each)."""
    made: list[TestClient] = []

    def make(address: str) -> TestClient:
        client = TestClient(app, base_url="http://127.0.0.1", client=(address, 50000))
        client.__enter__()
        made.append(client)
        return client

    yield make
    for client in made:
        client.__exit__(None, None, None)


def _is_logged_in(client: TestClient) -> bool:
    answer = client.get("/queue", follow_redirects=False)
    assert answer.status_code in (200, 303)
    return answer.status_code == 200


def _replay(client: TestClient, cookie: str) -> None:
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)


def _count(db: Database, model: type[models.Base], *where: ColumnElement[bool]) -> int:
    with db.transaction() as session:
        counted: int | None = session.scalar(select(func.count()).select_from(model).where(*where))
        return counted or 0


# sessions


def test_a_cookie_replayed_after_log_out_is_no_session(
    client: TestClient, users: dict[str, str]
) -> None:
    login(client, "agent", PASSWORD)
    copied = client.cookies[COOKIE]
    assert post(client, "/logout").status_code == 303
    assert not _is_logged_in(client)
    _replay(client, copied)
    assert not _is_logged_in(client)


def test_log_out_ends_the_users_sessions_on_every_device(
    make_client: Callable[[str], TestClient], users: dict[str, str]
) -> None:
    laptop, phone, colleague = (
        make_client("192.0.2.1"),
        make_client("192.0.2.2"),
        make_client("192.0.2.3"),
    )
    for device in (laptop, phone):
        login(device, "agent", PASSWORD)
    login(colleague, "admin", PASSWORD)
    assert _is_logged_in(phone)
    post(laptop, "/logout")
    assert not _is_logged_in(phone)
    assert _is_logged_in(colleague)  # only the user who logged out
    login(phone, "agent", PASSWORD)
    assert _is_logged_in(phone)


def test_a_stale_cookie_cannot_log_the_user_out_again(db: Database, users: dict[str, str]) -> None:
    with db.transaction() as session:
        user = session.scalars(select(models.WebUser).where(models.WebUser.name == "agent")).one()
        assert auth.end_sessions(session, user.id, 0) is True
        assert auth.end_sessions(session, user.id, 0) is False  # epoch 0 has ended already
        session.refresh(user)
        assert user.session_epoch == 1
        assert auth.active_viewer(session, user.id, 0) is None
        assert auth.active_viewer(session, user.id, 1) is not None


def test_disabling_a_user_ends_their_live_session_for_good(
    as_role: Callable[[str], TestClient], db: Database
) -> None:
    agent, admin = as_role("agent"), as_role("admin")
    copied = agent.cookies[COOKIE]
    assert _is_logged_in(agent)
    assert post(admin, "/users/agent/disable", page="/users").status_code == 303
    assert not _is_logged_in(agent)
    with db.transaction() as session:  # enabled again (by hand): the old cookie stays dead
        user = session.scalars(select(models.WebUser).where(models.WebUser.name == "agent")).one()
        user.disabled_at = None
    _replay(agent, copied)
    assert not _is_logged_in(agent)
    assert login(agent, "agent", PASSWORD).url.path == "/queue"


def test_a_new_password_ends_the_users_sessions(  # type: ignore[no-untyped-def]
    client: TestClient,
    users: dict[str, str],
    db: Database,
    database_url: str,
    write_settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login(client, "agent", PASSWORD)
    assert _is_logged_in(client)
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = str(write_settings(""))
    runner = CliRunner(env={"COLUMNS": "200", "LOGNAME": "root", "USER": "root"})
    command = ["-c", path, "users", "password", "agent"]
    short = runner.invoke(cli_app, command, input="short\n")
    assert short.exit_code == 2
    assert "too short" in short.output
    assert _is_logged_in(client)  # nothing changed
    done = runner.invoke(cli_app, command, input=NEW_PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert not _is_logged_in(client)
    assert login(client, "agent", PASSWORD).status_code == 401
    assert login(client, "agent", NEW_PASSWORD).url.path == "/queue"
    missing = runner.invoke(cli_app, ["-c", path, "users", "password", "zed"], input=PASSWORD)
    assert missing.exit_code == 2
    with db.transaction() as session:
        (entry,) = session.scalars(
            select(models.AuditEntry).where(models.AuditEntry.action == "web_user.password")
        )
        assert (entry.actor, entry.after) == ("cli:root", None)


# the log-in rate limit


def test_past_the_failures_of_a_name_even_the_right_password_waits_for_the_window(
    client: TestClient, users: dict[str, str], clock: FakeClock, db: Database
) -> None:
    for _ in range(5):
        assert login(client, "agent", "wrong password").status_code == 401
        clock.advance(minutes=1)
    refused = login(client, "agent", PASSWORD)  # at 09:05; the first failure was at 09:00
    assert refused.status_code == 429
    assert "Too many failed log-ins: try again at 09:15 UTC (in 10 min)." in refused.text
    assert refused.headers["retry-after"] == str(10 * 60)
    assert not _is_logged_in(client)
    clock.advance(minutes=9, seconds=59)
    assert login(client, "agent", PASSWORD).status_code == 429
    assert _count(db, models.AuditEntry, models.AuditEntry.action == "web.login_failed") == 5
    clock.advance(seconds=1)  # 09:15: the failure of 09:00 has left the window
    assert login(client, "agent", PASSWORD).url.path == "/queue"


def test_a_refused_attempt_checks_no_password(
    client: TestClient, users: dict[str, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        login(client, "nobody", "wrong password")  # unknown names are limited alike
    checked: list[str] = []
    monkeypatch.setattr(auth, "verify_password", lambda password, stored: checked.append(password))
    assert login(client, "nobody", PASSWORD).status_code == 429
    assert checked == []


def test_a_log_in_clears_the_failures_of_its_name(
    client: TestClient, users: dict[str, str], clock: FakeClock
) -> None:
    for _ in range(4):
        assert login(client, "agent", "wrong password").status_code == 401
    assert login(client, "agent", PASSWORD).url.path == "/queue"
    post(client, "/logout")
    for _ in range(5):
        assert login(client, "agent", "wrong password").status_code == 401
    assert login(client, "agent", "wrong password").status_code == 429


def test_an_address_has_its_own_limit_across_names(
    make_app: Callable[[Settings], FastAPI],
    make_settings: MakeSettings,
    users: dict[str, str],
    db: Database,
) -> None:
    app = make_app(make_settings(web={"login_failures_per_address": 3}))
    app.state.clock = FakeClock()
    with (
        TestClient(app, base_url="http://127.0.0.1", client=("192.0.2.7", 1)) as guesser,
        TestClient(app, base_url="http://127.0.0.1", client=("192.0.2.8", 1)) as other,
    ):
        for name in ("ann", "ben", "cat"):
            assert login(guesser, name, "wrong password").status_code == 401
        assert login(guesser, "agent", PASSWORD).status_code == 429
        assert login(other, "agent", PASSWORD).url.path == "/queue"
    # names and addresses are kept only as keyed hashes
    with db.transaction() as session:
        keys = list(session.scalars(select(models.WebLoginFailure.key)))
    assert len(keys) == 6
    assert all(len(key) == 64 and "192.0.2" not in key and "ann" not in key for key in keys)


def test_no_limit_when_set_to_zero(
    make_app: Callable[[Settings], FastAPI], make_settings: MakeSettings, users: dict[str, str]
) -> None:
    web = {"login_failures_per_name": 0, "login_failures_per_address": 0}
    app = make_app(make_settings(web=web))
    app.state.clock = FakeClock()
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for _ in range(7):
            assert login(client, "agent", "wrong password").status_code == 401
        assert login(client, "agent", PASSWORD).url.path == "/queue"


def test_failures_out_of_the_window_are_forgotten(
    client: TestClient, users: dict[str, str], clock: FakeClock, db: Database
) -> None:
    for _ in range(3):
        login(client, "agent", "wrong password")
    assert _count(db, models.WebLoginFailure) == 6  # one for the name, one for the address
    clock.advance(minutes=15)
    login(client, "analyst", "wrong password")
    assert _count(db, models.WebLoginFailure) == 2
