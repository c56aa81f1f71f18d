"""Unit tests for ictg_common.clock (working-day deadlines, England and Wales)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ictg_common import clock
from ictg_common.clock import (
    LONDON,
    Timeliness,
    add_working_days,
    end_of_working_day_after,
    is_working_day,
    london_date,
    timeliness,
    working_days_between,
)

UTC = UTC


def ldn(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=LONDON)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


# --- calendar ---------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 4),  # Early May bank holiday
        date(2026, 8, 31),  # Summer bank holiday (England and Wales only)
        date(2026, 12, 25),  # Christmas Day
        date(2026, 12, 28),  # Boxing Day substitute
        date(2027, 1, 1),  # New Year's Day
        date(2026, 11, 21),  # Saturday
        date(2026, 11, 22),  # Sunday
    ],
)
def test_non_working_days(day: date) -> None:
    assert not is_working_day(day)


@pytest.mark.parametrize("day", [date(2026, 11, 20), date(2026, 11, 23), date(2026, 12, 29), date(2026, 4, 7)])
def test_working_days(day: date) -> None:
    assert is_working_day(day)


def test_add_working_days_zero() -> None:
    assert add_working_days(date(2026, 11, 20), 0) == date(2026, 11, 20)  # Friday
    assert add_working_days(date(2026, 11, 21), 0) == date(2026, 11, 23)  # Saturday -> Monday
    assert add_working_days(date(2026, 12, 25), 0) == date(2026, 12, 29)


def test_add_working_days_counts_strictly_after() -> None:
    assert add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 23)
    assert add_working_days(date(2026, 11, 20), 2) == date(2026, 11, 24)
    assert add_working_days(date(2026, 11, 21), 1) == date(2026, 11, 23)
    assert add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)  # over Easter


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 11, 20), date(2026, 11, 20), 0),  # same day
        (date(2026, 11, 24), date(2026, 11, 20), 0),  # end before start
        (date(2026, 11, 20), date(2026, 11, 23), 1),  # Friday -> Monday
        (date(2026, 11, 20), date(2026, 11, 24), 2),  # Friday -> Tuesday
        (date(2026, 11, 21), date(2026, 11, 22), 0),  # Saturday -> Sunday
        (date(2026, 11, 22), date(2026, 11, 23), 1),  # Sunday -> Monday
        (date(2026, 11, 16), date(2026, 11, 30), 10),  # two whole weeks
        (date(2026, 12, 24), date(2026, 12, 29), 1),  # Christmas Day, weekend, Boxing Day substitute
        (date(2026, 4, 2), date(2026, 4, 7), 1),  # over Easter
        (date(2026, 12, 31), date(2027, 1, 4), 1),  # New Year's Day, across the year
        (date(2026, 1, 1), date(2026, 12, 31), 253),  # 260 weekdays after 1 Jan less 7 weekday bank holidays
    ],
)
def test_working_days_between(start: date, end: date, expected: int) -> None:
    assert working_days_between(start, end) == expected


def test_working_days_between_rejects_datetimes() -> None:
    with pytest.raises(ValueError):
        # A datetime is a date to mypy (a subclass), so only the run-time check can refuse it.
        working_days_between(datetime(2026, 1, 5, tzinfo=UTC), date(2026, 1, 9))


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    span=st.integers(min_value=-5, max_value=800),
    n=st.integers(min_value=1, max_value=30),
)
def test_working_days_between_counts_each_working_day(start: date, span: int, n: int) -> None:
    end = start + timedelta(days=span)
    naive = sum(is_working_day(start + timedelta(days=i)) for i in range(1, span + 1))
    assert working_days_between(start, end) == naive
    assert working_days_between(start, add_working_days(start, n)) == n


def test_add_working_days_negative_rejected() -> None:
    with pytest.raises(ValueError):
        add_working_days(date(2026, 1, 5), -1)


# --- deadlines --------------------------------------------------------------


def test_friday_receipt_due_end_of_monday_gmt() -> None:
    due = end_of_working_day_after(ldn(2026, 11, 20, 15, 0))
    assert due == utc(2026, 11, 24, 0, 0)
    assert due.isoformat() == "2026-11-24T00:00:00+00:00"


def test_christmas_eve_skips_christmas_weekend_and_substitute_boxing_day() -> None:
    assert end_of_working_day_after(ldn(2026, 12, 24, 10, 0)) == utc(2026, 12, 30, 0, 0)


def test_new_year() -> None:
    # Thursday 31 Dec 2026 -> Fri 1 Jan is a bank holiday -> Monday 4 Jan 2027
    assert end_of_working_day_after(ldn(2026, 12, 31, 9, 0)) == utc(2027, 1, 5, 0, 0)


def test_easter_2026() -> None:
    # Thursday before Good Friday -> Tuesday after Easter Monday, end of day (BST)
    assert end_of_working_day_after(ldn(2026, 4, 2, 12, 0)) == utc(2026, 4, 7, 23, 0)
    # Received on Good Friday itself -> Tuesday
    assert end_of_working_day_after(ldn(2026, 4, 3, 12, 0)) == utc(2026, 4, 7, 23, 0)


def test_saturday_receipt_due_end_of_monday() -> None:
    assert end_of_working_day_after(ldn(2026, 11, 21, 11, 0)) == utc(2026, 11, 24, 0, 0)


def test_bst_deadline_is_23_utc() -> None:
    due = end_of_working_day_after(ldn(2026, 6, 10, 9, 0))
    assert due == utc(2026, 6, 11, 23, 0)
    assert due.astimezone(LONDON) == ldn(2026, 6, 12, 0, 0)


def test_deadline_across_clocks_going_back() -> None:
    # Fri 23 Oct 2026 (BST) -> Mon 26 Oct (GMT after 25 Oct change) -> 27 Oct 00:00Z
    assert end_of_working_day_after(ldn(2026, 10, 23, 16, 0)) == utc(2026, 10, 27, 0, 0)


def test_friday_2330_bst_uses_london_date() -> None:
    received = utc(2026, 7, 3, 22, 30)  # 23:30 BST Friday
    assert london_date(received) == date(2026, 7, 3)
    assert end_of_working_day_after(received) == utc(2026, 7, 6, 23, 0)  # end of Monday


def test_just_after_london_midnight_is_next_london_day() -> None:
    received = utc(2026, 7, 2, 23, 30)  # 00:30 BST Friday 3 July, but Thursday in UTC
    assert london_date(received) == date(2026, 7, 3)
    assert end_of_working_day_after(received) == utc(2026, 7, 6, 23, 0)


def test_configurable_working_days() -> None:
    assert end_of_working_day_after(ldn(2026, 11, 20, 15, 0), working_days=3) == utc(2026, 11, 26, 0, 0)
    assert end_of_working_day_after(ldn(2026, 11, 20, 15, 0), working_days=0) == utc(2026, 11, 21, 0, 0)


def test_naive_datetime_rejected() -> None:
    naive = datetime(2026, 11, 20, 15, 0)
    with pytest.raises(ValueError):
        london_date(naive)
    with pytest.raises(ValueError):
        end_of_working_day_after(naive)
    with pytest.raises(ValueError):
        timeliness(received_at=naive, identified_on=date(2026, 11, 20))


# --- timeliness -------------------------------------------------------------


@pytest.mark.parametrize(
    ("identified_on", "delay", "late"),
    [
        (date(2026, 11, 20), 0, False),
        (date(2026, 11, 19), 1, False),  # exactly one day is not late
        (date(2026, 11, 18), 2, True),
    ],
)
def test_referral_delay_and_late_flag(identified_on: date, delay: int, late: bool) -> None:
    t = timeliness(received_at=ldn(2026, 11, 20, 15, 0), identified_on=identified_on)
    assert t.referral_delay_days == delay
    assert t.late_referral is late


def test_referral_delay_uses_london_date() -> None:
    # 00:30 BST on 3 July is 23:30 UTC on 2 July; delay counts from the London date
    t = timeliness(received_at=utc(2026, 7, 2, 23, 30), identified_on=date(2026, 7, 1))
    assert t.referral_delay_days == 2
    assert t.late_referral is True


def test_late_threshold_configurable() -> None:
    t = timeliness(received_at=ldn(2026, 11, 20, 15), identified_on=date(2026, 11, 18), late_after_days=2)
    assert t.referral_delay_days == 2
    assert t.late_referral is False


def test_identified_after_receipt_rejected() -> None:
    with pytest.raises(ValueError):
        timeliness(received_at=ldn(2026, 11, 20, 15), identified_on=date(2026, 11, 21))


def test_timeliness_deadlines_and_as_dict() -> None:
    t = timeliness(
        received_at=ldn(2026, 11, 20, 15, 0),
        identified_on=date(2026, 11, 19),
        first_contact_working_days=2,
    )
    assert isinstance(t, Timeliness)
    assert t.allocation_due_by == utc(2026, 11, 24)
    assert t.first_contact_due_by == utc(2026, 11, 25)
    assert t.as_dict() == {
        "referral_delay_days": 1,
        "late_referral": False,
        "allocation_due_by": "2026-11-24T00:00:00+00:00",
        "first_contact_due_by": "2026-11-25T00:00:00+00:00",
    }


def test_utcnow_is_aware_utc_and_patchable(monkeypatch: pytest.MonkeyPatch) -> None:
    now = clock.utcnow()
    assert now.utcoffset() == timedelta(0)
    fixed = utc(2026, 1, 1)
    monkeypatch.setattr(clock, "utcnow", lambda: fixed)
    assert clock.utcnow() == fixed


# --- property ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    received_at=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.just(UTC),
    ),
    working_days=st.integers(min_value=0, max_value=10),
)
def test_deadline_properties(received_at: datetime, working_days: int) -> None:
    due = end_of_working_day_after(received_at, working_days)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)
    assert due > received_at
    local = due.astimezone(LONDON)
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    deadline_day = local.date() - timedelta(days=1)
    assert is_working_day(deadline_day)
    if working_days >= 1:
        assert deadline_day > london_date(received_at)
        between = [
            london_date(received_at) + timedelta(days=i)
            for i in range(1, (deadline_day - london_date(received_at)).days + 1)
        ]
        assert sum(is_working_day(d) for d in between) == working_days
