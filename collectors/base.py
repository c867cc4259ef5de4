"""The collector protocol and the error taxonomy every source shares."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from socialcrm.mention import Cursor, Mention, Page


class SourceError(Exception):
    """Base of the errors a source raises; the subclass says who must act."""


class SourceConfigError(SourceError):
    """Configuration or credentials are wrong: disable the source and tell a person once."""


class SourceAuthError(SourceConfigError):
    """The platform refused the credentials (401/403, a revoked token)."""


class TransientSourceError(SourceError):
    """A passing fault (timeout, 5xx): retry later with backoff; the cursor stays."""


class TargetGoneError(SourceError):
    """The post to answer was deleted or removed on the platform: nothing to reply to."""


class RateLimitedError(TransientSourceError):
    """The platform asked us to wait (429): wait `retry_after` seconds before the next call."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@runtime_checkable
class Collector(Protocol):
    """A source of mentions; `fetch` yields pages oldest first, each with the cursor after it."""

    # the smallest interval between runs that the platform tolerates; settings cannot undercut it
    min_interval_seconds: ClassVar[int]

    @property
    def name(self) -> str:
        """The source's name, also the key its cursor is stored under."""
        ...

    @property
    def is_sorted(self) -> bool:
        """Whether items come oldest first, so that a cursor is a position (not a seen-set)."""
        ...

    def check(self) -> None:
        """Raise `SourceConfigError` when credentials or settings are wrong or it is unreachable."""
        ...

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """Yield pages from `cursor` on; each page is committed with its cursor before the next."""
        ...


@dataclass(frozen=True, slots=True)
class PostedReply:
    """A reply the platform accepted: its id there and where a person can see it."""

    reply_id: str
    url: str | None


@runtime_checkable
class Responder(Protocol):
    """Posts a reply to a mention on its own platform."""

    @property
    def name(self) -> str:
        """The source whose mentions this responder answers."""
        ...

    def post(self, mention: Mention, text: str, idempotency_key: str) -> PostedReply:
        """Reply to `mention`; the same key never posts twice where the platform can tell."""
        ...


@dataclass(frozen=True, slots=True)
class ThreadContext:
    """The conversation around a mention: the opening post and the chain of parents to it."""

    root: Mention | None
    parents: tuple[Mention, ...]


@runtime_checkable
class ContextProvider(Protocol):
    """Fetches a mention's thread on demand (each call costs quota, so never for every mention)."""

    def context(self, mention: Mention) -> ThreadContext:
        """The opening post and the parents of `mention`, oldest first."""
        ...
