"""Migration 0009: existing dashboard users get session epoch 0; failed log-ins get a table."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import MetaData, inspect, select

from socialcrm import models
from socialcrm.db import Database
from socialcrm.web import auth

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
USER = {
    "id": 7,
    "name": "ana",
    "password_hash": "scrypt$x",
    "role": "agent",
    "created_at": AT,
    "disabled_at": None,
}


def test_upgrading_a_database_with_users_gives_them_epoch_0(empty_db: Database) -> None:
    db = empty_db
    db.upgrade("0008")
    before = MetaData()
    before.reflect(db.engine)
    with db.engine.begin() as connection:
        connection.execute(before.tables["web_users"].insert(), [USER])
    db.upgrade()
    with db.transaction() as session:
        user = session.scalars(select(models.WebUser)).one()
        assert (user.id, user.name, user.role, user.session_epoch) == (7, "ana", "agent", 0)
        assert auth.active_viewer(session, 7, 0) is not None
        user.session_epoch += 1  # the column takes writes
    indexes = {index["name"] for index in inspect(db.engine).get_indexes("web_login_failures")}
    assert indexes == {"ix_web_login_failures_at", "ix_web_login_failures_key_at"}


def test_0009_downgrades_keeping_the_users(empty_db: Database) -> None:
    db = empty_db
    db.upgrade()
    with db.transaction() as session:
        auth.add_user(session, "bea", "admin", "a long enough password", "test")
    command.downgrade(db.alembic_config(), "0008")
    tables = inspect(db.engine)
    assert "web_login_failures" not in tables.get_table_names()
    assert "session_epoch" not in {column["name"] for column in tables.get_columns("web_users")}
    db.upgrade()
    with db.transaction() as session:
        assert session.scalars(select(models.WebUser.name)).one() == "bea"
