"""Dashboard log-in: password hashes, users, sessions and their cookies, CSRF, roles, the CLI."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from socialcrm import cli_web, models
from socialcrm.cli import app as cli_app
from socialcrm.db import Database
from socialcrm.settings import Secrets, Settings
from socialcrm.web import auth, pages_common
from socialcrm.web.auth import UserError, add_user, hash_password, verify_password
from tests.web.conftest import PASSWORD, MakeSettings, csrf_of, login, post

RoleClient = Callable[[str], TestClient]


def _audit(db: Database, action: str) -> list[models.AuditEntry]:
    with db.transaction() as session:
        rows = list(
            session.scalars(
                select(models.AuditEntry)
                .where(models.AuditEntry.action == action)
                .order_by(models.AuditEntry.id)
            )
        )
        session.expunge_all()
    return rows


def test_a_password_hash_is_salted_scrypt_and_checks_only_its_password() -> None:
    first, second = hash_password("s3cret-enough"), hash_password("s3cret-enough")
    assert first != second  # a random salt each time
    assert first.startswith("scrypt$")
    assert "s3cret" not in first
    assert verify_password("s3cret-enough", first)
    assert not verify_password("s3cret-enougH", first)
    assert not verify_password("s3cret-enough", "md5$abc")
    assert not verify_password("s3cret-enough", "scrypt$garbage")


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("ana", "boss", PASSWORD, "role 'boss' is unknown"),
        ("ana", "agent", "short", "too short"),
        ("a/b", "agent", PASSWORD, "a user name is"),
        ("", "agent", PASSWORD, "a user name is"),
    ],
)
def test_a_user_needs_a_good_name_role_and_password(
    db: Database, name: str, role: str, password: str, message: str
) -> None:
    with db.transaction() as session, pytest.raises(UserError, match=message):
        add_user(session, name, role, password, "test")


def test_adding_a_user_is_audited_without_the_password_and_names_are_unique(
    db: Database,
) -> None:
    with db.transaction() as session:
        add_user(session, "ana", "agent", PASSWORD, "cli:root")
    with db.transaction() as session, pytest.raises(UserError, match="exists already"):
        add_user(session, "ana", "admin", PASSWORD, "cli:root")
    (entry,) = _audit(db, "web_user.add")
    assert (entry.actor, entry.after) == ("cli:root", {"role": "agent"})
    with db.transaction() as session:
        stored = session.scalars(select(models.WebUser.password_hash)).one()
    assert PASSWORD not in stored


def test_pages_need_a_log_in_and_it_brings_you_back(
    client: TestClient, users: dict[str, str]
) -> None:
    first = client.get("/queue", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/queue"
    kept = client.get("/mentions?q=pen&sentiment=negative", follow_redirects=False)
    assert kept.headers["location"] == "/login?next=/mentions%3Fq%3Dpen%26sentiment%3Dnegative"
    done = login(client, "agent", PASSWORD, next_path="/queue")
    assert done.status_code == 200
    assert done.url.path == "/queue"
    assert "agent (agent)" in done.text


def test_a_failed_log_in_is_refused_and_audited_without_telling_which_part_was_wrong(
    client: TestClient, users: dict[str, str], db: Database
) -> None:
    wrong = login(client, "agent", "not the password")
    unknown = login(client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password" in wrong.text
    assert wrong.text.count("Wrong name") == unknown.text.count("Wrong name") == 1
    assert client.get("/queue", follow_redirects=False).status_code == 303
    reasons = [entry.after for entry in _audit(db, "web.login_failed")]
    assert reasons == [{"reason": "wrong password"}, {"reason": "unknown user"}]
    assert not any(
        "not the password" in str(entry.after) for entry in _audit(db, "web.login_failed")
    )


def test_the_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(
    client: TestClient, users: dict[str, str]
) -> None:
    token = csrf_of(client)
    form = {"csrf_token": token, "name": "agent", "password": PASSWORD, "next": "/"}
    answer = client.post("/login", data=form, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("socialcrm_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert f"Max-Age={12 * 3600}" in cookie


@pytest.mark.parametrize(
    ("setting", "headers", "secure"),
    [
        ("always", {}, True),
        ("auto", {"X-Forwarded-Proto": "https"}, True),
        ("auto", {}, False),
        ("never", {"X-Forwarded-Proto": "https"}, False),
    ],
)
def test_the_secure_flag_follows_the_setting(
    make_app: Callable[[Settings], FastAPI],
    make_settings: MakeSettings,
    setting: str,
    headers: dict[str, str],
    secure: bool,
) -> None:
    app = make_app(make_settings(web={"secure_cookies": setting}))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        cookie = client.get("/login", headers=headers).headers["set-cookie"]
    assert ("; Secure" in cookie) is secure


def test_a_tampered_cookie_is_no_session(client: TestClient, users: dict[str, str]) -> None:
    login(client, "agent", PASSWORD)
    value = client.cookies["socialcrm_session"]
    payload, _, signature = value.partition(".")
    client.cookies.clear()
    client.cookies.set("socialcrm_session", payload + "x." + signature)
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_a_disabled_user_is_logged_out_at_the_next_request(
    client: TestClient, users: dict[str, str], db: Database
) -> None:
    login(client, "agent", PASSWORD)
    assert client.get("/queue", follow_redirects=False).status_code == 200
    with db.transaction() as session:
        auth.disable_user(session, "agent", "cli:root")
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert login(client, "agent", PASSWORD).status_code == 401


def test_a_session_ends_after_session_hours(
    client: TestClient, users: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client, "agent", PASSWORD)
    later = pages_common.time.time() + 12 * 3600 + 1
    monkeypatch.setattr(pages_common.time, "time", lambda: later)
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_log_out_needs_the_token_and_ends_the_session(
    client: TestClient, users: dict[str, str]
) -> None:
    login(client, "agent", PASSWORD)
    refused = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 200
    assert post(client, "/logout").status_code == 303
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_log_in_itself_needs_the_token(client: TestClient, users: dict[str, str]) -> None:
    form = {"name": "agent", "password": PASSWORD}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 403
    client.get("/login")  # a session with a token, but the form carries another
    forged = client.post("/login", data={**form, "csrf_token": "x" * 43}, follow_redirects=False)
    assert forged.status_code == 403


def test_a_token_of_another_session_is_refused(as_role: RoleClient, users: dict[str, str]) -> None:
    agent, admin = as_role("agent"), as_role("admin")
    admins_token = csrf_of(admin, "/users")
    stolen = agent.post("/logout", data={"csrf_token": admins_token}, follow_redirects=False)
    assert stolen.status_code == 403


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_log_in_never_redirects_off_the_site(
    client: TestClient, users: dict[str, str], target: str
) -> None:
    token = csrf_of(client)
    form = {"csrf_token": token, "name": "agent", "password": PASSWORD, "next": target}
    answer = client.post("/login", data=form, follow_redirects=False)
    assert answer.headers["location"] == "/"


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("analyst", "/queue", 403),
        ("analyst", "/customers", 403),
        ("analyst", "/users", 403),
        ("agent", "/users", 403),
        ("agent", "/queue", 200),
        ("agent", "/customers", 200),
        ("admin", "/users", 200),
        ("admin", "/customers", 200),
    ],
)
def test_roles_open_only_their_pages(
    as_role: RoleClient, role: str, path: str, status: int
) -> None:
    answer = as_role(role).get(path, follow_redirects=False)
    assert answer.status_code == status
    if status == 403:
        assert f"your role ({role})" in answer.text


def test_admins_add_and_disable_users_in_the_browser(
    as_role: RoleClient, users: dict[str, str], db: Database
) -> None:
    admin = as_role("admin")
    form = {"name": "cleo", "role": "analyst", "password": PASSWORD}
    assert post(admin, "/users", form, page="/users").status_code == 303
    assert "User cleo (analyst) is added." in admin.get("/users").text
    assert post(admin, "/users/cleo/disable", page="/users").status_code == 303
    assert post(admin, "/users/admin/disable", page="/users").status_code == 303
    page = admin.get("/users").text
    assert "You cannot disable yourself" in page
    (entry,) = _audit(db, "web_user.disable")
    assert entry.actor == "web:admin"
    # an agent cannot add users, whatever the form says
    agent_form = {"name": "eve", "role": "admin", "password": PASSWORD}
    assert post(as_role("agent"), "/users", agent_form).status_code == 403


def test_the_session_key_is_made_once_in_the_data_dir_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings()
    first = auth.session_secret(settings)
    path = settings.data_dir / auth.SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert auth.session_secret(settings) == first
    assert len(first) >= auth.MIN_SECRET


def test_a_short_configured_session_key_is_refused() -> None:
    settings = Settings(secrets=Secrets(web_secret=SecretStr("short")))  # type: ignore[call-arg]
    with pytest.raises(UserError, match="SOCIALCRM_WEB_SECRET is too short"):
        auth.session_secret(settings)


def test_the_users_commands_add_list_and_disable(
    database_url: str, db: Database, write_settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = str(write_settings(""))
    runner = CliRunner(env={"COLUMNS": "200", "LOGNAME": "root", "USER": "root"})

    added = runner.invoke(
        cli_app, ["-c", path, "users", "add", "ana", "--role", "agent"], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    bad = runner.invoke(
        cli_app, ["-c", path, "users", "add", "bea", "--role", "boss"], input=PASSWORD + "\n"
    )
    assert bad.exit_code == 2
    assert "role 'boss' is unknown" in bad.output
    listed = runner.invoke(cli_app, ["-c", path, "users", "list"])
    assert "ana" in listed.output
    assert "agent" in listed.output
    assert "active" in listed.output
    assert runner.invoke(cli_app, ["-c", path, "users", "disable", "ana"]).exit_code == 0
    assert "disabled" in runner.invoke(cli_app, ["-c", path, "users", "list"]).output
    missing = runner.invoke(cli_app, ["-c", path, "users", "disable", "zed"])
    assert missing.exit_code == 2
    with db.transaction() as session:
        user = session.scalars(select(models.WebUser)).one()
        assert verify_password(PASSWORD, user.password_hash)
    (entry,) = _audit(db, "web_user.add")
    assert entry.actor == "cli:root"


def test_the_web_server_listens_on_loopback_unless_told_otherwise(
    db: Database, settings: Settings
) -> None:
    default = cli_web.server(settings, db)
    assert (default.config.host, default.config.port) == ("127.0.0.1", 8000)
    assert default.config.proxy_headers is False
    chosen = cli_web.server(settings, db, host="0.0.0.0", port=9001)  # noqa: S104 - asked for
    assert (chosen.config.host, chosen.config.port) == ("0.0.0.0", 9001)  # noqa: S104
