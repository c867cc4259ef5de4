"""Identities: how a person is named on each platform, normalised so that equal means same."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

# kinds that are not a platform's user name
EMAIL: Final = "email"
WEBSITE: Final = "website"
CRM: Final = "crm"
PLATFORMS: Final = ("reddit", "mastodon", "bluesky", "hackernews")
KINDS: Final = (*PLATFORMS, EMAIL, WEBSITE, CRM)

_EMAIL: Final = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_URL: Final = re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.IGNORECASE)
_KIND: Final = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

Identity = tuple[str, str]


class IdentityError(ValueError):
    """An identity that cannot be normalised; the message says what is wrong."""


def normalise(kind: str, value: str) -> str:
    """The stored form of `value` as an identity of `kind`; IdentityError if it is not one."""
    kind, value = kind.strip().lower(), value.strip()
    if not _KIND.match(kind):
        raise IdentityError(f"identity kind {kind!r} is not a lower-case name such as reddit")
    if not value:
        raise IdentityError(f"{kind} identity is empty")
    if kind == EMAIL:
        return _email(value)
    if kind == WEBSITE:
        return website(value)
    if kind == CRM or kind == "hackernews":  # case matters in both
        return value
    if kind == "reddit":
        return re.sub(r"^/?u/", "", value, flags=re.IGNORECASE).lower()
    if kind == "mastodon":
        acct = value.removeprefix("@").lower()
        if "@" not in acct:
            raise IdentityError(f"mastodon identity {value!r} needs its instance: name@instance")
        return acct
    if kind == "bluesky":
        return value if value.startswith("did:") else value.removeprefix("@").lower()
    return value.lower()


def _email(value: str) -> str:
    address = value.removeprefix("mailto:").lower()
    if not _EMAIL.fullmatch(address):
        raise IdentityError(f"{value!r} is not an email address")
    return address


def website(value: str) -> str:
    """A site as host and path, without scheme, `www.`, query or trailing slash."""
    parts = urlsplit(value if "://" in value else f"https://{value}")
    host = (parts.hostname or "").removeprefix("www.")
    if "." not in host:
        raise IdentityError(f"{value!r} is not a website address")
    return host + parts.path.rstrip("/")


def of_author(source: str, handle: str, key: str) -> list[Identity]:
    """The exact identities of an author on `source`: the handle, and the platform id if other."""
    found: list[Identity] = []
    for value in (handle, key):
        try:
            identity = (source, normalise(source, value))
        except IdentityError:
            continue
        if identity not in found:
            found.append(identity)
    return found


def emails_in(text: str) -> list[str]:
    """Email addresses written in `text`, normalised, in order, once each."""
    return list(dict.fromkeys(m.group(0).lower() for m in _EMAIL.finditer(text)))


def sites_in(urls: Iterable[str]) -> list[str]:
    """The websites of `urls`, normalised, once each; what is not a web address is skipped."""
    found: list[str] = []
    for url in urls:
        try:
            site = website(url)
        except IdentityError:
            continue
        if site not in found:
            found.append(site)
    return found


def urls_in(text: str) -> list[str]:
    """Web addresses written in `text`."""
    return _URL.findall(text)
