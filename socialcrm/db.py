"""The database: engine, unit of work, dialect-portable upserts, and Alembic migrations."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

import migrations

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseError(Exception):
    """The database cannot be reached or used; the message says what to fix."""


def normalise_url(raw: str) -> URL:
    """Parse a database URL; plain `postgresql://` gets the psycopg 3 driver we ship."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise DatabaseError(f"database URL is not valid: {raw!r}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def schema_url(base: str, schema: str) -> str:
    """A PostgreSQL URL like `base` whose search_path is `schema` (with its password, if any)."""
    url = normalise_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def create_schema(base: str, schema: str, exist_ok: bool = False) -> None:
    """Create a PostgreSQL schema (for tests and benchmarks that must not share one)."""
    admin = create_engine(normalise_url(base))
    try:
        with admin.begin() as connection:
            exists = "IF NOT EXISTS " if exist_ok else ""
            connection.execute(text(f'CREATE SCHEMA {exists}"{schema}"'))
    finally:
        admin.dispose()


def drop_schema(base: str, schema: str) -> None:
    """Drop a PostgreSQL schema with everything in it."""
    admin = create_engine(normalise_url(base))
    try:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def scratch_schema(base: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test or benchmark run: yields its URL, then drops it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    create_schema(base, schema)
    try:
        yield schema_url(base, schema)
    finally:
        drop_schema(base, schema)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # autocommit at the driver, so that SQLAlchemy's BEGIN below is the only one
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN (deferred) is the only one
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: two writers wait for each other (busy_timeout)
    # instead of failing with "database is locked" when a read transaction tries to write
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(raw_url: str, echo: bool = False) -> Engine:
    """An engine for `raw_url`; SQLite files get their folder, WAL and a busy timeout."""
    url = normalise_url(raw_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


class Database:
    """One database: sessions as units of work, and its schema version."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.engine = create_db_engine(url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends, rolls back if it raises."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads and blocks no writer (SQLite: a WAL snapshot, no lock).

        For slow reads (reports, digests): `transaction` on SQLite begins IMMEDIATE, holding
        the one write lock for as long as the block runs.
        """
        if self.dialect == "postgresql":
            with self.transaction() as session:
                session.execute(text("SET TRANSACTION READ ONLY"))
                yield session
            return
        if self.engine.url.database in (None, "", ":memory:"):
            with self.transaction() as session:  # a private in-memory database: no one to block
                yield session
            return
        engine = create_engine(self.engine.url, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_reader_pragmas)
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
        try:
            with Session(engine) as session, session.begin():
                yield session
        finally:
            engine.dispose()

    def insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT with `on_conflict_do_nothing`/`do_update` for this dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def alembic_config(self) -> Config:
        """Alembic configured for the packaged migrations and this engine."""
        config = Config()
        config.set_main_option("script_location", str(Path(migrations.__file__).parent))
        config.attributes["engine"] = self.engine
        return config

    def current_revision(self) -> str | None:
        """The schema revision the database is at (`None` when empty)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision this code knows."""
        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema up to `revision`; upgrades never drop data."""
        command.upgrade(self.alembic_config(), revision)

    def ensure_schema(self) -> bool:
        """Upgrade when the database is behind this code; return whether anything ran."""
        try:
            current = self.current_revision()
        except OperationalError as error:
            raise DatabaseError(
                f"cannot reach the database at {self.engine.url!r}: {error.orig}"
            ) from None
        if current == self.head_revision():
            return False
        log.info("upgrading the database schema from %s to head", current or "empty")
        self.upgrade()
        return True

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
