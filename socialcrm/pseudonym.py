"""Pseudonymised authors: handles stored as a keyed hash, for analytics-only deployments."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from socialcrm.mention import Author, Mention, Page
from socialcrm.settings import MIN_PSEUDONYM_KEY, Settings

PREFIX: Final = "psn_"
# 128 bits: collisions between authors are out of reach, and the value stays short
DIGEST_CHARS: Final = 32
_PSEUDONYM: Final = re.compile(rf"{PREFIX}[0-9a-f]{{{DIGEST_CHARS}}}")


def keyed_hash(value: str, key: bytes) -> str:
    """The pseudonym of `value`: HMAC-SHA256 with `key`, truncated, recognisable by its prefix.

    A pseudonym is returned unchanged, so pseudonymising twice changes nothing.
    """
    if not key:
        raise ValueError("a pseudonym key must not be empty")
    if is_pseudonym(value):
        return value
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGEST_CHARS]


def is_pseudonym(value: str) -> bool:
    """Whether `value` is a pseudonym made by `keyed_hash`."""
    return _PSEUDONYM.fullmatch(value) is not None


def pseudonymise(author: Author, key: bytes) -> Author:
    """The author with handle and external id hashed; name, url, bio and links dropped."""
    external_id = keyed_hash(author.external_id, key) if author.external_id else None
    # the follower count stays: it measures reach and names nobody
    return Author(
        handle=keyed_hash(author.handle, key), external_id=external_id, followers=author.followers
    )


def pseudonymise_mention(mention: Mention, key: bytes) -> Mention:
    """The mention with its author pseudonymised and whatever else can name the author removed.

    Platform post ids and URLs can hold the author's handle or id (a Mastodon status URI, a
    Bluesky at:// URI), so ids are hashed too; equal ids stay equal, so dedupe and threads work.
    """

    def hashed(value: str | None) -> str | None:
        return keyed_hash(value, key) if value is not None else None

    names = {n for n in (mention.author.handle, mention.author.external_id) if n}
    return replace(
        mention,
        author=pseudonymise(mention.author, key),
        url=None,
        source_id=keyed_hash(mention.source_id, key),
        thread_id=hashed(mention.thread_id),
        parent_id=hashed(mention.parent_id),
        extra=_plain_extra(mention.extra, names),
    )


def _plain_extra(extra: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    """The plain values of `extra`: nested ones, web addresses and the author's names go."""
    return {
        name: value
        for name, value in extra.items()
        if isinstance(value, bool | int | float)
        or (isinstance(value, str) and not _names_anyone(value, names))
    }


def _names_anyone(value: str, names: set[str]) -> bool:
    # a web address may name anyone (a profile, a post by someone else); the names, the author
    return "://" in value or any(n.lower() in value.lower() for n in names)


def pseudonymise_page(page: Page, key: bytes) -> Page:
    """The page with every mention pseudonymised; rejected raw payloads are not kept."""
    return replace(
        page,
        mentions=tuple(pseudonymise_mention(m, key) for m in page.mentions),
        # a raw payload and its locator name the author in the clear: keep only the reason
        quarantined=tuple(replace(q, payload="", locator=None) for q in page.quarantined),
    )


def settings_key(settings: Settings) -> bytes | None:
    """The pseudonym key when the settings switch pseudonymised authors on, else None."""
    if not settings.privacy.pseudonymise_authors or settings.secrets.pseudonym_key is None:
        return None
    key = settings.secrets.pseudonym_key.get_secret_value().encode("utf-8")
    assert len(key) >= MIN_PSEUDONYM_KEY  # noqa: S101 - the settings refuse a shorter key
    return key
