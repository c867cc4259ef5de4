"""`POST /api/ingest`: a source that pushes sends one mention (import format), HMAC-signed.

The signature is HMAC-SHA256 with `SOCIALCRM_INGEST_SECRET` over `<timestamp>.<body>`, sent as
`X-Socialcrm-Signature: sha256=<hex>` with `X-Socialcrm-Timestamp: <Unix seconds>`. A request
older (or newer) than five minutes is refused; a replay inside the window stores nothing twice,
because `(source, id)` is unique. A mention may name only a source of `[web] ingest_sources`,
which leave the collectors' own sources alone unless `ingest_collector_sources` is set: a push
must not take the id of a mention a collector has yet to fetch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from collectors.files import parse_record
from socialcrm import models, pseudonym, storage
from socialcrm.mention import Cursor, Mention, Page
from socialcrm.web.api_models import Error, IngestResult
from socialcrm.web.deps import db_of, settings_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])

TIMESTAMP_HEADER: Final = "X-Socialcrm-Timestamp"
SIGNATURE_HEADER: Final = "X-Socialcrm-Signature"
REPLAY_WINDOW_SECONDS: Final = 300
MAX_BODY_BYTES: Final = 256 * 1024
CURSOR_NAME: Final = "ingest"  # save_page keeps a cursor; pushes resume nothing, it only counts
MAX_FOLLOWERS: Final = 2**31 - 1  # the column is a 32-bit integer


class IngestMention(BaseModel):
    """One mention in the import format (docs/import.md); other fields are ignored."""

    id: str | int = Field(description="The item's id on its platform (≤ 255 characters).")
    text: str
    created_at: str | float = Field(description="ISO 8601 with a time zone, or Unix seconds.")
    author: str = Field(description="The author's handle.")
    source: str | None = Field(
        None, description="One of [web] ingest_sources (default: the first, `webhook`)."
    )
    author_id: str | None = None
    author_name: str | None = None
    author_url: str | None = None
    author_followers: int | None = None
    author_bio: str | None = None
    url: str | None = None
    title: str | None = None
    lang: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    query: str | None = Field(None, description="The keyword or query that matched it.")


class SignatureError(Exception):
    """The request is not signed with the ingest secret (or is too old); the message says how."""


class PayloadError(ValueError):
    """The body is no mention in the import format; the message is the one-line reason."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (Unix seconds, as text)."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """Raise SignatureError unless the body is signed with `secret` within the replay window."""
    if not timestamp or not signature:
        raise SignatureError(f"sign the request: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds")
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than 5 minutes from now: sign again")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body and timestamp")


def to_mention(body: bytes, sources: Sequence[str]) -> Mention:
    """The mention the body describes, or PayloadError saying what is wrong with it.

    `sources`: the sources a push may name; a mention naming none gets the first.
    """
    try:
        fields = json.loads(body)
    except (ValueError, RecursionError):
        raise PayloadError("the body is not JSON: send one JSON object (docs/import.md)") from None
    if not isinstance(fields, dict):
        raise PayloadError("the body must be one JSON object: a mention in the import format")
    _storable(fields)
    try:
        mention = parse_record(fields, sources[0])
    except (ValueError, OverflowError, OSError) as error:  # out-of-range times, bad fields
        raise PayloadError(str(error) or "the mention's fields are not valid") from None
    if mention.source not in sources:
        raise PayloadError(
            f"source {mention.source!r} takes no pushes: "
            f"use {' or '.join(repr(name) for name in sources)} ([web] ingest_sources)"
        )
    followers = mention.author.followers
    if followers is not None and not 0 <= followers <= MAX_FOLLOWERS:
        raise PayloadError(f"author_followers must be between 0 and {MAX_FOLLOWERS}")
    return mention


def _storable(fields: Mapping[str, Any]) -> None:
    """Refuse text the database cannot hold: NUL characters and lone surrogates."""
    for key, value in fields.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise PayloadError(f"{key} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError(f"{key} is not valid Unicode text") from None


async def raw_body(request: Request) -> bytes:
    """The request body, refused (413) beyond MAX_BODY_BYTES without reading it all."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"send at most {MAX_BODY_BYTES} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _errors() -> dict[int | str, dict[str, Any]]:
    return {
        status.HTTP_200_OK: {"model": IngestResult, "description": "Already stored before."},
        status.HTTP_401_UNAUTHORIZED: {"model": Error, "description": "Bad or stale signature."},
        status.HTTP_413_CONTENT_TOO_LARGE: {"model": Error, "description": "Body too large."},
        status.HTTP_422_UNPROCESSABLE_CONTENT: {
            "model": Error,
            "description": "Not a mention in the import format, or a source that takes no "
            "pushes; `detail` says why.",
        },
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": Error,
            "description": "Ingestion is off: SOCIALCRM_INGEST_SECRET is not set.",
        },
    }


_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": IngestMention.model_json_schema()}},
    }
}


@router.post(
    "/ingest",
    status_code=status.HTTP_201_CREATED,
    response_model=IngestResult,
    responses=_errors(),
    openapi_extra=_BODY,
)
def ingest(
    request: Request,
    response: Response,
    body: Annotated[bytes, Depends(raw_body)],
    x_socialcrm_timestamp: Annotated[str | None, Header(description="Unix seconds.")] = None,
    x_socialcrm_signature: Annotated[
        str | None, Header(description="sha256=<hex HMAC of `timestamp.body`>.")
    ] = None,
) -> IngestResult:
    """Store one pushed mention like an import (201), or say it was stored before (200)."""
    settings = settings_of(request)
    secret = settings.secrets.ingest_secret
    if secret is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "ingestion is off: set SOCIALCRM_INGEST_SECRET"
        )
    try:
        verify(
            secret.get_secret_value().encode("utf-8"),
            x_socialcrm_timestamp,
            x_socialcrm_signature,
            body,
            time.time(),
        )
    except SignatureError as error:
        log.warning("refused a push to /api/ingest: %s", error)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    try:
        mention = to_mention(body, settings.web.ingest_sources)
    except PayloadError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    key = pseudonym.settings_key(settings)
    mention_id, created = _store(request, mention, key, x_socialcrm_timestamp or "")
    if not created:
        response.status_code = status.HTTP_200_OK
    return IngestResult(id=mention_id, created=created)


def _store(request: Request, mention: Mention, key: bytes | None, at: str) -> tuple[int, bool]:
    """Save like an import; the mention's id and whether it is new."""
    page = Page((mention,), Cursor({"last_timestamp": at}))
    with db_of(request).transaction() as session:
        result = storage.save_page(session, CURSOR_NAME, page, pseudonym_key=key)
        if result.new_ids:
            return result.new_ids[0], True
        stored_id = (
            mention.source_id if key is None else pseudonym.keyed_hash(mention.source_id, key)
        )
        existing = session.scalar(
            select(models.Mention.id).where(
                models.Mention.source == mention.source, models.Mention.source_id == stored_id
            )
        )
    if existing is None:  # cannot happen: the insert conflicted with this very row
        raise RuntimeError(f"mention {mention.source}:{mention.source_id} vanished")
    return existing, False
