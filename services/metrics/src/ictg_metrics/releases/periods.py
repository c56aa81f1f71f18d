"""A release's periods: which month a release is, when each period of a table ends, and which periods were
not over at a release's as-at date (partial: counted only up to it, and bound to change in later releases).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from .catalogue import CATALOGUE, Table

RELEASE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MONTHS = ("referral_month", "exit_month", "month")
QUARTERS = ("referral_quarter",)
YEARS = ("referral_year", "exit_year")
FINANCIAL_YEARS = ("referral_financial_year", "exit_financial_year")


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def parse_release(name: str) -> date:
    """The first day of a release's month (`2026-11` → 2026-11-01); ValueError if it is not YYYY-MM."""
    match = RELEASE.match(name)
    if not match:
        raise ValueError(f"a release is a month, YYYY-MM, not {name[:20]!r}")
    return date(int(match[1]), int(match[2]), 1)


def period_end(dimension: str, value: Any) -> date | None:
    """The last day of the period a row is of (`2025-03`, `2025-Q1`, `2025`, `2024-25`); None if it names none."""
    text = str(value)
    try:
        if dimension in MONTHS:
            return month_end(parse_release(text))
        if dimension in QUARTERS:
            year, quarter = text.split("-Q")
            return month_end(date(int(year), 3 * int(quarter), 1))
        if dimension in YEARS:
            return date(int(text), 12, 31)
        if dimension in FINANCIAL_YEARS:
            return date(int(text[:4]) + 1, 3, 31)
    except ValueError:
        return None
    return None


def period_column(table: Table) -> str:
    """The column a table's periods are in (`month` for the caseload)."""
    return table.period_dimension or "month"


def is_partial(table: Table, value: Any, *, as_at: date) -> bool:
    """True if the period `value` of `table` was not over at `as_at`."""
    end = period_end(period_column(table), value)
    return end is not None and end > as_at


def partial_periods(table: Table, rows: list[dict[str, Any]], *, as_at: date) -> list[str]:
    """The periods of `rows` not over at `as_at`, in the table's order: e.g. 2026-Q4 and 2026 in a release
    as at 30 November 2026."""
    column = period_column(table)
    seen: dict[str, None] = {}
    for row in rows:
        value = row.get(column)
        if value is not None and is_partial(table, value, as_at=as_at):
            seen[str(value)] = None
    return list(seen)


def period_words(table: Table, value: Any, *, as_at: date) -> str:
    """`complete`, or `partial: to 30 November 2026` for a period still running at the release's as-at date."""
    return f"partial: to {as_at.day} {as_at:%B %Y}" if is_partial(table, value, as_at=as_at) else "complete"


def partial_by_table(tables: dict[str, dict[str, Any]], *, as_at: date) -> dict[str, list[str]]:
    """The partial periods of each table of a release that has any."""
    found = {t.id: partial_periods(t, tables[t.id]["rows"], as_at=as_at) for t in CATALOGUE if t.id in tables}
    return {t: p for t, p in found.items() if p}


def all_partial(tables: dict[str, dict[str, Any]], *, as_at: date) -> list[str]:
    """Every partial period of a release, once each, sorted."""
    return sorted({p for periods in partial_by_table(tables, as_at=as_at).values() for p in periods})
