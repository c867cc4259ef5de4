"""Report speed on 1,000,000 mentions: p95 of the overview and of filtered mention lists.

Loads a seeded, realistic data set (a year of mentions from six sources, 95% labelled, tasks,
collector runs with outages) by bulk insert into a fresh database made by `Database.upgrade()`,
with the rollup and full-text triggers of migration 0007 firing as they do in production;
then times `reports.queries.overview` (last 30 days) and `mention_page` with filters, each call
in its own session, and prints p50/p95/max. SQLite gets no ANALYZE (as a fresh install has
none); PostgreSQL is analysed, as autovacuum would.

    .venv/bin/python bench/reports.py [--count N] [--repeat N] [--postgres URL]
                                      [--sqlite-file PATH] [--pg-schema NAME] [--keep]
                                      [--only TEXT]

`--sqlite-file` / `--pg-schema` with `--keep` keep the loaded data; given again, it is reused.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

# run as a script, this file's folder is first on sys.path and its name shadows the package it
# measures: take the folder off before importing `reports`
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from reports import charts, queries  # noqa: E402
from reports.filters import MentionFilter  # noqa: E402
from reports.report import gather  # noqa: E402
from socialcrm import models  # noqa: E402
from socialcrm.db import Database, create_schema, drop_schema, schema_url  # noqa: E402

PG_ENV = "SOCIALCRM_TEST_DATABASE_URL"
NOW = datetime(2026, 11, 20, 13, 37, tzinfo=UTC)
AUTHORS = 50_000
BATCH = 10_000
SOURCES = ("reddit", "mastodon", "bluesky", "hackernews", "rss", "import")
SCHEDULE = dict.fromkeys(SOURCES, 3600.0)  # the recorded runs are hourly: so is the schedule
SOURCE_WEIGHTS = (35, 20, 20, 10, 10, 5)
QUERIES = ("brand:acme", "brand:acme app", "competitor:globex", "competitor:initech")
QUERY_WEIGHTS = (45, 15, 25, 15)
SOURCE_CUMULATIVE = list(itertools.accumulate(SOURCE_WEIGHTS))
QUERY_CUMULATIVE = list(itertools.accumulate(QUERY_WEIGHTS))
WATCH_TERMS = ("acme", "globex", "initech")  # as settings' watch.brand + watch.competitors
SENTIMENTS = ("negative", "neutral", "positive")
INTENTS = ("complaint", "question", "purchase_intent", "praise", "feature_request", "spam")
PHRASES = (
    "the app keeps crashing when I open settings after the update",
    "love the new dashboard",
    "anyone else seeing slow sync today",
    "support answered in minutes impressed",
    "how do I export my invoices to csv",
    "price went up again and nobody told us",
    "switched from a competitor last month",
    "the mobile login loop is back",
    "is there an API for bulk edits",
    "my order still says pending and I want a refund",
    "thanks for fixing the dark mode bug",
    "integration with slack would be perfect",
)
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "qua", "bri", "sto", "fen")
# searched: a word of a phrase (in ~8% of texts), and made-up words of these popularity ranks
COMMON_RANK, RARE_RANK = 20, 4000


def vocabulary(rng: random.Random) -> list[str]:
    """Distinct made-up words, to be drawn with a Zipf-like skew (the first most often)."""
    words: dict[str, None] = {}
    while len(words) < 5000:
        words["".join(rng.choices(SYLLABLES, k=rng.randint(3, 5)))] = None
    return list(words)


def mention_rows(count: int, days: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """Batches of mention rows, oldest first (ids follow time, as collection makes them)."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    start, step = NOW - timedelta(days=days), days * 86_400 / count
    batch: list[dict[str, Any]] = []
    for number in range(count):
        body = " ".join(
            [rng.choice(PHRASES), *rng.choices(words, cum_weights=cumulative, k=rng.randint(4, 20))]
        )
        batch.append(
            {
                "source": rng.choices(SOURCES, cum_weights=SOURCE_CUMULATIVE)[0],
                "source_id": f"m{number}",
                "author_id": 1 + int(rng.paretovariate(1.2) * 7) % AUTHORS,
                "text": body,
                "matched_query": rng.choices(QUERIES, cum_weights=QUERY_CUMULATIVE)[0],
                "extra": {},
                "created_at": start + timedelta(seconds=number * step + rng.random() * 60),
                "collected_at": NOW,
                "state": "routed",
                "state_changed_at": NOW,
            }
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def label_rows(ids: range, seed: int) -> list[dict[str, Any]]:
    """Classifications for 95% of `ids` (the rest: another language, or not classified yet)."""
    rng = random.Random(seed)
    rows = []
    for mention_id in ids:
        if rng.random() < 0.05:
            continue
        sentiment = rng.choices(SENTIMENTS, (30, 50, 20))[0]
        intents = {name: round(rng.random() ** 3, 3) for name in INTENTS}
        rows.append(
            {
                "mention_id": mention_id,
                "sentiment": sentiment,
                "sentiment_scores": {sentiment: 0.8},
                "intents": intents,
                "needs_reply": 0.5,
                "uncertain": rng.random() < 0.15,
                "lang": "en",
                "model": "bench@1",
                "classified_at": NOW,
            }
        )
    return rows


def load(db: Database, count: int, days: int, seed: int) -> None:
    """Authors, mentions with labels, tasks and collector runs; prints how long it took."""
    begun = time.perf_counter()
    with db.transaction() as session:
        session.execute(
            insert(models.Author.__table__),
            [
                {
                    "source": "reddit",
                    "key": f"a{n}",
                    "handle": f"user{n}",
                    "followers": n * 37 % 90_001,
                }
                for n in range(1, AUTHORS + 1)
            ],
        )
    loaded = 0
    for number, batch in enumerate(mention_rows(count, days, seed)):
        with db.transaction() as session:
            session.execute(insert(models.Mention.__table__), batch)
            first = session.scalar(select(func.max(models.Mention.id))) - len(batch) + 1
            session.execute(
                insert(models.Classification.__table__),
                label_rows(range(first, first + len(batch)), number),
            )
        loaded += len(batch)
        if number % 10 == 0:
            print(f"  loaded {loaded:,} mentions ({time.perf_counter() - begun:.0f} s)", flush=True)
    load_work(db, count, days, seed)
    print(f"  load: {time.perf_counter() - begun:.1f} s", flush=True)


def load_work(db: Database, count: int, days: int, seed: int) -> None:
    """Tasks for 3% of the mentions, and hourly runs of every source with some outages."""
    rng = random.Random(seed + 1)
    tasks = []
    for mention_id in rng.sample(range(1, count + 1), count * 3 // 100):
        opened = NOW - timedelta(days=days * mention_id / count) + timedelta(minutes=5)
        answered = rng.random() < 0.8
        tasks.append(
            {
                "conversation": f"c{mention_id}",
                "mention_id": mention_id,
                "author_id": 1,
                "state": "sent" if answered else rng.choice(("new", "claimed")),
                "priority": 3,
                "queue": rng.choice(("support", "sales", "social")),
                "assignee": rng.choice(("ana", "ben", "chi", None)),
                "opened_at": opened,
                "sla_due_at": opened + timedelta(hours=4),
                "first_response_at": opened + timedelta(minutes=rng.expovariate(1 / 150))
                if answered
                else None,
                "created_at": opened,
                "updated_at": opened,
            }
        )
    runs = []
    for source in SOURCES:
        for hour in range(days * 24):
            began = NOW - timedelta(days=days) + timedelta(hours=hour)
            outage = (hour // 24) % 17 == 3 and source in ("reddit", "bluesky")
            runs.append(
                {
                    "source": source,
                    "started_at": began,
                    "status": ("rate_limited" if source == "reddit" else "error")
                    if outage
                    else "ok",
                    "finished_at": began + timedelta(minutes=1),
                }
            )
    with db.transaction() as session:
        session.execute(insert(models.Task.__table__), tasks)
        session.execute(insert(models.CollectorRun.__table__), runs)


def timed(label: str, call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Call `repeat` times (after one warm-up); print and return (p50, p95) in ms.

    Also prints the median CPU time of this process per call: on a machine shared with other
    work it moves far less than the wall-clock times (PostgreSQL's own work is not in it).
    """
    call()
    times, cpu = [], []
    for _ in range(repeat):
        begun, begun_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - begun) * 1000)
        cpu.append((time.process_time() - begun_cpu) * 1000)
    times.sort()
    p50, p95 = statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)]
    print(
        f"  {label:<58} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {times[-1]:7.1f} ms"
        f"  cpu p50 {statistics.median(cpu):7.1f} ms"
    )
    return p50, p95


def overview_page(session: Any, since: datetime, until: datetime) -> list[str]:
    """What `/` computes: every report of the window, every chart built and made JSON."""
    report = gather(session, since, until, intervals=SCHEDULE, watch_terms=WATCH_TERMS)
    return [charts.script_json(figure) for figure in charts.figures(report).values()]


def measure(db: Database, repeat: int, seed: int, only: str = "") -> dict[str, float]:
    """Time the overview and mention lists (those whose label has `only`); p95 per case in ms."""

    def in_session(work: Callable[[Any], object]) -> Callable[[], object]:
        def call() -> object:
            with db.transaction() as session:
                return work(session)

        return call

    since, until = NOW - timedelta(days=30), NOW
    recent = NOW - timedelta(days=7)
    words = vocabulary(random.Random(seed))
    common, rare = words[COMMON_RANK], words[RARE_RANK]
    cases: list[tuple[str, Callable[[Any], object]]] = [
        ("overview, last 30 days", lambda s: queries.overview(s, since, until)),
        # what the overview page runs: every report of the window, every chart as JSON
        ("overview page: every report + chart, 30 days", lambda s: overview_page(s, since, until)),
        (
            "sentiment_trend, 90 days by day",
            lambda s: queries.sentiment_trend(s, NOW - timedelta(days=90), until),
        ),
    ]
    filters = {
        "mentions: reddit + negative + text 'refund'": MentionFilter(
            source="reddit", sentiment="negative", text="refund"
        ),
        f"mentions: mastodon + positive + text '{common}'": MentionFilter(
            source="mastodon", sentiment="positive", text=common
        ),
        f"mentions: text '{rare}' (rare)": MentionFilter(text=rare),
        f"mentions: text 'refund {common}' (two words)": MentionFilter(text=f"refund {common}"),
        "mentions: hackernews + negative + complaint": MentionFilter(
            source="hackernews", sentiment="negative", intent="complaint"
        ),
        "mentions: competitor:initech + last 7 days": MentionFilter(
            query="competitor:initech", since=recent
        ),
        "mentions: text 'refund dashboard' (never together)": MentionFilter(
            text="refund dashboard"
        ),
        "mentions: reddit + negative, one day 300 days ago": MentionFilter(
            source="reddit",
            sentiment="negative",
            since=NOW - timedelta(days=300),
            until=NOW - timedelta(days=299),
        ),
        "mentions: initech + unlabelled + purchase_intent (none)": MentionFilter(
            query="competitor:initech", sentiment="unlabelled", intent="purchase_intent"
        ),
        "mentions: no filter": MentionFilter(),
    }
    for label, f in filters.items():
        cases.append((label, lambda s, f=f: queries.mention_page(s, f, 50)))
    return {
        label: timed(label, in_session(work), repeat)[1]
        for label, work in cases
        if only.lower() in label.lower()
    }


def bench(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    """Load (unless already loaded) and measure one database."""
    db = Database(url)
    try:
        db.upgrade()
        with db.transaction() as session:
            have = session.scalar(select(func.count()).select_from(models.Mention)) or 0
        if have == 0:
            print(f"{name}: loading {args.count:,} mentions over {args.days} days", flush=True)
            load(db, args.count, args.days, args.seed)
            if db.dialect == "postgresql":
                with db.engine.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "VACUUM ANALYZE"
                    )
        else:
            print(f"{name}: reusing {have:,} mentions", flush=True)
        print(f"{name}: {args.repeat} calls each", flush=True)
        return measure(db, args.repeat, args.seed, args.only)
    finally:
        db.dispose()


def main() -> int:
    """Parse the options, run SQLite (and PostgreSQL), print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="mentions to load")
    parser.add_argument("--days", type=int, default=365, help="spread over this many days")
    parser.add_argument("--repeat", type=int, default=40, help="timed calls per case")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--postgres", default=os.environ.get(PG_ENV) or None, metavar="URL")
    parser.add_argument("--sqlite-file", type=Path, help="SQLite file to load (or reuse)")
    parser.add_argument("--pg-schema", help="PostgreSQL schema to load (or reuse)")
    parser.add_argument("--keep", action="store_true", help="keep the loaded PostgreSQL schema")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--only", default="", metavar="TEXT", help="time only cases naming TEXT")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="socialcrm-bench-") as tmp:
        if not args.skip_sqlite:
            path = args.sqlite_file or Path(tmp) / "reports.db"
            results["sqlite"] = bench("sqlite", f"sqlite:///{path}", args)
    if args.postgres:
        # a named schema is loaded once and reused (with --keep); otherwise a fresh one
        schema = args.pg_schema or f"bench_{uuid.uuid4().hex[:12]}"
        create_schema(args.postgres, schema, exist_ok=True)
        url = schema_url(args.postgres, schema)
        try:
            results["postgresql"] = bench("postgresql", url, args)
        finally:
            if not args.keep:
                drop_schema(args.postgres, schema)
    else:
        print(f"postgresql: skipped (pass --postgres URL or set {PG_ENV})")
    worst = max(p95 for figures in results.values() for p95 in figures.values())
    print(f"worst p95: {worst:.1f} ms (target 500 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
