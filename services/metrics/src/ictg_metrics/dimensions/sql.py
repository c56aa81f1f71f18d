"""SQL fragments the dimensions are written in, over the row alias `c` (a row of `metrics.child`) and the
parameter row `p` (`p.as_of` date, `p.ltm` long-term-missing days).

Dated facts are London dates in sorted arrays: `width_bucket(p.as_of, c.x_on)` is how many happened on or
before `as_of` (a binary search in C), so "as of the end of that day" costs almost nothing per child and no
subquery runs per row (but for long-term missing, on the children who ever went missing).
"""

from __future__ import annotations


def column(name: str) -> str:
    return f"c.{name}"


MONTH = 30.4375  # days in an average month: months in service = days / MONTH
EXITED = "(c.exit_on <= p.as_of)"
DAYS_IN_SERVICE = "(LEAST(c.exit_on, p.as_of) - c.received_on)"  # LEAST ignores NULL: not exited


def count_by(dates: str) -> str:
    """How many of the sorted dates are on or before as_of."""
    return f"width_bucket(p.as_of, c.{dates})"


def latest(dates: str, values: str) -> str:
    """The value of the latest dated record on or before as_of (NULL if none)."""
    return f"c.{values}[{count_by(dates)}]"


def frequency(dates: str, per_month: int, labels: tuple[str, str, str]) -> str:
    n = count_by(dates)
    none, low, high = labels
    return (
        f"(CASE WHEN {n} = 0 THEN '{none}' WHEN {n} * {MONTH} >= {per_month} * {DAYS_IN_SERVICE} "
        f"THEN '{high}' ELSE '{low}' END)"
    )


def band(expr: str, bands: list[tuple[float, str]], last: str) -> str:
    whens = " ".join(f"WHEN {expr} <= {upper} THEN '{label}'" for upper, label in bands)
    return f"(CASE {whens} ELSE '{last}' END)"


def seen_by(dates: str, values: str) -> str:
    """Distinct values by the day first seen: those seen by as_of are a prefix."""
    return f"c.{values}[1:{count_by(dates)}]"


def when_exited(expr: str) -> str:
    return f"(CASE WHEN {EXITED} THEN {expr} END)"


def financial_year_of(day: str) -> str:
    """`2025-26` for April 2025 to March 2026: the year of the day three months earlier, and the last two
    digits of the year of the day nine months later."""
    return f"(to_char({day} - interval '3 months', 'YYYY') || '-' || to_char({day} + interval '9 months', 'YY'))"


LONG_TERM_MISSING = (
    "(CASE WHEN cardinality(c.missing_start_on) = 0 THEN false ELSE EXISTS ("
    "SELECT 1 FROM unnest(c.missing_start_on, c.missing_end_on) AS e(s, f), "
    # an episode still open at exit stops counting there (a closed case records no return)
    "LATERAL (SELECT LEAST(p.as_of, COALESCE(c.exit_on, p.as_of)) AS upto) AS u "
    "WHERE s <= u.upto AND u.upto - s >= p.ltm AND (f IS NULL OR f > u.upto OR f - s >= p.ltm)) END)"
)
MAIN_THIRD_PARTY = f"COALESCE({latest('main_tp_on', 'main_tp')}, 'none')"
