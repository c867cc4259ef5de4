"""Discord rendering of chat content, and the one persistent button every card action uses.

A button's custom_id is `task:{id}:{action}` or `incident:{id}:{action}`. `ActionButton` is a
`DynamicItem`: discord.py rebuilds it from the custom_id of any message, so buttons keep working
after a restart and no per-message view is held in memory. Handlers register by (kind, action).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, Self, TypeVar

import discord

from engagement.cards import Button, ChatContent
from engagement.discord_context import (
    NO_MENTIONS,
    BotServices,
    NotInGuildError,
    actor_of,
    answer,
    services_of,
)
from engagement.queue import ActionError, Actor

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
# an optional argument: the digest of the draft an Approve or Send button was shown with
TEMPLATE = (
    r"(?P<kind>task|incident):(?P<subject>[0-9]{1,19}):(?P<action>[a-z_]{1,32})"
    r"(?::(?P<arg>[0-9a-f]{1,16}))?"
)
_STYLES: Mapping[str, discord.ButtonStyle] = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}
OOPS = "something went wrong; the bot's log has the details"


@dataclass(frozen=True)
class Turn:
    """One interaction being handled: the interaction, the bot's services and who acts."""

    interaction: discord.Interaction[Any]
    services: BotServices
    actor: Actor
    arg: str | None = None  # the pressed button's argument (a draft digest)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking service call in a worker thread: the event loop never waits on it."""
        return await asyncio.to_thread(fn, *args, **kwargs)


Handler = Callable[[Turn, int], Awaitable[None]]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def on(kind: str, action: str) -> Callable[[Handler], Handler]:
    """Register the handler of the `kind:{id}:action` button."""

    def register(handler: Handler) -> Handler:
        _HANDLERS[(kind, action)] = handler
        return handler

    return register


async def guarded(
    interaction: discord.Interaction[Any],
    work: Callable[[Turn], Awaitable[None]],
    arg: str | None = None,
) -> None:
    """Run `work` for the interaction; a service refusal becomes a one-line ephemeral answer."""
    try:
        services = services_of(interaction)
        turn = Turn(interaction, services, actor_of(interaction, services.settings), arg)
        await work(turn)
    except (ActionError, NotInGuildError) as error:
        await answer(interaction, str(error))
    except Exception:
        log.exception("the Discord interaction %s failed", interaction.id)
        await answer(interaction, OOPS)


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=TEMPLATE,
):
    """A card or preview button; pressing it runs the handler registered for its action."""

    def __init__(
        self,
        kind: str,
        subject: int,
        action: str,
        arg: str | None = None,
        *,
        label: str = "",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
    ) -> None:
        custom_id = f"{kind}:{subject}:{action}" + (f":{arg}" if arg else "")
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            custom_id=custom_id, label=label, style=style, disabled=disabled
        )
        super().__init__(button)
        self.kind, self.subject, self.action, self.arg = kind, subject, action, arg

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        """The button pressed, rebuilt from its custom_id."""
        return cls(match["kind"], int(match["subject"]), match["action"], match["arg"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Run the registered handler for this button's action."""
        handler = _HANDLERS.get((self.kind, self.action))
        if handler is None:
            await answer(interaction, f"this button ({self.action}) is no longer supported")
            return
        subject = self.subject
        await guarded(interaction, lambda turn: handler(turn, subject), self.arg)


def to_item(button: Button) -> discord.ui.Item[Any]:
    """A chat button as a Discord component (an `ActionButton` when its custom_id is ours)."""
    style = _STYLES.get(button.style, discord.ButtonStyle.secondary)
    match = re.fullmatch(TEMPLATE, button.custom_id)
    if match is None:
        # a plain button would be held in memory per message and answered by nobody
        log.warning("button %r does not match %s", button.custom_id, TEMPLATE)
        return discord.ui.Button(
            custom_id=button.custom_id, label=button.label, style=style, disabled=True
        )
    return ActionButton(
        match["kind"],
        int(match["subject"]),
        match["action"],
        match["arg"],
        label=button.label,
        style=style,
        disabled=button.disabled,
    )


def to_view(buttons: Sequence[Button]) -> discord.ui.View:
    """A persistent view (no timeout) of buttons; must be built on the bot's event loop."""
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(to_item(button))
    return view


def to_embed(data: Mapping[str, Any] | None) -> discord.Embed | None:
    """A Discord embed from its JSON shape (None stays None)."""
    return discord.Embed.from_dict(dict(data)) if data else None


def message_kwargs(content: ChatContent) -> dict[str, Any]:
    """The keyword arguments that send or edit `content`, never pinging anyone."""
    return {
        "content": content.content,
        "embed": to_embed(content.embed),
        "view": to_view(content.buttons),
        "allowed_mentions": NO_MENTIONS,
    }
