"""Spike detection per query: this hour against the same hour of earlier weeks, and its drivers."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from socialcrm.mention import ensure_utc, fit

SpikeKind = Literal["volume", "negative", "volume+negative"]

# a share of negatives can always wobble this much: keeps a steady baseline from over-alerting
SHARE_SIGMA_FLOOR = 0.05

# a string, not a list literal: a hundred short words read better as prose than one per line
STOPWORDS: frozenset[str] = frozenset(
    """
    about after again all also and any are because been before being but can can't could did
    didn't does doesn't doing don't for from get got had has have having her here him his how
    i'm i've into isn't it's its just like more most much not now off one only our out over
    really same she should some still than that that's the their them then there these they
    this those through too very was wasn't way were what when where which while who why will
    with would you you're your yours http https www com amp
    """.split()  # noqa: SIM905
)

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@[\w.@-]+")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_NEGATIVITY = {"negative": 0, "neutral": 1, "positive": 2}


def same_hours(now: datetime, weeks: int, tz: tzinfo = UTC) -> list[tuple[datetime, datetime]]:
    """The last full hour [h-1h, h) before `now` and the same hour 1..`weeks` weeks earlier.

    Hours and weeks are counted on `tz`'s wall clock, so "the same hour" stays the same local
    hour across a daylight-saving change; every window is one real hour, in UTC.
    """
    local = ensure_utc(now, "now").astimezone(tz)
    hour = local.replace(minute=0, second=0, microsecond=0)
    windows = []
    for week in range(weeks + 1):
        # wall-clock arithmetic on an aware datetime keeps the local hour, then UTC fixes it
        end = (hour - timedelta(weeks=week)).astimezone(UTC)
        windows.append((end - timedelta(hours=1), end))
    return windows


@dataclass(frozen=True)
class Spike:
    """A judged spike: what was seen this hour, the baseline, and the thresholds it crossed."""

    kind: SpikeKind
    volume: int
    negatives: int
    weeks: int
    mean: float
    sigma: float
    volume_threshold: float
    share: float
    # None: no earlier week had any mentions, so there is no share to compare with
    share_mean: float | None
    share_sigma: float | None
    share_threshold: float | None

    def baseline(self) -> dict[str, Any]:
        """The baseline as JSON-ready values (for `Incident.baseline`)."""
        return {
            "weeks": self.weeks,
            "mean": self.mean,
            "sigma": self.sigma,
            "volume_threshold": self.volume_threshold,
            "share": self.share,
            "share_mean": self.share_mean,
            "share_sigma": self.share_sigma,
            "share_threshold": self.share_threshold,
        }


def _volume_baseline(volumes: Sequence[int], k: float) -> tuple[float, float, float]:
    mean = statistics.fmean(volumes)
    # a Poisson floor: with a flat history every extra post would otherwise be a spike
    sigma = max(statistics.pstdev(volumes), math.sqrt(max(mean, 1.0)))
    return mean, sigma, mean + k * sigma


def _share_baseline(
    history: Sequence[tuple[int, int]], volume: int, k: float
) -> tuple[float | None, float | None, float | None]:
    # a week without mentions has no share at all, not a share of zero
    shares = [negatives / week for week, negatives in history if week > 0]
    if not shares:
        return None, None, None
    mean = statistics.fmean(shares)
    # a binomial floor too: a share of this hour's few posts wobbles by sqrt(p(1-p)/n) by itself
    binomial = math.sqrt(mean * (1 - mean) / volume)
    sigma = max(statistics.pstdev(shares), SHARE_SIGMA_FLOOR, binomial)
    return mean, sigma, mean + k * sigma


def _kind(by_volume: bool, by_share: bool) -> SpikeKind | None:
    if by_volume and by_share:
        return "volume+negative"
    if by_volume:
        return "volume"
    return "negative" if by_share else None


def _check(volume: int, negatives: int) -> None:
    if volume < 0 or not 0 <= negatives <= volume:
        raise ValueError(f"expected 0 <= negatives <= volume, got {negatives} of {volume}")


def judge(
    volume: int,
    negatives: int,
    history: Sequence[tuple[int, int]],
    k: float,
    min_volume: int,
) -> Spike | None:
    """A spike when this hour's volume or negative share exceeds mean + k * sigma of `history`.

    `history` holds (volume, negatives) of the same hour in earlier weeks; without it there is
    nothing to compare with, and below `min_volume` a few posts are never a spike. Sigma has
    floors (Poisson for volume; 0.05 and binomial for the share) so a steady history does not
    turn every blip into a spike.
    """
    for pair in [(volume, negatives), *history]:
        _check(*pair)
    if not history or volume < min_volume:
        return None
    mean, sigma, threshold = _volume_baseline([week for week, _ in history], k)
    share = negatives / volume
    share_mean, share_sigma, share_threshold = _share_baseline(history, volume, k)
    kind = _kind(volume > threshold, share_threshold is not None and share > share_threshold)
    if kind is None:
        return None
    return Spike(
        kind=kind,
        volume=volume,
        negatives=negatives,
        weeks=len(history),
        mean=mean,
        sigma=sigma,
        volume_threshold=threshold,
        share=share,
        share_mean=share_mean,
        share_sigma=share_sigma,
        share_threshold=share_threshold,
    )


@dataclass(frozen=True)
class DriverPost:
    """One mention of a spike's window, as far as its drivers are concerned."""

    text: str
    sentiment: str | None = None
    url: str | None = None
    reach: int = 0


def _words(text: str) -> list[str]:
    # a typographic apostrophe (don\u2019t) is the same word as a typed one (don't)
    return _WORD.findall(text.casefold().replace("\u2019", "'"))


def terms_of(text: str) -> set[str]:
    """The distinct lower-cased words of `text` with three letters or more, minus stopwords."""
    text = _HANDLE.sub(" ", _URL.sub(" ", text))
    words = _words(text)
    return {word for word in words if len(word) >= 3 and word not in STOPWORDS}


def _top_terms(posts: Iterable[DriverPost], exclude: set[str], top: int) -> list[list[str | int]]:
    counts: Counter[str] = Counter()
    for post in posts:
        counts.update(terms_of(post.text) - exclude)  # once per post: one rant is one vote
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [[term, count] for term, count in ranked[:top]]


def _top_posts(posts: Sequence[DriverPost], top: int) -> list[dict[str, Any]]:
    def rank(post: DriverPost) -> tuple[int, int]:
        return -post.reach, _NEGATIVITY.get(post.sentiment or "", 1)

    return [
        {
            "url": post.url,
            "text": fit(post.text, 200),
            "reach": post.reach,
            "sentiment": post.sentiment,
        }
        for post in sorted(posts, key=rank)[:top]
    ]


def drivers(
    posts: Sequence[DriverPost], exclude_terms: Sequence[str], top: int = 5
) -> dict[str, Any]:
    """What drove a spike: top terms (once per post), top posts by reach, the sentiment split.

    `exclude_terms` are the query's own terms, which every post contains by definition.
    """
    exclude: set[str] = set()
    for term in exclude_terms:
        exclude.update(_words(term))
    split = Counter(post.sentiment for post in posts)
    return {
        "terms": _top_terms(posts, exclude, top),
        "posts": _top_posts(posts, top),
        "sentiment": {label: split[label] for label in ("negative", "neutral", "positive")},
    }
