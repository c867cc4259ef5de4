"""SLA due times: minutes of working time, counted only inside business hours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from socialcrm.mention import ensure_utc
from socialcrm.settings import BusinessHoursSettings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    """When the team works: local wall-clock hours on some weekdays (0 = Monday), minus holidays."""

    tz: ZoneInfo
    days: frozenset[int]
    start: time
    end: time
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError("business days must be weekday numbers 0 (Monday) to 6 (Sunday)")
        if self.start >= self.end:
            raise ValueError("business hours start must be before end")

    @classmethod
    def from_settings(cls, settings: BusinessHoursSettings) -> BusinessHours:
        """The `[engagement.business_hours]` table as a value the SLA functions use."""
        return cls(
            tz=ZoneInfo(settings.timezone),
            days=frozenset(WEEKDAYS.index(day) for day in settings.days),
            start=time.fromisoformat(settings.start),
            end=time.fromisoformat(settings.end),
            holidays=frozenset(settings.holidays),
        )

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working hours of local `day` in UTC, or None when the team does not work then."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        # wall-clock times in the zone, so opening hours stay put when the clocks change
        opens = datetime.combine(day, self.start, tzinfo=self.tz).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=self.tz).astimezone(UTC)
        # only hours that straddle a skipped clock hour can come out reversed; no time then
        return (opens, closes) if opens < closes else None

    def windows(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows from the local day of `moment` onwards, clipped to start at it."""
        day = moment.astimezone(self.tz).date()
        while True:
            window = self.window(day)
            if window is not None and window[1] > moment:
                yield max(window[0], moment), window[1]
            day += timedelta(days=1)


def due(start: datetime, minutes: int, hours: BusinessHours | None) -> datetime:
    """The moment `minutes` working minutes after `start` (UTC in and out; None = plain clock).

    A start outside business hours counts from the next opening.
    """
    start = ensure_utc(start, "SLA start")
    if minutes < 0:
        raise ValueError(f"SLA minutes must not be negative, got {minutes}")
    remaining = timedelta(minutes=minutes)
    if hours is None:
        return start + remaining
    for opens, closes in hours.windows(start):
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("unreachable: business hours repeat every week")  # pragma: no cover


def working_minutes(a: datetime, b: datetime, hours: BusinessHours | None) -> float:
    """Working minutes from `a` to `b` (0 if `b` is not after `a`), e.g. time to first response."""
    a, b = ensure_utc(a, "start"), ensure_utc(b, "end")
    if b <= a:
        return 0.0
    if hours is None:
        return (b - a).total_seconds() / 60
    total = timedelta()
    for opens, closes in hours.windows(a):
        if opens >= b:
            break
        total += min(closes, b) - opens
    return total.total_seconds() / 60
