"""RedditCollector: searches, watched subreddits and the account's inbox, one page per stream."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import praw
import requests

from collectors.base import ThreadContext
from collectors.queries import Query, QueryKind, Watch
from collectors.reddit import parse
from collectors.reddit.client import Calls, RedditConfig, make_reddit, new_calls
from collectors.reddit.cursor import (
    StreamState,
    advance,
    is_behind,
    is_reached,
    merged,
    read_states,
    select_new,
    write_states,
)
from collectors.resilience import Sleep
from socialcrm.mention import Cursor, Mention, Page, Quarantined

log = logging.getLogger(__name__)

SEARCH_LOOKBACK = 2 * 86_400.0  # Reddit's search index can lag by hours; look back two days
LISTING_LOOKBACK = 3_600.0  # items approved by moderators appear late in /new and /comments
PAGE_SIZE = 100  # Reddit serves at most 100 items per request
# after downtime a listing is paged down to the watermark, but no further than this: Reddit's
# own listings end at about 1000 items
MAX_ITEMS = 1000
# praw's Inbox listing of each inbox stream kind. "inbox" (/message/inbox) holds mentions,
# replies and every private message (follow-ups too) in one flat, newest-first listing, so
# the collector reads only that; the single kinds read recordings of them
INBOX_LISTINGS = {
    "inbox": "all",
    "mentions": "mentions",
    "comment_replies": "comment_replies",
    "submission_replies": "submission_replies",
    "messages": "messages",
}
# the streams the inbox was read as before it became one: their state seeds the one stream
OLD_INBOX_KEYS = ("mentions", "comment_replies", "submission_replies", "messages")


@dataclass(frozen=True)
class Stream:
    """One listing the collector reads each run, with its own cursor entry."""

    key: str
    kind: str  # "search", "new", "comments", or an inbox listing (see INBOX_LISTINGS)
    found_by: Query | None  # None for the inbox: each item says what it is to the account
    subreddit: str | None = None
    query: str | None = None

    @property
    def is_inbox(self) -> bool:
        """Whether this reads the account's inbox (and so needs the account)."""
        return self.kind in INBOX_LISTINGS

    @property
    def lookback(self) -> float:
        """How far behind the watermark late items are still accepted."""
        return SEARCH_LOOKBACK if self.kind == "search" else LISTING_LOOKBACK


def search_query(term: Query) -> str:
    """The search string for a term: phrases quoted so Reddit matches them as a whole."""
    escaped = term.term.replace('"', "")
    return f'"{escaped}"' if term.is_phrase else escaped


def plan_streams(
    watch: Watch, search_subreddits: list[str], subreddits: list[str], inbox: bool
) -> list[Stream]:
    """Every stream the settings ask for, in a stable order."""
    streams = [
        Stream(f"search:{sub}:{term.label}", "search", term, sub, search_query(term))
        for sub in search_subreddits
        for term in watch.terms
    ]
    for sub in subreddits:
        found_by = Query(QueryKind.SUBREDDIT, sub)
        streams.append(Stream(f"new:{sub}", "new", found_by, sub))
        streams.append(Stream(f"comments:{sub}", "comments", found_by, sub))
    if inbox:
        streams.append(Stream("inbox", "inbox", None))
    return streams


class RedditCollector:
    """Reads each stream newest first down to its watermark; yields its new items oldest first.

    Not sorted: streams are read one after the other and each keeps its own watermark and
    seen-set, so the collector as a whole does not deliver one global time order.
    """

    min_interval_seconds: ClassVar[int] = 60

    def __init__(
        self,
        config: RedditConfig,
        watch: Watch,
        streams: list[Stream],
        limit: int = 100,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.config = config
        self.watch = watch
        self.streams = streams
        self.limit = limit
        self.session = session
        self.sleep = sleep
        self.calls: Calls = new_calls(sleep)
        self._reddit: praw.Reddit | None = None

    @property
    def name(self) -> str:
        """Always `reddit`."""
        return parse.SOURCE

    @property
    def is_sorted(self) -> bool:
        """No: one page per stream, each with its own watermark and seen-set."""
        return False

    @property
    def reddit(self) -> praw.Reddit:
        """The praw client, built on first use (so missing credentials fail in `check`)."""
        if self._reddit is None:
            self._reddit = make_reddit(self.config, self.session, self.sleep)
        return self._reddit

    def _require_config(self) -> None:
        self.config.require_app()
        if any(stream.is_inbox for stream in self.streams):
            self.config.require_account("sources.reddit.inbox")

    def check(self) -> None:
        """Credentials present and accepted: the account's `me`, or a read-only token."""
        self._require_config()
        if self.config.username and self.config.password:
            self.calls.call(lambda: self.reddit.user.me())
        else:
            self.calls.call(lambda: self.reddit.auth.scopes())

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """One page per stream; its cursor holds every stream's state up to that one."""
        self._require_config()
        stored = read_states(cursor)
        states = {stream.key: _initial_state(stream, stored) for stream in self.streams}
        emitted: set[str] = set()
        for stream in self.streams:
            items = self._read(stream, states[stream.key], self._cap(stream, stored))
            mentions, rejects = self._parse(
                stream, select_new(items, states[stream.key], stream.lookback)
            )
            # the same post can reach several streams in one run; hand it on once
            mentions = [m for m in mentions if m.source_id not in emitted]
            emitted.update(m.source_id for m in mentions)
            states[stream.key] = advance(states[stream.key], items, keep=2 * self.limit)
            log.debug("reddit: %s gave %d new of %d", stream.key, len(mentions), len(items))
            yield Page(tuple(mentions), write_states(states), tuple(rejects))

    def _cap(self, stream: Stream, stored: Mapping[str, StreamState]) -> int:
        """How many items a run reads at most from `stream`."""
        state = stored.get(stream.key)
        # a stream with no position has no gap to fill: `limit` items are its start. Nor
        # has one just taken over from the old inbox streams: they did not cover replies and
        # messages (a released cursor holds only mentions), and those are not worth 1000
        if state is None or not state.newest:
            return self.limit
        return max(self.limit, MAX_ITEMS)

    def _read(self, stream: Stream, state: StreamState, cap: int) -> list[dict[str, Any]]:
        """The listing newest first, paged down to the last run's position (or the cap)."""
        listing = iter(self._listing(stream, cap))
        items: list[dict[str, Any]] = []
        fresh = not state.newest
        read, reached = 0, fresh
        while (thing := self.calls.call(lambda: next(listing, None), stream.subreddit)) is not None:
            read += 1
            group = parse.flatten(thing)  # a message thread: its root and its follow-ups
            items += group
            if all(is_behind(item, state, stream.lookback) for item in group):
                return items  # newest first: everything after this is older still
            reached = reached or all(is_reached(item, state) for item in group)
            # past the last run's position the next page would hold only the lookback's
            # late arrivals: not worth a request each run (the current page's are kept).
            # A fresh stream has no position: it reads its `cap` items, page by page
            if not fresh and reached and read % self._page_size == 0:
                return items
        if read and not reached:  # an empty listing has skipped nothing
            log.warning(
                "reddit: %s ended after %d items above the last run's newest item; "
                "items between them may have been missed",
                stream.key,
                read,
            )
        return items

    @property
    def _page_size(self) -> int:
        return min(self.limit, PAGE_SIZE)

    def _listing(self, stream: Stream, cap: int) -> Any:
        paging: dict[str, Any] = {"limit": cap, "request_limit": self._page_size}
        if stream.is_inbox:
            return getattr(self.reddit.inbox, INBOX_LISTINGS[stream.kind])(**paging)
        subreddit = self.reddit.subreddit(stream.subreddit or "all")
        if stream.kind == "search":
            return subreddit.search(stream.query or "", sort="new", **paging)
        if stream.kind == "new":
            return subreddit.new(**paging)
        return subreddit.comments(**paging)

    def _parse(
        self, stream: Stream, items: list[Mapping[str, Any]]
    ) -> tuple[list[Mention], list[Quarantined]]:
        mentions: list[Mention] = []
        rejects: list[Quarantined] = []
        for item in items:
            if self._is_own(item):
                continue  # the account's own posts and sent messages are not mentions
            found_by = stream.found_by or parse.inbox_query(item)
            try:
                mention = parse.parse_item(item, found_by, self.watch)
            except (ValueError, TypeError, OverflowError) as error:
                locator = f"{stream.key}:{item.get('name', '?')}"
                rejects.append(Quarantined(self.name, str(error), parse.payload(item), locator))
                continue
            if mention is not None:
                mentions.append(mention)
        return mentions, rejects

    def _is_own(self, item: Mapping[str, Any]) -> bool:
        own = (self.config.username or "").lower()
        return bool(own) and str(item.get("author") or "").lower() == own

    def context(self, mention: Mention) -> ThreadContext:
        """The opening post and the parent comments of a comment, oldest first (one request)."""
        if not mention.source_id.startswith("t1_") or not mention.thread_id:
            return ThreadContext(root=None, parents=())
        path = f"comments/{mention.thread_id[3:]}/_/{mention.source_id[3:]}"
        listings = self.calls.call(lambda: self.reddit.get(path, params={"context": 100}))
        return thread_context(listings, mention.source_id)


def _initial_state(stream: Stream, stored: Mapping[str, StreamState]) -> StreamState:
    """The stream's stored state; the one inbox stream takes over the old per-kind ones."""
    if stream.key in stored:
        return stored[stream.key]
    if stream.kind == "inbox":
        return merged([stored[key] for key in OLD_INBOX_KEYS if key in stored])
    return StreamState()


def thread_context(listings: Any, fullname: str) -> ThreadContext:
    """The submission and the chain of comments above `fullname`, from a `context=` response."""
    root = _context_item(listings[0].children[0]) if listings[0].children else None
    by_name: dict[str, Any] = {}
    queue = list(listings[1].children)
    while queue:
        thing = queue.pop()
        by_name[getattr(thing, "name", "")] = thing
        queue.extend(getattr(thing, "_replies", []) or [])
    chain: list[Mention] = []
    current = by_name.get(fullname)
    while current is not None and (parent := by_name.get(getattr(current, "parent_id", ""))):
        if (parsed := _context_item(parent)) is not None:
            chain.append(parsed)
        current = parent
    return ThreadContext(root=root, parents=tuple(reversed(chain)))


def _context_item(thing: Any) -> Mention | None:
    try:
        return parse.parse_item(parse.to_plain(thing), parse.MENTIONS, None)
    except (ValueError, TypeError, OverflowError):
        log.debug("reddit: a thread item could not be read", exc_info=True)
        return None
