"""The work queue's actions: claim, draft, approve, send, note, dismiss, escalate, correct.

Every action checks the state machine and ownership, writes the audit log (who, what, when,
before -> after) and queues the task's chat card for an update, in one transaction. Sending
posts the reply after that transaction commits, through the platform's responder.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
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
from engagement.cards import draft_digest
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


def _move(
    session: Session,
    task: models.Task,
    actor: Actor,
    action: Action,
    changes: Mapping[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Apply `action` (state machine) and `changes` to `task`, audit it, queue the card update."""
    before = _snapshot(task)
    try:
        task.state = advance(task.state, action).value
    except TransitionError as error:
        raise ActionError(f"task #{task.id}: {error}") from None
    _record(session, task, actor, action.value, before, changes, extra)


def _record(
    session: Session,
    task: models.Task,
    actor: Actor,
    action: str,
    before: dict[str, Any],
    changes: Mapping[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    for name, value in (changes or {}).items():
        setattr(task, name, value)
    task.updated_at = utcnow()
    after = _snapshot(task) | (extra or {})
    audit(session, actor.name, f"task.{action}", ("task", task.id), before, after)
    notify.queue_card(session, task.id, task.queue, task.priority)


def _owned(task: models.Task, actor: Actor, doing: str) -> None:
    if task.assignee is None:
        raise ActionError(f"task #{task.id} is not claimed: claim it before you {doing}")
    if task.assignee != actor.name:
        raise ActionError(
            f"task #{task.id} is claimed by {task.assignee}: take it over before you {doing}"
        )


def sending(task: models.Task) -> bool:
    """Whether the task's reply is being posted right now (approved, its key fixed)."""
    return task.state == State.APPROVED and task.reply_key is not None


def _not_sending(task: models.Task) -> None:
    if sending(task):
        raise ActionError(
            f"task #{task.id}: its reply is being posted right now; wait for it to finish"
        )


def claim(db: Database, task_id: int, actor: Actor, take_over: bool = False) -> None:
    """Make `actor` the owner; taking over someone else's task must be asked for explicitly."""
    with db.transaction() as session:
        task = task_row(session, task_id)
        owner = {"assignee": actor.name, "claimed_at": utcnow()}
        if task.assignee == actor.name and task.state not in (State.SENT, State.DISMISSED):
            raise ActionError(f"task #{task_id} is already yours")
        if task.assignee is not None and task.assignee != actor.name:
            if not take_over:
                raise ActionError(f"task #{task_id} is claimed by {task.assignee}")
            if State(task.state) not in OPEN:
                raise ActionError(f"task #{task_id} is {task.state}: nothing to take over")
            _not_sending(task)
            _record(session, task, actor, "take_over", _snapshot(task), owner)
            return
        _move(session, task, actor, Action.CLAIM, owner)


def release(db: Database, task_id: int, actor: Actor) -> None:
    """Give the task back to the team."""
    with db.transaction() as session:
        task = task_row(session, task_id)
        _owned(task, actor, "release it")
        _not_sending(task)
        _move(session, task, actor, Action.RELEASE, {"assignee": None, "claimed_at": None})


def save_draft(db: Database, task_id: int, actor: Actor, text: str) -> None:
    """Store the reply draft; an unclaimed task is claimed by the drafter, an approval is voided."""
    text = text.strip()
    if not text:
        raise ActionError("a reply needs some text")
    with db.transaction() as session:
        task = task_row(session, task_id)
        if task.assignee is None and State(task.state) in _CLAIMABLE:
            _move(
                session, task, actor, Action.CLAIM, {"assignee": actor.name, "claimed_at": utcnow()}
            )
        _owned(task, actor, "draft a reply")
        _not_sending(task)
        draft = {"draft": text, "drafted_by": actor.name, "approved_by": None, "reply_key": None}
        _move(session, task, actor, Action.DRAFT, draft, draft_chars=len(text))


_CLAIMABLE = frozenset({State.NEW, State.NOTIFIED, State.ESCALATED, State.REOPENED})


def approve(
    db: Database, task_id: int, actor: Actor, settings: Settings, seen: str | None = None
) -> None:
    """Approve the draft for sending; with second approval on, someone other than the drafter.

    `seen`: the digest of the draft the approver was shown; refused if the draft changed since.
    """
    with db.transaction() as session:
        task = task_row(session, task_id)
        _as_seen(session, task, seen)
        _approve(session, task, actor, settings)


def _as_seen(session: Session, task: models.Task, seen: str | None) -> None:
    """Refuse when the draft, or the post it answers, changed since `seen` was shown."""
    if seen is None:
        return
    target = session.scalar(select(models.Mention.url).where(models.Mention.id == task.mention_id))
    if task.draft is None or draft_digest(task.draft, target) != seen:
        raise ActionError(
            f"task #{task.id}: the draft or the post it answers changed since you saw it;"
            " look at the card again"
        )


def _approve(session: Session, task: models.Task, actor: Actor, settings: Settings) -> None:
    if not actor.may_send:
        raise ActionError(f"approving needs one of the roles {_roles(settings)}")
    if settings.engagement.require_second_approval and task.drafted_by == actor.name:
        raise ActionError(f"task #{task.id}: a second person must approve your draft")
    _move(session, task, actor, Action.APPROVE, {"approved_by": actor.name})


def _roles(settings: Settings) -> str:
    return ", ".join(settings.discord.send_roles)


def send(
    db: Database,
    task_id: int,
    actor: Actor,
    settings: Settings,
    responders: Responders,
    seen: str | None = None,
) -> str:
    """Post the approved draft as the brand's reply; return its link. Posts once per draft.

    `seen`: the digest of the draft the sender was shown; refused if the draft changed since.
    """
    mention, text, key = _prepare_send(db, task_id, actor, settings, seen)
    try:
        responder = responders(mention.source)
        outcome = send_reply(db, responder, mention.id, text, key)
    except (SourceError, ReplyError, ActionError) as error:
        _send_failed(db, task_id, actor, key, error)
        raise ActionError(f"the reply was not posted: {error}") from None
    with db.transaction() as session:
        _record_sent(session, task_row(session, task_id), actor, key, outcome.reply.url)
    return outcome.reply.url or ""


def _send_failed(db: Database, task_id: int, actor: Actor, key: str, error: Exception) -> None:
    """The task stays approved, free to send again or to change; the error is in the audit log."""
    with db.transaction() as session:
        task = task_row(session, task_id)
        if task.reply_key == key:
            task.reply_key = None
        after = {"error": str(error)}
        audit(session, actor.name, "task.send_failed", ("task", task_id), None, after)
        notify.queue_card(session, task.id, task.queue, task.priority)


def _record_sent(
    session: Session, task: models.Task, actor: Actor, key: str, url: str | None
) -> None:
    """The reply is public: the task says so, whatever happened to it meanwhile."""
    if task.state == State.SENT and task.reply_key == key:
        return  # recorded by an earlier call with the same key
    now = utcnow()
    done = {
        "state": State.SENT.value,
        "reply_key": key,
        "reply_url": url,
        "first_response_at": task.first_response_at or now,
        "closed_at": now,
    }
    before = _snapshot(task)
    _record(session, task, actor, Action.SEND.value, before, done)
    author = session.get(models.Author, task.author_id)
    if author is not None and author.customer_id is not None:
        mark_dirty(session, {author.customer_id}, now)
    mention = session.get(models.Mention, task.mention_id)
    if mention is not None and mention.matched_query is not None:
        _answered_incident(session, mention.matched_query, now)


def _answered_incident(session: Session, query: str, now: datetime) -> None:
    """The first reply on the query of its latest incident is that incident's first response."""
    incident = models.Incident
    latest = session.scalar(
        select(incident.id)
        .where(incident.query == query, incident.opened_at <= now)
        .order_by(incident.opened_at.desc())
        .limit(1)
    )
    if latest is None:
        return
    session.execute(
        update(incident)
        .where(incident.id == latest, incident.first_response_at.is_(None))
        .values(first_response_at=now)
        .execution_options(synchronize_session=False)
    )


def _prepare_send(
    db: Database, task_id: int, actor: Actor, settings: Settings, seen: str | None
) -> tuple[models.Mention, str, str]:
    with db.transaction() as session:
        task = task_row(session, task_id)
        _owned(task, actor, "send")
        if not actor.may_send:
            raise ActionError(f"sending needs one of the roles {_roles(settings)}")
        if task.draft is None:
            raise ActionError(f"task #{task_id} has no draft: write the reply first")
        _as_seen(session, task, seen)
        if task.state == State.DRAFTED:
            if settings.engagement.require_second_approval:
                raise ActionError(f"task #{task_id} needs a second person's approval first")
            _approve(session, task, actor, settings)
        elif task.state != State.APPROVED:
            raise ActionError(f"task #{task_id} is {task.state}: nothing to send")
        # fixed now: from here until it is recorded, the task cannot change under the post
        task.reply_key = reply_key(task)
        mention = session.get(models.Mention, task.mention_id)
        assert mention is not None  # noqa: S101 - the foreign key guarantees it
        session.expunge(mention)
        return mention, task.draft, task.reply_key


def reply_key(task: models.Task) -> str:
    """One key per episode, post answered and text: a double click posts once, a new text anew."""
    seed = f"{task.opened_at.isoformat()}\n{task.mention_id}\n{task.draft}"
    return f"task:{task.id}:{hashlib.sha256(seed.encode()).hexdigest()[:16]}"


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
        _not_sending(task)
        if queue is not None:
            changes: dict[str, Any] = {
                "queue": queue,
                "priority": max(1, task.priority - 1),
                "assignee": None,
                "claimed_at": None,
            }
        else:
            changes = {"closed_at": utcnow()}
        _move(session, task, actor, action, changes)
        note = f"{action.value}: {reason}"
        session.add(models.TaskNote(task_id=task.id, author=actor.display, text=note))


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
