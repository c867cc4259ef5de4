"""The retry layer: 429s waited as asked, transient faults backed off and bounded."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from collectors.base import RateLimitedError, SourceAuthError, SourceError, TransientSourceError
from collectors.resilience import Retrier, partial_failure, retry_after_seconds

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()


def test_retry_after_reads_seconds_dates_and_reset_headers() -> None:
    assert retry_after_seconds({"Retry-After": "12"}, NOW) == 12
    date = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert retry_after_seconds({"retry-after": date}, NOW) == 30
    assert retry_after_seconds({"ratelimit-reset": str(int(NOW) + 45)}, NOW) == 45
    assert retry_after_seconds({"x-ratelimit-reset": "20"}, NOW) == 20
    assert retry_after_seconds({"X-RateLimit-Reset": "2026-11-25T12:01:00Z"}, NOW) == 60
    assert retry_after_seconds({"Retry-After": "-5"}, NOW) == 0
    assert retry_after_seconds({}, NOW) is None


def _flaky(errors: list[Exception]) -> object:
    def call() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    return call


def test_a_short_rate_limit_is_waited_then_retried() -> None:
    slept: list[float] = []
    retrier = Retrier("x", sleep=slept.append)
    assert retrier.call(_flaky([RateLimitedError("429", 7)])) == "ok"  # type: ignore[arg-type]
    assert slept == [7]


def test_a_long_rate_limit_is_not_slept() -> None:
    slept: list[float] = []
    retrier = Retrier("x", sleep=slept.append, max_wait=300)
    with pytest.raises(RateLimitedError):
        retrier.call(_flaky([RateLimitedError("429", 3600)]))  # type: ignore[arg-type]
    assert slept == []


def test_transient_errors_back_off_with_bounded_jitter_then_give_up() -> None:
    slept: list[float] = []
    retrier = Retrier(
        "x", sleep=slept.append, max_attempts=4, base_delay=1, max_delay=3, rng=random.Random(1)
    )
    errors: list[Exception] = [TransientSourceError("503")] * 5
    with pytest.raises(TransientSourceError):
        retrier.call(_flaky(errors))  # type: ignore[arg-type]
    assert len(slept) == 3
    for attempt, delay in enumerate(slept, start=1):
        assert 0 <= delay <= min(3, 2 ** (attempt - 1))


def test_auth_errors_and_bugs_are_not_retried() -> None:
    slept: list[float] = []
    retrier = Retrier("x", sleep=slept.append)
    with pytest.raises(SourceAuthError):
        retrier.call(_flaky([SourceAuthError("401")]))  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        retrier.call(_flaky([KeyError("bug")]))  # type: ignore[arg-type]
    assert slept == []


def test_transient_retries_can_be_left_to_the_library() -> None:
    retrier = Retrier("x", sleep=lambda _s: None, retry_transient=False)
    with pytest.raises(TransientSourceError):
        retrier.call(_flaky([TransientSourceError("503")]))  # type: ignore[arg-type]


def test_a_partial_failure_is_never_a_configuration_error() -> None:
    limited = partial_failure("m", [RateLimitedError("a", 120), RateLimitedError("b", 30)])
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 30
    passing = partial_failure("m", [RateLimitedError("a", 120), TransientSourceError("b")])
    assert type(passing) is TransientSourceError
    mixed = partial_failure("m", [SourceAuthError("401"), TransientSourceError("503")])
    assert type(mixed) is SourceError
    assert str(mixed) == "m"
