"""What each column of a published table means, for people and machines: its title and unit (the
workbook's headers, the dashboard's tables), its type, its definition and, for a coded column, every code
with its label (the data package's schema).

The words of a dimension are the data dictionary's (the `dimensions` package); the words of a measure are
here. Two measures are easy to confuse and are kept apart by their titles: `referral_deadline_met` is a
count of children (whose referral met the deadline), `met_referral_deadline` the share of decided children
who met it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..children.timeliness import DEADLINES, QUANTILES, STATS
from ..dimensions import DIMENSIONS
from .catalogue import Table

Type = Literal["string", "integer", "number", "boolean"]
Role = Literal["period", "geography", "name", "dimension", "count", "quantile", "share"]

NO_VALUE = "Not recorded"  # the label of a nullable dimension's null
STAT_WORDS = {
    "referral_delay_days": ("Referral delay", "days", "From identification to referral, in calendar days."),
    "referral_delay_working_days": ("Referral delay", "working days",
                                    "From identification to referral, in working days (England and Wales)."),
    "hours_to_allocation": ("Time to allocation", "hours", "From the referral to allocation to a guardian, in hours."),
    "hours_to_first_contact": ("Time to first contact attempt", "hours",
                               "From the referral to the guardian's first attempt to contact the child, in hours."),
    "days_to_first_contact": ("Time to first contact attempt", "days",
                              "From the referral to the guardian's first attempt to contact the child, in days."),
}  # fmt: skip
DEADLINE_WORDS = {
    "referral": "referred within 1 day of identification",
    "allocation": "allocated to a guardian by the end of the next working day",
    "first_contact": "first contact attempted by the end of the next working day",
}
QUANTILE_WORDS = {"median": "median", "p75": "75th percentile", "p90": "90th percentile"}
CASELOAD_WORDS = {
    "referrals_in": ("Referrals received", "Children referred in the month."),
    "exits_out": ("Exits", "Children who left the service in the month."),
    "in_service_end": ("Children in the service at the month's end", "Open cases on the last day of the month."),
}
COUNT_NOTE = " A published count: perturbed by the cell key method; c where withheld."


@dataclass(frozen=True)
class Column:
    """One published column."""

    name: str
    title: str
    role: Role
    type: Type
    description: str
    unit: str | None = None  # children, days, hours, percent
    codes: tuple[tuple[Any, str], ...] | None = None  # (code, label), for a coded dimension

    @property
    def header(self) -> str:
        """The column's header in a workbook or on the dashboard: its title with its unit."""
        return f"{self.title} ({self.unit})" if self.unit else self.title

    def label(self, value: Any) -> Any:
        """A coded value's label (`north_west` → North West, True → Yes); other values as they are."""
        if self.codes is None:
            return value
        if value is None:
            return NO_VALUE
        return dict(self.codes).get(value, value)


def _dimension(name: str, role: Role) -> Column:
    dim = DIMENSIONS[name]
    labelled = dim.labelled_values()
    coded = role != "period" and labelled is not None  # a place's codes too (its name is a column of its own)
    kind: Type = {"bool": "boolean", "int": "integer"}.get(dim.kind, "string")  # type: ignore[assignment]
    codes = (*labelled, *(((None, NO_VALUE),) if dim.nullable else ())) if coded and labelled else None
    return Column(name, dim.label, role, kind, dim.definition, codes=codes)


def _measure(name: str) -> Column:
    if name == "children":
        return Column(name, "Children", "count", "integer", "Children in the cell." + COUNT_NOTE, unit="number")
    if name in CASELOAD_WORDS:
        title, words = CASELOAD_WORDS[name]
        return Column(name, title, "count", "integer", words + COUNT_NOTE, unit="number")
    for stat, (title, unit, words) in STAT_WORDS.items():
        if name == f"{stat}_count":
            return Column(name, f"{title} in {unit}: children measured", "count", "integer",
                          f"Children the {title.lower()} is measured over. {words}{COUNT_NOTE}", unit="number")  # fmt: skip
        for q in QUANTILES:
            if name == f"{stat}_{q}":
                return Column(name, f"{title}: {QUANTILE_WORDS[q]}", "quantile", "integer",
                              f"{words} Rounded to whole {unit}; published only beside a published count of at "
                              "least 10 (c where withheld with it; x where nobody was measured).", unit=unit)  # fmt: skip
    for x, words in DEADLINE_WORDS.items():
        if name == f"{x}_deadline_met":
            return Column(name, f"Children {words}", "count", "integer",
                          f"A count of children, not a share: those {words}.{COUNT_NOTE}", unit="number")  # fmt: skip
        if name == f"{x}_deadline_decided":
            return Column(name, f"Children decided for the {x.replace('_', ' ')} deadline", "count", "integer",
                          f"Children for whom the {x.replace('_', ' ')} deadline was met, missed or past by the "
                          f"release's as-at date.{COUNT_NOTE}", unit="number")  # fmt: skip
        if name == f"met_{x}_deadline":
            return Column(name, f"Share {words}", "share", "number",
                          f"A share, not a count: children {words} divided by children decided, from the published "
                          "counts (0 to 1; the workbook shows it as a percentage to the precision its counts allow). "
                          "c where either count is withheld; x where none was decided.", unit="share")  # fmt: skip
    raise KeyError(f"no words for the published column {name!r}")


def column(table: Table, name: str) -> Column:
    """The words of one column of `table`."""
    if name.endswith("_name") and name[: -len("_name")] in DIMENSIONS:
        dim = DIMENSIONS[name[: -len("_name")]]
        return Column(name, f"{dim.label}: name", "name", "string", f"The name of the {dim.label.lower()}.")
    if name == "month" and table.measure == "caseload":
        return Column(name, "Month", "period", "string", "The calendar month, YYYY-MM (Europe/London).")
    if name in DIMENSIONS:
        role: Role = "period" if name == table.period_dimension else (
            "geography" if name == table.geography_dimension else "dimension")  # fmt: skip
        return _dimension(name, role)
    return _measure(name)


def columns_of(table: Table, names: list[str]) -> list[Column]:
    return [column(table, n) for n in names]


def share_decimals(of: int) -> int:
    """How many decimal places a percentage of `of` children can honestly carry: none under 1,000 (one child
    is then more than 0.1 percentage points, and perturbation moves counts by a few), one from 1,000."""
    return max(0, int(math.log10(of)) - 2) if of > 0 else 0


def percentage(met: int | None, of: int | None) -> float | None:
    """A published share as a percentage, from its published counts, rounded to the precision they allow;
    None where either is withheld or none was decided."""
    if met is None or not of:
        return None
    places = share_decimals(of)
    value = round(100 * min(met / of, 1.0), places)
    return float(value) if places else float(int(value))


def deadline_of(share_column: str) -> str:
    """`met_first_contact_deadline` → `first_contact`."""
    return share_column[len("met_") : -len("_deadline")]


__all__ = ["DEADLINES", "STATS", "Column", "column", "columns_of", "deadline_of", "percentage", "share_decimals"]
