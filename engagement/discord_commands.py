"""Slash commands: `/queue` (my and the team's open tasks), `/customer <handle>`, `/stats`.

Every answer is ephemeral (a personal look at the queue, not a channel message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import discord
from discord import app_commands

from engagement import discord_data, views
from engagement.cards import SHORT, CustomerSummary, TaskView, neutralise, source_name, timestamp
from engagement.discord_context import answer
from engagement.discord_ui import Turn, guarded
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import Settings

LISTED = 10  # tasks per list: an embed's description holds 4096 characters
SNIPPET = 80


@app_commands.command(name="queue", description="Your open tasks and the team's, most urgent first")
@app_commands.guild_only()
async def queue_command(interaction: discord.Interaction[Any]) -> None:
    """Your open tasks and the team's."""

    async def work(turn: Turn) -> None:
        services = turn.services
        mine, team = await turn.call(_queues, services.db, services.settings, turn.actor.name)
        ids = [view.task_id for view in (*mine, *team)]
        guild = str(turn.interaction.guild_id or "")
        links = await turn.call(discord_data.card_links, services.db, guild, ids)
        embed = discord.Embed(title="Open tasks", colour=discord.Colour.blurple())
        embed.add_field(name="Yours", value=_listing(mine, links) or "nothing", inline=False)
        embed.add_field(name="The team's", value=_listing(team, links) or "nothing", inline=False)
        await answer(turn.interaction, "The work queue:", embed=embed)

    await guarded(interaction, work)


def _queues(db: Database, settings: Settings, me: str) -> tuple[list[TaskView], list[TaskView]]:
    with db.transaction() as session:
        mine = views.open_tasks(session, settings, assignee=me, limit=LISTED)
        team = views.open_tasks(session, settings, limit=LISTED + len(mine))
    return mine, [view for view in team if view.assignee != me][:LISTED]


def _listing(tasks: Sequence[TaskView], links: Mapping[int, str]) -> str:
    lines = []
    for view in tasks:
        label = f"#{view.task_id}"
        if view.task_id in links:
            label = f"[{label}]({links[view.task_id]})"
        due = f" · due {timestamp(view.sla_due_at)}" if view.sla_due_at else ""
        snippet = neutralise(" ".join(view.text.split()), SNIPPET)
        lines.append(
            f"**P{view.priority}** {label} {source_name(view.source)} · {view.state}{due}\n"
            f"{snippet}"
        )
    # a field holds 1024 characters: drop whole tasks rather than cut one in half
    while len("\n".join(lines)) > 1024:
        lines.pop()
    return "\n".join(lines)


@app_commands.command(name="customer", description="The customer behind an author handle")
@app_commands.describe(handle="The author's handle on any platform, with or without @")
@app_commands.guild_only()
async def customer_command(interaction: discord.Interaction[Any], handle: str) -> None:
    """The customer behind an author handle."""

    async def work(turn: Turn) -> None:
        services = turn.services
        card = await turn.call(_customer, services.db, services.settings, handle)
        if card is None:
            await answer(turn.interaction, f"No customer is linked to {handle}.")
            return
        await answer(turn.interaction, f"The customer behind {handle}:", embed=customer_embed(card))

    await guarded(interaction, work)


def _customer(db: Database, settings: Settings, handle: str) -> CustomerSummary | None:
    with db.transaction() as session:
        return views.customer_card(session, handle, settings)


def customer_embed(card: CustomerSummary) -> discord.Embed:
    """A customer as an embed: name, segment, VIP, history, open tasks."""
    name = neutralise(card.name, SHORT) if card.name else f"customer {card.id}"
    embed = discord.Embed(title=name, colour=discord.Colour.teal())
    embed.add_field(name="Segment", value=card.segment or "—")
    embed.add_field(name="VIP", value="yes" if card.vip else "no")
    embed.add_field(name="Mentions", value=str(card.mentions_total))
    embed.add_field(name="Open tasks", value=str(card.open_tasks))
    last = timestamp(card.last_contact) if card.last_contact else "never"
    embed.add_field(name="Last contact", value=last)
    embed.set_footer(text=f"customer {card.id}")
    return embed


@app_commands.command(name="stats", description="Queue numbers: open, overdue, response times")
@app_commands.guild_only()
async def stats_command(interaction: discord.Interaction[Any]) -> None:
    """Queue numbers: open tasks by state and queue, overdue, answered, response times."""

    async def work(turn: Turn) -> None:
        numbers = await turn.call(_stats, turn.services.db)
        await answer(turn.interaction, "The queue in numbers:", embed=stats_embed(numbers))

    await guarded(interaction, work)


def _stats(db: Database) -> dict[str, Any]:
    with db.transaction() as session:
        return views.stats(session, utcnow())


def stats_embed(numbers: Mapping[str, Any]) -> discord.Embed:
    """The stats as embed fields; nested counts one per line."""
    days = numbers.get("days")
    embed = discord.Embed(title="Queue stats", colour=discord.Colour.blurple())
    for key, value in numbers.items():
        if key == "days":
            continue
        name = key.replace("_", " ")
        inline = not isinstance(value, Mapping)
        embed.add_field(name=name, value=_number(key, value)[:1024] or "—", inline=inline)
    if days:
        embed.set_footer(text=f"answered and response times: the last {days} days")
    return embed


def _number(key: str, value: Any) -> str:
    if isinstance(value, Mapping):
        return "\n".join(f"{neutralise(str(k), SHORT)}: {v}" for k, v in value.items())
    if value is None:
        return "—"
    if key.endswith("_share") and isinstance(value, int | float):
        return f"{value:.0%}"
    return str(value)


COMMANDS: tuple[app_commands.Command[Any, Any, Any], ...] = (
    queue_command,
    customer_command,
    stats_command,
)
