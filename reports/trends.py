"""Reports over time and by who: sentiment trend, volume, voice share, intents, terms, authors."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from nlp.labels import INTENTS
from reports import rollup
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


def sentiment_trend(
    session: Session, since: datetime, until: datetime, bucket: Bucket = "day"
) -> list[TrendPoint]:
    """Per day or week (Monday): mentions per sentiment and the share of uncertain labels."""
    rows = rollup.labelled(session, since, until)
    when = bucket_of(rows.c.day, bucket, dialect_of(session))
    sums = [
        func.sum(case((rows.c.sentiment == name, rows.c.volume), else_=0))
        for name in (*SENTIMENT_KEYS, "")
    ]
    unsure = func.sum(case((rows.c.uncertain, rows.c.volume), else_=0))
    found = session.execute(select(when, *sums, unsure).group_by(when).order_by(when)).all()
    points = []
    for day, *counts in found:
        negative, neutral, positive, unlabelled, uncertain = (int(c or 0) for c in counts)
        labelled = negative + neutral + positive
        points.append(
            TrendPoint(
                bucket=as_date(day),
                negative=negative,
                neutral=neutral,
                positive=positive,
                unlabelled=unlabelled,
                total=labelled + unlabelled,
                uncertain_share=_share(uncertain, labelled),
            )
        )
    return points


def volume_by_source(
    session: Session, since: datetime, until: datetime, bucket: Bucket = "day"
) -> list[SourceVolume]:
    """Per day or week and source: how many mentions."""
    rows = rollup.labelled(session, since, until)
    when = bucket_of(rows.c.day, bucket, dialect_of(session))
    found = session.execute(
        select(when, rows.c.source, func.sum(rows.c.volume))
        .group_by(when, rows.c.source)
        .order_by(when, rows.c.source)
    ).all()
    return [
        SourceVolume(bucket=as_date(day), source=source, count=int(count or 0))
        for day, source, count in found
        if count
    ]


def share_of_voice(session: Session, since: datetime, until: datetime) -> list[VoiceShare]:
    """The brand (every `brand:` query) against each `competitor:` query, by mentions."""
    rows = rollup.labelled(session, since, until)
    name = case(
        (rows.c.query.like(f"{BRAND}%"), "brand"),
        else_=func.substr(rows.c.query, len(COMPETITOR) + 1),
    )
    kind = case((rows.c.query.like(f"{BRAND}%"), "brand"), else_="competitor")
    found = session.execute(
        select(
            name,
            kind,
            func.sum(rows.c.volume),
            func.sum(case((rows.c.sentiment == "positive", rows.c.volume), else_=0)),
            func.sum(case((rows.c.sentiment == "negative", rows.c.volume), else_=0)),
        )
        .where(rows.c.query.like(f"{BRAND}%") | rows.c.query.like(f"{COMPETITOR}%"))
        .group_by(name, kind)
        .order_by(kind, func.sum(rows.c.volume).desc())
    ).all()
    total = sum(int(count or 0) for _, _, count, _, _ in found)
    return [
        VoiceShare(
            name=str(label),
            kind="brand" if side == "brand" else "competitor",
            count=int(count or 0),
            share=_share(int(count or 0), total) or 0.0,
            positive=int(positive or 0),
            negative=int(negative or 0),
        )
        for label, side, count, positive, negative in found
        if count
    ]


def intents_over_time(
    session: Session, since: datetime, until: datetime, bucket: Bucket = "day"
) -> list[IntentPoint]:
    """Per day or week: mentions with each intent (every known intent present, maybe 0)."""
    dialect = dialect_of(session)
    rows = rollup.intents(session, since, until)
    when = bucket_of(rows.c.day, bucket, dialect)
    found = session.execute(
        select(when, rows.c.intent, func.sum(rows.c.volume))
        .group_by(when, rows.c.intent)
        .order_by(when)
    ).all()
    totals = rollup.labelled(session, since, until)
    total_when = bucket_of(totals.c.day, bucket, dialect)
    volumes = {
        as_date(day): int(volume or 0)
        for day, volume in session.execute(
            select(total_when, func.sum(totals.c.volume)).group_by(total_when)
        ).all()
    }
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
    """Authors who mentioned us in the window, by reach (followers), then by mentions."""
    mentions = func.count(M.id)
    negative = func.sum(case((C.sentiment == "negative", 1), else_=0))
    found = session.execute(
        select(A, mentions, negative)
        .join(M, M.author_id == A.id)
        .outerjoin(C, C.mention_id == M.id)
        .where(M.created_at >= since, M.created_at < until)
        .group_by(A.id)
        .order_by(func.coalesce(A.followers, -1).desc(), mentions.desc(), A.id)
        .limit(limit)
    ).all()
    return [
        AuthorReach(
            author_id=author.id,
            source=author.source,
            handle=author.handle,
            display_name=author.display_name,
            followers=author.followers,
            mentions=int(count),
            negative=int(negatives or 0),
            customer_id=author.customer_id,
        )
        for author, count, negatives in found
    ]
