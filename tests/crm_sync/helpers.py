"""Builders for the crm_sync tests: stored mentions, classifications, imported customers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from crm_sync.customer_import import import_records
from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.mention import Author, Cursor, Mention, Page, ProfileLink

START = datetime(2026, 11, 1, tzinfo=UTC)


def post(
    number: int,
    handle: str,
    source: str = "reddit",
    text: str | None = None,
    bio: str | None = None,
    links: Sequence[tuple[str, bool]] = (),
    key: str | None = None,
) -> Mention:
    """A mention by `handle` on `source`."""
    return Mention(
        source=source,
        source_id=f"p{number}",
        text=text or f"post {number} about inkwell",
        created_at=START + timedelta(hours=number),
        author=Author(
            handle=handle,
            external_id=key,
            bio=bio,
            links=tuple(ProfileLink(url, ok) for url, ok in links),
        ),
    )


def save(db: Database, *mentions: Mention) -> list[int]:
    """Store mentions as a collector would; their ids in order."""
    with db.transaction() as session:
        storage.save_page(session, "test", Page(tuple(mentions), Cursor()))
        ids = {(m.source, m.source_id): m.id for m in session.scalars(select(models.Mention))}
    return [ids[(m.source, m.source_id)] for m in mentions]


def classify(db: Database, mention_id: int, **intents: float) -> None:
    """Give a stored mention labels (neutral unless told), with these intent probabilities."""
    with db.transaction() as session:
        session.add(
            models.Classification(
                mention_id=mention_id,
                sentiment="neutral",
                sentiment_scores={"negative": 0.1, "neutral": 0.8, "positive": 0.1},
                intents={"complaint": 0.0, "question": 0.0, "purchase_intent": 0.0, **intents},
                needs_reply=0.1,
                uncertain=False,
                lang="en",
                model="test@1",
            )
        )


def customers(db: Database, *records: Mapping[str, Any]) -> list[int]:
    """Import customer records; their ids in order."""
    with db.transaction() as session:
        report = import_records(session, enumerate(records, start=1), "test")
        assert not report.problems, report.problems
        rows = session.scalars(select(models.Customer).order_by(models.Customer.id))
        by_crm = {c.crm_id: c.id for c in rows}
    return [by_crm[str(r["crm_id"])] for r in records]


def author_of(db: Database, handle: str) -> models.Author:
    """The stored author with `handle` (detached)."""
    with db.transaction() as session:
        found = session.scalars(select(models.Author).where(models.Author.handle == handle)).one()
        session.expunge(found)
    return found
