"""Alembic environment: migrate the engine socialcrm hands over, or the configured one."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from socialcrm.models import Base, UTCDateTime, include_name

# any fixed number: only one process at a time may migrate a PostgreSQL database
MIGRATION_LOCK_ID = 7_462_018_311


def _engine():  # type: ignore[no-untyped-def]
    engine = context.config.attributes.get("engine")
    if engine is not None:
        return engine
    from socialcrm.db import create_db_engine
    from socialcrm.settings import load_settings

    return create_db_engine(load_settings().database_url)


def _render_item(kind: str, obj: object, _context: object) -> str | bool:
    # revisions must not import the models: render our column type as the plain one it stores
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _sqlite_foreign_keys(connection, on: bool) -> None:  # type: ignore[no-untyped-def]
    # a PRAGMA, so at the driver and outside any transaction (it does nothing inside one)
    connection.connection.dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def run_migrations_online() -> None:
    """Migrate inside one transaction; on PostgreSQL, under an advisory lock.

    On SQLite, a batch migration copies a table, drops the old one and renames the copy; with
    foreign keys enforced, dropping e.g. `customers` would null or delete every row pointing at
    it. So they are off while migrating (SQLite migrations commit one revision at a time), and
    checked afterwards.
    """
    with _engine().connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
                compare_type=True,
                render_item=_render_item,
                # full-text tables and indexes made by hand (0007) are not the models' business
                include_name=include_name,
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                    )
                context.run_migrations()
            if sqlite:
                # at the driver: through SQLAlchemy it would open a transaction, and PRAGMA
                # foreign_keys=ON does nothing inside one
                check = connection.connection.dbapi_connection.execute("PRAGMA foreign_key_check")
                broken = check.fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken foreign keys: {broken[:3]}")
        finally:
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)


run_migrations_online()
