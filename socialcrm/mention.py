"""The contract every stage shares: the frozen `Mention` and its companions."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

CURSOR_VERSION: Final = 1
# the widths of the stored columns: a platform can send anything, the database cannot take it
MAX_SOURCE: Final = 64
MAX_KEY: Final = 255
MAX_URL: Final = 2048
MAX_LANG: Final = 16
_DIGEST: Final = 16


class MentionState(enum.StrEnum):
    """Where a mention stands in the pipeline; each stage moves it one step on."""

    COLLECTED = "collected"
    CLASSIFIED = "classified"
    LINKED = "linked"
    ROUTED = "routed"


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


def ensure_utc(value: datetime, what: str = "datetime") -> datetime:
    """Return `value` in UTC; a naive datetime is a bug in the caller and is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def fit(value: str | None, limit: int) -> str | None:
    """`value` cut to `limit` characters, the cut marked with an ellipsis."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def fit_key(value: str | None, limit: int = MAX_KEY) -> str | None:
    """An identifier that fits in `limit` characters and stays unique: a prefix plus a digest."""
    if value is None or len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:_DIGEST]
    return f"{value[: limit - _DIGEST - 1]}~{digest}"


def _set(instance: object, name: str, value: object) -> None:
    object.__setattr__(instance, name, value)


MAX_BIO: Final = 2000
MAX_LINKS: Final = 10


@dataclass(frozen=True, slots=True)
class ProfileLink:
    """A link on an author's profile; `verified` when the platform checked it (Mastodon rel=me)."""

    url: str
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a mention, as the platform names them, and what their profile says."""

    handle: str
    external_id: str | None = None
    display_name: str | None = None
    url: str | None = None
    followers: int | None = None
    # None: the platform did not show them (what is stored is kept); "" / (): shown empty
    bio: str | None = None
    links: tuple[ProfileLink, ...] | None = None

    def __post_init__(self) -> None:
        if not self.handle.strip():
            raise ValueError("author handle must not be empty")
        _set(self, "handle", fit_key(self.handle))
        _set(self, "external_id", fit_key(self.external_id))
        _set(self, "display_name", fit(self.display_name, MAX_KEY))
        _set(self, "bio", fit(self.bio, MAX_BIO))
        if self.links is not None:
            links = tuple(link for link in self.links if len(link.url) <= MAX_URL)
            _set(self, "links", links[:MAX_LINKS])
        if self.url is not None and len(self.url) > MAX_URL:
            _set(self, "url", None)

    @property
    def key(self) -> str:
        """The stable key of the author on its platform: the id where there is one."""
        return self.external_id or self.handle


@dataclass(frozen=True, slots=True)
class Mention:
    """One post, comment or item that mentions the brand; never mutated, only replaced."""

    source: str
    source_id: str
    text: str
    created_at: datetime
    author: Author
    url: str | None = None
    title: str | None = None
    lang: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    matched_query: str | None = None
    edited_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    state: MentionState = MentionState.COLLECTED

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ValueError("mention source must not be empty")
        if not self.source_id.strip():
            raise ValueError("mention source_id must not be empty")
        if len(self.source) > MAX_SOURCE:
            raise ValueError(f"mention source must be at most {MAX_SOURCE} characters")
        _set(self, "created_at", ensure_utc(self.created_at, "created_at"))
        if self.edited_at is not None:
            _set(self, "edited_at", ensure_utc(self.edited_at, "edited_at"))
        if len(self.source_id) > MAX_KEY:
            # responders answer the post by this id: shortening it would point them nowhere
            raise ValueError(f"mention source_id is longer than {MAX_KEY} characters")
        for name in ("thread_id", "parent_id"):
            _set(self, name, fit_key(getattr(self, name)))
        _set(self, "matched_query", fit(self.matched_query, MAX_KEY))
        _set(self, "lang", fit(self.lang, MAX_LANG))
        if self.url is not None and len(self.url) > MAX_URL:
            _set(self, "url", None)

    @property
    def key(self) -> tuple[str, str]:
        """The unique key of a mention across every source."""
        return (self.source, self.source_id)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Small versioned JSON state a collector resumes from; saved with the mentions it covers."""

    state: Mapping[str, Any] = field(default_factory=dict)
    version: int = CURSOR_VERSION

    def to_json(self) -> str:
        """Serialise for storage."""
        return json.dumps({"v": self.version, "state": dict(self.state)}, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> Cursor | None:
        """Read a stored cursor; `None` means start from the beginning."""
        if not raw:
            return None
        data = json.loads(raw)
        if not isinstance(data, dict) or "v" not in data or "state" not in data:
            raise ValueError(f"stored cursor is not a versioned cursor: {raw[:80]!r}")
        return cls(state=data["state"], version=int(data["v"]))


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An item a collector could not turn into a mention, kept with the reason."""

    source: str
    reason: str
    payload: str
    locator: str | None = None

    def __post_init__(self) -> None:
        _set(self, "locator", fit(self.locator, MAX_KEY))


@dataclass(frozen=True, slots=True)
class Page:
    """One durable step of a fetch: mentions, rejects, and the cursor that covers them."""

    mentions: tuple[Mention, ...]
    cursor: Cursor
    quarantined: tuple[Quarantined, ...] = ()


@dataclass(frozen=True, slots=True)
class Classification:
    """What the NLP stage concluded about a mention, with its probabilities."""

    sentiment: str | None
    sentiment_scores: Mapping[str, float]
    intents: Mapping[str, float]
    needs_reply: float | None
    uncertain: bool
    lang: str | None
    model: str
