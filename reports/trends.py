"""Reports over time and by who: sentiment trend, volume, voice share, intents, terms, authors.

The sentiment trend, volume, share of voice and the sentiment split are folded in Python from
one grouped read of the daily rollups (`label_rows`): a report that needs them all (the
overview page) reads the rollups once, not once for each.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, literal, null, or_, select
from sqlalchemy.orm import Session

from nlp.labels import INTENTS
from reports import rollup
from reports.filters import UNLABELLED
from reports.sql import as_date, bucket_of, dialect_of
from reports.types import (
    AuthorReach,
    Bucket,
    IntentPoint,
    SourceVolume,
    TermCount,
    TrendPoint,
    VoiceShare,
)
from socialcrm import models

M, A, C = models.Mention, models.Author, models.Classification
SENTIMENT_KEYS = ("negative", "neutral", "positive")
BRAND, COMPETITOR = "brand:", "competitor:"
# reading a mention along the author index costs about this many mentions read in time order
LOOKUP_COST = 10
_TOKEN = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)
# common words that say nothing about a topic (English; extend as sources bring other languages)
_STOP_TEXT = """
about after again also always among another anyone anything around because been before
being below between both cannot could does doing down during each even every from further
have having here hers herself himself into itself just like made make many more most much
must myself never only other ought ours ourselves over same shall should some such than that
their theirs them themselves then there these they this those through under until very was
were what when where which while whom whose will with would your yours yourself yourselves
the and for are but not you all any can had her him his its our out she who why how has one
get got im it's i'm don't dont can't cant just really still going want know think
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class LabelRow(NamedTuple):
    """Mentions of a window with one bucket, source, query, sentiment and uncertainty."""

    bucket: date | None  # None when summed over the whole window
    source: str
    query: str
    sentiment: str  # "" unlabelled
    uncertain: bool
    volume: int


LABEL_KEYS = ("source", "query", "sentiment", "uncertain")
_BLANK: dict[str, ColumnElement[Any]] = {
    "source": literal(""),
    "query": literal(""),
    "sentiment": literal(""),
    "uncertain": literal(False),
}


def label_rows(
    session: Session,
    since: datetime,
    until: datetime,
    bucket: Bucket | None = None,
    keys: Sequence[str] = LABEL_KEYS,
) -> list[LabelRow]:
    """Mentions of the window summed per bucket (None: no bucket) and `keys` of `LABEL_KEYS`,
    from the rollups: one read that the sentiment, volume and voice reports are folded from.

    A key left out reads "" (False) in every row, summed over.
    """
    rows = rollup.labelled(session, since, until)
    when = None if bucket is None else bucket_of(rows.c.day, bucket, dialect_of(session))
    grouped = [rows.c[key] for key in keys] + ([] if when is None else [when])
    # every row has every column: a key left out is a constant, so rows map onto LabelRow
    columns: list[ColumnElement[Any]] = [
        rows.c[key] if key in keys else _BLANK[key] for key in LABEL_KEYS
    ]
    first = null() if when is None else when
    found: Sequence[Any] = session.execute(
        select(first, *columns, func.sum(rows.c.volume)).group_by(*grouped)
    ).all()
    days: dict[object, date] = {}
    for day, *_ in found:
        if day is not None and day not in days:
            days[day] = as_date(day)
    return [
        LabelRow(days.get(day), source, query, sentiment, bool(uncertain), int(volume or 0))
        for day, source, query, sentiment, uncertain, volume in found
    ]


def sentiment_trend(
    session: Session, since: datetime, until: datetime, bucket: Bucket = "day"
) -> list[TrendPoint]:
    """Per day or week (Monday): mentions per sentiment and the share of uncertain labels."""
    return trend_of(label_rows(session, since, until, bucket, ("sentiment", "uncertain")))


def trend_of(rows: Iterable[LabelRow]) -> list[TrendPoint]:
    """The sentiment trend of `label_rows` with buckets."""
    counts: dict[date, Counter[str]] = {}
    unsure: Counter[date] = Counter()
    for row in rows:
        day = _bucket(row)
        counts.setdefault(day, Counter())[row.sentiment] += row.volume
        unsure[day] += row.volume if row.uncertain else 0
    points = []
    for day, sums in sorted(counts.items()):
        negative, neutral, positive = (sums[name] for name in SENTIMENT_KEYS)
        labelled = negative + neutral + positive
        points.append(
            TrendPoint(
                bucket=day,
                negative=negative,
                neutral=neutral,
                positive=positive,
                unlabelled=sums[""],
                total=labelled + sums[""],
                uncertain_share=_share(unsure[day], labelled),
            )
        )
    return points


def volume_by_source(
    session: Session, since: datetime, until: datetime, bucket: Bucket = "day"
) -> list[SourceVolume]:
    """Per day or week and source: how many mentions."""
    return volume_of(label_rows(session, since, until, bucket, ("source",)))


def volume_of(rows: Iterable[LabelRow]) -> list[SourceVolume]:
    """Volume by source of `label_rows` with buckets."""
    counts: Counter[tuple[date, str]] = Counter()
    for row in rows:
        counts[_bucket(row), row.source] += row.volume
    return [
        SourceVolume(bucket=day, source=source, count=count)
        for (day, source), count in sorted(counts.items())
        if count
    ]


def bucket_totals(rows: Iterable[LabelRow]) -> dict[date, int]:
    """Mentions per bucket of `label_rows` with buckets."""
    totals: Counter[date] = Counter()
    for row in rows:
        totals[_bucket(row)] += row.volume
    return dict(totals)


def share_of_voice(session: Session, since: datetime, until: datetime) -> list[VoiceShare]:
    """The brand (every `brand:` query) against each `competitor:` query, by mentions."""
    return voice_of(label_rows(session, since, until, None, ("query", "sentiment")))


def voice_of(rows: Iterable[LabelRow]) -> list[VoiceShare]:
    """Share of voice of `label_rows`: `brand:` and `competitor:` queries (prefixes as
    `collectors.queries` writes them, lower-case), the brand first, then by mentions."""
    sums: dict[tuple[str, str], list[int]] = {}  # (kind, name) -> [mentions, positive, negative]
    for row in rows:
        if row.query.startswith(BRAND):
            side = ("brand", "brand")
        elif row.query.startswith(COMPETITOR):
            side = ("competitor", row.query.removeprefix(COMPETITOR))
        else:
            continue
        counts = sums.setdefault(side, [0, 0, 0])
        counts[0] += row.volume
        counts[1] += row.volume if row.sentiment == "positive" else 0
        counts[2] += row.volume if row.sentiment == "negative" else 0
    total = sum(count for count, _, _ in sums.values())
    ordered = sorted(sums.items(), key=lambda item: (item[0][0], -item[1][0], item[0][1]))
    return [
        VoiceShare(
            name=name,
            kind="brand" if kind == "brand" else "competitor",
            count=count,
            share=_share(count, total) or 0.0,
            positive=positive,
            negative=negative,
        )
        for (kind, name), (count, positive, negative) in ordered
        if count
    ]


def split_of(rows: Iterable[LabelRow]) -> dict[str, int]:
    """Mentions per sentiment of `label_rows`, the unlabelled under "unlabelled", the uncertain
    ones (labelled, but the model was unsure) also under "uncertain"."""
    split = {"negative": 0, "neutral": 0, "positive": 0, UNLABELLED: 0, "uncertain": 0}
    for row in rows:
        name = row.sentiment or UNLABELLED
        split[name] = split.get(name, 0) + row.volume
        split["uncertain"] += row.volume if row.uncertain else 0
    return split


def _bucket(row: LabelRow) -> date:
    if row.bucket is None:
        raise ValueError("label rows without buckets: read them with a bucket")
    return row.bucket


def intents_over_time(
    session: Session,
    since: datetime,
    until: datetime,
    bucket: Bucket = "day",
    totals: Mapping[date, int] | None = None,
) -> list[IntentPoint]:
    """Per day or week: mentions with each intent (every known intent present, maybe 0).

    `totals`: the mentions per bucket (`bucket_totals`), when the caller has them already.
    """
    dialect = dialect_of(session)
    rows = rollup.intents(session, since, until)
    when = bucket_of(rows.c.day, bucket, dialect)
    found = session.execute(
        select(when, rows.c.intent, func.sum(rows.c.volume))
        .group_by(when, rows.c.intent)
        .order_by(when)
    ).all()
    volumes = totals
    if volumes is None:
        volumes = bucket_totals(label_rows(session, since, until, bucket, ()))
    points: dict[object, IntentPoint] = {}
    for day, intent, count in found:
        key = as_date(day)
        point = points.setdefault(
            key,
            IntentPoint(bucket=key, counts=dict.fromkeys(INTENTS, 0), total=volumes.get(key, 0)),
        )
        point["counts"][intent] = point["counts"].get(intent, 0) + int(count or 0)
    return sorted(points.values(), key=lambda point: point["bucket"])


def top_terms(
    session: Session,
    since: datetime,
    until: datetime,
    limit: int = 20,
    sample: int = 2000,
    exclude: Sequence[str] = (),
) -> list[TermCount]:
    """The commonest words of the newest `sample` mentions in the window (a bounded sample).

    Counted in Python over at most `sample` texts: the one report that reads rows, on purpose
    bounded; `exclude` takes the watched terms out (they are in every mention).
    """
    texts = session.scalars(
        select(M.text)
        .where(M.created_at >= since, M.created_at < until)
        .order_by(M.created_at.desc())
        .limit(sample)
    )
    skip = STOP_WORDS | {word.lower() for term in exclude for word in _TOKEN.findall(term)}
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({word for word in map(str.lower, _TOKEN.findall(text)) if word not in skip})
    return [TermCount(term=term, count=count) for term, count in counts.most_common(limit)]


def top_authors(
    session: Session, since: datetime, until: datetime, limit: int = 10
) -> list[AuthorReach]:
    """Authors who mentioned us in the window, by reach (followers), then by mentions.

    The window's mentions are counted per author first, labels left out: looking up each
    mention's label cost more than the rest of the query. Negatives are then counted for the
    chosen authors only (`_negatives`).
    """
    window = (M.created_at >= since, M.created_at < until)
    counted = (
        select(
            M.author_id.label("author_id"),
            func.count().label("mentions"),
            func.min(M.id).label("first_id"),
            func.max(M.id).label("last_id"),
            func.sum(func.count()).over().label("window_total"),
        )
        .where(*window)
        .group_by(M.author_id)
        .subquery("counted")
    )
    found = session.execute(
        select(A, counted.c.mentions, counted.c.first_id, counted.c.last_id, counted.c.window_total)
        .join(counted, counted.c.author_id == A.id)
        .order_by(func.coalesce(A.followers, -1).desc(), counted.c.mentions.desc(), A.id)
        .limit(limit)
    ).all()
    negatives = _negatives(session, window, [tuple(row) for row in found])
    return [
        AuthorReach(
            author_id=author.id,
            source=author.source,
            handle=author.handle,
            display_name=author.display_name,
            followers=author.followers,
            mentions=int(count),
            negative=negatives.get(author.id, 0),
            customer_id=author.customer_id,
        )
        for author, count, *_ in found
    ]


def _negatives(
    session: Session, window: tuple[ColumnElement[bool], ...], found: Sequence[tuple[Any, ...]]
) -> dict[int, int]:
    """Negative mentions in the window of each author of `found` (author, mentions, first id,
    last id, mentions of the window).

    Few mentions: read along the author index, between each author's first and last mention
    id of the window. Many: the window is read again in time order (ten times cheaper a row).
    """
    if not found:
        return {}
    chosen = sum(int(mentions) for _, mentions, *_ in found)
    if chosen * LOOKUP_COST <= int(found[0][4]):
        which = or_(
            *(
                and_(M.author_id == author.id, M.id >= first, M.id <= last)
                for author, _, first, last, _ in found
            )
        )
    else:
        which = (M.author_id + 0).in_([author.id for author, *_ in found])
    negative = func.sum(case((C.sentiment == "negative", 1), else_=0))
    rows = session.execute(
        # LEFT JOIN and no condition on the label: SQLite would otherwise walk every negative
        select(M.author_id, negative)
        .outerjoin(C, C.mention_id == M.id)
        .where(*window, which)
        .group_by(M.author_id)
    ).all()
    return {author_id: int(count or 0) for author_id, count in rows}
