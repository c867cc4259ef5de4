"""What `socialcrm status` shows: source freshness and errors, queue depth, quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialcrm import models

RECENT_QUARANTINE = 10


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How one source is doing: its health row (None if it never ran) and whether it is on."""

    source: str
    enabled: bool
    health: models.SourceHealth | None


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

    sources: list[SourceStatus]
    volumes: list[MentionVolume]
    states: dict[str, int]
    open_tasks: int
    outbox: dict[str, int]
    quarantined: dict[str, int]
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
        quarantined=_counts(session, models.QuarantinedItem.source),
        recent_quarantine=list(
            session.scalars(
                select(models.QuarantinedItem)
                .order_by(models.QuarantinedItem.id.desc())
                .limit(RECENT_QUARANTINE)
            )
        ),
    )


def _counts(session: Session, column: object) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column))  # type: ignore[call-overload]
    return {str(key): int(count) for key, count in rows}


def _sources(session: Session, enabled: Sequence[str]) -> list[SourceStatus]:
    rows = {row.source: row for row in session.scalars(select(models.SourceHealth))}
    names = list(dict.fromkeys([*enabled, *sorted(rows)]))
    return [SourceStatus(name, name in enabled, rows.get(name)) for name in names]


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
