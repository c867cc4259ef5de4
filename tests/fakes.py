"""Fakes and helpers for tests: a scripted collector, mention builders, row counts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from sqlalchemy import func, select

from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import Author, Cursor, Mention, Page

START = datetime(2026, 11, 1, tzinfo=UTC)


def mention(
    number: int, source: str = "fake", author: str | None = None, **extra: object
) -> Mention:
    """The `number`th fake mention: stable key, UTC time, one of a few authors."""
    return Mention(
        source=source,
        source_id=f"m{number}",
        text=f"mention number {number}",
        created_at=START + timedelta(minutes=number),
        author=Author(handle=author or f"user{number % 3}"),
        **extra,  # type: ignore[arg-type]
    )


class FakeCollector:
    """Yields pages of mentions from a list, `page_size` at a time; the cursor is the position."""

    min_interval_seconds: ClassVar[int] = 30

    def __init__(
        self,
        mentions: Sequence[Mention],
        page_size: int = 2,
        name: str = "fake",
        error: Exception | None = None,
        fail_after_pages: int | None = None,
    ) -> None:
        self.mentions = list(mentions)
        self.page_size = page_size
        self._name = name
        self.error = error
        self.fail_after_pages = fail_after_pages
        self.cursors_seen: list[Cursor | None] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_sorted(self) -> bool:
        return True

    def check(self) -> None:
        if self.error is not None and self.fail_after_pages is None:
            raise self.error

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        self.cursors_seen.append(cursor)
        position = int(cursor.state["position"]) if cursor else 0
        pages = 0
        while position < len(self.mentions):
            if self.error is not None and pages == (self.fail_after_pages or 0):
                raise self.error
            chunk = self.mentions[position : position + self.page_size]
            position += len(chunk)
            pages += 1
            yield Page(tuple(chunk), Cursor({"position": position}))


def count_rows(db: Database, model: type[models.Base]) -> int:
    """How many rows the table of `model` holds."""
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def mention_states(db: Database) -> dict[str, int]:
    """How many mentions stand in each pipeline state."""
    with db.transaction() as session:
        rows = session.execute(
            select(models.Mention.state, func.count()).group_by(models.Mention.state)
        )
        return {state: count for state, count in rows}
