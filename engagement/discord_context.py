"""What the Discord handlers share: the services, who is acting, and safe one-line answers."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord

from engagement.cards import neutralise
from engagement.queue import Actor, Responders
from socialcrm.db import Database
from socialcrm.settings import Settings

log = logging.getLogger(__name__)

# an answer is one line of text plus, at most, an embed: Discord allows 2000 characters
ANSWER_LIMIT = 1800
NO_MENTIONS = discord.AllowedMentions.none()
# actor names the service reports back ("claimed by discord:123") shown as the person; with
# AllowedMentions.none() a user mention renders the name and pings no one
_DISCORD_ACTOR = re.compile(r"\bdiscord:([0-9]{15,25})\b")


class NotInGuildError(Exception):
    """An interaction from outside the configured server (a DM or another guild)."""


@dataclass(frozen=True)
class BotServices:
    """The service side of the bot: settings, database, responders, and a dispatch nudge."""

    settings: Settings
    db: Database
    responders: Responders
    # wakes the dispatch loop so a card shows an action at once, not at the next interval
    kick: Callable[[], None]


def services_of(interaction: discord.Interaction[Any]) -> BotServices:
    """The services of the bot that received `interaction`."""
    services = getattr(interaction.client, "services", None)
    if not isinstance(services, BotServices):
        raise TypeError("the interaction did not come through the socialcrm bot")
    return services


def actor_of(interaction: discord.Interaction[Any], settings: Settings) -> Actor:
    """The staff member acting: a stable `discord:<id>` name; may send with a send role."""
    guild_id = settings.discord.guild_id
    member = interaction.user
    if not isinstance(member, discord.Member):
        raise NotInGuildError("use the socialcrm buttons and commands in the team's server")
    if guild_id and str(interaction.guild_id) != guild_id:
        raise NotInGuildError("this bot only answers in the server set in discord.guild_id")
    return Actor(
        name=f"discord:{member.id}",
        display=member.display_name,
        may_send=has_send_role(member, settings.discord.send_roles),
    )


def has_send_role(member: discord.Member, send_roles: list[str]) -> bool:
    """Whether one of the member's roles is named, by name or id, in `discord.send_roles`."""
    wanted = {role.casefold() for role in send_roles}
    return any(str(role.id) in wanted or role.name.casefold() in wanted for role in member.roles)


def say(text: str, limit: int = ANSWER_LIMIT) -> str:
    """Text made safe for Discord (escaped, defused, cut), with `discord:<id>` as the person."""
    return _DISCORD_ACTOR.sub(r"<@\1>", neutralise(text, limit))


async def answer(
    interaction: discord.Interaction[Any],
    text: str,
    *,
    view: discord.ui.View | None = None,
    embed: discord.Embed | None = None,
    ephemeral: bool = True,
) -> None:
    """Answer the interaction (or follow up when it was deferred) with neutralised text."""
    kwargs: dict[str, Any] = {"ephemeral": ephemeral, "allowed_mentions": NO_MENTIONS}
    if view is not None:
        kwargs["view"] = view
    if embed is not None:
        kwargs["embed"] = embed
    if interaction.response.is_done():
        await interaction.followup.send(say(text), **kwargs)
    else:
        await interaction.response.send_message(say(text), **kwargs)
