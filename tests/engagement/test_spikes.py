"""Spike detection on synthetic series, the same-hour windows, and what drove a spike."""

from __future__ import annotations

import itertools
import json
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement.spikes import DriverPost, Spike, drivers, judge, same_hours, terms_of

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UTC time."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# same_hours


def test_the_last_full_hour_and_the_same_hour_in_earlier_weeks() -> None:
    windows = same_hours(utc(2026, 1, 20, 14, 37), 2)
    assert windows == [
        (utc(2026, 1, 20, 13), utc(2026, 1, 20, 14)),
        (utc(2026, 1, 13, 13), utc(2026, 1, 13, 14)),
        (utc(2026, 1, 6, 13), utc(2026, 1, 6, 14)),
    ]


def test_on_the_hour_the_window_ends_now() -> None:
    assert same_hours(utc(2026, 1, 20, 14), 0) == [(utc(2026, 1, 20, 13), utc(2026, 1, 20, 14))]


def test_any_zone_goes_in_utc_comes_out() -> None:
    now = datetime(2026, 1, 20, 15, 37, tzinfo=timezone(timedelta(hours=1)))
    (start, end), *_ = same_hours(now, 1)
    assert (start, end) == (utc(2026, 1, 20, 13), utc(2026, 1, 20, 14))
    assert start.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        same_hours(datetime(2026, 1, 20, 14), 1)  # noqa: DTZ001


def test_local_weeks_keep_the_local_hour_across_a_dst_change() -> None:
    now = datetime(2026, 4, 1, 12, 30, tzinfo=BERLIN)  # CEST; a week earlier was CET
    local = same_hours(now, 1, BERLIN)
    assert local == [
        (utc(2026, 4, 1, 9), utc(2026, 4, 1, 10)),  # 11:00-12:00 CEST
        (utc(2026, 3, 25, 10), utc(2026, 3, 25, 11)),  # 11:00-12:00 CET
    ]
    # in plain UTC weeks the earlier window is a different local hour
    assert same_hours(now, 1)[1] == (utc(2026, 3, 25, 9), utc(2026, 3, 25, 10))


def test_a_half_hour_zone_floors_to_its_own_hour() -> None:
    now = utc(2026, 1, 6, 10, 45)  # 16:15 in Kolkata (+05:30)
    window = same_hours(now, 0, ZoneInfo("Asia/Kolkata"))[0]
    assert window == (utc(2026, 1, 6, 9, 30), utc(2026, 1, 6, 10, 30))


moments = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001
    max_value=datetime(2028, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
zones = st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])


@given(moments, st.integers(0, 8), zones)
def test_windows_are_one_real_hour_ending_before_now(
    now: datetime, weeks: int, tz: ZoneInfo
) -> None:
    windows = same_hours(now, weeks, tz)
    assert len(windows) == weeks + 1
    assert now - HOUR < windows[0][1] <= now
    assert all(end - start == HOUR for start, end in windows)
    for (start, _), (earlier_start, _) in itertools.pairwise(windows):
        # a week apart, give or take the hour a DST change moves it
        assert abs((start - earlier_start) - WEEK) <= HOUR
        assert start.astimezone(tz).time() == earlier_start.astimezone(tz).time() or (
            start.astimezone(tz).utcoffset() != earlier_start.astimezone(tz).utcoffset()
        )


# judge


def test_no_history_means_nothing_to_compare_with() -> None:
    assert judge(500, 400, [], k=3, min_volume=10) is None


def test_below_the_minimum_volume_nothing_is_a_spike() -> None:
    assert judge(9, 9, [(0, 0)] * 4, k=3, min_volume=10) is None
    assert judge(10, 9, [(0, 0)] * 4, k=3, min_volume=10) is not None


def test_a_flat_history_uses_the_poisson_floor() -> None:
    history = [(10, 1)] * 4
    # sigma would be 0: the floor sqrt(10) puts the threshold at 10 + 3 * 3.16 = 19.49
    assert judge(19, 1, history, k=3, min_volume=5) is None
    spike = judge(20, 2, history, k=3, min_volume=5)
    assert spike is not None
    assert spike.kind == "volume"
    assert spike.mean == 10
    assert spike.sigma == pytest.approx(math.sqrt(10))
    assert spike.volume_threshold == pytest.approx(10 + 3 * math.sqrt(10))


def test_a_silent_history_floors_sigma_at_one_and_has_no_share_baseline() -> None:
    spike = judge(10, 10, [(0, 0)] * 3, k=3, min_volume=10)
    assert spike is not None
    assert (spike.kind, spike.mean, spike.sigma, spike.volume_threshold) == ("volume", 0, 1, 3)
    assert (spike.share_mean, spike.share_sigma, spike.share_threshold) == (None, None, None)


def test_a_noisy_history_uses_its_own_sigma() -> None:
    history = [(5, 0), (20, 2), (8, 1), (15, 1)]  # mean 12, sigma sqrt(34.5) = 5.87
    assert judge(29, 3, history, k=3, min_volume=10) is None
    spike = judge(30, 3, history, k=3, min_volume=10)
    assert spike is not None
    assert spike.sigma == pytest.approx(math.sqrt(34.5))
    assert spike.volume_threshold == pytest.approx(12 + 3 * math.sqrt(34.5))


def test_a_negative_share_spike_without_more_volume() -> None:
    history = [(40, 4)] * 4  # share 0.10, sigma floored at 0.05: threshold 0.25
    assert judge(40, 10, history, k=3, min_volume=10) is None  # 0.25 is not above it
    spike = judge(40, 11, history, k=3, min_volume=10)
    assert spike is not None
    assert spike.kind == "negative"
    assert (spike.share, spike.share_mean, spike.share_sigma) == (0.275, 0.1, 0.05)
    assert spike.share_threshold == pytest.approx(0.25)


def test_a_few_posts_get_a_binomial_floor_on_the_share() -> None:
    history = [(10, 1)] * 4
    # 10 posts at p = 0.1 wobble by sqrt(0.1 * 0.9 / 10) = 0.095: threshold 0.1 + 3 * 0.095
    assert judge(10, 3, history, k=3, min_volume=10) is None
    spike = judge(10, 4, history, k=3, min_volume=10)
    assert spike is not None
    assert spike.kind == "negative"
    assert spike.share_sigma == pytest.approx(math.sqrt(0.09 / 10))


def test_both_at_once() -> None:
    spike = judge(40, 20, [(20, 2)] * 4, k=3, min_volume=10)
    assert spike is not None
    assert spike.kind == "volume+negative"


def test_weeks_without_mentions_are_left_out_of_the_share() -> None:
    spike = judge(12, 6, [(0, 0), (10, 1), (10, 1), (0, 0)], k=3, min_volume=10)
    assert spike is not None
    assert spike.share_mean == pytest.approx(0.1)  # not 0.05, as zero-volume weeks would make it
    assert spike.mean == 5
    assert spike.weeks == 4


def test_k_sets_the_sensitivity() -> None:
    history = [(10, 1)] * 4
    assert judge(17, 1, history, k=2, min_volume=5) is not None
    assert judge(17, 1, history, k=3, min_volume=5) is None


def test_the_baseline_is_json_ready() -> None:
    spike = judge(40, 20, [(20, 2), (18, 1)], k=3, min_volume=10)
    assert spike is not None
    baseline = json.loads(json.dumps(spike.baseline()))
    assert baseline["weeks"] == 2
    assert baseline["mean"] == 19
    assert baseline["share"] == 0.5
    assert set(baseline) == {
        "weeks", "mean", "sigma", "volume_threshold",
        "share", "share_mean", "share_sigma", "share_threshold",
    }  # fmt: skip


@pytest.mark.parametrize(("volume", "negatives"), [(5, 6), (-1, 0), (5, -1)])
def test_impossible_counts_are_refused(volume: int, negatives: int) -> None:
    with pytest.raises(ValueError, match="negatives <= volume"):
        judge(volume, negatives, [(10, 1)], k=3, min_volume=1)
    with pytest.raises(ValueError, match="negatives <= volume"):
        judge(10, 1, [(volume, negatives)], k=3, min_volume=1)


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth), enough for the small rates of one query's hour."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _series(rng: random.Random, weeks: int) -> list[tuple[int, int]]:
    """Hourly (volume, negatives): a daily curve between 3 and 30 an hour, 10 % negative."""
    series = []
    for hour in range(weeks * 168):
        rate = 3 + 27 * (1 + math.sin(2 * math.pi * (hour % 24) / 24)) / 2
        volume = _poisson(rng, rate)
        negatives = sum(rng.random() < 0.1 for _ in range(volume))
        series.append((volume, negatives))
    return series


def _history(series: list[tuple[int, int]], hour: int, weeks: int) -> list[tuple[int, int]]:
    return [series[hour - 168 * week] for week in range(1, weeks + 1)]


def _alarms(series: list[tuple[int, int]], k: float) -> list[int]:
    """The hours of the series' last week judged a spike against the four weeks before."""
    last_week = range(len(series) - 168, len(series))
    return [h for h in last_week if judge(*series[h], _history(series, h, 4), k, 10)]


def test_quiet_synthetic_weeks_raise_few_false_alarms() -> None:
    weeks = [_series(random.Random(seed), weeks=5) for seed in range(20)]
    alarms = sum(len(_alarms(series, k=3)) for series in weeks)
    # per query and hour: with k = 3 about three a week (a 4-week baseline is itself noisy);
    # k = 1 would be noise
    assert alarms / (20 * 168) < 0.025
    assert sum(len(_alarms(series, k=1)) for series in weeks) > 5 * alarms


def test_bursts_in_a_synthetic_series_are_caught() -> None:
    series = _series(random.Random(6), weeks=5)
    for hour in (4 * 168 + 10, 4 * 168 + 60, 4 * 168 + 130):
        volume, negatives = series[hour]
        history = _history(series, hour, 4)
        burst = judge(volume * 3 + 20, negatives, history, 3, 10)
        assert burst is not None
        assert burst.kind == "volume"
        storm = judge(volume + 10, volume // 2 + 10, history, 3, 10)
        assert storm is not None
        assert "negative" in storm.kind


histories = st.lists(
    st.integers(0, 200).flatmap(lambda v: st.tuples(st.just(v), st.integers(0, v))),
    min_size=1,
    max_size=8,
)


@given(histories, st.integers(0, 400), st.floats(0.5, 5))
def test_the_kind_matches_the_thresholds(
    history: list[tuple[int, int]], volume: int, k: float
) -> None:
    negatives = volume // 3
    spike = judge(volume, negatives, history, k=k, min_volume=10)
    if spike is None:
        return
    assert spike.volume >= 10
    assert ("volume" in spike.kind.split("+")) == (spike.volume > spike.volume_threshold)
    by_share = spike.share_threshold is not None and spike.share > spike.share_threshold
    assert ("negative" in spike.kind) == by_share


@given(histories, st.integers(10, 400), st.floats(0.5, 5))
def test_more_volume_never_removes_a_volume_spike(
    history: list[tuple[int, int]], volume: int, k: float
) -> None:
    spike = judge(volume, 0, history, k=k, min_volume=10)
    if spike is not None and "volume" in spike.kind:
        bigger = judge(volume + 1, 0, history, k=k, min_volume=10)
        assert bigger is not None
        assert "volume" in bigger.kind


@given(histories, st.floats(0.5, 5))
def test_an_ordinary_hour_is_no_spike(history: list[tuple[int, int]], k: float) -> None:
    volume = max(10, round(sum(v for v, _ in history) / len(history)))
    spike = judge(volume, 0, history, k=k, min_volume=10)
    # at the mean (rounded, and with the 10 floor) only a near-silent history can see a spike
    assert spike is None or spike.mean + k * math.sqrt(max(spike.mean, 1)) < volume


# drivers


def test_terms_are_words_of_three_letters_or_more_without_stopwords() -> None:
    text = "The INK smudges!! Ink, ink; 42 refunds? It's a no-go https://x.co/ab @help@m.social"
    assert terms_of(text) == {"ink", "smudges", "refunds"}
    assert terms_of("Don\u2019t buy, don't") == {"buy"}  # a stopword either way it is typed
    assert terms_of("Café crème brûlée") == {"café", "crème", "brûlée"}


def test_terms_count_once_per_post_and_skip_the_query() -> None:
    posts = [
        DriverPost("Inkwell leaks leaks leaks", "negative"),
        DriverPost("my inkwell pen leaks", "negative"),
        DriverPost("Inkwell Pro refund please", "neutral"),
        DriverPost("refund refund refund", "negative"),
    ]
    got = drivers(posts, exclude_terms=["inkwell pro", "brand:inkwell"])
    assert got["terms"] == [["leaks", 2], ["refund", 2], ["pen", 1], ["please", 1]]


def test_terms_are_ranked_by_count_then_alphabetically_and_cut_to_top() -> None:
    posts = [DriverPost(f"zeta alpha word{'x' * n}") for n in range(3)]
    got = drivers(posts, [], top=3)
    assert got["terms"] == [["alpha", 3], ["zeta", 3], ["word", 1]]


def test_top_posts_by_reach_then_negativity() -> None:
    long_text = "x" * 300
    posts = [
        DriverPost("fine", "positive", "https://a", 100),
        DriverPost("bad", "negative", "https://b", 100),
        DriverPost(long_text, "neutral", "https://c", 5000),
        DriverPost("meh", None, "https://d", 100),
        DriverPost("tiny", "negative", "https://e", 1),
    ]
    got = drivers(posts, [], top=4)
    assert [post["url"] for post in got["posts"]] == [
        "https://c",
        "https://b",
        "https://d",
        "https://a",
    ]
    first = got["posts"][0]
    assert len(first["text"]) == 200
    assert first["text"].endswith("…")
    assert first == {
        "url": "https://c",
        "text": first["text"],
        "reach": 5000,
        "sentiment": "neutral",
    }


def test_the_sentiment_split_counts_every_labelled_post() -> None:
    posts = [DriverPost("a", "negative"), DriverPost("b", "negative"), DriverPost("c", None)]
    posts.append(DriverPost("d", "positive"))
    assert drivers(posts, [])["sentiment"] == {"negative": 2, "neutral": 0, "positive": 1}


def test_no_posts_no_drivers() -> None:
    assert drivers([], ["inkwell"]) == {
        "terms": [],
        "posts": [],
        "sentiment": {"negative": 0, "neutral": 0, "positive": 0},
    }


@given(st.lists(st.builds(DriverPost, st.text(max_size=80), reach=st.integers(0, 10**6))))
def test_drivers_are_json_ready_and_bounded(posts: list[DriverPost]) -> None:
    got = drivers(posts, ["brand"], top=5)
    assert json.loads(json.dumps(got)) == got
    assert len(got["terms"]) <= 5
    assert len(got["posts"]) == min(5, len(posts))
    assert all(count <= len(posts) for _, count in got["terms"])
    assert all(term != "brand" for term, _ in got["terms"])
    reaches = [post["reach"] for post in got["posts"]]
    assert reaches == sorted(reaches, reverse=True)


def test_spike_is_frozen() -> None:
    spike = judge(20, 2, [(10, 1)] * 4, k=3, min_volume=5)
    assert isinstance(spike, Spike)
    with pytest.raises(AttributeError):
        spike.volume = 1  # type: ignore[misc]
