"""What each card button does: claim, take over, reply, send, approve, note, dismiss, escalate,
correct label, release; and Acknowledge on an incident.

Handlers map a press to one service call in a worker thread and answer in one ephemeral line;
the card itself is re-rendered by the chat outbox, which `kick` wakes at once.
"""

from __future__ import annotations

import logging

import discord

from engagement import alerts, discord_data, queue
from engagement.discord_context import answer
from engagement.discord_modals import (
    CorrectModal,
    NoteModal,
    ReasonModal,
    ReplyModal,
)
from engagement.discord_ui import ActionButton, Turn, on
from socialcrm.db import Database

log = logging.getLogger(__name__)


def _buttons(task_id: int, *actions: tuple[str, str, discord.ButtonStyle]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action, label, style in actions:
        view.add_item(ActionButton("task", task_id, action, label=label, style=style))
    return view


async def _offer_take_over(turn: Turn, task_id: int, owner: str) -> None:
    take = ("takeover", "Take over", discord.ButtonStyle.danger)
    await answer(
        turn.interaction,
        f"Task #{task_id} is claimed by {owner}. Take it over to work on it yourself.",
        view=_buttons(task_id, take),
    )


async def _someone_else(turn: Turn, task_id: int) -> str | None:
    """The owner of the task when it is not the actor."""
    owner = await turn.call(discord_data.owner_of, turn.services.db, task_id)
    return owner if owner not in (None, turn.actor.name) else None


@on("task", "claim")
async def claim(turn: Turn, task_id: int) -> None:
    """Claim the task; when someone else owns it, say who and offer an explicit take-over."""
    try:
        await turn.call(queue.claim, turn.services.db, task_id, turn.actor)
    except queue.ActionError:
        owner = await _someone_else(turn, task_id)
        if owner is None:
            raise
        await _offer_take_over(turn, task_id, owner)
        return
    await _claimed(turn, task_id, f"Task #{task_id} is yours.")


async def _claimed(turn: Turn, task_id: int, text: str) -> None:
    turn.services.kick()
    reply = ("reply", "Reply", discord.ButtonStyle.success)
    release = ("release", "Release", discord.ButtonStyle.secondary)
    await answer(turn.interaction, text, view=_buttons(task_id, reply, release))


@on("task", "takeover")
async def take_over(turn: Turn, task_id: int) -> None:
    """Take the task over from its owner (audited as a take-over)."""
    owner = await _someone_else(turn, task_id)
    await turn.call(queue.claim, turn.services.db, task_id, turn.actor, take_over=True)
    taken = f" from {owner}" if owner else ""
    await _claimed(turn, task_id, f"You took task #{task_id} over{taken}.")


@on("task", "release")
async def release(turn: Turn, task_id: int) -> None:
    """Give the task back to the team."""
    await turn.call(queue.release, turn.services.db, task_id, turn.actor)
    turn.services.kick()
    await answer(turn.interaction, f"Task #{task_id} is back in the queue.")


@on("task", "reply")
async def reply(turn: Turn, task_id: int) -> None:
    """Open the reply form, prefilled with the draft or the template for the top intent."""
    owner = await _someone_else(turn, task_id)
    if owner is not None:
        await _offer_take_over(turn, task_id, owner)
        return
    templates = turn.services.settings.engagement.templates
    draft = await turn.call(queue.suggested_reply, turn.services.db, task_id, templates)
    await turn.interaction.response.send_modal(ReplyModal(task_id, draft))


@on("task", "send")
async def send(turn: Turn, task_id: int) -> None:
    """Post the reply through the platform's responder (in a worker thread); answer the link."""
    # posting can take longer than Discord's 3 seconds to answer an interaction
    await turn.interaction.response.defer(ephemeral=True, thinking=True)
    services = turn.services
    url = await turn.call(
        queue.send,
        services.db,
        task_id,
        turn.actor,
        services.settings,
        services.responders,
        turn.arg,  # the draft the button was shown with: refused if it changed since
    )
    services.kick()
    await answer(turn.interaction, f"Sent: task #{task_id} is answered. {url}".rstrip())


@on("task", "approve")
async def approve(turn: Turn, task_id: int) -> None:
    """Approve someone else's draft, as the card showed it; the card then offers Send."""
    services = turn.services
    await turn.call(queue.approve, services.db, task_id, turn.actor, services.settings, turn.arg)
    services.kick()
    await answer(turn.interaction, f"Approved: the owner of task #{task_id} can send it now.")


@on("task", "note")
async def note(turn: Turn, task_id: int) -> None:
    """Open the note form."""
    await turn.interaction.response.send_modal(NoteModal(task_id))


@on("task", "dismiss")
async def dismiss(turn: Turn, task_id: int) -> None:
    """Ask why, then dismiss."""
    await turn.interaction.response.send_modal(ReasonModal(task_id, "dismiss"))


@on("task", "escalate")
async def escalate(turn: Turn, task_id: int) -> None:
    """Ask why, then hand the task to the escalation queue."""
    await turn.interaction.response.send_modal(ReasonModal(task_id, "escalate"))


@on("task", "correct")
async def correct(turn: Turn, task_id: int) -> None:
    """Open the label form, prefilled with the current labels."""
    sentiment, intents = await turn.call(discord_data.current_labels, turn.services.db, task_id)
    await turn.interaction.response.send_modal(CorrectModal(task_id, sentiment, intents))


@on("incident", "ack")
async def acknowledge(turn: Turn, incident_id: int) -> None:
    """Acknowledge a spike incident (once); its message shows who did."""
    await turn.call(_acknowledge, turn.services.db, incident_id, turn.actor.name)
    turn.services.kick()
    await answer(turn.interaction, f"Incident #{incident_id} acknowledged.")


def _acknowledge(db: Database, incident_id: int, actor: str) -> None:
    try:
        with db.transaction() as session:
            alerts.acknowledge(session, incident_id, actor)
    except alerts.AcknowledgeError as error:
        raise queue.ActionError(str(error)) from None
