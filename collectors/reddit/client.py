"""The praw client: built from settings, its errors mapped to the taxonomy, one retry layer."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import praw
import requests
from praw.exceptions import RedditAPIException
from prawcore import exceptions as pce
from prawcore.const import NANOSECONDS
from prawcore.rate_limit import RateLimiter
from prawcore.sessions import FiniteRetryStrategy, Session

from collectors.base import (
    RateLimitedError,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    TransientSourceError,
)
from collectors.resilience import Retrier, Sleep, retry_after_seconds

log = logging.getLogger(__name__)

T = TypeVar("T")
SOURCE = "reddit"
# when Reddit sends a 429 without saying how long to wait: its window is 10 minutes, wait one
DEFAULT_RETRY_AFTER = 60.0
# prawcore's retries of a request that failed with a 5xx or a connection error (3 attempts)
PRAWCORE_RETRIES = FiniteRetryStrategy.DEFAULT_RETRIES
# "you are doing that too much. try again in 9 minutes." / "...for 33 seconds before..."
_RATELIMIT_WAIT = re.compile(r"(\d+)\s*(millisecond|second|minute|hour)", re.IGNORECASE)
_UNIT_SECONDS = {"millisecond": 0.001, "second": 1.0, "minute": 60.0, "hour": 3600.0}


@dataclass(frozen=True)
class RedditConfig:
    """What the praw client needs; username and password only for the inbox and replies."""

    user_agent: str
    client_id: str | None
    # secrets stay out of repr, so that logging or a traceback of a config never shows them
    client_secret: str | None = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def require_app(self) -> None:
        """Raise `SourceConfigError` naming the variables when the app credentials are missing."""
        if not self.client_id or not self.client_secret:
            raise SourceConfigError(
                "reddit: set SOCIALCRM_REDDIT_CLIENT_ID and SOCIALCRM_REDDIT_CLIENT_SECRET "
                "(a script app at reddit.com/prefs/apps)"
            )

    def require_account(self, why: str) -> None:
        """Raise `SourceConfigError` when username or password is missing but `why` needs them."""
        self.require_app()
        if not self.username or not self.password:
            raise SourceConfigError(
                f"reddit: {why} needs SOCIALCRM_REDDIT_USERNAME and SOCIALCRM_REDDIT_PASSWORD"
            )


def make_reddit(
    config: RedditConfig,
    session: requests.Session | None = None,
    sleep: Sleep = time.sleep,
    retries: int = PRAWCORE_RETRIES,
    max_pace: float | None = None,
) -> praw.Reddit:
    """A praw client (read-only without an account); `session` and `sleep` are for tests.

    `retries` is how often prawcore repeats a request after a 5xx or a connection error; a
    pacing wait longer than `max_pace` raises `RateLimitedError` instead of being slept.
    """
    config.require_app()
    account: dict[str, Any] = (
        {"username": config.username, "password": config.password}
        if config.username and config.password
        else {}
    )
    reddit = praw.Reddit(
        client_id=config.client_id,
        client_secret=config.client_secret,
        user_agent=config.user_agent,
        check_for_updates=False,
        check_for_async=False,
        requestor_kwargs={"session": session} if session is not None else None,
        # praw would wait out a short RATELIMIT itself, with time.sleep: never; map_error
        # makes it a RateLimitedError and the one Retrier waits
        ratelimit_seconds=-1,
        **account,
    )
    _pace_with(reddit, sleep, retries, max_pace)
    return reddit


def _pace_with(reddit: praw.Reddit, sleep: Sleep, retries: int, max_pace: float | None) -> None:
    # prawcore paces and retries with time.sleep; route both through our sleep so that the
    # scheduler's (and the tests') clock is the one that waits. Private attributes, praw 8.
    strategy = _strategy_with(sleep, retries)
    for core in (reddit._read_only_core, reddit._authorized_core):
        if core is not None:
            core._retry_strategy_class = strategy
            window = core._rate_limiter.window_size
            core._rate_limiter = _SleepingRateLimiter(window, sleep, max_pace)


def _strategy_with(sleep: Sleep, retries: int) -> type[FiniteRetryStrategy]:
    allowed = retries

    @dataclass(frozen=True)
    class _Strategy(FiniteRetryStrategy):
        # prawcore sleeps before a retry when fewer than DEFAULT_RETRIES are left: both move
        DEFAULT_RETRIES: ClassVar[int] = allowed
        retries: int = allowed

        def sleep(self) -> None:
            if (seconds := self._sleep_seconds()) is not None:
                sleep(seconds)

    return _Strategy


class _SleepingRateLimiter(RateLimiter):
    """prawcore's limiter (paces by Reddit's x-ratelimit headers) with an injectable sleep."""

    def __init__(self, window_size: int, sleep: Sleep, max_pace: float | None = None) -> None:
        super().__init__(window_size=window_size)
        self._sleep = sleep
        self._max_pace = max_pace

    def delay(self) -> None:
        """Sleep until the next request keeps us under Reddit's limit (or raise, see max_pace)."""
        if self.next_request_timestamp_ns is None:
            return
        seconds = (self.next_request_timestamp_ns - time.monotonic_ns()) / NANOSECONDS
        if self._max_pace is not None and seconds > self._max_pace:
            # the budget is used up until its reset; raised before the request, so nothing
            # was sent and the caller may try again after the wait
            raise RateLimitedError(
                f"reddit: request budget used up (retry in {seconds:.0f} s)", seconds
            )
        if seconds > 0:
            log.debug("reddit: pacing %.2f s before the next request", seconds)
            self._sleep(seconds)


def _status(error: pce.ResponseException) -> int:
    return int(error.response.status_code)


def _is_token_request(error: pce.ResponseException) -> bool:
    return "/api/v1/access_token" in str(getattr(error.response, "url", ""))


def retried_by_prawcore(error: Exception) -> bool:
    """Whether prawcore already retried the request that raised `error` (5xx, connection)."""
    if isinstance(error, pce.RequestException):
        return isinstance(error.original_exception, Session.RETRY_EXCEPTIONS)
    if isinstance(error, pce.ResponseException):
        return _status(error) in Session.RETRY_STATUSES and not _is_token_request(error)
    return False


def map_error(error: Exception, subreddit: str | None = None) -> SourceError | None:
    """The taxonomy's error for a prawcore/praw error, or `None` when it is a bug to surface."""
    if isinstance(error, pce.OAuthException | pce.InvalidToken | pce.InsufficientScope):
        return SourceAuthError(f"reddit refused the credentials: {error}")
    if subreddit and isinstance(error, pce.Redirect | pce.NotFound | pce.Forbidden):
        return SourceConfigError(
            f"reddit: r/{subreddit} does not exist or is private/banned; "
            "fix sources.reddit.subreddits or search_subreddits"
        )
    if isinstance(error, pce.RequestException):
        return TransientSourceError(f"reddit unreachable: {error.original_exception!r}")
    if isinstance(error, pce.ResponseException):
        return _map_status(error)
    if isinstance(error, RedditAPIException):
        return _map_api_error(error)
    return None


def _map_api_error(error: RedditAPIException) -> SourceError | None:
    for item in error.items:
        if item.error_type == "RATELIMIT":
            wait = ratelimit_seconds(item.message or "")
            return RateLimitedError(
                f"reddit: rate limited (RATELIMIT, retry in {wait:.0f} s)", wait
            )
    return None


def ratelimit_seconds(message: str) -> float:
    """The wait a RATELIMIT message asks for ("try again in 9 minutes"), or the default."""
    found = _RATELIMIT_WAIT.search(message)
    if found is None:
        return DEFAULT_RETRY_AFTER
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2).lower()]


def _map_status(error: pce.ResponseException) -> SourceError | None:
    status = _status(error)
    if status in (401, 403):
        return SourceAuthError(f"reddit refused the credentials (HTTP {status})")
    if status == 429:
        headers = {key: str(value) for key, value in error.response.headers.items()}
        wait = retry_after_seconds(headers)
        return RateLimitedError(
            "reddit: rate limited (HTTP 429)", DEFAULT_RETRY_AFTER if wait is None else wait
        )
    if status >= 500 or status == 408:
        return TransientSourceError(f"reddit server error (HTTP {status})")
    return None


class _AlreadyRetriedError(Exception):
    """Carries a transient error past the Retrier: prawcore has retried it already."""

    def __init__(self, error: SourceError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Calls:
    """Runs one praw call (a listing page, a post) through the one retry layer it needs."""

    retrier: Retrier
    prawcore_retries: bool = True  # whether the praw client was built to retry (make_reddit)

    def call(self, fn: Callable[[], T], subreddit: str | None = None) -> T:
        """`fn()`; 429s waited, transient faults retried unless prawcore already did."""
        try:
            return self.retrier.call(lambda: self._mapped(fn, subreddit))
        except _AlreadyRetriedError as carried:
            raise carried.error from carried.__cause__

    def _mapped(self, fn: Callable[[], T], subreddit: str | None) -> T:
        try:
            return fn()
        except (pce.PrawcoreException, RedditAPIException) as error:
            mapped = map_error(error, subreddit)
            if mapped is None:
                raise
            if (
                isinstance(mapped, TransientSourceError)
                and self.prawcore_retries
                and retried_by_prawcore(error)
            ):
                raise _AlreadyRetriedError(mapped) from error
            raise mapped from error


def new_calls(sleep: Sleep = time.sleep) -> Calls:
    """The retry layer for Reddit calls, sleeping with `sleep`."""
    return Calls(Retrier(SOURCE, sleep=sleep))


def _never_sleep(seconds: float) -> None:
    raise AssertionError(f"a single-attempt call must not wait ({seconds:.1f} s)")


def single_attempt_calls() -> Calls:
    """For a praw client built with `retries=0`: one attempt, every error (429 too) raised."""
    # one attempt: the Retrier raises before it would ever sleep
    retrier = Retrier(SOURCE, max_attempts=1, retry_transient=False, sleep=_never_sleep)
    return Calls(retrier, prawcore_retries=False)
