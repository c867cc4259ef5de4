"""Pure parsing: praw objects to plain dicts, plain dicts to mentions (or a reason why not)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from collectors.queries import Query, QueryKind, Watch
from socialcrm.mention import Author, Mention

SOURCE = "reddit"
SITE = "https://www.reddit.com"
MENTIONS = Query(QueryKind.ACCOUNT, "mentions")
REPLIES = Query(QueryKind.ACCOUNT, "replies")
MESSAGES = Query(QueryKind.ACCOUNT, "messages")
# the largest epoch seconds a datetime can hold (9999-12-31); beyond it is not a time
MAX_EPOCH = 253_402_300_799.0
# what a mention, its reply or its thread needs; everything else Reddit sends is left behind
FIELDS = (
    "name",
    "id",
    "author",
    "author_fullname",
    "created_utc",
    "edited",
    "title",
    "selftext",
    "body",
    "permalink",
    "subreddit",
    "link_id",
    "parent_id",
    "context",
    "crosspost_parent",
    "removed_by_category",
    "subject",
    "first_message_name",
    "dest",
    "type",
    "was_comment",
)
GONE = ("[deleted]", "[removed]")


class ItemError(ValueError):
    """An item that cannot become a mention; the message is the quarantine reason."""


def to_plain(thing: Any) -> dict[str, Any]:
    """The fields we keep of a praw Submission/Comment, as JSON values, without any request."""
    data = vars(thing) if not isinstance(thing, Mapping) else thing
    plain = {key: _plain_value(data[key]) for key in FIELDS if key in data}
    originals = data.get("crosspost_parent_list")
    if isinstance(originals, list) and originals and isinstance(originals[0], Mapping):
        plain["crosspost_original"] = to_plain(originals[0])
    return plain


def flatten(thing: Any) -> list[dict[str, Any]]:
    """A listing entry as plain items: a private message thread gives its root and every reply.

    `/message/messages` nests a conversation's follow-ups in the root's `replies` (a list of
    praw Messages, or a raw Listing), and sorts threads by their latest message.
    """
    plain = to_plain(thing)
    if not str(plain.get("name", "")).startswith("t4_"):
        return [plain]
    data = vars(thing) if not isinstance(thing, Mapping) else thing
    return [plain, *(to_plain(reply) for reply in _nested(data.get("replies")))]


def _nested(replies: Any) -> list[Any]:
    if isinstance(replies, list):
        return replies
    if isinstance(replies, Mapping):
        children = (replies.get("data") or {}).get("children") or []
        return [child.get("data", {}) for child in children if isinstance(child, Mapping)]
    return []


def inbox_query(data: Mapping[str, Any]) -> Query:
    """What an inbox item is to the account: a private message, a mention, or a reply."""
    if str(data.get("name", "")).startswith("t4_"):
        return MESSAGES
    if data.get("type") == "username_mention" or data.get("subject") == "username mention":
        return MENTIONS
    return REPLIES


def _plain_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    # praw's Redditor and Subreddit objects print as their name and need no request for it
    return str(value)


def payload(data: Mapping[str, Any]) -> str:
    """The quarantine payload: the plain dict as JSON text."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)


def is_gone(data: Mapping[str, Any]) -> bool:
    """Whether the item was deleted or removed (skipped: neither a mention nor quarantined)."""
    author = data.get("author")
    if author is None or author in GONE:
        return True
    if data.get("removed_by_category"):
        return True
    return any(data.get(key) in GONE for key in ("body", "selftext"))


def is_epoch(value: Any) -> TypeGuard[int | float]:
    """Whether `value` is epoch seconds a datetime can hold (not a bool, NaN or year 10000)."""
    return (
        not isinstance(value, bool) and isinstance(value, int | float) and 0 <= value <= MAX_EPOCH
    )


def created_at(value: Any) -> datetime:
    """`created_utc` (epoch seconds) as a UTC datetime."""
    if not is_epoch(value):
        raise ItemError(f"created_utc {value!r} is not epoch seconds")
    return datetime.fromtimestamp(value, UTC)


def edited_at(value: Any) -> datetime | None:
    """`edited` is False or the epoch seconds of the last edit (old items may say True)."""
    return datetime.fromtimestamp(value, UTC) if is_epoch(value) else None


def _required(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ItemError(f"{key} is missing or not a string")
    return value


def _text(data: Mapping[str, Any], fullname: str) -> str:
    if fullname.startswith("t4_") and isinstance(subject := data.get("subject"), str):
        body = data.get("body")
        if not isinstance(body, str) or not body.strip():
            raise ItemError("body is missing or empty")
        return f"{subject}\n\n{body}"
    if fullname.startswith("t3_"):
        title = _required(data, "title")
        body = data.get("selftext") or ""
        return f"{title}\n\n{body}" if body else title
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ItemError("body is missing or empty")
    return body


def _thread_id(data: Mapping[str, Any], fullname: str) -> str | None:
    if fullname.startswith("t3_"):
        return fullname
    if fullname.startswith("t4_"):
        first = data.get("first_message_name")
        return first if isinstance(first, str) and first else fullname
    if isinstance(link := data.get("link_id"), str):
        return link
    # inbox items carry the thread only in `context`: /r/<sub>/comments/<id>/<slug>/<cid>/?...
    parts = str(data.get("context") or "").split("/")
    return f"t3_{parts[4]}" if len(parts) > 4 and parts[3] == "comments" else None


def permalink_url(data: Mapping[str, Any], fullname: str) -> str | None:
    """Where a person sees the item: its permalink, the inbox context, or a short form."""
    if fullname.startswith("t4_"):
        return f"{SITE}/message/messages/{fullname[3:]}"
    if isinstance(link := data.get("permalink"), str) and link:
        # search results carry `?ref=search_posts`; the post's address is without it
        link = link.split("?", 1)[0]
        return link if link.startswith("http") else SITE + link
    if isinstance(context := data.get("context"), str) and context:
        return SITE + context.split("?", 1)[0]
    thread = _thread_id(data, fullname)
    if thread and fullname.startswith("t1_"):
        return f"{SITE}/comments/{thread[3:]}/_/{fullname[3:]}/"
    return f"{SITE}/comments/{fullname[3:]}/" if fullname.startswith("t3_") else None


def _author(data: Mapping[str, Any]) -> Author:
    handle = _required(data, "author")
    external = data.get("author_fullname")
    return Author(
        handle=handle,
        external_id=external if isinstance(external, str) else None,
        url=f"{SITE}/user/{handle}/",
    )


def canonical(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The item a crosspost points to (so both dedupe to one), or the item itself."""
    original = data.get("crosspost_original")
    if data.get("crosspost_parent") and isinstance(original, Mapping) and original.get("name"):
        return original
    return data


def parse_item(data: Mapping[str, Any], found_by: Query, watch: Watch | None) -> Mention | None:
    """The mention for one plain item; `None` when deleted or excluded; `ItemError` if malformed.

    `watch` is None for thread context, which is kept whatever it says.
    """
    data = canonical(data)
    if is_gone(data):
        return None
    fullname = _required(data, "name")
    if not fullname.startswith(("t1_", "t3_", "t4_")):
        raise ItemError(
            f"name {fullname!r} is not a comment (t1_), submission (t3_) or message (t4_)"
        )
    text = _text(data, fullname)
    label = watch.label_for(text, found_by) if watch is not None else None
    if watch is not None and label is None:
        return None
    parent = data.get("parent_id")
    subreddit = data.get("subreddit")
    # a crosspost whose original was not sent along still dedupes to the original's id
    source_id = str(data.get("crosspost_parent") or fullname)
    thread_id = source_id if fullname.startswith("t3_") else _thread_id(data, fullname)
    parent_id = parent if isinstance(parent, str) and fullname.startswith(("t1_", "t4_")) else None
    return Mention(
        source=SOURCE,
        source_id=source_id,
        text=text,
        created_at=created_at(data.get("created_utc")),
        author=_author(data),
        url=permalink_url(data, fullname),
        title=data.get("title") if fullname.startswith("t3_") else None,
        thread_id=thread_id,
        parent_id=parent_id,
        matched_query=label,
        edited_at=edited_at(data.get("edited")),
        extra={"subreddit": subreddit} if isinstance(subreddit, str) else {},
    )
