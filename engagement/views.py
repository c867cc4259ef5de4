"""Read models for chat and the CLI: a task's card, the open queue, a customer card, stats."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
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
    row = session.execute(
        select(models.Task, models.Mention, models.Author, models.Classification)
        .join(models.Mention, models.Mention.id == models.Task.mention_id)
        .join(models.Author, models.Author.id == models.Task.author_id)
        .outerjoin(models.Classification, models.Classification.mention_id == models.Mention.id)
        .where(models.Task.id == task_id)
    ).one_or_none()
    if row is None:
        return None
    task, mention, author, labels = row
    count = session.scalar(
        select(func.count())
        .select_from(models.TaskMention)
        .where(models.TaskMention.task_id == task_id)
    )
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
        customer=_customer(session, author.customer_id, settings),
        **label_fields(labels, mention.lang),
        matched_query=mention.matched_query,
        sla_due_at=task.sla_due_at,
        sla_warned=task.sla_warned_at is not None,
        sla_breached=task.sla_breached_at is not None,
        reply_url=task.reply_url,
        draft=task.draft,
        approved_by=task.approved_by,
        mention_count=count or 1,
        needs_approval=settings.engagement.require_second_approval,
    )


def _customer(
    session: Session, customer_id: int | None, settings: Settings
) -> CustomerSummary | None:
    if customer_id is None:
        return None
    customer = session.get(models.Customer, customer_id)
    if customer is None:
        return None
    authors = select(models.Author.id).where(models.Author.customer_id == customer_id)
    mentions, last = session.execute(
        select(func.count(), func.max(models.Mention.created_at)).where(
            models.Mention.author_id.in_(authors)
        )
    ).one()
    open_tasks = session.scalar(
        select(func.count())
        .select_from(models.Task)
        .where(models.Task.author_id.in_(authors), models.Task.state.in_(OPEN_STATES))
    )
    return CustomerSummary(
        id=customer.id,
        name=customer.display_name,
        segment=segments(session, settings.crm).get(customer.id),
        vip=is_vip(customer.attributes, settings.engagement.vip_attribute),
        mentions_total=mentions or 0,
        open_tasks=open_tasks or 0,
        last_contact=last,
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
    views = (task_view(session, task_id, settings) for task_id in session.scalars(query))
    return [view for view in views if view is not None]


def customer_card(session: Session, handle: str, settings: Settings) -> CustomerSummary | None:
    """The customer behind an author handle (any platform, with or without @)."""
    wanted = handle.strip().lstrip("@").lower()
    customer_id = session.scalar(
        select(models.Author.customer_id)
        .where(func.lower(models.Author.handle) == wanted, models.Author.customer_id.is_not(None))
        .limit(1)
    )
    return _customer(session, customer_id, settings)


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
