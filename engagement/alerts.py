"""Alerts: SLA warnings and breaches, source-health alerts, and spikes that open incidents."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from crm_sync.customers import audit
from engagement import notify, spikes
from engagement.states import OPEN
from socialcrm import models, storage
from socialcrm.health import AlertChange
from socialcrm.mention import utcnow
from socialcrm.settings import AlertsSettings, EngagementSettings, WatchSettings

log = logging.getLogger(__name__)

MAX_DRIVER_POSTS: Final = 5000  # enough to find the top terms of any real hour


class AcknowledgeError(Exception):
    """An incident that cannot be acknowledged; the message says why in one line."""


def sla_sweep(session: Session, now: datetime, settings: EngagementSettings) -> int:
    """Warn once when an unanswered task's SLA is near, alert once when it is breached."""
    task = models.Task
    horizon = now + timedelta(minutes=settings.sla_warn_minutes)
    query = (
        select(task)
        .where(
            task.state.in_([state.value for state in OPEN]),
            task.first_response_at.is_(None),
            task.sla_breached_at.is_(None),
            task.sla_due_at.is_not(None),
            task.sla_due_at <= horizon,
        )
        .order_by(task.sla_due_at, task.id)
        # a task someone is acting on right now is looked at by the next sweep
        .with_for_update(skip_locked=True)
    )
    queued = 0
    for row in session.scalars(query):
        due = row.sla_due_at
        if due is None:
            continue  # not selected; tells mypy
        episode = int(row.opened_at.timestamp())  # a reopened task is a new episode
        if due <= now:
            row.sla_breached_at = now
            key, text = f"sla-breach:{row.id}:{episode}", f"SLA breached: {_task(row)} was due"
        elif row.sla_warned_at is None and settings.sla_warn_minutes > 0:
            row.sla_warned_at = now
            key, text = f"sla-warn:{row.id}:{episode}", f"SLA due soon: {_task(row)} is due"
        else:
            continue
        text += f" {due:%Y-%m-%d %H:%M} UTC and has no reply yet"
        notify.queue_alert(session, key, row.queue, text, priority=row.priority, task_id=row.id)
        notify.queue_card(session, row.id, row.queue, row.priority)  # the card shows it too
        queued += 1
    return queued


def _task(row: models.Task) -> str:
    owner = f", claimed by {row.assignee}" if row.assignee else ", unclaimed"
    return f"task {row.id} (P{row.priority}, queue {row.queue}{owner})"


def source_alerts(
    session: Session, changes: Sequence[AlertChange], queue: str, now: datetime | None = None
) -> None:
    """One chat alert per source-health alert that opened or closed."""
    stamp = int((now or utcnow()).timestamp())
    for change in changes:
        # `update_alerts` reports each change once per episode, in the transaction that makes it
        key = f"source:{change.source}:{change.kind or 'ok'}:{stamp}"
        opened = change.kind is not None
        text = ("⚠ " if opened else "✓ ") + change.message
        notify.queue_alert(session, key, queue, text, priority=2 if opened else 4)


def spike_sweep(
    session: Session, now: datetime, alerts: AlertsSettings, watch: WatchSettings
) -> list[int]:
    """Judge each query's last hour against the same hours before; open incidents for spikes."""
    if not alerts.spikes:
        return []
    windows = spikes.same_hours(now, alerts.spike_weeks)
    current = _counts(session, windows[0])
    if not current:
        return []
    # weeks that ended before the first mention we hold were not listened to: they are no zero
    listening_since = session.scalar(select(func.min(models.Mention.created_at)))
    history = [
        _counts(session, window, list(current))
        for window in windows[1:]
        if listening_since is not None and listening_since < window[1]
    ]
    opened = []
    for query, (volume, negatives) in sorted(current.items()):
        past = [counts.get(query, (0, 0)) for counts in history]
        spike = spikes.judge(volume, negatives, past, alerts.spike_k, alerts.spike_min_volume)
        if spike is None:
            continue
        incident_id = _open_incident(session, query, windows[0], spike, past, watch, now)
        if incident_id is not None:
            notify.queue_incident(session, incident_id, alerts.queue)
            opened.append(incident_id)
    return opened


Window = tuple[datetime, datetime]


def _in_window(window: Window) -> list[ColumnElement[bool]]:
    mention = models.Mention
    return [mention.created_at >= window[0], mention.created_at < window[1]]


def _counts(
    session: Session, window: Window, queries: list[str] | None = None
) -> dict[str, tuple[int, int]]:
    """Volume and negatives per matched query in `window` (of `queries`, when given)."""
    mention, label = models.Mention, models.Classification
    negative = func.count(label.sentiment).filter(label.sentiment == "negative")
    query = (
        select(mention.matched_query, func.count(), negative)
        .outerjoin(label, label.mention_id == mention.id)
        .where(mention.matched_query.is_not(None), *_in_window(window))
        .group_by(mention.matched_query)
    )
    if queries is not None:
        query = query.where(mention.matched_query.in_(queries))
    rows = session.execute(query)
    return {str(name): (int(volume), int(negatives)) for name, volume, negatives in rows}


def _open_incident(
    session: Session,
    query: str,
    window: Window,
    spike: spikes.Spike,
    history: list[tuple[int, int]],
    watch: WatchSettings,
    now: datetime,
) -> int | None:
    """Insert the incident of `query` in `window` unless it is open already; its id if new."""
    incident = models.Incident
    known = select(incident.id).where(incident.query == query, incident.window_start == window[0])
    if session.scalar(known) is not None:
        return None  # judged by an earlier sweep of the same hour
    drivers = spikes.drivers(_driver_posts(session, query, window), _own_terms(query, watch))
    stmt = storage.upsert(session, incident.__table__).values(
        query=query,
        window_start=window[0],
        kind=spike.kind,
        volume=spike.volume,
        negatives=spike.negatives,
        baseline=spike.baseline() | {"history": [list(week) for week in history]},
        drivers=drivers,
        opened_at=now,
    )
    inserted = session.scalar(
        stmt.on_conflict_do_nothing(index_elements=["query", "window_start"]).returning(incident.id)
    )
    if inserted is not None:
        log.warning("spike (%s) in %s: incident %s opened", spike.kind, query, inserted)
    return inserted


def _driver_posts(session: Session, query: str, window: Window) -> list[spikes.DriverPost]:
    mention, label, author = models.Mention, models.Classification, models.Author
    rows = session.execute(
        select(mention.title, mention.text, label.sentiment, mention.url, author.followers)
        .join(author, author.id == mention.author_id)
        .outerjoin(label, label.mention_id == mention.id)
        .where(mention.matched_query == query, *_in_window(window))
        .order_by(mention.id)
        .limit(MAX_DRIVER_POSTS)
    )
    return [
        spikes.DriverPost(
            text=f"{title}\n{text}" if title else text,
            sentiment=sentiment,
            url=url,
            reach=followers or 0,
        )
        for title, text, sentiment, url, followers in rows
    ]


def _own_terms(query: str, watch: WatchSettings) -> list[str]:
    """The query's own words and the brand's: every post of the spike contains them."""
    _, _, term = query.partition(":")
    return [term or query, *watch.brand]


def acknowledge(session: Session, incident_id: int, actor: str) -> models.Incident:
    """Mark the incident acknowledged by `actor` (once), audit it and update its message."""
    incident = session.scalars(
        select(models.Incident).where(models.Incident.id == incident_id).with_for_update()
    ).one_or_none()
    if incident is None:
        raise AcknowledgeError(f"no incident #{incident_id}")
    if incident.acknowledged_at is not None:
        raise AcknowledgeError(
            f"incident #{incident_id} was already acknowledged by {incident.acknowledged_by}"
        )
    incident.acknowledged_at, incident.acknowledged_by = utcnow(), actor
    waited = time_to_acknowledge(incident)
    after: dict[str, Any] = {"acknowledged_at": incident.acknowledged_at.isoformat()}
    if waited is not None:
        after["seconds_to_acknowledge"] = round(waited.total_seconds())
    audit(session, actor, "incident.acknowledge", ("incident", incident_id), {}, after)
    message = models.ChatMessage
    queue = session.scalar(select(message.queue).where(message.key == f"incident:{incident_id}"))
    if queue is not None:
        notify.queue_incident(session, incident_id, queue)
    return incident


def time_to_acknowledge(incident: models.Incident) -> timedelta | None:
    """How long the incident waited for someone to acknowledge it (None: still waiting)."""
    if incident.acknowledged_at is None:
        return None
    return incident.acknowledged_at - incident.opened_at
