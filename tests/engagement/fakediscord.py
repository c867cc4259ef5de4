"""A loopback fake of Discord's REST API, and a harness running the real bot against it.

The bot (a real discord.py client) logs in over HTTP to `FakeDiscord` on 127.0.0.1; no gateway
is needed, because interactions are fed to the client's connection state as the gateway would.
Every request discord.py makes is recorded with its JSON body, so tests assert on exactly what
Discord would receive. The harness runs the bot's event loop in its own thread, as
`socialcrm run` does, so blocking code (the database, the outbox) stays in the test's thread.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
import pytest
from aiohttp import web
from sqlalchemy import select

from engagement.discord_bot import SocialCrmBot
from engagement.discord_notifier import DiscordNotifier
from engagement.notify import DispatchResult
from socialcrm import models
from socialcrm.db import Database
from socialcrm.settings import Settings
from tests.engagement.builders import FakeResponder, post, responders, route, store, tasks

T = TypeVar("T")
APP_ID = 1_100_000_000_000_000_001
BOT_ID = APP_ID
GUILD_ID = 1_200_000_000_000_000_001
CHANNEL_ID = 1_300_000_000_000_000_001
OTHER_CHANNEL_ID = 1_300_000_000_000_000_002
RESPONDER_ROLE = 1_400_000_000_000_000_001
OTHER_ROLE = 1_400_000_000_000_000_002
ANA, BEN, CAL = 1_500_000_000_000_000_001, 1_500_000_000_000_000_002, 1_500_000_000_000_000_003
NAMES = {ANA: "Ana", BEN: "Ben", CAL: "Cal"}
STAMP = "2026-11-03T10:00:00.000000+00:00"
WAIT = 10.0
_UI_TASKS = ("discord-ui", "CommandTree", "discord.py:")


@dataclass
class Call:
    """One request the bot made: method, path (after /api/v10), JSON body, query."""

    method: str
    path: str
    body: Any
    query: dict[str, str]


@dataclass
class Failure:
    """An answer to give instead of the normal one, `times` times, to matching requests."""

    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class FakeDiscord:
    """Discord's REST API as far as the bot uses it; records every call."""

    calls: list[Call] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    url: str = ""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1_600_000_000_000_000_001))
    _nonces: dict[tuple[str, str], int] = field(default_factory=dict)
    _threads: set[int] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event | None = None

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._arrived = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/api/v10"

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests matching `method` and the `path` regex with `status`."""
        body = body if body is not None else {"message": f"fake {status}", "code": 0}
        self.failures.append(Failure(method, re.compile(path), status, body, headers or {}, times))

    def find(self, method: str, path: str) -> list[Call]:
        """The calls whose method is `method` and whose path matches the `path` regex."""
        pattern = re.compile(path)
        return [c for c in self.calls if c.method == method and pattern.fullmatch(c.path)]

    async def wait_for(self, method: str, path: str, count: int = 1) -> list[Call]:
        """Wait (on the loop, no sleeping) until `count` calls match; return them."""
        assert self._arrived is not None
        while len(found := self.find(method, path)) < count:
            self._arrived.clear()
            await self._arrived.wait()
        return found

    def callbacks(self) -> list[dict[str, Any]]:
        """Interaction responses (callbacks) and follow-ups, in order, as sent."""
        pattern = re.compile(r"/interactions/\d+/[^/]+/callback|/webhooks/\d+/[^/]+")
        return [c.body for c in self.calls if c.method == "POST" and pattern.fullmatch(c.path)]

    def held(self, channel_id: int) -> list[dict[str, Any]]:
        """The messages a channel holds now (as Discord would show them), oldest first."""
        return [m for m in self.messages.values() if m["channel_id"] == str(channel_id)]

    def channel_posts(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages posted to a channel (or thread), as sent."""
        return [c.body for c in self.find("POST", f"/channels/{channel_id}/messages")]

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = await _body(request)
        self.calls.append(Call(request.method, path, body, dict(request.query)))
        if self._arrived is not None:
            self._arrived.set()
        for failure in self.failures:
            wanted = failure.method == request.method and failure.path.fullmatch(path)
            if failure.times > 0 and wanted:
                failure.times -= 1
                return _json(failure.body, failure.status, failure.headers)
        status, answer = self._answer(request.method, path, body)
        if answer is None:
            return web.Response(status=status)
        return _json(answer, status)

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        for (want, pattern), answer in _ROUTES.items():
            match = re.fullmatch(pattern, path)
            if want == method and match is not None:
                return answer(self, body, *match.groups())
        return 404, {"message": f"fake: no route {method} {path}", "code": 0}

    def _message(self, channel_id: str, body: dict[str, Any], message_id: int) -> dict[str, Any]:
        message = {
            "id": str(message_id),
            "channel_id": channel_id,
            "type": 0,
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "attachments": [],
            "timestamp": STAMP,
            "edited_timestamp": None,
            "author": user(BOT_ID, "socialcrm", bot=True),
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "tts": False,
            "mention_everyone": False,
            "flags": body.get("flags") or 0,
        }
        self.messages[message_id] = message
        return message

    def _post(self, body: Any, channel: str) -> tuple[int, Any]:
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce") and (channel, nonce) in self._nonces:
            return 200, self.messages[self._nonces[(channel, nonce)]]
        message_id = next(self._ids)
        if nonce is not None:
            self._nonces[(channel, nonce)] = message_id
        return 200, self._message(channel, body, message_id)

    def _edit(self, body: Any, channel: str, message: str) -> tuple[int, Any]:
        old = self.messages.get(int(message))
        if old is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        return 200, self._message(channel, {**old, **body}, int(message))

    def _thread(self, body: Any, channel: str, message: str) -> tuple[int, Any]:
        if int(message) in self._threads:
            return 400, {"message": "A thread has already been created", "code": 160004}
        self._threads.add(int(message))
        return 201, {"id": message, "type": 11, "parent_id": channel, "name": body["name"]}

    def _callback(self, body: Any, interaction: str, token: str) -> tuple[int, Any]:
        data = body.get("data") or {}
        if body.get("type") in (4, 7) and data:
            self._message(str(CHANNEL_ID), data, next(self._ids))
        return 200, {"interaction": {"id": interaction, "type": 3}}

    def _followup(self, body: Any, app: str, token: str) -> tuple[int, Any]:
        return 200, self._message(str(CHANNEL_ID), body, next(self._ids))

    def _edit_original(self, body: Any, app: str, token: str, message: str) -> tuple[int, Any]:
        return 200, self._message(str(CHANNEL_ID), body, next(self._ids))


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body as JSON only when the content type is exactly this
    head = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=json.dumps(body).encode(), status=status, headers=head)


def user(user_id: int, name: str, bot: bool = False) -> dict[str, Any]:
    """A user payload."""
    return {
        "id": str(user_id),
        "username": name.lower(),
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


_ROUTES: dict[tuple[str, str], Callable[..., tuple[int, Any]]] = {
    ("GET", r"/users/@me"): lambda fake, body: (200, user(BOT_ID, "socialcrm", bot=True)),
    ("GET", r"/oauth2/applications/@me"): lambda fake, body: (
        200,
        {
            "id": str(APP_ID),
            "name": "socialcrm",
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": user(ANA, "Ana"),
            "verify_key": "00",
            "flags": 0,
        },
    ),
    ("PUT", r"/applications/\d+/guilds/\d+/commands"): lambda fake, body: (
        200,
        [
            {**c, "id": str(i), "application_id": str(APP_ID), "version": "1"}
            for i, c in enumerate(body, 1)
        ],
    ),
    ("PUT", r"/applications/\d+/commands"): lambda fake, body: (200, []),
    ("POST", r"/channels/(\d+)/messages"): FakeDiscord._post,
    ("PATCH", r"/channels/(\d+)/messages/(\d+)"): FakeDiscord._edit,
    ("POST", r"/channels/(\d+)/messages/(\d+)/threads"): FakeDiscord._thread,
    ("POST", r"/interactions/(\d+)/([^/]+)/callback"): FakeDiscord._callback,
    ("POST", r"/webhooks/(\d+)/([^/]+)"): FakeDiscord._followup,
    ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/([^/]+)"): FakeDiscord._edit_original,
}


def member(user_id: int, roles: Sequence[int] = ()) -> dict[str, Any]:
    """A guild member payload."""
    return {
        "user": user(user_id, NAMES.get(user_id, "Someone")),
        "roles": [str(role) for role in roles],
        "joined_at": STAMP,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": "0",
    }


def guild() -> dict[str, Any]:
    """The team's server, with its roles, as the gateway would announce it."""
    roles = [(GUILD_ID, "@everyone"), (RESPONDER_ROLE, "Responder"), (OTHER_ROLE, "Sales")]
    return {
        "id": str(GUILD_ID),
        "name": "Team",
        "roles": [
            {
                "id": str(i),
                "name": n,
                "permissions": "0",
                "position": p,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
            for p, (i, n) in enumerate(roles)
        ],
        "features": [],
        "emojis": [],
        "stickers": [],
        "member_count": 3,
    }


class Harness:
    """The bot's own event loop in a thread, with `FakeDiscord` on it, as in `socialcrm run`."""

    def __init__(self) -> None:
        self.fake = FakeDiscord()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._ids = itertools.count(1_700_000_000_000_000_001)
        self.client: discord.Client | None = None

    def start(self) -> None:
        """Run the loop and the fake server."""
        self._thread.start()
        self.run(self.fake.start())

    def login(self, client: discord.Client) -> None:
        """Log `client` in against the fake server and give it the team's server."""
        self.client = client
        self.run(client.login("fake-token"))
        state = client._connection
        state._add_guild(discord.Guild(data=guild(), state=state))  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the client and the server; stop the loop."""
        if self.client is not None:
            self.run(self.client.close())
        self.run(self.fake.stop())
        self.run(_cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT)
        self.loop.close()

    def run(self, call: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        """Run a coroutine on the bot's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout)

    def interact(self, payload: dict[str, Any]) -> None:
        """Feed an interaction to the bot as the gateway would, and wait for its handlers."""
        assert self.client is not None
        self.run(self._interact(self.client, payload))

    async def _interact(self, client: discord.Client, payload: dict[str, Any]) -> None:
        client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        current = asyncio.current_task()
        while True:
            pending = [
                task
                for task in asyncio.all_tasks()
                if task is not current and not task.done() and task.get_name().startswith(_UI_TASKS)
            ]
            if not pending:
                return
            await asyncio.wait(pending, timeout=WAIT)

    def payload(
        self,
        kind: int,
        data: dict[str, Any],
        who: int = ANA,
        roles: Sequence[int] = (),
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload from `who` (with `roles`) in the team's server."""
        payload: dict[str, Any] = {
            "id": str(next(self._ids)),
            "application_id": str(APP_ID),
            "type": kind,
            "data": data,
            "guild_id": str(GUILD_ID),
            "channel_id": str(CHANNEL_ID),
            "channel": {
                "id": str(CHANNEL_ID),
                "type": 0,
                "guild_id": str(GUILD_ID),
                "name": "support",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            },
            "member": member(who, roles),
            "token": f"token-{next(self._ids)}",
            "version": 1,
            "app_permissions": "0",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 0,
            "attachment_size_limit": 8_388_608,
        }
        if message is not None:
            payload["message"] = message
        return payload

    def press(
        self, message: dict[str, Any], custom_id: str, who: int = ANA, roles: Sequence[int] = ()
    ) -> list[dict[str, Any]]:
        """Press the button `custom_id` of `message`; the interaction responses it caused."""
        assert custom_id in button_ids(message), f"{custom_id} is not on the message"
        data = {"custom_id": custom_id, "component_type": 2}
        return self._answers(self.payload(3, data, who, roles, message))

    def submit(
        self,
        modal: dict[str, Any],
        answers: Sequence[str | list[str]],
        who: int = ANA,
        roles: Sequence[int] = (),
    ) -> list[dict[str, Any]]:
        """Submit a modal the bot opened, with one answer per input (a list for a select)."""
        rows = []
        for row, value in zip(modal["components"], answers, strict=True):
            if row["type"] == 18:  # a label around a select
                inner = row["component"]
                rows.append(
                    {
                        "type": 18,
                        "component": {
                            "type": inner["type"],
                            "custom_id": inner["custom_id"],
                            "values": value,
                        },
                    }
                )
            else:
                inner = row["components"][0]
                rows.append(
                    {
                        "type": 1,
                        "components": [
                            {"type": 4, "custom_id": inner["custom_id"], "value": value}
                        ],
                    }
                )
        data = {"custom_id": modal["custom_id"], "components": rows}
        return self._answers(self.payload(5, data, who, roles))

    def command(
        self, name: str, options: Sequence[dict[str, Any]] = (), who: int = ANA
    ) -> list[dict[str, Any]]:
        """Run a slash command; the interaction responses it caused."""
        data = {
            "id": "1",
            "name": name,
            "type": 1,
            "options": list(options),
            "guild_id": str(GUILD_ID),
        }
        return self._answers(self.payload(2, data, who))

    def message_from(self, answer: dict[str, Any]) -> dict[str, Any]:
        """The message an interaction response or follow-up shows (to press its buttons)."""
        data = answer.get("data", answer) if "type" in answer else answer
        return self.fake._message(str(CHANNEL_ID), data, next(self._ids))

    def _answers(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        before = len(self.fake.callbacks())
        self.interact(payload)
        return self.fake.callbacks()[before:]


async def _cancel_the_rest() -> None:
    """Cancel what is left on the loop (forms and views waiting for their timeout)."""
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


def button_ids(message: dict[str, Any]) -> list[str]:
    """The custom_ids of a message's buttons."""
    return [
        button["custom_id"]
        for row in message.get("components") or []
        for button in row.get("components") or []
        if "custom_id" in button
    ]


async def _body(request: web.Request) -> Any:
    """A request's JSON; a multipart upload's payload_json with `files`: [(name, size)]."""
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        body = json.loads(str(form["payload_json"]))
        uploads = [v for k, v in form.items() if k != "payload_json"]
        body["files"] = [(f.filename, len(f.file.read())) for f in uploads]  # type: ignore[union-attr]
        return body
    raw = await request.read()
    return json.loads(raw) if raw else None


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A message's buttons by custom_id."""
    return {
        button["custom_id"]: button
        for row in message.get("components") or []
        for button in row.get("components") or []
        if "custom_id" in button
    }


@contextmanager
def running() -> Iterator[Harness]:
    """A started harness, closed at the end."""
    harness = Harness()
    harness.start()
    try:
        yield harness
    finally:
        harness.close()


HOSTILE = "@everyone <@&123> look [x](javascript:alert(1)) **now** <@456> <#789> @here"


def settings(chat: dict[str, Any] | None = None, **engagement: Any) -> Settings:
    """Settings with the team's server, its support channel and the Responder role."""
    discord_settings = {
        "guild_id": str(GUILD_ID),
        "channels": {"support": str(CHANNEL_ID)},
        "default_channel": str(OTHER_CHANNEL_ID),
        "send_roles": ["Responder"],
        **(chat or {}),
    }
    return Settings.model_validate({"discord": discord_settings, "engagement": engagement})


@dataclass
class Env:
    """The bot logged in to the fake, its database and the platform responder it posts with."""

    harness: Harness
    bot: SocialCrmBot
    db: Database
    responder: FakeResponder

    @property
    def fake(self) -> FakeDiscord:
        """The fake Discord server."""
        return self.harness.fake

    def deliver(self) -> DispatchResult:
        """One outbox round through the real notifier, from this (non-loop) thread."""
        return self.bot.deliver_once(DiscordNotifier(self.bot, self.harness.loop, timeout=10))

    def card(self, task_id: int) -> dict[str, Any]:
        """The task's card as Discord holds it now."""
        with self.db.transaction() as session:
            message_id = session.scalar(
                select(models.ChatMessage.message_id).where(
                    models.ChatMessage.key == f"task:{task_id}"
                )
            )
        assert message_id is not None, "the card was not delivered"
        return self.fake.messages[int(message_id)]

    def task(self, task_id: int) -> models.Task:
        """The task as stored now."""
        return next(task for task in tasks(self.db) if task.id == task_id)


def new_task(db: Database, number: int = 1, text: str | None = None, handle: str = "ana") -> int:
    """A complaint (its own conversation) routed to the support queue; its task id."""
    mention = post(number, handle=handle, thread=f"t{number}", text=text)
    store(db, mention, "negative", needs_reply=0.9, complaint=0.9)
    route(db)
    return max(task.id for task in tasks(db))


@contextmanager
def bot_env(
    db: Database, monkeypatch: pytest.MonkeyPatch, config: Settings | None = None
) -> Iterator[Env]:
    """The bot, logged in to a fresh fake Discord (no outbox loop: tests deliver by hand)."""
    with running() as harness:
        monkeypatch.setattr(discord.http.Route, "BASE", harness.fake.url)
        responder = FakeResponder()
        bot = SocialCrmBot(config or settings(), db, responders(responder), deliver=False)
        harness.login(bot)
        yield Env(harness, bot, db, responder)
