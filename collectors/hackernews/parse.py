"""Algolia hits to mentions, and the per-term watermarks of the cursor: pure, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collectors.queries import Query
from collectors.text import html_to_text
from socialcrm.mention import Author, Cursor, Mention, Quarantined

SOURCE = "hackernews"
HN = "https://news.ycombinator.com"
MAX_IDS = 100  # ids remembered at the watermark second (only ties need them)


class HitError(ValueError):
    """A hit that cannot become a mention; the message is the quarantine reason."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One valid search hit: its id, its second, and the raw fields."""

    object_id: str
    created: int
    fields: Mapping[str, Any]


def read_hit(raw: Any) -> Hit:
    """Validate the identity of a raw hit, or raise `HitError` saying why it is malformed."""
    if not isinstance(raw, Mapping):
        raise HitError("hit is not a JSON object")
    object_id = raw.get("objectID")
    if not isinstance(object_id, str | int) or isinstance(object_id, bool) or not str(object_id):
        raise HitError("hit has no objectID")
    created = raw.get("created_at_i")
    if not isinstance(created, int) or isinstance(created, bool) or created <= 0:
        raise HitError(f"hit {object_id} has no valid created_at_i: {created!r}")
    return Hit(str(object_id), created, raw)


def _optional_str(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    return str(value) if isinstance(value, str | int) and value != "" else None


def hit_to_mention(hit: Hit, matched_query: str | None = None) -> Mention | None:
    """The mention of a hit; `None` for a deleted or dead item (no author or no text)."""
    fields = hit.fields
    author = _optional_str(fields, "author")
    is_comment = "comment" in (fields.get("_tags") or []) or fields.get("comment_text")
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
    """The second of the newest stored hit of a term and the ids stored at that second."""

    second: int = 0
    ids: frozenset[str] = frozenset()

    @classmethod
    def from_state(cls, raw: Any) -> Watermark:
        """Read a term's entry of the cursor state (missing or odd entries start afresh)."""
        if not isinstance(raw, Mapping):
            return cls()
        return cls(int(raw.get("t", 0)), frozenset(str(i) for i in raw.get("ids", [])))

    def to_state(self) -> dict[str, Any]:
        """Small JSON for the cursor."""
        return {"t": self.second, "ids": sorted(self.ids)[-MAX_IDS:]}

    def is_new(self, hit: Hit) -> bool:
        """Whether `hit` comes after what this watermark covers."""
        return hit.created > self.second or (
            hit.created == self.second and hit.object_id not in self.ids
        )

    def advance(self, hits: Sequence[Hit]) -> Watermark:
        """The watermark once `hits` (all new) are stored."""
        if not hits:
            return self
        newest = max(hit.created for hit in hits)
        at_newest = {hit.object_id for hit in hits if hit.created == newest}
        if newest == self.second:
            at_newest |= self.ids
        return Watermark(newest, frozenset(at_newest))


def watermarks_from(cursor: Cursor | None) -> dict[str, Watermark]:
    """Each term's watermark from a saved cursor."""
    terms = cursor.state.get("terms", {}) if cursor else {}
    return {label: Watermark.from_state(raw) for label, raw in dict(terms).items()}


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
    if mark.second:
        # >= so hits sharing the watermark's second are fetched and filtered by id
        params["numericFilters"] = f"created_at_i>={mark.second}"
    return params


def bad_hit(raw: Any, reason: str) -> Quarantined:
    payload = json.dumps(raw, ensure_ascii=False, default=str)
    locator = str(raw.get("objectID")) if isinstance(raw, Mapping) else None
    return Quarantined(SOURCE, reason, payload, locator)
