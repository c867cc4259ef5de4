"""One scheduler per deployment: a lock held for as long as `socialcrm run` lives."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from socialcrm.db import Database

# any fixed number, distinct from the migration lock
DEPLOYMENT_LOCK_ID = 7_462_018_312


class DeploymentLockedError(Exception):
    """Another `socialcrm run` already drives this database."""


@contextmanager
def deployment_lock(db: Database) -> Iterator[None]:
    """Hold the deployment's lock: a PostgreSQL advisory lock, or a lock file beside SQLite."""
    if db.dialect == "postgresql":
        with _advisory_lock(db):
            yield
        return
    database = db.engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with _file_lock(Path(database).with_suffix(".lock")):
        yield


@contextmanager
def _advisory_lock(db: Database) -> Iterator[None]:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        locked = connection.execute(
            text("SELECT pg_try_advisory_lock(:id)"), {"id": DEPLOYMENT_LOCK_ID}
        ).scalar()
        if not locked:
            raise DeploymentLockedError(
                "another `socialcrm run` already drives this database; stop it first"
            )
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": DEPLOYMENT_LOCK_ID})


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeploymentLockedError(
                f"another `socialcrm run` already drives this database (lock {path}); stop it first"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
