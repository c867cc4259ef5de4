"""Read models for chat and the CLI: a task's card, the open queue, a customer card, stats."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_sync.profile import value_segments
from crm_sync.scoring import Segment
from engagement.cards import CustomerSummary, TaskView
from engagement.states import OPEN
from socialcrm import models
from socialcrm.settings import CrmSettings, Settings

OPEN_STATES = tuple(state.value for state in OPEN)


# value segments rank every customer: computed at most this often per database and settings
SEGMENTS_TTL = 600.0
_segments: dict[tuple[str, str, float, float], tuple[float, dict[int, Segment]]] = {}


def segments(session: Session, crm: CrmSettings) -> Mapping[int, Segment]:
    """Every customer's ABC value segment, recomputed at most every `SEGMENTS_TTL` seconds."""
    bind = session.get_bind()
    url = str(bind.engine.url)
    key = (url, crm.value_field, crm.segment_a_share, crm.segment_b_share)
    now = time.monotonic()
    cached = _segments.get(key)
    if cached is None or now - cached[0] > SEGMENTS_TTL:
        cached = _segments[key] = (now, value_segments(session, crm))
    return cached[1]


def label_fields(labels: models.Classification | None, lang: str | None) -> dict[str, Any]:
    """The classifier's labels as routing and cards take them; unlabelled counts as uncertain."""
    if labels is None:
        return {"intents": {}, "uncertain": True, "lang": lang}
    scores, sentiment = labels.sentiment_scores, labels.sentiment
    return {
        "sentiment": sentiment,
        "sentiment_confidence": float(scores[sentiment]) if sentiment in scores else None,
        "intents": {name: float(p) for name, p in labels.intents.items()},
        "needs_reply": labels.needs_reply,
        "uncertain": labels.uncertain,
        "lang": labels.lang,
    }


def is_vip(attributes: Mapping[str, Any], attribute: str) -> bool:
    """Whether the customer attribute that marks VIPs says yes ("yes", "true", 1, "vip")."""
    value = attributes.get(attribute)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y", "vip"}
    return bool(value)


def task_view(session: Session, task_id: int, settings: Settings) -> TaskView | None:
    """Everything the task's card shows; None when the task is gone."""
    found = task_views(session, [task_id], settings)
    return found[0] if found else None


def task_views(session: Session, task_ids: Sequence[int], settings: Settings) -> list[TaskView]:
    """The cards of `task_ids`, in that order (gone ones left out), in a fixed number of queries."""
    if not task_ids:
        return []
    rows = session.execute(
        select(models.Task, models.Mention, models.Author, models.Classification)
        .join(models.Mention, models.Mention.id == models.Task.mention_id)
        .join(models.Author, models.Author.id == models.Task.author_id)
        .outerjoin(models.Classification, models.Classification.mention_id == models.Mention.id)
        .where(models.Task.id.in_(task_ids))
    ).all()
    counts = _mention_counts(session, task_ids)
    people = {author.customer_id for _, _, author, _ in rows if author.customer_id is not None}
    customers = _customers(session, people, settings)
    found = {
        task.id: _view(
            (task, mention, author, labels),
            customers.get(author.customer_id) if author.customer_id is not None else None,
            counts.get(task.id) or 1,
            settings,
        )
        for task, mention, author, labels in rows
    }
    return [found[i] for i in task_ids if i in found]


def _mention_counts(session: Session, task_ids: Sequence[int]) -> dict[int, int]:
    """How many mentions each task's conversation has."""
    query = (
        select(models.TaskMention.task_id, func.count())
        .where(models.TaskMention.task_id.in_(task_ids))
        .group_by(models.TaskMention.task_id)
    )
    return {task_id: count for task_id, count in session.execute(query)}


_Rows = tuple[models.Task, models.Mention, models.Author, models.Classification | None]


def _view(
    rows: _Rows, customer: CustomerSummary | None, mention_count: int, settings: Settings
) -> TaskView:
    """A task's card from its rows, its customer and its conversation's size."""
    task, mention, author, labels = rows
    return TaskView(
        task_id=task.id,
        state=task.state,
        priority=task.priority,
        queue=task.queue,
        source=mention.source,
        text=mention.text,
        author_handle=author.handle,
        reason=task.reason,
        assignee=task.assignee,
        mention_url=mention.url,
        title=mention.title,
        author_name=author.display_name,
        followers=author.followers,
        customer=customer,
        **label_fields(labels, mention.lang),
        matched_query=mention.matched_query,
        sla_due_at=task.sla_due_at,
        sla_warned=task.sla_warned_at is not None,
        sla_breached=task.sla_breached_at is not None,
        reply_url=task.reply_url,
        draft=task.draft,
        approved_by=task.approved_by,
        mention_count=mention_count,
        needs_approval=settings.engagement.require_second_approval,
    )


def _customers(
    session: Session, customer_ids: Collection[int], settings: Settings
) -> dict[int, CustomerSummary]:
    """The summaries of some customers, by id, in three queries (plus the cached segments)."""
    if not customer_ids:
        return {}
    ids = list(customer_ids)
    mentions, open_tasks = _contacts(session, ids)
    ranked = segments(session, settings.crm)
    vip = settings.engagement.vip_attribute
    return {
        customer.id: CustomerSummary(
            id=customer.id,
            name=customer.display_name,
            segment=ranked.get(customer.id),
            vip=is_vip(customer.attributes, vip),
            mentions_total=mentions.get(customer.id, (0, None))[0],
            open_tasks=open_tasks.get(customer.id, 0),
            last_contact=mentions.get(customer.id, (0, None))[1],
        )
        for customer in session.scalars(select(models.Customer).where(models.Customer.id.in_(ids)))
    }


def _contacts(
    session: Session, customer_ids: list[int]
) -> tuple[dict[int, tuple[int, datetime | None]], dict[int, int]]:
    """Per customer: (mentions, the last one's time) and open tasks, over all their authors."""
    Author, Mention, Task = models.Author, models.Mention, models.Task
    mentions = session.execute(
        select(Author.customer_id, func.count(), func.max(Mention.created_at))
        .join(Mention, Mention.author_id == Author.id)
        .where(Author.customer_id.in_(customer_ids))
        .group_by(Author.customer_id)
    )
    open_tasks = session.execute(
        select(Author.customer_id, func.count())
        .join(Task, Task.author_id == Author.id)
        .where(Author.customer_id.in_(customer_ids), Task.state.in_(OPEN_STATES))
        .group_by(Author.customer_id)
    )
    return (
        {cid: (count, last) for cid, count, last in mentions if cid is not None},
        {cid: count for cid, count in open_tasks if cid is not None},
    )


def open_tasks(
    session: Session, settings: Settings, assignee: str | None = None, limit: int = 25
) -> list[TaskView]:
    """Open tasks (of `assignee`, or everyone's), most urgent first."""
    query = (
        select(models.Task.id)
        .where(models.Task.state.in_(OPEN_STATES))
        .order_by(models.Task.priority, models.Task.sla_due_at, models.Task.id)
        .limit(limit)
    )
    if assignee is not None:
        query = query.where(models.Task.assignee == assignee)
    return task_views(session, session.scalars(query).all(), settings)


def customer_card(session: Session, handle: str, settings: Settings) -> CustomerSummary | None:
    """The customer behind an author handle (any platform, with or without @)."""
    wanted = handle.strip().lstrip("@").lower()
    customer_id = session.scalar(
        select(models.Author.customer_id)
        .where(func.lower(models.Author.handle) == wanted, models.Author.customer_id.is_not(None))
        .limit(1)
    )
    return (
        None
        if customer_id is None
        else _customers(session, [customer_id], settings).get(customer_id)
    )


def stats(session: Session, now: datetime, days: int = 7) -> dict[str, Any]:
    """Queue numbers for /stats: open by state and queue, overdue, answered, response times."""
    since = now - timedelta(days=days)
    by_state = dict(
        session.execute(
            select(models.Task.state, func.count())
            .where(models.Task.state.in_(OPEN_STATES))
            .group_by(models.Task.state)
        ).all()
    )
    by_queue = dict(
        session.execute(
            select(models.Task.queue, func.count())
            .where(models.Task.state.in_(OPEN_STATES))
            .group_by(models.Task.queue)
        ).all()
    )
    overdue = session.scalar(
        select(func.count())
        .select_from(models.Task)
        .where(
            models.Task.state.in_(OPEN_STATES),
            models.Task.first_response_at.is_(None),
            models.Task.sla_due_at < now,
        )
    )
    answered = session.execute(
        select(models.Task.opened_at, models.Task.first_response_at, models.Task.sla_due_at).where(
            models.Task.first_response_at >= since
        )
    ).all()
    return {
        "open": sum(by_state.values()),
        "by_state": by_state,
        "by_queue": by_queue,
        "overdue": overdue or 0,
        "answered": len(answered),
        "median_first_response_minutes": _median_minutes(answered),
        "sla_met_share": _met(answered),
        "days": days,
    }


def _median_minutes(rows: Sequence[Any]) -> float | None:
    waits = [(r.first_response_at - r.opened_at).total_seconds() / 60 for r in rows]
    return round(median(waits), 1) if waits else None


def _met(rows: Sequence[Any]) -> float | None:
    judged = [r for r in rows if r.sla_due_at is not None]
    if not judged:
        return None
    return round(sum(1 for r in judged if r.first_response_at <= r.sla_due_at) / len(judged), 3)
