"""The `socialcrm` command: run the main job, collect, process, import, migrate, show status."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from collectors import registry
from collectors.base import Collector, SourceConfigError
from collectors.files import FileImportCollector, Format
from socialcrm import models, pipeline, pseudonym, status
from socialcrm.db import Database, DatabaseError
from socialcrm.locks import DeploymentLockedError, deployment_lock
from socialcrm.logs import setup_logging
from socialcrm.mention import utcnow
from socialcrm.scheduler import Jobs, create_scheduler
from socialcrm.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engagement.cards import ChatContent

log = logging.getLogger(__name__)
app = typer.Typer(
    help="socialcrm: listen to what people say about your brand and answer them from Discord.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line for the user on stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


@dataclass
class State:
    """What every command shares: the settings, and the database once opened."""

    settings: Settings
    _db: Database | None = field(default=None)

    def database(self, ensure_schema: bool = True) -> Database:
        """The database, its schema brought up to date on first use unless told otherwise."""
        if self._db is None:
            self._db = Database(self.settings.database_url, echo=self.settings.database.echo)
        if ensure_schema:
            try:
                self._db.ensure_schema()
            except DatabaseError as error:
                raise fail(str(error)) from None
        return self._db

    def close(self) -> None:
        """Close the database's connections when the command ends."""
        if self._db is not None:
            self._db.dispose()


def _state(ctx: typer.Context) -> State:
    state = ctx.obj
    assert isinstance(state, State)  # noqa: S101 - set by the callback for every command
    return state


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Settings file (default: ./settings.toml or $SOCIALCRM_CONFIG)."
        ),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR (default: app.log_level).")
    ] = None,
) -> None:
    """Load and validate the settings once, then run the command."""
    try:
        settings = load_settings(config)
    except SettingsError as error:
        raise fail(str(error), code=2) from None
    level = (log_level or settings.app.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise fail(
            f"--log-level {log_level!r} is invalid: expected DEBUG, INFO, WARNING or ERROR", 2
        )
    setup_logging(level, settings.secrets.values())
    # what start-up imported (SQLAlchemy, Alembic, pydantic) lives for the whole process: keep the
    # garbage collector from walking it again on every collection (about 10% of an import's time)
    gc.freeze()
    ctx.obj = State(settings)
    ctx.call_on_close(ctx.obj.close)


@app.command()
def run(
    ctx: typer.Context,
    demo: Annotated[
        bool, typer.Option(help="Also feed the built-in demo mentions (no network).")
    ] = False,
    stop_after: Annotated[
        float | None, typer.Option(help="Stop by itself after this many seconds (smoke tests).")
    ] = None,
) -> None:
    """Run the main job: the scheduler collecting every enabled source and the pipeline."""
    state = _state(ctx)
    settings = state.settings
    if demo:
        sources = settings.sources.model_copy(
            update={"demo": settings.sources.demo.model_copy(update={"enabled": True})}
        )
        settings = state.settings = settings.model_copy(update={"sources": sources})
    db = state.database()
    collectors = _checked(settings, db, _enabled_collectors(settings))
    cli_nlp.load_classifier(settings)  # a broken model stops start-up, not the first batch
    jobs = Jobs(settings, db, collectors, pipeline.default_stages(settings), maintenance=True)
    stop = threading.Event()
    try:
        with (
            deployment_lock(db),
            _stopping_on_signals(stop),
            _chat(settings, db) as kick,
            _web(settings, db),
        ):
            jobs.on_routed = kick
            scheduler = create_scheduler(settings, jobs)
            scheduler.start()
            log.info("socialcrm is running on %s; Ctrl-C stops it", db.dialect)
            stop.wait(stop_after)  # a bot that stops (token revoked) logs why; the rest goes on
            log.info("stopping: waiting for running jobs to finish")
            scheduler.shutdown(wait=True)
    except DeploymentLockedError as error:
        raise fail(str(error)) from None
    log.info("stopped")


@contextmanager
def _chat(settings: Settings, db: Database) -> Iterator[Callable[[], None] | None]:
    """The Discord bot beside the scheduler when `[discord] enabled` (yields its delivery kick)."""
    # imported here: discord.py is not needed by commands without chat
    from engagement import queue
    from engagement.discord_bot import BotThread, DiscordStartError

    if not settings.discord.enabled:
        log.info("chat is off ([discord] enabled = false): the queue works from `socialcrm queue`")
        yield None
        return
    try:
        bot = BotThread(settings, db, queue.responders_for(settings), chat_digest(settings))
    except DiscordStartError as error:
        raise fail(str(error), code=2) from None
    bot.start()
    try:
        yield bot.kick
    finally:
        bot.stop()


def chat_digest(settings: Settings) -> Callable[[Session, datetime, datetime], ChatContent]:
    """How the scheduled digest is drawn for chat: the report of the period, charts attached."""
    from engagement.cards import ChatContent
    from reports.coverage import schedule_intervals
    from reports.digest import build
    from reports.report import gather

    def draw(session: Session, since: datetime, until: datetime) -> ChatContent:
        watched = [*settings.watch.brand, *settings.watch.competitors]
        schedule = schedule_intervals(settings.sources)
        report = gather(session, since, until, intervals=schedule, watch_terms=watched)
        days = round((until - since).total_seconds() / 86_400)
        title = {1: "Daily report", 7: "Weekly report"}.get(days, f"{days}-day report")
        made = build(report, title)
        return ChatContent(content=made.content, embed=made.embed, files=made.files)

    return draw


@contextmanager
def _web(settings: Settings, db: Database) -> Iterator[None]:
    """The dashboard and REST API beside the scheduler when `[web] in_run`; stopped at the end."""
    if not settings.web.in_run:
        yield
        return
    from socialcrm.cli_web import serve_in_background

    stop = serve_in_background(settings, db)
    try:
        yield
    finally:
        stop()


@app.command()
def discord(ctx: typer.Context) -> None:
    """Run the Discord bot alone: cards, buttons, slash commands, alerts (Ctrl-C stops it)."""
    from engagement import queue
    from engagement.discord_bot import DiscordStartError, run_bot

    state = _state(ctx)
    settings = state.settings
    if not settings.discord.enabled:
        raise fail(
            "discord.enabled is false in the settings: set it, guild_id and the channels", code=2
        )
    db = state.database()
    try:
        run_bot(settings, db, queue.responders_for(settings), chat_digest(settings))
    except DiscordStartError as error:
        raise fail(str(error), code=2) from None
    except KeyboardInterrupt:
        log.info("stopped")


@contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _checked(
    settings: Settings, db: Database, collectors: dict[str, Collector], strict: bool = False
) -> dict[str, Collector]:
    """The sources whose check passes; a refused configuration leaves its source out (alerted).

    A passing fault (network, 5xx) keeps the source: its runs retry. `strict` (one-off
    commands) turns any failure into one line per source and an exit status instead.
    """
    log.info("sources enabled: %s", ", ".join(collectors) or "none (see [sources] in settings)")
    usable: dict[str, Collector] = {}
    failures: list[pipeline.CollectSummary] = []
    for name, collector in collectors.items():
        failure = pipeline.check(db, collector)
        if failure is not None:
            failures.append(failure)
            if failure.status == "config_error":
                log.error("source %s is not started: %s", name, failure.error)
                continue
            log.warning("source %s check failed, will retry: %s", name, failure.error)
        usable[name] = collector
    if strict and failures:
        for failure in failures:
            err.print(f"[bold red]error:[/] {failure.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2 if any(f.status == "config_error" for f in failures) else 1)
    left_out = [name for name in collectors if name not in usable]
    if left_out:  # their alert opens now: no job will run them
        Jobs(settings, db, {}, stages=()).check_health(left_out)
    return usable


def _enabled_collectors(settings: Settings) -> dict[str, Collector]:
    try:
        return registry.build_enabled(settings)
    except SourceConfigError as error:
        raise fail(str(error), code=2) from None


@app.command()
def collect(
    ctx: typer.Context,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    once: Annotated[bool, typer.Option(help="One pass over the sources, then exit.")] = False,
) -> None:
    """Collect new mentions from the enabled sources (or those named), without processing them."""
    state = _state(ctx)
    settings = state.settings
    try:
        collectors = (
            {name: registry.build(name, settings) for name in source}
            if source
            else registry.build_enabled(settings)
        )
    except SourceConfigError as error:
        raise fail(str(error), code=2) from None
    if not collectors:
        raise fail(
            "no source is enabled: set enabled = true under [sources.NAME], or pass --source", 2
        )
    db = state.database()
    collectors = _checked(settings, db, collectors, strict=once)
    jobs = Jobs(settings, db, collectors, stages=())
    if once:
        summaries = [jobs.collect(name) for name in collectors]
        for summary in summaries:
            _print_summary(summary)
        if any(s.status != "ok" for s in summaries):
            raise typer.Exit(1)
        return
    stop = threading.Event()
    with _stopping_on_signals(stop):
        scheduler = create_scheduler(settings, jobs, with_pipeline=False)
        scheduler.start()
        stop.wait()
        scheduler.shutdown(wait=True)


def _print_summary(summary: pipeline.CollectSummary) -> None:
    line = f"{summary.source}: {summary.new} new, {summary.seen - summary.new} already known"
    if summary.quarantined:
        line += f", {summary.quarantined} quarantined (see `socialcrm status`)"
    if summary.error:
        line += f" — {summary.status}: {summary.error}"
    out.print(line, highlight=False, markup=False)


@app.command()
def process(ctx: typer.Context) -> None:
    """Move every waiting mention through classify, link and route."""
    state = _state(ctx)
    db = state.database()
    stages = pipeline.default_stages(state.settings)
    cli_nlp.load_classifier(state.settings)
    with _progress() as bar:
        moved = {}
        for stage in stages:
            task = bar.add_task(stage.name, total=None)
            moved[stage.name] = pipeline.run_stage(
                db,
                stage,
                state.settings.pipeline.batch_size,
                progress=partial(bar.advance, task),
            )
    out.print(", ".join(f"{name}: {count}" for name, count in moved.items()), markup=False)


@contextmanager
def _progress(disable: bool = False) -> Iterator[Progress]:
    """A progress bar on stderr that disappears when done."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=disable,
    )
    with bar:
        yield bar


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv export (see docs/import.md).")],
    source: Annotated[
        str | None, typer.Option(help="Source for records without a `source` field.")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the file's ending).")
    ] = None,
) -> None:
    """Import mentions from an export file; re-importing never doubles, resuming skips done work."""
    state = _state(ctx)
    if fmt not in (None, "jsonl", "csv"):
        raise fail(f"--format {fmt!r} is invalid: expected jsonl or csv", 2)
    try:
        collector = FileImportCollector(
            file,
            source or state.settings.import_.default_source,
            state.settings.import_.page_size,
            fmt=cast(Format | None, fmt),
        )
        collector.check()
    except SourceConfigError as error:
        raise fail(str(error), code=2) from None
    db = state.database()
    with _progress() as bar:
        task = bar.add_task(f"importing {file.name}", total=_count_lines(file))
        key = pseudonym.settings_key(state.settings)
        summary = pipeline.collect(
            db, collector, progress=partial(bar.advance, task), pseudonym_key=key
        )
    _print_summary(summary)
    if summary.status != "ok":
        raise typer.Exit(1)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database schema up to date (also done on every start)."""
    db = _state(ctx).database(ensure_schema=False)
    try:
        before = db.current_revision()
        db.upgrade()
    except Exception as error:
        raise fail(f"cannot upgrade the database: {error}") from None
    out.print(
        f"database at revision {db.current_revision()} (was {before or 'empty'})", markup=False
    )


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the schema revision of the database and the newest one this version knows."""
    db = _state(ctx).database(ensure_schema=False)
    try:
        current = db.current_revision()
    except Exception as error:
        raise fail(f"cannot read the database: {error}") from None
    out.print(f"database: {current or 'empty'}; code: {db.head_revision()}", markup=False)


@app.command("status")
def status_(ctx: typer.Context) -> None:
    """Per-source freshness and last errors, pipeline queue depth, quarantined items."""
    state = _state(ctx)
    db = state.database()
    with db.transaction() as session:
        report = status.gather(session, state.settings.sources.enabled())
    _render_status(report)


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = int((utcnow() - moment).total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _render_status(report: status.Report) -> None:
    _render_sources(report.sources)
    volumes = Table(title="Mentions", title_justify="left")
    for column in ("source", "mentions", "newest posted", "last collected"):
        volumes.add_column(column)
    for v in report.volumes:
        volumes.add_row(v.source, str(v.count), _ago(v.newest_at), _ago(v.last_collected_at))
    out.print(volumes)
    states = ", ".join(f"{k} {v}" for k, v in sorted(report.states.items())) or "empty"
    outbox = ", ".join(f"{k} {v}" for k, v in sorted(report.outbox.items())) or "empty"
    out.print(f"pipeline: {states}", markup=False)
    out.print(f"open tasks: {report.open_tasks}; outbox: {outbox}", markup=False)
    quarantined = ", ".join(f"{k} {v}" for k, v in sorted(report.quarantined.items()))
    out.print(
        f"quarantined items: {sum(report.quarantined.values())}"
        + (f" ({quarantined})" if quarantined else ""),
        markup=False,
        soft_wrap=True,
    )
    if report.recent_quarantine:
        _render_quarantine(report.recent_quarantine)


def _render_sources(sources: list[status.SourceStatus]) -> None:
    table = Table(title="Sources", title_justify="left")
    for column in ("source", "state", "last success", "lag", "items", "rejects", "last error"):
        table.add_column(column)
    for s in sources:
        h = s.health
        off = "" if s.enabled else " (off)"
        if h is None:
            table.add_row(s.source, f"never run{off}", *["-"] * 5)
            continue
        alert = f", ALERT {h.alert}" if h.alert else ""
        table.add_row(
            s.source,
            f"{h.status}{alert}{off}",
            _ago(h.last_success_at),
            _duration(h.lag_seconds),
            str(h.items_total),
            str(h.quarantined_total),
            (h.last_error or "")[:120],
        )
    out.print(table)


def _render_quarantine(items: list[models.QuarantinedItem]) -> None:
    table = Table(title="Recently quarantined", title_justify="left")
    table.add_column("source")
    table.add_column("where", no_wrap=True)
    table.add_column("reason")
    for item in items:
        table.add_row(item.source, item.locator or "-", item.reason[:200])
    out.print(table)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return _ago(utcnow() - timedelta(seconds=seconds)).removesuffix(" ago")


# each module adds its commands to `app` when imported
from socialcrm import (  # noqa: E402
    cli_crm,  # noqa: F401 - crm status|dispatch|retry-dead
    cli_customers,  # noqa: F401 - customers import|link|unlink|merge|split|suggestions|accept|reject
    cli_nlp,  # classify; nlp train|eval|correct
    cli_privacy,  # noqa: F401 - customers export|forget; retention purge
    cli_profile,  # noqa: F401 - customers show
    cli_queue,  # noqa: F401 - queue list|show|claim|release|reply|approve|send|note|dismiss|escalate
    cli_report,  # noqa: F401 - report --since 7d --format html|csv|png --output FILE
    cli_tokens,  # noqa: F401 - tokens create|list|revoke
    cli_web,  # noqa: F401 - web; users add|list|disable|password
)
