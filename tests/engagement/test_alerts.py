"""SLA warnings and breaches, source-health alerts, spikes opening incidents, acknowledging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engagement import alerts, notify
from engagement.alerts import AcknowledgeError, acknowledge, sla_sweep, source_alerts, spike_sweep
from engagement.cards import ChatContent
from socialcrm import health, models
from socialcrm.db import Database
from socialcrm.mention import Author, Mention
from socialcrm.settings import AlertsSettings, EngagementSettings, WatchSettings
from tests.engagement.fakes import (
    NOW,
    FakeNotifier,
    chat_row,
    chat_rows,
    label,
    make_task,
    save_mentions,
)

ENGAGEMENT = EngagementSettings(sla_warn_minutes=30)
ALERTS = AlertsSettings(spike_k=3.0, spike_weeks=4, spike_min_volume=10, queue="alerts")
WATCH = WatchSettings(brand=["inkwell"])
# 10:20 on a Tuesday: the window judged is 09:00-10:00, against the same hour of 4 weeks before
SWEEP = datetime(2026, 11, 24, 10, 20, tzinfo=UTC)
HOUR = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def task_state(db: Database, task_id: int) -> models.Task:
    """The task row (detached)."""
    with db.transaction() as session:
        task = session.get_one(models.Task, task_id)
        session.expunge(task)
    return task


def sweep(db: Database, now: datetime, settings: EngagementSettings = ENGAGEMENT) -> int:
    """One SLA sweep in its own transaction."""
    with db.transaction() as session:
        return sla_sweep(session, now, settings)


def test_sla_warns_once_then_alerts_once_on_breach(db: Database) -> None:
    task = make_task(db, 1, sla_due_at=NOW + timedelta(minutes=20))
    assert sweep(db, NOW) == 1
    assert sweep(db, NOW + timedelta(minutes=5)) == 0
    assert task_state(db, task).sla_warned_at == NOW
    episode = int(NOW.timestamp())
    warn = chat_row(db, f"alert:sla-warn:{task}:{episode}")
    assert warn.payload["text"] == (
        f"SLA due soon: task {task} (P3, queue support, unclaimed) is due 2026-11-03 10:20 UTC"
        " and has no reply yet"
    )
    assert (warn.queue, warn.task_id, warn.priority) == ("support", task, 3)
    assert chat_row(db, f"task:{task}").version == 1  # the card shows the warning
    breach_at = NOW + timedelta(minutes=21)
    assert sweep(db, breach_at) == 1
    assert sweep(db, breach_at + timedelta(hours=1)) == 0
    assert task_state(db, task).sla_breached_at == breach_at
    assert (
        chat_row(db, f"alert:sla-breach:{task}:{episode}")
        .payload["text"]
        .startswith(f"SLA breached: task {task} (P3, queue support, unclaimed) was due")
    )
    assert chat_row(db, f"task:{task}").version == 2


def test_sla_sweep_leaves_answered_closed_and_distant_tasks_alone(db: Database) -> None:
    past = NOW - timedelta(minutes=5)
    make_task(db, 1, sla_due_at=NOW + timedelta(hours=2))
    make_task(db, 2, sla_due_at=past, state="sent")
    make_task(db, 3, sla_due_at=past, state="dismissed")
    make_task(db, 4, sla_due_at=None)
    answered = make_task(db, 5, sla_due_at=past, state="claimed")
    with db.transaction() as session:
        session.get_one(models.Task, answered).first_response_at = NOW - timedelta(minutes=10)
    assert sweep(db, NOW) == 0
    assert chat_rows(db) == []


def test_a_task_found_past_due_is_breached_without_a_warning(db: Database) -> None:
    task = make_task(db, 1, sla_due_at=NOW - timedelta(minutes=1), state="claimed")
    assert sweep(db, NOW) == 1
    row = task_state(db, task)
    assert (row.sla_warned_at, row.sla_breached_at) == (None, NOW)
    assert [r.key for r in chat_rows(db) if r.kind == "alert"] == [
        f"alert:sla-breach:{task}:{int(NOW.timestamp())}"
    ]


def test_no_warnings_when_warn_minutes_is_zero(db: Database) -> None:
    make_task(db, 1, sla_due_at=NOW + timedelta(minutes=1))
    assert sweep(db, NOW, EngagementSettings(sla_warn_minutes=0)) == 0
    assert sweep(db, NOW + timedelta(minutes=2), EngagementSettings(sla_warn_minutes=0)) == 1


def test_a_reopened_task_is_a_new_episode(db: Database) -> None:
    task = make_task(db, 1, sla_due_at=NOW - timedelta(minutes=1))
    sweep(db, NOW)
    reopened = NOW + timedelta(days=1)
    with db.transaction() as session:
        row = session.get_one(models.Task, task)
        row.state, row.opened_at, row.sla_breached_at = "reopened", reopened, None
        row.sla_due_at = reopened + timedelta(minutes=10)
    assert sweep(db, reopened) == 1
    assert chat_row(db, f"alert:sla-warn:{task}:{int(reopened.timestamp())}").kind == "alert"


def test_source_health_alerts_once_per_episode(db: Database) -> None:
    start, threshold = NOW, {"reddit": timedelta(hours=2)}
    moments = [start + timedelta(hours=3), start + timedelta(hours=4), start + timedelta(hours=5)]
    with db.transaction() as session:
        health.record_run(session, health.RunOutcome("reddit", "error", error="HTTP 503"), start)
    for index, moment in enumerate(moments):
        with db.transaction() as session:
            if index == 2:
                health.record_run(session, health.RunOutcome("reddit", "ok", new=1), moment)
            source_alerts(
                session, health.update_alerts(session, threshold, moment), "alerts", moment
            )
    rows = chat_rows(db)
    assert [(r.key, r.queue, r.priority) for r in rows] == [
        (f"alert:source:reddit:failing:{int(moments[0].timestamp())}", "alerts", 2),
        (f"alert:source:reddit:ok:{int(moments[2].timestamp())}", "alerts", 4),
    ]
    assert rows[0].payload["text"] == "⚠ source reddit has not collected for 3 h 0 min: HTTP 503"
    assert rows[1].payload["text"] == "✓ source reddit is healthy again"


def post(
    number: int, at: datetime, text: str, query: str = "brand:inkwell", reach: int = 0
) -> Mention:
    """A mention of `query` at `at`."""
    return Mention(
        source="reddit",
        source_id=f"s{number}",
        text=text,
        created_at=at,
        author=Author(handle=f"user{number}", followers=reach),
        url=f"https://reddit.example/{number}",
        matched_query=query,
    )


def history(db: Database, weeks: int = 4, per_week: int = 4, start: int = 1000) -> None:
    """A steady `per_week` mentions in the judged hour of each earlier week, one negative."""
    number = start
    for week in range(1, weeks + 1):
        at = HOUR - timedelta(weeks=week) + timedelta(minutes=10)
        for index in range(per_week):
            (mention_id,) = save_mentions(db, post(number, at, "inkwell pens are fine"))
            label(db, mention_id, "negative" if index == 0 else "neutral")
            number += 1


def burst(db: Database, count: int = 30, negatives: int = 24) -> None:
    """`count` mentions in the judged hour, most of them angry about refunds."""
    for number in range(count):
        text = "inkwell refund broken" if number < negatives else "inkwell new colours"
        at = HOUR + timedelta(minutes=number % 60)
        (mention_id,) = save_mentions(db, post(number, at, text, reach=number * 10))
        label(db, mention_id, "negative" if number < negatives else "positive")


def spike(db: Database, now: datetime = SWEEP, settings: AlertsSettings = ALERTS) -> list[int]:
    """One spike sweep in its own transaction."""
    with db.transaction() as session:
        return spike_sweep(session, now, settings, WATCH)


def incident_row(db: Database, incident_id: int) -> models.Incident:
    """The incident (detached)."""
    with db.transaction() as session:
        row = session.get_one(models.Incident, incident_id)
        session.expunge(row)
    return row


def test_a_spike_opens_an_incident_with_its_drivers(db: Database) -> None:
    history(db)
    burst(db)
    (incident_id,) = spike(db)
    row = incident_row(db, incident_id)
    assert (row.query, row.window_start, row.kind) == ("brand:inkwell", HOUR, "volume+negative")
    assert (row.volume, row.negatives) == (30, 24)
    assert row.baseline["weeks"] == 4
    assert row.baseline["mean"] == 4.0
    assert row.baseline["history"] == [[4, 1]] * 4
    terms = dict((term, count) for term, count in row.drivers["terms"])
    assert terms["refund"] == 24
    assert "inkwell" not in terms  # every post has the query's own term
    assert [post["reach"] for post in row.drivers["posts"]] == [290, 280, 270, 260, 250]
    assert row.drivers["sentiment"] == {"negative": 24, "neutral": 0, "positive": 6}
    message = chat_row(db, f"incident:{incident_id}")
    assert (message.kind, message.queue, message.priority, message.incident_id) == (
        "incident", "alerts", 1, incident_id,
    )  # fmt: skip


def test_the_same_hour_is_judged_once(db: Database) -> None:
    history(db)
    burst(db)
    assert len(spike(db)) == 1
    assert spike(db) == []
    assert spike(db, SWEEP + timedelta(minutes=15)) == []


def test_steady_volume_is_no_spike(db: Database) -> None:
    history(db, per_week=12)
    burst(db, count=12, negatives=3)
    assert spike(db) == []


def test_nothing_to_compare_with_is_no_spike(db: Database) -> None:
    burst(db)  # the first hour we ever listened
    assert spike(db) == []


def test_weeks_before_we_listened_are_left_out(db: Database) -> None:
    history(db, weeks=2)
    burst(db)
    (incident_id,) = spike(db)
    assert incident_row(db, incident_id).baseline["weeks"] == 2


def test_spikes_switched_off(db: Database) -> None:
    history(db)
    burst(db)
    assert spike(db, settings=AlertsSettings(spikes=False)) == []


def test_acknowledge_once_with_time_to_acknowledge(db: Database) -> None:
    history(db)
    burst(db)
    (incident_id,) = spike(db)
    with db.transaction() as session:
        acknowledged = acknowledge(session, incident_id, "cli:ana")
        waited = alerts.time_to_acknowledge(acknowledged)
    assert acknowledged.acknowledged_by == "cli:ana"
    assert waited is not None
    assert waited >= timedelta(0)
    assert chat_row(db, f"incident:{incident_id}").version == 2
    with db.transaction() as session:
        entry = session.scalars(
            select(models.AuditEntry).where(models.AuditEntry.subject_type == "incident")
        ).one()
        assert (entry.actor, entry.action, entry.subject_id) == (
            "cli:ana", "incident.acknowledge", str(incident_id),
        )  # fmt: skip
        assert entry.after is not None
        assert "seconds_to_acknowledge" in entry.after
    with (
        pytest.raises(AcknowledgeError, match="already acknowledged by cli:ana"),
        db.transaction() as session,
    ):
        acknowledge(session, incident_id, "cli:bo")
    with pytest.raises(AcknowledgeError, match="no incident #999"), db.transaction() as session:
        acknowledge(session, 999, "cli:bo")


def test_unacknowledged_incident_has_no_time_to_acknowledge() -> None:
    incident = models.Incident(query="q", window_start=HOUR, kind="volume", volume=1, negatives=0)
    assert alerts.time_to_acknowledge(incident) is None


def test_incident_message_is_posted_then_edited_on_acknowledge(db: Database) -> None:
    history(db)
    burst(db)
    (incident_id,) = spike(db)
    render = notify.renderer(lambda _session, _task: ChatContent(content="unused"))
    notifier = FakeNotifier()

    def deliver() -> notify.DispatchResult:
        return notify.dispatch(db, notifier, render, lambda _queue: "555555555555555555")

    assert deliver() == notify.DispatchResult(posted=1)
    (posted,) = notifier.posts
    assert posted.content.buttons[0].disabled is False
    with db.transaction() as session:
        acknowledge(session, incident_id, "cli:ana")
    assert deliver() == notify.DispatchResult(edited=1)
    (edited,) = notifier.edits
    assert edited.message_id == posted.message_id
    assert (edited.content.buttons[0].label, edited.content.buttons[0].disabled) == (
        "Acknowledged by cli:ana", True,
    )  # fmt: skip
