"""XRPC over httpx with an app-password session: create once, refresh when the token expires."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from collectors.base import SourceAuthError, SourceConfigError, SourceError
from collectors.http import HttpSource
from collectors.resilience import Clock, Retrier, Sleep

log = logging.getLogger(__name__)

SOURCE: Final = "bluesky"
PASSWORD_ENV: Final = "SOCIALCRM_BLUESKY_APP_PASSWORD"  # noqa: S105 (a variable name)
# a session the server no longer takes: refresh it (or log in again) and repeat the call once
SESSION_ERRORS: Final = frozenset({"ExpiredToken", "InvalidToken"})
AUTH_HINT: Final = f"check {PASSWORD_ENV} (an app password of sources.bluesky.handle)"


class XrpcError(SourceError):
    """An XRPC call failed with a named error (the JSON body's `error`)."""

    def __init__(self, message: str, status: int, error: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class ExpiredTokenError(XrpcError):
    """The access token expired: refresh the session and call again."""


def xrpc_error_name(response: httpx.Response) -> tuple[str | None, str]:
    """The `error` and `message` of an XRPC error body (None and '' when it has none)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, ""
    if not isinstance(body, Mapping):
        return None, ""
    error, message = body.get("error"), body.get("message")
    return (error if isinstance(error, str) else None), (
        message if isinstance(message, str) else ""
    )


class _XrpcHttp(HttpSource):
    """HttpSource that names XRPC errors: an expired token and 4xx errors by their `error`."""

    def raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (400, 401):
            error, message = xrpc_error_name(response)
            if error in SESSION_ERRORS:
                raise ExpiredTokenError(f"{self.source}: access token expired", status, error)
            if status == 400:
                where = f"{self.source}: {response.request.url.path}"
                if error is None:  # not an XRPC error body: likely not an XRPC server at all
                    raise XrpcError(f"{where} failed with HTTP 400 and no XRPC error", status, None)
                raise XrpcError(f"{where} failed: {error}: {message[:200]}", status, error)
        super().raise_for_status(response)


@dataclass(frozen=True, slots=True)
class Session:
    """The tokens and identity of a logged-in account (kept in memory only)."""

    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)
    did: str
    handle: str

    @classmethod
    def from_json(cls, body: Any) -> Session:
        """Read a createSession/refreshSession answer."""
        try:
            return cls(
                str(body["accessJwt"]),
                str(body["refreshJwt"]),
                str(body["did"]),
                str(body["handle"]),
            )
        except (KeyError, TypeError) as error:
            raise SourceAuthError(f"{SOURCE}: the server sent no session: {AUTH_HINT}") from error


class XrpcClient:
    """Calls XRPC methods as the configured account; one session for the client's lifetime.

    bsky.social allows few logins (createSession: 30 per 5 minutes, 300 per day), so the
    session is created once and refreshed when the access token expires (about every 2 hours).
    """

    def __init__(
        self,
        service: str,
        handle: str,
        password: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
    ) -> None:
        self.handle = handle.strip().removeprefix("@")
        self.service = service.rstrip("/")
        # for messages: a URL with user:password@ must not put them in a log line
        self._shown = str(httpx.URL(self.service).copy_with(userinfo=b""))
        self._password = password
        self.http = _XrpcHttp(
            SOURCE,
            base_url=self.service + "/xrpc/",
            retrier=Retrier(SOURCE, sleep=sleep),
            transport=transport,
            auth_hint=AUTH_HINT,
            clock=clock,
        )
        self._session: Session | None = None

    def require_credentials(self) -> None:
        """Raise `SourceConfigError` naming the setting or variable that is missing."""
        if not self.handle:
            raise SourceConfigError(
                f"{SOURCE}: set sources.bluesky.handle in settings.toml to the brand account"
            )
        if not self._password:
            raise SourceConfigError(f"{SOURCE}: set {PASSWORD_ENV} to an app password")

    @property
    def session(self) -> Session:
        """The current session, logging in first if there is none."""
        if self._session is None:
            self._session = self._login()
        return self._session

    def _login(self) -> Session:
        self.require_credentials()
        body = {"identifier": self.handle, "password": self._password}
        try:
            response = self.http.post("com.atproto.server.createSession", json=body)
        except XrpcError as error:
            if error.error is None:
                raise self._not_xrpc() from None
            # e.g. AccountTakedown, AuthFactorTokenRequired: a person must act
            raise SourceAuthError(f"{SOURCE}: login refused ({error.error}): {AUTH_HINT}") from None
        log.info("%s: logged in as %s", SOURCE, self.handle)
        return Session.from_json(self._json(response))

    def _refresh(self, session: Session) -> Session:
        headers = {"Authorization": f"Bearer {session.refresh_jwt}"}
        try:
            response = self.http.post("com.atproto.server.refreshSession", headers=headers)
        except (XrpcError, SourceAuthError):
            log.info("%s: refresh token refused, logging in again", SOURCE)
            return self._login()
        return Session.from_json(self._json(response))

    def query(self, nsid: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an XRPC query; parameters set to None are left out."""
        kept = {key: value for key, value in (params or {}).items() if value is not None}
        return self._call("GET", nsid, params=kept)

    def procedure(self, nsid: str, body: Mapping[str, Any]) -> Any:
        """POST an XRPC procedure with a JSON body."""
        return self._call("POST", nsid, json=dict(body))

    def _call(self, method: str, nsid: str, **kwargs: Any) -> Any:
        session = self.session
        try:
            return self._send(session, method, nsid, **kwargs)
        except ExpiredTokenError:
            log.info("%s: access token expired, refreshing the session", SOURCE)
            self._session = self._refresh(session)
            return self._send(self._session, method, nsid, **kwargs)

    def _send(self, session: Session, method: str, nsid: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {session.access_jwt}"}
        return self._json(self.http.request(method, nsid, headers=headers, **kwargs))

    def _json(self, response: httpx.Response) -> Any:
        """The body of a 2xx answer; a body that is not JSON means `service` is no XRPC server."""
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._not_xrpc() from None

    def _not_xrpc(self) -> SourceConfigError:
        return SourceConfigError(
            f"{SOURCE}: {self._shown} did not answer as an XRPC server: "
            "check sources.bluesky.service"
        )

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()
