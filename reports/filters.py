"""What a list of mentions or a report is narrowed to: one frozen filter, parsed from user text."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta

from nlp.labels import INTENTS, SENTIMENTS

# an intent counts as present from this probability (routing rules default to the same)
INTENT_THRESHOLD = 0.5
# the sentiment filter also accepts this: mentions the model did not label (another language)
UNLABELLED = "unlabelled"
MAX_TEXT = 200

_RELATIVE = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class FilterError(ValueError):
    """A filter value that cannot be understood; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class MentionFilter:
    """Narrow mentions by source, matched query, labels, customer, time and full text."""

    source: str | None = None
    query: str | None = None  # matched_query exactly, e.g. "brand:acme"
    sentiment: str | None = None  # negative | neutral | positive | unlabelled
    intent: str | None = None  # an nlp intent with probability >= INTENT_THRESHOLD
    customer_id: int | None = None  # mentions by any author linked to this customer
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until
    text: str | None = None  # full-text search: every word must occur, as a whole word

    def is_empty(self) -> bool:
        """Whether nothing is filtered."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def as_params(self) -> dict[str, str]:
        """The set fields as strings, for links and forms (round-trips through `parse`)."""
        params: dict[str, str] = {}
        for name, value in asdict(self).items():
            if value is None:
                continue
            params[name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return params


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)  # before any post; far enough from datetime.min
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # and from datetime.max: windows are doubled


def parse_time(value: str | datetime | date, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from ISO text, a date, or a span back from now ("30m", "7d", "2w")."""
    try:
        moment = _parse_time(value, now)
    except OverflowError:
        moment = EARLIEST - timedelta(days=1)
    if not EARLIEST <= moment <= LATEST:
        raise FilterError(
            f"the time {str(value)[:40]!r} is out of range: give one between 1900 and 9000"
        )
    return moment


def _parse_time(value: str | datetime | date, now: datetime | None) -> datetime:
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"cannot read the time {value[:40]!r}: write e.g. 7d, 24h, 2026-03-01 or "
            "2026-03-01T09:30:00Z"
        ) from None
    return _aware(parsed)


def parse_window(
    since: str | datetime | None,
    until: str | datetime | None = None,
    now: datetime | None = None,
    default: str = "30d",
) -> tuple[datetime, datetime]:
    """A report window [since, until): by default from `default` back from now, up to now."""
    now = _aware(now) if now is not None else datetime.now(UTC)
    start = parse_time(since if since is not None and _given(since) else default, now)
    end = parse_time(until, now) if until is not None and _given(until) else now
    if start >= end:
        raise FilterError("the start of the window must be before its end")
    return start, end


def parse(
    *,
    source: str | None = None,
    query: str | None = None,
    sentiment: str | None = None,
    intent: str | None = None,
    customer_id: str | int | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    text: str | None = None,
    now: datetime | None = None,
) -> MentionFilter:
    """A filter from form fields or query parameters; empty strings mean "not filtered"."""
    start = parse_time(since, now) if since is not None and _given(since) else None
    end = parse_time(until, now) if until is not None and _given(until) else None
    if start is not None and end is not None and start >= end:
        raise FilterError("`since` must be before `until`")
    return MentionFilter(
        source=_word(source, "source"),
        query=_word(query, "query"),
        sentiment=_sentiment(sentiment),
        intent=_intent(intent),
        customer_id=_customer(customer_id),
        since=start,
        until=end,
        text=_text(text),
    )


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _word(value: str | None, name: str) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > 255:
        raise FilterError(f"the {name} filter is too long: at most 255 characters")
    return value.strip()


def _sentiment(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    wanted = value.strip().lower()
    allowed = (*SENTIMENTS, UNLABELLED)
    if wanted not in allowed:
        raise FilterError(f"unknown sentiment {value[:40]!r}: use one of {', '.join(allowed)}")
    return wanted


def _intent(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    wanted = value.strip().lower()
    if wanted not in INTENTS:
        raise FilterError(f"unknown intent {value[:40]!r}: use one of {', '.join(INTENTS)}")
    return wanted


def _customer(value: str | int | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(value)
    except ValueError:
        raise FilterError(f"customer must be a number, not {str(value)[:40]!r}") from None
    if number < 1:
        raise FilterError("customer must be a positive number")
    return number


def _text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TEXT:
        raise FilterError(f"the search text is too long: at most {MAX_TEXT} characters")
    return " ".join(value.split())


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
