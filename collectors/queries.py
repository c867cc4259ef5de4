"""What a source watches: brand, competitor and keyword terms, exclusions, and which one matched."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from socialcrm.settings import SearchSourceSettings, WatchSettings


class QueryKind(StrEnum):
    """Why a mention was collected; share of voice counts brand against competitor."""

    BRAND = "brand"
    COMPETITOR = "competitor"
    KEYWORD = "keyword"
    SUBREDDIT = "subreddit"
    HASHTAG = "hashtag"
    ACCOUNT = "account"
    FEED = "feed"


@dataclass(frozen=True, slots=True)
class Query:
    """One thing to watch; `label` is what a mention records as its matched query."""

    kind: QueryKind
    term: str

    @property
    def label(self) -> str:
        """`kind:term`, e.g. `brand:inkwell`, `subreddit:inkwell`, `account:mentions`."""
        return f"{self.kind.value}:{self.term}"

    @property
    def is_phrase(self) -> bool:
        """Whether the term has more than one word (platform searches must quote it)."""
        return len(self.term.split()) > 1


def _pattern(term: str) -> re.Pattern[str]:
    words = r"\s+".join(re.escape(word) for word in term.split())
    # word boundaries that also work for terms starting or ending in symbols (#tag, c++)
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Watch:
    """The terms a source searches for and the exclusions that veto a mention."""

    terms: tuple[Query, ...]
    exclude: tuple[str, ...] = ()
    _patterns: tuple[tuple[Query, re.Pattern[str]], ...] = field(init=False, repr=False)
    _excluded: tuple[re.Pattern[str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple((q, _pattern(q.term)) for q in self.terms))
        object.__setattr__(self, "_excluded", tuple(_pattern(term) for term in self.exclude))

    @classmethod
    def from_settings(cls, watch: WatchSettings, source: SearchSourceSettings | None) -> Watch:
        """The global `[watch]` terms plus a source's own keywords and exclusions."""
        keywords = source.keywords if source else []
        extra_exclude = source.exclude if source else []
        terms = [
            *(Query(QueryKind.BRAND, term) for term in watch.brand),
            *(Query(QueryKind.COMPETITOR, term) for term in watch.competitors),
            *(Query(QueryKind.KEYWORD, term) for term in keywords),
        ]
        unique = tuple(dict.fromkeys(terms))
        return cls(unique, tuple(dict.fromkeys([*watch.exclude, *extra_exclude])))

    def is_excluded(self, text: str) -> bool:
        """Whether `text` contains an exclusion."""
        return any(pattern.search(text) for pattern in self._excluded)

    def find(self, text: str) -> Query | None:
        """The first term (brand before competitor before keyword) that `text` contains."""
        return next((query for query, pattern in self._patterns if pattern.search(text)), None)

    def label_for(self, text: str, found_by: Query) -> str | None:
        """The matched query to record for an item `found_by` a query, or `None` to drop it.

        A term found in the text wins over the stream or search that brought the item, so a
        competitor named in the brand's subreddit still counts for that competitor.
        """
        if self.is_excluded(text):
            return None
        term = self.find(text)
        return (term or found_by).label
