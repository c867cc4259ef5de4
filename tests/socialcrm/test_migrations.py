"""Migrations: up from empty, up from the first revision keeping data, models == migrated schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, select

from socialcrm.db import Database
from socialcrm.models import Base, include_name

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

# one row per table of the first revision, parents first; kept by every later upgrade
FIRST_REVISION_ROWS: dict[str, list[dict[str, Any]]] = {
    "customers": [
        {
            "id": 1,
            "display_name": "Ada",
            "email": "ada@example.org",
            "crm_id": "c-1",
            "attributes": {"revenue": 1200},
            "created_at": AT,
            "updated_at": AT,
        }
    ],
    "authors": [
        {
            "id": 1,
            "source": "reddit",
            "key": "t2_ada",
            "handle": "ada",
            "display_name": None,
            "url": None,
            "followers": 3,
            "customer_id": 1,
            "first_seen_at": AT,
            "last_seen_at": AT,
        }
    ],
    "mentions": [
        {
            "id": 1,
            "source": "reddit",
            "source_id": "t1_x",
            "author_id": 1,
            "text": "hello",
            "title": None,
            "url": None,
            "lang": "en",
            "thread_id": "t3_y",
            "parent_id": None,
            "matched_query": "brand",
            "extra": {"subreddit": "x"},
            "created_at": AT,
            "collected_at": AT,
            "state": "routed",
            "state_changed_at": AT,
        }
    ],
    "classifications": [
        {
            "mention_id": 1,
            "sentiment": "positive",
            "sentiment_scores": {"positive": 0.9},
            "intents": {"praise": 0.8},
            "needs_reply": 0.2,
            "uncertain": False,
            "lang": "en",
            "model": "m@1",
            "classified_at": AT,
        }
    ],
    "identities": [
        {
            "id": 1,
            "customer_id": 1,
            "kind": "reddit",
            "value": "ada",
            "confidence": 1.0,
            "evidence": {"how": "exact"},
            "created_at": AT,
        }
    ],
    "tasks": [
        {
            "id": 1,
            "mention_id": 1,
            "state": "new",
            "priority": 2,
            "queue": "support",
            "reason": "rule 1",
            "assignee": None,
            "sla_due_at": AT,
            "created_at": AT,
            "updated_at": AT,
        }
    ],
    "outbox": [
        {
            "id": 1,
            "topic": "crm",
            "idempotency_key": "k1",
            "payload": {"a": 1},
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": AT,
            "last_error": None,
            "created_at": AT,
            "sent_at": None,
        }
    ],
    "audit_log": [
        {
            "id": 1,
            "at": AT,
            "actor": "cli",
            "action": "import",
            "subject_type": "file",
            "subject_id": "x.jsonl",
            "before": None,
            "after": {"new": 1},
        }
    ],
    "collector_cursors": [
        {"source": "reddit", "cursor": '{"state": {}, "v": 1}', "updated_at": AT}
    ],
    "collector_runs": [
        {
            "id": 1,
            "source": "reddit",
            "started_at": AT,
            "finished_at": AT,
            "status": "ok",
            "items_seen": 2,
            "items_new": 1,
            "items_quarantined": 0,
            "error": None,
        }
    ],
    "quarantine": [
        {
            "id": 1,
            "source": "import:x",
            "reason": "bad",
            "locator": "x:1",
            "payload": "{",
            "created_at": AT,
        }
    ],
}


def _first_revision(db: Database) -> str:
    script = ScriptDirectory.from_config(db.alembic_config())
    return list(script.walk_revisions())[-1].revision


def _differences(db: Database) -> list[Any]:
    with db.engine.connect() as connection:
        # full-text objects made by hand in a migration are left out, as autogenerate does
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        return compare_metadata(context, Base.metadata)


def test_upgrade_from_empty_builds_exactly_the_models(empty_db: Database) -> None:
    db = empty_db
    assert db.current_revision() is None
    assert db.ensure_schema() is True
    assert db.current_revision() == db.head_revision()
    assert _differences(db) == []
    assert db.ensure_schema() is False


def test_upgrade_from_the_first_revision_keeps_every_row(empty_db: Database) -> None:
    db = empty_db
    db.upgrade(_first_revision(db))
    first = MetaData()
    first.reflect(db.engine)
    assert set(FIRST_REVISION_ROWS) == set(first.tables) - {"alembic_version"}
    with db.engine.begin() as connection:
        for name, rows in FIRST_REVISION_ROWS.items():
            # the first revision's own tables: the models' defaults name columns it lacks
            connection.execute(first.tables[name].insert(), rows)
    db.upgrade()
    with db.engine.connect() as connection:
        for name, rows in FIRST_REVISION_ROWS.items():
            table = Base.metadata.tables[name]
            stored = [dict(row._mapping) for row in connection.execute(select(table))]
            # later revisions may add columns; the first revision's values must be unchanged
            assert [{key: row[key] for key in rows[0]} for row in stored] == rows, name


def test_foreign_keys_are_enforced_again_after_migrating_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # SQLite migrations run with foreign keys off (a table copy would otherwise cascade)
    db = Database(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        db.upgrade()
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()
