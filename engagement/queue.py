"""The work queue's actions: claim, draft, approve, send, note, dismiss, escalate, correct.

Every action checks the state machine and ownership, writes the audit log (who, what, when,
before -> after) and queues the task's chat card for an update, in one transaction. Sending
posts the reply after that transaction commits, through the platform's responder.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collectors import registry
from collectors.base import Responder, SourceConfigError, SourceError
from collectors.replies import ReplyError, send_reply
from crm_sync.customers import audit, mark_dirty
from engagement import notify
from engagement.states import OPEN, Action, State, TransitionError, advance
from nlp import feedback
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import Settings

log = logging.getLogger(__name__)

Responders = Callable[[str], Responder]


def responders_for(settings: Settings) -> Responders:
    """The platforms' responders as settings configure them, built when first asked for."""

    def build(source: str) -> Responder:
        try:
            return registry.build_responder(source, settings)
        except SourceConfigError as error:
            raise ActionError(f"cannot reply on {source}: {error}") from None

    return build


class ActionError(Exception):
    """An action that cannot be done as asked; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a stable name (`discord:1234`, `cli:ana`), a display name, if they may send."""

    name: str
    display: str
    may_send: bool = False


def task_row(session: Session, task_id: int, lock: bool = True) -> models.Task:
    """The task, locked for the transaction; a one-line error when there is none."""
    query = select(models.Task).where(models.Task.id == task_id)
    task = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if task is None:
        raise ActionError(f"no task #{task_id}")
    return task


def _snapshot(task: models.Task) -> dict[str, Any]:
    return {
        "state": task.state,
        "assignee": task.assignee,
        "queue": task.queue,
        "priority": task.priority,
    }


def _move(session: Session, task: models.Task, actor: Actor, action: Action, **extra: Any) -> None:
    """Apply `action` to `task` (state machine), audit it and queue the card update."""
    before = _snapshot(task)
    try:
        task.state = advance(task.state, action).value
    except TransitionError as error:
        raise ActionError(f"task #{task.id}: {error}") from None
    _record(session, task, actor, action.value, before, extra)


def _record(
    session: Session,
    task: models.Task,
    actor: Actor,
    action: str,
    before: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    task.updated_at = utcnow()
    audit(
        session,
        actor.name,
        f"task.{action}",
        ("task", task.id),
        before,
        _snapshot(task) | (extra or {}),
    )
    notify.queue_card(session, task.id, task.queue, task.priority)


def _owned(task: models.Task, actor: Actor, doing: str) -> None:
    if task.assignee is None:
        raise ActionError(f"task #{task.id} is not claimed: claim it before you {doing}")
    if task.assignee != actor.name:
        raise ActionError(
            f"task #{task.id} is claimed by {task.assignee}: take it over before you {doing}"
        )


def claim(db: Database, task_id: int, actor: Actor, take_over: bool = False) -> None:
    """Make `actor` the owner; taking over someone else's task must be asked for explicitly."""
    with db.transaction() as session:
        task = task_row(session, task_id)
        if task.assignee == actor.name and task.state not in (State.SENT, State.DISMISSED):
            raise ActionError(f"task #{task_id} is already yours")
        if task.assignee is not None and task.assignee != actor.name:
            if not take_over:
                raise ActionError(f"task #{task_id} is claimed by {task.assignee}")
            if State(task.state) not in OPEN:
                raise ActionError(f"task #{task_id} is {task.state}: nothing to take over")
            before = _snapshot(task)
            task.assignee, task.claimed_at = actor.name, utcnow()
            _record(session, task, actor, "take_over", before)
            return
        _move(session, task, actor, Action.CLAIM)
        task.assignee, task.claimed_at = actor.name, utcnow()


def release(db: Database, task_id: int, actor: Actor) -> None:
    """Give the task back to the team."""
    with db.transaction() as session:
        task = task_row(session, task_id)
        _owned(task, actor, "release it")
        _move(session, task, actor, Action.RELEASE)
        task.assignee = task.claimed_at = None


def save_draft(db: Database, task_id: int, actor: Actor, text: str) -> None:
    """Store the reply draft; an unclaimed task is claimed by the drafter, an approval is voided."""
    text = text.strip()
    if not text:
        raise ActionError("a reply needs some text")
    with db.transaction() as session:
        task = task_row(session, task_id)
        if task.assignee is None and State(task.state) in _CLAIMABLE:
            _move(session, task, actor, Action.CLAIM)
            task.assignee, task.claimed_at = actor.name, utcnow()
        _owned(task, actor, "draft a reply")
        _move(session, task, actor, Action.DRAFT, draft_chars=len(text))
        task.draft, task.drafted_by, task.approved_by = text, actor.name, None


_CLAIMABLE = frozenset({State.NEW, State.NOTIFIED, State.ESCALATED, State.REOPENED})


def approve(db: Database, task_id: int, actor: Actor, settings: Settings) -> None:
    """Approve the draft for sending; with second approval on, someone other than the drafter."""
    with db.transaction() as session:
        task = task_row(session, task_id)
        _approve(session, task, actor, settings)


def _approve(session: Session, task: models.Task, actor: Actor, settings: Settings) -> None:
    if not actor.may_send:
        raise ActionError(f"approving needs one of the roles {_roles(settings)}")
    if settings.engagement.require_second_approval and task.drafted_by == actor.name:
        raise ActionError(f"task #{task.id}: a second person must approve your draft")
    _move(session, task, actor, Action.APPROVE)
    task.approved_by = actor.name


def _roles(settings: Settings) -> str:
    return ", ".join(settings.discord.send_roles)


def send(
    db: Database, task_id: int, actor: Actor, settings: Settings, responders: Responders
) -> str:
    """Post the approved draft as the brand's reply; return its link. Posts once per draft."""
    mention, text, key = _prepare_send(db, task_id, actor, settings)
    try:
        responder = responders(mention.source)
        outcome = send_reply(db, responder, mention.id, text, key)
    except (SourceError, ReplyError) as error:
        with db.transaction() as session:
            task = task_row(session, task_id)
            audit(
                session,
                actor.name,
                "task.send_failed",
                ("task", task_id),
                None,
                {"error": str(error)},
            )
            notify.queue_card(session, task.id, task.queue, task.priority)
        raise ActionError(f"the reply was not posted: {error}") from None
    now = utcnow()
    with db.transaction() as session:
        task = task_row(session, task_id)
        if task.state == State.SENT and task.reply_key == key:
            return task.reply_url or ""
        _move(session, task, actor, Action.SEND)
        task.reply_url = outcome.reply.url
        task.first_response_at = task.first_response_at or now
        task.closed_at = now
        author = session.get(models.Author, task.author_id)
        if author is not None and author.customer_id is not None:
            mark_dirty(session, {author.customer_id}, now)
        _answered_incidents(session, mention.matched_query, now)
    return outcome.reply.url or ""


def _answered_incidents(session: Session, query: str | None, now: datetime) -> None:
    """The first reply to the query of an open incident is the incident's first response."""
    if query is None:
        return
    incident = models.Incident
    session.execute(
        update(incident)
        .where(
            incident.query == query,
            incident.first_response_at.is_(None),
            incident.opened_at <= now,
        )
        .values(first_response_at=now)
        .execution_options(synchronize_session=False)
    )


def _prepare_send(
    db: Database, task_id: int, actor: Actor, settings: Settings
) -> tuple[models.Mention, str, str]:
    with db.transaction() as session:
        task = task_row(session, task_id)
        _owned(task, actor, "send")
        if not actor.may_send:
            raise ActionError(f"sending needs one of the roles {_roles(settings)}")
        if task.draft is None:
            raise ActionError(f"task #{task_id} has no draft: write the reply first")
        if task.state == State.DRAFTED:
            if settings.engagement.require_second_approval:
                raise ActionError(f"task #{task_id} needs a second person's approval first")
            _approve(session, task, actor, settings)
        elif task.state != State.APPROVED:
            raise ActionError(f"task #{task_id} is {task.state}: nothing to send")
        key = reply_key(task)
        task.reply_key = key
        mention = session.get(models.Mention, task.mention_id)
        assert mention is not None  # noqa: S101 - the foreign key guarantees it
        session.expunge(mention)
        return mention, task.draft, key


def reply_key(task: models.Task) -> str:
    """One key per task episode and text: a double click posts once, an edited draft anew."""
    digest = hashlib.sha256(f"{task.opened_at.isoformat()}\n{task.draft}".encode()).hexdigest()
    return f"task:{task.id}:{digest[:16]}"


def add_note(db: Database, task_id: int, actor: Actor, text: str) -> int:
    """An internal note on the task (never sent to the platform); its id."""
    text = text.strip()
    if not text:
        raise ActionError("a note needs some text")
    with db.transaction() as session:
        task = task_row(session, task_id)
        note = models.TaskNote(task_id=task.id, author=actor.display, text=text)
        session.add(note)
        session.flush()
        audit(session, actor.name, "task.note", ("task", task.id), None, {"note_id": note.id})
        return note.id


def dismiss(db: Database, task_id: int, actor: Actor, reason: str) -> None:
    """Close the task without a reply, saying why (kept as a note)."""
    _with_reason(db, task_id, actor, Action.DISMISS, reason)


def escalate(db: Database, task_id: int, actor: Actor, reason: str, queue: str) -> None:
    """Hand the task to `queue`, one priority up and unclaimed, saying why (kept as a note)."""
    _with_reason(db, task_id, actor, Action.ESCALATE, reason, queue)


def _with_reason(
    db: Database, task_id: int, actor: Actor, action: Action, reason: str, queue: str | None = None
) -> None:
    reason = reason.strip()
    if not reason:
        raise ActionError(f"say why you {action.value} the task")
    with db.transaction() as session:
        task = task_row(session, task_id)
        if task.assignee not in (None, actor.name) and action is Action.DISMISS:
            raise ActionError(f"task #{task_id} is claimed by {task.assignee}: take it over first")
        if queue is not None:
            task.queue, task.priority = queue, max(1, task.priority - 1)
            task.assignee = task.claimed_at = None
        else:
            task.closed_at = utcnow()
        _move(session, task, actor, action)
        session.add(
            models.TaskNote(task_id=task.id, author=actor.display, text=f"{action.value}: {reason}")
        )


def correct(
    db: Database,
    task_id: int,
    actor: Actor,
    sentiment: str | None,
    intents: Sequence[str] | None,
) -> None:
    """Store a person's labels for the task's mention, for `nlp train --with-feedback`."""
    with db.transaction() as session:
        task = task_row(session, task_id, lock=False)
        try:
            feedback.record(session, task.mention_id, sentiment, intents, by=actor.name)
        except feedback.CorrectionError as error:
            raise ActionError(str(error)) from None
        after = {"sentiment": sentiment, "intents": list(intents) if intents is not None else None}
        audit(session, actor.name, "task.correct", ("task", task.id), None, after)


@dataclass(frozen=True, slots=True)
class Preview:
    """Exactly what Send will do: where, as whom, what, and whether it still needs approval."""

    platform: str
    target_url: str | None
    as_whom: str
    text: str
    needs_approval: bool
    approved_by: str | None


def preview(db: Database, task_id: int, settings: Settings) -> Preview:
    """What sending the task's draft would post, and where."""
    with db.transaction() as session:
        task = task_row(session, task_id, lock=False)
        mention = session.get(models.Mention, task.mention_id)
        assert mention is not None  # noqa: S101 - the foreign key guarantees it
        needs = settings.engagement.require_second_approval and task.state != State.APPROVED
        return Preview(
            platform=mention.source,
            target_url=mention.url,
            as_whom=account_of(settings, mention.source),
            text=task.draft or "",
            needs_approval=needs,
            approved_by=task.approved_by,
        )


def account_of(settings: Settings, source: str) -> str:
    """The brand account a reply on `source` is posted as."""
    secrets, sources = settings.secrets, settings.sources
    if source == "reddit" and secrets.reddit_username is not None:
        return f"u/{secrets.reddit_username.get_secret_value()}"
    if source == "bluesky" and sources.bluesky.handle:
        return f"@{sources.bluesky.handle}"
    if source == "mastodon":
        return f"the account of SOCIALCRM_MASTODON_ACCESS_TOKEN on {sources.mastodon.instance}"
    return f"the {source} account configured for replies"


def suggested_reply(db: Database, task_id: int, templates: dict[str, str]) -> str:
    """The current draft, or the template of the mention's most likely intent, filled in."""
    with db.transaction() as session:
        task = task_row(session, task_id, lock=False)
        if task.draft:
            return task.draft
        row = session.execute(
            select(models.Classification.intents, models.Author.handle, models.Author.display_name)
            .select_from(models.Mention)
            .join(models.Author, models.Author.id == models.Mention.author_id)
            .outerjoin(models.Classification, models.Classification.mention_id == models.Mention.id)
            .where(models.Mention.id == task.mention_id)
        ).one()
    return fill_template(templates, row.intents or {}, row.display_name or row.handle)


def fill_template(templates: dict[str, str], intents: dict[str, Any], name: str) -> str:
    """The template for the likeliest intent that has one (else `default`), with {name} filled."""
    ranked = sorted(
        (name for name in intents if name in templates), key=lambda k: -float(intents[k])
    )
    chosen = templates.get(ranked[0]) if ranked else None
    template = chosen or templates.get("default", "")
    return template.replace("{name}", name).strip()
