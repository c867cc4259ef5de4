"""The work queue in the browser: the same actions, rules and audit log as Discord and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from engagement import queue, views
from engagement.cards import TaskView, draft_digest
from engagement.states import State
from reports.filters import INTENT_THRESHOLD
from socialcrm import models
from socialcrm.settings import Settings
from socialcrm.web.auth import Viewer
from socialcrm.web.deps import db_of, settings_of
from socialcrm.web.pages_common import (
    STAFF,
    CsvBatch,
    PageId,
    back,
    csv_download,
    field,
    flash,
    form_of,
    render,
)

router = APIRouter(include_in_schema=False)
LIST_LIMIT: Final = 100
EXPORT_BATCH: Final = 500
MAX_TEXT: Final = 10_000
Staff = Annotated[Viewer, Depends(STAFF)]
Form = Annotated[FormData, Depends(form_of)]


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, who: Staff, mine: bool = False, queue_name: str = "") -> Response:
    """Open tasks, most urgent first; only mine, or one queue's, when asked."""
    settings, db = settings_of(request), db_of(request)
    query = _open_tasks(who, mine, queue_name).limit(LIST_LIMIT)
    with db.transaction() as session:
        tasks = views.task_views(session, session.scalars(query).all(), settings)
        queues = sorted(session.scalars(select(models.Task.queue).distinct()))
    filters = {"mine": "true" if mine else "", "queue_name": queue_name}
    export = "/queue.csv?" + urlencode({name: value for name, value in filters.items() if value})
    context = {
        "tasks": tasks,
        "mine": mine,
        "queue_name": queue_name,
        "queues": queues,
        "export": export,
    }
    return render(request, "queue.html", context)


def _open_tasks(who: Viewer, mine: bool, queue_name: str) -> Select[int]:
    """Ids of the open tasks the filters keep, most urgent first (no SLA: last of a priority)."""
    Task = models.Task
    query = (
        select(Task.id)
        .where(Task.state.in_(views.OPEN_STATES))
        .order_by(Task.priority, Task.sla_due_at.asc().nulls_last(), Task.id)
    )
    if mine:
        query = query.where(Task.assignee == who.actor().name)
    if queue_name:
        query = query.where(Task.queue == queue_name)
    return query


@router.get("/queue.csv")
def queue_csv(request: Request, who: Staff, mine: bool = False, queue_name: str = "") -> Response:
    """The filtered queue as CSV, all of it, in the page's order, streamed a batch at a time."""
    settings = settings_of(request)
    listed = _open_tasks(who, mine, queue_name)

    def fetch(session: Session, after: _Key | None) -> CsvBatch[_Key]:
        query = listed if after is None else listed.where(_after(after))
        Task = models.Task
        rows = session.execute(
            query.add_columns(Task.priority, Task.sla_due_at).limit(EXPORT_BATCH)
        ).all()
        tasks = views.task_views(session, [task_id for task_id, _, _ in rows], settings)
        last = rows[-1] if len(rows) == EXPORT_BATCH else None
        key = (last[1], last[2], last[0]) if last else None
        return [_csv_values(task) for task in tasks], key

    return csv_download(request, "queue.csv", CSV_COLUMNS, fetch)


# where a task stands in the queue's order: (priority, SLA due time, id)
_Key = tuple[int, datetime | None, int]


def _after(key: _Key) -> ColumnElement[bool]:
    """Tasks after `key` in the order of `_open_tasks` (SLA due times ascending, none last)."""
    Task = models.Task
    priority, due, task_id = key
    if due is None:
        later = and_(Task.sla_due_at.is_(None), Task.id > task_id)
    else:
        later = or_(
            Task.sla_due_at > due,
            Task.sla_due_at.is_(None),
            and_(Task.sla_due_at == due, Task.id > task_id),
        )
    return or_(Task.priority > priority, and_(Task.priority == priority, later))


CSV_COLUMNS: Final = (
    "id", "priority", "state", "queue", "assignee", "sla_due_at", "sla_warned", "sla_breached",
    "source", "author", "author_name", "followers", "customer_id", "customer_name", "sentiment",
    "intents", "needs_reply", "mentions", "query", "reason", "title", "text", "url", "reply_url",
)  # fmt: skip


def _csv_values(task: TaskView) -> list[object]:
    customer = task.customer
    intents = " ".join(name for name, p in sorted(task.intents.items()) if p >= INTENT_THRESHOLD)
    return [
        task.task_id, task.priority, task.state, task.queue, task.assignee, task.sla_due_at,
        task.sla_warned, task.sla_breached, task.source, task.author_handle, task.author_name,
        task.followers, customer.id if customer else None, customer.name if customer else None,
        task.sentiment, intents, task.needs_reply, task.mention_count, task.matched_query,
        task.reason, task.title, task.text, task.mention_url, task.reply_url,
    ]  # fmt: skip


@router.get("/queue/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, task_id: PageId, who: Staff) -> Response:
    """One task: the post, its conversation, the draft, notes, and what can be done next."""
    settings, db = settings_of(request), db_of(request)
    with db.transaction() as session:
        view = views.task_view(session, task_id, settings)
        if view is None:
            raise HTTPException(404, f"there is no task #{task_id}")
        context = task_context(session, view, who)
    context["suggested"] = queue.suggested_reply(db, task_id, settings.engagement.templates)
    context["preview"] = queue.preview(db, task_id, settings)
    return render(request, "task.html", context)


def task_context(session: Any, view: TaskView, who: Viewer) -> dict[str, Any]:
    """What the task page (and a mention's page) shows about a task and its actions."""
    notes = session.scalars(
        select(models.TaskNote)
        .where(models.TaskNote.task_id == view.task_id)
        .order_by(models.TaskNote.id)
    ).all()
    mentions = session.execute(
        select(models.Mention.id, models.Mention.created_at, models.Mention.text)
        .join(models.TaskMention, models.TaskMention.mention_id == models.Mention.id)
        .where(models.TaskMention.task_id == view.task_id)
        .order_by(models.Mention.created_at, models.Mention.id)
    ).all()
    me = who.actor().name
    digest = draft_digest(view.draft, view.mention_url) if view.draft else ""
    return {
        "task": view,
        "notes": notes,
        "conversation": mentions,
        "mine": view.assignee == me,
        "others": view.assignee not in (None, me),
        "open": State(view.state) in _OPEN,
        "digest": digest,
    }


_OPEN: Final = frozenset(State(s) for s in views.OPEN_STATES)

Action = Callable[[Request, int, Viewer, FormData], str]


def _claim(request: Request, task_id: int, who: Viewer, form: FormData) -> str:
    take_over = field(form, "take_over") == "1"
    queue.claim(db_of(request), task_id, who.actor(), take_over=take_over)
    return f"Task #{task_id} is yours."


def _release(request: Request, task_id: int, who: Viewer, form: FormData) -> str:
    queue.release(db_of(request), task_id, who.actor())
    return f"Task #{task_id} is back in the queue."


def _draft(request: Request, task_id: int, who: Viewer, form: FormData) -> str:
    queue.save_draft(db_of(request), task_id, who.actor(), _text(form, "text"))
    return f"The draft of task #{task_id} is saved."


def _approve(request: Request, task_id: int, who: Viewer, form: FormData) -> str:
    seen = field(form, "seen") or None
    queue.approve(db_of(request), task_id, who.actor(), settings_of(request), seen)
    return f"Approved: the owner of task #{task_id} can send it now."


def _send(request: Request, task_id: int, who: Viewer, form: FormData) -> str:
    settings: Settings = settings_of(request)
    responders: queue.Responders = request.app.state.responders
    seen = field(form, "seen") or None
    url = queue.send(db_of(request), task_id, who.actor(), settings, responders, seen)
    return f"Sent: task #{task_id} is answered. {url}".rstrip()


def _note(request: Request, task_id: int, who: Viewer, form: FormData) -> str:
    queue.add_note(db_of(request), task_id, who.actor(), _text(form, "text"))
    return "The note is added."


def _dismiss(request: Request, task_id: int, who: Viewer, form: FormData) -> str:
    queue.dismiss(db_of(request), task_id, who.actor(), _text(form, "reason"))
    return f"Task #{task_id} is dismissed."


def _escalate(request: Request, task_id: int, who: Viewer, form: FormData) -> str:
    to = settings_of(request).engagement.escalation_queue
    queue.escalate(db_of(request), task_id, who.actor(), _text(form, "reason"), to)
    return f"Task #{task_id} is escalated to {to}."


def _text(form: FormData, name: str) -> str:
    text = field(form, name)
    if len(text) > MAX_TEXT:
        raise queue.ActionError(f"the text is too long: at most {MAX_TEXT} characters")
    return text


ACTIONS: Final[dict[str, Action]] = {
    "claim": _claim,
    "release": _release,
    "draft": _draft,
    "approve": _approve,
    "send": _send,
    "note": _note,
    "dismiss": _dismiss,
    "escalate": _escalate,
}


@router.post("/queue/{task_id}/{action}")
def act(request: Request, task_id: PageId, action: str, who: Staff, form: Form) -> Response:
    """Do one queue action as `web:<name>`; say what happened (or why not) on the task's page."""
    do = ACTIONS.get(action)
    if do is None:
        raise HTTPException(404, f"there is no action {action!r}")
    try:
        flash(request, do(request, task_id, who, form))
    except queue.ActionError as error:
        flash(request, str(error), "error")
    return back(f"/queue/{task_id}")
