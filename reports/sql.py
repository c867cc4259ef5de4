"""SQL that differs between SQLite and PostgreSQL: days, weeks, durations, full-text search."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Date,
    Engine,
    Float,
    cast,
    column,
    event,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import KeyedColumnElement

from socialcrm import models

log = logging.getLogger(__name__)

# SQLite's FTS5 table over mentions.text (migration 0007); `rowid` is the mention's id
MENTIONS_FTS = table("mentions_fts", column("rowid"), column("mentions_fts"), column("rank"))
# pages written per step of merging the index (FTS5's own unit of work in `optimize`)
MERGE_STEP_PAGES: Final = 1000
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
    """Once this transaction commits, merge the words of the mentions it deleted out of the index.

    FTS5 only marks a deleted row's words as deleted; the words stay in the index's data (the
    `mentions_fts_data` shadow table) until the segment holding them is merged with the marks.
    `optimize` does that by rewriting the whole index, and inside a forget's transaction it held
    SQLite's one write lock for as long as that takes on a large index. So this only hooks
    `merge_search_index` onto the commit: the erasure transaction stays short, and the merge then
    runs in short transactions of its own, letting other writers in between. It is the same
    merge as `optimize`, so it really drops the words, not just hides them. FTS5's
    `secure-delete` (SQLite 3.42+) would drop them at the delete itself, at a cost proportional
    to the deleted rows, but the SQLite this runs on (3.40) lacks it. A rollback merges nothing.

    PostgreSQL's GIN entries go with VACUUM, as the deleted rows themselves do: nothing to do.
    """
    if dialect_of(session) != "sqlite":
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    event.listen(session, "after_commit", lambda _session: _merge_after_commit(engine), once=True)


def _merge_after_commit(engine: Engine) -> None:
    try:
        steps = merge_search_index(engine)
    except SQLAlchemyError as error:
        # the erasure is committed; the next merge (a forget, the daily purge) drops the words
        log.error("the search index could not be merged (retention purge retries): %s", error)  # noqa: TRY400
        return
    log.debug("search index merged in %d step(s)", steps)


def merge_search_index(
    engine: Engine, step_pages: int = MERGE_STEP_PAGES, max_steps: int | None = None
) -> int:
    """Merge SQLite's full-text index into one segment, a short transaction per step; the steps.

    Each step is FTS5's incremental `merge` with a negative page count (merge every segment, as
    `optimize` does, writing about `step_pages` pages); a step that did no work ends the loop.
    Mentions stored meanwhile restart the merge, so after `max_steps` (by default two passes
    over the index as it was) one `optimize` finishes the job in a single transaction.
    """
    with engine.begin() as connection:
        pages = int(connection.scalar(text("SELECT count(*) FROM mentions_fts_data")) or 0)
    limit = max_steps if max_steps is not None else 2 * (pages // step_pages + 1) + 1
    for step in range(1, limit + 1):
        if not _merge_step(engine, step_pages):
            return step
    log.warning("the search index kept changing while it was merged: optimizing it at once")
    with engine.begin() as connection:
        connection.execute(insert(MENTIONS_FTS).values({MENTIONS_FTS.c.mentions_fts: "optimize"}))
    return limit + 1


def _merge_step(engine: Engine, pages: int) -> bool:
    """One bounded step of merging; whether it did any work (FTS5 adds 2+ to total_changes)."""
    merge = insert(MENTIONS_FTS).values(
        {MENTIONS_FTS.c.mentions_fts: "merge", MENTIONS_FTS.c.rank: -pages}
    )
    with engine.begin() as connection:
        before = int(connection.scalar(select(func.total_changes())) or 0)
        connection.execute(merge)
        return int(connection.scalar(select(func.total_changes())) or 0) - before >= 2
