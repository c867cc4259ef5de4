"""The forms behind the card buttons: reply (then its preview), note, dismiss, escalate, correct.

A modal lives only in the bot's memory: one left open across a restart, or for longer than
`MODAL_TIMEOUT`, fails to submit and is simply opened again from the card.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal

import discord

from engagement import discord_data, queue
from engagement.cards import draft_digest, neutralise, safe_url, source_name, who
from engagement.discord_context import NO_MENTIONS, answer
from engagement.discord_ui import ActionButton, Turn, guarded
from nlp.labels import INTENTS, SENTIMENTS

log = logging.getLogger(__name__)

MODAL_TIMEOUT = 3600.0  # a reply can take a while to write
TEXT_MAX = 4000  # Discord's limit for a text input
THREAD_EXISTS = 160004  # Discord: "A thread has already been created for this message"
WEEK_MINUTES: Final[Literal[10080]] = 10080


class ReplyModal(discord.ui.Modal):
    """Write or edit the reply; submitting saves the draft and shows exactly what Send will do."""

    def __init__(self, task_id: int, draft: str) -> None:
        super().__init__(title=f"Reply to task #{task_id}", timeout=MODAL_TIMEOUT)
        self.task_id = task_id
        self.text: discord.ui.TextInput[ReplyModal] = discord.ui.TextInput(
            label="Reply (posted publicly only on Send)",
            style=discord.TextStyle.paragraph,
            default=draft[:TEXT_MAX] or None,
            max_length=TEXT_MAX,
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Save the draft, then preview it."""
        await guarded(interaction, self._submit)

    async def _submit(self, turn: Turn) -> None:
        db = turn.services.db
        await turn.call(queue.save_draft, db, self.task_id, turn.actor, self.text.value)
        turn.services.kick()
        await show_preview(turn, self.task_id)


async def show_preview(turn: Turn, task_id: int) -> None:
    """Where, as whom and what Send will post, to the drafter alone.

    When a second person must approve it, the card shows the draft with an Approve button.
    """
    settings = turn.services.settings
    preview = await turn.call(queue.preview, turn.services.db, task_id, settings)
    if preview.needs_approval:
        text = (
            f"Your reply to task #{task_id} is saved. Someone else with a send role must approve "
            "it on the card; then Send appears there."
        )
    else:
        text = f"Check the reply to task #{task_id}, then press Send to post it publicly."
    await answer(
        turn.interaction,
        text,
        embed=preview_embed(task_id, preview),
        view=preview_view(task_id, preview),
        ephemeral=True,
    )


def preview_embed(task_id: int, preview: queue.Preview) -> discord.Embed:
    """The preview of a reply: its text, the platform, the post it answers, the account."""
    embed = discord.Embed(
        title=f"Reply preview · task #{task_id}",
        description=neutralise(preview.text, TEXT_MAX) or "—",
        colour=discord.Colour.orange() if preview.needs_approval else discord.Colour.green(),
    )
    url = safe_url(preview.target_url)
    if url is not None:
        embed.url = url
    embed.add_field(name="Posted on", value=source_name(preview.platform))
    embed.add_field(name="As", value=neutralise(preview.as_whom, 256))
    target = neutralise(preview.target_url, 1000) if preview.target_url else "the original post"
    embed.add_field(name="In reply to", value=target, inline=False)
    embed.add_field(name="Approval", value=_approval(preview), inline=False)
    return embed


def _approval(preview: queue.Preview) -> str:
    if preview.approved_by:
        return f"approved by {who(preview.approved_by)}"
    return "needed from a second person" if preview.needs_approval else "not needed"


def preview_view(task_id: int, preview: queue.Preview) -> discord.ui.View:
    """Send (bound to the draft and post shown; off until approved, when needed) and Edit."""
    view = discord.ui.View(timeout=None)
    digest = draft_digest(preview.text, preview.target_url)
    view.add_item(
        ActionButton(
            "task",
            task_id,
            "send",
            digest,
            label="Send",
            style=discord.ButtonStyle.success,
            disabled=preview.needs_approval,
        )
    )
    view.add_item(ActionButton("task", task_id, "reply", label="Edit"))
    return view


class NoteModal(discord.ui.Modal):
    """An internal note: stored on the task and posted in the card's thread, never sent out."""

    def __init__(self, task_id: int) -> None:
        super().__init__(title=f"Note on task #{task_id}", timeout=MODAL_TIMEOUT)
        self.task_id = task_id
        self.text: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
            label="Note (internal: never sent)",
            style=discord.TextStyle.paragraph,
            max_length=1800,
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Store the note and post it in the card's thread."""
        await guarded(interaction, self._submit)

    async def _submit(self, turn: Turn) -> None:
        text = self.text.value
        await turn.call(queue.add_note, turn.services.db, self.task_id, turn.actor, text)
        where = await post_note(turn, self.task_id, text)
        await answer(turn.interaction, f"Note added to task #{self.task_id}: {where}.")


async def post_note(turn: Turn, task_id: int, text: str) -> str:
    """Post the note in the thread on the task's card (opened on first use); says where."""
    db = turn.services.db
    where = await turn.call(discord_data.card_location, db, task_id)
    if where is None:
        return "its card is not in Discord yet, so the note is kept in socialcrm only"
    client = turn.interaction.client
    try:
        thread_id = where.thread_id or await _open_thread(client, where, task_id)
        if where.thread_id is None:
            await turn.call(discord_data.remember_thread, db, task_id, thread_id)
        channel = client.get_partial_messageable(int(thread_id))
        body = f"Note by {who(turn.actor.name)}: {neutralise(text, 1900)}"
        await channel.send(body, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as error:
        log.warning("could not post a note of task %s in its thread: %s", task_id, error)
        if error.status == 403:
            return (
                "kept in socialcrm; to post notes in threads, give the bot Create Public "
                "Threads and Send Messages in Threads"
            )
        return f"kept in socialcrm, but Discord refused the thread post: {error.status}"
    return "posted in the card's thread"


async def _open_thread(
    client: discord.Client, where: discord_data.CardLocation, task_id: int
) -> str:
    try:
        data = await client.http.start_thread_with_message(
            where.channel_id,
            where.message_id,
            name=f"Task {task_id} notes",
            auto_archive_duration=WEEK_MINUTES,
        )
    except discord.HTTPException as error:
        # a thread started on a message has the message's id
        if error.code == THREAD_EXISTS:
            return where.message_id
        raise
    return str(data["id"])


class ReasonModal(discord.ui.Modal):
    """Dismiss or escalate a task, saying why (kept as a note)."""

    def __init__(self, task_id: int, action: str) -> None:
        super().__init__(title=f"{action.title()} task #{task_id}", timeout=MODAL_TIMEOUT)
        self.task_id, self.action = task_id, action
        self.reason: discord.ui.TextInput[ReasonModal] = discord.ui.TextInput(
            label=f"Why {action} it?", style=discord.TextStyle.paragraph, max_length=1000
        )
        self.add_item(self.reason)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Dismiss or escalate the task."""
        await guarded(interaction, self._submit)

    async def _submit(self, turn: Turn) -> None:
        db, why = turn.services.db, self.reason.value
        if self.action == "escalate":
            target = turn.services.settings.engagement.escalation_queue
            await turn.call(queue.escalate, db, self.task_id, turn.actor, why, target)
            done = f"Task #{self.task_id} escalated to the {target} queue."
        else:
            await turn.call(queue.dismiss, db, self.task_id, turn.actor, why)
            done = f"Task #{self.task_id} dismissed."
        turn.services.kick()
        await answer(turn.interaction, done)


class CorrectModal(discord.ui.Modal):
    """The labels a person gives the mention, stored for `nlp train --with-feedback`."""

    def __init__(self, task_id: int, sentiment: str | None, intents: list[str]) -> None:
        super().__init__(title=f"Correct the labels of task #{task_id}", timeout=MODAL_TIMEOUT)
        self.task_id = task_id
        sentiments = [
            discord.SelectOption(label=name, value=name, default=name == sentiment)
            for name in SENTIMENTS
        ]
        self.sentiment: discord.ui.Select[CorrectModal] = discord.ui.Select(
            options=sentiments, min_values=0, max_values=1, required=False
        )
        chosen = [
            discord.SelectOption(
                label=name.replace("_", " "),
                value=name,
                description=meaning[:100],
                default=name in intents,
            )
            for name, meaning in INTENTS.items()
        ]
        self.intents: discord.ui.Select[CorrectModal] = discord.ui.Select(
            options=chosen, min_values=0, max_values=len(chosen), required=False
        )
        self.add_item(discord.ui.Label(text="Sentiment", component=self.sentiment))
        self.add_item(
            discord.ui.Label(
                text="Intents", description="Every intent the post has", component=self.intents
            )
        )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Store the correction."""
        await guarded(interaction, self._submit)

    async def _submit(self, turn: Turn) -> None:
        sentiment = self.sentiment.values[0] if self.sentiment.values else None
        intents = list(self.intents.values)
        await turn.call(
            queue.correct, turn.services.db, self.task_id, turn.actor, sentiment, intents
        )
        await answer(
            turn.interaction,
            f"Labels of task #{self.task_id} stored: the next nlp train --with-feedback "
            "learns from them.",
        )
