"""The RSS/Atom collector: conditional GET per feed, one page of new entries per feed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import feedparser
import httpx

from collectors.base import SourceAuthError, SourceConfigError
from collectors.http import HttpSource
from collectors.queries import Watch
from collectors.resilience import Retrier, Sleep
from collectors.rss.parse import (
    SOURCE,
    FeedInfo,
    FeedState,
    cursor_for,
    entry_time,
    entry_to_mention,
    payload,
    plain,
    states_from,
)
from socialcrm.mention import Cursor, Mention, Page, Quarantined, utcnow
from socialcrm.settings import Settings

log = logging.getLogger(__name__)


class RssCollector:
    """Fetches each feed with conditional GET and yields one page of new entries per feed."""

    min_interval_seconds: ClassVar[int] = 300

    def __init__(
        self,
        feeds: Sequence[str],
        watch: Watch,
        http: HttpSource,
        match_terms: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.feeds = list(dict.fromkeys(feeds))
        self.watch = watch
        self.http = http
        self.match_terms = match_terms
        self.clock = clock

    @property
    def name(self) -> str:
        """Always `rss`."""
        return SOURCE

    @property
    def is_sorted(self) -> bool:
        """Entries are oldest first within a feed, not across feeds."""
        return False

    def check(self) -> None:
        """Feeds must be configured and the first one must answer."""
        if not self.feeds:
            raise SourceConfigError("rss: no feeds configured: add URLs to sources.rss.feeds")
        self._get(self.feeds[0], FeedState())

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """One page per feed that changed, its cursor covering that feed and those before it."""
        if not self.feeds:
            raise SourceConfigError("rss: no feeds configured: add URLs to sources.rss.feeds")
        saved = states_from(cursor)
        states = {url: saved.get(url, FeedState()) for url in self.feeds}
        for url in self.feeds:
            page = self._feed_page(url, states)
            if page is not None:
                yield page

    def _get(self, url: str, state: FeedState) -> httpx.Response:
        try:
            return self.http.get(url, headers=state.headers())
        except SourceAuthError:
            raise
        except SourceConfigError as error:
            raise SourceConfigError(
                f"rss: feed {url} is gone or not found: fix or remove it in sources.rss.feeds"
                f" ({error})"
            ) from error

    def _feed_page(self, url: str, states: dict[str, FeedState]) -> Page | None:
        state = states[url]
        response = self._get(url, state)
        if response.status_code == 304:
            log.debug("%s: %s not modified", SOURCE, url)
            return None
        parsed = feedparser.parse(response.content, response_headers=dict(response.headers))
        validators = replace(
            state,
            etag=response.headers.get("etag") or state.etag,
            modified=response.headers.get("last-modified") or state.modified,
        )
        if parsed.get("bozo") and not parsed.get("entries"):
            return self._broken_feed(url, response.content, parsed, validators, states)
        mentions, rejects, new_state = self._entries(url, parsed, replace(validators, bad=None))
        states[url] = new_state
        if not mentions and not rejects and new_state == state:
            return None
        return Page(tuple(mentions), cursor_for(states), tuple(rejects))

    def _broken_feed(
        self,
        url: str,
        content: bytes,
        parsed: Any,
        state: FeedState,
        states: dict[str, FeedState],
    ) -> Page | None:
        digest = hashlib.sha256(content).hexdigest()[:16]
        if state.bad == digest:
            return None  # this very document was quarantined on an earlier run
        states[url] = replace(state, bad=digest)
        reason = f"feed is not valid RSS/Atom: {parsed.get('bozo_exception')}"
        log.warning("%s: %s %s", SOURCE, url, reason)
        document = content[:2000].decode("utf-8", errors="replace")
        return Page((), cursor_for(states), (Quarantined(SOURCE, reason, document, url),))

    def _entries(
        self, url: str, parsed: Any, state: FeedState
    ) -> tuple[list[Mention], list[Quarantined], FeedState]:
        channel = parsed.get("feed") or {}
        title = plain(channel.get("title"), channel.get("title_detail")) or None
        feed = FeedInfo(url, title)
        fetched_at = self.clock()
        dated: list[Mention] = []
        undated: list[Mention] = []
        rejects: list[Quarantined] = []
        seen: set[str] = set()
        for entry in parsed.get("entries") or []:
            try:
                mention = entry_to_mention(entry, feed, fetched_at)
            except ValueError as error:  # EntryError, or a value Mention refuses
                rejects.append(Quarantined(SOURCE, str(error), payload(entry), url))
                continue
            has_date = entry_time(entry, "published") or entry_time(entry, "updated")
            if mention.source_id in seen:
                continue  # some feeds list an entry twice
            seen.add(mention.source_id)
            if state.is_new(mention, bool(has_date)):
                (dated if has_date else undated).append(mention)
        labelled = (self._labelled(mention, feed) for mention in (*dated, *undated))
        kept = [mention for mention in labelled if mention is not None]
        kept.sort(key=lambda m: (m.created_at, m.source_id))
        return kept, rejects, state.advance(dated, undated)

    def _labelled(self, mention: Mention, feed: FeedInfo) -> Mention | None:
        text = f"{mention.title or ''}\n{mention.text}"
        if self.match_terms and self.watch.find(text) is None:
            return None
        label = self.watch.label_for(text, feed.query)
        return replace(mention, matched_query=label) if label else None


def build(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> RssCollector:
    """The RSS/Atom collector as the settings configure it."""
    table = settings.sources.rss
    retrier = Retrier(SOURCE) if sleep is None else Retrier(SOURCE, sleep=sleep)
    http = HttpSource(SOURCE, retrier=retrier, transport=transport)
    watch = Watch.from_settings(settings.watch, None)
    return RssCollector(table.feeds, watch, http, table.match_terms, clock)
