"""The Hacker News collector: searches each watched term newest first, yields oldest first."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar

import httpx

from collectors.base import SourceConfigError
from collectors.hackernews.parse import (
    SOURCE,
    Hit,
    HitError,
    Watermark,
    bad_hit,
    cursor_for,
    hit_to_mention,
    read_hit,
    reject_key,
    search_params,
    search_text,
    watermarks_from,
)
from collectors.http import HttpSource
from collectors.queries import Query, Watch
from collectors.resilience import Retrier, Sleep
from socialcrm.mention import Cursor, Mention, Page, Quarantined
from socialcrm.settings import HackerNewsSourceSettings, Settings

log = logging.getLogger(__name__)

MAX_PAGES_PER_TERM = 5  # Algolia serves 1000 hits at most per query; 5 pages keep a run cheap


@dataclass(frozen=True, slots=True)
class TermHits:
    """A term's new hits, the second below which a backlog is skipped, the hits refused."""

    hits: list[Hit]
    skip_below: int | None = None
    # every hit `read_hit` refused, by `reject_key`: quarantined unless the term knows it
    refused: dict[str, Quarantined] = field(default_factory=dict)


class HackerNewsCollector:
    """Searches each watched term newest first, then yields its new hits oldest first."""

    min_interval_seconds: ClassVar[int] = 60

    def __init__(
        self,
        watch: Watch,
        http: HttpSource,
        limit: int = 100,
        max_pages: int = MAX_PAGES_PER_TERM,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.watch = watch
        self.http = http
        self.limit = limit
        self.max_pages = max_pages
        self.clock = clock

    @property
    def name(self) -> str:
        """Always `hackernews`."""
        return SOURCE

    @property
    def is_sorted(self) -> bool:
        """A run's hits of every term are merged and yielded oldest first.

        A hit indexed late can be older than the previous run's newest; the look-back window
        of the cursor (not its position) is what takes it.
        """
        return True

    def check(self) -> None:
        """Terms must be configured and the search API must answer."""
        self._require_terms()
        self.http.get("/search", params={"query": "", "hitsPerPage": 0})

    def _require_terms(self) -> None:
        if not self.watch.terms:
            raise SourceConfigError(
                "hackernews: nothing to search for:"
                " set [watch] brand or sources.hackernews.keywords"
            )

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of new hits, oldest first; each cursor covers exactly the hits before it."""
        self._require_terms()
        saved = watermarks_from(cursor)
        marks = {q.label: saved.get(q.label, Watermark()) for q in self.watch.terms}
        found, first_query, rejects = self._search_terms(marks)
        merged = sorted(
            {hit.object_id: hit for hits in found.values() for hit in hits}.values(),
            key=lambda hit: (hit.created, hit.object_id),
        )
        if not merged and rejects:
            yield Page((), cursor_for(marks), tuple(rejects))
        chunks = iter(merged)
        while chunk := list(islice(chunks, self.limit)):
            done = {hit.object_id for hit in chunk}
            for label, hits in found.items():
                marks[label] = marks[label].advance([h for h in hits if h.object_id in done])
            mentions = self._mentions(chunk, first_query, rejects)
            yield Page(tuple(mentions), cursor_for(marks), tuple(rejects))
            rejects = []

    def _search_terms(
        self, marks: dict[str, Watermark]
    ) -> tuple[dict[str, list[Hit]], dict[str, Query], list[Quarantined]]:
        """Each term's new hits, the first term that found each, and the hits to quarantine.

        `marks` takes the refused hits and skipped backlogs, which need no page of their own.
        """
        found: dict[str, list[Hit]] = {}
        first_query: dict[str, Query] = {}
        refused: dict[str, Quarantined] = {}  # one record per hit, whichever terms found it
        for query in self.watch.terms:
            result = self._new_hits(query, marks[query.label])
            found[query.label] = result.hits
            mark = marks[query.label]
            refused |= {k: q for k, q in result.refused.items() if k not in mark.rejected}
            marks[query.label] = mark.reject(list(result.refused))
            if result.skip_below is not None:
                # every hit fetched is at or above it, so raising the floor loses none of them
                marks[query.label] = marks[query.label].raise_floor(result.skip_below)
            for hit in result.hits:
                first_query.setdefault(hit.object_id, query)
        return found, first_query, list(refused.values())

    def _mentions(
        self, chunk: list[Hit], first_query: Mapping[str, Query], rejects: list[Quarantined]
    ) -> list[Mention]:
        """The mentions of `chunk`; a hit that cannot become one is quarantined (once)."""
        mentions = []
        for hit in chunk:
            try:
                mention = self._mention(hit, first_query[hit.object_id])
            except (ValueError, TypeError, OverflowError) as error:  # HitError is a ValueError
                rejects.append(bad_hit(hit.fields, str(error)))
                continue
            if mention is not None:
                mentions.append(mention)
        return mentions

    def _mention(self, hit: Hit, found_by: Query) -> Mention | None:
        label = self.watch.label_for(search_text(hit), found_by)
        return hit_to_mention(hit, label) if label else None

    def _new_hits(self, query: Query, mark: Watermark) -> TermHits:
        # a term seen for the first time starts with its newest page, not its history
        budget = 1 if mark.is_fresh else self.max_pages
        hits: list[Hit] = []
        refused: dict[str, Quarantined] = {}
        oldest: int | None = None
        for page in range(budget):
            body = self._search(query, mark, page)
            raw_hits = body.get("hits")
            raw_hits = raw_hits if isinstance(raw_hits, list) else []
            for raw in raw_hits:
                try:
                    hit = read_hit(raw, self.clock())
                except HitError as error:
                    refused.setdefault(reject_key(raw), bad_hit(raw, str(error)))
                    continue
                oldest = hit.created if oldest is None else min(oldest, hit.created)
                if mark.is_new(hit):
                    hits.append(hit)
            # an index that ignored numericFilters shows older hits: nothing new further down
            last_page = page + 1 >= _count(body.get("nbPages"))
            if not raw_hits or last_page or _reaches_below(raw_hits, mark):
                return TermHits(hits, None, refused)
        if not mark.is_fresh:
            log.warning(
                "%s: more than %d pages of new hits for %s; older ones are skipped",
                SOURCE,
                self.max_pages,
                query.label,
            )
        return TermHits(hits, oldest, refused)

    def _search(self, query: Query, mark: Watermark, page: int) -> dict[str, Any]:
        params = search_params(query, mark, self.limit, page)
        response: httpx.Response = self.http.get("/search_by_date", params=params)
        body = response.json()
        return body if isinstance(body, dict) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _reaches_below(raw_hits: list[Any], mark: Watermark) -> bool:
    """Whether a page reaches below the watermark's floor (hits are newest first)."""
    times = (r.get("created_at_i") for r in raw_hits if isinstance(r, Mapping))
    return any(isinstance(t, int) and mark.is_below(t) for t in times)


def build(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep | None = None,
    clock: Callable[[], float] = time.time,
) -> HackerNewsCollector:
    """The Hacker News collector as the settings configure it."""
    table: HackerNewsSourceSettings = settings.sources.hackernews
    retrier = Retrier(SOURCE) if sleep is None else Retrier(SOURCE, sleep=sleep)
    http = HttpSource(SOURCE, table.api_url.rstrip("/"), retrier=retrier, transport=transport)
    watch = Watch.from_settings(settings.watch, table)
    return HackerNewsCollector(watch, http, table.limit, clock=clock)
