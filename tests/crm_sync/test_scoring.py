"""The profile's pure arithmetic against values worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from crm_sync import scoring
from crm_sync.scoring import SentimentTrend
from nlp.labels import INTENTS
from socialcrm.settings import EngagementWeights

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


# --- engagement ---------------------------------------------------------------------------------


def test_engagement_decays_by_half_every_half_life() -> None:
    weights = {"mention": 1.0, "purchase_intent": 5.0}
    interactions = [
        ("mention", days_ago(0)),  # 1 · 0.5^0 = 1
        ("purchase_intent", days_ago(30)),  # 5 · 0.5^1 = 2.5
        ("mention", days_ago(60)),  # 1 · 0.5^2 = 0.25
        ("purchase_intent", days_ago(90)),  # 5 · 0.5^3 = 0.625
    ]
    score = scoring.engagement_score(interactions, weights, half_life_days=30, now=NOW)
    assert score == pytest.approx(1 + 2.5 + 0.25 + 0.625)  # 4.375


def test_engagement_between_half_lives_and_with_another_half_life() -> None:
    weights = {"reply": 2.0, "staff_action": 1.0}
    interactions = [("reply", days_ago(5)), ("staff_action", days_ago(10))]
    # half-life 10 days: 2 · 0.5^(5/10) + 1 · 0.5^(10/10) = 2/√2 + 0.5 = √2 + 0.5
    score = scoring.engagement_score(interactions, weights, half_life_days=10, now=NOW)
    assert score == pytest.approx(math.sqrt(2) + 0.5)  # 1.91421...


def test_engagement_with_the_default_weights() -> None:
    weights = EngagementWeights().model_dump()
    # a question 15 days ago with half-life 30: (mention 1 + question 2) · 0.5^0.5 = 3/√2
    found = scoring.mention_interactions(days_ago(15), {"question": 0.9, "complaint": 0.4})
    assert found == [("mention", days_ago(15)), ("question", days_ago(15))]
    score = scoring.engagement_score(found, weights, half_life_days=30, now=NOW)
    assert score == pytest.approx(3 / math.sqrt(2))  # 2.12132...


def test_the_example_in_the_docs() -> None:
    # docs/crm.md: a purchase intent today, a praise 30 days ago, a sent reply 60 days ago
    interactions = [
        *scoring.mention_interactions(days_ago(0), {"purchase_intent": 0.9}),  # (1 + 5) · 1
        *scoring.mention_interactions(days_ago(30), {"praise": 0.7}),  # (1 + 3) · 0.5
        ("reply", days_ago(60)),  # 2 · 0.25
    ]
    weights = EngagementWeights().model_dump()
    assert scoring.engagement_score(interactions, weights, 30, NOW) == pytest.approx(8.5)


def test_engagement_of_nothing_is_zero_and_the_future_counts_as_now() -> None:
    assert scoring.engagement_score([], {"mention": 1.0}, 30, NOW) == 0
    # a clock a day ahead must not make a mention weigh 1 · 0.5^(-1/30) > 1
    assert (
        scoring.engagement_score([("mention", NOW + timedelta(days=1))], {"mention": 1.0}, 30, NOW)
        == 1
    )


def test_engagement_refuses_an_unknown_kind_or_a_bad_half_life() -> None:
    with pytest.raises(ValueError, match="no engagement weight for interaction kind 'like'"):
        scoring.engagement_score([("like", NOW)], {"mention": 1.0}, 30, NOW)
    with pytest.raises(ValueError, match="half_life_days must be above 0"):
        scoring.engagement_score([], {"mention": 1.0}, 0, NOW)


def test_a_mention_adds_the_scored_intents_at_or_above_one_half() -> None:
    intents = {
        "purchase_intent": 0.5,  # counts: ≥ 0.5
        "praise": 0.4999,  # does not
        "complaint": True,  # not a probability
        "feature_request": 0.99,  # seen, but not one of the scored intents
        "spam": 0.9,
    }
    assert scoring.mention_interactions(NOW, intents) == [
        ("mention", NOW),
        ("purchase_intent", NOW),
    ]
    assert scoring.mention_interactions(NOW, {}) == [("mention", NOW)]


def test_intents_seen_counts_mentions_per_intent() -> None:
    seen = scoring.intents_seen(
        [{"question": 0.9, "complaint": 0.5}, {"question": 0.2, "spam": 0.7}, {}]
    )
    assert seen == {**dict.fromkeys(INTENTS, 0), "question": 1, "complaint": 1, "spam": 1}


# --- ABC segments -------------------------------------------------------------------------------


def test_abc_worked_example() -> None:
    values = {1: 500.0, 2: 300.0, 3: 100.0, 4: 60.0, 5: 40.0, 6: 0.0, 7: -20.0}
    # positive total 1000; `before` = value of the customers ranked ahead:
    #   1: before 0    < 800 → A     2: before 500 < 800 → A
    #   3: before 800  ≥ 800, < 950 → B     4: before 900 < 950 → B
    #   5: before 960  ≥ 950 → C     6 (zero) and 7 (negative): C, not in the total
    segments = scoring.abc_segments(values, a_share=0.8, b_share=0.95)
    assert segments == {1: "A", 2: "A", 3: "B", 4: "B", 5: "C", 6: "C", 7: "C"}


def test_abc_gives_equal_values_the_same_segment_whatever_their_order() -> None:
    values = {4: 100.0, 1: 300.0, 3: 300.0, 2: 300.0}
    # total 1000, A while before < 300: the three at 300 all have before 0 (only greater
    # values count), so all are A; ranking them one after another would make two of them B.
    # 4: before 900 < 950 → B
    expected = {1: "A", 2: "A", 3: "A", 4: "B"}
    assert scoring.abc_segments(values, 0.3, 0.95) == expected
    assert scoring.abc_segments(dict(reversed(values.items())), 0.3, 0.95) == expected


def test_abc_with_no_positive_value_everyone_is_c() -> None:
    assert scoring.abc_segments({1: 0.0, 2: 0.0, 3: -5.0}, 0.8, 0.95) == {1: "C", 2: "C", 3: "C"}
    assert scoring.abc_segments({}, 0.8, 0.95) == {}


def test_abc_missing_values_are_c_and_not_in_the_total() -> None:
    values = {1: math.nan, 2: math.inf, 3: 80.0, 4: 20.0}
    # total 100: 3 before 0 → A; 4 before 80, ≥ 50 and < 90 → B
    assert scoring.abc_segments(values, 0.5, 0.9) == {1: "C", 2: "C", 3: "A", 4: "B"}


def test_abc_share_edges() -> None:
    # a_share 0: nobody is A; b_share 1: every positive value is at most B
    assert scoring.abc_segments({1: 10.0, 2: 1.0}, 0.0, 1.0) == {1: "B", 2: "B"}
    # one customer holds everything: it is A
    assert scoring.abc_segments({1: 10.0, 2: 0.0}, 0.8, 0.95) == {1: "A", 2: "C"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1200, 1200.0),
        (99.5, 99.5),
        ("1200.50", 1200.5),
        (" 7 ", 7.0),
        ("-3", -3.0),
        (True, None),
        (None, None),
        ("lots", None),
        ("nan", None),
        (math.inf, None),
        ({"amount": 3}, None),
    ],
)
def test_as_value(raw: object, expected: float | None) -> None:
    assert scoring.as_value(raw) == expected


# --- sentiment trend and churn ------------------------------------------------------------------


def test_sentiment_score_is_positive_minus_negative() -> None:
    score = scoring.sentiment_score({"negative": 0.1, "neutral": 0.2, "positive": 0.7})
    assert score == pytest.approx(0.6)
    assert scoring.sentiment_score({"negative": 0.9, "positive": 0.05}) == pytest.approx(-0.85)
    assert scoring.sentiment_score({}) is None
    assert scoring.sentiment_score({"positive": 0.5}) is None


def test_trend_splits_into_the_recent_window_and_the_one_before() -> None:
    points = [
        (days_ago(1), 0.1),
        (days_ago(29.9), -0.1),  # recent: mean (0.1 - 0.1) / 2 = 0
        (days_ago(30), 0.9),  # the boundary belongs to the window before
        (days_ago(59), 0.7),  # before: mean (0.9 + 0.7) / 2 = 0.8
        (days_ago(60), -1.0),  # older than both windows: left out
        (NOW + timedelta(hours=1), -1.0),  # after now: left out
    ]
    trend = scoring.sentiment_trend(points, window_days=30, now=NOW)
    assert (trend.recent_count, trend.previous_count) == (2, 2)
    assert trend.recent_mean == pytest.approx(0.0)
    assert trend.previous_mean == pytest.approx(0.8)
    assert trend.change == pytest.approx(-0.8)
    assert trend.as_dict() == {
        "window_days": 30,
        "recent_mean": 0.0,
        "recent_count": 2,
        "previous_mean": 0.8,
        "previous_count": 2,
        "change": -0.8,
    }


def test_empty_windows_have_no_mean_and_no_change() -> None:
    trend = scoring.sentiment_trend([(days_ago(3), 0.5)], 30, NOW)
    assert (trend.recent_mean, trend.previous_mean, trend.change) == (0.5, None, None)
    assert not scoring.churn_risk(trend, drop=0.1, min_mentions=1)


def _trend(recent: list[float], previous: list[float]) -> SentimentTrend:
    points = [(days_ago(1), s) for s in recent] + [(days_ago(40), s) for s in previous]
    return scoring.sentiment_trend(points, 30, NOW)


def test_churn_when_sentiment_falls_by_the_drop() -> None:
    # before: (0.9 + 0.5) / 2 = 0.7; recent: (0.3 + 0.1) / 2 = 0.2; fell by 0.5 (in floating
    # point 0.49999999999999994, which must still count as 0.5)
    falling = _trend([0.3, 0.1], [0.9, 0.5])
    assert scoring.churn_risk(falling, drop=0.5, min_mentions=2)
    assert not scoring.churn_risk(falling, drop=0.51, min_mentions=2)


def test_no_churn_when_flat_or_rising() -> None:
    assert not scoring.churn_risk(_trend([0.4, 0.6], [0.5, 0.5]), drop=0.5, min_mentions=2)
    assert not scoring.churn_risk(_trend([0.9, 0.9], [-0.9, -0.9]), drop=0.5, min_mentions=2)


def test_no_churn_with_too_few_mentions_in_either_window() -> None:
    steep = _trend([-1.0], [1.0, 1.0])  # fell by 2, but one recent mention
    assert not scoring.churn_risk(steep, drop=0.5, min_mentions=2)
    assert scoring.churn_risk(steep, drop=0.5, min_mentions=1)
    assert not scoring.churn_risk(_trend([-1.0, -1.0], [1.0]), drop=0.5, min_mentions=2)


# --- topics -------------------------------------------------------------------------------------


def test_topics_count_terms_hashtags_and_subreddits_once_per_mention() -> None:
    topics = scoring.count_topics(
        [
            (
                "brand:inkwell",
                "Love #Inkwell and #FountainPens; #1 fan, see https://x.example/a#frag &#39;",
                {"subreddit": "FountainPens"},
            ),
            ("competitor:acme", "meh #inkwell #inkwell", {}),
            ("hashtag:inkwell", "no tags here", {}),  # found through the #inkwell timeline
            ("subreddit:FountainPens", "a post", {"subreddit": "fountainpens"}),
            ("account:mentions", "@brand hi", {}),  # not a topic
            (None, "nothing", {}),
        ]
    )
    assert topics.terms == {"brand:inkwell": 1, "competitor:acme": 1}
    assert topics.hashtags == {"inkwell": 3, "fountainpens": 1}
    assert topics.subreddits == {"fountainpens": 2}
    assert list(topics.hashtags) == ["inkwell", "fountainpens"]  # most frequent first
    assert topics.as_dict(limit=1) == {
        "terms": {"brand:inkwell": 1},
        "hashtags": {"inkwell": 3},
        "subreddits": {"fountainpens": 2},
    }
