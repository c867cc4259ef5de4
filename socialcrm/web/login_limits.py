"""Log-in rate limits: failed log-ins per user name and per client address in a sliding window.

Failures are rows of `web_login_failures`, so every worker process counts the same ones. Names
and addresses are stored only as keyed hashes, and only for as long as the window lasts.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from socialcrm import models
from socialcrm.settings import WebSettings

Failure = models.WebLoginFailure


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many failures a name and an address may have within the window (0: no limit)."""

    per_name: int
    per_address: int
    window: timedelta

    @classmethod
    def of(cls, web: WebSettings) -> LoginLimits:
        """The limits that `[web]` sets."""
        window = timedelta(minutes=web.login_window_minutes)
        return cls(web.login_failures_per_name, web.login_failures_per_address, window)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A log-in attempt, as the keys its failures are counted under."""

    name_key: str
    address_key: str

    @classmethod
    def of(cls, key: bytes, name: str, address: str) -> Attempt:
        """The attempt of `name` from `address`, each as a keyed hash."""
        return cls(_keyed(key, "name", name), _keyed(key, "address", address))


@dataclass(frozen=True, slots=True)
class Blocked:
    """A log-in refused unchecked: its name or address has no failures left until `until`."""

    until: datetime


def _keyed(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def blocked_until(
    session: Session, attempt: Attempt, limits: LoginLimits, now: datetime
) -> datetime | None:
    """When the attempt may be made, if its name or address has used up its failures; else None."""
    pairs = ((attempt.name_key, limits.per_name), (attempt.address_key, limits.per_address))
    reached = (_limit_reached_at(session, key, limit, now - limits.window) for key, limit in pairs)
    ends = [at + limits.window for at in reached if at is not None]
    return max(ends, default=None)


def _limit_reached_at(session: Session, key: str, limit: int, since: datetime) -> datetime | None:
    """The limit-th latest failure within the window: when it leaves the window, one is free."""
    if limit <= 0:
        return None
    query = (
        select(Failure.at)
        .where(Failure.key == key, Failure.at > since)
        .order_by(Failure.at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    return session.scalar(query)


def record_failure(session: Session, attempt: Attempt, limits: LoginLimits, now: datetime) -> None:
    """Count a failure against the name and the address; forget failures out of the window."""
    session.execute(delete(Failure).where(Failure.at <= now - limits.window))
    rows = [{"key": key, "at": now} for key in (attempt.name_key, attempt.address_key)]
    session.execute(insert(Failure), rows)


def clear_name(session: Session, attempt: Attempt) -> None:
    """Forget the failures of the attempt's name (after it logged in); the address keeps its."""
    session.execute(delete(Failure).where(Failure.key == attempt.name_key))
