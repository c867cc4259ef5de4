"""`GET /api/tasks` (filtered, keyset-paginated), one task, and queue actions (write scope)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from engagement import queue
from engagement.states import OPEN
from engagement.states import State as TaskState
from socialcrm import models
from socialcrm.db import Database
from socialcrm.web import tokens
from socialcrm.web.api_auth import Reader, Writer
from socialcrm.web.api_mentions import load
from socialcrm.web.api_models import Error, NoteOut, TaskDetail, TaskOut, TaskPage
from socialcrm.web.api_params import (
    AUTH_ERRORS,
    DEFAULT_LIMIT,
    NO_NUL,
    NOT_FOUND,
    After,
    ItemId,
    Limit,
    Word,
    not_found,
)
from socialcrm.web.deps import db_of

router = APIRouter(tags=["tasks"])
MAX_TEXT: Final = 10_000
CONFLICT: Final = {
    status.HTTP_409_CONFLICT: {"model": Error, "description": "The task's state forbids it."}
}
ACTION_ERRORS: Final = AUTH_ERRORS | NOT_FOUND | CONFLICT
BODY_ERRORS: Final = ACTION_ERRORS | {
    status.HTTP_400_BAD_REQUEST: {"model": Error, "description": "The body is not JSON."}
}


class TextIn(BaseModel):
    """A note's or a draft reply's text."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEXT, pattern=NO_NUL)


class ReasonIn(BaseModel):
    """Why the task is dismissed (kept as a note)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=MAX_TEXT, pattern=NO_NUL)


@router.get("/tasks", response_model=TaskPage, responses=AUTH_ERRORS)
def list_tasks(
    request: Request,
    _: Reader,
    state: TaskState | None = None,
    open_only: Annotated[
        bool, Query(alias="open", description="Only open tasks (not sent or dismissed).")
    ] = False,
    queue_name: Annotated[
        str | None, Query(alias="queue", max_length=255, pattern=NO_NUL, description="A queue.")
    ] = None,
    assignee: Word = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> TaskPage:
    """Tasks matching every filter given, newest first."""
    t = models.Task
    query = select(t).order_by(t.id.desc()).limit(limit + 1)
    if after is not None:
        query = query.where(t.id < after)
    if state is not None:
        query = query.where(t.state == state.value)
    if open_only:
        query = query.where(t.state.in_([s.value for s in OPEN]))
    if queue_name is not None:
        query = query.where(t.queue == queue_name)
    if assignee is not None:
        query = query.where(t.assignee == assignee)
    with db_of(request).transaction() as session:
        rows = list(session.scalars(query))
    items = [_out(row) for row in rows[:limit]]
    return TaskPage(items=items, next=items[-1].id if len(rows) > limit else None)


@router.get("/tasks/{task_id}", response_model=TaskDetail, responses=AUTH_ERRORS | NOT_FOUND)
def get_task(request: Request, _: Reader, task_id: ItemId) -> TaskDetail:
    """One task, the mention a reply answers, the conversation's mention ids and the notes."""
    return _detail(request, task_id)


@router.post("/tasks/{task_id}/claim", response_model=TaskOut, responses=ACTION_ERRORS)
def claim(request: Request, token: Writer, task_id: ItemId) -> TaskOut:
    """Claim the task for this token."""
    return _act(request, task_id, lambda db: queue.claim(db, task_id, _actor(token)))


@router.post("/tasks/{task_id}/release", response_model=TaskOut, responses=ACTION_ERRORS)
def release(request: Request, token: Writer, task_id: ItemId) -> TaskOut:
    """Give a task this token claimed back to the team."""
    return _act(request, task_id, lambda db: queue.release(db, task_id, _actor(token)))


@router.post("/tasks/{task_id}/draft", response_model=TaskOut, responses=BODY_ERRORS)
def draft(request: Request, token: Writer, task_id: ItemId, body: TextIn) -> TaskOut:
    """Save a draft reply (claiming the task if nobody has); staff approve and send it."""
    return _act(
        request, task_id, lambda db: queue.save_draft(db, task_id, _actor(token), body.text)
    )


@router.post("/tasks/{task_id}/notes", response_model=TaskOut, responses=BODY_ERRORS)
def note(request: Request, token: Writer, task_id: ItemId, body: TextIn) -> TaskOut:
    """Add an internal note (never sent to the platform)."""
    return _act(request, task_id, lambda db: queue.add_note(db, task_id, _actor(token), body.text))


@router.post("/tasks/{task_id}/dismiss", response_model=TaskOut, responses=BODY_ERRORS)
def dismiss(request: Request, token: Writer, task_id: ItemId, body: ReasonIn) -> TaskOut:
    """Close the task without a reply, saying why."""
    return _act(request, task_id, lambda db: queue.dismiss(db, task_id, _actor(token), body.reason))


def _actor(token: tokens.TokenInfo) -> queue.Actor:
    """The token as the queue's actor: the audit log names it; it never sends replies."""
    return queue.Actor(name=f"api:{token.id}", display=f"api:{token.name}", may_send=False)


def _act(request: Request, task_id: int, action: Callable[[Database], object]) -> TaskOut:
    """Run a queue action on the task: 404 if there is none, 409 if its state forbids it."""
    db = db_of(request)
    with db.transaction() as session:
        if session.get(models.Task, task_id) is None:
            raise not_found("task", task_id)
    try:
        action(db)
    except queue.ActionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    with db.transaction() as session:
        row = session.get(models.Task, task_id)
        if row is None:  # deleted in between (the mention was forgotten)
            raise not_found("task", task_id)
        return _out(row)


def _detail(request: Request, task_id: int) -> TaskDetail:
    with db_of(request).transaction() as session:
        task = session.get(models.Task, task_id)
        if task is None:
            raise not_found("task", task_id)
        mention_ids = list(
            session.scalars(
                select(models.TaskMention.mention_id)
                .where(models.TaskMention.task_id == task_id)
                .order_by(models.TaskMention.mention_id)
            )
        )
        notes = session.scalars(
            select(models.TaskNote)
            .where(models.TaskNote.task_id == task_id)
            .order_by(models.TaskNote.id)
        )
        return TaskDetail(
            **_out(task).model_dump(),
            mention=load(session, [task.mention_id])[0],
            mention_ids=mention_ids,
            notes=[
                NoteOut(id=n.id, author=n.author, text=n.text, created_at=n.created_at)
                for n in notes
            ],
        )


def _out(row: models.Task) -> TaskOut:
    return TaskOut(
        id=row.id,
        state=row.state,
        priority=row.priority,
        queue=row.queue,
        rule=row.rule,
        reason=row.reason,
        assignee=row.assignee,
        mention_id=row.mention_id,
        author_id=row.author_id,
        claimed_at=row.claimed_at,
        draft=row.draft,
        approved_by=row.approved_by,
        reply_url=row.reply_url,
        sla_due_at=row.sla_due_at,
        sla_breached_at=row.sla_breached_at,
        opened_at=row.opened_at,
        first_response_at=row.first_response_at,
        closed_at=row.closed_at,
        outcome=row.outcome,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
