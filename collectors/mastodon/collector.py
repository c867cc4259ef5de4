"""The Mastodon collector: hashtag timelines, status search and the brand account's mentions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import requests
from mastodon import Mastodon

from collectors.base import (
    SourceConfigError,
    SourceError,
    ThreadContext,
    TransientSourceError,
)
from collectors.mastodon.client import TOKEN_ENV, MastodonClient
from collectors.mastodon.parse import (
    SOURCE,
    StatusError,
    build_page,
    newer_than,
    newest_id,
    parse_status,
    search_filter,
)
from collectors.queries import Query, QueryKind, Watch
from collectors.resilience import Clock, Retrier, Sleep, partial_failure
from socialcrm.mention import Cursor, Mention, Page
from socialcrm.settings import MastodonSourceSettings

log = logging.getLogger(__name__)

MENTIONS: Final = Query(QueryKind.ACCOUNT, "mentions")
# Mastodon's own page size when `limit` is not sent
SERVER_PAGE: Final = 20
# search hits up to this much older than the newest one seen still count (the index lags)
SEARCH_OVERLAP_SECONDS: Final = 3600.0


@dataclass(frozen=True)
class Stream:
    """One thing read on one instance; its cursor lives under `key`."""

    kind: str  # "tag", "search" or "mentions"
    client: MastodonClient
    term: str
    found_by: Query

    @property
    def key(self) -> str:
        """The cursor key: kind, instance host and term."""
        host = self.client.base_url.split("://", 1)[-1]
        return f"{self.kind}:{host}:{self.term}"


class MastodonCollector:
    """Reads Mastodon through Mastodon.py; a status seen on several instances is one mention.

    Not sorted: streams are read one after the other and search answers by relevance, so
    each stream keeps its own position (`min_id`, or a watermark and seen-set for search).
    """

    min_interval_seconds: ClassVar[int] = 60

    def __init__(
        self,
        settings: MastodonSourceSettings,
        watch: Watch,
        token: str | None,
        *,
        limit: int | None,
        session_factory: Callable[[], requests.Session] = requests.Session,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        max_pages: int = 5,
    ) -> None:
        self.settings = settings
        self.watch = watch
        self.limit = limit
        self.max_pages = max_pages
        self.brand = MastodonClient(
            settings.instance, token, Retrier(SOURCE, sleep=sleep), session_factory(), clock
        )
        self.others = [
            MastodonClient(url, None, Retrier(SOURCE, sleep=sleep), session_factory(), clock)
            for url in settings.extra_instances
        ]
        self._down: set[str] = set()  # extra instances that failed the last run

    @property
    def name(self) -> str:
        """Always `mastodon`."""
        return SOURCE

    @property
    def is_sorted(self) -> bool:
        """No: several streams, and search results come by relevance."""
        return False

    def _wants_token(self) -> bool:
        return (self.settings.search and bool(self.watch.terms)) or self.settings.notifications

    def _validate(self) -> None:
        if not (self.settings.hashtags or self._wants_token()):
            raise SourceConfigError(
                "mastodon: nothing to collect: set [sources.mastodon] hashtags, [watch] terms "
                "with search = true, or notifications = true"
            )
        if self._wants_token() and not self.brand.has_token:
            raise SourceConfigError(
                f"mastodon: search and notifications need {TOKEN_ENV} (the brand account's "
                "token on [sources.mastodon] instance); set it, or set search and "
                "notifications to false"
            )

    def check(self) -> None:
        """Settings make sense, the token is accepted, or (without one) the instance answers."""
        self._validate()
        if self.brand.has_token:
            self.brand.call("verify credentials", lambda api: api.account_verify_credentials())
        else:
            self.brand.hashtags_available()

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """Every stream in turn from its saved position; one page per request.

        The brand instance's failures end the run; an extra instance's failure skips only that
        instance (its cursor stays) and is raised after the other instances were read.
        """
        self._validate()
        state: dict[str, Any] = dict(cursor.state) if cursor else {}
        seen: set[str] = set()
        for page in self._pages(self._brand_streams(), state, seen):
            state = dict(page.cursor.state)
            yield page
        failed: list[tuple[MastodonClient, SourceError]] = []
        for client in self.others:
            try:
                for page in self._pages(self._tag_streams(client), state, seen):
                    state = dict(page.cursor.state)
                    yield page
            except SourceError as error:
                failed.append((client, error))
        self._note_outages(failed)
        if failed:
            raise extra_instances_error(failed)

    def _pages(
        self, streams: Iterator[Stream], state: dict[str, Any], seen: set[str]
    ) -> Iterator[Page]:
        for stream in streams:
            for page in self._read(stream, state, seen):
                state = dict(page.cursor.state)
                yield page

    def _note_outages(self, failed: list[tuple[MastodonClient, SourceError]]) -> None:
        """Log an extra instance's outage once when it starts and once when it ends."""
        down = {client.base_url: error for client, error in failed}
        for url in sorted(down.keys() - self._down):
            log.warning("mastodon: %s is skipped until it answers again: %s", url, down[url])
        for url in sorted(self._down - down.keys()):
            log.info("mastodon: %s answers again", url)
        self._down = set(down)

    def _brand_streams(self) -> Iterator[Stream]:
        # the brand instance first: an outage elsewhere must not hold up search and mentions
        yield from self._tag_streams(self.brand)
        if self.settings.search and self.brand.has_token:
            yield from (Stream("search", self.brand, q.term, q) for q in self.watch.terms)
        if self.settings.notifications and self.brand.has_token:
            yield Stream("mentions", self.brand, "mentions", MENTIONS)

    def _tag_streams(self, client: MastodonClient) -> Iterator[Stream]:
        tags = self.settings.hashtags
        if not tags:
            return
        if not client.hashtags_available():
            log.warning("mastodon: %s does not serve hashtag timelines to us", client.base_url)
            return
        yield from (Stream("tag", client, tag, Query(QueryKind.HASHTAG, tag)) for tag in tags)

    def _read(self, stream: Stream, state: dict[str, Any], seen: set[str]) -> Iterator[Page]:
        if stream.kind == "search":
            yield from self._search(stream, state, seen)
        else:
            yield from self._timeline(stream, state, seen)

    def _timeline(self, stream: Stream, state: dict[str, Any], seen: set[str]) -> Iterator[Page]:
        min_id: str | None = state.get(stream.key)
        for _ in range(self.max_pages):
            raw = newer_than(stream.client.call(stream.key, self._request(stream, min_id)), min_id)
            if not raw:
                return
            statuses = _statuses(raw) if stream.kind == "mentions" else raw
            mentions, rejects = build_page(
                statuses, stream.client.base_url, stream.found_by, self.watch, seen
            )
            newest = newest_id(raw) or min_id
            state = {**state, stream.key: newest}
            yield Page(tuple(mentions), Cursor(state), tuple(rejects))
            # the first run takes the newest page only: no backfill of the whole history
            if min_id is None or newest == min_id or len(raw) < (self.limit or SERVER_PAGE):
                return
            min_id = newest

    def _request(self, stream: Stream, min_id: str | None) -> Callable[[Mastodon], Any]:
        if stream.kind == "mentions":
            return lambda api: api.notifications(types=["mention"], min_id=min_id, limit=self.limit)
        return lambda api: api.timeline_hashtag(stream.term, min_id=min_id, limit=self.limit)

    def _search(self, stream: Stream, state: dict[str, Any], seen: set[str]) -> Iterator[Page]:
        query = f'"{stream.term}"' if stream.found_by.is_phrase else stream.term
        result = stream.client.call(
            f"search {query!r}",
            lambda api: api.search_v2(query, result_type="statuses", limit=self.limit),
        )
        statuses = list(result.get("statuses") or [])
        hits, rejects = build_page(
            statuses, stream.client.base_url, stream.found_by, self.watch, set()
        )
        fresh, position = search_filter(hits, state.get(stream.key), SEARCH_OVERLAP_SECONDS)
        mentions = [m for m in fresh if m.source_id not in seen]
        seen.update(m.source_id for m in mentions)
        yield Page(tuple(mentions), Cursor({**state, stream.key: position}), tuple(rejects))

    def context(self, mention: Mention) -> ThreadContext:
        """The parents of `mention` (oldest first, the opening post first) from its instance."""
        client = self._client_for(str(mention.extra.get("instance", "")))
        local_id = resolve_local_id(client, mention)
        context = client.call("status context", lambda api: api.status_context(local_id), True)
        parents: list[Mention] = []
        for raw in context.get("ancestors") or []:
            try:
                parents.append(parse_status(raw, client.base_url))
            except (StatusError, ValueError) as error:
                log.info("mastodon: skipping a broken ancestor of %s: %s", mention.url, error)
        return ThreadContext(parents[0] if parents else None, tuple(parents))

    def _client_for(self, instance: str) -> MastodonClient:
        for client in [self.brand, *self.others]:
            if client.base_url == instance.rstrip("/"):
                return client
        return self.brand


def extra_instances_error(failed: Sequence[tuple[MastodonClient, SourceError]]) -> SourceError:
    """One error naming every extra instance that failed; transient only if all failures are.

    Never a `SourceConfigError`: one gone or refusing extra instance must not disable the source.
    """
    names = "; ".join(
        f"{client.base_url} ({str(error).removeprefix('mastodon: ')})" for client, error in failed
    )
    message = f"mastodon: extra instance(s) skipped this run, cursors kept: {names}"
    return partial_failure(message, [error for _, error in failed])


def _statuses(notifications: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    # a mention whose status was deleted has none: skipped, not quarantined
    return [
        n["status"]
        for n in notifications
        if n.get("type") == "mention" and isinstance(n.get("status"), Mapping)
    ]


def resolve_local_id(client: MastodonClient, mention: Mention) -> str:
    """The id of `mention`'s status on `client`'s instance, resolving it there if it is remote."""
    local = mention.extra.get("status_id")
    if local and str(mention.extra.get("instance", "")).rstrip("/") == client.base_url:
        return str(local)
    if not client.has_token:
        raise SourceConfigError(f"mastodon: resolving statuses needs {TOKEN_ENV}")
    found = client.call(
        "resolve status",
        lambda api: api.search_v2(mention.source_id, resolve=True, result_type="statuses"),
    )
    statuses = list(found.get("statuses") or [])
    if not statuses or not statuses[0].get("id"):
        # an empty answer is also what a brief outage of the status's own server gives: only
        # a 404/410 for the status itself (when replying) means it is gone
        raise TransientSourceError(
            f"mastodon: could not resolve {mention.source_id} on {client.base_url} now; will retry"
        )
    return str(statuses[0]["id"])
