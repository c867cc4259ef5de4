"""Bearer-token authentication of the REST API: 401 without a live token, 403 without the scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from socialcrm.web import tokens
from socialcrm.web.deps import db_of

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from `socialcrm tokens create NAME --scope read [--scope write]`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def unauthorized(message: str, error: str | None = None) -> HTTPException:
    """A 401 that tells the client to send a bearer token (RFC 6750)."""
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, {"WWW-Authenticate": challenge})


def authenticated(request: Request, credentials: Credentials) -> tokens.TokenInfo:
    """The live token the request carries, or a 401."""
    if credentials is None:
        raise unauthorized("send an API token: Authorization: Bearer <token>")
    with db_of(request).transaction() as session:
        info = tokens.authenticate(session, credentials.credentials)
    if info is None:
        raise unauthorized("the API token is unknown or revoked", "invalid_token")
    return info


def requires(scope: tokens.Scope) -> Callable[[tokens.TokenInfo], tokens.TokenInfo]:
    """A dependency giving the request's token when it has `scope` (403 when it has not)."""

    def check(info: Annotated[tokens.TokenInfo, Depends(authenticated)]) -> tokens.TokenInfo:
        if not info.allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this API token lacks the {scope} scope",
                {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return info

    return check


Reader = Annotated[tokens.TokenInfo, Depends(requires("read"))]
Writer = Annotated[tokens.TokenInfo, Depends(requires("write"))]
