"""The one retry layer of a call path: waits out 429s, backs off transient faults, bounded."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from collectors.base import RateLimitedError, SourceError, TransientSourceError

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from `Retry-After` or a rate-limit reset header.

    `Retry-After` is seconds or an HTTP date; `ratelimit-reset` / `x-ratelimit-reset` are
    epoch seconds (Bluesky, Reddit send seconds-from-now in `x-ratelimit-reset`, which is small).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    now = time.time() if now is None else now
    if (value := lowered.get("retry-after")) is not None:
        return _seconds_or_date(value, now)
    for key in ("ratelimit-reset", "x-ratelimit-reset"):
        if (value := lowered.get(key)) is not None:
            return _seconds_or_epoch(value, now)
    return None


def _seconds_or_date(value: str, now: float) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return _iso(value, now)


def _seconds_or_epoch(value: str, now: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return _iso(value, now)
    # an epoch timestamp is far larger than any sensible number of seconds to wait
    return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)


def _iso(value: str, now: float) -> float | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


@dataclass
class Retrier:
    """Calls a function, waiting out rate limits and retrying transient faults a few times.

    Only `RateLimitedError` and `TransientSourceError` are retried; configuration, auth and
    unknown errors pass straight through. A wait longer than `max_wait` is not slept: the error
    goes up so the scheduler can run the source again later, with its cursor unchanged.
    """

    source: str
    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_wait: float = 300.0
    retry_transient: bool = True
    sleep: Sleep = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential delay before retry number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()`, retried as the error taxonomy says."""
        attempt = 1
        while True:
            try:
                return fn()
            except RateLimitedError as error:
                if error.retry_after > self.max_wait or attempt >= self.max_attempts:
                    raise
                log.warning(
                    "%s: rate limited, waiting %.0f s as asked", self.source, error.retry_after
                )
                self.sleep(error.retry_after)
            except TransientSourceError as error:
                if not self.retry_transient or attempt >= self.max_attempts:
                    raise
                delay = self.backoff(attempt)
                log.info("%s: %s; retry %d in %.1f s", self.source, error, attempt, delay)
                self.sleep(delay)
            attempt += 1


def partial_failure(message: str, errors: Sequence[SourceError]) -> SourceError:
    """One error for a run in which some parts (feeds, instances) failed and the rest went on.

    Rate-limited if every part was (waiting the soonest `retry_after`), transient if every part
    was a passing fault, otherwise a plain `SourceError`: never a configuration error, because
    one broken part must not disable the parts that work.
    """
    limited = [error for error in errors if isinstance(error, RateLimitedError)]
    if errors and len(limited) == len(errors):
        return RateLimitedError(message, min(error.retry_after for error in limited))
    if all(isinstance(error, TransientSourceError) for error in errors):
        return TransientSourceError(message)
    return SourceError(message)
