"""What `socialcrm status` shows: source freshness and errors, queue depth, quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialcrm import models


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """The last run of one collector and its last success."""

    source: str
    enabled: bool
    last_run_at: datetime | None
    last_status: str | None
    last_success_at: datetime | None
    last_new: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class MentionVolume:
    """How many mentions one source holds and how fresh the newest is."""

    source: str
    count: int
    newest_at: datetime | None
    last_collected_at: datetime | None


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `status` prints."""

    sources: list[SourceHealth]
    volumes: list[MentionVolume]
    states: dict[str, int]
    open_tasks: int
    outbox: dict[str, int]
    quarantined: int
    recent_quarantine: list[models.QuarantinedItem]


def gather(session: Session, enabled: Sequence[str]) -> Report:
    """Read the status of a deployment; sources are the enabled ones and any that have run."""
    return Report(
        sources=_sources(session, enabled),
        volumes=_volumes(session),
        states=_counts(session, models.Mention.state),
        open_tasks=session.scalar(
            select(func.count()).where(models.Task.state.not_in(("sent", "dismissed")))
        )
        or 0,
        outbox=_counts(session, models.OutboxMessage.state),
        quarantined=session.scalar(select(func.count(models.QuarantinedItem.id))) or 0,
        recent_quarantine=list(
            session.scalars(
                select(models.QuarantinedItem).order_by(models.QuarantinedItem.id.desc()).limit(5)
            )
        ),
    )


def _counts(session: Session, column: object) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column))  # type: ignore[call-overload]
    return {str(key): int(count) for key, count in rows}


def _sources(session: Session, enabled: Sequence[str]) -> list[SourceHealth]:
    run = models.CollectorRun
    latest_ids = select(func.max(run.id)).group_by(run.source).scalar_subquery()
    latest = {r.source: r for r in session.scalars(select(run).where(run.id.in_(latest_ids)))}
    ok_runs = select(run.source, func.max(run.finished_at)).where(run.status == "ok")
    successes = {name: at for name, at in session.execute(ok_runs.group_by(run.source))}
    names = list(dict.fromkeys([*enabled, *sorted(latest)]))
    return [
        SourceHealth(
            source=name,
            enabled=name in enabled,
            last_run_at=latest[name].started_at if name in latest else None,
            last_status=latest[name].status if name in latest else None,
            last_success_at=successes.get(name),
            last_new=latest[name].items_new if name in latest else 0,
            last_error=latest[name].error if name in latest else None,
        )
        for name in names
    ]


def _volumes(session: Session) -> list[MentionVolume]:
    mention = models.Mention
    rows = session.execute(
        select(
            mention.source,
            func.count(mention.id),
            func.max(mention.created_at),
            func.max(mention.collected_at),
        )
        .group_by(mention.source)
        .order_by(mention.source)
    )
    return [
        MentionVolume(source, count, newest, collected) for source, count, newest, collected in rows
    ]
