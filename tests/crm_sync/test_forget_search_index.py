"""Forget and the full-text index: the person's words leave the index's data after commit."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from crm_sync import privacy
from reports.sql import compact_search_index, merge_search_index, text_matches
from socialcrm import models
from socialcrm.cli import app
from socialcrm.db import Database
from tests.crm_sync.helpers import post, save

SECRET = "qwyzzlefrumpet"  # a word only the person to forget ever wrote
WORDS = [f"w{number}x" for number in range(2000)]


def _index_with_many_segments(db: Database) -> None:
    """Ada's mention among many others, committed in batches: the index has several segments."""
    draw = random.Random(7)
    save(db, post(0, "ada_l", text=f"my {SECRET} printer jammed"))
    for batch in range(30):
        texts = [" ".join(draw.choices(WORDS, k=15)) for _ in range(20)]
        save(db, *(post(1 + batch * 20 + n, f"u{n}", text=t) for n, t in enumerate(texts)))


def _found(db: Database, word: str) -> list[int]:
    with db.transaction() as session:
        query = select(models.Mention.id).where(text_matches([word], db.dialect))
        return list(session.scalars(query))


def _in_index_data(db: Database, word: str) -> bool:
    """Whether the word's bytes are anywhere in FTS5's own data (deleted or not)."""
    with db.engine.connect() as connection:
        blocks = connection.execute(text("SELECT block FROM mentions_fts_data")).scalars()
        return any(word.encode() in bytes(block or b"") for block in blocks)


def _vocabulary(db: Database) -> set[str]:
    """The terms FTS5's vocabulary table lists for the index."""
    with db.engine.begin() as connection:
        vocab = (
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, mentions_fts, row)"
        )
        connection.execute(text(vocab))
        return set(connection.execute(text("SELECT term FROM temp.vocab")).scalars())


def test_cli_forget_drops_the_persons_words_from_the_index(  # type: ignore[no-untyped-def]
    db: Database, write_settings, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    _index_with_many_segments(db)
    assert len(_found(db, SECRET)) == 1
    if db.dialect == "sqlite":
        assert _in_index_data(db, SECRET)  # the check below can see the word
        assert SECRET in _vocabulary(db)
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    settings = write_settings('[app]\nlog_level = "WARNING"\n')
    result = CliRunner().invoke(
        app, ["--config", str(settings), "customers", "forget", "reddit:ada_l", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert _found(db, SECRET) == []
    assert len(_found(db, "w5x")) > 0  # everyone else's words are still found
    if db.dialect == "sqlite":
        assert not _in_index_data(db, SECRET)
        assert SECRET not in _vocabulary(db)


def test_the_erasure_transaction_does_not_rewrite_the_index(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("only SQLite's FTS5 keeps deleted words until a merge")
    _index_with_many_segments(db)
    with db.transaction() as session:
        person = privacy.find_person(session, "reddit:ada_l")
        privacy.forget(session, person, "dpo", ())
        compact_search_index(session)
        # still in the transaction: nothing was merged yet, the word is only marked deleted
        blocks = session.execute(text("SELECT block FROM mentions_fts_data")).scalars()
        assert any(SECRET.encode() in bytes(block or b"") for block in blocks)
    assert not _in_index_data(db, SECRET)  # merged once committed


def _forget_then_fail(db: Database) -> None:
    with db.transaction() as session:
        privacy.forget(session, privacy.find_person(session, "reddit:ada_l"), "dpo", ())
        compact_search_index(session)
        raise RuntimeError("abandoned")


def _index_pages(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.scalar(text("SELECT count(*) FROM mentions_fts_data")) or 0)


def test_a_rolled_back_erasure_merges_nothing(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only: PostgreSQL's GIN index needs no merge")
    _index_with_many_segments(db)
    pages = _index_pages(db)
    with pytest.raises(RuntimeError):
        _forget_then_fail(db)
    assert _index_pages(db) == pages  # a merge would have rewritten the segments
    assert len(_found(db, SECRET)) == 1


def test_the_merge_goes_in_bounded_steps_and_ends_when_nothing_is_left(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only: PostgreSQL's GIN index needs no merge")
    _index_with_many_segments(db)
    with db.transaction() as session:
        privacy.forget(session, privacy.find_person(session, "reddit:ada_l"), "dpo", ())
    assert _in_index_data(db, SECRET)  # a delete without the merge leaves the word's bytes
    steps = merge_search_index(db.engine, step_pages=4)
    assert steps > 2  # several short transactions, the last one finding no work
    assert not _in_index_data(db, SECRET)
    assert merge_search_index(db.engine, step_pages=4) == 1  # already merged: one empty step


def test_a_merge_that_runs_out_of_steps_finishes_with_one_optimize(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only: PostgreSQL's GIN index needs no merge")
    _index_with_many_segments(db)
    with db.transaction() as session:
        privacy.forget(session, privacy.find_person(session, "reddit:ada_l"), "dpo", ())
    assert merge_search_index(db.engine, step_pages=1, max_steps=1) == 2
    assert not _in_index_data(db, SECRET)
