"""Import throughput: mentions/second through the real import path, on SQLite and PostgreSQL.

Generates a seeded export file (JSON Lines or CSV) and imports it with `FileImportCollector`
and `pipeline.collect` into a fresh database whose schema is made by `Database.upgrade()`:
a new SQLite file, and a new schema on PostgreSQL when a URL is given. Then it imports the
same file again from its start (the cursor cleared), so every record takes the dedupe path.

Each database runs in its own process, so its peak RSS is its own.

    .venv/bin/python bench/ingest.py [--count N] [--format jsonl|csv] [--postgres URL]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete

from collectors.files import FileImportCollector, Format
from socialcrm import models, pipeline
from socialcrm.db import Database, scratch_schema

PG_ENV = "SOCIALCRM_TEST_DATABASE_URL"
FIELDS = ("id", "text", "created_at", "author", "author_name", "query")
AUTHORS = 10_000
SOURCE = "import"

FIRST = ("Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas")
LAST = ("Okafor", "Lindqvist", "Moreau", "Nakamura", "Silva", "Novak", "Haddad", "Kowalski")
PHRASES = (
    "the app keeps crashing when I open settings after the update",
    "love the new dashboard",
    "anyone else seeing slow sync today?",
    "support answered in minutes, impressed",
    "how do I export my invoices to csv",
    "price went up again and nobody told us",
    "switched from a competitor last month",
    "the mobile login loop is back",
    "great webinar yesterday, slides please",
    "is there an API for bulk edits",
    "my order still says pending",
    "thanks for fixing the dark mode bug",
    "cancel my subscription please",
    "integration with slack would be perfect",
    "onboarding was smooth",
    "merci pour la mise à jour 🙏",
    "funktioniert wieder, danke 👍",
)
QUERIES = ("acme", "acme app", "@acmehq", "#acme", "acme support", "acme pricing")


@dataclass(frozen=True)
class Timing:
    """One import: how many records it read, how many were new, how long it took."""

    seen: int
    new: int
    seconds: float

    @property
    def rate(self) -> float:
        """Mentions read per second."""
        return self.seen / self.seconds


def records(count: int, seed: int) -> Iterator[dict[str, str]]:
    """`count` realistic export records, the same ones for the same seed."""
    rng = random.Random(seed)
    people = [(rng.choice(FIRST), rng.choice(LAST)) for _ in range(AUTHORS)]
    handles = [f"{first}_{last[:4]}{n}".lower() for n, (first, last) in enumerate(people)]
    names = [f"{first} {last}" for first, last in people]
    moment = datetime(2026, 10, 1, tzinfo=UTC)
    for number in range(count):
        length = rng.randint(80, 200)
        body = rng.choice(PHRASES)
        while len(body) < length:
            body = f"{body}. {rng.choice(PHRASES)}"
        who = rng.randrange(AUTHORS)
        moment += timedelta(seconds=rng.randint(1, 60))
        yield {
            "id": str(1_860_000_000_000_000_000 + number * 7919),
            "text": body[:length],
            "created_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author": handles[who],
            "author_name": names[who],
            "query": rng.choice(QUERIES),
        }


def write_input(folder: Path, count: int, fmt: Format, seed: int) -> Path:
    """Write the export file and return its path."""
    path = folder / f"mentions.{fmt}"
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(records(count, seed))
        else:
            for record in records(count, seed):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def timed_import(db: Database, path: Path, fmt: Format) -> Timing:
    """Import `path` once, as `socialcrm import` does, and time it."""
    collector = FileImportCollector(path, SOURCE, fmt=fmt)
    start = time.perf_counter()
    summary = pipeline.collect(db, collector)
    seconds = time.perf_counter() - start
    if summary.status != "ok":
        raise RuntimeError(f"import failed: {summary.error}")
    return Timing(summary.seen, summary.new, seconds)


def run(url: str, path: Path, fmt: Format, count: int) -> tuple[Timing, Timing, int]:
    """First import and re-import into the empty database at `url`; peak RSS in KiB last."""
    db = Database(url)
    try:
        db.upgrade()
        gc.freeze()  # as the `socialcrm` CLI does once start-up is done
        first = timed_import(db, path, fmt)
        # the saved cursor would make a second run skip the whole file: clear it so that every
        # record is read again and meets its stored twin (ON CONFLICT DO NOTHING)
        with db.transaction() as session:
            session.execute(delete(models.CollectorCursor))
        again = timed_import(db, path, fmt)
    finally:
        db.dispose()
    if (first.seen, first.new, again.seen, again.new) != (count, count, count, 0):
        raise RuntimeError(f"unexpected counts: first {first}, re-import {again}")
    return first, again, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def in_child(url: str, path: Path, fmt: Format, count: int) -> tuple[Timing, Timing, int]:
    """`run` in a fresh process, so that peak memory is this database's alone."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run, url, path, fmt, count).result()


def describe(name: str, first: Timing, again: Timing, rss_kib: int) -> tuple[str, str]:
    """The two lines of figures of one database."""
    return (
        f"{name}: {first.seen:,} mentions in {first.seconds:.2f} s = {first.rate:,.0f} mentions/s"
        f" (peak RSS {rss_kib / 1024:.0f} MiB)",
        f"{name} re-import: {again.seen:,} mentions in {again.seconds:.2f} s"
        f" = {again.rate:,.0f} mentions/s ({again.new} new)",
    )


def main() -> int:
    """Parse the options, generate the input, run each database, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="mentions to import")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", dest="fmt")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(PG_ENV) or None,
        metavar="URL",
        help=f"also run on this PostgreSQL (default: ${PG_ENV}; skipped when unset)",
    )
    parser.add_argument("--seed", type=int, default=20261125, help="seed of the generated input")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")

    with tempfile.TemporaryDirectory(prefix="socialcrm-bench-") as tmp:
        folder = Path(tmp)
        path = write_input(folder, args.count, args.fmt, args.seed)
        size = path.stat().st_size / 1024 / 1024
        print(f"input: {args.count:,} {args.fmt} records ({size:.1f} MiB), {AUTHORS:,} handles")

        sqlite_url = f"sqlite:///{folder / 'bench.db'}"
        print(*describe("sqlite", *in_child(sqlite_url, path, args.fmt, args.count)), sep="\n")

        if args.postgres:
            with scratch_schema(args.postgres, "bench") as url:
                figures = in_child(url, path, args.fmt, args.count)
                print(*describe("postgresql", *figures), sep="\n")
        else:
            print(f"postgresql: skipped (pass --postgres URL or set {PG_ENV})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
