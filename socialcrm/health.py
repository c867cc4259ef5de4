"""Source health: kept current by every collect run; an alert is raised once per episode.

A source's alert opens when it is disabled (its settings or credentials were refused), when it
has had no successful run for its `alert_after_minutes` (failing, or not running at all), or
when its runs succeed but bring nothing new for that long (silent: a broken query looks so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialcrm import models, storage

DISABLED: Final = "disabled"
FAILING: Final = "failing"
SILENT: Final = "silent"


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one collect run of a source came to."""

    source: str
    status: str  # ok | error | config_error | rate_limited
    new: int = 0
    quarantined: int = 0
    error: str | None = None
    newest_item_at: datetime | None = None
    lag_seconds: float | None = None


def record_run(session: Session, outcome: RunOutcome, now: datetime) -> models.SourceHealth:
    """Fold one run into its source's health row, in the caller's transaction."""
    # insert-or-nothing, then lock: two runs of one source (`run` and `collect --once`) at once
    # neither collide on the first insert nor lose each other's counts
    session.execute(
        storage.upsert(session, models.SourceHealth.__table__)
        .values(
            source=outcome.source,
            status="ok",
            first_run_at=now,
            consecutive_failures=0,
            items_total=0,
            quarantined_total=0,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["source"])
    )
    row = session.scalars(
        select(models.SourceHealth)
        .where(models.SourceHealth.source == outcome.source)
        .with_for_update()
    ).one()
    row.last_run_at = row.updated_at = now
    row.items_total += outcome.new
    row.quarantined_total += outcome.quarantined
    if outcome.status == "ok":
        row.status, row.last_success_at, row.failing_since = "ok", now, None
        row.consecutive_failures, row.last_error = 0, None
        if outcome.new:
            row.last_new_at = now
    else:
        row.status = {"config_error": DISABLED, "rate_limited": "rate_limited"}.get(
            outcome.status, FAILING
        )
        row.failing_since = row.failing_since or now
        row.consecutive_failures += 1
        row.last_error = outcome.error
    if outcome.newest_item_at is not None and (
        row.newest_item_at is None or outcome.newest_item_at > row.newest_item_at
    ):
        row.newest_item_at = outcome.newest_item_at
    if outcome.lag_seconds is not None:
        row.lag_seconds = outcome.lag_seconds
    return row


def alert_for(row: models.SourceHealth, threshold: timedelta, now: datetime) -> str | None:
    """The alert `row` calls for now, if any: disabled, failing or silent."""
    if row.status == DISABLED:
        return DISABLED
    if now - (row.last_success_at or row.first_run_at) >= threshold:
        return FAILING
    if now - (row.last_new_at or row.first_run_at) >= threshold:
        return SILENT
    return None


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert that opened (`kind` set) or closed (`kind` None) for a source."""

    source: str
    kind: str | None
    previous: str | None
    message: str


def update_alerts(
    session: Session, thresholds: Mapping[str, timedelta], now: datetime
) -> list[AlertChange]:
    """Open and close the alerts of the given sources; return what changed, to log after commit."""
    rows = session.scalars(
        select(models.SourceHealth).where(models.SourceHealth.source.in_(list(thresholds)))
    )
    changes = []
    for row in rows:
        kind = alert_for(row, thresholds[row.source], now)
        if kind != row.alert:
            changes.append(AlertChange(row.source, kind, row.alert, _message(row, kind, now)))
            row.alert = kind
    return changes


def _message(row: models.SourceHealth, kind: str | None, now: datetime) -> str:
    if kind is None:
        return f"source {row.source} is healthy again"
    if kind == DISABLED:
        return f"source {row.source} is disabled until fixed: {row.last_error}"
    if kind == FAILING:
        since = row.last_success_at or row.first_run_at
        error = f": {row.last_error}" if row.last_error else ""
        return f"source {row.source} has not collected for {_ago(now - since)}{error}"
    since = row.last_new_at or row.first_run_at
    return f"source {row.source} has brought no new mention for {_ago(now - since)}"


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
