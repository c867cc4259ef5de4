"""`socialcrm queue list|show|claim|release|reply|approve|send|note|dismiss|escalate`.

The same work queue as Discord, for staff without it: the same states, rules and audit log.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy import select

from engagement import queue
from engagement.states import OPEN
from socialcrm import models
from socialcrm.cli import _ago, _state, app, fail, out
from socialcrm.mention import utcnow

queue_app = typer.Typer(
    help="The work queue: list tasks, claim, reply, approve, send, note, dismiss, escalate.",
    no_args_is_help=True,
)
app.add_typer(queue_app, name="queue")

TaskId = Annotated[int, typer.Argument(help="The task's number (socialcrm queue list).")]
MAX_COLUMN = 24  # a long queue or handle is cut, the text keeps the room


def _actor() -> queue.Actor:
    """The person at the terminal, by their login name; they hold the database, so may send."""
    # never a name they type: the audit log and the second approval rest on it
    who = getpass.getuser()
    return queue.Actor(name=f"cli:{who}", display=who, may_send=True)


def _act(action: str) -> None:
    out.print(action, markup=False, highlight=False)


@queue_app.command("list")
def list_(
    ctx: typer.Context,
    mine: Annotated[bool, typer.Option("--mine", help="Only tasks you claimed.")] = False,
    queue_name: Annotated[str | None, typer.Option("--queue", help="Only this queue.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed tasks too.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
) -> None:
    """Open tasks, most urgent first: priority, then the SLA due soonest."""
    db = _state(ctx).database()
    query = (
        select(models.Task, models.Mention.source, models.Mention.text, models.Author.handle)
        .join(models.Mention, models.Mention.id == models.Task.mention_id)
        .join(models.Author, models.Author.id == models.Task.author_id)
        .order_by(models.Task.priority, models.Task.sla_due_at, models.Task.id)
        .limit(limit)
    )
    if not all_:
        query = query.where(models.Task.state.in_([s.value for s in OPEN]))
    if mine:
        query = query.where(models.Task.assignee == _actor().name)
    if queue_name:
        query = query.where(models.Task.queue == queue_name)
    with db.transaction() as session:
        rows = session.execute(query).all()
    if not rows:
        out.print("no tasks", markup=False)
        return
    lines = [
        (
            f"#{task.id}",
            f"P{task.priority}",
            task.state,
            task.queue,
            task.assignee or "-",
            _due(task),
            f"{source}:{handle}",
            " ".join(text.split()),
        )
        for task, source, text, handle in rows
    ]
    header = ("#", "P", "state", "queue", "owner", "due", "author", "text")
    out.print(_columns([header, *lines], out.width), markup=False, highlight=False)


def _columns(rows: list[tuple[str, ...]], width: int) -> str:
    """Rows as aligned columns, each line cut to `width` (the last column takes what is left)."""
    widths = [min(MAX_COLUMN, max(len(row[i]) for row in rows)) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [_cut(cell, w).ljust(w) for cell, w in zip(row, widths, strict=False)]
        line = "  ".join([*cells, row[-1]])
        lines.append(_cut(line, width))
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _due(task: models.Task) -> str:
    """When the first response is due, relative: "in 3h", "overdue 20m", "-" for no SLA."""
    if task.sla_due_at is None:
        return "-"
    if task.sla_due_at < utcnow():
        return f"overdue {_ago(task.sla_due_at).removesuffix(' ago')}"
    return f"in {_ago(utcnow() - (task.sla_due_at - utcnow())).removesuffix(' ago')}"


@queue_app.command("show")
def show(ctx: typer.Context, task_id: TaskId) -> None:
    """One task: the conversation, labels, why it was routed, draft, notes."""
    db = _state(ctx).database()
    with db.transaction() as session:
        try:
            task = queue.task_row(session, task_id, lock=False)
        except queue.ActionError as error:
            raise fail(str(error)) from None
        mentions = session.execute(
            select(models.Mention.created_at, models.Mention.text, models.Mention.url)
            .join(models.TaskMention, models.TaskMention.mention_id == models.Mention.id)
            .where(models.TaskMention.task_id == task_id)
            .order_by(models.Mention.created_at)
        ).all()
        notes = session.scalars(
            select(models.TaskNote)
            .where(models.TaskNote.task_id == task_id)
            .order_by(models.TaskNote.id)
        ).all()
        lines = [
            f"task #{task.id} · {task.state} · priority {task.priority} · queue {task.queue}",
            f"owner: {task.assignee or '-'} · SLA due: {_due(task)}",
            f"why: {task.reason or '-'}",
            *(f"  {m.created_at:%Y-%m-%d %H:%M} {m.text} {m.url or ''}" for m in mentions),
            f"draft: {task.draft or '-'}",
            *(f"  note by {n.author}: {n.text}" for n in notes),
        ]
        if task.reply_url:
            lines.append(f"reply: {task.reply_url}")
    out.print("\n".join(lines), markup=False, highlight=False)


def _run(action: str, call: Callable[[], object]) -> None:
    try:
        call()
    except queue.ActionError as error:
        raise fail(str(error)) from None
    _act(action)


@queue_app.command("claim")
def claim(
    ctx: typer.Context,
    task_id: TaskId,
    take_over: Annotated[
        bool, typer.Option("--take-over", help="Take it from whoever claimed it.")
    ] = False,
) -> None:
    """Make the task yours."""
    db = _state(ctx).database()
    _run(f"task #{task_id} is yours", lambda: queue.claim(db, task_id, _actor(), take_over))


@queue_app.command("release")
def release(ctx: typer.Context, task_id: TaskId) -> None:
    """Give the task back to the team."""
    db = _state(ctx).database()
    _run(f"task #{task_id} released", lambda: queue.release(db, task_id, _actor()))


@queue_app.command("reply")
def reply(
    ctx: typer.Context,
    task_id: TaskId,
    text: Annotated[
        str | None, typer.Option("--text", help="The reply (default: the suggested one).")
    ] = None,
) -> None:
    """Write (or rewrite) the reply draft; nothing is posted until `queue send`."""
    state = _state(ctx)
    db = state.database()
    try:
        body = text or queue.suggested_reply(db, task_id, state.settings.engagement.templates)
        queue.save_draft(db, task_id, _actor(), body)
        _print_preview(queue.preview(db, task_id, state.settings))
    except queue.ActionError as error:
        raise fail(str(error)) from None


def _print_preview(preview: queue.Preview) -> None:
    lines = [
        f"will post on {preview.platform} as {preview.as_whom}",
        f"in reply to {preview.target_url or '(the mention has no link)'}:",
        "",
        preview.text,
        "",
        "needs a second person's approval (socialcrm queue approve)"
        if preview.needs_approval
        else "send it with: socialcrm queue send",
    ]
    out.print("\n".join(lines), markup=False, highlight=False)


@queue_app.command("approve")
def approve(ctx: typer.Context, task_id: TaskId) -> None:
    """Approve someone's draft for sending."""
    state = _state(ctx)
    db = state.database()
    _run(
        f"task #{task_id} approved",
        lambda: queue.approve(db, task_id, _actor(), state.settings),
    )


@queue_app.command("send")
def send(
    ctx: typer.Context,
    task_id: TaskId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
) -> None:
    """Post the draft publicly as the brand, after showing exactly what and where."""
    state = _state(ctx)
    db = state.database()
    try:
        _print_preview(queue.preview(db, task_id, state.settings))
    except queue.ActionError as error:
        raise fail(str(error)) from None
    if not yes and not typer.confirm("post this reply publicly now?"):
        raise fail("not sent")
    try:
        url = queue.send(
            db, task_id, _actor(), state.settings, queue.responders_for(state.settings)
        )
    except queue.ActionError as error:
        raise fail(str(error)) from None
    _act(f"task #{task_id} answered: {url or '(the platform gave no link)'}")


@queue_app.command("note")
def note(ctx: typer.Context, task_id: TaskId, text: str) -> None:
    """Add an internal note (never sent to the platform)."""
    db = _state(ctx).database()
    _run(f"note added to task #{task_id}", lambda: queue.add_note(db, task_id, _actor(), text))


@queue_app.command("dismiss")
def dismiss(
    ctx: typer.Context,
    task_id: TaskId,
    why: Annotated[str, typer.Option("--why", help="Why no reply is needed.")],
) -> None:
    """Close the task without a reply."""
    db = _state(ctx).database()
    _run(f"task #{task_id} dismissed", lambda: queue.dismiss(db, task_id, _actor(), why))


@queue_app.command("escalate")
def escalate(
    ctx: typer.Context,
    task_id: TaskId,
    why: Annotated[str, typer.Option("--why", help="Why it needs someone else.")],
) -> None:
    """Hand the task to the escalation queue, one priority up."""
    state = _state(ctx)
    db = state.database()
    target = state.settings.engagement.escalation_queue
    _run(
        f"task #{task_id} escalated to {target}",
        lambda: queue.escalate(db, task_id, _actor(), why, target),
    )
