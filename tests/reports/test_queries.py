"""Report queries on small hand-built data: the overview, trends, voice, intents, terms, authors."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from reports import queries
from socialcrm.db import Database
from tests.reports import builders as b

# (days, hours, sentiment, uncertain, source, query); None sentiment: not labelled at all
ROWS = [
    (0, 1, "positive", False, "reddit", "brand:acme"),
    (0, 23, "negative", True, "reddit", "brand:acme"),
    (1, 2, "negative", False, "mastodon", "competitor:globex"),
    (1, 12, "neutral", False, "reddit", "brand:acme app"),
    (2, 0, "positive", True, "mastodon", "brand:acme"),
    (2, 18, None, False, "reddit", "competitor:initech"),
    (6, 5, "positive", False, "reddit", "brand:acme"),  # Sunday
    (7, 5, "negative", False, "reddit", None),  # next Monday
]


@pytest.fixture
def labelled(db: Database) -> Database:
    """The ROWS stored, by one author; complaints on the negative ones, praise on the rest."""
    table = [(d, h, source, query, s, u) for d, h, s, u, source, query in ROWS]
    return b.rows(db, table, {"praise": 0.6})


def _expected_split(since: datetime, until: datetime) -> dict[str, int]:
    split = {"negative": 0, "neutral": 0, "positive": 0, "unlabelled": 0}
    for days, hours, sentiment, *_ in ROWS:
        if since <= b.at(days, hours) < until:
            split[sentiment or "unlabelled"] += 1
    return split


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (b.at(0), b.at(8)),  # whole days only
        (b.at(0, 12), b.at(2, 6)),  # partial days at both ends
        (b.at(0, 22), b.at(1, 3)),  # within a day and a bit
        (b.at(1, 12), b.at(1, 12) + timedelta(seconds=1)),  # one second, the bound included
    ],
)
def test_overview_counts_exactly_any_window(
    labelled: Database, since: datetime, until: datetime
) -> None:
    with labelled.transaction() as session:
        found = queries.overview(session, since, until)
    assert found["sentiment"] == _expected_split(since, until)
    assert found["volume"] == sum(_expected_split(since, until).values())
    assert found["previous_volume"] == sum(_expected_split(since - (until - since), since).values())


def test_overview_headline_figures(labelled: Database) -> None:
    ada = b.author(labelled, "bo")
    mention = b.mention(labelled, ada, b.at(9))
    b.task(labelled, mention, ada, b.at(1), first_response_minutes=30)  # met
    other = b.mention(labelled, ada, b.at(9, 1))
    b.task(labelled, other, ada, b.at(1), first_response_minutes=90, state="sent")  # missed
    third = b.mention(labelled, ada, b.at(9, 2))
    b.task(labelled, third, ada, b.at(2), sla_minutes=None, state="claimed")  # no SLA
    with labelled.transaction() as session:
        found = queries.overview(session, b.at(0), b.at(8))
    # 7 labelled: 3 positive, 3 negative, 1 neutral; 2 of them uncertain
    assert found["uncertain_share"] == round(2 / 7, 4)
    assert found["open_tasks"] == 2
    assert found["sla_met_share"] == 0.5
    # net sentiment 0 -> 0.5; 0.7 * 0.5 + 0.3 * 0.5
    assert found["brand_health"] == 50.0


def test_brand_health_formula() -> None:
    assert queries.brand_health({"positive": 0, "negative": 0, "neutral": 0}, 1.0) is None
    assert queries.brand_health({"positive": 4, "negative": 0, "neutral": 0}, None) == 100.0
    assert queries.brand_health({"positive": 0, "negative": 4, "neutral": 0}, 1.0) == 30.0
    assert queries.brand_health({"positive": 1, "negative": 1, "neutral": 2}, 0.0) == 35.0


def test_sentiment_trend_by_day_and_by_week(labelled: Database) -> None:
    with labelled.transaction() as session:
        days = queries.sentiment_trend(session, b.at(0, 12), b.at(8))
        weeks = queries.sentiment_trend(session, b.at(0), b.at(8), bucket="week")
    assert [p["bucket"] for p in days] == [
        date(2026, 3, 2),
        date(2026, 3, 3),
        date(2026, 3, 4),
        date(2026, 3, 8),
        date(2026, 3, 9),
    ]
    assert days[0]["negative"] == 1
    assert days[0]["positive"] == 0  # 01:00 is before the window
    assert days[0]["uncertain_share"] == 1.0
    assert days[2]["unlabelled"] == 1
    assert days[2]["uncertain_share"] == 1.0
    assert [(p["bucket"], p["total"]) for p in weeks] == [
        (date(2026, 3, 2), 7),
        (date(2026, 3, 9), 1),
    ]


def test_volume_by_source(labelled: Database) -> None:
    with labelled.transaction() as session:
        found = queries.volume_by_source(session, b.at(0), b.at(2), bucket="day")
    assert found == [
        {"bucket": date(2026, 3, 2), "source": "reddit", "count": 2},
        {"bucket": date(2026, 3, 3), "source": "mastodon", "count": 1},
        {"bucket": date(2026, 3, 3), "source": "reddit", "count": 1},
    ]


def test_share_of_voice_puts_every_brand_query_together(labelled: Database) -> None:
    with labelled.transaction() as session:
        found = queries.share_of_voice(session, b.at(0), b.at(8))
    assert [(v["name"], v["kind"], v["count"]) for v in found] == [
        ("brand", "brand", 5),
        ("globex", "competitor", 1),
        ("initech", "competitor", 1),
    ]
    assert found[0]["share"] == round(5 / 7, 4)
    assert (found[0]["positive"], found[0]["negative"]) == (3, 1)


def test_intents_over_time(labelled: Database) -> None:
    with labelled.transaction() as session:
        found = queries.intents_over_time(session, b.at(0, 12), b.at(2, 12))
    assert [p["bucket"] for p in found] == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    assert found[0]["counts"]["complaint"] == 1
    assert found[0]["counts"]["praise"] == 0
    assert found[1]["counts"] == {**found[1]["counts"], "complaint": 1, "praise": 1}
    assert found[2]["counts"]["praise"] == 1
    assert found[2]["total"] == 1
    assert set(found[0]["counts"]) >= {"complaint", "question", "spam"}


def test_top_terms_skip_stop_words_and_watched_terms(db: Database) -> None:
    ada = b.author(db, "ada")
    for text in ("Acme printer jammed", "the printer is slow", "Acme support was slow", "ok"):
        b.mention(db, ada, b.at(0, 1), text)
    with db.transaction() as session:
        top = queries.top_terms(session, b.at(0), b.at(1), limit=2, exclude=["Acme"])
        every = queries.top_terms(session, b.at(0), b.at(1), limit=50, exclude=["Acme"])
    assert {t["term"]: t["count"] for t in top} == {"printer": 2, "slow": 2}
    assert {t["term"] for t in every} == {"printer", "slow", "jammed", "support"}


def test_top_authors_by_reach_then_mentions(db: Database) -> None:
    big = b.author(db, "big", followers=5000)
    chatty = b.author(db, "chatty", followers=10)
    silent = b.author(db, "nobody-knows")  # followers unknown
    b.mention(db, big, b.at(0, 1), sentiment="negative")
    for hour in range(3):
        b.mention(db, chatty, b.at(0, hour))
    b.mention(db, silent, b.at(0, 1))
    b.mention(db, big, b.at(3))  # outside the window
    with db.transaction() as session:
        found = queries.top_authors(session, b.at(0), b.at(1), limit=5)
    assert [(a["handle"], a["mentions"], a["negative"]) for a in found] == [
        ("big", 1, 1),
        ("chatty", 3, 0),
        ("nobody-knows", 1, 0),
    ]
