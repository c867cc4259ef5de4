"""Reading and writing the contract: pages of mentions with their cursor, stage states, runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from socialcrm import models, pseudonym
from socialcrm.mention import (
    Author,
    Cursor,
    Mention,
    MentionState,
    Page,
    ProfileLink,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class PageResult:
    """What saving one page did."""

    new_ids: tuple[int, ...]
    seen: int
    quarantined: int


def upsert(session: Session, table: Any) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can say ON CONFLICT, for the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def load_cursor(session: Session, source: str) -> Cursor | None:
    """The saved cursor of `source`, or `None` to start from the beginning."""
    row = session.get(models.CollectorCursor, source)
    return Cursor.from_json(row.cursor) if row else None


def save_cursor(session: Session, source: str, cursor: Cursor) -> None:
    """Store `cursor` for `source` in the caller's transaction."""
    stmt = upsert(session, models.CollectorCursor.__table__).values(
        source=source, cursor=cursor.to_json(), updated_at=utcnow()
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["source"],
            set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
        )
    )


AuthorIds = dict[tuple[str, str], int]


def save_page(
    session: Session,
    source: str,
    page: Page,
    known_authors: AuthorIds | None = None,
    pseudonym_key: bytes | None = None,
) -> PageResult:
    """Insert a page's mentions (ignoring duplicates), rejects and cursor in one transaction.

    `known_authors` carries author ids from earlier pages of the same run: those authors are not
    upserted again. It must be dropped if a page fails (its ids may have been rolled back).
    With `pseudonym_key`, authors are stored pseudonymised (see `socialcrm.pseudonym`).
    """
    if pseudonym_key is not None:
        page = pseudonym.pseudonymise_page(page, pseudonym_key)
    new_ids: Sequence[int] = ()
    if page.mentions:
        author_ids = known_authors if known_authors is not None else {}
        unknown = [m for m in page.mentions if (m.source, m.author.key) not in author_ids]
        if unknown:
            author_ids.update(_upsert_authors(session, unknown))
        now = utcnow()
        rows = [_mention_row(m, author_ids[(m.source, m.author.key)], now) for m in page.mentions]
        stmt = upsert(session, models.Mention.__table__).on_conflict_do_nothing(
            index_elements=["source", "source_id"]
        )
        new_ids = session.execute(stmt.returning(models.Mention.id), rows).scalars().all()
    if page.quarantined:
        session.execute(
            insert(models.QuarantinedItem),
            [
                {"source": q.source, "reason": q.reason, "locator": q.locator, "payload": q.payload}
                for q in page.quarantined
            ],
        )
    edited = [m for m in page.mentions if m.edited_at is not None]
    if edited:
        _apply_edits(session, edited)
    save_cursor(session, source, page.cursor)
    return PageResult(tuple(new_ids), len(page.mentions), len(page.quarantined))


def _apply_edits(session: Session, mentions: Sequence[Mention]) -> None:
    """Take the newer text of posts edited since they were stored; older copies change nothing."""
    row = models.Mention
    stmt = (
        update(row)
        .where(
            row.source == bindparam("b_source"),
            row.source_id == bindparam("b_source_id"),
            or_(row.edited_at.is_(None), row.edited_at < bindparam("b_edited_at")),
        )
        .values(
            text=bindparam("b_text"), title=bindparam("b_title"), edited_at=bindparam("b_edited_at")
        )
    )
    rows = [
        {
            "b_source": m.source,
            "b_source_id": m.source_id,
            "b_edited_at": m.edited_at,
            "b_text": m.text,
            "b_title": m.title,
        }
        for m in mentions
    ]
    session.connection().execute(stmt, rows)


def mark_deleted(session: Session, mention_id: int) -> None:
    """Record that the platform no longer has this mention (a reply found it gone)."""
    session.execute(
        update(models.Mention)
        .where(models.Mention.id == mention_id, models.Mention.deleted_at.is_(None))
        .values(deleted_at=utcnow())
    )


def _upsert_authors(session: Session, mentions: Sequence[Mention]) -> AuthorIds:
    # one row per author (the latest details win); PostgreSQL refuses to update a row twice
    authors = {(m.source, m.author.key): m.author for m in mentions}
    now = utcnow()
    rows = [_author_row(source, author, now) for (source, _), author in authors.items()]
    stmt = upsert(session, models.Author.__table__)
    upserted = stmt.on_conflict_do_update(
        index_elements=["source", "key"],
        set_={
            "handle": stmt.excluded.handle,
            "display_name": func.coalesce(stmt.excluded.display_name, models.Author.display_name),
            "url": func.coalesce(stmt.excluded.url, models.Author.url),
            "followers": func.coalesce(stmt.excluded.followers, models.Author.followers),
            "bio": func.coalesce(stmt.excluded.bio, models.Author.bio),
            "links": func.coalesce(stmt.excluded.links, models.Author.links),
            "last_seen_at": stmt.excluded.last_seen_at,
        },
    )
    returned = upserted.returning(models.Author.id, models.Author.source, models.Author.key)
    return {(row.source, row.key): row.id for row in session.execute(returned, rows)}


def _author_row(source: str, author: Author, now: datetime) -> dict[str, Any]:
    return {
        "source": source,
        "key": author.key,
        "handle": author.handle,
        "display_name": author.display_name,
        "url": author.url,
        "followers": author.followers,
        "bio": author.bio,
        # None when the platform did not show the profile: the links known before are kept
        "links": None
        if author.links is None
        else [{"url": x.url, "verified": x.verified} for x in author.links],
        "first_seen_at": now,
        "last_seen_at": now,
    }


def _mention_row(mention: Mention, author_id: int, now: datetime) -> dict[str, Any]:
    return {
        "source": mention.source,
        "source_id": mention.source_id,
        "author_id": author_id,
        "text": mention.text,
        "title": mention.title,
        "url": mention.url,
        "lang": mention.lang,
        "thread_id": mention.thread_id,
        "parent_id": mention.parent_id,
        "matched_query": mention.matched_query,
        "extra": dict(mention.extra),
        "created_at": mention.created_at,
        "edited_at": mention.edited_at,
        "collected_at": now,
        "state": MentionState.COLLECTED.value,
        "state_changed_at": now,
    }


def claim(
    session: Session, state: MentionState, limit: int, among: Sequence[int] | None = None
) -> list[int]:
    """Ids of up to `limit` mentions in `state`, oldest first, locked for this transaction."""
    query = select(models.Mention.id).where(models.Mention.state == state.value)
    if among is not None:
        query = query.where(models.Mention.id.in_(among))
    query = query.order_by(models.Mention.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # another worker takes the next rows instead of waiting for these
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query).scalars())


def advance(
    session: Session, ids: Sequence[int], source: MentionState, target: MentionState
) -> int:
    """Move mentions from `source` to `target`; rows already moved are left alone."""
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(models.Mention)
        .where(models.Mention.id.in_(ids), models.Mention.state == source.value)
        .values(state=target.value, state_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def load_mentions(session: Session, ids: Sequence[int]) -> list[Mention]:
    """The `Mention` values of `ids`, in id order (every stage reads its batch through this)."""
    m, a = models.Mention, models.Author
    # columns, not ORM objects: the contract values are all a stage gets, and rows are cheaper
    query = (
        select(
            m.id,
            m.source,
            m.source_id,
            m.text,
            m.created_at,
            m.url,
            m.title,
            m.lang,
            m.thread_id,
            m.parent_id,
            m.matched_query,
            m.edited_at,
            m.extra,
            m.state,
            a.handle,
            a.key,
            a.display_name,
            a.url.label("author_url"),
            a.followers,
            a.bio,
            a.links,
        )
        .join(a, a.id == m.author_id)
        .where(m.id.in_(ids))
        .order_by(m.id)
    )
    return [to_mention(row) for row in session.execute(query)]


def to_mention(row: Any) -> Mention:
    """The contract value of a stored mention, from a row of `load_mentions`."""
    links = row.links
    return Mention(
        id=row.id,
        source=row.source,
        source_id=row.source_id,
        text=row.text,
        created_at=row.created_at,
        author=Author(
            handle=row.handle,
            external_id=row.key if row.key != row.handle else None,
            display_name=row.display_name,
            url=row.author_url,
            followers=row.followers,
            bio=row.bio,
            links=None
            if links is None
            else tuple(ProfileLink(x["url"], bool(x.get("verified"))) for x in links),
        ),
        url=row.url,
        title=row.title,
        lang=row.lang,
        thread_id=row.thread_id,
        parent_id=row.parent_id,
        matched_query=row.matched_query,
        edited_at=row.edited_at,
        extra=row.extra,
        state=MentionState(row.state),
    )


def median_lag_seconds(session: Session, mention_ids: Sequence[int]) -> float | None:
    """The median delay between posting and storing, over the given mentions."""
    if not mention_ids:
        return None
    rows = session.execute(
        select(models.Mention.created_at, models.Mention.collected_at).where(
            models.Mention.id.in_(list(mention_ids))
        )
    )
    lags = sorted((collected - created).total_seconds() for created, collected in rows)
    return lags[len(lags) // 2] if lags else None
