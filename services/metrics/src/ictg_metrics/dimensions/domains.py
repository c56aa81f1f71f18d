"""Every value a dimension can take in a table for a period, in natural order."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from .catalogue import DIMENSIONS


def financial_year(day: date) -> str:
    """The financial year (April to March) of a day, as the dimensions write it: `2025-26`."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


SERVICE_START = date(2017, 1, 1)
"""The first month listed for month, quarter and year dimensions (the national service's first referrals)."""


def _months(first: date, last: date) -> list[date]:
    out, day = [], first.replace(day=1)
    while day <= last:
        out.append(day)
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def domain(name: str, *, referred_from: date | None, referred_to: date | None, as_of: date) -> list[Any] | None:
    """Every value a dimension can take in a table for this period, in natural order (null last where a child
    can have none); None where they are too many to list."""
    dim = DIMENSIONS[name]
    labelled = dim.labelled_values()
    first = max(SERVICE_START, referred_from or SERVICE_START)
    last = min(referred_to or as_of, as_of)
    values: list[Any]
    if labelled is not None:
        values = [v for v, _ in labelled]
    elif name in ("referral_month", "exit_month"):
        values = [m.strftime("%Y-%m") for m in _months(first, as_of if name == "exit_month" else last)]
    elif name == "referral_quarter":
        values = list(dict.fromkeys(f"{m.year}-Q{(m.month - 1) // 3 + 1}" for m in _months(first, last)))
    elif name in ("referral_year", "exit_year"):
        end = as_of if name == "exit_year" else last
        values = [str(y) for y in range(first.year, end.year + 1)]
    elif name in ("referral_financial_year", "exit_financial_year"):
        end = as_of if name == "exit_financial_year" else last
        values = list(dict.fromkeys(financial_year(m) for m in _months(first, end)))
    elif dim.top is not None:
        values = list(range(0, dim.top + 1))
    else:
        return None
    return [*values, None] if dim.nullable else values
