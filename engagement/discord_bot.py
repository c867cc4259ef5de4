"""The Discord bot: a discord.py client with the card buttons and slash commands, and the loop
that delivers the chat outbox.

It runs on its own event loop: `run_bot` in the foreground (`socialcrm discord`), or `BotThread`
beside the scheduler (`socialcrm run`). The database and the platforms' responders are only
ever called in worker threads (`asyncio.to_thread`), so a slow query or post never stalls
Discord's heartbeat or another person's button.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Final

import discord
from discord import app_commands
from sqlalchemy.orm import Session

from engagement import cards, notify, views
from engagement import discord_actions as _handlers  # noqa: F401 - registers the buttons
from engagement.cards import ChatContent
from engagement.discord_commands import COMMANDS
from engagement.discord_context import NO_MENTIONS, BotServices
from engagement.discord_notifier import DiscordNotifier
from engagement.discord_ui import ActionButton
from engagement.queue import Responders
from socialcrm.db import Database
from socialcrm.settings import Settings

log = logging.getLogger(__name__)

# discord.py waits out shorter rate limits itself; a longer one becomes the outbox's wait
RATE_LIMIT_WAIT: Final = 30.0
STOP_TIMEOUT: Final = 15.0


class DiscordStartError(Exception):
    """The bot cannot start (no token, token refused); the message says what to fix."""


class SocialCrmBot(discord.Client):
    """The socialcrm Discord client: persistent buttons, slash commands, outbox delivery."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        responders: Responders,
        *,
        deliver: bool = True,
        digest: notify.Digest | None = None,
    ) -> None:
        # the bot has no voice: discord.py's warnings about voice libraries are noise
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True  # roles for the send permission; no message content, no members
        super().__init__(
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            max_ratelimit_timeout=RATE_LIMIT_WAIT,
        )
        self.tree: app_commands.CommandTree[SocialCrmBot] = app_commands.CommandTree(self)
        self.services = BotServices(settings, db, responders, kick=self.kick)
        self.render = notify.renderer(
            lambda session, task_id: task_content(session, task_id, settings), digest
        )
        self.channel_for = notify.channel_router(settings.discord, settings.alerts.queue)
        self._deliver = deliver
        self._wake: asyncio.Event | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._stopping = False

    async def setup_hook(self) -> None:
        """After login: register the buttons and commands; start delivering the outbox."""
        self._wake = asyncio.Event()
        self.add_dynamic_items(ActionButton)
        await self._sync_commands()
        if self._deliver:
            self._delivery = asyncio.create_task(self._delivery_loop(), name="socialcrm-outbox")

    async def _sync_commands(self) -> None:
        guild_id = self.services.settings.discord.guild_id
        # guild commands appear at once; global ones can take an hour to reach every client
        guild = discord.Object(int(guild_id)) if guild_id else None
        for command in COMMANDS:
            self.tree.add_command(command, guild=guild, override=True)
        try:
            await self.tree.sync(guild=guild)
        except discord.HTTPException as error:
            log.warning(
                "could not register the slash commands (%s): invite the bot with the "
                "applications.commands scope; the buttons work regardless",
                error,
            )

    def kick(self) -> None:
        """Deliver the outbox now rather than at the next interval (call on the bot's loop)."""
        if self._wake is not None:
            self._wake.set()

    def deliver_once(self, notifier: notify.Notifier) -> notify.DispatchResult:
        """One outbox round; blocking, so for a worker thread."""
        return notify.dispatch(self.services.db, notifier, self.render, self.channel_for)

    async def _delivery_loop(self) -> None:
        assert self._wake is not None  # noqa: S101 - set in setup_hook, before this starts
        notifier = DiscordNotifier(self, asyncio.get_running_loop())
        interval = self.services.settings.discord.dispatch_interval_seconds
        while not self._stopping:
            try:
                await asyncio.to_thread(self.deliver_once, notifier)
            except Exception:
                log.exception("delivering the chat outbox failed; retrying in %ss", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()

    async def close(self) -> None:
        """Let a delivery round in flight finish (it holds the database), then disconnect."""
        self._stopping = True
        if self._delivery is not None and not self._delivery.done():
            self.kick()
            # asyncio.wait, not wait_for: the loop may be cancelled already (Ctrl-C)
            done, _ = await asyncio.wait({self._delivery}, timeout=STOP_TIMEOUT)
            if not done:
                log.warning("a chat delivery round did not finish within %ss", STOP_TIMEOUT)
                self._delivery.cancel()
        await super().close()


def task_content(session: Session, task_id: int, settings: Settings) -> ChatContent:
    """A task's card as it stands now."""
    view = views.task_view(session, task_id, settings)
    if view is None:
        raise ValueError(f"task #{task_id} is gone")
    return cards.task_card(view, settings.discord.max_text)


def build_bot(
    settings: Settings,
    db: Database,
    responders: Responders,
    digest: notify.Digest | None = None,
) -> SocialCrmBot:
    """The bot for these settings (not started)."""
    return SocialCrmBot(settings, db, responders, digest=digest)


def token_of(settings: Settings) -> str:
    """The bot token, or a one-line error saying where to set it."""
    secret = settings.secrets.discord_token
    if secret is None or not secret.get_secret_value().strip():
        raise DiscordStartError("set SOCIALCRM_DISCORD_TOKEN (in the environment or secrets.env)")
    return secret.get_secret_value().strip()


async def serve(bot: SocialCrmBot, token: str) -> None:
    """Run the bot until it is closed; a refused token is a one-line `DiscordStartError`."""
    async with bot:
        try:
            await bot.start(token, reconnect=True)
        except discord.LoginFailure:
            raise DiscordStartError(
                "Discord refused SOCIALCRM_DISCORD_TOKEN: copy the bot token again from the "
                "Developer Portal (Bot > Reset Token)"
            ) from None
        except discord.PrivilegedIntentsRequired:
            raise DiscordStartError("Discord refused the bot's intents") from None


def run_bot(
    settings: Settings,
    db: Database,
    responders: Responders,
    digest: notify.Digest | None = None,
) -> None:
    """Run the bot in the foreground until interrupted (`socialcrm discord`)."""
    asyncio.run(serve(build_bot(settings, db, responders, digest), token_of(settings)))


class BotThread:
    """The bot on its own thread and event loop, beside the scheduler (`socialcrm run`)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        responders: Responders,
        digest: notify.Digest | None = None,
    ) -> None:
        self.token = token_of(settings)
        self.bot = build_bot(settings, db, responders, digest)
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stop_requested = False
        self._thread = threading.Thread(target=self._run, name="discord-bot", daemon=True)

    def start(self) -> None:
        """Start the bot; it logs in and connects in the background."""
        self._thread.start()
        self._started.wait(STOP_TIMEOUT)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except DiscordStartError as error:
            self.error = error
        except Exception as error:
            if self._stop_requested:  # stopped while logging in: nothing went wrong
                return
            self.error = error
            log.exception("the Discord bot stopped")
            return
        if isinstance(self.error, DiscordStartError):
            log.error("the Discord bot stopped: %s", self.error)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started.set()
        await serve(self.bot, self.token)

    def is_alive(self) -> bool:
        """Whether the bot's thread is still running."""
        return self._thread.is_alive()

    def kick(self) -> None:
        """Deliver the outbox now (from any thread), e.g. right after the route stage."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.bot.kick)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the bot's thread to end (it ends by itself when the token is refused)."""
        self._thread.join(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Disconnect and wait for the thread to end."""
        self._stop_requested = True
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self.bot.close(), loop).result(timeout)
            except Exception:
                log.warning("the Discord bot did not close cleanly", exc_info=True)
        self._thread.join(timeout)
