"""Shared fixtures: databases on SQLite and (when configured) PostgreSQL, settings files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from socialcrm.db import Database, scratch_schema
from socialcrm.logs import remove_handler

PG_ENV = "SOCIALCRM_TEST_DATABASE_URL"
ROOT = Path(__file__).resolve().parent.parent

# property tests draw the same examples every run: CI cannot fail on a draw it never saw before
# (HYPOTHESIS_PROFILE=explore draws new ones, to look for bugs on purpose)
hypothesis_settings.register_profile("repeatable", derandomize=True, deadline=None, database=None)
hypothesis_settings.register_profile("explore", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's SOCIALCRM_* variables or ./settings.toml."""
    for name in list(os.environ):
        if name.startswith("SOCIALCRM_") and name != PG_ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _no_leftover_log_handler() -> Iterator[None]:
    """A CLI call installs a handler on its captured stderr; it must not outlive the test."""
    yield
    remove_handler()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema on the PostgreSQL under test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'test.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    with scratch_schema(base, "t") as url:
        yield url


@pytest.fixture
def empty_db(database_url: str) -> Iterator[Database]:
    """A database with no schema yet."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def db(empty_db: Database) -> Database:
    """A database with the schema at head."""
    empty_db.upgrade()
    return empty_db


@pytest.fixture
def write_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a settings file with the given TOML text and return its path."""

    def write(body: str, name: str = "settings.toml") -> Path:
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path

    return write
