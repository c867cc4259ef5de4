"""What every request handler shares: the settings, the database and the clock of the app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import Request

from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import Settings


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def db_of(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


def now_of(request: Request) -> datetime:
    """The time now by the app's clock: `app.state.clock` when set (tests set one), else UTC."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock()
