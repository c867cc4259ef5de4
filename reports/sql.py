"""SQL that differs between SQLite and PostgreSQL: days, weeks, durations, full-text search."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    cast,
    column,
    func,
    insert,
    literal_column,
    select,
    table,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import KeyedColumnElement

from socialcrm import models

# SQLite's FTS5 table over mentions.text (migration 0007); `rowid` is the mention's id
MENTIONS_FTS = table("mentions_fts", column("rowid"), column("mentions_fts"))
_WORD = re.compile(r"\w+", re.UNICODE)


def dialect_of(session: Session) -> str:
    """`sqlite` or `postgresql`."""
    return session.get_bind().dialect.name


def day_of(value: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a stored datetime (SQLite: an ISO date string)."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", value), Date)
    return func.date(value)


def bucket_of(day: Any, bucket: str, dialect: str) -> ColumnElement[Any]:
    """The bucket a day falls in: the day itself, or the Monday of its ISO week."""
    if bucket == "day":
        return day  # type: ignore[no-any-return]
    if bucket != "week":
        raise ValueError(f"unknown bucket {bucket!r}: use day or week")
    if dialect == "postgresql":
        return cast(func.date_trunc("week", day), Date)
    # to the coming Sunday (or stay on it), then back to its Monday
    return func.date(day, "weekday 0", "-6 days")


def minutes_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    """`end - start` in minutes (NULL when either is NULL)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float) / 60.0
    return (func.julianday(end) - func.julianday(start)) * 1440.0


def as_date(value: date | datetime | str) -> date:
    """A bucket value as a `date` (SQLite returns ISO text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value[:10])


def search_words(text: str) -> list[str]:
    """The words of a search, lower-case; punctuation only separates them."""
    return [word.lower() for word in _WORD.findall(text)]


def text_matches(
    words: list[str], dialect: str, floor: int | None = None, upper: int | None = None
) -> ColumnElement[bool]:
    """Mentions whose text has every word (full-text index: FTS5 or a GIN tsvector index).

    On SQLite the search is bounded to ids in (floor, upper] inside FTS5, which walks rowids.
    """
    mention_text: KeyedColumnElement[str] = models.Mention.__table__.c.text
    if dialect == "postgresql":
        vector = func.to_tsvector(literal_column("'simple'"), mention_text)
        query = func.plainto_tsquery(literal_column("'simple'"), " ".join(words))
        return vector.op("@@")(query)
    # each word quoted: FTS5 syntax (AND, OR, NEAR, *, column filters) never comes from users
    phrase = " ".join(f'"{word}"' for word in words)
    matching = select(MENTIONS_FTS.c.rowid).where(MENTIONS_FTS.c.mentions_fts.op("MATCH")(phrase))
    if floor is not None:
        matching = matching.where(MENTIONS_FTS.c.rowid > floor)
    if upper is not None:
        matching = matching.where(MENTIONS_FTS.c.rowid <= upper)
    return models.Mention.id.in_(matching)


def compact_search_index(session: Session) -> None:
    """Merge SQLite's full-text index, so words of deleted mentions leave it (after a forget).

    FTS5 marks a deleted row's words as deleted and drops them at its next merge; `optimize`
    merges now. PostgreSQL's GIN entries go with VACUUM, as the deleted rows themselves do.
    """
    if dialect_of(session) == "sqlite":
        session.execute(insert(MENTIONS_FTS).values({MENTIONS_FTS.c.mentions_fts: "optimize"}))
