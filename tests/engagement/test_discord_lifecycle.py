"""Starting the bot: a missing or refused token is one clear line, in the foreground or a thread."""

from __future__ import annotations

import discord
import pytest
from pydantic import SecretStr

from engagement.discord_bot import BotThread, DiscordStartError, build_bot, serve, token_of
from socialcrm.db import Database
from socialcrm.settings import Settings
from tests.engagement.builders import FakeResponder, responders
from tests.engagement.fakediscord import running, settings

UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}


def _with_token(config: Settings, token: str) -> Settings:
    secrets = config.secrets.model_copy(update={"discord_token": SecretStr(token)})
    return config.model_copy(update={"secrets": secrets})


def test_a_missing_token_names_the_variable_to_set() -> None:
    with pytest.raises(DiscordStartError, match="set SOCIALCRM_DISCORD_TOKEN"):
        token_of(settings())
    assert token_of(_with_token(settings(), " abc ")) == "abc"


def test_a_refused_token_is_one_line_naming_the_token(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running() as harness:
        monkeypatch.setattr(discord.http.Route, "BASE", harness.fake.url)
        harness.fake.fail("GET", "/users/@me", 401, UNAUTHORIZED)
        bot = build_bot(settings(), db, responders(FakeResponder()))
        with pytest.raises(DiscordStartError, match="refused SOCIALCRM_DISCORD_TOKEN"):
            harness.run(serve(bot, "revoked"))
        assert bot.is_closed()


def test_the_bot_thread_reports_a_refused_token_and_ends(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with running() as harness:
        monkeypatch.setattr(discord.http.Route, "BASE", harness.fake.url)
        harness.fake.fail("GET", "/users/@me", 401, UNAUTHORIZED)
        thread = BotThread(_with_token(settings(), "revoked"), db, responders(FakeResponder()))
        thread.start()
        thread.join(10)  # a refused token ends the thread by itself
        thread.stop()  # and stopping it then is harmless
    assert not thread.is_alive()
    assert isinstance(thread.error, DiscordStartError)
    assert "refused SOCIALCRM_DISCORD_TOKEN" in caplog.text
    assert "revoked" not in caplog.text  # the token itself is never logged
