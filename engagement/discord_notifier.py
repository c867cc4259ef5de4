"""The chat outbox's `Notifier` on Discord: called from a worker thread, runs on the bot's loop.

`notify.dispatch` is synchronous and touches the database, so it runs in a worker thread; each
post or edit is submitted to the bot's event loop and waited for there, and discord.py's errors
become the outbox's: unreachable or 5xx -> unavailable, 429 -> rate limited, 401 -> auth,
403/404/other 4xx -> rejected (a deleted message on edit -> gone, so it is posted again).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

import aiohttp
import discord

from engagement.cards import ChatContent
from engagement.discord_ui import message_kwargs
from engagement.notify import (
    ChatAuthError,
    ChatError,
    ChatMessageGoneError,
    ChatRateLimitedError,
    ChatRejectedError,
    ChatUnavailableError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
UNKNOWN_MESSAGE: Final = 10008  # Discord's JSON error code for a deleted message
# a 429 without Discord's body (Cloudflare's block) says nothing of how long: wait a while
BLOCKED_SECONDS: Final = 60.0
CALL_TIMEOUT: Final = 60.0
THREAD_ARCHIVE_MINUTES: Final = 10080  # a week without messages


def chat_error(error: BaseException, editing: bool = False) -> ChatError:
    """The outbox error for a discord.py (or network) error."""
    if isinstance(error, discord.RateLimited):
        return ChatRateLimitedError(f"Discord rate limit: {error}", error.retry_after)
    if isinstance(error, discord.LoginFailure):
        return ChatAuthError("Discord refused SOCIALCRM_DISCORD_TOKEN")
    if isinstance(error, discord.HTTPException):
        return _http_error(error, editing)
    if isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
        return ChatUnavailableError(f"Discord is unreachable: {type(error).__name__}: {error}")
    if isinstance(error, concurrent.futures.CancelledError):
        return ChatUnavailableError("the Discord bot is shutting down")
    return ChatUnavailableError(f"the Discord call failed: {type(error).__name__}: {error}")


def _http_error(error: discord.HTTPException, editing: bool) -> ChatError:
    said = f"Discord answered {error.status}: {error.text or 'no reason given'}"
    if error.status == 401:
        return ChatAuthError("Discord refused SOCIALCRM_DISCORD_TOKEN")
    if error.status == 429:
        return ChatRateLimitedError(said, BLOCKED_SECONDS)
    if error.status >= 500:
        return ChatUnavailableError(said)
    if editing and isinstance(error, discord.NotFound) and error.code == UNKNOWN_MESSAGE:
        return ChatMessageGoneError(said)
    return ChatRejectedError(said)


class DiscordNotifier:
    """Posts and edits chat messages through a running bot, from any thread but the bot's."""

    def __init__(
        self,
        client: discord.Client,
        loop: asyncio.AbstractEventLoop,
        timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.client, self.loop, self.timeout = client, loop, timeout

    def post(self, channel_id: str, content: ChatContent, nonce: str) -> str:
        """Post `content`; Discord drops a second post with the same nonce (`enforce_nonce`)."""
        return self._run(self._post(int(channel_id), content, nonce), editing=False)

    def edit(self, channel_id: str, message_id: str, content: ChatContent) -> None:
        """Replace the content, embed and buttons of a posted message."""
        self._run(self._edit(int(channel_id), int(message_id), content), editing=True)

    async def _post(self, channel_id: int, content: ChatContent, nonce: str) -> str:
        channel = self.client.get_partial_messageable(channel_id)
        files = [discord.File(io.BytesIO(data), filename=name) for name, data in content.files]
        message = await channel.send(nonce=nonce, files=files, **message_kwargs(content))
        if content.thread_name:
            await self._open_thread(channel_id, message.id, content.thread_name)
        return str(message.id)

    async def _open_thread(self, channel_id: int, message_id: int, name: str) -> None:
        """A thread on the message for its discussion; the message stands without one."""
        try:
            await self.client.http.start_thread_with_message(
                channel_id, message_id, name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.HTTPException as error:
            log.warning("could not open a thread on message %s: %s", message_id, error)

    async def _edit(self, channel_id: int, message_id: int, content: ChatContent) -> None:
        channel = self.client.get_partial_messageable(channel_id)
        await channel.get_partial_message(message_id).edit(**message_kwargs(content))

    def _run(self, call: Coroutine[Any, Any, T], editing: bool) -> T:
        if self.client.is_closed():
            call.close()
            raise ChatUnavailableError("the Discord bot is not running")
        future = asyncio.run_coroutine_threadsafe(call, self.loop)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ChatUnavailableError(f"Discord did not answer within {self.timeout:g}s") from None
        except Exception as error:
            raise chat_error(error, editing) from error
