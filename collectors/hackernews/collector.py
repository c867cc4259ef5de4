"""The Hacker News collector: searches each watched term newest first, yields oldest first."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
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


class HackerNewsCollector:
    """Searches each watched term newest first, then yields its new hits oldest first."""

    min_interval_seconds: ClassVar[int] = 60

    def __init__(
        self, watch: Watch, http: HttpSource, limit: int = 100, max_pages: int = MAX_PAGES_PER_TERM
    ) -> None:
        self.watch = watch
        self.http = http
        self.limit = limit
        self.max_pages = max_pages

    @property
    def name(self) -> str:
        """Always `hackernews`."""
        return SOURCE

    @property
    def is_sorted(self) -> bool:
        """Hits of every term are merged and yielded oldest first."""
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
        marks = watermarks_from(cursor)
        marks = {q.label: marks.get(q.label, Watermark()) for q in self.watch.terms}
        found: dict[str, list[Hit]] = {}
        first_query: dict[str, Query] = {}
        rejects: list[Quarantined] = []
        for query in self.watch.terms:
            hits = self._new_hits(query, marks[query.label], rejects)
            found[query.label] = hits
            for hit in hits:
                first_query.setdefault(hit.object_id, query)
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
            mentions = [m for hit in chunk if (m := self._mention(hit, first_query[hit.object_id]))]
            yield Page(tuple(mentions), cursor_for(marks), tuple(rejects))
            rejects = []

    def _mention(self, hit: Hit, found_by: Query) -> Mention | None:
        label = self.watch.label_for(search_text(hit), found_by)
        return hit_to_mention(hit, label) if label else None

    def _new_hits(self, query: Query, mark: Watermark, rejects: list[Quarantined]) -> list[Hit]:
        hits: list[Hit] = []
        for page in range(self.max_pages):
            body = self._search(query, mark, page)
            raw_hits = body.get("hits") or []
            for raw in raw_hits:
                try:
                    hit = read_hit(raw)
                except HitError as error:
                    rejects.append(bad_hit(raw, str(error)))
                    continue
                if mark.is_new(hit):
                    hits.append(hit)
            # an index that ignored numericFilters shows older hits: nothing new further down
            last_page = page + 1 >= int(body.get("nbPages") or 0)
            if not raw_hits or last_page or _reaches_below(raw_hits, mark):
                return hits
        log.warning(
            "%s: more than %d pages of new hits for %s; older ones are skipped",
            SOURCE,
            self.max_pages,
            query.label,
        )
        return hits

    def _search(self, query: Query, mark: Watermark, page: int) -> dict[str, Any]:
        params = search_params(query, mark, self.limit, page)
        response: httpx.Response = self.http.get("/search_by_date", params=params)
        body = response.json()
        return body if isinstance(body, dict) else {}


def _reaches_below(raw_hits: list[Any], mark: Watermark) -> bool:
    """Whether a page reaches below the watermark (hits are newest first)."""
    times = (r.get("created_at_i") for r in raw_hits if isinstance(r, Mapping))
    return any(isinstance(t, int) and t < mark.second for t in times)


def build(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep | None = None,
) -> HackerNewsCollector:
    """The Hacker News collector as the settings configure it."""
    table: HackerNewsSourceSettings = settings.sources.hackernews
    retrier = Retrier(SOURCE) if sleep is None else Retrier(SOURCE, sleep=sleep)
    http = HttpSource(SOURCE, table.api_url.rstrip("/"), retrier=retrier, transport=transport)
    return HackerNewsCollector(Watch.from_settings(settings.watch, table), http, table.limit)
