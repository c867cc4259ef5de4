"""Storage: dedupe in the database, authors upserted, cursor committed with its mentions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.mention import (
    Author,
    Cursor,
    Mention,
    MentionState,
    Page,
    ProfileLink,
    Quarantined,
)
from tests.fakes import count_rows, mention


def test_saving_the_same_page_twice_inserts_nothing_new(db: Database) -> None:
    page = Page(tuple(mention(n) for n in range(5)), Cursor({"position": 5}))
    with db.transaction() as session:
        first = storage.save_page(session, "fake", page)
    with db.transaction() as session:
        second = storage.save_page(session, "fake", page)
    assert len(first.new_ids) == 5
    assert second.new_ids == ()
    assert second.seen == 5
    assert count_rows(db, models.Mention) == 5
    assert count_rows(db, models.Author) == 3  # user0, user1, user2


def test_authors_keep_known_details_when_a_later_mention_lacks_them(db: Database) -> None:
    detailed = mention(1, author="ada")
    profile = Author(
        "ada",
        display_name="Ada L.",
        bio="ada@example.org",
        links=(ProfileLink("https://ada.dev", verified=True),),
    )
    detailed = replace(detailed, author=profile)
    bare = mention(2, author="ada")
    for item in (detailed, bare):
        with db.transaction() as session:
            storage.save_page(session, "fake", Page((item,), Cursor()))
    with db.transaction() as session:
        author = session.scalars(select(models.Author)).one()
        (loaded,) = storage.load_mentions(session, [1])
    assert author.display_name == "Ada L."
    assert author.bio == "ada@example.org"
    assert author.links == [{"url": "https://ada.dev", "verified": True}]
    assert loaded.author.links == profile.links


def _fields(item: object) -> dict[str, object]:
    return {name: getattr(item, name) for name in item.__dataclass_fields__}  # type: ignore[attr-defined]


def test_a_failure_after_insert_and_before_commit_leaves_neither_mentions_nor_cursor(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_save_cursor(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(storage, "save_cursor", broken_save_cursor)
    page = Page((mention(1), mention(2)), Cursor({"position": 2}))
    with pytest.raises(RuntimeError, match="disk full"), db.transaction() as session:
        storage.save_page(session, "fake", page)
    assert count_rows(db, models.Mention) == 0
    assert count_rows(db, models.Author) == 0
    assert count_rows(db, models.CollectorCursor) == 0


def test_cursor_is_saved_and_replaced(db: Database) -> None:
    for position in (2, 4):
        with db.transaction() as session:
            storage.save_page(session, "fake", Page((), Cursor({"position": position})))
    with db.transaction() as session:
        assert storage.load_cursor(session, "fake") == Cursor({"position": 4})
        assert storage.load_cursor(session, "other") is None


def test_quarantined_items_are_kept_with_reason_and_locator(db: Database) -> None:
    reject = Quarantined("import:x", "not valid JSON", "{oops", "x.jsonl:7")
    with db.transaction() as session:
        storage.save_page(session, "import:x", Page((), Cursor(), (reject,)))
    with db.transaction() as session:
        item = session.scalars(select(models.QuarantinedItem)).one()
    assert (item.reason, item.locator, item.payload) == ("not valid JSON", "x.jsonl:7", "{oops")


def test_stored_mentions_read_back_as_the_same_values(db: Database) -> None:
    original = mention(1, url="https://example.org/1", extra={"subreddit": "python"})
    with db.transaction() as session:
        (new_id,) = storage.save_page(session, "fake", Page((original,), Cursor())).new_ids
        (loaded,) = storage.load_mentions(session, [new_id])
    assert loaded == type(original)(**{**_fields(original), "id": new_id})
    assert loaded.created_at.tzinfo is not None


def test_claim_and_advance_move_each_mention_once(db: Database) -> None:
    with db.transaction() as session:
        ids = storage.save_page(
            session, "fake", Page(tuple(mention(n) for n in range(4)), Cursor())
        ).new_ids
    with db.transaction() as session:
        claimed = storage.claim(session, MentionState.COLLECTED, limit=3)
        assert claimed == sorted(ids)[:3]
        assert (
            storage.advance(session, claimed, MentionState.COLLECTED, MentionState.CLASSIFIED) == 3
        )
        # a second advance of the same rows changes nothing
        assert (
            storage.advance(session, claimed, MentionState.COLLECTED, MentionState.CLASSIFIED) == 0
        )
        assert storage.claim(session, MentionState.COLLECTED, limit=10) == [sorted(ids)[3]]


def test_authors_known_earlier_in_a_run_are_not_upserted_again(db: Database) -> None:
    known: storage.AuthorIds = {}
    first = mention(1, author="ada")
    renamed = type(first)(**{**_fields(mention(2)), "author": Author("ada", display_name="New")})
    with db.transaction() as session:
        storage.save_page(session, "fake", Page((first,), Cursor()), known)
    with db.transaction() as session:
        storage.save_page(session, "fake", Page((renamed,), Cursor()), known)
        authors = list(session.scalars(select(models.Author)))
        author_ids = set(session.scalars(select(models.Mention.author_id)))
    assert [(a.id, a.display_name) for a in authors] == [(known[("fake", "ada")], None)]
    assert author_ids == {known[("fake", "ada")]}


def test_an_edited_post_updates_the_stored_text_once(db: Database) -> None:
    original = mention(1)
    edited = replace(
        original, text="edited text", edited_at=original.created_at + timedelta(hours=1)
    )
    stale = replace(
        original, text="older edit", edited_at=original.created_at + timedelta(minutes=5)
    )
    with db.transaction() as session:
        storage.save_page(session, "fake", Page((original,), Cursor({"p": 1})))
    with db.transaction() as session:
        storage.save_page(session, "fake", Page((edited,), Cursor({"p": 2})))
    with db.transaction() as session:
        storage.save_page(session, "fake", Page((stale,), Cursor({"p": 3})))
    with db.transaction() as session:
        row = session.scalars(select(models.Mention)).one()
        assert (row.text, row.edited_at) == ("edited text", edited.edited_at)


def test_oversized_values_from_a_platform_are_stored(db: Database) -> None:
    wide = Mention(
        source="rss",
        source_id="https://feeds.example/" + "e" * 200,
        text="t",
        created_at=mention(1).created_at,
        author=Author(handle="Many Authors, " * 100),
        url="https://feeds.example/" + "p" * 3000,
        matched_query="feed:" + "T" * 400,
    )
    rejected = Quarantined("rss", "no date", "{}", locator="https://feeds.example/" + "q" * 400)
    with db.transaction() as session:
        result = storage.save_page(session, "rss", Page((wide,), Cursor({}), (rejected,)))
    assert len(result.new_ids) == 1
    with db.transaction() as session:
        [stored] = storage.load_mentions(session, result.new_ids)
    assert stored.source_id == wide.source_id
    assert stored.author.handle == wide.author.handle
