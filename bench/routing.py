"""Routing cost: mentions/second through the route stage, and cards/second through the chat outbox.

Builds a fresh SQLite database (or a PostgreSQL schema with --postgres URL) with 10,000 labelled
mentions (seeded labels, no model: this measures routing, not classification) by 2,000 authors
in 3,000 threads, then times:

- route, first pass: every mention decided, tasks opened (one per conversation);
- route, second pass: as many new mentions in the same conversations (joins and reopens);
- chat delivery: every queued card rendered from the database and handed to a notifier that
  only counts (the cost on our side of Discord).

    .venv/bin/python bench/routing.py [--mentions N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

# this folder comes first on sys.path, and its nlp.py would shadow the nlp package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import func, insert, select, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from engagement import notify  # noqa: E402
from engagement.cards import ChatContent, task_card  # noqa: E402
from engagement.stage import RouteStage  # noqa: E402
from engagement.views import task_view  # noqa: E402
from socialcrm import models, storage  # noqa: E402
from socialcrm.db import Database, scratch_schema  # noqa: E402
from socialcrm.mention import Author, Cursor, Mention, MentionState, Page  # noqa: E402
from socialcrm.pipeline import Stage, run_stage  # noqa: E402
from socialcrm.settings import Settings  # noqa: E402

START = datetime(2026, 11, 3, 9, tzinfo=UTC)
INTENTS = ("complaint", "question", "purchase_intent", "praise", "spam")


def mentions(count: int, offset: int, rng: random.Random) -> list[Mention]:
    """Seeded mentions: 2,000 authors writing in 3,000 threads."""
    return [
        Mention(
            source="reddit",
            source_id=f"m{offset + n}",
            text=f"post {offset + n} about inkwell and its sync",
            created_at=START + timedelta(seconds=offset + n),
            author=Author(handle=f"user{rng.randrange(2000)}"),
            thread_id=f"t{rng.randrange(3000)}",
            matched_query="brand:inkwell",
        )
        for n in range(count)
    ]


def store(db: Database, batch: list[Mention], rng: random.Random) -> None:
    """Save the mentions with seeded labels, ready for the route stage."""
    for start in range(0, len(batch), 500):
        with db.transaction() as session:
            page = batch[start : start + 500]
            storage.save_page(session, "bench", Page(tuple(page), Cursor()))
            keys = [m.source_id for m in page]
            ids = session.scalars(
                select(models.Mention.id).where(models.Mention.source_id.in_(keys))
            ).all()
            session.execute(insert(models.Classification), [_labels(i, rng) for i in ids])
            session.execute(
                update(models.Mention)
                .where(models.Mention.id.in_(ids))
                .values(state=MentionState.LINKED.value)
            )


def _labels(mention_id: int, rng: random.Random) -> dict[str, object]:
    sentiment = rng.choice(("negative", "neutral", "positive"))
    top = rng.uniform(0.4, 0.95)
    labels = ("negative", "neutral", "positive")
    scores = {name: top if name == sentiment else (1 - top) / 2 for name in labels}
    return {
        "mention_id": mention_id,
        "sentiment": sentiment,
        "sentiment_scores": scores,
        "intents": {name: round(rng.random() ** 3, 3) for name in INTENTS},
        "needs_reply": round(rng.random(), 3),
        "uncertain": top < 0.6,
        "lang": "en",
        "model": "bench@1",
    }


class CountingNotifier:
    """Takes every post and edit, keeps nothing: the cost left is ours."""

    def __init__(self) -> None:
        self.calls = 0

    def post(self, channel_id: str, content: ChatContent, nonce: str) -> str:
        """A new message id."""
        self.calls += 1
        return str(self.calls)

    def edit(self, channel_id: str, message_id: str, content: ChatContent) -> None:
        """Nothing to do."""
        self.calls += 1


def timed(what: str, count: int, work: Callable[[], object]) -> None:
    """Run `work` and print its rate."""
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(f"{what:<44} {count / seconds:>10,.0f} /s   ({seconds:.2f} s, {count:,})")


def run(url: str, count: int) -> None:
    """The benchmark on one database."""
    db = Database(url)
    db.upgrade()
    settings = Settings()
    rng = random.Random(7)
    route = Stage(
        "route",
        MentionState.LINKED,
        MentionState.ROUTED,
        RouteStage(settings.engagement, settings.crm),
    )
    store(db, mentions(count, 0, rng), rng)
    timed("route, first pass (tasks opened)", count, lambda: run_stage(db, route, 500))
    store(db, mentions(count, count, rng), rng)
    timed("route, same conversations again", count, lambda: run_stage(db, route, 500))
    with db.transaction() as session:
        tasks = session.scalar(select(func.count()).select_from(models.Task))
        cards = session.scalar(select(func.count()).select_from(models.ChatMessage))
    print(f"tasks: {tasks:,} for {2 * count:,} mentions; cards queued: {cards:,}")

    def render(session: Session, message: models.ChatMessage) -> ChatContent:
        view = task_view(session, message.task_id or 0, settings)
        assert view is not None  # noqa: S101 - every queued card has its task here
        return task_card(view, settings.discord.max_text)

    notifier = CountingNotifier()

    def deliver() -> None:
        while notify.dispatch(db, notifier, render, lambda queue: "1", limit=500).posted:
            pass

    timed("chat delivery (render + post, no Discord)", cards or 1, deliver)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:,.0f} MiB")
    db.dispose()


def main() -> None:
    """Parse arguments and run on SQLite, or on a fresh PostgreSQL schema."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=10_000)
    parser.add_argument("--postgres", help="PostgreSQL URL; a fresh schema is made and dropped")
    args = parser.parse_args()
    if not args.postgres:
        with tempfile.TemporaryDirectory() as folder:
            print(f"SQLite, {args.mentions:,} + {args.mentions:,} mentions")
            run(f"sqlite:///{Path(folder) / 'bench.db'}", args.mentions)
        return
    with scratch_schema(args.postgres, "bench") as url:
        print(f"PostgreSQL, {args.mentions:,} + {args.mentions:,} mentions")
        run(url, args.mentions)


if __name__ == "__main__":
    main()
