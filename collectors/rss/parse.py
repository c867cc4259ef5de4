"""Feed entries to mentions, and the per-feed state of the cursor: pure, no I/O."""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from collectors.http import redact
from collectors.queries import Query, QueryKind
from collectors.text import html_to_text
from socialcrm.mention import MAX_KEY, Author, Cursor, Mention, Quarantined

SOURCE = "rss"
# entries remembered per feed: more than a feed document holds (a document's own entries are
# always all kept), so an entry seen once is never taken again, whatever its date says
MAX_SEEN: Final = 500
MAX_SOURCE_ID: Final = MAX_KEY  # the database column
GOOGLE_HOSTS = frozenset({"www.google.com", "google.com"})
# what a date can fail with: a year out of range, a number too big, or not a time at all
DATE_ERRORS = (TypeError, ValueError, OverflowError, OSError)


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
    try:
        # feedparser normalises dates to UTC struct_time, but keeps years a datetime cannot hold
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except DATE_ERRORS as error:
        raise EntryError(f"entry has an unreadable {key} date: {error}") from error


def _bounded(source_id: str) -> str:
    if len(source_id) <= MAX_SOURCE_ID:
        return source_id
    # a digest of the whole id, not a cut: a cut could give two entries one id
    return "sha256:" + hashlib.sha256(source_id.encode()).hexdigest()


def feed_tag(feed_url: str) -> str:
    """A short stand-in for a feed's URL in ids: the URL may carry a password or a token."""
    return "feed:" + hashlib.sha256(feed_url.encode()).hexdigest()[:16]


def entry_id(entry: Mapping[str, Any], feed_url: str) -> str:
    """A stable id: the entry's id/guid, else its link, else its title within the feed."""
    guid = str(entry.get("id") or "").strip()
    link = str(entry.get("link") or "").strip()
    title = str(entry.get("title") or "").strip()
    if guid:
        # a bare guid such as "1234" is only unique within its feed
        return _bounded(guid if ":" in guid else f"{feed_tag(feed_url)}#{guid}")
    if link:
        return _bounded(link)
    if title:
        digest = hashlib.sha256(title.encode()).hexdigest()[:24]
        return f"{feed_tag(feed_url)}#title:{digest}"
    raise EntryError("entry has no id, link or title")


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What an entry inherits from its feed: its URL, title and the query it stands for."""

    url: str
    title: str | None

    @property
    def query(self) -> Query:
        """`feed:<title or url>`, the matched query of entries that name no watched term."""
        return Query(QueryKind.FEED, self.title or redact(self.url))


def _author(entry: Mapping[str, Any], link: str | None, feed: FeedInfo) -> Author:
    name = " ".join(str(entry.get("author") or "").split())
    detail = entry.get("author_detail")
    href = detail.get("href") if isinstance(detail, Mapping) else None
    site = urlsplit(link or feed.url).hostname
    if name:
        # multi-author feeds (arXiv) name hundreds of people in one string: `Author` fits the
        # handle keeping it unique (it is an identity) and only cuts the display name
        return Author(handle=name, display_name=name, url=href)
    if site:
        return Author(handle=site, url=f"https://{site}")
    return Author(handle=feed.title or redact(feed.url))


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
    return json.dumps(keep, ensure_ascii=False, default=str, sort_keys=True)


def seen_key(text: str) -> str:
    """A short stable key for an entry in the cursor's seen-set (keeps the cursor small)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def read_entry(
    entry: Mapping[str, Any], feed: FeedInfo, fetched_at: datetime
) -> tuple[str, Mention | Quarantined]:
    """An entry's seen key and its mention, or the quarantine record saying why it has none."""
    try:
        mention = entry_to_mention(entry, feed, fetched_at)
    except (ValueError, TypeError, OverflowError) as error:  # EntryError, or what Mention refuses
        kept = payload(entry)
        reason = str(error).replace(feed.url, redact(feed.url))
        return seen_key(f"quarantined:{kept}"), Quarantined(SOURCE, reason, kept, redact(feed.url))
    return seen_key(mention.source_id), mention


# -- per-feed cursor (pure) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed's validators for conditional GET and which of its entries were already taken."""

    etag: str | None = None
    modified: str | None = None
    # seen keys of the entries taken, oldest sighting first: newness is membership, never a
    # date, as aggregators and back-dated posts add entries older than the newest one
    seen: tuple[str, ...] = ()
    bad: str | None = None  # digest of a malformed document already quarantined

    @classmethod
    def from_state(cls, raw: Any) -> FeedState:
        """Read a feed's entry of the cursor (missing or odd entries start afresh)."""
        if not isinstance(raw, Mapping):
            return cls()
        seen = raw.get("seen")
        if not isinstance(seen, list):
            # the state before the seen-set kept raw ids (at the newest time, and undated)
            old = [*_strings(raw.get("undated")), *_strings(raw.get("ids"))]
            seen = [seen_key(source_id) for source_id in old]
        return cls(
            _string(raw.get("etag")),
            _string(raw.get("modified")),
            tuple(_strings(seen)),
            _string(raw.get("bad")),
        )

    def to_state(self) -> dict[str, Any]:
        """Small JSON for the cursor; empty fields left out."""
        state = {
            "etag": self.etag,
            "modified": self.modified,
            "seen": list(self.seen),
            "bad": self.bad,
        }
        return {key: value for key, value in state.items() if value}

    def headers(self) -> dict[str, str]:
        """Conditional GET headers from the saved validators."""
        headers = {"If-None-Match": self.etag, "If-Modified-Since": self.modified}
        return {key: value for key, value in headers.items() if value}

    def is_new(self, key: str) -> bool:
        """Whether the entry of seen key `key` was not taken from this feed before."""
        return key not in self.seen

    def remember(self, keys: Sequence[str]) -> FeedState:
        """The state once the entries of a document (their seen keys) are all taken."""
        current = dict.fromkeys(keys)
        if all(key in self.seen for key in current):
            return self
        # the document's own keys go last, so trimming the oldest never forgets one of them
        kept = [key for key in self.seen if key not in current] + list(current)
        return replace(self, seen=tuple(kept[-max(MAX_SEEN, len(current)) :]))


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def states_from(cursor: Cursor | None) -> dict[str, FeedState]:
    """Each feed's state from a saved cursor."""
    feeds = cursor.state.get("feeds", {}) if cursor else {}
    return {url: FeedState.from_state(raw) for url, raw in dict(feeds).items()}


def cursor_for(states: Mapping[str, FeedState]) -> Cursor:
    """The cursor that records `states`."""
    feeds = {url: state.to_state() for url, state in sorted(states.items())}
    return Cursor({"feeds": {url: state for url, state in feeds.items() if state}})
