"""Scheduler: jobs from settings with explicit ids and safe defaults; minimum intervals hold."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select, update

from collectors.base import RateLimitedError, SourceAuthError
from collectors.demo import DemoCollector
from socialcrm import models, pipeline
from socialcrm import scheduler as scheduling
from socialcrm.db import Database
from socialcrm.mention import MentionState, utcnow
from socialcrm.settings import Settings, load_settings
from tests.fakes import FakeCollector, mention


@pytest.fixture
def settings(write_settings) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(
        write_settings(
            "[sources.demo]\nenabled = true\ninterval_seconds = 1\n"
            "[scheduler]\nmisfire_grace_seconds = 120\n[pipeline]\ninterval_seconds = 45\n"
        )
    )


@pytest.fixture
def started() -> Iterator[list[BackgroundScheduler]]:
    made: list[BackgroundScheduler] = []
    yield made
    for each in made:
        each.shutdown(wait=False)


def test_specs_have_explicit_ids_and_clamp_to_the_source_minimum(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = scheduling.Jobs(settings, db, {"demo": DemoCollector()}, stages=())
    with caplog.at_level(logging.WARNING):
        specs = {spec.id: spec.seconds for spec in jobs.specs()}
    assert specs == {
        "collect:demo": DemoCollector.min_interval_seconds,
        "health": 60,
        "pipeline": 45,
    }
    assert "sources.demo.interval_seconds is below the source's minimum; using 5 s" in caplog.text


def test_jobs_run_one_at_a_time_coalesced_with_the_configured_grace(
    settings: Settings, db: Database, started: list[BackgroundScheduler]
) -> None:
    jobs = scheduling.Jobs(settings, db, {"demo": DemoCollector()}, stages=())
    scheduler = scheduling.create_scheduler(settings, jobs)
    started.append(scheduler)
    scheduler.start(paused=True)
    made = {job.id: job for job in scheduler.get_jobs()}
    assert set(made) == {"collect:demo", "health", "pipeline"}
    for job in made.values():
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 120)
    assert made["collect:demo"].trigger.interval.total_seconds() == 5


def test_a_missed_run_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    when = datetime(2026, 11, 25, 9, tzinfo=UTC)
    with caplog.at_level(logging.WARNING):
        scheduling._on_event(JobExecutionEvent(EVENT_JOB_MISSED, "collect:demo", "default", when))
    assert "job collect:demo missed its run at 2026-11-25 09:00:00+00:00" in caplog.text


def test_a_revoked_token_pauses_the_source_and_is_logged_once(
    settings: Settings,
    db: Database,
    started: list[BackgroundScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = FakeCollector([mention(1)], error=SourceAuthError("401 token revoked"))
    jobs = scheduling.Jobs(settings, db, {"fake": broken}, stages=())
    scheduler = scheduling.create_scheduler(settings, jobs)
    started.append(scheduler)
    scheduler.start(paused=True)
    with caplog.at_level(logging.ERROR):
        jobs.collect("fake")
        jobs.collect("fake")
    assert scheduler.get_job("collect:fake").next_run_time is None
    assert caplog.text.count("source fake failed: 401 token revoked") == 1


def test_a_recovered_source_says_so(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FakeCollector([mention(1)], error=SourceAuthError("down"), fail_after_pages=0)
    jobs = scheduling.Jobs(settings, db, {"fake": flaky}, stages=())
    jobs.collect("fake")
    flaky.error = None
    with caplog.at_level(logging.INFO):
        assert jobs.collect("fake").new == 1
    assert "source fake is collecting again" in caplog.text


def test_a_long_rate_limit_postpones_the_next_run(
    settings: Settings, db: Database, started: list[BackgroundScheduler]
) -> None:
    limited = FakeCollector([mention(1)], error=RateLimitedError("429", retry_after=900))
    jobs = scheduling.Jobs(settings, db, {"fake": limited}, stages=())
    scheduler = scheduling.create_scheduler(settings, jobs)
    started.append(scheduler)
    scheduler.start(paused=True)
    before = utcnow()
    summary = jobs.collect("fake")
    assert (summary.status, summary.retry_after) == ("rate_limited", 900)
    next_run = scheduler.get_job("collect:fake").next_run_time
    assert next_run >= before + timedelta(seconds=899)


def test_a_disabled_source_raises_one_alert_until_it_recovers(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FakeCollector([mention(1)], error=SourceAuthError("401 token revoked"))
    jobs = scheduling.Jobs(settings, db, {"fake": flaky}, stages=())
    with caplog.at_level(logging.WARNING):
        jobs.collect("fake")
        jobs.collect("fake")
        jobs.check_health()
        assert caplog.text.count("ALERT: source fake is disabled until fixed") == 1
        flaky.error = None
        jobs.collect("fake")
    assert "alert closed: source fake is healthy again" in caplog.text
    with db.transaction() as session:
        row = session.get(models.SourceHealth, "fake")
        assert row is not None
        assert (row.status, row.alert, row.items_total, row.consecutive_failures) == (
            "ok",
            None,
            1,
            0,
        )


class RecordingConnector:
    """A CRM connector that keeps what it is sent."""

    name = "webhook"

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def send(self, payload: Mapping[str, Any], key: str) -> None:
        self.sent.append({"key": key, **payload})


def test_the_main_job_pushes_to_the_crm_and_purges_daily(  # type: ignore[no-untyped-def]
    write_settings,
    db: Database,
    started: list[BackgroundScheduler],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOCIALCRM_WEBHOOK_SECRET", "s3cret")
    settings = load_settings(
        write_settings(
            "[crm]\nsync_interval_seconds = 90\n[crm.webhook]\nenabled = true\n"
            'url = "http://127.0.0.1:9/hook"\n[retention]\nhour = 4\n'
        )
    )
    jobs = scheduling.Jobs(settings, db, {}, stages=(), maintenance=True)
    scheduler = scheduling.create_scheduler(settings, jobs)
    started.append(scheduler)
    scheduler.start(paused=True)
    made = {job.id: job for job in scheduler.get_jobs()}
    assert made["crm"].trigger.interval.total_seconds() == 90
    assert str(made["retention"].trigger) == "cron[hour='4', minute='0']"
    # a customer whose profile changed is pushed by the next crm run
    with db.transaction() as session:
        session.add(
            models.Customer(
                display_name="Ada", email="ada@example.org", attributes={}, dirty_since=utcnow()
            )
        )
    connector = RecordingConnector()
    jobs._connectors = {"webhook": connector}
    summary = jobs.sync_crm()
    assert summary.sent == 1
    [sent] = connector.sent
    assert sent["event"] == "contact.upsert"
    assert sent["contact"]["email"] == "ada@example.org"  # type: ignore[index]
    # nothing changed since: nothing is queued again
    with db.transaction() as session:
        session.execute(update(models.Customer).values(dirty_since=utcnow()))
    assert jobs.sync_crm().sent == 0


def test_collect_alone_neither_pushes_nor_purges(settings: Settings, db: Database) -> None:
    jobs = scheduling.Jobs(settings, db, {}, stages=())
    assert {spec.id for spec in jobs.specs()} == {"pipeline"}


def test_the_main_job_sweeps_engagement_and_wakes_chat_after_routing(
    settings: Settings, db: Database, started: list[BackgroundScheduler]
) -> None:
    stages = [
        pipeline.Stage("route", MentionState.COLLECTED, MentionState.ROUTED, lambda s, m: None)
    ]
    jobs = scheduling.Jobs(settings, db, {}, stages=stages, maintenance=True)
    scheduler = scheduling.create_scheduler(settings, jobs)
    started.append(scheduler)
    scheduler.start(paused=True)
    made = {job.id: job for job in scheduler.get_jobs()}
    assert made["engagement"].trigger.interval.total_seconds() == 60
    assert made["spikes"].trigger.interval.total_seconds() == 15 * 60
    assert str(made["digest"].trigger) == "cron[day_of_week='mon', hour='8', minute='0']"
    kicks: list[int] = []
    jobs.on_routed = lambda: kicks.append(1)
    jobs.process()
    assert kicks == []  # nothing routed, nothing to deliver
    pipeline.collect(db, FakeCollector([mention(1), mention(2)]))
    assert jobs.process() == {"route": 2}
    assert kicks == [1]
    jobs.sweep()  # no task is due: nothing raised, nothing fails
    assert jobs.spikes() == []
    jobs.digest()
    with db.transaction() as session:
        (digest,) = session.scalars(select(models.ChatMessage)).all()
    assert (digest.kind, digest.queue) == ("digest", "alerts")
    week = datetime.fromisoformat(digest.payload["until"]) - datetime.fromisoformat(
        digest.payload["since"]
    )
    assert week == timedelta(days=7)
