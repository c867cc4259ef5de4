"""The pipeline: idempotent stages over ids; a crash repeats nothing committed; runs recorded."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collectors.base import SourceAuthError, TransientSourceError
from collectors.demo import DemoCollector
from socialcrm import models, pipeline, storage
from socialcrm.db import Database
from socialcrm.mention import Mention, MentionState
from socialcrm.settings import Settings
from tests.fakes import FakeCollector, mention, mention_states


class CountingStage:
    """Writes one audit row per mention it sees: doubles would show as extra rows."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, session: Session, mentions: Sequence[Mention]) -> None:
        self.calls += 1
        for item in mentions:
            session.add(
                models.AuditEntry(
                    actor="test", action="saw", subject_type="mention", subject_id=str(item.id)
                )
            )
        if self.calls == self.fail_on_call:
            raise RuntimeError("crash in the middle of a stage")


def _audit_subjects(db: Database) -> list[str]:
    with db.transaction() as session:
        return sorted(session.scalars(select(models.AuditEntry.subject_id)), key=int)  # type: ignore[arg-type]


def _collect(db: Database, count: int) -> None:
    assert pipeline.collect(db, FakeCollector([mention(n) for n in range(count)])).status == "ok"


def test_every_mention_reaches_the_end_and_a_second_run_moves_nothing(db: Database) -> None:
    _collect(db, 7)
    first = pipeline.process(db, pipeline.default_stages(Settings()), batch_size=3)
    second = pipeline.process(db, pipeline.default_stages(Settings()), batch_size=3)
    assert first == {"classify": 7, "link": 7, "route": 7}
    assert second == {"classify": 0, "link": 0, "route": 0}
    assert mention_states(db) == {MentionState.ROUTED.value: 7}


def test_running_a_stage_twice_writes_its_output_once(db: Database) -> None:
    _collect(db, 5)
    stage_fn = CountingStage()
    stage = pipeline.Stage("count", MentionState.COLLECTED, MentionState.CLASSIFIED, stage_fn)
    assert pipeline.run_stage(db, stage, batch_size=2) == 5
    assert pipeline.run_stage(db, stage, batch_size=2) == 0
    assert len(_audit_subjects(db)) == 5


def test_a_crash_between_batches_repeats_nothing_committed(db: Database) -> None:
    _collect(db, 6)
    crashing = pipeline.Stage(
        "count", MentionState.COLLECTED, MentionState.CLASSIFIED, CountingStage(fail_on_call=2)
    )
    with pytest.raises(RuntimeError, match="crash"):
        pipeline.run_stage(db, crashing, batch_size=2)
    # the first batch committed with its output; the crashed batch left nothing behind
    assert mention_states(db) == {"classified": 2, "collected": 4}
    assert len(_audit_subjects(db)) == 2
    healthy = pipeline.Stage(
        "count", MentionState.COLLECTED, MentionState.CLASSIFIED, CountingStage()
    )
    assert pipeline.run_stage(db, healthy, batch_size=2) == 4
    subjects = _audit_subjects(db)
    assert len(subjects) == len(set(subjects)) == 6


def test_a_stage_can_be_run_over_given_ids_only(db: Database) -> None:
    _collect(db, 4)
    with db.transaction() as session:
        ids = storage.claim(session, MentionState.COLLECTED, limit=10)
    stage = pipeline.default_stages(Settings())[0]
    assert pipeline.run_stage(db, stage, among=ids[:2]) == 2
    assert mention_states(db) == {"classified": 2, "collected": 2}


def test_a_stage_switched_off_says_so_once(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    _collect(db, 3)
    settings = Settings.model_validate({"engagement": {"enabled": False}})
    with caplog.at_level(logging.INFO):
        pipeline.process(db, pipeline.default_stages(settings), batch_size=1)
    notes = [r.getMessage() for r in caplog.records if "stage is off" in r.getMessage()]
    assert notes == ["route stage is off (engagement.enabled is off): mentions move on unchanged"]
    assert mention_states(db) == {"routed": 3}
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(models.Task)) == 0


def test_collect_resumes_from_the_saved_cursor_without_duplicates(db: Database) -> None:
    items = [mention(n) for n in range(5)]
    first = pipeline.collect(db, FakeCollector(items[:3]))
    again = FakeCollector(items)
    second = pipeline.collect(db, again)
    assert (first.new, second.new, second.seen) == (3, 2, 2)
    assert again.cursors_seen[0] is not None
    assert again.cursors_seen[0].state == {"position": 3}


def test_an_auth_error_is_recorded_as_a_config_error_and_keeps_the_cursor(db: Database) -> None:
    pipeline.collect(db, FakeCollector([mention(n) for n in range(2)]))
    broken = FakeCollector(
        [mention(n) for n in range(4)],
        error=SourceAuthError("401: token revoked"),
        fail_after_pages=0,
    )
    summary = pipeline.collect(db, broken)
    assert summary.status == "config_error"
    assert summary.error == "401: token revoked"
    with db.transaction() as session:
        assert storage.load_cursor(session, "fake").state == {"position": 2}  # type: ignore[union-attr]
        last = session.scalars(
            select(models.CollectorRun).order_by(models.CollectorRun.id.desc())
        ).first()
    assert last is not None
    assert (last.status, last.error) == ("config_error", "401: token revoked")


def test_a_transient_error_after_a_page_keeps_that_page(db: Database) -> None:
    flaky = FakeCollector(
        [mention(n) for n in range(6)], error=TransientSourceError("502"), fail_after_pages=1
    )
    summary = pipeline.collect(db, flaky)
    assert (summary.status, summary.new) == ("error", 2)
    with db.transaction() as session:
        assert storage.load_cursor(session, "fake").state == {"position": 2}  # type: ignore[union-attr]


def test_a_bug_fails_the_run_records_it_and_keeps_the_cursor(db: Database) -> None:
    buggy = FakeCollector(
        [mention(n) for n in range(4)], error=KeyError("surprise"), fail_after_pages=1
    )
    with pytest.raises(KeyError):
        pipeline.collect(db, buggy)
    with db.transaction() as session:
        run = session.scalars(select(models.CollectorRun)).one()
        assert storage.load_cursor(session, "fake").state == {"position": 2}  # type: ignore[union-attr]
    assert run.status == "error"
    assert "surprise" in (run.error or "")


def test_the_demo_feeds_its_sample_a_few_at_a_time_until_done(db: Database) -> None:
    demo = DemoCollector(per_run=8)
    news = [pipeline.collect(db, demo).new for _ in range(4)]
    assert news == [8, 8, 4, 0]
    pipeline.process(db, pipeline.default_stages(Settings()))
    assert mention_states(db) == {"routed": 20}


def test_a_check_that_crashes_is_recorded_for_that_source_only(db: Database) -> None:
    broken = FakeCollector([mention(1)], error=KeyError("surprise"))
    failure = pipeline.check(db, broken)
    assert failure is not None
    assert (failure.status, failure.error) == ("error", "check failed: KeyError('surprise')")
    assert pipeline.check(db, FakeCollector([mention(1)], name="healthy")) is None
    with db.transaction() as session:
        row = session.get(models.SourceHealth, "fake")
        assert row is not None
        assert (row.status, row.consecutive_failures) == ("failing", 1)
        assert session.get(models.SourceHealth, "healthy") is None
