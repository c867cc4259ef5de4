"""Feed entries to mentions, and the per-feed state of the cursor: pure, no I/O."""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collectors.queries import Query, QueryKind
from collectors.text import html_to_text
from socialcrm.mention import Author, Cursor, Mention

SOURCE = "rss"
MAX_IDS = 200  # ids remembered per feed; a feed document rarely holds more than 100 entries
MAX_SOURCE_ID = 255  # the database column
GOOGLE_HOSTS = frozenset({"www.google.com", "google.com"})


class EntryError(ValueError):
    """An entry that cannot become a mention; the message is the quarantine reason."""


# -- parsing entries (pure) ------------------------------------------------------------------


def unwrap_link(link: str) -> str:
    """The real target of a Google redirect link (Google Alerts), else `link` itself."""
    parts = urlsplit(link)
    if parts.hostname in GOOGLE_HOSTS and parts.path == "/url":
        query = parse_qs(parts.query)
        for key in ("url", "q"):
            if (target := query.get(key)) and target[0].startswith(("http://", "https://")):
                return target[0]
    return link


def plain(value: Any, detail: Any) -> str:
    """Text of a feedparser value: HTML is converted, plain text kept as it is."""
    text = str(value or "")
    kind = detail.get("type", "text/html") if isinstance(detail, Mapping) else "text/html"
    return " ".join(text.split()) if kind == "text/plain" else html_to_text(text)


def entry_time(entry: Mapping[str, Any], key: str) -> datetime | None:
    """The entry's `published` or `updated` time in UTC, if the feed gave a readable one."""
    # `in` first: feedparser's get("updated_parsed") falls back to published with a warning
    parsed = entry[f"{key}_parsed"] if f"{key}_parsed" in entry else None  # noqa: SIM401
    if parsed is None:
        return None
    # feedparser normalises dates to UTC struct_time
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


def _bounded(source_id: str) -> str:
    if len(source_id) <= MAX_SOURCE_ID:
        return source_id
    return "sha256:" + hashlib.sha256(source_id.encode()).hexdigest()


def entry_id(entry: Mapping[str, Any], feed_url: str) -> str:
    """A stable id: the entry's id/guid, else its link, else its title within the feed."""
    guid = str(entry.get("id") or "").strip()
    link = str(entry.get("link") or "").strip()
    title = str(entry.get("title") or "").strip()
    if guid:
        # a bare guid such as "1234" is only unique within its feed
        return _bounded(guid if ":" in guid else f"{feed_url}#{guid}")
    if link:
        return _bounded(link)
    if title:
        digest = hashlib.sha256(title.encode()).hexdigest()[:24]
        return f"{feed_url}#title:{digest}"[:MAX_SOURCE_ID]
    raise EntryError("entry has no id, link or title")


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What an entry inherits from its feed: its URL, title and the query it stands for."""

    url: str
    title: str | None

    @property
    def query(self) -> Query:
        """`feed:<title or url>`, the matched query of entries that name no watched term."""
        return Query(QueryKind.FEED, self.title or self.url)


def _author(entry: Mapping[str, Any], link: str | None, feed: FeedInfo) -> Author:
    name = " ".join(str(entry.get("author") or "").split())
    detail = entry.get("author_detail")
    href = detail.get("href") if isinstance(detail, Mapping) else None
    site = urlsplit(link or feed.url).hostname
    if name:
        return Author(handle=name, display_name=name, url=href)
    if site:
        return Author(handle=site, url=f"https://{site}")
    return Author(handle=feed.title or feed.url)


def entry_to_mention(entry: Mapping[str, Any], feed: FeedInfo, fetched_at: datetime) -> Mention:
    """The mention of a feed entry (undated entries take `fetched_at`), or raise `EntryError`."""
    source_id = entry_id(entry, feed.url)
    title = plain(entry.get("title"), entry.get("title_detail")) or None
    content = entry.get("content")
    body = content[0] if isinstance(content, list) and content else None
    if isinstance(body, Mapping):
        text = plain(body.get("value"), body)
    else:
        text = plain(entry.get("summary"), entry.get("summary_detail"))
    if not (text or title):
        raise EntryError(f"entry {source_id} has no title and no text")
    published, updated = entry_time(entry, "published"), entry_time(entry, "updated")
    created = published or updated or fetched_at
    link = str(entry.get("link") or "") or None
    url = unwrap_link(link) if link else None
    return Mention(
        source=SOURCE,
        source_id=source_id,
        text=text or title or "",
        title=title,
        created_at=created,
        author=_author(entry, url, feed),
        url=url,
        matched_query=feed.query.label,
        edited_at=updated if published and updated and updated > published else None,
    )


def payload(entry: Mapping[str, Any]) -> str:
    """What a quarantined entry keeps: only the fields that identify it, as JSON."""
    keys = ("id", "link", "title", "published", "updated")
    keep = {key: value for key, value in entry.items() if key in keys}
    return json.dumps(keep, ensure_ascii=False, default=str)


# -- per-feed cursor (pure) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed's validators for conditional GET and what of it is already stored."""

    etag: str | None = None
    modified: str | None = None
    newest: float = 0.0  # epoch seconds of the newest dated entry stored
    ids: tuple[str, ...] = ()  # ids stored at `newest`
    undated: tuple[str, ...] = ()  # ids of stored entries that carry no date
    bad: str | None = None  # digest of a malformed document already quarantined

    @classmethod
    def from_state(cls, raw: Any) -> FeedState:
        """Read a feed's entry of the cursor (missing or odd entries start afresh)."""
        if not isinstance(raw, Mapping):
            return cls()
        return cls(
            raw.get("etag"),
            raw.get("modified"),
            float(raw.get("newest", 0.0)),
            tuple(raw.get("ids", ())),
            tuple(raw.get("undated", ())),
            raw.get("bad"),
        )

    def to_state(self) -> dict[str, Any]:
        """Small JSON for the cursor; empty fields left out."""
        state = {
            "etag": self.etag,
            "modified": self.modified,
            "newest": self.newest,
            "ids": list(self.ids),
            "undated": list(self.undated),
            "bad": self.bad,
        }
        return {key: value for key, value in state.items() if value}

    def headers(self) -> dict[str, str]:
        """Conditional GET headers from the saved validators."""
        headers = {"If-None-Match": self.etag, "If-Modified-Since": self.modified}
        return {key: value for key, value in headers.items() if value}

    def is_new(self, mention: Mention, dated: bool) -> bool:
        """Whether `mention` was not stored from this feed before."""
        if not dated:
            return mention.source_id not in self.undated
        stamp = mention.created_at.timestamp()
        return stamp > self.newest or (stamp == self.newest and mention.source_id not in self.ids)

    def advance(self, dated: Sequence[Mention], undated: Sequence[Mention]) -> FeedState:
        """The state once `dated` and `undated` (all new) are stored."""
        state = self
        if dated:
            newest = max(m.created_at.timestamp() for m in dated)
            at_newest = [m.source_id for m in dated if m.created_at.timestamp() == newest]
            kept = self.ids if newest == self.newest else ()
            state = replace(state, newest=newest, ids=(*kept, *at_newest)[-MAX_IDS:])
        if undated:
            ids = (*self.undated, *(m.source_id for m in undated))[-MAX_IDS:]
            state = replace(state, undated=ids)
        return state


def states_from(cursor: Cursor | None) -> dict[str, FeedState]:
    """Each feed's state from a saved cursor."""
    feeds = cursor.state.get("feeds", {}) if cursor else {}
    return {url: FeedState.from_state(raw) for url, raw in dict(feeds).items()}


def cursor_for(states: Mapping[str, FeedState]) -> Cursor:
    """The cursor that records `states`."""
    feeds = {url: state.to_state() for url, state in sorted(states.items())}
    return Cursor({"feeds": {url: state for url, state in feeds.items() if state}})
