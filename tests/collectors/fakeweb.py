"""A fake web server for collector tests: routes by method and path, serves httpx and requests.

The same routes answer through `httpx.MockTransport` (HTTP sources) and through a `requests`
adapter (praw and Mastodon.py take a `requests.Session`), so the real client libraries run.
Failures are injected per test: the next N requests answer a status, or every request does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import requests
from requests.adapters import BaseAdapter


@dataclass(frozen=True)
class Request:
    """What a route handler sees of a request."""

    method: str
    url: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body as a form."""
        return dict(parse_qsl(self.body.decode()))


@dataclass(frozen=True)
class Reply:
    """What a route handler answers."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        """The body as bytes (JSON unless it already is text or bytes)."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode() if self.body is not None else b""

    def content_type(self) -> str:
        """JSON unless the handler set a type or answered text."""
        for key, value in self.headers.items():
            if key.lower() == "content-type":
                return value
        return "text/plain" if isinstance(self.body, str | bytes) else "application/json"


Handler = Callable[[Request], Reply]


@dataclass
class FakeWeb:
    """Routes `(METHOD, path)` to handlers; records every request; injects failures."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _failures: list[Reply] = field(default_factory=list)
    _always: Reply | None = None

    def route(self, method: str, path: str, handler: Handler | Reply | Any) -> None:
        """Answer `method path` with `handler(request)`, a fixed `Reply`, or a JSON body."""
        if callable(handler):
            self.routes[(method.upper(), path)] = handler
        else:
            reply = handler if isinstance(handler, Reply) else Reply(body=handler)
            self.routes[(method.upper(), path)] = lambda _request: reply

    def fail_next(
        self, status: int, headers: Mapping[str, str] | None = None, times: int = 1
    ) -> None:
        """The next `times` requests answer `status` (e.g. 429 with `Retry-After`, 503)."""
        self._failures += [Reply(status, {"error": f"HTTP {status}"}, dict(headers or {}))] * times

    def fail_always(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        """Every request from now on answers `status` (e.g. 401 for revoked credentials)."""
        self._always = Reply(status, {"error": f"HTTP {status}"}, dict(headers or {}))

    def answer(self, request: Request) -> Reply:
        """The reply to `request`: an injected failure, its route, or 404."""
        self.requests.append(request)
        if self._always is not None:
            return self._always
        if self._failures:
            return self._failures.pop(0)
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return Reply(404, {"error": f"no route for {request.method} {request.path}"})
        return handler(request)

    def calls(self, path: str) -> list[Request]:
        """The requests made to `path`, in order."""
        return [request for request in self.requests if request.path == path]

    # -- httpx ---------------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        """An httpx transport served by this fake."""
        return httpx.MockTransport(self._httpx)

    def _httpx(self, request: httpx.Request) -> httpx.Response:
        seen = Request(
            request.method,
            str(request.url),
            request.url.path,
            dict(request.url.params),
            dict(request.headers),
            request.read(),
        )
        reply = self.answer(seen)
        headers = {"content-type": reply.content_type(), **reply.headers}
        return httpx.Response(reply.status, headers=headers, content=reply.content())

    # -- requests ------------------------------------------------------------------------
    def session(self) -> requests.Session:
        """A `requests.Session` served by this fake, for praw and Mastodon.py."""
        session = requests.Session()
        adapter = _RequestsAdapter(self)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session


class _RequestsAdapter(BaseAdapter):
    def __init__(self, web: FakeWeb) -> None:
        super().__init__()
        self.web = web

    def send(self, request: requests.PreparedRequest, **_kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        body = request.body or b""
        seen = Request(
            (request.method or "GET").upper(),
            request.url or "",
            parts.path,
            dict(parse_qsl(parts.query)),
            dict(request.headers),
            body.encode() if isinstance(body, str) else bytes(body),
        )
        reply = self.web.answer(seen)
        response = requests.Response()
        response.status_code = reply.status
        response._content = reply.content()
        response.headers.update({"Content-Type": reply.content_type(), **reply.headers})
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Nothing to release."""
