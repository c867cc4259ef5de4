"""Signed session cookies (HttpOnly, SameSite=Lax, Secure by setting), CSRF tokens, headers."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from http.cookies import SimpleCookie
from typing import Any, Final, Literal

import itsdangerous
from itsdangerous.exc import BadSignature
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE: Final = "socialcrm_session"
CSRF_FIELD: Final = "csrf_token"
_CSRF_KEY: Final = "csrf"

Secure = Literal["auto", "always", "never"]


class SessionMiddleware:
    """Keeps `scope["session"]` in a signed, timestamped cookie; unlike Starlette's, its
    Secure flag can follow the request (HTTPS directly or through a proxy)."""

    def __init__(self, app: ASGIApp, secret: str, max_age: int, secure: Secure) -> None:
        self.app = app
        self.signer = itsdangerous.TimestampSigner(secret, salt="socialcrm.session")
        self.max_age = max_age
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Load the session before the app runs; write (or clear) the cookie as it answers."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        scope["session"] = self._load(connection.cookies.get(COOKIE))
        had_cookie = COOKIE in connection.cookies
        secure = self._is_secure(connection)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session: dict[str, Any] = scope["session"]
                headers = MutableHeaders(scope=message)
                if session:
                    headers.append("Set-Cookie", self._cookie(self._dump(session), secure))
                elif had_cookie:
                    headers.append("Set-Cookie", self._cookie("", secure, expire=True))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, raw: str | None) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            data = self.signer.unsign(raw.encode("utf-8"), max_age=self.max_age)
            loaded = json.loads(base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4)))
        except (BadSignature, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _dump(self, session: dict[str, Any]) -> str:
        # no padding: a cookie value with "=" in it would be sent quoted
        data = base64.urlsafe_b64encode(json.dumps(session).encode("utf-8")).rstrip(b"=")
        return self.signer.sign(data).decode("utf-8")

    def _is_secure(self, connection: HTTPConnection) -> bool:
        if self.secure != "auto":
            return self.secure == "always"
        forwarded = connection.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        return connection.url.scheme == "https" or forwarded.lower() == "https"

    def _cookie(self, value: str, secure: bool, expire: bool = False) -> str:
        cookie: SimpleCookie = SimpleCookie()
        cookie[COOKIE] = value
        morsel = cookie[COOKIE]
        morsel["path"] = "/"
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        morsel["max-age"] = 0 if expire else self.max_age
        if secure:
            morsel["secure"] = True
        return morsel.OutputString()


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = session[_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: dict[str, Any], sent: object) -> bool:
    """Whether a form's token is the session's (compared in constant time)."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str) or not isinstance(sent, str):
        return False
    return hmac.compare_digest(token.encode(), sent.encode())


def start_session(session: dict[str, Any], user_id: int, epoch: int) -> None:
    """A fresh session for a user who just logged in: new CSRF token, nothing carried over.

    `epoch` is the user's session epoch: once it changes in the database, the session is over.
    """
    session.clear()
    session["uid"] = user_id
    session["epoch"] = epoch
    session["since"] = int(time.time())
    csrf_token(session)


def session_user(session: dict[str, Any]) -> tuple[int, int] | None:
    """The user id and session epoch the session claims (unchecked), if it claims any."""
    uid, epoch = session.get("uid"), session.get("epoch")
    if type(uid) is not int or type(epoch) is not int:
        return None
    return uid, epoch


class HeadersMiddleware:
    """Adds security headers to every response; `page_headers` only outside `/api`."""

    def __init__(self, app: ASGIApp, page_headers: dict[str, str]) -> None:
        self.app = app
        self.page_headers = page_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers the response does not set itself."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        # the API's own docs page is the API's business; every dashboard page gets these
        extra = {} if path.startswith("/api") else dict(self.page_headers)
        if path.startswith("/static/"):
            extra.pop("Cache-Control", None)  # our CSS and Plotly may be cached; pages not
        wanted = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", **extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
