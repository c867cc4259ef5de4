"""Replies on Bluesky: a post record in the brand account's repo, keyed by the idempotency key."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from collectors.base import (
    PostedReply,
    RateLimitedError,
    SourceAuthError,
    SourceError,
    TargetGoneError,
)
from collectors.bluesky.client import XrpcClient, XrpcError
from collectors.bluesky.parse import (
    POST_COLLECTION,
    SOURCE,
    invalid_reason,
    post_url,
    reply_of,
    reply_refs,
    split_at_uri,
)
from collectors.bluesky.tid import derive_rkey
from socialcrm.mention import Mention, utcnow

log = logging.getLogger(__name__)

GONE_ERRORS: Final = frozenset({"NotFound", "RecordNotFound"})


def reply_record(
    mention: Mention, text: str, created_at: str, langs: list[str] | None = None
) -> dict[str, Any]:
    """The `app.bsky.feed.post` record answering `mention` in its thread."""
    record: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": text,
        "createdAt": created_at,
        "reply": reply_refs(mention),
    }
    if langs:
        record["langs"] = langs
    return record


def _with_refs(mention: Mention, view: Mapping[str, Any]) -> Mention:
    """The mention with the cid and thread root a reply needs, from `view` if it lacks them."""
    if mention.extra.get("cid") or invalid_reason(view) is not None:
        return mention
    own = {"uri": str(view["uri"]), "cid": str(view["cid"])}
    root = reply_of(view)[0] or own
    return replace(mention, extra={**mention.extra, "cid": own["cid"], "root": root})


class BlueskyResponder:
    """Posts replies as the brand account.

    Idempotent by record key: the key of the reply record is a TID derived from the
    idempotency key, so posting again after a crash or a lost answer hits the existing record
    (the PDS refuses to create it twice) and its uri is returned instead of a second reply.
    """

    def __init__(self, client: XrpcClient, clock: Any = utcnow) -> None:
        self.client = client
        self.clock = clock

    @property
    def name(self) -> str:
        """Always `bluesky`."""
        return SOURCE

    def post(self, mention: Mention, text: str, idempotency_key: str) -> PostedReply:
        """Reply to `mention`; TargetGoneError when it was deleted."""
        mention = _with_refs(mention, self._require_parent(mention))
        session = self.client.session
        rkey = derive_rkey(idempotency_key, mention.created_at)
        langs = [mention.lang] if mention.lang else None
        created = self.clock().isoformat().replace("+00:00", "Z")
        body = {
            "repo": session.did,
            "collection": POST_COLLECTION,
            "rkey": rkey,
            "record": reply_record(mention, text, created, langs),
        }
        try:
            answer = self.client.procedure("com.atproto.repo.createRecord", body)
        except (SourceAuthError, RateLimitedError):
            raise
        except SourceError as error:
            existing = self._existing(session.did, rkey)
            if existing is None:
                raise
            log.info("%s: reply %s was already posted (%s)", SOURCE, existing, error)
            return self._posted(existing, session.handle, session.did)
        return self._posted(str(answer["uri"]), session.handle, session.did)

    def _require_parent(self, mention: Mention) -> Mapping[str, Any]:
        """The mention's post view as the AppView has it now; TargetGoneError if it is gone."""
        try:
            body = self.client.query("app.bsky.feed.getPostThread", {"uri": mention.source_id})
        except XrpcError as error:
            if error.error in GONE_ERRORS:
                raise TargetGoneError(f"{SOURCE}: {mention.source_id} is gone") from None
            raise
        thread = body.get("thread") if isinstance(body, Mapping) else None
        if not isinstance(thread, Mapping) or thread.get("notFound") or thread.get("blocked"):
            raise TargetGoneError(f"{SOURCE}: {mention.source_id} is deleted or blocked")
        post = thread.get("post")
        return post if isinstance(post, Mapping) else {}

    def _existing(self, did: str, rkey: str) -> str | None:
        params = {"repo": did, "collection": POST_COLLECTION, "rkey": rkey}
        try:
            body = self.client.query("com.atproto.repo.getRecord", params)
        except XrpcError:
            return None
        uri = body.get("uri") if isinstance(body, Mapping) else None
        return uri if isinstance(uri, str) else None

    @staticmethod
    def _posted(uri: str, handle: str, did: str) -> PostedReply:
        parts = split_at_uri(uri)
        return PostedReply(uri, post_url(handle, did, uri) if parts else None)
