"""The RSS/Atom collector: conditional GET per feed, one page of new entries per feed."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar, Final

import feedparser
import httpx

from collectors.base import RateLimitedError, SourceConfigError, SourceError
from collectors.http import HttpSource, redact
from collectors.queries import Watch
from collectors.resilience import Retrier, Sleep
from collectors.rss.failures import FIX, FeedFailure, describe, run_error
from collectors.rss.parse import (
    SOURCE,
    FeedInfo,
    FeedState,
    cursor_for,
    plain,
    read_entry,
    states_from,
)
from socialcrm.mention import Cursor, Mention, Page, Quarantined, utcnow
from socialcrm.settings import Settings

log = logging.getLogger(__name__)

NO_FEEDS = "rss: no feeds configured: add URLs to sources.rss.feeds"
# a rate-limited feed asking for at most this long is read again once the other feeds are done;
# a longer wait ends the run as rate limited and the scheduler comes back after it
RETRY_IN_RUN_SECONDS: Final = 30.0


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
        """Feeds must be configured and at least one of them must answer."""
        if not self.feeds:
            raise SourceConfigError(NO_FEEDS)
        failures: list[FeedFailure] = []
        for url in self.feeds:
            try:
                self.http.get(url)
            except SourceError as error:
                failures.append(self._failed(url, error))
                continue
            return
        raise run_error(failures, len(self.feeds))

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """One page per feed that changed, its cursor covering that feed and those before it.

        A feed that fails keeps its state and the others still run; the run then ends with
        one error naming every feed that failed. A feed that asked for a short wait (429) is
        asked once more after the others, so its wait holds none of them up.
        """
        if not self.feeds:
            raise SourceConfigError(NO_FEEDS)
        saved = states_from(cursor)
        states = {url: saved.get(url, FeedState()) for url in self.feeds}
        failures = yield from self._read(self.feeds, states)
        if again := _soon_again(failures):
            wait = max(error.retry_after for _url, error in again)
            log.info("%s: %d rate-limited feed(s) again in %.0f s", SOURCE, len(again), wait)
            self.http.retrier.sleep(wait)
            retried = yield from self._read([url for url, _error in again], states)
            failures = [f for f in failures if f not in again] + retried
        if failures:
            raise run_error(failures, len(self.feeds))

    def _read(
        self, urls: Sequence[str], states: dict[str, FeedState]
    ) -> Generator[Page, None, list[FeedFailure]]:
        """Each feed's page in turn; the feeds that failed, and why."""
        failures: list[FeedFailure] = []
        for url in urls:
            try:
                page = self._feed_page(url, states)
            except SourceError as error:
                failures.append(self._failed(url, error))
                continue
            if page is not None:
                yield page
        return failures

    def _failed(self, url: str, error: SourceError) -> FeedFailure:
        log.warning("%s: %s", SOURCE, describe(url, error))
        return url, error

    def _feed_page(self, url: str, states: dict[str, FeedState]) -> Page | None:
        state = states[url]
        response = self.http.get(url, headers=state.headers())
        if response.status_code == 304:
            log.debug("%s: %s not modified", SOURCE, redact(url))
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
        log.warning("%s: %s %s", SOURCE, redact(url), reason)
        document = content[:2000].decode("utf-8", errors="replace")
        locator = redact(url)
        return Page((), cursor_for(states), (Quarantined(SOURCE, reason, document, locator),))

    def _entries(
        self, url: str, parsed: Any, state: FeedState
    ) -> tuple[list[Mention], list[Quarantined], FeedState]:
        """The document's entries not taken before, labelled; and the state that covers them."""
        channel = parsed.get("feed") or {}
        title = plain(channel.get("title"), channel.get("title_detail")) or None
        feed = FeedInfo(url, title)
        fetched_at = self.clock()
        kept: list[Mention] = []
        rejects: list[Quarantined] = []
        document: dict[str, None] = {}  # seen keys of every entry listed, taken before or not
        for entry in parsed.get("entries") or []:
            key, item = read_entry(entry, feed, fetched_at)
            if key in document:
                continue  # some feeds list an entry twice
            document[key] = None
            if not state.is_new(key):
                continue
            if isinstance(item, Quarantined):
                rejects.append(item)
            elif (mention := self._labelled(item, feed)) is not None:
                kept.append(mention)
        # dates only order the page; they never decide what is new
        kept.sort(key=lambda m: (m.created_at, m.source_id))
        return kept, rejects, state.remember(list(document))

    def _labelled(self, mention: Mention, feed: FeedInfo) -> Mention | None:
        text = f"{mention.title or ''}\n{mention.text}"
        if self.match_terms and self.watch.find(text) is None:
            return None
        label = self.watch.label_for(text, feed.query)
        return replace(mention, matched_query=label) if label else None


def _soon_again(failures: Sequence[FeedFailure]) -> list[tuple[str, RateLimitedError]]:
    """The failed feeds that asked for a wait short enough to try them again in this run."""
    return [
        (url, error)
        for url, error in failures
        if isinstance(error, RateLimitedError) and error.retry_after <= RETRY_IN_RUN_SECONDS
    ]


def build(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> RssCollector:
    """The RSS/Atom collector as the settings configure it."""
    table = settings.sources.rss
    # feeds are read one after another: waiting out one feed's 429 or spent quota would hold up
    # every other feed, so a rate-limited feed fails alone and the run reports the soonest retry
    retrier = Retrier(SOURCE, max_wait=0.0, sleep=sleep or time.sleep)
    http = HttpSource(SOURCE, retrier=retrier, transport=transport, auth_hint=FIX)
    watch = Watch.from_settings(settings.watch, None)
    return RssCollector(table.feeds, watch, http, table.match_terms, clock)
