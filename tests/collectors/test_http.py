"""The HTTP source client: statuses mapped to who must act, quota pacing from headers."""

from __future__ import annotations

import httpx
import pytest

from collectors.base import (
    RateLimitedError,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    TransientSourceError,
)
from collectors.http import HttpSource, redact
from collectors.resilience import Retrier
from tests.collectors.fakeweb import FakeWeb, Reply


def _client(web: FakeWeb, slept: list[float], now: list[float] | None = None) -> HttpSource:
    clock = now or [1_800_000_000.0]
    return HttpSource(
        "demo",
        "https://api.example",
        retrier=Retrier("demo", sleep=slept.append, max_attempts=3),
        transport=web.transport(),
        auth_hint="set SOCIALCRM_DEMO_TOKEN",
        clock=lambda: clock[0],
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, SourceAuthError),
        (403, SourceAuthError),
        (404, SourceConfigError),
        (410, SourceConfigError),
        (400, SourceError),
        (503, TransientSourceError),
    ],
)
def test_statuses_map_to_the_taxonomy(status: int, error: type[Exception]) -> None:
    web = FakeWeb()
    web.fail_always(status)
    with pytest.raises(error) as caught:
        _client(web, []).get("/items")
    assert "\n" not in str(caught.value)
    assert "demo: GET /items" in str(caught.value)


def test_an_auth_error_names_what_to_fix() -> None:
    web = FakeWeb()
    web.fail_always(401)
    with pytest.raises(SourceAuthError, match="set SOCIALCRM_DEMO_TOKEN"):
        _client(web, []).get("/items")


def test_transient_statuses_are_retried_and_bounded() -> None:
    web = FakeWeb()
    web.route("GET", "/items", {"ok": True})
    web.fail_next(502, times=2)
    slept: list[float] = []
    assert _client(web, slept).get("/items").json() == {"ok": True}
    assert len(slept) == 2
    assert len(web.calls("/items")) == 3


def test_connection_failures_are_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = HttpSource(
        "demo",
        retrier=Retrier("demo", sleep=lambda _s: None, max_attempts=2),
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(TransientSourceError, match="cannot reach"):
        client.get("https://api.example/items")


def test_a_429_waits_for_its_retry_after() -> None:
    web = FakeWeb()
    web.route("GET", "/items", [1])
    web.fail_next(429, {"Retry-After": "9"})
    slept: list[float] = []
    assert _client(web, slept).get("/items").json() == [1]
    assert slept == [9]


def test_an_exhausted_quota_pauses_until_its_reset() -> None:
    now = [1_800_000_000.0]
    web = FakeWeb()
    headers = {"ratelimit-remaining": "0", "ratelimit-reset": str(int(now[0]) + 40)}
    web.route("GET", "/items", Reply(200, [1], headers))
    slept: list[float] = []
    client = _client(web, slept, now)
    client.get("/items")
    assert slept == []
    client.get("/items")
    assert slept == [40]


def test_an_exhausted_quota_far_away_ends_the_run() -> None:
    now = [1_800_000_000.0]
    web = FakeWeb()
    headers = {"ratelimit-remaining": "0", "ratelimit-reset": str(int(now[0]) + 3600)}
    web.route("GET", "/items", Reply(200, [1], headers))
    client = _client(web, [], now)
    client.get("/items")
    with pytest.raises(RateLimitedError) as caught:
        client.get("/items")
    assert caught.value.retry_after == 3600


def test_an_exhausted_quota_on_one_host_does_not_pause_another() -> None:
    now = [1_800_000_000.0]
    web = FakeWeb()
    headers = {"ratelimit-remaining": "0", "ratelimit-reset": str(int(now[0]) + 3600)}
    web.route("GET", "/a.xml", Reply(200, [1], headers))
    web.route("GET", "/b.xml", [2])
    slept: list[float] = []
    client = _client(web, slept, now)
    client.get("https://a.example/a.xml")
    assert client.get("https://b.example/b.xml").json() == [2]
    assert slept == []
    with pytest.raises(RateLimitedError):
        client.get("https://a.example/a.xml")  # host A itself still waits for its reset


def test_errors_never_show_credentials_in_urls() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = HttpSource(
        "rss",
        retrier=Retrier("rss", sleep=lambda _s: None, max_attempts=1),
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(TransientSourceError) as caught:
        client.get("https://reader:s3cret@feeds.example:8443/private.xml?token=abc123")
    message = str(caught.value)
    assert "https://***@feeds.example:8443/private.xml?***" in message
    assert "s3cret" not in message
    assert "abc123" not in message
    assert redact("/search?api_key=k") == "/search?***"
    assert redact("https://feeds.example/blog.xml") == "https://feeds.example/blog.xml"
