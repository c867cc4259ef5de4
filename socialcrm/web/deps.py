"""What every request handler shares: the settings and the database of the running app."""

from __future__ import annotations

from fastapi import Request

from socialcrm.db import Database
from socialcrm.settings import Settings


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def db_of(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db
