"""Pure parsing of Bluesky views (postView, notification, thread) into mentions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from collectors.base import ThreadContext
from socialcrm.mention import Author, Mention

SOURCE: Final = "bluesky"
POST_COLLECTION: Final = "app.bsky.feed.post"
WANTED_REASONS: Final = frozenset({"mention", "reply", "quote"})
APP_URL: Final = "https://bsky.app"
_FRACTION = re.compile(r"(\.\d{6})\d+")
_AT_URI = re.compile(r"^at://([^/]+)/([^/]+)/([^/?#]+)$")
# `createdAt` is set by the client: dates outside this range are not real posting times, and
# near datetime's limits converting or adding to them overflows
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)

View = Mapping[str, Any]


def parse_datetime(value: Any) -> datetime | None:
    """An AT Protocol datetime as UTC, or None (also when out of range); zone-less is UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        moment = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment if EARLIEST <= moment < LATEST else None


def epoch_ms(moment: datetime | None) -> int | None:
    """Milliseconds since the epoch, for watermarks."""
    return None if moment is None else int(moment.timestamp() * 1000)


def split_at_uri(uri: str) -> tuple[str, str, str] | None:
    """`at://repo/collection/rkey` as its three parts, or None."""
    match = _AT_URI.match(uri)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def profile_url(handle: str, did: str | None) -> str:
    """The bsky.app profile page; the DID stands in for a handle that no longer resolves."""
    who = did if handle == "handle.invalid" and did else handle
    return f"{APP_URL}/profile/{who}"


def post_url(handle: str, did: str | None, uri: str) -> str | None:
    """The bsky.app page of a post."""
    parts = split_at_uri(uri)
    if parts is None:
        return None
    return f"{profile_url(handle, did or parts[0])}/post/{parts[2]}"


def _record(view: View) -> Mapping[str, Any]:
    record = view.get("record")
    return record if isinstance(record, Mapping) else {}


def _text_field(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


def post_time(view: View) -> datetime | None:
    """When a post was written: `record.createdAt`, else when it was indexed."""
    return parse_datetime(_record(view).get("createdAt")) or parse_datetime(view.get("indexedAt"))


def sort_time(view: View) -> datetime | None:
    """The time search results are ordered by (`sortAt`: the earlier of created and indexed)."""
    times = [t for t in (parse_datetime(_record(view).get("createdAt")),) if t is not None]
    if (indexed := parse_datetime(view.get("indexedAt"))) is not None:
        times.append(indexed)
    return min(times) if times else None


def invalid_reason(view: Any) -> str | None:
    """Why a post view cannot become a mention (None when it can)."""
    if not isinstance(view, Mapping):
        return "not a JSON object"
    uri = _text_field(view, "uri")
    if uri is None or split_at_uri(uri) is None:
        return "missing or malformed uri"
    if _text_field(view, "cid") is None:
        return "missing cid"
    author = view.get("author")
    if not isinstance(author, Mapping) or _text_field(author, "handle") is None:
        return "missing author handle"
    if _text_field(author, "did") is None:
        return "missing author did"
    record = view.get("record")
    if not isinstance(record, Mapping) or not isinstance(record.get("text"), str):
        return "missing record text"
    if post_time(view) is None:
        return "missing or malformed createdAt"
    return None


def _strong_ref(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    uri, cid = _text_field(value, "uri"), _text_field(value, "cid")
    return {"uri": uri, "cid": cid} if uri and cid else None


def reply_of(view: View) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """The root and parent strong refs of a reply post (None, None for a top-level post)."""
    reply = _record(view).get("reply")
    if not isinstance(reply, Mapping):
        return None, None
    return _strong_ref(reply.get("root")), _strong_ref(reply.get("parent"))


def to_author(profile: Mapping[str, Any]) -> Author:
    """A profileView(Basic) as an author; follower counts are not in these views."""
    handle, did = str(profile["handle"]), _text_field(profile, "did")
    return Author(
        handle=handle,
        external_id=did,
        display_name=_text_field(profile, "displayName"),
        url=profile_url(handle, did),
        bio=_text_field(profile, "description"),  # only in the fuller profile views
    )


def to_mention(view: View, matched_query: str | None) -> Mention:
    """A valid post view (see `invalid_reason`) as a mention."""
    record = _record(view)
    uri, cid = str(view["uri"]), str(view["cid"])
    author = to_author(view["author"])
    root, parent = reply_of(view)
    own = {"uri": uri, "cid": cid}
    langs = record.get("langs")
    created = post_time(view)
    if created is None:
        raise ValueError(f"{uri}: no valid createdAt (check invalid_reason first)")
    return Mention(
        source=SOURCE,
        source_id=uri,
        text=str(record["text"]),
        created_at=created,
        author=author,
        url=post_url(author.handle, author.external_id, uri),
        lang=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None,
        thread_id=(root or own)["uri"],
        parent_id=parent["uri"] if parent else None,
        matched_query=matched_query,
        extra={"cid": cid, "root": root or own},
    )


def is_wanted_notification(notification: Any) -> bool:
    """Mentions, replies and quotes are posts addressed to us; likes, reposts, follows are not."""
    return isinstance(notification, Mapping) and notification.get("reason") in WANTED_REASONS


def reply_refs(mention: Mention) -> dict[str, dict[str, str]]:
    """The `reply` of a post answering `mention`: its thread's root, and the mention as parent."""
    cid = mention.extra.get("cid")
    if not isinstance(cid, str) or not cid:
        raise ValueError(f"mention {mention.source_id} has no cid to reply to")
    parent = {"uri": mention.source_id, "cid": cid}
    root = _strong_ref(mention.extra.get("root")) or parent
    return {"root": root, "parent": parent}


def thread_context(thread: Any) -> ThreadContext:
    """The parents of a `threadViewPost`, oldest first, and the root among them."""
    parents: list[Mention] = []
    node = thread.get("parent") if isinstance(thread, Mapping) else None
    while isinstance(node, Mapping) and isinstance(node.get("post"), Mapping):
        post = node["post"]
        if invalid_reason(post) is None:
            parents.append(to_mention(post, None))
        node = node.get("parent")
    parents.reverse()
    root = parents[0] if parents and not reply_of_mention(parents[0]) else None
    return ThreadContext(root=root, parents=tuple(parents))


def reply_of_mention(mention: Mention) -> bool:
    """Whether a mention parsed by `to_mention` is itself a reply."""
    return mention.parent_id is not None
