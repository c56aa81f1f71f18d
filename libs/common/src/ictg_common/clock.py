"""Working-day clock for ICTG referral timeliness (England and Wales).

Pure functions, no I/O apart from :func:`utcnow`, which is the single place the
platform reads the wall clock (tests monkeypatch ``ictg_common.clock.utcnow``).

Working days are Monday-Friday excluding England-and-Wales bank holidays, taken
from ``holidays.country_holidays("GB", subdiv="ENG")`` (England and Wales share
the same bank holidays; ``WLS`` yields an identical calendar).

Deadline contract: a deadline "by the end of working day D" is returned as the
instant that day ends, i.e. midnight Europe/London at the *start* of the
calendar day after D, converted to an aware UTC datetime. An action is on time
if it happens strictly before ``due_by``.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import holidays

__all__ = [
    "LONDON",
    "Timeliness",
    "add_working_days",
    "end_of_working_day_after",
    "is_working_day",
    "london_date",
    "timeliness",
    "utcnow",
    "working_days_between",
]

LONDON = zoneinfo.ZoneInfo("Europe/London")
_HOLIDAY_COUNTRY = "GB"
_HOLIDAY_SUBDIV = "ENG"  # England and Wales bank holidays


def utcnow() -> datetime:
    """Return the current instant as an aware UTC datetime."""
    return datetime.now(UTC)


def _require_aware(instant: datetime, name: str = "instant") -> None:
    if instant.tzinfo is None or instant.tzinfo.utcoffset(instant) is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {instant!r}")


@functools.cache
def _bank_holidays(year: int) -> frozenset[date]:
    """England-and-Wales bank holidays for one year (built lazily, cached)."""
    calendar = holidays.country_holidays(_HOLIDAY_COUNTRY, subdiv=_HOLIDAY_SUBDIV, years=year)
    return frozenset(d for d in calendar if d.year == year)


def london_date(instant: datetime) -> date:
    """Calendar date of ``instant`` in Europe/London (not the UTC date)."""
    _require_aware(instant)
    return instant.astimezone(LONDON).date()


def is_working_day(day: date) -> bool:
    """True for Monday-Friday that is not an England-and-Wales bank holiday."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(day: date, n: int) -> date:
    """Return the ``n``-th working day strictly after ``day``.

    ``n == 0`` returns ``day`` itself if it is a working day, otherwise the next
    working day. Raises ``ValueError`` for negative ``n``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    current = day
    if n == 0:
        while not is_working_day(current):
            current += timedelta(days=1)
        return current
    remaining = n
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Number of working days ``d`` with ``start < d <= end``; 0 if ``end <= start``.

    Counts the days after ``start`` up to and including ``end`` (as referral delay counts calendar
    days), so ``working_days_between(day, add_working_days(day, n)) == n`` for ``n >= 1``. Computed
    in whole weeks plus a remainder, less the weekday bank holidays in the range: no loop per day.
    """
    if isinstance(start, datetime) or isinstance(end, datetime):
        raise ValueError("start and end must be dates, not datetimes")
    span = (end - start).days
    if span <= 0:
        return 0
    weeks, rest = divmod(span, 7)
    count = weeks * 5
    first_weekday = (start.weekday() + 1) % 7  # weekday of start + 1 day
    count += sum(1 for i in range(rest) if (first_weekday + i) % 7 < 5)
    for year in range(start.year, end.year + 1):
        count -= sum(1 for h in _bank_holidays(year) if start < h <= end and h.weekday() < 5)
    return count


def end_of_working_day_after(instant: datetime, working_days: int = 1) -> datetime:
    """Deadline at the end of the ``working_days``-th working day after ``instant``.

    The London date of ``instant`` is taken, the ``working_days``-th working day
    strictly after it is found (see :func:`add_working_days`), and the end of
    that day is returned as an aware UTC datetime: midnight Europe/London at the
    start of the following calendar day (e.g. ``23:00Z`` during BST, ``00:00Z``
    during GMT).
    """
    deadline_day = add_working_days(london_date(instant), working_days)
    end_local = datetime.combine(deadline_day + timedelta(days=1), time(0), tzinfo=LONDON)
    return end_local.astimezone(UTC)


@dataclass(frozen=True)
class Timeliness:
    """Timeliness facts for a referral, computed at receipt."""

    referral_delay_days: int
    late_referral: bool
    allocation_due_by: datetime
    first_contact_due_by: datetime

    def as_dict(self) -> dict:
        """JSON-ready mapping; datetimes as RFC 3339 strings with offset."""
        return {
            "referral_delay_days": self.referral_delay_days,
            "late_referral": self.late_referral,
            "allocation_due_by": self.allocation_due_by.isoformat(),
            "first_contact_due_by": self.first_contact_due_by.isoformat(),
        }


def timeliness(
    *,
    received_at: datetime,
    identified_on: date,
    allocation_working_days: int = 1,
    first_contact_working_days: int = 1,
    late_after_days: int = 1,
) -> Timeliness:
    """Compute referral delay, late flag and allocation/first-contact deadlines.

    Referral delay is the London date of ``received_at`` minus ``identified_on``
    in whole calendar days; the referral is late when the delay exceeds
    ``late_after_days``. Raises ``ValueError`` for a naive ``received_at`` or an
    ``identified_on`` later than the London date of receipt.
    """
    _require_aware(received_at, "received_at")
    if isinstance(identified_on, datetime):
        raise ValueError("identified_on must be a date, not a datetime")
    delay = (london_date(received_at) - identified_on).days
    if delay < 0:
        raise ValueError(
            f"identified_on {identified_on} is after the referral was received ({london_date(received_at)})"
        )
    return Timeliness(
        referral_delay_days=delay,
        late_referral=delay > late_after_days,
        allocation_due_by=end_of_working_day_after(received_at, allocation_working_days),
        first_contact_due_by=end_of_working_day_after(received_at, first_contact_working_days),
    )
