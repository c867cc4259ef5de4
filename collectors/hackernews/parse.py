"""Algolia hits to mentions, and the per-term watermarks of the cursor: pure, no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from collectors.queries import Query
from collectors.text import html_to_text
from socialcrm.mention import Author, Cursor, Mention, Quarantined

SOURCE = "hackernews"
HN = "https://news.ycombinator.com"
# Algolia indexes a hit a few seconds to minutes after it is posted, so a run also asks for
# hits this much older than the newest it stored and takes those it has not seen
LOOKBACK_SECONDS: Final = 10 * 60
MAX_SEEN: Final = 500  # ids remembered per term inside the look-back window
MAX_FUTURE_SECONDS: Final = 24 * 3600  # a hit "created" further ahead would block the cursor
# rejected hits remembered per term: the floor never passes a hit without a usable time, so the
# search keeps returning it; remembering it keeps it from being quarantined on every run
MAX_REJECTED: Final = 200
# fields of a hit that change as people vote and answer: no part of an id-less hit's identity
VOLATILE: Final = frozenset(
    {"points", "num_comments", "updated_at", "_highlightResult", "children"}
)


class HitError(ValueError):
    """A hit that cannot become a mention; the message is the quarantine reason."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One search hit with a valid id and time, and its raw fields."""

    object_id: str
    created: int
    fields: Mapping[str, Any]


def read_hit(raw: Any, now: float | None = None) -> Hit:
    """Validate the identity and time of a raw hit, or raise `HitError` saying why."""
    if not isinstance(raw, Mapping):
        raise HitError("hit is not a JSON object")
    object_id = raw.get("objectID")
    if not isinstance(object_id, str | int) or isinstance(object_id, bool) or not str(object_id):
        raise HitError("hit has no objectID")
    created = raw.get("created_at_i")
    if not isinstance(created, int) or isinstance(created, bool) or not _representable(created):
        raise HitError(f"hit {object_id} has no valid created_at_i: {created!r:.40}")
    if now is not None and created > now + MAX_FUTURE_SECONDS:
        raise HitError(f"hit {object_id} has a created_at_i in the future: {created}")
    return Hit(str(object_id), created, raw)


def _representable(second: int) -> bool:
    try:
        datetime.fromtimestamp(second, UTC)
    except (OverflowError, ValueError, OSError):
        return False
    return second > 0


def _optional_str(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _author(hit: Hit) -> str | None:
    """The author's username; `None` for a deleted item, `HitError` for a malformed one."""
    value = hit.fields.get("author")
    if value is None or value == "":
        return None
    name = _optional_str(hit.fields, "author")
    if name is None:
        raise HitError(f"hit {hit.object_id} has an invalid author: {value!r:.40}")
    return name


def _is_comment(hit: Hit) -> bool:
    tags = hit.fields.get("_tags")
    if tags is not None and not isinstance(tags, list):
        raise HitError(f"hit {hit.object_id} has _tags that are not a list: {tags!r:.40}")
    return "comment" in (tags or []) or bool(hit.fields.get("comment_text"))


def hit_to_mention(hit: Hit, matched_query: str | None = None) -> Mention | None:
    """The mention of a hit; `None` for a deleted or dead item (no author or no text).

    Raises `HitError` (a `ValueError`) for a malformed hit: the caller quarantines it.
    """
    fields = hit.fields
    author = _author(hit)
    is_comment = _is_comment(hit)
    title = None if is_comment else _optional_str(fields, "title")
    body = html_to_text(str(fields.get("comment_text" if is_comment else "story_text") or ""))
    text = "\n\n".join(part for part in (title, body) if part)
    if not author or not text:
        return None
    link = None if is_comment else _optional_str(fields, "url")
    return Mention(
        source=SOURCE,
        source_id=hit.object_id,
        text=text,
        title=title,
        created_at=datetime.fromtimestamp(hit.created, UTC),
        author=Author(handle=author, external_id=author, url=f"{HN}/user?id={author}"),
        url=f"{HN}/item?id={hit.object_id}",
        thread_id=_optional_str(fields, "story_id") if is_comment else hit.object_id,
        parent_id=_optional_str(fields, "parent_id") if is_comment else None,
        matched_query=matched_query,
        extra={"link": link} if link else {},
    )


def search_text(hit: Hit) -> str:
    """The text a watched term is looked for in: title, story text or comment."""
    fields = hit.fields
    parts = (fields.get("title"), fields.get("story_text"), fields.get("comment_text"))
    return "\n".join(html_to_text(str(part)) for part in parts if part)


# -- watermarks (pure) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Watermark:
    """Hits older than `floor` (epoch s) are done; newer ones are done if their id is `seen`."""

    floor: int | None = None
    seen: Mapping[str, int] = field(default_factory=dict)  # id -> created second
    rejected: tuple[str, ...] = ()  # `reject_key`s of quarantined hits, oldest first

    @classmethod
    def from_state(cls, raw: Any) -> Watermark:
        """Read a term's entry of the cursor state (missing or odd entries start afresh)."""
        if not isinstance(raw, Mapping):
            return cls()
        # {"t", "ids"} is the state before the look-back: the ids all sat at second t
        floor = raw.get("floor", raw.get("t"))
        if not isinstance(floor, int) or isinstance(floor, bool) or floor <= 0:
            return cls()
        seen = raw.get("seen")
        rejected = raw.get("rejected")
        rejected = (
            tuple(k for k in rejected if isinstance(k, str)) if isinstance(rejected, list) else ()
        )
        if isinstance(seen, Mapping):
            return cls(floor, {str(k): v for k, v in seen.items() if isinstance(v, int)}, rejected)
        ids = raw.get("ids")
        return cls(floor, {str(i): floor for i in ids} if isinstance(ids, list) else {})

    def to_state(self) -> dict[str, Any]:
        """Small JSON for the cursor."""
        state: dict[str, Any] = {"floor": self.floor, "seen": dict(sorted(self.seen.items()))}
        return {**state, "rejected": list(self.rejected)} if self.rejected else state

    @property
    def is_fresh(self) -> bool:
        """No run has stored anything of this term yet."""
        return self.floor is None

    def is_new(self, hit: Hit) -> bool:
        """Whether `hit` is not yet taken: not below the floor and not seen."""
        if hit.object_id in self.seen:
            return False
        return self.floor is None or hit.created >= self.floor

    def is_below(self, second: int) -> bool:
        """Whether a hit of `second` is older than the floor (so every later one is, too)."""
        return self.floor is not None and second < self.floor

    def advance(self, hits: Sequence[Hit]) -> Watermark:
        """The watermark once `hits` (all new) are stored: floor up, the seen-set cut."""
        if not hits:
            return self
        merged = {**self.seen, **{hit.object_id: hit.created for hit in hits}}
        floor = max(self.floor or 0, max(merged.values()) - LOOKBACK_SECONDS)
        return _bounded(floor, merged, self.rejected)

    def raise_floor(self, second: int) -> Watermark:
        """The watermark that skips every hit older than `second` (a backlog left behind)."""
        return _bounded(max(self.floor or 0, second), self.seen, self.rejected)

    def reject(self, keys: Sequence[str]) -> Watermark:
        """The watermark once the rejected hits of `keys` (all met this run) are quarantined."""
        current = dict.fromkeys(keys)
        if all(key in self.rejected for key in current):
            return self
        # keys met this run go last, so trimming the oldest forgets hits no longer returned
        kept = [key for key in self.rejected if key not in current] + list(current)
        return replace(self, rejected=tuple(kept[-MAX_REJECTED:]))


def _bounded(floor: int, seen: Mapping[str, int], rejected: tuple[str, ...]) -> Watermark:
    kept = {key: at for key, at in seen.items() if at >= floor}
    if len(kept) > MAX_SEEN:
        # the oldest seen ids go: the floor rises to the oldest second still remembered
        floor = sorted(kept.values(), reverse=True)[MAX_SEEN - 1]
        kept = {key: at for key, at in kept.items() if at >= floor}
    return Watermark(floor, kept, rejected)


def watermarks_from(cursor: Cursor | None) -> dict[str, Watermark]:
    """Each term's watermark from a saved cursor."""
    terms = cursor.state.get("terms", {}) if cursor else {}
    if not isinstance(terms, Mapping):
        return {}
    return {str(label): Watermark.from_state(raw) for label, raw in terms.items()}


def cursor_for(marks: Mapping[str, Watermark]) -> Cursor:
    """The cursor that records `marks`."""
    return Cursor({"terms": {label: mark.to_state() for label, mark in sorted(marks.items())}})


def search_params(query: Query, mark: Watermark, limit: int, page: int) -> dict[str, str | int]:
    """Algolia parameters for one page of a term's newest stories and comments."""
    params: dict[str, str | int] = {
        "query": f'"{query.term}"' if query.is_phrase else query.term,
        "tags": "(story,comment)",
        "hitsPerPage": limit,
        "page": page,
    }
    if mark.floor is not None:
        # the whole look-back window: hits indexed late are fetched and filtered by id
        params["numericFilters"] = f"created_at_i>={mark.floor}"
    return params


def reject_key(raw: Any) -> str:
    """A short stable key of a hit `read_hit` refused: its objectID, else its steady fields."""
    object_id = raw.get("objectID") if isinstance(raw, Mapping) else None
    if isinstance(object_id, str | int) and not isinstance(object_id, bool) and str(object_id):
        basis = f"id:{object_id}"
    else:
        steady = (
            {k: v for k, v in raw.items() if k not in VOLATILE} if isinstance(raw, Mapping) else raw
        )
        basis = json.dumps(steady, sort_keys=True, default=str)
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def bad_hit(raw: Any, reason: str) -> Quarantined:
    """The quarantine record of a hit that cannot become a mention."""
    payload = json.dumps(raw, ensure_ascii=False, default=str)
    locator = str(raw.get("objectID")) if isinstance(raw, Mapping) else None
    return Quarantined(SOURCE, reason, payload, locator)
