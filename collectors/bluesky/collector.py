"""The Bluesky collector: post search per watched term and the account's notifications."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final

from collectors.base import ThreadContext
from collectors.bluesky.client import XrpcClient
from collectors.bluesky.parse import (
    SOURCE,
    epoch_ms,
    invalid_reason,
    is_wanted_notification,
    parse_datetime,
    sort_time,
    thread_context,
    to_mention,
)
from collectors.bluesky.watermark import Watermark, seen_key
from collectors.queries import Query, QueryKind, Watch
from socialcrm.mention import Cursor, Mention, Page, Quarantined

log = logging.getLogger(__name__)

MENTIONS: Final = Query(QueryKind.ACCOUNT, "mentions")
# the page sizes the server uses when no limit is sent (see the lexicons)
SEARCH_DEFAULT_LIMIT: Final = 25
NOTIFICATIONS_DEFAULT_LIMIT: Final = 50
MAX_PAGES: Final = 10
Items = tuple[list[Any], str | None]


@dataclass(frozen=True, slots=True)
class Stream:
    """One newest-first listing: how to fetch a page, how to date an item, why it was found."""

    query: Query
    fetch_page: Callable[[str | None], Items]
    time_of: Callable[[Mapping[str, Any]], datetime | None]
    page_size: int
    accept: Callable[[Any], bool] = lambda _item: True


def item_key(item: Any) -> str:
    """The seen-set key: the item's uri, or its whole payload when it has none."""
    uri = item.get("uri") if isinstance(item, Mapping) else None
    return seen_key(uri if isinstance(uri, str) and uri else json.dumps(item, sort_keys=True))


def item_ms(stream: Stream, item: Any) -> int | None:
    """An item's time in the stream's order, in epoch ms (None when it has none)."""
    return epoch_ms(stream.time_of(item)) if isinstance(item, Mapping) else None


def walk(stream: Stream, mark: Watermark) -> list[Any]:
    """The items of `stream` newer than `mark`, newest first, paging until the mark is reached.

    Paging ends at an item older than the floor, at a page that overlaps the last run and
    brings nothing new, or at the end of the listing. A first run (no mark yet) takes only
    the newest page: collecting starts now, not with the whole history of a term.
    """
    taken: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        items, cursor = stream.fetch_page(cursor)
        wanted = [item for item in items if stream.accept(item)]
        new = [item for item in wanted if mark.is_new(item_key(item), item_ms(stream, item))]
        taken += new
        reached = any(mark.is_below(item_ms(stream, item)) for item in items)
        caught_up = len(new) < len(wanted) and not new
        if mark.is_fresh or reached or caught_up or not cursor or len(items) < stream.page_size:
            return taken
    log.warning(
        "%s: over %d pages of new %s; older ones skipped", SOURCE, MAX_PAGES, stream.query.label
    )
    return taken


class BlueskyCollector:
    """Searches posts for each watched term and reads the account's mentions, replies, quotes.

    Each stream keeps its own watermark in the cursor; its new items are buffered and yielded
    oldest first as one page. Streams follow one another, so the run as a whole is unsorted.
    """

    min_interval_seconds: ClassVar[int] = 60

    def __init__(
        self,
        client: XrpcClient,
        watch: Watch,
        *,
        search: bool = True,
        notifications: bool = True,
        limit: int | None = None,
    ) -> None:
        self.client = client
        self.watch = watch
        self.search = search
        self.notifications = notifications
        self.limit = limit

    @property
    def name(self) -> str:
        """Always `bluesky`."""
        return SOURCE

    @property
    def is_sorted(self) -> bool:
        """Each stream's page is oldest first, but the streams of a run are not merged."""
        return False

    def check(self) -> None:
        """Credentials are set and the server accepts them (logs in)."""
        self.client.require_credentials()
        _ = self.client.session

    def streams(self) -> list[Stream]:
        """The listings to read: one search per watched term, then the notifications."""
        streams = [self._search(query) for query in self.watch.terms] if self.search else []
        if self.notifications:
            size = self.limit or NOTIFICATIONS_DEFAULT_LIMIT
            streams.append(
                Stream(
                    MENTIONS, self._notifications_page, _indexed_at, size, is_wanted_notification
                )
            )
        return streams

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """One page per stream with anything new, each with the cursor that covers it."""
        self.client.require_credentials()
        state = dict(cursor.state.get("streams", {})) if cursor else {}
        emitted: set[str] = set()
        for stream in self.streams():
            label = stream.query.label
            mark = Watermark.from_state(state.get(label))
            items = walk(stream, mark)
            advanced = mark.advance((item_key(item), item_ms(stream, item)) for item in items)
            if advanced == mark:
                continue
            state[label] = advanced.to_state()
            mentions, rejects = self._parse(stream.query, items, emitted)
            yield Page(tuple(mentions), Cursor({"streams": dict(state)}), tuple(rejects))

    def _parse(
        self, query: Query, items: list[Any], emitted: set[str]
    ) -> tuple[list[Mention], list[Quarantined]]:
        mentions: list[Mention] = []
        rejects: list[Quarantined] = []
        for number, item in enumerate(items):
            if (reason := invalid_reason(item)) is not None:
                rejects.append(_quarantine(query, item, number, reason))
                continue
            label = self.watch.label_for(item["record"]["text"], query)
            if label is None or item["uri"] in emitted:
                continue  # excluded, or already found by an earlier stream of this run
            try:
                mention = to_mention(item, label)
            except ValueError as error:  # a value `Mention` refuses, e.g. a blank handle
                rejects.append(_quarantine(query, item, number, str(error)))
                continue
            emitted.add(item["uri"])
            mentions.append(mention)
        mentions.sort(key=lambda mention: mention.created_at)
        return mentions, rejects

    def _search(self, query: Query) -> Stream:
        term = f'"{query.term}"' if query.is_phrase else query.term

        def page(cursor: str | None) -> Items:
            params = {"q": term, "sort": "latest", "limit": self.limit, "cursor": cursor}
            body = self.client.query("app.bsky.feed.searchPosts", params)
            return _listing(body, "posts")

        return Stream(query, page, sort_time, self.limit or SEARCH_DEFAULT_LIMIT)

    def _notifications_page(self, cursor: str | None) -> Items:
        params = {"limit": self.limit, "cursor": cursor}
        body = self.client.query("app.bsky.notification.listNotifications", params)
        return _listing(body, "notifications")

    def context(self, mention: Mention) -> ThreadContext:
        """The parents of `mention` up to its thread's root, from `getPostThread`."""
        body = self.client.query("app.bsky.feed.getPostThread", {"uri": mention.source_id})
        return thread_context(body.get("thread") if isinstance(body, Mapping) else None)


def _indexed_at(item: Mapping[str, Any]) -> datetime | None:
    # notifications are ordered by when the server indexed them
    return parse_datetime(item.get("indexedAt"))


def _quarantine(query: Query, item: Any, number: int, reason: str) -> Quarantined:
    uri = item.get("uri") if isinstance(item, Mapping) else None
    payload = json.dumps(item, ensure_ascii=False, default=str)
    return Quarantined(SOURCE, reason, payload, f"{query.label}:{uri or number}")


def _listing(body: Any, key: str) -> Items:
    if not isinstance(body, Mapping) or not isinstance(body.get(key), list):
        return [], None
    cursor = body.get("cursor")
    return list(body[key]), cursor if isinstance(cursor, str) and cursor else None
