"""Mastodon.py for one instance: errors mapped to the taxonomy, the one retry layer, pacing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from collectors.base import (
    RateLimitedError,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    TargetGoneError,
    TransientSourceError,
)
from collectors.http import USER_AGENT
from collectors.resilience import Clock, Retrier, retry_after_seconds

log = logging.getLogger(__name__)

T = TypeVar("T")
TOKEN_ENV: Final = "SOCIALCRM_MASTODON_ACCESS_TOKEN"  # noqa: S105 (a variable name)
# a floor we claim instead of asking the server (one request less per client); "created" mode
# still refuses endpoints newer than it, and we use none
VERSION_FLOOR: Final = "4.0.0"
TIMEOUT_SECONDS: Final = 20.0
# below this many requests left in Mastodon's 300-per-5-minutes window, wait for the reset
LOW_WATER: Final = 10
DEFAULT_RETRY_AFTER: Final = 60.0
TRANSIENT_STATUSES: Final = frozenset({408, 425, 500, 502, 503, 504})


def status_of(error: MastodonError) -> int | None:
    """The HTTP status Mastodon.py put in an API error's arguments, if any."""
    args: tuple[Any, ...] = error.args
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def classify(
    error: MastodonError,
    what: str,
    retry_after: float | None,
    gone: bool = False,
    has_token: bool = True,
) -> SourceError:
    """The taxonomy error for a Mastodon.py error while doing `what` (one line, no secrets)."""
    status = status_of(error)
    if isinstance(error, MastodonRatelimitError):
        wait = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        return RateLimitedError(f"mastodon: {what} rate limited", wait)
    if isinstance(error, MastodonUnauthorizedError) or status == 403:
        if not has_token:
            return SourceAuthError(
                f"mastodon: {what} needs a signed-in account (HTTP {status}): set {TOKEN_ENV} "
                "or remove the instance from [sources.mastodon]"
            )
        return SourceAuthError(
            f"mastodon: {what} refused the access token (HTTP {status}): check {TOKEN_ENV}"
        )
    if isinstance(error, MastodonNotFoundError) or status == 410:
        if gone:
            return TargetGoneError(f"mastodon: {what}: the status is gone (HTTP {status})")
        return SourceConfigError(
            f"mastodon: {what} not found (HTTP {status}): check [sources.mastodon] instance "
            "and hashtags"
        )
    if isinstance(error, MastodonServerError | MastodonNetworkError) or status in (
        TRANSIENT_STATUSES
    ):
        return TransientSourceError(f"mastodon: {what} failed: {_short(error)}")
    return SourceError(f"mastodon: {what} failed: {_short(error)}")


def _short(error: BaseException) -> str:
    return " ".join(" ".join(str(arg) for arg in error.args if arg is not None).split())[:200]


class MastodonClient:
    """One instance's Mastodon.py client; every call goes through `call` (classified, retried)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        retrier: Retrier,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.has_token = bool(token)
        self.retrier = retrier
        self._clock = clock
        self._headers: Mapping[str, str] = {}
        self._paced_for: float | None = None
        session = session or requests.Session()
        # Mastodon.py's rate-limit error carries no Retry-After: keep the last response's headers
        session.hooks["response"].append(self._remember)
        self.api = Mastodon(
            api_base_url=self.base_url,
            access_token=token or None,
            session=session,
            ratelimit_method="throw",
            version_check_mode="created",
            mastodon_version=VERSION_FLOOR,
            request_timeout=TIMEOUT_SECONDS,
            user_agent=USER_AGENT,
        )

    def _remember(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._headers = dict(response.headers)

    def call(self, what: str, fn: Callable[[Mastodon], T], gone: bool = False) -> T:
        """`fn(api)` through the retrier; errors become the taxonomy (`gone`: 404 = deleted)."""
        return self.retrier.call(lambda: self._once(what, fn, gone))

    def _once(self, what: str, fn: Callable[[Mastodon], T], gone: bool) -> T:
        self._pace(what)
        try:
            return fn(self.api)
        except MastodonError as error:
            where = f"{what} on {self.base_url}"
            raise classify(error, where, self._retry_after(), gone, self.has_token) from error

    def _retry_after(self) -> float | None:
        wait = retry_after_seconds(self._headers, self._clock())
        if wait is None and self.api.ratelimit_reset is not None:
            wait = max(0.0, float(self.api.ratelimit_reset) - self._clock())
        return wait

    def _pace(self, what: str) -> None:
        remaining, reset = self.api.ratelimit_remaining, self.api.ratelimit_reset
        if remaining is None or reset is None or remaining > LOW_WATER or reset == self._paced_for:
            return
        wait = float(reset) - self._clock()
        if wait <= 0:
            return
        if wait > self.retrier.max_wait:
            raise RateLimitedError(f"mastodon: {what}: request quota nearly used up", wait)
        log.info("mastodon: %s requests left on %s, pausing %.0f s", remaining, self.base_url, wait)
        self._paced_for = reset
        self.retrier.sleep(wait)

    def hashtags_available(self) -> bool:
        """Whether this instance serves hashtag timelines to us (Mastodon 4.5+ can restrict them).

        Also fills Mastodon.py's instance cache, so `timeline_hashtag` makes no unretried
        request of its own; servers without that setting count as available.
        """

        def probe(api: Mastodon) -> bool:
            try:
                return bool(
                    api.timeline_is_available("hashtag", with_auth=self.has_token, fail_hard=True)
                )
            except MastodonAPIError as error:
                cause = error.__cause__
                if isinstance(cause, MastodonNotFoundError) or not isinstance(cause, MastodonError):
                    return True  # an older server or one without the setting: just try
                raise cause from None

        return self.call("instance information", probe)
