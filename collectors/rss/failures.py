"""One feed's failure does not stop the others: the run's error names every feed that failed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from collectors.base import (
    SourceAuthError,
    SourceConfigError,
    SourceError,
)
from collectors.http import redact
from collectors.resilience import partial_failure
from collectors.rss.parse import SOURCE

FIX = "fix or remove it in sources.rss.feeds"
_STATUS = re.compile(r"\(HTTP (\d{3})\)")
# what HttpSource puts before its reason: the source and the request (path only)
_PREFIX = re.compile(rf"^{SOURCE}: (?:[A-Z]+ /\S* )?")

FeedFailure = tuple[str, SourceError]  # the feed's URL, what it failed with


def describe(url: str, error: SourceError) -> str:
    """What went wrong with one feed, its URL masked: `feed <url> not found (HTTP 404): ...`."""
    where = f"feed {redact(url)}"
    status = _STATUS.search(str(error))
    code = f" (HTTP {status.group(1)})" if status else ""
    if isinstance(error, SourceAuthError):
        return f"{where} refused access{code}: {FIX}"
    if isinstance(error, SourceConfigError):
        return f"{where} not found{code}: {FIX}"
    # the URL itself may appear in a transport error; never with its credentials or token
    reason = _PREFIX.sub("", str(error).replace(url, redact(url)))
    return f"{where}: {' '.join(reason.split())}"


def run_error(failures: Sequence[FeedFailure], feeds: int) -> SourceError:
    """The one error that ends a run in which `failures` happened among `feeds` feeds.

    A feed that is gone or refused is for a person to fix, but it disables the source only
    when no feed works at all: one dead feed must not silence the others.
    """
    errors = [error for _url, error in failures]
    described = "; ".join(describe(url, error) for url, error in failures)
    message = f"{SOURCE}: {described}"
    if len(failures) > 1:
        message = f"{SOURCE}: {len(failures)} of {feeds} feeds failed: {described}"
    if len(failures) >= feeds and all(isinstance(e, SourceConfigError) for e in errors):
        if all(isinstance(e, SourceAuthError) for e in errors):
            return SourceAuthError(message)
        return SourceConfigError(message)
    return partial_failure(message, errors)
