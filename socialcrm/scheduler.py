"""The scheduler: jobs rebuilt from settings at start, one per source plus the pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from collectors import registry
from collectors.base import Collector
from crm_sync import hubspot_pull, outbox, retention
from crm_sync.connectors import USER_AGENT, Connector, ConnectorError, build_connectors
from crm_sync.sync import push_profiles
from engagement import alerts, notify, outcome
from reports.sql import compact_search_index
from socialcrm import health, pipeline, pseudonym
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import Settings

log = logging.getLogger(__name__)

PIPELINE_JOB = "pipeline"
HEALTH_JOB = "health"
CRM_JOB = "crm"
CRM_PULL_JOB = "crm-pull"
RETENTION_JOB = "retention"
ENGAGEMENT_JOB = "engagement"
SPIKES_JOB = "spikes"
DIGEST_JOB = "digest"
ENGAGEMENT_INTERVAL_SECONDS = 60
HEALTH_INTERVAL_SECONDS = 60
DEFAULT_ALERT_MINUTES = 120


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One recurring job: its explicit id, what it runs, and every how many seconds."""

    id: str
    func: Callable[[], object]
    seconds: int
    # run once a day at this hour (scheduler time zone) instead of every `seconds` from start
    daily_at_hour: int | None = None
    # with daily_at_hour: only on this day of the week ("mon" .. "sun")
    weekday: str | None = None


def collect_job_id(source: str) -> str:
    """The id of a source's collect job."""
    return f"collect:{source}"


class Jobs:
    """What the scheduled jobs do: collect a source, then wake the pipeline; run the pipeline."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        collectors: Mapping[str, Collector],
        stages: Sequence[pipeline.Stage],
        maintenance: bool = False,
    ) -> None:
        self.settings = settings
        self.db = db
        self.collectors = dict(collectors)
        self.stages = list(stages)
        # the main job also pushes to the CRM and enforces retention; `collect` alone does not
        self.maintenance = maintenance
        self.scheduler: BackgroundScheduler | None = None
        self._failing: dict[str, str] = {}
        self._connectors: Mapping[str, Connector] | None = None
        self._pseudonym_key = pseudonym.settings_key(settings)
        # called after the pipeline routed mentions (the chat bot delivers their cards)
        self.on_routed: Callable[[], None] | None = None

    def specs(self) -> list[JobSpec]:
        """The jobs the settings ask for; no source runs more often than its minimum allows."""
        specs = []
        for name, collector in self.collectors.items():
            seconds, clamped = registry.interval_seconds(name, self.settings, collector)
            if clamped:
                log.warning(
                    "sources.%s.interval_seconds is below the source's minimum; using %d s",
                    name,
                    seconds,
                )
            specs.append(JobSpec(collect_job_id(name), self._collector_job(name), seconds))
        if self.collectors:
            specs.append(JobSpec(HEALTH_JOB, self.check_health, HEALTH_INTERVAL_SECONDS))
        specs.append(JobSpec(PIPELINE_JOB, self.process, self.settings.pipeline.interval_seconds))
        if self.maintenance:
            crm, retention = self.settings.crm, self.settings.retention
            if outbox.enabled_connectors(crm):
                specs.append(JobSpec(CRM_JOB, self.sync_crm, crm.sync_interval_seconds))
            if crm.hubspot.enabled and crm.hubspot.pull:
                minutes = crm.hubspot.pull_interval_minutes
                specs.append(JobSpec(CRM_PULL_JOB, self.pull_crm, minutes * 60))
            specs.append(JobSpec(RETENTION_JOB, self.purge, 86_400, retention.hour))
            if self.settings.engagement.enabled:
                specs.append(JobSpec(ENGAGEMENT_JOB, self.sweep, ENGAGEMENT_INTERVAL_SECONDS))
                if self.settings.alerts.spikes:
                    minutes = self.settings.alerts.interval_minutes
                    specs.append(JobSpec(SPIKES_JOB, self.spikes, minutes * 60))
            digest = self.settings.reports
            if digest.digest != "off":
                weekday = digest.digest_day if digest.digest == "weekly" else None
                specs.append(JobSpec(DIGEST_JOB, self.digest, 86_400, digest.digest_hour, weekday))
        return specs

    def _collector_job(self, name: str) -> Callable[[], object]:
        return lambda: self.collect(name)

    def collect(self, name: str) -> pipeline.CollectSummary:
        """Run one source once; log an outage when it starts and when it ends."""
        summary = pipeline.collect(
            self.db, self.collectors[name], pseudonym_key=self._pseudonym_key
        )
        if summary.status == "ok":
            if self._failing.pop(name, None) is not None:
                log.info("source %s is collecting again", name)
            if summary.new:
                log.info("source %s: %d new mention(s)", name, summary.new)
                self._wake(PIPELINE_JOB)
        elif name not in self._failing:
            self._failing[name] = summary.status
            log.error("source %s failed: %s", name, summary.error)
        if summary.status == "config_error" and self.scheduler is not None:
            log.error("source %s is paused until its settings or credentials are fixed", name)
            self.scheduler.pause_job(collect_job_id(name))
        if summary.status == "rate_limited" and summary.retry_after:
            self._postpone(name, summary.retry_after)
        self.check_health([name])
        return summary

    def _postpone(self, name: str, seconds: float) -> None:
        """Honour a long `retry_after`: the next run waits for it instead of hitting the limit."""
        if self.scheduler is None or not self.scheduler.running:
            return
        at = utcnow() + timedelta(seconds=seconds)
        log.warning("source %s is rate limited; next run at %s", name, at.isoformat())
        self.scheduler.modify_job(collect_job_id(name), next_run_time=at)

    def check_health(self, names: Sequence[str] | None = None) -> list[health.AlertChange]:
        """Open or close the alerts of the sources (all by default); each is logged once."""
        thresholds = {}
        for name in names if names is not None else list(self.collectors):
            table = self.settings.sources.table(name)
            minutes = table.alert_after_minutes if table else DEFAULT_ALERT_MINUTES
            thresholds[name] = timedelta(minutes=minutes)
        with self.db.transaction() as session:
            changes = health.update_alerts(session, thresholds, utcnow())
            if self.maintenance and self.settings.engagement.enabled:
                alerts.source_alerts(session, changes, self.settings.alerts.queue)
        for change in changes:  # after commit: an alert is never raised for a rolled-back state
            if change.kind is None:
                log.warning("alert closed: %s", change.message)
            else:
                log.error("ALERT: %s", change.message)
        return changes

    def process(self) -> dict[str, int]:
        """Move every waiting mention through the stages."""
        moved = pipeline.process(self.db, self.stages, self.settings.pipeline.batch_size)
        if moved.get("route") and self.on_routed is not None:
            self.on_routed()  # new cards go out now, not at the next delivery round
        if any(moved.values()):
            log.info("pipeline moved %s", ", ".join(f"{k}={v}" for k, v in moved.items()))
        return moved

    def sync_crm(self) -> outbox.DispatchSummary:
        """Queue the profiles that changed, then send what is due to the CRM connectors."""
        if self._connectors is None:
            self._connectors = build_connectors(self.settings)
        crm = self.settings.crm
        queued = push_profiles(self.db, crm, list(self._connectors))
        summary = outbox.dispatch(self.db, self._connectors, crm)
        if queued or summary.total:
            log.info(
                "crm: %d profile(s) queued; %d sent, %d to retry, %d dead, %d waiting",
                queued,
                summary.sent,
                summary.retried,
                summary.dead,
                summary.waiting,
            )
        return summary

    def pull_crm(self) -> None:
        """Read HubSpot's contacts into customer records."""
        with httpx.Client(headers={"User-Agent": USER_AGENT}) as client:
            try:
                hubspot_pull.pull(self.db, self.settings, client)
            except ConnectorError as error:  # who must act is in the message; retried next time
                log.error("%s", error)  # noqa: TRY400 - one line, no traceback

    def purge(self) -> dict[str, int]:
        """Delete what is older than the retention settings allow."""
        counts = retention.purge(self.db, self.settings.retention)  # it logs what it deleted
        with self.db.transaction() as session:
            compact_search_index(session)  # deleted mentions' words leave the search index
        return counts

    def sweep(self) -> None:
        """SLA warnings and breaches for open tasks; outcomes of answered ones."""
        now = utcnow()
        with self.db.transaction() as session:
            raised = alerts.sla_sweep(session, now, self.settings.engagement)
            judged = outcome.sweep(session, now, self.settings.engagement.outcome_window_days)
        if raised or judged:
            log.info("engagement: %d SLA alert(s), %d reply outcome(s) updated", raised, judged)

    def spikes(self) -> list[int]:
        """Open an incident for every query whose last hour is a spike."""
        with self.db.transaction() as session:
            opened = alerts.spike_sweep(
                session, utcnow(), self.settings.alerts, self.settings.watch
            )
        for incident_id in opened:
            log.warning("incident %d opened: a spike in mentions", incident_id)
        return opened

    def digest(self) -> None:
        """Queue the report digest of the period just ended for chat."""
        reports = self.settings.reports
        until = utcnow()
        since = until - timedelta(days=7 if reports.digest == "weekly" else 1)
        with self.db.transaction() as session:
            notify.queue_digest(session, reports.digest_queue, since, until)
        log.info("digest of %s to %s queued for chat", since.date(), until.date())

    def _wake(self, job_id: str) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.modify_job(job_id, next_run_time=utcnow())


def _on_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("job %s is still running; this run is skipped", event.job_id)
    elif event.exception is not None:
        log.error("job %s failed: %r", event.job_id, event.exception)


def _when(spec: JobSpec) -> str:
    if spec.daily_at_hour is not None:
        when = f"on {spec.weekday}" if spec.weekday else "daily"
        return f"{spec.id} {when} at {spec.daily_at_hour:02d}:00"
    return f"{spec.id} every {spec.seconds} s"


def create_scheduler(
    settings: Settings, jobs: Jobs, with_pipeline: bool = True
) -> BackgroundScheduler:
    """A scheduler with the jobs of `jobs`, each run at once on start and then on interval."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(settings.scheduler.max_workers)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.scheduler.misfire_grace_seconds,
        },
        timezone=ZoneInfo(settings.scheduler.timezone),
    )
    scheduler.add_listener(_on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    specs = [s for s in jobs.specs() if with_pipeline or s.id != PIPELINE_JOB]
    log.info("jobs: %s", ", ".join(_when(s) for s in specs))
    for spec in specs:
        if spec.daily_at_hour is not None:
            trigger: dict[str, Any] = {"trigger": "cron", "hour": spec.daily_at_hour, "minute": 0}
            if spec.weekday is not None:
                trigger["day_of_week"] = spec.weekday
        else:
            trigger = {"trigger": "interval", "seconds": spec.seconds, "next_run_time": utcnow()}
        scheduler.add_job(spec.func, id=spec.id, name=spec.id, replace_existing=True, **trigger)
    jobs.scheduler = scheduler
    return scheduler
