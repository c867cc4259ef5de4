"""Read models: value segments computed once per interval, queue stats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engagement import queue, views
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import Settings
from tests.engagement.builders import FakeResponder, post, responders, route, store

SETTINGS = Settings()
ANA = queue.Actor("discord:1", "ana", may_send=True)


def _customer(db: Database, revenue: float) -> int:
    with db.transaction() as session:
        row = models.Customer(display_name="c", attributes={"revenue": revenue})
        session.add(row)
        session.flush()
        return row.id


def test_segments_are_ranked_once_per_interval(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    big, small = _customer(db, 900), _customer(db, 100)
    with db.transaction() as session:
        assert views.segments(session, SETTINGS.crm) == {big: "A", small: "B"}
    bigger = _customer(db, 5000)
    with db.transaction() as session:
        assert bigger not in views.segments(session, SETTINGS.crm)  # the ranking is cached
    monkeypatch.setattr(views, "SEGMENTS_TTL", -1.0)
    with db.transaction() as session:
        assert views.segments(session, SETTINGS.crm)[bigger] == "A"


def test_stats_count_open_overdue_and_answered_tasks(db: Database) -> None:
    store(db, post(1), "negative", complaint=0.9)
    store(db, post(2, handle="bea", thread="t2"), "neutral", question=0.9)
    route(db)
    queue.save_draft(db, 1, ANA, "sorry")
    queue.send(db, 1, ANA, SETTINGS, responders(FakeResponder()))
    with db.transaction() as session:
        numbers = views.stats(session, utcnow() + timedelta(hours=1))
    assert numbers["open"] == 1
    assert numbers["by_queue"] == {"support": 1}
    assert numbers["overdue"] == 1  # the question's SLA passed long ago
    assert numbers["answered"] == 1
    assert numbers["sla_met_share"] == 0.0  # answered weeks after it was due
    assert numbers["median_first_response_minutes"] > 60
