"""The work queue in the browser: the same actions, rules and audit log as Discord and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from engagement import queue, views
from engagement.cards import TaskView, draft_digest
from engagement.states import State
from socialcrm import models
from socialcrm.settings import Settings
from socialcrm.web.auth import Viewer
from socialcrm.web.deps import db_of, settings_of
from socialcrm.web.pages_common import STAFF, PageId, back, field, flash, form_of, render

router = APIRouter(include_in_schema=False)
LIST_LIMIT: Final = 100
MAX_TEXT: Final = 10_000
Staff = Annotated[Viewer, Depends(STAFF)]
Form = Annotated[FormData, Depends(form_of)]


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, who: Staff, mine: bool = False, queue_name: str = "") -> Response:
    """Open tasks, most urgent first; only mine, or one queue's, when asked."""
    settings, db = settings_of(request), db_of(request)
    query = (
        select(models.Task.id)
        .where(models.Task.state.in_(views.OPEN_STATES))
        .order_by(models.Task.priority, models.Task.sla_due_at, models.Task.id)
        .limit(LIST_LIMIT)
    )
    if mine:
        query = query.where(models.Task.assignee == who.actor().name)
    if queue_name:
        query = query.where(models.Task.queue == queue_name)
    with db.transaction() as session:
        found = (views.task_view(session, i, settings) for i in session.scalars(query))
        tasks = [task for task in found if task is not None]
        queues = sorted(session.scalars(select(models.Task.queue).distinct()))
    context = {"tasks": tasks, "mine": mine, "queue_name": queue_name, "queues": queues}
    return render(request, "queue.html", context)


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
