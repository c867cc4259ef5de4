"""SLA due times: business hours across weekends, holidays and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement.sla import BusinessHours, due, working_minutes
from socialcrm.settings import BusinessHoursSettings

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))


def hours(tz: str = "UTC", holidays: frozenset[date] = frozenset()) -> BusinessHours:
    """Monday to Friday, 09:00 to 17:00 in `tz`."""
    return BusinessHours(ZoneInfo(tz), WEEKDAYS, time(9), time(17), holidays)


def at(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall-clock time in `tz`, as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=tz).astimezone(UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A UTC time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_friday_afternoon_runs_over_the_weekend() -> None:
    # 2026-01-02 is a Friday
    assert due(utc(2026, 1, 2, 16), 120, hours()) == utc(2026, 1, 5, 10)


def test_a_holiday_is_skipped() -> None:
    monday_off = hours(holidays=frozenset({date(2026, 1, 5)}))
    assert due(utc(2026, 1, 2, 16), 120, monday_off) == utc(2026, 1, 6, 10)


@pytest.mark.parametrize(
    ("friday", "monday", "what"),
    [
        ((2026, 3, 27), (2026, 3, 30), "Berlin springs forward on Sunday 2026-03-29"),
        ((2026, 10, 23), (2026, 10, 26), "Berlin falls back on Sunday 2026-10-25"),
    ],
)
def test_opening_hours_stay_put_across_berlin_dst(
    friday: tuple[int, int, int], monday: tuple[int, int, int], what: str
) -> None:
    start = at(BERLIN, *friday, 16)
    got = due(start, 120, hours("Europe/Berlin"))
    assert got == at(BERLIN, *monday, 10), what
    assert got.astimezone(BERLIN).hour == 10
    # the offset changed in between: the same local hour is a different UTC hour
    assert got.astimezone(BERLIN).utcoffset() != start.astimezone(BERLIN).utcoffset()


def test_berlin_utc_offsets_around_the_change() -> None:
    berlin = hours("Europe/Berlin")
    assert due(at(BERLIN, 2026, 3, 27, 16), 120, berlin) == utc(2026, 3, 30, 8)  # CEST, +2
    assert due(at(BERLIN, 2026, 10, 23, 16), 120, berlin) == utc(2026, 10, 26, 9)  # CET, +1


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 2026-03-08: New York springs forward (EST -5 -> EDT -4)
        (utc(2026, 3, 6, 21), utc(2026, 3, 9, 14)),
        # 2026-11-01: New York falls back (EDT -4 -> EST -5)
        (utc(2026, 10, 30, 20), utc(2026, 11, 2, 15)),
    ],
)
def test_new_york_dst(start: datetime, expected: datetime) -> None:
    assert start.astimezone(NEW_YORK).hour == 16
    assert due(start, 120, hours("America/New_York")) == expected
    assert working_minutes(start, expected, hours("America/New_York")) == 120


def test_around_the_clock_hours_count_real_minutes_on_the_short_night() -> None:
    every_day = BusinessHours(BERLIN, frozenset(range(7)), time(0), time(23, 59))
    start = at(BERLIN, 2026, 3, 29, 1)  # 01:00 CET, an hour before the clocks jump to 03:00
    got = due(start, 120, every_day)
    assert got == start + timedelta(minutes=120)
    assert got.astimezone(BERLIN).time() == time(4)


@pytest.mark.parametrize(
    ("start", "expected", "what"),
    [
        (utc(2026, 1, 6, 22), utc(2026, 1, 7, 9, 30), "at night: from the next opening"),
        (utc(2026, 1, 6, 7), utc(2026, 1, 6, 9, 30), "early morning: from opening"),
        (utc(2026, 1, 4, 12), utc(2026, 1, 5, 9, 30), "on Sunday: from Monday"),
        (utc(2026, 1, 3, 8), utc(2026, 1, 5, 9, 30), "on Saturday: from Monday"),
        (utc(2026, 1, 6, 12, 10), utc(2026, 1, 6, 12, 40), "inside hours: plain"),
        (utc(2026, 1, 6, 17), utc(2026, 1, 7, 9, 30), "at closing time: tomorrow"),
    ],
)
def test_starts_outside_hours_count_from_the_next_opening(
    start: datetime, expected: datetime, what: str
) -> None:
    assert due(start, 30, hours()) == expected, what


def test_a_due_time_at_closing_stays_on_that_day() -> None:
    assert due(utc(2026, 1, 2, 15), 120, hours()) == utc(2026, 1, 2, 17)
    assert due(utc(2026, 1, 2, 15), 121, hours()) == utc(2026, 1, 5, 9, 1)


def test_zero_minutes_is_the_next_working_moment() -> None:
    assert due(utc(2026, 1, 3, 8), 0, hours()) == utc(2026, 1, 5, 9)
    assert due(utc(2026, 1, 6, 12), 0, hours()) == utc(2026, 1, 6, 12)


def test_several_working_days() -> None:
    # three full working days from Wednesday 09:00 end at Friday's closing, not Monday's opening
    assert due(utc(2026, 1, 7, 9), 3 * 8 * 60, hours()) == utc(2026, 1, 9, 17)
    assert due(utc(2026, 1, 7, 9), 3 * 8 * 60 + 1, hours()) == utc(2026, 1, 12, 9, 1)


def test_without_business_hours_it_is_the_plain_clock() -> None:
    start = utc(2026, 1, 3, 23, 30)  # a Saturday night
    assert due(start, 90, None) == utc(2026, 1, 4, 1)
    assert working_minutes(start, utc(2026, 1, 4, 1), None) == 90


def test_times_come_out_in_utc_whatever_zone_goes_in() -> None:
    start = datetime(2026, 1, 6, 13, tzinfo=timezone(timedelta(hours=1)))
    got = due(start, 30, hours("Europe/Berlin"))
    assert got == at(BERLIN, 2026, 1, 6, 13, 30)
    assert got.tzinfo is UTC


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due(datetime(2026, 1, 6, 12), 30, hours())  # noqa: DTZ001
    with pytest.raises(ValueError, match="must not be negative"):
        due(utc(2026, 1, 6, 12), -1, hours())
    with pytest.raises(ValueError, match="start must be before end"):
        BusinessHours(BERLIN, WEEKDAYS, time(17), time(9))
    with pytest.raises(ValueError, match="weekday numbers"):
        BusinessHours(BERLIN, frozenset(), time(9), time(17))
    with pytest.raises(ValueError, match="weekday numbers"):
        BusinessHours(BERLIN, frozenset({7}), time(9), time(17))


def test_from_settings() -> None:
    settings = BusinessHoursSettings(
        timezone="Europe/Berlin",
        days=["mon", "wed", "sun"],
        start="08:30",
        end="16:45",
        holidays=[date(2026, 12, 24)],
    )
    assert BusinessHours.from_settings(settings) == BusinessHours(
        BERLIN, frozenset({0, 2, 6}), time(8, 30), time(16, 45), frozenset({date(2026, 12, 24)})
    )
    default = BusinessHours.from_settings(BusinessHoursSettings())
    assert (default.tz, default.days, default.start, default.end) == (
        ZoneInfo("UTC"), WEEKDAYS, time(9), time(17),
    )  # fmt: skip


def test_working_minutes_over_a_weekend_and_a_holiday() -> None:
    monday_off = hours(holidays=frozenset({date(2026, 1, 5)}))
    assert working_minutes(utc(2026, 1, 2, 16), utc(2026, 1, 5, 10), hours()) == 120
    assert working_minutes(utc(2026, 1, 2, 16), utc(2026, 1, 6, 10), monday_off) == 120
    assert working_minutes(utc(2026, 1, 3), utc(2026, 1, 4), hours()) == 0
    assert working_minutes(utc(2026, 1, 6, 12), utc(2026, 1, 6, 11), hours()) == 0
    assert working_minutes(utc(2026, 1, 6, 12), utc(2026, 1, 6, 12, 0, 30), hours()) == 0.5


ZONES = [hours("Europe/Berlin"), hours("America/New_York"), hours("Asia/Kolkata")]
moments = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001
    max_value=datetime(2028, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(moments, st.integers(0, 5000), st.sampled_from(ZONES))
def test_due_lands_inside_business_hours(start: datetime, minutes: int, bh: BusinessHours) -> None:
    local = due(start, minutes, bh).astimezone(bh.tz)
    assert local.weekday() in bh.days
    assert bh.start <= local.time().replace(tzinfo=None) <= bh.end


@given(moments, st.integers(0, 5000), st.sampled_from(ZONES))
def test_working_minutes_measures_what_due_adds(
    start: datetime, minutes: int, bh: BusinessHours
) -> None:
    assert working_minutes(start, due(start, minutes, bh), bh) == pytest.approx(minutes)


@given(moments, st.integers(0, 2000), st.integers(0, 2000), st.sampled_from(ZONES))
def test_due_is_additive(start: datetime, a: int, b: int, bh: BusinessHours) -> None:
    # waiting a then b working minutes is waiting a + b, except the a-leg may end at closing
    # time while the sum continues from the next opening: both are the same working moment
    assert working_minutes(start, due(due(start, a, bh), b, bh), bh) == pytest.approx(a + b)
    assert due(start, a, bh) <= due(start, a + b, bh)
