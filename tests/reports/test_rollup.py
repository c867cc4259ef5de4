"""Migration 0007: the rollups stay exact under every change, full text follows the text."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, inspect, update

from reports.rollup import split
from reports.sql import compact_search_index
from socialcrm import models
from socialcrm.db import Database
from tests.reports import builders as b


def test_rollup_follows_inserts_labels_relabels_and_deletes(db: Database) -> None:
    ada = b.author(db, "ada")
    late = b.mention(db, ada, b.at(0, 23.5), sentiment="negative", uncertain=True)
    b.mention(db, ada, b.at(1, 0.5), sentiment="positive", query=None)
    odd = b.mention(db, ada, b.at(1, 2), sentiment=None, uncertain=True)  # not labelled
    bare = b.mention(db, ada, b.at(1, 3), labelled=False)
    assert b.rollup_stored(db) == b.rollup_from_scratch(db)
    assert b.rollup_stored(db)[(date(2026, 3, 3), "reddit", "brand:acme", "", False)] == 2

    with db.transaction() as session:
        session.add(
            models.Classification(
                mention_id=bare,
                sentiment="positive",
                sentiment_scores={},
                intents={},
                uncertain=False,
                model="m",
            )
        )
        session.execute(
            update(models.Classification)
            .where(models.Classification.mention_id == late)
            .values(sentiment="neutral", uncertain=False)
        )
        session.execute(
            delete(models.Classification).where(models.Classification.mention_id == odd)
        )
    assert b.rollup_stored(db) == b.rollup_from_scratch(db)

    with db.transaction() as session:
        session.execute(
            update(models.Mention)
            .where(models.Mention.id == late)
            .values(created_at=b.at(5), matched_query="competitor:globex", source="mastodon")
        )
        session.execute(delete(models.Mention).where(models.Mention.id == bare))
    assert b.rollup_stored(db) == b.rollup_from_scratch(db)
    assert (date(2026, 3, 7), "mastodon", "competitor:globex", "neutral", False) in (
        b.rollup_stored(db)
    )

    with db.transaction() as session:  # forgetting a person cascades to their mentions
        session.execute(delete(models.Author).where(models.Author.id == ada))
    assert b.rollup_stored(db) == {}


def test_intent_rollup_counts_intents_at_or_above_one_half(db: Database) -> None:
    ada = b.author(db, "ada")
    first = b.mention(db, ada, b.at(0, 1), intents={"complaint": 0.5, "question": 0.49})
    b.mention(db, ada, b.at(0, 2), intents={"complaint": 0.9, "spam": "x"})  # type: ignore[dict-item]
    assert b.intent_rollup(db) == {(date(2026, 3, 2), "brand:acme", "complaint"): 2}
    with db.transaction() as session:
        session.execute(
            update(models.Classification)
            .where(models.Classification.mention_id == first)
            .values(intents={"question": 0.8})
        )
    assert b.intent_rollup(db) == {
        (date(2026, 3, 2), "brand:acme", "complaint"): 1,
        (date(2026, 3, 2), "brand:acme", "question"): 1,
    }
    with db.transaction() as session:
        session.execute(delete(models.Mention).where(models.Mention.id == first))
    assert b.intent_rollup(db) == {(date(2026, 3, 2), "brand:acme", "complaint"): 1}


def test_full_text_index_follows_edits_and_deletes(db: Database) -> None:
    ada = b.author(db, "ada")
    one = b.mention(db, ada, b.at(0), text_="The printer jammed again")
    two = b.mention(db, ada, b.at(0), text_="printer works fine")
    assert b.fts_ids(db, "printer") == {one, two}
    with db.transaction() as session:
        session.execute(update(models.Mention).where(models.Mention.id == one).values(text="ok"))
        session.execute(delete(models.Mention).where(models.Mention.id == two))
    assert b.fts_ids(db, "printer") == set()
    assert b.fts_ids(db, "ok") == {one}


def test_upgrading_a_filled_database_backfills_the_rollups(empty_db: Database) -> None:
    db = empty_db
    db.upgrade("0006")
    ada = b.author(db, "ada")
    b.mention(db, ada, b.at(0, 1), sentiment="negative", intents={"complaint": 0.8})
    b.mention(db, ada, b.at(2, 1), labelled=False, text_="jammed printer")
    db.upgrade()
    assert b.rollup_stored(db) == b.rollup_from_scratch(db)
    assert b.intent_rollup(db) == {(date(2026, 3, 2), "brand:acme", "complaint"): 1}
    assert len(b.fts_ids(db, "printer")) == 1


def test_schema_matches_the_models_once_full_text_objects_are_skipped(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": models.include_name})
        assert compare_metadata(context, models.Base.metadata) == []


def test_downgrade_removes_what_0007_made(db: Database) -> None:
    ada = b.author(db, "ada")
    b.mention(db, ada, b.at(0))
    command.downgrade(db.alembic_config(), "0006")
    names = set(inspect(db.engine).get_table_names())
    assert "mentions" in names
    assert not {"report_daily", "report_intent_daily", "mentions_fts"} & names
    db.upgrade()
    assert db.current_revision() == db.head_revision()


def test_split_cuts_a_window_into_whole_days_and_edges() -> None:
    since = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    until = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
    window = split(since, until)
    assert (window.first_day, window.end_day) == (date(2026, 3, 2), date(2026, 3, 4))
    assert window.edges == (
        (since, datetime(2026, 3, 2, tzinfo=UTC)),
        (datetime(2026, 3, 4, tzinfo=UTC), until),
    )
    midnight = split(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    assert midnight.edges == ()
    short = split(since, datetime(2026, 3, 1, 20, tzinfo=UTC))
    assert short.first_day == short.end_day
    assert short.edges == ((since, datetime(2026, 3, 1, 20, tzinfo=UTC)),)


def test_compacting_drops_the_words_of_deleted_mentions(db: Database) -> None:
    ada = b.author(db, "ada")
    gone = b.mention(db, ada, b.at(0), text_="zanzibarian secret")
    b.mention(db, ada, b.at(0), text_="kept words")
    with db.transaction() as session:
        session.execute(delete(models.Mention).where(models.Mention.id == gone))
        compact_search_index(session)
    assert b.fts_ids(db, "zanzibarian") == set()
    if db.dialect == "sqlite":
        with db.engine.connect() as connection:
            blobs = connection.exec_driver_sql("SELECT block FROM mentions_fts_data").all()
        assert not any(b"zanzibarian" in bytes(row[0] or b"") for row in blobs)
