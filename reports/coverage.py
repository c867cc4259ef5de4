"""Coverage: when each source was failing, rate-limited or not configured, so that a gap in a
chart is never mistaken for silence.

Runs of one source are grouped into episodes of the same kind in SQL (window functions); an
episode lasts from its first run to the first run of the next episode (or the window's end).
The state at the window's start is the source's last run before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import Session

from reports.types import CoverageGap
from socialcrm import models

R = models.CollectorRun
OK = "ok"
# collector_runs.status -> the kind of gap it means (anything else unknown counts as failing)
KINDS = {"ok": OK, "rate_limited": "rate_limited", "config_error": "not_configured"}
FAILING = "failing"
NOT_CONFIGURED = "not_configured"


def _kind(status: Any) -> Any:
    whens = [(status == status_name, kind) for status_name, kind in KINDS.items()]
    return case(*whens, else_=FAILING)


def _runs(since: datetime, until: datetime) -> Any:
    """Finished runs in the window, and each source's last finished run before it (at `since`)."""
    finished = R.status != "running"
    inside = select(
        R.source.label("source"),
        R.started_at.label("at"),
        R.id.label("id"),
        _kind(R.status).label("kind"),
        R.error.label("error"),
    ).where(finished, R.started_at >= since, R.started_at < until)
    last = (
        select(R.source, func.max(R.started_at).label("at"))
        .where(finished, R.started_at < since)
        .group_by(R.source)
        .subquery("last")
    )
    before = (
        select(
            R.source.label("source"),
            literal(since, R.started_at.type).label("at"),
            R.id.label("id"),
            _kind(R.status).label("kind"),
            R.error.label("error"),
        )
        .join(last, (last.c.source == R.source) & (last.c.at == R.started_at))
        .where(finished)
    )
    return union_all(before, inside).subquery("runs")


def _episodes(session: Session, since: datetime, until: datetime) -> list[Any]:
    runs = _runs(since, until)
    order = (runs.c.at, runs.c.id)
    previous = func.lag(runs.c.kind).over(partition_by=runs.c.source, order_by=order)
    marked = select(runs, previous.label("previous")).subquery("marked")
    changed = case((marked.c.previous.is_distinct_from(marked.c.kind), 1), else_=0)
    episode = func.sum(changed).over(
        partition_by=marked.c.source, order_by=(marked.c.at, marked.c.id)
    )
    numbered = select(marked, episode.label("episode")).subquery("numbered")
    grouped = (
        select(
            numbered.c.source,
            numbered.c.episode,
            func.min(numbered.c.kind).label("kind"),
            func.min(numbered.c.at, type_=R.started_at.type).label("start"),
            func.max(numbered.c.error).label("error"),
        )
        .group_by(numbered.c.source, numbered.c.episode)
        .subquery("grouped")
    )
    following = func.lead(grouped.c.start, type_=R.started_at.type).over(
        partition_by=grouped.c.source, order_by=grouped.c.start
    )
    return list(
        session.execute(
            select(
                grouped.c.source, grouped.c.kind, grouped.c.start, following, grouped.c.error
            ).order_by(grouped.c.source, grouped.c.start)
        ).all()
    )


def coverage(
    session: Session, since: datetime, until: datetime, sources: Sequence[str] = ()
) -> list[CoverageGap]:
    """When each source was failing, rate-limited or not configured within [since, until).

    `sources` are those expected to run (enabled in settings); one with no run at all up to the
    window's end counts as not configured for all of it.
    """
    gaps: list[CoverageGap] = []
    seen: set[str] = set()
    for source, kind, start, end, error in _episodes(session, since, until):
        seen.add(source)
        if kind == OK:
            continue
        start = max(_aware(start), since)
        stop = min(_aware(end), until) if end is not None else until
        if start < stop:
            gaps.append(CoverageGap(source=source, status=kind, start=start, end=stop, error=error))
    for source in sources:
        if source not in seen:
            gaps.append(
                CoverageGap(
                    source=source, status=NOT_CONFIGURED, start=since, end=until, error=None
                )
            )
    return sorted(gaps, key=lambda gap: (gap["source"], gap["start"]))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
