"""Linking cost: mentions/second through the link stage with 100,000 customers loaded.

Builds a fresh SQLite database (or a PostgreSQL schema with --postgres URL), imports 100,000
customers through the real import path (each with an email, a website and a Reddit name),
stores 10,000 seeded mentions (a third by customers' Reddit accounts, some with a customer's
email or site in their profile or posts, the rest strangers), then times the pipeline's stages
over them with a webhook connector enabled so CRM events are queued too:

- classify (the shipped model) and link, each over the same mentions;
- link again on new mentions by the same authors (the steady state: most authors known).

It prints mentions/s per stage and linking's share of the per-mention cost of storing,
classifying and linking (target: linking adds < 10%).

    .venv/bin/python bench/linking.py [--customers N] [--mentions N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

# this folder comes first on sys.path, and its nlp.py would shadow the nlp package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


from crm_sync.customer_import import import_records  # noqa: E402
from crm_sync.stage import LinkStage  # noqa: E402
from socialcrm import storage  # noqa: E402
from socialcrm.db import Database, scratch_schema  # noqa: E402
from socialcrm.mention import Author, Cursor, Mention, MentionState, Page  # noqa: E402
from socialcrm.pipeline import Stage, run_stage  # noqa: E402
from socialcrm.settings import Settings  # noqa: E402

START = datetime(2026, 11, 1, tzinfo=UTC)
PHRASES = (
    "the app keeps crashing when I open settings after the update",
    "love the new dashboard",
    "how do I export my invoices to csv",
    "price went up again and nobody told us",
    "is there an API for bulk edits, we would buy the team plan",
    "my order still says pending",
)


def customer_records(count: int) -> Iterator[tuple[int, dict[str, object]]]:
    """Seeded CRM records: an email, a website and a Reddit account each."""
    for n in range(count):
        yield (
            n + 2,
            {
                "crm_id": f"C-{n}",
                "name": f"Customer {n}",
                "email": f"person{n}@example.org",
                "website": f"https://shop{n}.example.com",
                "reddit": f"person_{n}",
                "revenue": (n * 7919) % 10_000,
            },
        )


def mentions(count: int, customers: int, offset: int, rng: random.Random) -> list[Mention]:
    """A third by customers' Reddit accounts, a tenth with profile evidence, 5% self-claims."""
    out = []
    for n in range(offset, offset + count):
        roll, who = rng.random(), rng.randrange(customers)
        # two phrases: about a tweet's length (~100 characters); classify's cost depends on it
        text = ", and ".join(rng.sample(PHRASES, 2))
        bio, handle = None, f"stranger_{rng.randrange(count * 2)}"
        if roll < 0.33:
            handle = f"person_{who}"
        elif roll < 0.43:
            handle, bio = (
                f"alt_{who}",
                f"I run https://shop{who}.example.com person{who}@example.org",
            )
        elif roll < 0.48:
            text += f" - my account email is person{who}@example.org"
        out.append(
            Mention(
                source="reddit",
                source_id=f"t1_{n}",
                text=text,
                created_at=START + timedelta(seconds=n),
                author=Author(handle=handle, bio=bio),
            )
        )
    return out


def timed(what: str, count: int, work: Callable[[], object]) -> float:
    """Run `work`, print its rate, return seconds per item."""
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(f"{what:<44} {count / seconds:>10,.0f} /s   ({seconds:.2f} s)")
    return seconds / count


def store(db: Database, batch: list[Mention]) -> None:
    """Save mentions a page at a time, as a collector does."""
    for start in range(0, len(batch), 500):
        with db.transaction() as session:
            storage.save_page(session, "bench", Page(tuple(batch[start : start + 500]), Cursor()))


def run(url: str, customers: int, count: int) -> None:
    """The benchmark on one database."""
    db = Database(url)
    db.upgrade()
    settings = Settings()
    rng = random.Random(7)
    with db.transaction() as session:
        per_customer = timed(
            f"import {customers:,} customers",
            customers,
            lambda: import_records(session, customer_records(customers), "bench"),
        )
    del per_customer
    first = mentions(count, customers, 0, rng)
    save_cost = timed(f"store {count:,} mentions", count, lambda: store(db, first))

    from nlp import classifier
    from nlp.stage import ClassifyStage

    classify = ClassifyStage(lambda: classifier.shared(settings.nlp, settings))
    classify.load()  # loading the model is start-up, not per-mention cost
    stage = Stage("classify", MentionState.COLLECTED, MentionState.CLASSIFIED, classify)
    classify_cost = timed("classify", count, lambda: run_stage(db, stage, 500))
    link = Stage(
        "link", MentionState.CLASSIFIED, MentionState.LINKED, LinkStage(settings.crm, ["webhook"])
    )
    link_cost = timed("link (authors first seen)", count, lambda: run_stage(db, link, 500))
    again = mentions(count, customers, count, random.Random(7))
    store(db, again)
    run_stage(db, stage, 500)
    steady = timed("link (same authors again)", count, lambda: run_stage(db, link, 500))
    total = save_cost + classify_cost + link_cost
    print(
        f"linking's share of store + classify + link: {100 * link_cost / total:.1f}% "
        f"(steady state {100 * steady / (save_cost + classify_cost + steady):.1f}%)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:,.0f} MiB")
    db.dispose()


def main() -> None:
    """Parse arguments and run on SQLite, or on a fresh PostgreSQL schema."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--mentions", type=int, default=10_000)
    parser.add_argument("--postgres", help="PostgreSQL URL; a fresh schema is made and dropped")
    args = parser.parse_args()
    if not args.postgres:
        with tempfile.TemporaryDirectory() as folder:
            print(f"SQLite, {args.customers:,} customers, {args.mentions:,} mentions")
            run(f"sqlite:///{Path(folder) / 'bench.db'}", args.customers, args.mentions)
        return
    with scratch_schema(args.postgres, "bench") as url:
        print(f"PostgreSQL, {args.customers:,} customers, {args.mentions:,} mentions")
        run(url, args.customers, args.mentions)


if __name__ == "__main__":
    main()
