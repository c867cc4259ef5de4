"""REST API tokens: made once, stored only as their SHA-256, limited by scopes, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_sync.customers import audit
from socialcrm import models
from socialcrm.mention import utcnow

Scope = Literal["read", "write"]
SCOPES: Final[tuple[Scope, ...]] = ("read", "write")
PREFIX: Final = "scrm_"
# secrets.token_urlsafe(32) is 43 characters; anything much longer is not one of ours
MAX_TOKEN_CHARS: Final = 128
MAX_NAME_CHARS: Final = 255
# last_used_at is written at most this often per token: a busy client is not a write per request
LAST_USED_EVERY: Final = timedelta(minutes=1)


class TokenError(ValueError):
    """A token that cannot be made or revoked as asked; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is known about a token (never the token itself)."""

    id: int
    name: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def allows(self, scope: Scope) -> bool:
        """Whether the token carries `scope`."""
        return scope in self.scopes


def hash_token(token: str) -> str:
    """The SHA-256 hex digest a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> tuple[Scope, ...]:
    """The scopes, de-duplicated in a fixed order; TokenError for an unknown or missing one."""
    wanted = set(scopes)
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise TokenError(f"unknown scope {unknown[0]!r}: use {' or '.join(SCOPES)}")
    if not wanted:
        raise TokenError("a token needs at least one scope: read and/or write")
    return tuple(scope for scope in SCOPES if scope in wanted)


def create(session: Session, name: str, scopes: Iterable[str], actor: str) -> tuple[str, TokenInfo]:
    """A new token and its info; the token is returned only here and never stored in clear."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise TokenError(f"the token name must be 1 to {MAX_NAME_CHARS} characters")
    checked = check_scopes(scopes)
    token = PREFIX + secrets.token_urlsafe(32)
    row = models.ApiToken(name=name, token_hash=hash_token(token), scopes=list(checked))
    session.add(row)
    session.flush()
    audit(session, actor, "token.create", ("api_token", row.id), after={"scopes": list(checked)})
    return token, _info(row)


def list_all(session: Session) -> list[TokenInfo]:
    """Every token, revoked ones too, oldest first."""
    rows = session.scalars(select(models.ApiToken).order_by(models.ApiToken.id))
    return [_info(row) for row in rows]


def revoke(session: Session, token_id: int, actor: str) -> TokenInfo:
    """Revoke the token with this id (revoking twice changes nothing); TokenError if unknown."""
    row = session.get(models.ApiToken, token_id)
    if row is None:
        raise TokenError(f"no token has id {token_id}: see `socialcrm tokens list`")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(session, actor, "token.revoke", ("api_token", row.id))
    return _info(row)


def authenticate(session: Session, token: str, now: datetime | None = None) -> TokenInfo | None:
    """The live token `token` is, or None; notes its use (at most once a minute)."""
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    # the lookup is by the digest: timing reveals nothing about a stored token's characters
    row = session.scalar(
        select(models.ApiToken).where(
            models.ApiToken.token_hash == hash_token(token), models.ApiToken.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        session.execute(
            update(models.ApiToken).where(models.ApiToken.id == row.id).values(last_used_at=now)
        )
        row.last_used_at = now
    return _info(row)


def _info(row: models.ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        scopes=_known(row.scopes),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _known(scopes: Sequence[str]) -> tuple[Scope, ...]:
    """The stored scopes this code knows (a hand-edited unknown one grants nothing)."""
    return tuple(s for s in SCOPES if s in scopes)
