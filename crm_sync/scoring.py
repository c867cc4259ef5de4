"""The enriched profile's arithmetic, pure: decayed engagement, ABC segments, trend, churn, topics.

Nothing here reads the database or the clock: callers pass the rows' values and `now`, so every
figure can be checked by hand (docs/crm.md, "Enriched profile", has the formulas).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from nlp.labels import INTENTS

Segment = Literal["A", "B", "C"]
# (kind, when): one interaction with the customer; kind is a key of the engagement weights
Interaction = tuple[str, datetime]
# (when, score): one labelled mention's sentiment score in -1..1
SentimentPoint = tuple[datetime, float]
# (matched_query, text, extra) of one mention
TopicSource = tuple[str | None, str, Mapping[str, Any]]

MENTION: Final = "mention"
REPLY: Final = "reply"
STAFF_ACTION: Final = "staff_action"
# intents that add their own weight to a mention's engagement
SCORED_INTENTS: Final = ("question", "complaint", "praise", "purchase_intent")
KINDS: Final = (MENTION, *SCORED_INTENTS, REPLY, STAFF_ACTION)
# an intent counts as seen in a mention at this probability or above
INTENT_THRESHOLD: Final = 0.5
# a drop this close to the threshold counts: 0.7 - 0.2 is 0.49999999999999994 in floating point
_TOLERANCE: Final = 1e-9
_DAY_SECONDS: Final = 86_400.0
# a hashtag has a letter (#1 is a number) and follows no word, `&` (&#39;) or `/` (url#anchor)
_HASHTAG: Final = re.compile(r"(?<![\w&/#])#(\w*[^\W\d_]\w*)")
_TERM_KINDS: Final = ("brand", "competitor", "keyword")


def engagement_score(
    interactions: Iterable[Interaction],
    weights: Mapping[str, float],
    half_life_days: float,
    now: datetime,
) -> float:
    """Σ weight(kind) · 0.5^(age_days / half_life_days) over the interactions.

    An interaction later than `now` (clock skew between hosts) counts as age 0, never more than
    its weight. A kind without a weight is a bug in the caller: ValueError.
    """
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be above 0, not {half_life_days}")
    return math.fsum(
        _weight(weights, kind) * 0.5 ** (_age_days(at, now) / half_life_days)
        for kind, at in interactions
    )


def _weight(weights: Mapping[str, float], kind: str) -> float:
    try:
        return weights[kind]
    except KeyError:
        raise ValueError(f"no engagement weight for interaction kind {kind!r}") from None


def _age_days(at: datetime, now: datetime) -> float:
    return max((now - at).total_seconds(), 0.0) / _DAY_SECONDS


def mention_interactions(at: datetime, intents: Mapping[str, Any]) -> list[Interaction]:
    """A mention's interactions: the mention, plus each scored intent it has (p ≥ 0.5)."""
    return [(MENTION, at), *((name, at) for name in SCORED_INTENTS if _has(intents, name))]


def _has(intents: Mapping[str, Any], name: str) -> bool:
    probability = _number(intents.get(name))
    return probability is not None and probability >= INTENT_THRESHOLD


def intents_seen(intent_maps: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """For every intent label, in how many mentions its probability was ≥ 0.5 (zeros included)."""
    counts = dict.fromkeys(INTENTS, 0)
    for intents in intent_maps:
        for name in counts:
            counts[name] += _has(intents, name)
    return counts


def abc_segments(values: Mapping[int, float], a_share: float, b_share: float) -> dict[int, Segment]:
    """ABC (Pareto) segment of every customer by value, ranked from the largest.

    Only positive, finite values make up the total. A customer's `before` is the sum of the
    values strictly greater than its own (so equal values share a segment, whatever the order).
    A if before < a_share·total, else B if before < b_share·total, else C. Zero, negative and
    non-finite (missing) values are C, and when no value is positive everyone is C.
    """
    positive = sorted((v for v in values.values() if _is_positive(v)), reverse=True)
    total = math.fsum(positive)
    before_of: dict[float, float] = {}
    running = 0.0
    for value in positive:
        before_of.setdefault(value, running)
        running += value
    return {
        customer: _segment(before_of[v], total, a_share, b_share) if _is_positive(v) else "C"
        for customer, v in values.items()
    }


def _is_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _segment(before: float, total: float, a_share: float, b_share: float) -> Segment:
    if before < a_share * total:
        return "A"
    return "B" if before < b_share * total else "C"


def as_value(raw: object) -> float | None:
    """A CRM field as a number: ints, floats and numeric strings; anything else is missing."""
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return None
    number = _number(raw)
    return number if number is not None and math.isfinite(number) else None


def _number(raw: object) -> float | None:
    # bool is an int to Python, but `true` is not an amount
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


def sentiment_score(scores: Mapping[str, Any]) -> float | None:
    """p(positive) - p(negative), in -1..1; None when the scores lack either."""
    positive, negative = _number(scores.get("positive")), _number(scores.get("negative"))
    if positive is None or negative is None:
        return None
    return max(-1.0, min(1.0, positive - negative))


@dataclass(frozen=True, slots=True)
class SentimentTrend:
    """Mean sentiment score of the last window and of the window before it, with their counts."""

    window_days: float
    recent_mean: float | None
    recent_count: int
    previous_mean: float | None
    previous_count: int

    @property
    def change(self) -> float | None:
        """Recent mean minus previous mean (negative: falling); None if a window is empty."""
        if self.recent_mean is None or self.previous_mean is None:
            return None
        return self.recent_mean - self.previous_mean

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {
            "window_days": self.window_days,
            "recent_mean": _rounded(self.recent_mean),
            "recent_count": self.recent_count,
            "previous_mean": _rounded(self.previous_mean),
            "previous_count": self.previous_count,
            "change": _rounded(self.change),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def sentiment_trend(
    points: Iterable[SentimentPoint], window_days: float, now: datetime
) -> SentimentTrend:
    """Means of the scores in (now-w, now] and in (now-2w, now-w]; later points are left out."""
    window = timedelta(days=window_days)
    recent: list[float] = []
    previous: list[float] = []
    for at, score in points:
        if now - window < at <= now:
            recent.append(score)
        elif now - 2 * window < at <= now - window:
            previous.append(score)
    return SentimentTrend(window_days, _mean(recent), len(recent), _mean(previous), len(previous))


def _mean(scores: list[float]) -> float | None:
    return math.fsum(scores) / len(scores) if scores else None


def churn_risk(trend: SentimentTrend, drop: float, min_mentions: int) -> bool:
    """True when both windows have ≥ min_mentions and the mean fell by at least `drop`."""
    if min(trend.recent_count, trend.previous_count) < min_mentions:
        return False
    change = trend.change
    return change is not None and -change >= drop - _TOLERANCE


@dataclass(frozen=True, slots=True)
class Topics:
    """What a customer talks about: in how many mentions each term, hashtag and subreddit is."""

    terms: dict[str, int]  # matched brand/competitor/keyword queries, e.g. "brand:inkwell"
    hashtags: dict[str, int]  # lower case, without "#"
    subreddits: dict[str, int]  # lower case, without "r/"

    def as_dict(self, limit: int | None = None) -> dict[str, dict[str, int]]:
        """JSON-safe; with `limit`, only the most frequent of each."""
        return {
            "terms": _top(self.terms, limit),
            "hashtags": _top(self.hashtags, limit),
            "subreddits": _top(self.subreddits, limit),
        }


def _top(counts: dict[str, int], limit: int | None) -> dict[str, int]:
    return dict(list(counts.items())[:limit])


def count_topics(mentions: Iterable[TopicSource]) -> Topics:
    """Count each topic once per mention it comes up in; most frequent first, then by name."""
    terms: Counter[str] = Counter()
    hashtags: Counter[str] = Counter()
    subreddits: Counter[str] = Counter()
    for matched_query, text, extra in mentions:
        kind, _, term = (matched_query or "").partition(":")
        tags = {tag.lower() for tag in _HASHTAG.findall(text)}
        subs: set[str] = set()
        if kind in _TERM_KINDS and term:
            terms[matched_query or ""] += 1
        elif kind == "hashtag" and term:
            tags.add(term.removeprefix("#").lower())
        elif kind == "subreddit" and term:
            subs.add(_subreddit(term))
        if isinstance(extra.get("subreddit"), str) and extra["subreddit"]:
            subs.add(_subreddit(extra["subreddit"]))
        hashtags.update(tags)
        subreddits.update(subs)
    return Topics(_ordered(terms), _ordered(hashtags), _ordered(subreddits))


def _subreddit(name: str) -> str:
    return re.sub(r"^/?r/", "", name.strip(), flags=re.IGNORECASE).lower()


def _ordered(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
