"""Coverage: when each source was failing, rate-limited, not configured or not running at all,
so that a gap in a chart is never mistaken for silence.

Runs of one source are grouped into episodes of the same kind in SQL (window functions); an
episode lasts from its first run to the first run of the next episode (or the window's end).
The state at the window's start is the source's last run before it.

When the whole bot is down no run is recorded at all: a silence after a good run longer than
`SILENCE_FACTOR` times the source's schedule interval (at least `MIN_SILENCE`) is a gap of its
own, "not running", from the end of that run to the start of the next (or the window's end).
Silences are found by walking each source's runs along the (source, started_at) index a limit
at a time (a recursive CTE, `_walk`), not by comparing every run with the next (LAG), which
reads every run of the window: 0.15 s against 1.5 s for 330,000 runs in 30 days on SQLite.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import String, case, cast, func, literal, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from reports.sql import dialect_of, minutes_between
from reports.types import CoverageGap
from socialcrm import models
from socialcrm.mention import utcnow
from socialcrm.settings import SourceSettings, SourcesSettings

R = models.CollectorRun
OK = "ok"
# collector_runs.status -> the kind of gap it means (anything else unknown counts as failing)
KINDS = {"ok": OK, "rate_limited": "rate_limited", "config_error": "not_configured"}
FAILING = "failing"
NOT_CONFIGURED = "not_configured"
NOT_RUNNING = "not_running"
# a source silent for this many of its intervals after a good run was not running at all
SILENCE_FACTOR: Final = 3
# ... but never less than this: a run that is late or slow is not an outage
MIN_SILENCE: Final = timedelta(minutes=30)


def _kind(status: Any) -> Any:
    whens = [(status == status_name, kind) for status_name, kind in KINDS.items()]
    return case(*whens, else_=FAILING)


def _sources() -> Any:
    """Every source that ever ran, one index seek each (a loose scan of the source index).

    `SELECT DISTINCT source` would read the whole index: a run a source an hour is a table
    that only grows.
    """
    first = select(func.min(R.source).label("source")).cte("sources", recursive=True)
    following = select(func.min(R.source)).where(R.source > first.c.source).scalar_subquery()
    return first.union_all(select(following).where(first.c.source.is_not(None)))


def _runs(since: datetime, until: datetime) -> Any:
    """Finished runs in the window, and each source's last finished run before it (at `since`).

    Both parts are looked up per source along the (source, started_at) index, so they cost the
    runs of the window, not every run ever stored.
    """
    finished = R.status != "running"
    sources = _sources()
    known = select(sources.c.source).where(sources.c.source.is_not(None))
    inside = select(
        R.source.label("source"),
        R.started_at.label("at"),
        R.id.label("id"),
        _kind(R.status).label("kind"),
        R.error.label("error"),
    ).where(R.source.in_(known), finished, R.started_at >= since, R.started_at < until)
    latest = (
        select(func.max(R.started_at))
        .where(R.source == sources.c.source, finished, R.started_at < since)
        .scalar_subquery()
    )
    last = (
        select(sources.c.source.label("source"), latest.label("at"))
        .where(sources.c.source.is_not(None))
        .subquery("last")
    )
    before = (
        select(
            R.source.label("source"),
            literal(since, R.started_at.type).label("at"),
            R.id.label("id"),
            _kind(R.status).label("kind"),
            R.error.label("error"),
        )
        .join(last, (last.c.source == R.source) & (last.c.at == R.started_at))
        .where(finished)
    )
    return union_all(before, inside).subquery("runs")


def _episodes(session: Session, since: datetime, until: datetime) -> list[Any]:
    runs = _runs(since, until)
    order = (runs.c.at, runs.c.id)
    previous = func.lag(runs.c.kind).over(partition_by=runs.c.source, order_by=order)
    marked = select(runs, previous.label("previous")).subquery("marked")
    changed = case((marked.c.previous.is_distinct_from(marked.c.kind), 1), else_=0)
    episode = func.sum(changed).over(
        partition_by=marked.c.source, order_by=(marked.c.at, marked.c.id)
    )
    numbered = select(marked, episode.label("episode")).subquery("numbered")
    grouped = (
        select(
            numbered.c.source,
            numbered.c.episode,
            func.min(numbered.c.kind).label("kind"),
            func.min(numbered.c.at, type_=R.started_at.type).label("start"),
            func.max(numbered.c.error).label("error"),
        )
        .group_by(numbered.c.source, numbered.c.episode)
        .subquery("grouped")
    )
    following = func.lead(grouped.c.start, type_=R.started_at.type).over(
        partition_by=grouped.c.source, order_by=grouped.c.start
    )
    return list(
        session.execute(
            select(
                grouped.c.source, grouped.c.kind, grouped.c.start, following, grouped.c.error
            ).order_by(grouped.c.source, grouped.c.start)
        ).all()
    )


def _episode_gaps(
    session: Session, since: datetime, until: datetime
) -> tuple[list[CoverageGap], set[str]]:
    """Failing, rate-limited and not-configured gaps, and every source that ran up to `until`."""
    gaps: list[CoverageGap] = []
    seen: set[str] = set()
    for source, kind, start, end, error in _episodes(session, since, until):
        seen.add(source)
        if kind == OK:
            continue
        start = max(_aware(start), since)
        stop = min(_aware(end), until) if end is not None else until
        if start < stop:
            gaps.append(CoverageGap(source=source, status=kind, start=start, end=stop, error=error))
    return gaps, seen


def _later(value: Any, seconds: Any, dialect: str) -> Any:
    """`value` plus `seconds`, in SQL (SQLite: ISO text to the millisecond, which only ever errs
    early, so a bound built with it finds a subset of the runs before the true bound)."""
    if dialect == "postgresql":
        return value + seconds * literal_column("interval '1 second'")
    return func.strftime("%Y-%m-%d %H:%M:%f", value, "+" + cast(seconds, String) + " seconds")


def _walk(since: datetime, until: datetime, limits: Any, dialect: str) -> Any:
    """Each source's runs up to `until`, walked from its last run before `since`: from a run, on
    to the last one starting within its limit (no silence can hide between them), or when there
    is none, to the very next run, or NULL at the end; (source, limit, prev, at) per step.

    Every step is an index seek on (source, started_at), and a step covers about one limit, so
    the walk costs the window's length over the limit, not the runs in it (a source every ten
    seconds has 260,000 runs in 30 days, and 1,440 steps of 30 minutes).
    """
    alive = R.status != "running"
    seek = select(R.started_at).where(R.source == limits.c.source, alive)
    before = seek.where(R.started_at < since).order_by(R.started_at.desc()).limit(1)
    first = seek.where(R.started_at >= since, R.started_at < until).order_by(R.started_at)
    start = func.coalesce(before.scalar_subquery(), first.limit(1).scalar_subquery())
    nothing = cast(null(), R.started_at.type)
    seed = select(limits.c.source, limits.c.limit, nothing.label("prev"), start.label("at"))
    walk = seed.cte("walk", recursive=True)
    later = (R.source == walk.c.source, alive, R.started_at > walk.c.at)
    # one upper bound only: given `until` as well, SQLite seeks from it and walks back
    bound = R.started_at <= _later(walk.c.at, walk.c.limit, dialect)
    within = select(func.max(R.started_at)).where(*later, bound).scalar_subquery()
    following = select(func.min(R.started_at)).where(*later, R.started_at < until)
    # a run within the limit but past `until`: no silence is left in the window, the walk ends
    nxt = case(
        (within.is_(None), following.scalar_subquery()),
        (within < until, within),
        else_=None,
    )
    return walk.union_all(
        select(walk.c.source, walk.c.limit, walk.c.at, nxt).where(walk.c.at.is_not(None))
    )


def _silences(
    session: Session,
    since: datetime,
    until: datetime,
    limits: Mapping[str, timedelta],
    names: Collection[str] | None,
) -> list[Any]:
    """(source, end of a good run, start of the next run or None: `until`) of every silence after
    a good run longer than the source's limit (`limits`, else the default); `names`: only these.
    """
    seconds = {name: limit.total_seconds() for name, limit in limits.items()}
    if names is None:
        every = _sources()
        listed = select(every.c.source).where(every.c.source.is_not(None)).subquery()
    else:
        names_ = (select(literal(name).label("source")) for name in sorted(names))
        listed = union_all(*names_).subquery()
    limit = case(seconds, value=listed.c.source, else_=threshold(None).total_seconds())
    sources = select(listed.c.source, limit.label("limit")).subquery("limits")
    walk = _walk(since, until, sources, dialect_of(session))
    ended = func.coalesce(R.finished_at, R.started_at, type_=R.started_at.type)
    stop = func.coalesce(walk.c.at, literal(until, R.started_at.type))
    silent = minutes_between(ended, stop, dialect_of(session)) * 60
    query = (
        select(walk.c.source, ended, walk.c.at)
        .join(R, (R.source == walk.c.source) & (R.started_at == walk.c.prev))
        .where(R.status == OK, silent > walk.c.limit)
        .distinct()
    )
    return list(session.execute(query).all())


DEFAULT_INTERVAL: Final[float] = SourceSettings.model_fields["interval_seconds"].default


def schedule_intervals(sources: SourcesSettings) -> dict[str, float]:
    """The schedule interval (seconds) of every enabled source, as settings give it."""
    tables = {name: sources.table(name) for name in sources.enabled()}
    return {name: table.interval_seconds for name, table in tables.items() if table is not None}


def default_interval(source: str) -> float:
    """A source's interval when the caller does not give it: its built-in default."""
    field = SourcesSettings.model_fields.get(source)
    table = field.default if field is not None else None
    return table.interval_seconds if isinstance(table, SourceSettings) else DEFAULT_INTERVAL


def threshold(interval_seconds: float | None) -> timedelta:
    """How long a source scheduled every `interval_seconds` may be silent while it runs."""
    interval = timedelta(seconds=DEFAULT_INTERVAL if interval_seconds is None else interval_seconds)
    return max(SILENCE_FACTOR * interval, MIN_SILENCE)


def _silence_gaps(
    session: Session,
    since: datetime,
    until: datetime,
    expected: Collection[str],
    intervals: Mapping[str, float],
) -> list[CoverageGap]:
    """The not-running gaps of the expected sources (of every source when none is expected)."""
    until = min(until, utcnow())  # a silence runs on to the window's end, not into the future
    names = expected or SourcesSettings.model_fields
    limits = {name: threshold(intervals.get(name, default_interval(name))) for name in names}
    gaps = []
    for source, ended, following in _silences(session, since, until, limits, expected or None):
        start = max(_aware(ended), since)
        stop = until if following is None else min(_aware(following), until)
        if start < stop:
            gaps.append(
                CoverageGap(source=source, status=NOT_RUNNING, start=start, end=stop, error=None)
            )
    return merged(gaps, limits)


def merged(gaps: Sequence[CoverageGap], limits: Mapping[str, timedelta]) -> list[CoverageGap]:
    """Silences of a source that only a stray run (less than its limit) keeps apart, as one.

    A source that runs every two hours where every fifteen minutes were due is "not running"
    for the whole span: one band on a chart, not one per run.
    """
    out: list[CoverageGap] = []
    for gap in sorted(gaps, key=lambda g: (g["source"], g["start"])):
        last = out[-1] if out else None
        limit = limits.get(gap["source"], threshold(None))
        if last and last["source"] == gap["source"] and gap["start"] - last["end"] < limit:
            last["end"] = max(last["end"], gap["end"])
            continue
        out.append(CoverageGap(**gap))
    return out


def coverage(
    session: Session,
    since: datetime,
    until: datetime,
    sources: Sequence[str] = (),
    intervals: Mapping[str, float] | None = None,
) -> list[CoverageGap]:
    """When each source was failing, rate-limited, not configured or not running in [since, until).

    The sources expected to run (enabled in settings) are those of `sources` and `intervals`;
    one with no run at all up to the window's end counts as not configured for all of it.
    `intervals`: schedule intervals in seconds (`schedule_intervals`; a source left out has its
    built-in default), which say how long a silence after a good run may last before it is a
    "not running" gap. Silences are looked for in the expected sources, or in every one when
    none is expected.
    """
    gaps, seen = _episode_gaps(session, since, until)
    expected = {*sources, *(intervals or {})}
    gaps += _silence_gaps(session, since, until, expected, intervals or {})
    for source in sorted(expected):
        if source not in seen:
            gaps.append(
                CoverageGap(
                    source=source, status=NOT_CONFIGURED, start=since, end=until, error=None
                )
            )
    return sorted(gaps, key=lambda gap: (gap["source"], gap["start"]))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
