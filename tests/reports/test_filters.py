"""Parsing filters from form fields and query parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from reports import queries
from reports.filters import FilterError, MentionFilter, parse, parse_time, parse_window
from socialcrm.db import Database

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_empty_fields_mean_no_filter() -> None:
    found = parse(source="", query=" ", sentiment=None, customer_id="", since="", text="  ")
    assert found == MentionFilter()
    assert found.is_empty()


def test_fields_are_normalised() -> None:
    found = parse(
        source=" reddit ",
        sentiment="Negative",
        intent="COMPLAINT",
        customer_id="42",
        since="7d",
        until="2026-03-10",
        text="  refund   please ",
        now=NOW,
    )
    assert found == MentionFilter(
        source="reddit",
        sentiment="negative",
        intent="complaint",
        customer_id=42,
        since=NOW - timedelta(days=7),
        until=datetime(2026, 3, 10, tzinfo=UTC),
        text="refund please",
    )


def test_as_params_round_trips() -> None:
    original = parse(source="reddit", customer_id=3, since="2026-03-01T09:30:00+02:00", now=NOW)
    assert parse(**original.as_params()) == original  # type: ignore[arg-type]
    assert original.since == datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("24h", NOW - timedelta(hours=24)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),  # naive: UTC
        (date(2026, 3, 2), datetime(2026, 3, 2, tzinfo=UTC)),
    ],
)
def test_parse_time(value: str | date, expected: datetime) -> None:
    assert parse_time(value, NOW) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sentiment": "angry"}, "unknown sentiment"),
        ({"intent": "rant"}, "unknown intent"),
        ({"customer_id": "abc"}, "customer must be a number"),
        ({"customer_id": "0"}, "positive"),
        ({"since": "yesterday"}, "cannot read the time"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "before"),
        ({"text": "x" * 201}, "too long"),
    ],
)
def test_bad_values_say_what_to_write(fields: dict[str, str], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse(**fields)  # type: ignore[arg-type]


def test_parse_window_defaults_to_the_last_30_days() -> None:
    assert parse_window(None, None, now=NOW) == (NOW - timedelta(days=30), NOW)
    assert parse_window("7d", "", now=NOW) == (NOW - timedelta(days=7), NOW)
    with pytest.raises(FilterError):
        parse_window("2026-04-01", None, now=NOW)


@pytest.mark.parametrize("value", ["99999w", "0001-01-01T00:00:00+05:00", "9999-12-31"])
def test_a_time_beyond_any_window_is_a_one_line_error_not_an_overflow(value: str) -> None:
    with pytest.raises(FilterError, match="out of range: give one between 1900 and 9000"):
        parse_time(value, NOW)


def test_the_longest_window_still_has_a_period_before_it(db: Database) -> None:
    since, until = parse_window("1900-01-01", "8999-12-31", NOW)
    with db.transaction() as session:
        assert queries.overview(session, since, until)["previous_volume"] == 0
