"""An httpx client for HTTP sources: error taxonomy by status, one retry layer, header pacing."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from collectors.base import (
    RateLimitedError,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    TransientSourceError,
)
from collectors.resilience import Clock, Retrier, retry_after_seconds

log = logging.getLogger(__name__)

USER_AGENT = "socialcrm/0.1 (+https://github.com/socialcrm/socialcrm)"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
TRANSIENT_STATUSES = frozenset({408, 425, 500, 502, 503, 504})
MAX_ERROR_BODY = 200


class HttpSource:
    """One source's HTTP client: classifies failures, retries through `retrier`, paces itself.

    Pacing: when a response says no requests remain (`ratelimit-remaining: 0`), the next request
    to that host first waits until the advertised reset (or fails with `RateLimitedError` if that
    is too long); other hosts are not held up.
    """

    def __init__(
        self,
        source: str,
        base_url: str = "",
        *,
        retrier: Retrier | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        auth_hint: str = "check the source's credentials",
        clock: Clock = time.time,
    ) -> None:
        self.source = source
        self.retrier = retrier or Retrier(source)
        self.auth_hint = auth_hint
        self._clock = clock
        # per host: one client may read many hosts (RSS feeds), each with its own quota
        self._resume_at: dict[str, float] = {}
        self._client = httpx.Client(
            base_url=base_url,
            transport=transport,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=DEFAULT_TIMEOUT,
            follow_redirects=True,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET `url`, retried and classified."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST `url`, retried and classified (only idempotent posts should be retried)."""
        return self.request("POST", url, **kwargs)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request through the retry layer; a 2xx/3xx response or a `SourceError`."""
        return self.retrier.call(lambda: self._send_once(method, url, **kwargs))

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        host = self._host(url)
        self._wait_for_quota(host)
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as error:
            raise TransientSourceError(f"{self.source}: {redact(url)} timed out") from error
        except httpx.TransportError as error:
            reason = redact(str(error)) if str(error) else type(error).__name__
            raise TransientSourceError(
                f"{self.source}: cannot reach {redact(url)}: {reason}"
            ) from error
        self._remember_quota(host, response)
        self.raise_for_status(response)
        return response

    def raise_for_status(self, response: httpx.Response) -> None:
        """Turn an error status into the taxonomy: who must act on it."""
        status = response.status_code
        if status < 400:
            return
        where = f"{self.source}: {response.request.method} {response.request.url.path}"
        detail = _short(response.text)
        if status == 429:
            wait = retry_after_seconds(response.headers, self._clock())
            raise RateLimitedError(
                f"{where} rate limited (HTTP 429)", 60.0 if wait is None else wait
            )
        if status in (401, 403):
            raise SourceAuthError(
                f"{where} refused the credentials (HTTP {status}): {self.auth_hint}"
            )
        if status in TRANSIENT_STATUSES:
            raise TransientSourceError(f"{where} failed with HTTP {status}")
        if status in (404, 410):
            raise SourceConfigError(f"{where} not found (HTTP {status}): check the configured URL")
        raise SourceError(f"{where} answered HTTP {status}: {detail}")

    def _host(self, url: str) -> str:
        try:
            return httpx.URL(url).host or self._client.base_url.host
        except httpx.InvalidURL:
            return self._client.base_url.host

    def _wait_for_quota(self, host: str) -> None:
        resume_at = self._resume_at.pop(host, None)
        if resume_at is None:
            return
        wait = resume_at - self._clock()
        if wait > 0:
            if wait > self.retrier.max_wait:
                raise RateLimitedError(f"{self.source}: request quota used up", wait)
            log.info("%s: quota used up, pausing %.0f s until it resets", self.source, wait)
            self.retrier.sleep(wait)

    def _remember_quota(self, host: str, response: httpx.Response) -> None:
        remaining = response.headers.get("ratelimit-remaining") or response.headers.get(
            "x-ratelimit-remaining"
        )
        if remaining is None or response.status_code == 429:
            return
        try:
            exhausted = float(remaining) < 1
        except ValueError:
            return
        if exhausted:
            wait = retry_after_seconds(
                {k: v for k, v in response.headers.items() if "reset" in k.lower()}, self._clock()
            )
            self._resume_at[host] = self._clock() + (wait if wait is not None else 60.0)


def redact(url: str) -> str:
    """`url` fit for a message, a log line or a locator: credentials and query string masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unreadable URL>"
    netloc = ("***@" if "@" in parts.netloc else "") + host + port
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line[:MAX_ERROR_BODY] + ("…" if len(line) > MAX_ERROR_BODY else "")
