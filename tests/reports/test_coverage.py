"""Coverage when nothing ran at all: a silence after a good run is a "not running" gap."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from reports import coverage as c
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import Settings
from tests.reports import builders as b

QUARTER = {"reddit": 900.0}  # reddit every 15 minutes
RUN = timedelta(minutes=1)  # how long each built run lasts


def _gaps(db: Database, since: datetime, until: datetime, **kwargs: Any) -> list[tuple[Any, ...]]:
    with db.transaction() as session:
        found = c.coverage(session, since, until, **kwargs)
    return [(g["source"], g["status"], g["start"], g["end"]) for g in found]


def test_a_six_hour_hole_between_runs_is_not_running_from_end_to_start(db: Database) -> None:
    b.runs(db, "reddit", b.at(-1), b.at(0, 6), minutes=15)
    b.runs(db, "reddit", b.at(0, 12), b.at(1, 1), minutes=15)
    found = _gaps(db, b.at(0), b.at(1), sources=["reddit"], intervals=QUARTER)
    last = b.at(0, 6) - timedelta(minutes=15)  # the last run before the hole
    assert found == [("reddit", "not_running", last + RUN, b.at(0, 12))]


def test_normal_spacing_with_late_runs_is_no_gap(db: Database) -> None:
    b.runs(db, "reddit", b.at(-1), b.at(0, 3), minutes=15)
    late = b.at(0, 3) + timedelta(minutes=25 * 12)
    b.runs(db, "reddit", b.at(0, 3), late, minutes=25)  # late, but well under 3 intervals
    b.runs(db, "reddit", late + timedelta(minutes=15), b.at(1, 1), minutes=15)  # 40 min later
    assert _gaps(db, b.at(0), b.at(1), sources=["reddit"], intervals=QUARTER) == []


def test_silences_at_the_windows_edges_are_clipped_to_it(db: Database) -> None:
    b.run(db, "reddit", b.at(-2), "ok")  # the last run before the window, long before it
    b.runs(db, "reddit", b.at(0, 4), b.at(0, 20), minutes=15)
    found = _gaps(db, b.at(0), b.at(1), sources=["reddit"], intervals=QUARTER)
    assert found == [
        ("reddit", "not_running", b.at(0), b.at(0, 4)),
        ("reddit", "not_running", b.at(0, 20) - timedelta(minutes=15) + RUN, b.at(1)),
    ]


def test_a_silence_never_runs_into_the_future(db: Database) -> None:
    now = utcnow()
    b.run(db, "reddit", now - timedelta(hours=3), "ok")
    with db.transaction() as session:
        found = c.coverage(session, now - timedelta(hours=6), now + timedelta(days=1), ["reddit"])
    assert len(found) == 1
    assert found[0]["start"] == now - timedelta(hours=3) + RUN
    assert now <= found[0]["end"] <= utcnow()


def test_a_silence_after_a_failing_or_unconfigured_run_keeps_that_kind(db: Database) -> None:
    b.runs(db, "reddit", b.at(0), b.at(0, 2), minutes=15)
    b.run(db, "reddit", b.at(0, 2), "error", "boom")  # failing, then nothing for 6 hours
    b.runs(db, "reddit", b.at(0, 8), b.at(1), minutes=15)
    b.runs(db, "mastodon", b.at(0), b.at(0, 2), minutes=15)
    b.run(db, "mastodon", b.at(0, 2), "config_error", "bad token")  # switched off for good
    hours = {"reddit": 900.0, "mastodon": 900.0}
    assert _gaps(db, b.at(0), b.at(1), intervals=hours) == [
        ("mastodon", "not_configured", b.at(0, 2), b.at(1)),
        ("reddit", "failing", b.at(0, 2), b.at(0, 8)),
    ]


def test_only_expected_sources_are_looked_at_when_some_are_given(db: Database) -> None:
    b.runs(db, "reddit", b.at(0), b.at(1), minutes=15)
    b.run(db, "mastodon", b.at(0, 1), "ok")  # switched off in settings since
    assert _gaps(db, b.at(0), b.at(1), sources=["reddit"]) == []
    assert _gaps(db, b.at(0), b.at(1)) == [
        ("mastodon", "not_running", b.at(0, 1) + RUN, b.at(1)),
    ]


def test_a_source_not_given_an_interval_has_its_built_in_default(db: Database) -> None:
    b.runs(db, "rss", b.at(0), b.at(1), minutes=40)  # rss: every 15 minutes, so 45 allowed
    b.runs(db, "reddit", b.at(0), b.at(1), minutes=40)  # reddit: every 2 minutes, 30 allowed
    found = _gaps(db, b.at(0), b.at(1), sources=["rss", "reddit"])
    assert {source for source, *_ in found} == {"reddit"}
    # every 40-minute silence, kept apart by one-minute runs only: one gap to the window's end
    assert found == [("reddit", "not_running", b.at(0) + RUN, b.at(1))]


@pytest.mark.parametrize(
    ("interval", "allowed"),
    [
        (900, timedelta(minutes=45)),
        (10, c.MIN_SILENCE),
        (3600, timedelta(hours=3)),
        (None, c.MIN_SILENCE),
    ],
)
def test_the_silence_allowed_is_three_intervals_and_at_least_half_an_hour(
    interval: float | None, allowed: timedelta
) -> None:
    assert c.threshold(interval) == allowed


def test_schedule_intervals_come_from_the_enabled_sources_settings() -> None:
    settings = Settings.model_validate(
        {"sources": {"rss": {"enabled": True, "interval_seconds": 3600}, "reddit": {}}}
    )
    assert c.schedule_intervals(settings.sources) == {"rss": 3600}
    assert c.default_interval("reddit") == 120
    assert c.default_interval("someplugin") == c.DEFAULT_INTERVAL


def _random_runs(db: Database, source: str, seed: int) -> list[tuple[datetime, datetime, str]]:
    """Two days of runs at random spacing (some long silences), odd microseconds, mixed ends."""
    draw = random.Random(seed)
    runs, at = [], b.at(-1) + timedelta(microseconds=draw.randrange(10**6))
    while at < b.at(1, 2):
        status = draw.choices(["ok", "error", "running"], [8, 1, 1])[0]
        ended = at + timedelta(seconds=draw.uniform(0.5, 600))
        runs.append((at, ended, status))
        spacing = draw.uniform(60, 2400) if draw.random() < 0.8 else draw.uniform(2400, 9000)
        at += timedelta(seconds=spacing, microseconds=draw.randrange(10**6))
    with db.transaction() as session:
        session.add_all(
            models.CollectorRun(
                source=source,
                started_at=start,
                finished_at=None if status == "running" else end,
                status=status,
            )
            for start, end, status in runs
        )
    return [run for run in runs if run[2] != "running"]


def _silences_by_hand(
    runs: list[tuple[datetime, datetime, str]], since: datetime, until: datetime, limit: timedelta
) -> list[tuple[datetime, datetime]]:
    """The oracle: every pair of consecutive finished runs, one by one."""
    found = []
    starts = [start for start, _, _ in runs if start < until]
    for index, (_, ended, status) in enumerate(runs[: len(starts)]):
        following = starts[index + 1] if index + 1 < len(starts) else until
        if status == "ok" and following - ended > limit:
            start, end = max(ended, since), min(following, until)
            if start < end:
                found.append((start, end))
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_walk_finds_what_comparing_every_run_with_the_next_finds(
    db: Database, seed: int
) -> None:
    reddit, rss = _random_runs(db, "reddit", seed), _random_runs(db, "rss", seed + 100)
    since, until = b.at(0), b.at(1)
    intervals = {"reddit": 900.0, "rss": 1200.0}
    found = _gaps(db, since, until, sources=["reddit", "rss"], intervals=intervals)
    silences = [(source, start, end) for source, kind, start, end in found if kind == "not_running"]
    limits = {"reddit": c.threshold(900), "rss": c.threshold(1200)}
    by_hand = [
        _silence(source, *gap)
        for source, runs in (("reddit", reddit), ("rss", rss))
        for gap in _silences_by_hand(runs, since, until, limits[source])
    ]
    want = [(g["source"], g["start"], g["end"]) for g in c.merged(by_hand, limits)]
    assert len(want) >= 5  # the data has silences to find
    assert silences == sorted(want)


def _silence(source: str, start: datetime, end: datetime) -> c.CoverageGap:
    return c.CoverageGap(source=source, status=c.NOT_RUNNING, start=start, end=end, error=None)


def test_silences_kept_apart_only_by_a_stray_run_are_one_gap() -> None:
    limit = {"reddit": timedelta(minutes=45), "rss": timedelta(minutes=45)}
    hour = timedelta(hours=1)
    t0 = b.at(0)
    gaps = [
        _silence("reddit", t0 + 2 * hour + RUN, t0 + 4 * hour),  # a one-minute run between
        _silence("reddit", t0, t0 + 2 * hour),
        _silence("reddit", t0 + 6 * hour, t0 + 7 * hour),  # two good hours before it
        _silence("rss", t0 + 4 * hour + RUN, t0 + 5 * hour),  # another source: kept apart
    ]
    found = [(g["source"], g["start"], g["end"]) for g in c.merged(gaps, limit)]
    assert found == [
        ("reddit", t0, t0 + 4 * hour),
        ("reddit", t0 + 6 * hour, t0 + 7 * hour),
        ("rss", t0 + 4 * hour + RUN, t0 + 5 * hour),
    ]


def test_a_scheduled_source_that_never_ran_is_not_configured(db: Database) -> None:
    b.runs(db, "reddit", b.at(0), b.at(1), minutes=15)
    found = _gaps(db, b.at(0), b.at(1), intervals={"reddit": 900.0, "rss": 900.0})
    assert found == [("rss", "not_configured", b.at(0), b.at(1))]
