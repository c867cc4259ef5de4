"""A gathered report reads the rollups once and folds them: the same figures as each query alone."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from reports import queries, trends
from reports.report import gather
from reports.types import Bucket
from socialcrm.db import Database
from tests.reports import builders as b

ROWS: list[b.Row] = [
    (0, 1, "reddit", "brand:acme", "positive", False),
    (0, 23, "reddit", "brand:acme app", "negative", True),
    (1, 2, "mastodon", "competitor:globex", "negative", False),
    (1, 2, "mastodon", "competitor:globex", "positive", True),
    (1, 12, "reddit", "keyword:pens", "neutral", False),
    (2, 0, "mastodon", "brand:acme", None, False),
    (2, 18, "reddit", "competitor:initech", "positive", False),
    (8, 5, "reddit", "brand:acme", "negative", False),  # the next week
    (-1, 20, "reddit", "brand:acme", "neutral", False),  # the window before
]


@pytest.fixture
def filled(db: Database) -> Database:
    """ROWS, by one author; complaints on the negative ones."""
    return b.rows(db, ROWS, {})


@pytest.mark.parametrize(
    ("since", "until", "bucket"),
    [
        (b.at(0), b.at(3), "day"),  # whole days
        (b.at(0, 12), b.at(2, 6), "day"),  # partial days at both ends
        (b.at(0, 2), b.at(9), "week"),
        (b.at(1, 1), b.at(1, 3), "day"),  # inside one day
    ],
)
def test_gathered_figures_are_those_of_each_query(
    filled: Database, since: datetime, until: datetime, bucket: Bucket
) -> None:
    with filled.transaction() as session:
        report = gather(session, since, until, bucket=bucket)
        assert report.overview == queries.overview(session, since, until)
        assert report.trend == queries.sentiment_trend(session, since, until, bucket)
        assert report.volume == queries.volume_by_source(session, since, until, bucket)
        assert report.voice == queries.share_of_voice(session, since, until)
        assert report.intents == queries.intents_over_time(session, since, until, bucket)


def test_folds_of_a_known_window(filled: Database) -> None:
    with filled.transaction() as session:
        report = gather(session, b.at(0, 12), b.at(2, 6), bucket="day")
    assert report.overview["sentiment"] == {
        "negative": 2,
        "neutral": 1,
        "positive": 1,
        "unlabelled": 1,
    }
    assert report.overview["volume"] == 5
    assert report.overview["previous_volume"] == 2  # (-1, 20) and (0, 1)
    assert report.overview["uncertain_share"] == 0.5
    assert [(p["bucket"], p["negative"], p["positive"], p["total"]) for p in report.trend] == [
        (date(2026, 3, 2), 1, 0, 1),
        (date(2026, 3, 3), 1, 1, 3),
        (date(2026, 3, 4), 0, 0, 1),
    ]
    assert [(p["bucket"], p["uncertain_share"]) for p in report.trend] == [
        (date(2026, 3, 2), 1.0),
        (date(2026, 3, 3), round(1 / 3, 4)),
        (date(2026, 3, 4), None),
    ]
    assert [(v["bucket"], v["source"], v["count"]) for v in report.volume] == [
        (date(2026, 3, 2), "reddit", 1),
        (date(2026, 3, 3), "mastodon", 2),
        (date(2026, 3, 3), "reddit", 1),
        (date(2026, 3, 4), "mastodon", 1),
    ]
    # the brand first, then competitors by mentions; keyword queries are not in it
    assert [(v["name"], v["kind"], v["count"], v["positive"]) for v in report.voice] == [
        ("brand", "brand", 2, 0),
        ("globex", "competitor", 2, 1),
    ]
    assert [(p["bucket"], p["counts"]["complaint"], p["total"]) for p in report.intents] == [
        (date(2026, 3, 2), 1, 1),
        (date(2026, 3, 3), 1, 3),
    ]


def test_label_rows_sum_over_the_keys_left_out(filled: Database) -> None:
    with filled.transaction() as session:
        rows = trends.label_rows(session, b.at(0), b.at(3), None, ("sentiment",))
        by_source = trends.label_rows(session, b.at(0), b.at(3), "week", ("source",))
    assert sorted((r.sentiment, r.volume) for r in rows) == [
        ("", 1),
        ("negative", 2),
        ("neutral", 1),
        ("positive", 3),
    ]
    assert {(r.bucket, r.query, r.uncertain) for r in rows} == {(None, "", False)}
    assert sorted((r.bucket, r.source, r.volume) for r in by_source) == [
        (date(2026, 3, 2), "mastodon", 3),
        (date(2026, 3, 2), "reddit", 4),
    ]
    with pytest.raises(ValueError, match="with a bucket"):
        trends.trend_of(rows)


@pytest.mark.parametrize("cost", [0, 10**9])  # the negatives read along the author index, or not
def test_top_authors_count_negatives_of_the_window_only(
    db: Database, monkeypatch: pytest.MonkeyPatch, cost: int
) -> None:
    monkeypatch.setattr(trends, "LOOKUP_COST", cost)
    big = b.author(db, "big", followers=5000)
    chatty = b.author(db, "chatty", followers=10)
    b.mention(db, big, b.at(0, 1), sentiment="negative")
    b.mention(db, big, b.at(5), sentiment="negative")  # between its window mentions, by id
    b.mention(db, big, b.at(0, 9), sentiment="negative")
    b.mention(db, big, b.at(0, 10), sentiment="positive")
    for hour in range(3):
        b.mention(db, chatty, b.at(0, hour), sentiment="negative" if hour else None)
    with db.transaction() as session:
        found = queries.top_authors(session, b.at(0), b.at(1))
        none = queries.top_authors(session, b.at(3), b.at(4))
    assert [(a["handle"], a["mentions"], a["negative"]) for a in found] == [
        ("big", 3, 2),
        ("chatty", 3, 2),
    ]
    assert none == []


def test_previous_volume_counts_the_window_before_exactly(filled: Database) -> None:
    with filled.transaction() as session:
        found = queries.overview(session, b.at(1, 2), b.at(1, 2) + timedelta(days=1, hours=1))
    # the window before: (0, 1:00) to (1, 2:00) holds (0, 1) and (0, 23), not (1, 2) itself
    assert found["previous_volume"] == 2
    assert found["volume"] == 4
