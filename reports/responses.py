"""How staff answer: first response, resolution and SLA met per team and person; reply outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select
from sqlalchemy.orm import Session

from reports.sql import dialect_of, minutes_between
from reports.types import ReplyOutcomes, ResponseStats, ResponseTimes
from socialcrm import models

T = models.Task
UNASSIGNED = "(unassigned)"
OVERALL = "all"


def _met(until: datetime) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(met, judged) as 0/1 per task: judged once answered, or once its SLA passed unanswered."""
    answered_in_time = and_(T.first_response_at.is_not(None), T.first_response_at <= T.sla_due_at)
    judged = and_(
        T.sla_due_at.is_not(None), or_(T.first_response_at.is_not(None), T.sla_due_at < until)
    )
    return case((and_(judged, answered_in_time), 1), else_=0), case((judged, 1), else_=0)


def sla_counts(session: Session, since: datetime, until: datetime) -> tuple[int, int]:
    """Tasks opened in the window: how many met their SLA, of how many that can be judged."""
    met, judged = _met(until)
    found = session.execute(
        select(func.sum(met), func.sum(judged)).where(T.opened_at >= since, T.opened_at < until)
    ).one()
    return int(found[0] or 0), int(found[1] or 0)


def _stats(
    session: Session, since: datetime, until: datetime, group: Any | None
) -> list[ResponseStats]:
    """Figures per `group` (a column), or over all tasks of the window when None."""
    dialect = dialect_of(session)
    met, judged = _met(until)
    first = func.avg(minutes_between(T.opened_at, T.first_response_at, dialect))
    resolution = func.avg(minutes_between(T.opened_at, T.closed_at, dialect))
    name = literal_column(f"'{OVERALL}'") if group is None else group
    query = select(
        name,
        func.count(),
        func.count(T.first_response_at),
        first,
        resolution,
        func.sum(met),
        func.sum(judged),
    ).where(T.opened_at >= since, T.opened_at < until)
    if group is not None:
        query = query.group_by(group).order_by(group)
    found = session.execute(query).all()
    return [
        ResponseStats(
            name=str(name),
            tasks=int(tasks),
            answered=int(answered),
            first_response_minutes=None if mean_first is None else round(float(mean_first), 1),
            resolution_minutes=None if mean_close is None else round(float(mean_close), 1),
            sla_met_share=round(int(hits) / int(of), 4) if of else None,
        )
        for name, tasks, answered, mean_first, mean_close, hits, of in found
    ]


def response_times(session: Session, since: datetime, until: datetime) -> ResponseTimes:
    """First response, resolution (means, minutes) and SLA met % of tasks opened in the window."""
    overall = _stats(session, since, until, None)
    empty = ResponseStats(
        name=OVERALL,
        tasks=0,
        answered=0,
        first_response_minutes=None,
        resolution_minutes=None,
        sla_met_share=None,
    )
    return ResponseTimes(
        overall=overall[0] if overall and overall[0]["tasks"] else empty,
        by_queue=_stats(session, since, until, T.queue),
        by_person=_stats(session, since, until, func.coalesce(T.assignee, UNASSIGNED)),
    )


def reply_outcomes(session: Session, since: datetime, until: datetime) -> ReplyOutcomes:
    """Replies created in the window by state, and answered tasks by what the author did next."""
    R = models.Reply
    replies = session.execute(
        select(R.state, func.count())
        .where(R.created_at >= since, R.created_at < until)
        .group_by(R.state)
    ).all()
    outcome = func.coalesce(T.outcome, "pending")
    outcomes = session.execute(
        select(outcome, func.count())
        .where(
            T.reply_key.is_not(None),
            T.first_response_at >= since,
            T.first_response_at < until,
        )
        .group_by(outcome)
    ).all()
    return ReplyOutcomes(
        replies={str(state): int(count) for state, count in replies},
        outcomes={str(name): int(count) for name, count in outcomes},
    )
