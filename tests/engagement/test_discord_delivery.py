"""Cards through the real discord.py client to a fake Discord: the JSON Discord receives, edits,
errors mapped for the outbox, the delivery loop, and a loop that never blocks."""

from __future__ import annotations

import asyncio
import queue as queue_module
import threading
from typing import Any

import aiohttp
import discord
import pytest
from sqlalchemy import select

from collectors.base import PostedReply
from engagement import notify, queue
from engagement.cards import ChatContent
from engagement.discord_bot import SocialCrmBot
from engagement.discord_notifier import DiscordNotifier, chat_error
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import Mention
from tests.engagement.builders import FakeResponder, responders
from tests.engagement.fakediscord import (
    ANA,
    APP_ID,
    CHANNEL_ID,
    GUILD_ID,
    HOSTILE,
    RESPONDER_ROLE,
    bot_env,
    button_ids,
    new_task,
    running,
    settings,
)

ANA_ACTOR = queue.Actor(f"discord:{ANA}", "Ana", may_send=True)


def _row(db: Database, task_id: int) -> models.ChatMessage:
    with db.transaction() as session:
        row = session.scalars(
            select(models.ChatMessage).where(models.ChatMessage.key == f"task:{task_id}")
        ).one()
        session.expunge(row)
    return row


def test_a_card_pings_no_one_and_shows_hostile_text_as_plain_text(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = new_task(db, text=HOSTILE)
    with bot_env(db, monkeypatch) as env:
        result = env.deliver()
        (sent,) = env.fake.channel_posts(CHANNEL_ID)
    assert result.posted == 1
    assert sent["allowed_mentions"] == {"parse": []}
    assert (sent["nonce"], sent["enforce_nonce"]) == (f"task:{task_id}", True)
    (embed,) = sent["embeds"]
    text = embed["description"]
    for raw in ("@everyone", "@here", "<@&123>", "<@456>", "<#789>", "](javascript:", "**now**"):
        assert raw not in text
    assert "javascript" in text  # shown, escaped, not dropped
    names = [field["name"] for field in embed["fields"]]
    for name in ("Author", "Customer", "Sentiment", "Intents", "Query", "SLA due", "Why"):
        assert name in names
    assert embed["title"] == "[P2] Mastodon · complaint"
    assert button_ids(sent) == [
        f"task:{task_id}:{action}"
        for action in ("claim", "reply", "note", "dismiss", "escalate", "correct")
    ]
    row = _row(db, task_id)
    assert (row.channel_id, row.state) == (str(CHANNEL_ID), "sent")
    assert row.message_id is not None


def test_a_change_edits_the_same_message_and_a_second_round_sends_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = new_task(db)
    with bot_env(db, monkeypatch) as env:
        env.deliver()
        message_id = _row(db, task_id).message_id
        queue.claim(db, task_id, ANA_ACTOR)
        result = env.deliver()
        again = env.deliver()
        (edit,) = env.fake.find("PATCH", f"/channels/{CHANNEL_ID}/messages/{message_id}")
        posts = env.fake.channel_posts(CHANNEL_ID)
    assert (result.edited, again.posted, again.edited, len(posts)) == (1, 0, 0, 1)
    assert edit.body["allowed_mentions"] == {"parse": []}
    fields = {f["name"]: f["value"] for f in edit.body["embeds"][0]["fields"]}
    assert fields["State / owner"] == f"claimed · <@{ANA}>"


def test_a_card_deleted_in_discord_is_posted_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = new_task(db)
    with bot_env(db, monkeypatch) as env:
        env.deliver()
        first = _row(db, task_id).message_id
        assert first is not None
        del env.fake.messages[int(first)]  # a moderator deleted it
        queue.claim(db, task_id, ANA_ACTOR)
        result = env.deliver()
    assert result.posted == 1
    assert _row(db, task_id).message_id not in (None, first)


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (503, {"message": "down", "code": 0}, {}, notify.ChatUnavailableError),
        (401, {"message": "401: Unauthorized", "code": 0}, {}, notify.ChatAuthError),
        (403, {"message": "Missing Access", "code": 50001}, {}, notify.ChatRejectedError),
        (404, {"message": "Unknown Channel", "code": 10003}, {}, notify.ChatRejectedError),
        (400, {"message": "Invalid Form Body", "code": 50035}, {}, notify.ChatRejectedError),
        (429, {"message": "blocked"}, {}, notify.ChatRateLimitedError),
    ],
)
def test_discord_errors_become_the_outbox_errors(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    body: dict[str, object] | None,
    headers: dict[str, str],
    expected: type[notify.ChatError],
) -> None:
    with bot_env(db, monkeypatch) as env:
        env.fake.fail("POST", r"/channels/\d+/messages", status, body, headers)
        notifier = DiscordNotifier(env.bot, env.harness.loop, timeout=10)
        with pytest.raises(expected):
            notifier.post(str(CHANNEL_ID), ChatContent(content="hello"), "n1")


class _FakeResponse:
    """Enough of an aiohttp response for discord.py's HTTPException."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.reason = "fake"


def _response(status: int) -> Any:
    return _FakeResponse(status)


def test_a_long_rate_limit_is_handed_to_the_outbox_with_its_wait(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"message": "You are being rate limited.", "retry_after": 120.0, "global": False}
    with bot_env(db, monkeypatch) as env:
        # Discord's own 429s come through its proxy (Via); without it, it is a Cloudflare block
        env.fake.fail("POST", r"/channels/\d+/messages", 429, body, {"Via": "1.1 google"})
        notifier = DiscordNotifier(env.bot, env.harness.loop, timeout=10)
        with pytest.raises(notify.ChatRateLimitedError) as caught:
            notifier.post(str(CHANNEL_ID), ChatContent(content="hello"), "n1")
    assert caught.value.retry_after == 120.0


def test_a_deleted_message_on_edit_is_gone_but_an_unknown_channel_is_rejected() -> None:
    gone = discord.NotFound(_response(404), {"message": "Unknown Message", "code": 10008})
    channel = discord.NotFound(_response(404), {"message": "Unknown Channel", "code": 10003})
    assert isinstance(chat_error(gone, editing=True), notify.ChatMessageGoneError)
    assert not isinstance(chat_error(gone, editing=False), notify.ChatMessageGoneError)
    assert not isinstance(chat_error(channel, editing=True), notify.ChatMessageGoneError)
    assert isinstance(chat_error(aiohttp.ClientConnectionError()), notify.ChatUnavailableError)
    # 500, 502, 504 are retried inside discord.py (with sleeps), so they are only mapped here
    server = discord.DiscordServerError(_response(502), "bad gateway")
    assert isinstance(chat_error(server), notify.ChatUnavailableError)
    assert isinstance(chat_error(discord.LoginFailure()), notify.ChatAuthError)


def test_an_unreachable_discord_leaves_the_card_pending_for_later(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = new_task(db)
    with bot_env(db, monkeypatch) as env:
        env.harness.run(env.fake.stop())  # connection refused from now on
        result = env.deliver()
    assert result.stopped == "unavailable"
    row = _row(db, task_id)
    assert (row.state, row.message_id, row.attempts) == ("pending", None, 1)
    assert row.last_error is not None
    assert "unreachable" in row.last_error


def test_a_closed_bot_is_unavailable_not_a_crash(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bot_env(db, monkeypatch) as env:
        env.harness.run(env.bot.close())
        notifier = DiscordNotifier(env.bot, env.harness.loop, timeout=10)
        with pytest.raises(notify.ChatUnavailableError, match="not running"):
            notifier.post(str(CHANNEL_ID), ChatContent(content="x"), "n1")


def test_login_registers_the_slash_commands_in_the_team_server(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bot_env(db, monkeypatch) as env:
        (sync,) = env.fake.find("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    assert sorted(command["name"] for command in sync.body) == ["customer", "queue", "stats"]


class _CountingBot(SocialCrmBot):
    """The bot, telling the test when each outbox round ends."""

    rounds: queue_module.Queue[notify.DispatchResult]

    def deliver_once(self, notifier: notify.Notifier) -> notify.DispatchResult:
        result = super().deliver_once(notifier)
        self.rounds.put(result)
        return result


def test_the_delivery_loop_posts_new_cards_and_wakes_at_once_after_an_action(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = new_task(db)
    # an hour between rounds: only the first round and a kick can deliver within the test
    config = settings({"dispatch_interval_seconds": 3600})
    with running() as harness:
        monkeypatch.setattr(discord.http.Route, "BASE", harness.fake.url)
        bot = _CountingBot(config, db, responders(FakeResponder()))
        bot.rounds = queue_module.Queue()
        harness.login(bot)
        assert bot.rounds.get(timeout=10).posted == 1  # the first round, at start
        (card,) = harness.fake.held(CHANNEL_ID)
        harness.press(card, f"task:{task_id}:claim")
        assert bot.rounds.get(timeout=10).edited == 1  # woken by the claim, not the clock
        (edit,) = harness.fake.find("PATCH", f"/channels/{CHANNEL_ID}/messages/{card['id']}")
    assert "claimed" in str(edit.body["embeds"][0]["fields"])


def test_sending_a_slow_reply_does_not_block_the_event_loop(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = new_task(db)
    entered, release = threading.Event(), threading.Event()

    class SlowResponder(FakeResponder):
        def post(self, mention: Mention, text: str, idempotency_key: str) -> PostedReply:
            entered.set()
            assert release.wait(10)
            return super().post(mention, text, idempotency_key)

    queue.save_draft(db, task_id, ANA_ACTOR, "Sorry!")
    with running() as harness:
        monkeypatch.setattr(discord.http.Route, "BASE", harness.fake.url)
        bot = SocialCrmBot(settings(), db, responders(SlowResponder()), deliver=False)
        harness.login(bot)
        # the Send button of the reply's preview
        send = {"type": 2, "style": 3, "label": "Send", "custom_id": f"task:{task_id}:send"}
        preview = harness.message_from({"components": [{"type": 1, "components": [send]}]})
        data = {"custom_id": f"task:{task_id}:send", "component_type": 2}
        payload = harness.payload(3, data, ANA, [RESPONDER_ROLE], preview)
        pressing = asyncio.run_coroutine_threadsafe(harness._interact(bot, payload), harness.loop)
        assert entered.wait(10)
        # the loop answers while the responder is still posting in its worker thread
        assert harness.run(asyncio.sleep(0, result="free"), timeout=2) == "free"
        release.set()
        pressing.result(10)
    with db.transaction() as session:
        state = session.scalar(select(models.Task.state).where(models.Task.id == task_id))
    assert state == "sent"


def test_a_digest_posts_its_charts_as_files_and_pings_no_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    content = ChatContent(content="Weekly digest", files=(("trend.png", png),))
    with bot_env(db, monkeypatch) as env:
        notifier = DiscordNotifier(env.bot, env.harness.loop, timeout=10)
        notifier.post(str(CHANNEL_ID), content, "digest:1")
        (sent,) = env.fake.channel_posts(CHANNEL_ID)
    assert sent["files"] == [("trend.png", len(png))]
    assert sent["allowed_mentions"] == {"parse": []}
    assert sent["content"] == "Weekly digest"
