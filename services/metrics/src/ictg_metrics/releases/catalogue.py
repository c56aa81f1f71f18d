"""The catalogue of published tables: the only questions an outside organisation may ask of metrics.

Every table is declared here, in code: a measure, at most three dimensions from a fixed list, one
geography level and one period grid (calendar month, quarter, year or financial year). Each period is a
cell of its own: nobody chooses a range, nobody ORs values together, so the same children can only be
reached through the combinations listed here, which the attack suite in the tests walks (unions and
complements of cells, margins minus cells, nested periods, the geography hierarchy, the same group
through different tables). Local-authority tables have no dimension but their period: an authority's
children are few, and any finer cell would be withheld or would single children out.

Regions and local authorities have one period grid only, the financial year of referral, and no
two-valued dimension (both checked below). A region's few children, counted again in shorter periods
nested in its year (quarters, months, the caseload's monthly stocks and flows), let a withheld period be
told from 0, or pinned to 0, by the published ones: the cell key method withholds every count of 1-9, so
a published 10-14 means at least 10, and a year whose noise fell low then leaves a withheld quarter no
room (the attack suite found it so for London); a month's stock less the last one's and its published
flow shows a withheld flow non-empty. And a small region split into two categories beside a published
total (missing when referred or not) shows the withheld one non-empty whenever the total's noise less the
other's reaches 11 less its count: for 7 children, one draw in ten (in each release that revises the
total). Months, quarters, years and the caseload are national, where the service's counts are large
(hundreds of referrals a month), and so are the two-valued breakdowns; a national count that is small all
the same (a month's exits, a rare category) can still be told from 0 by those relations, and the attack
suite measures how often.

The tables answer what the evaluations of the ICTG service and the Home Office's ICTG statistics
publish: referrals by month, region, age band, gender, nationality group, exploitation type and
referrer; caseload; time to allocation and first contact; missing episodes; NRM outcomes; length of
support; reasons for closure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..dimensions import DIMENSIONS

Measure = Literal["children", "caseload", "timeliness"]
Geography = Literal["england_and_wales", "region", "local_authority"]
Period = Literal["month", "quarter", "year", "financial_year"]

GEOGRAPHY_DIMENSION: dict[str, str | None] = {"england_and_wales": None, "region": "region",
                                              "local_authority": "local_authority"}  # fmt: skip
PERIOD_DIMENSION = {
    ("referral", "month"): "referral_month",
    ("referral", "quarter"): "referral_quarter",
    ("referral", "year"): "referral_year",
    ("referral", "financial_year"): "referral_financial_year",
    ("exit", "year"): "exit_year",
    ("exit", "financial_year"): "exit_financial_year",
}
MAX_DIMENSIONS = 3
COARSE: frozenset[str] = frozenset()  # dimensions a local-authority table may have besides its period: none (see above)
SUBNATIONAL_GRID = ("referral", "financial_year")  # the one period grid of regions and authorities (see above)


@dataclass(frozen=True)
class Table:
    """One published table."""

    id: str
    title: str
    measure: Measure
    period: Period
    geography: Geography = "england_and_wales"
    dimensions: tuple[str, ...] = ()
    basis: Literal["referral", "exit"] = "referral"  # the date the period is of
    description: str = ""
    filters: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # fixed: exits only, say

    def __post_init__(self) -> None:
        if len(self.dimensions) > MAX_DIMENSIONS:
            raise ValueError(f"table {self.id}: at most {MAX_DIMENSIONS} dimensions")
        unknown = [d for d in self.dimensions if d not in DIMENSIONS or DIMENSIONS[d].multi]
        if unknown:
            raise ValueError(f"table {self.id}: {unknown} are not single-valued dimensions")
        if self.geography == "local_authority" and set(self.dimensions) - COARSE:
            raise ValueError(f"table {self.id}: a local-authority table has coarse dimensions only")
        if self.geography != "england_and_wales":
            if (self.basis, self.period) != SUBNATIONAL_GRID or self.measure == "caseload":
                raise ValueError(f"table {self.id}: regions and authorities are by financial year of referral only")
            two = [d for d in self.dimensions if len(DIMENSIONS[d].labelled_values() or ()) == 2]
            if two:
                raise ValueError(f"table {self.id}: {two} would split a region in two beside its published total")
        if self.measure == "caseload" and self.period != "month":
            raise ValueError(f"table {self.id}: caseload is a monthly measure")
        if self.measure != "caseload" and (self.basis, self.period) not in PERIOD_DIMENSION:
            raise ValueError(f"table {self.id}: no period grid {self.basis} {self.period}")

    @property
    def period_dimension(self) -> str | None:
        """The dimension a table's periods are cells of (None for caseload, whose rows are months)."""
        return None if self.measure == "caseload" else PERIOD_DIMENSION[(self.basis, self.period)]

    @property
    def geography_dimension(self) -> str | None:
        return GEOGRAPHY_DIMENSION[self.geography]

    @property
    def group_by(self) -> tuple[str, ...]:
        """The dimensions of a cell, in the order of the table's columns: period, geography, the rest."""
        return tuple(d for d in (self.period_dimension, self.geography_dimension, *self.dimensions) if d)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "measure": self.measure, "period": self.period,
                "period_of": self.basis, "geography": self.geography, "dimensions": list(self.dimensions),
                "filters": {k: list(v) for k, v in self.filters.items()}, "description": self.description}  # fmt: skip


EXITS = {"exited": (True,)}

CATALOGUE: tuple[Table, ...] = (
    # referrals
    Table("referrals_by_month", "Children referred, by month", "children", "month",
          description="Children referred to the service (one per referral), by the month the referral was received."),
    Table("referrals_by_financial_year_and_region", "Children referred, by financial year and region", "children",
          "financial_year", geography="region",
          description="By the region the child was referred in, by financial year only: a region's quarters or "
          "months nested in its year would tell withheld ones apart."),
    Table("referrals_by_financial_year_and_local_authority",
          "Children referred, by financial year and local authority", "children", "financial_year",
          geography="local_authority",
          description="By the local authority the child was referred in. No other breakdown: an authority's "
          "children are few."),
    Table("referrals_by_year_age_band_and_gender", "Children referred, by year, age band and gender", "children",
          "year", dimensions=("age_band", "gender")),
    Table("referrals_by_year_and_nationality_group", "Children referred, by year and nationality group", "children",
          "year", dimensions=("nationality_group",)),
    Table("referrals_by_financial_year_region_and_exploitation",
          "Children referred, by financial year, region and main type of exploitation", "children", "financial_year",
          geography="region", dimensions=("primary_exploitation",)),
    Table("referrals_by_year_and_referrer_type", "Children referred, by year and referring organisation type",
          "children", "year", dimensions=("referrer_type",)),
    Table("referrals_by_quarter_and_uasc", "Children referred, by quarter and whether unaccompanied asylum-seeking",
          "children", "quarter", dimensions=("uasc",)),
    # caseload
    Table("caseload_by_month", "Caseload by month: referrals in, exits out, children in service at month end",
          "caseload", "month"),
    # timeliness
    Table("timeliness_by_quarter", "Time to allocation and first contact, referral delay, deadlines met, by quarter",
          "timeliness", "quarter",
          description="Medians and 75th and 90th percentiles: referral delay in whole days, time to allocation and "
          "to first contact attempt in whole hours (and days); each published only for a cell of at least 10 "
          "published children."),
    Table("timeliness_by_financial_year_and_region", "Timeliness by financial year and region", "timeliness",
          "financial_year", geography="region"),
    # missing
    Table("missing_by_year", "Children who went missing while in the service, and long-term missing, by year of "
          "referral", "children", "year", dimensions=("missing_in_service", "long_term_missing")),
    Table("return_interviews_by_year", "Return home interviews offered within 72 hours of a missing child's return, by "
          "year of referral", "children", "year", dimensions=("return_interview_within_72h",),
          description="Children by whether every return from a missing episode (its 72 hours passed) was offered an "
          "interview within 72 hours: among children with a return, those answering yes are the share offered "
          "in time."),
    Table("missing_at_referral_by_financial_year", "Children missing when referred, by financial year",
          "children", "financial_year", dimensions=("missing_at_referral",)),
    # NRM
    Table("nrm_outcomes_by_year", "NRM reasonable and conclusive grounds decisions, by year of referral",
          "children", "year", dimensions=("nrm_reasonable_grounds", "nrm_conclusive_grounds")),
    # length of support and closures
    Table("length_of_support_by_exit_year", "Children who left the service, by year of exit and months in service",
          "children", "year", basis="exit", dimensions=("months_in_service_band",), filters=EXITS),
    Table("exit_reasons_by_financial_year", "Children who left the service, by financial year of exit and reason",
          "children", "financial_year", basis="exit", dimensions=("exit_reason",), filters=EXITS),
    Table("exit_destinations_by_year", "Children who left the service, by year of exit and where they moved on to",
          "children", "year", basis="exit", dimensions=("exit_destination",), filters=EXITS),
)  # fmt: skip

TABLES: dict[str, Table] = {t.id: t for t in CATALOGUE}
if len(TABLES) != len(CATALOGUE):
    raise ValueError("two published tables share an id")
