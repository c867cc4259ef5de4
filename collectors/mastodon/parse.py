"""Pure Mastodon parsing: statuses to mentions, HTML to text, cursor arithmetic, reply rules."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from collectors.queries import Query, Watch
from collectors.text import html_to_text
from socialcrm.mention import Author, Mention, ProfileLink, Quarantined

SOURCE: Final = "mastodon"
# narrowest first: a reply is never more visible than the post it answers
VISIBILITIES: Final = ("direct", "private", "unlisted", "public")
SEEN_LIMIT: Final = 200
_HREF: Final = re.compile(r'href="(https?://[^"]+)"')


class StatusError(ValueError):
    """A status that cannot become a mention; the message says why."""


def status_text(status: Mapping[str, Any]) -> str:
    """The spoiler (content warning) first, then the content as plain text."""
    content = html_to_text(str(status.get("content") or ""))
    spoiler = str(status.get("spoiler_text") or "").strip()
    return f"{spoiler}\n\n{content}".strip() if spoiler else content


def original(status: Mapping[str, Any]) -> Mapping[str, Any]:
    """The status a boost (reblog) points at, else the status itself: boosts are one item."""
    reblog = status.get("reblog")
    return reblog if isinstance(reblog, Mapping) else status


def host_of(base_url: str) -> str:
    """The host (and port) of an instance URL, the domain of its local accounts."""
    return urlsplit(base_url).netloc


def full_handle(acct: str, instance: str) -> str:
    """`user@domain` for an account; local accounts (`user`) get the instance's domain."""
    acct = acct.lstrip("@")
    return acct if "@" in acct else f"{acct}@{host_of(instance)}"


def _time(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise StatusError(f"{what} is not ISO 8601: {value[:40]!r}") from None
    else:
        raise StatusError(f"{what} is missing")
    if moment.tzinfo is None:
        raise StatusError(f"{what} has no time zone")
    return moment.astimezone(UTC)


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def _author(account: Any, instance: str) -> Author:
    if not isinstance(account, Mapping):
        raise StatusError("account is missing")
    acct = _text(account.get("acct"))
    if acct is None:
        raise StatusError("account has no acct")
    followers = account.get("followers_count")
    return Author(
        handle=full_handle(acct, instance),
        external_id=_text(account.get("uri")) or _text(account.get("url")),
        display_name=_text(account.get("display_name")),
        url=_text(account.get("url")),
        followers=followers if isinstance(followers, int) else None,
        bio=_bio(account),
        links=_links(account),
    )


def _fields(account: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    fields = account.get("fields")
    return [f for f in fields if isinstance(f, Mapping)] if isinstance(fields, list) else []


def _bio(account: Mapping[str, Any]) -> str:
    """The profile note and its name/value fields, as text ("" when the profile has none)."""
    lines = [html_to_text(str(account.get("note") or ""))]
    lines += [
        f"{f.get('name')}: {html_to_text(str(f.get('value') or ''))}" for f in _fields(account)
    ]
    return "\n".join(line for line in lines if line.strip())


def _links(account: Mapping[str, Any]) -> tuple[ProfileLink, ...]:
    """Links in the profile fields; verified when the instance confirmed them (rel=me)."""
    return tuple(
        ProfileLink(url, verified=bool(field.get("verified_at")))
        for field in _fields(account)
        for url in _HREF.findall(str(field.get("value") or ""))
    )


def parse_status(raw: Mapping[str, Any], instance: str) -> Mention:
    """A status (or the status a boost points at) as seen on `instance`; StatusError if broken.

    `source_id` is the ActivityPub `uri`, the same on every instance; the ids in `extra`,
    `thread_id` and `parent_id` are local to `instance` (`extra["instance"]`).
    """
    status = original(raw)
    local_id, uri = _text(status.get("id")), _text(status.get("uri"))
    if local_id is None or uri is None:
        raise StatusError("status has no id or uri")
    created = _time(status.get("created_at"), "created_at")
    edited = status.get("edited_at")
    parent = _text(status.get("in_reply_to_id"))
    visibility = _text(status.get("visibility")) or "public"
    return Mention(
        source=SOURCE,
        source_id=uri,
        text=status_text(status),
        created_at=created,
        author=_author(status.get("account"), instance),
        url=_text(status.get("url")) or uri,
        lang=_text(status.get("language")),
        thread_id=None if parent else local_id,
        parent_id=parent,
        edited_at=_time(edited, "edited_at") if edited else None,
        extra={
            "instance": instance,
            "status_id": local_id,
            "visibility": visibility,
            "spoiler_text": str(status.get("spoiler_text") or ""),
            "id_space": "instance",
        },
    )


def labelled(
    raw: Mapping[str, Any], instance: str, found_by: Query, watch: Watch
) -> Mention | None:
    """The mention with its matched query, or None when its text hits an exclusion."""
    mention = parse_status(raw, instance)
    label = watch.label_for(mention.text, found_by)
    return None if label is None else replace(mention, matched_query=label)


def payload(raw: Mapping[str, Any]) -> str:
    """A quarantined item as JSON text (Mastodon.py's datetimes as strings)."""
    return json.dumps(raw, default=str, sort_keys=True)


def build_page(
    statuses: Iterable[Mapping[str, Any]],
    instance: str,
    found_by: Query,
    watch: Watch,
    seen: set[str],
) -> tuple[list[Mention], list[Quarantined]]:
    """Mentions oldest first (not in `seen`, not excluded) and the statuses that were broken."""
    mentions: list[Mention] = []
    rejects: list[Quarantined] = []
    for raw in statuses:
        try:
            mention = labelled(raw, instance, found_by, watch)
        except (StatusError, ValueError) as error:
            locator = _text(raw.get("uri")) or _text(raw.get("id"))
            rejects.append(Quarantined(SOURCE, str(error), payload(raw), locator))
            continue
        if mention is not None and mention.source_id not in seen:
            seen.add(mention.source_id)
            mentions.append(mention)
    mentions.sort(key=lambda mention: mention.created_at)
    return mentions, rejects


def newest_id(items: Sequence[Mapping[str, Any]]) -> str | None:
    """The id to use as the next `min_id`: Mastodon lists newest first, so the first valid one."""
    return next((value for item in items if (value := _text(item.get("id")))), None)


def id_order(value: str) -> tuple[int, str]:
    """A sort key for ids: Mastodon's numeric ids by value, fixed-length flake ids as text."""
    return (len(value), value)


def newer_than(items: Sequence[Mapping[str, Any]], min_id: str | None) -> list[Mapping[str, Any]]:
    """The items after `min_id` (servers that ignore `min_id` must not repeat old items).

    Items without a usable id are kept, so that they get quarantined rather than vanish.
    """
    if min_id is None:
        return list(items)
    floor = id_order(min_id)
    return [i for i in items if (v := _text(i.get("id"))) is None or id_order(v) > floor]


def uri_key(uri: str) -> str:
    """A short stable digest of a uri, to keep a search's seen-set small in the cursor."""
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


def search_filter(
    mentions: Sequence[Mention], state: Mapping[str, Any] | None, overlap_seconds: float
) -> tuple[list[Mention], dict[str, Any]]:
    """The search hits not collected before, and the next watermark state.

    Search has no `min_id`: a hit is new when it is not in the seen-set and not older than
    the watermark minus `overlap_seconds` (the index lags, so late hits within it still count).
    """
    state = state or {}
    seen: list[str] = list(state.get("seen", []))
    after = datetime.fromisoformat(state["after"]) if state.get("after") else None
    known = set(seen)
    fresh = [
        m
        for m in mentions
        if uri_key(m.source_id) not in known
        and (after is None or m.created_at.timestamp() >= after.timestamp() - overlap_seconds)
    ]
    newest = max([m.created_at for m in fresh] + ([after] if after else []), default=None)
    seen = (seen + [uri_key(m.source_id) for m in fresh])[-SEEN_LIMIT:]
    return fresh, {"after": newest.isoformat() if newest else None, "seen": seen}


def reply_visibility(visibility: str | None) -> str:
    """The visibility of our reply: the mention's own, never wider; unknown ones stay direct."""
    return visibility if visibility in VISIBILITIES else "direct"


def reply_text(text: str, handle: str, brand_instance: str) -> str:
    """`text` starting with `@author`, so the author is notified (local accounts short)."""
    domain = host_of(brand_instance)
    acct = handle.removesuffix(f"@{domain}") if handle.count("@") == 1 else handle
    address = f"@{acct}"
    if text.lower().startswith(address.lower()) and text[len(address) : len(address) + 1] in (
        "",
        " ",
        "\n",
    ):
        return text
    return f"{address} {text}"
