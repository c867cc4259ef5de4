"""The pipeline: collect, then idempotent stages over mention ids (classify, link, route)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from collectors.base import Collector, RateLimitedError, SourceConfigError, SourceError
from socialcrm import health, models, storage
from socialcrm.db import Database
from socialcrm.mention import Mention, MentionState, Page, utcnow
from socialcrm.settings import Settings

log = logging.getLogger(__name__)

StageFn = Callable[[Session, Sequence[Mention]], None]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Stage:
    """One step: takes mentions in `source` state, writes its output, moves them to `target`."""

    name: str
    source: MentionState
    target: MentionState
    apply: StageFn


def default_stages(settings: Settings) -> list[Stage]:
    """The stages in order: classify, link, route."""
    # imported here: loading torch takes seconds that commands without a pipeline should not pay
    from nlp import classifier
    from nlp.stage import ClassifyStage

    classify = ClassifyStage(lambda: classifier.shared(settings.nlp, settings))
    return [
        Stage("classify", MentionState.COLLECTED, MentionState.CLASSIFIED, classify),
        Stage("link", MentionState.CLASSIFIED, MentionState.LINKED, _link_stage(settings)),
        Stage("route", MentionState.LINKED, MentionState.ROUTED, _route_stage(settings)),
    ]


def _route_stage(settings: Settings) -> StageFn:
    from engagement.stage import RouteStage

    if not settings.engagement.enabled:
        return _Skipped("route", "engagement.enabled is off")
    return RouteStage(settings.engagement, settings.crm)


def _link_stage(settings: Settings) -> StageFn:
    from crm_sync import outbox
    from crm_sync.stage import LinkStage

    if settings.privacy.pseudonymise_authors:
        # hashed handles match no customer, and nothing about a person may go to the CRM
        return _Skipped("link", "privacy.pseudonymise_authors is on")
    return LinkStage(settings.crm, outbox.enabled_connectors(settings.crm))


@dataclass
class _Skipped:
    """A stage switched off by settings: mentions move on unchanged, and the log says why once."""

    name: str
    why: str
    announced: bool = field(default=False)

    def __call__(self, _session: Session, mentions: Sequence[Mention]) -> None:
        if not self.announced:
            log.info("%s stage is off (%s): mentions move on unchanged", self.name, self.why)
            self.announced = True


def run_stage(
    db: Database,
    stage: Stage,
    batch_size: int = 500,
    among: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> int:
    """Run `stage` over every waiting mention (or those of `among`), a committed batch at a time.

    A batch's output and its state change commit together, so a crash repeats nothing committed.
    """
    moved = 0
    while True:
        with db.transaction() as session:
            ids = storage.claim(session, stage.source, batch_size, among)
            if not ids:
                return moved
            stage.apply(session, storage.load_mentions(session, ids))
            storage.advance(session, ids, stage.source, stage.target)
        moved += len(ids)
        if progress is not None:
            progress(len(ids))


def process(
    db: Database, stages: Sequence[Stage], batch_size: int = 500, progress: Progress | None = None
) -> dict[str, int]:
    """Run every stage in order until nothing waits; return how many mentions each moved."""
    return {stage.name: run_stage(db, stage, batch_size, progress=progress) for stage in stages}


@dataclass(frozen=True, slots=True)
class CollectSummary:
    """How one collector run ended."""

    source: str
    status: str  # ok | error | config_error | rate_limited
    seen: int = 0
    new: int = 0
    quarantined: int = 0
    error: str | None = None
    retry_after: float | None = None


@dataclass
class _RunTally:
    """What the pages of one run added up to."""

    seen: int = 0
    new: int = 0
    quarantined: int = 0
    newest: datetime | None = None
    recent_new_ids: list[int] = field(default_factory=list)

    def add(self, page: Page, result: storage.PageResult) -> None:
        self.seen += result.seen
        self.new += len(result.new_ids)
        self.quarantined += result.quarantined
        self.recent_new_ids = [*self.recent_new_ids, *result.new_ids][-LAG_SAMPLE:]
        times = [m.created_at for m in page.mentions]
        if times and (self.newest is None or max(times) > self.newest):
            self.newest = max(times)

    def summary(self, source: str, status: str, error: SourceError | None = None) -> CollectSummary:
        retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
        message = str(error) if error is not None else None
        return CollectSummary(
            source, status, self.seen, self.new, self.quarantined, message, retry_after
        )


LAG_SAMPLE = 200


def collect(
    db: Database,
    collector: Collector,
    progress: Progress | None = None,
    pseudonym_key: bytes | None = None,
) -> CollectSummary:
    """Fetch from the saved cursor on, committing each page with its cursor; record the run.

    With `pseudonym_key` (`socialcrm.pseudonym.settings_key`), authors are stored pseudonymised.
    """
    with db.transaction() as session:
        run = models.CollectorRun(source=collector.name)
        session.add(run)
        session.flush()
        run_id = run.id
        cursor = storage.load_cursor(session, collector.name)
    tally = _RunTally()
    known_authors: storage.AuthorIds = {}  # ids are valid only while every page commits
    try:
        for page in collector.fetch(cursor):
            with db.transaction() as session:
                result = storage.save_page(
                    session, collector.name, page, known_authors, pseudonym_key
                )
            tally.add(page, result)
            if progress is not None:
                progress(result.seen + result.quarantined)
    except SourceError as error:
        summary = tally.summary(collector.name, _status_of(error), error)
    except Exception as error:
        failed = tally.summary(collector.name, "error")
        _finish_run(db, run_id, replace(failed, error=repr(error)), tally)
        raise
    else:
        summary = tally.summary(collector.name, "ok")
    _finish_run(db, run_id, summary, tally)
    return summary


def check(db: Database, collector: Collector) -> CollectSummary | None:
    """Run the source's own check; a failure is recorded in its health and returned."""
    try:
        collector.check()
    except SourceError as error:
        summary = _RunTally().summary(collector.name, _status_of(error), error)
    except Exception as error:
        # a bug in one source's check must not stop the others from starting
        log.exception("source %s: its check failed unexpectedly", collector.name)
        summary = CollectSummary(collector.name, "error", error=f"check failed: {error!r}")
    else:
        return None
    with db.transaction() as session:
        outcome = health.RunOutcome(collector.name, summary.status, error=summary.error)
        health.record_run(session, outcome, utcnow())
    return summary


def _status_of(error: SourceError) -> str:
    if isinstance(error, SourceConfigError):
        return "config_error"
    return "rate_limited" if isinstance(error, RateLimitedError) else "error"


def _finish_run(db: Database, run_id: int, summary: CollectSummary, tally: _RunTally) -> None:
    now = utcnow()
    with db.transaction() as session:
        session.execute(
            update(models.CollectorRun)
            .where(models.CollectorRun.id == run_id)
            .values(
                finished_at=now,
                status=summary.status,
                items_seen=summary.seen,
                items_new=summary.new,
                items_quarantined=summary.quarantined,
                error=summary.error,
            )
        )
        outcome = health.RunOutcome(
            summary.source,
            summary.status,
            summary.new,
            summary.quarantined,
            summary.error,
            tally.newest,
            storage.median_lag_seconds(session, tally.recent_new_ids),
        )
        health.record_run(session, outcome, now)
