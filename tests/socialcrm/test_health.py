"""Source health: runs fold into one row per source; alerts open once and close on recovery."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from socialcrm import health, models
from socialcrm.db import Database

T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _row(**values: object) -> models.SourceHealth:
    defaults: dict[str, object] = {
        "source": "reddit",
        "status": "ok",
        "first_run_at": T0,
        "last_success_at": T0,
        "last_new_at": T0,
    }
    return models.SourceHealth(**{**defaults, **values})


def test_a_fresh_healthy_source_has_no_alert() -> None:
    assert health.alert_for(_row(), HOUR, T0 + timedelta(minutes=59)) is None


def test_no_successful_run_for_the_threshold_is_failing() -> None:
    row = _row(status="failing", last_success_at=T0, last_new_at=T0)
    assert health.alert_for(row, HOUR, T0 + HOUR) == health.FAILING


def test_a_source_that_never_succeeded_counts_from_its_first_run() -> None:
    row = _row(status="failing", last_success_at=None, last_new_at=None)
    assert health.alert_for(row, HOUR, T0 + timedelta(minutes=30)) is None
    assert health.alert_for(row, HOUR, T0 + 2 * HOUR) == health.FAILING


def test_successful_runs_without_anything_new_are_silent() -> None:
    row = _row(last_success_at=T0 + 2 * HOUR, last_new_at=T0)
    assert health.alert_for(row, HOUR, T0 + 2 * HOUR) == health.SILENT


def test_disabled_alerts_at_once() -> None:
    assert health.alert_for(_row(status="disabled"), HOUR, T0) == health.DISABLED


def test_runs_fold_into_the_health_row(db: Database) -> None:
    with db.transaction() as session:
        health.record_run(session, health.RunOutcome("hn", "ok", new=3, lag_seconds=40.0), T0)
        health.record_run(session, health.RunOutcome("hn", "error", error="HTTP 503"), T0 + HOUR)
        health.record_run(
            session,
            health.RunOutcome("hn", "error", quarantined=2, error="HTTP 503"),
            T0 + 2 * HOUR,
        )
    with db.transaction() as session:
        row = session.get(models.SourceHealth, "hn")
        assert row is not None
        assert (row.status, row.consecutive_failures, row.failing_since) == (
            "failing",
            2,
            T0 + HOUR,
        )
        assert (row.items_total, row.quarantined_total, row.lag_seconds) == (3, 2, 40.0)
        assert (row.last_success_at, row.last_new_at, row.last_error) == (T0, T0, "HTTP 503")


def test_alerts_open_once_and_close(db: Database) -> None:
    with db.transaction() as session:
        health.record_run(session, health.RunOutcome("hn", "ok", new=1), T0)
    thresholds = {"hn": HOUR}
    with db.transaction() as session:
        opened = health.update_alerts(session, thresholds, T0 + 3 * HOUR)
    with db.transaction() as session:
        again = health.update_alerts(session, thresholds, T0 + 4 * HOUR)
    assert [(c.kind, c.message) for c in opened] == [
        ("failing", "source hn has not collected for 3 h 0 min")
    ]
    assert again == []
    with db.transaction() as session:
        health.record_run(session, health.RunOutcome("hn", "ok", new=2), T0 + 5 * HOUR)
        closed = health.update_alerts(session, thresholds, T0 + 5 * HOUR)
    assert [(c.kind, c.previous) for c in closed] == [(None, "failing")]


def test_a_second_first_run_waits_for_the_first_instead_of_colliding(db: Database) -> None:
    errors: list[BaseException] = []

    def second_run() -> None:
        try:
            with db.transaction() as session:
                health.record_run(session, health.RunOutcome("hn", "ok", new=5), T0)
        except BaseException as error:
            errors.append(error)

    with db.transaction() as session:
        health.record_run(session, health.RunOutcome("hn", "ok", new=5), T0)
        thread = threading.Thread(target=second_run)
        thread.start()
        _until_someone_waits_for_a_lock(db, session)
    thread.join(timeout=30)
    assert errors == []
    with db.transaction() as session:
        row = session.get(models.SourceHealth, "hn")
        assert row is not None
        assert row.items_total == 10


def _until_someone_waits_for_a_lock(db: Database, holder: Session) -> None:
    """On PostgreSQL, wait until the other transaction is blocked behind `holder`'s row lock."""
    if db.dialect != "postgresql":
        return  # SQLite writers queue on BEGIN IMMEDIATE; there is nothing to race
    ours = holder.scalar(text("SELECT pg_backend_pid()"))
    deadline = time.monotonic() + 10
    with db.engine.connect() as probe:
        query = text("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> :ours")
        while not probe.scalar(query, {"ours": ours}) and time.monotonic() < deadline:
            time.sleep(0.01)
