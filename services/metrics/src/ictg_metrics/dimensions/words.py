"""The words and value lists the dimension families share: value lists, band edges, notes for the data dictionary."""

from __future__ import annotations

from ictg_common import codes
from ictg_common.reference import local_authorities

from .model import Kind


def local_authority_values() -> tuple[tuple[str, str], ...]:
    return tuple((la.code, la.name) for la in local_authorities())


def nationality_values() -> tuple[tuple[str, str], ...]:
    import pycountry

    countries = sorted((c.alpha_2, c.name) for c in pycountry.countries)
    return (*countries, ("stateless", "Stateless"), ("unknown", "Unknown"))


TOP_AGE = 25
"""Ages at referral are listed up to this one, which counts the older too: every value of a perturbed table is
listed (empty ones withheld), and an age beyond the list would show that a child of that age exists."""
B: Kind = "bool"
V = codes.values
FREQUENCY = ("none", "less_than_monthly", "monthly_or_more")
THIRD_PARTY = ("none", "under_3_per_month", "3_or_more_per_month")
MONTHS_BANDS = ("0-3", "3-6", "6-12", "12-18", "18+")
DELAY_BANDS = ("0-1", "2", "3-15", "16-39", "40+")

LONDON = "London dates and months (Europe/London)"
NULL_IF_NOT_EXITED = "null (no value) for a child not exited by `as_of`"
MONTH_NOTE = "Any month, written YYYY-MM (e.g. 2017-02)."
