"""`socialcrm queue list|show|claim|reply|approve|send|note|dismiss|escalate`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from collectors import registry
from socialcrm.cli import app
from socialcrm.db import Database
from tests.engagement.builders import FakeResponder, post, route, store, tasks


@pytest.fixture
def database(database_url: str):  # type: ignore[no-untyped-def]
    """The test database, migrated."""
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def cli(database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke `socialcrm` against the test database."""
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = write_settings("")

    def invoke(*args: str, answer: str | None = None, user: str = "ana") -> Result:
        # a wide terminal: rows of the task table stay on one line each; the login name
        runner = CliRunner(env={"COLUMNS": "200", "LOGNAME": user})
        return runner.invoke(app, ["--config", str(path), *args], input=answer)

    return invoke


def test_the_queue_can_be_worked_from_the_command_line(
    cli, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    fake = FakeResponder()
    monkeypatch.setattr(registry, "build_responder", lambda source, settings: fake)
    store(database, post(1, text="my pen leaks everywhere"), "negative", complaint=0.9)
    store(database, post(2, handle="bea", thread="t2"), "neutral", question=0.9)
    route(database)
    complaint, question = (t.id for t in tasks(database))

    listed = cli("queue", "list")
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.output.splitlines() if "mastodon" in line]
    assert [line.split()[0] for line in lines] == [f"#{complaint}", f"#{question}"]
    assert "my pen leaks everywhere" in listed.output
    assert "my pen leaks everywhere" in cli("queue", "show", str(complaint)).output

    assert cli("queue", "claim", str(complaint)).exit_code == 0
    taken = cli("queue", "claim", str(complaint), user="bea")
    assert taken.exit_code == 1
    assert "claimed by cli:ana" in taken.output

    drafted = cli("queue", "reply", str(complaint))
    assert drafted.exit_code == 0, drafted.output
    assert (
        "will post on mastodon as the account of SOCIALCRM_MASTODON_ACCESS_TOKEN" in drafted.output
    )
    assert "Hi ana, sorry about this" in drafted.output

    declined = cli("queue", "send", str(complaint), answer="n\n")
    assert declined.exit_code == 1
    assert fake.posted == []
    sent = cli("queue", "send", str(complaint), answer="y\n")
    assert sent.exit_code == 0, sent.output
    assert "answered: https://example.social/@brand/r1" in sent.output
    assert len(fake.posted) == 1

    assert cli("queue", "note", str(question), "asked on the phone").exit_code == 0
    assert cli("queue", "dismiss", str(question), "--why", "answered by phone").exit_code == 0
    shown = cli("queue", "show", str(question))
    assert "asked on the phone" in shown.output
    assert "dismiss: answered by phone" in shown.output
    assert cli("queue", "list").output.strip() == "no tasks"
    assert "no task #99" in cli("queue", "show", "99").output


def test_the_second_approval_cannot_be_given_by_the_drafter_from_the_same_login(
    cli, database: Database, write_settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    path = write_settings("[engagement]\nrequire_second_approval = true\n")
    runner = CliRunner(env={"COLUMNS": "200", "LOGNAME": "ana"})
    store(database, post(1), "negative", complaint=0.9)
    route(database)
    (task,) = tasks(database)

    def invoke(*args: str) -> Result:
        return runner.invoke(app, ["--config", str(path), *args])

    assert invoke("queue", "reply", str(task.id), "--text", "sorry").exit_code == 0
    refused = invoke("queue", "approve", str(task.id))
    assert refused.exit_code == 1
    assert "a second person must approve your draft" in refused.output
    assert "--as" not in invoke("queue", "approve", "--help").output


def test_the_discord_command_says_what_to_set_when_chat_is_off(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("discord")
    assert result.exit_code == 2
    assert "discord.enabled is false in the settings" in result.output
