"""The dimensions analysts group and filter by (DESIGN.md §9), as SQL over `metrics.child`.

Each dimension is a SQL expression on the row alias `c` and the parameter row `p`
(`p.as_of` date, `p.ltm` long-term-missing days). Dated facts are London dates in sorted arrays:
`width_bucket(p.as_of, c.x_on)` is how many happened on or before `as_of` (a binary search in C),
so "as of the end of that day" costs almost nothing per child and no subquery runs per row (but
for long-term missing, on the children who ever went missing). Multi-valued dimensions are arrays
of distinct values, expanded through a lateral `unnest`: a child counts once per value while totals
stay distinct children.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from ictg_common import codes
from ictg_common.codes import value_label
from ictg_common.errors import invalid
from ictg_common.reference import REGION_SLUGS, REGIONS, local_authorities

Kind = Literal["text", "bool", "int"]


@dataclass(frozen=True)
class Dimension:
    """One dimension: its SQL and, for the data dictionary (`GET /v1/metrics/dimensions`), its words."""

    name: str
    sql: str
    multi: bool = False  # sql is an array of the child's distinct values
    kind: Kind = "text"
    values: tuple[str, ...] | None = None  # the codes a filter may ask for (None: any), in natural order
    label: str = ""  # a short human label
    definition: str = ""  # DESIGN.md §9, in plain words
    value_labels: tuple[str, ...] | None = None  # labels of `values`, in the same order (default: from the code)
    catalogue: Callable[[], tuple[tuple[str, str], ...]] | None = None  # (value, label) where values is None
    values_note: str | None = None  # what the values are when they cannot all be listed
    top: int | None = None  # kind int: the largest value, which also counts every larger one (`sql` caps it)

    def __post_init__(self) -> None:
        if not (self.label and self.definition):
            raise ValueError(f"dimension {self.name} needs a label and a definition")
        if self.value_labels is not None and (self.values is None or len(self.value_labels) != len(self.values)):
            raise ValueError(f"dimension {self.name}: one label per value")

    def labelled_values(self) -> list[tuple[str | bool, str]] | None:
        """Every value in its natural order with its label, or None where the values are open-ended."""
        if self.kind == "bool":
            return [(False, "No"), (True, "Yes")]
        if self.values is not None:
            labels = self.value_labels or tuple(value_label(v) for v in self.values)
            return list(zip(self.values, labels, strict=True))
        if self.catalogue is not None:
            return list(self.catalogue())
        return None


def band_labels(bands: tuple[str, ...], unit: str) -> tuple[str, ...]:
    """`0-1` → "0–1 days", `40+` → "40 days or more", `2` → "2 days"; other codes (`none`) as codes."""

    def one(band: str) -> str:
        if band.endswith("+") and band[:-1].isdigit():
            return f"{band[:-1]} {unit} or more"
        low, _, high = band.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            return f"{low}–{high} {unit}" if high else f"{band} {unit}"
        return value_label(band)

    return tuple(one(b) for b in bands)


def _local_authorities() -> tuple[tuple[str, str], ...]:
    return tuple((la.code, la.name) for la in local_authorities())


def _nationalities() -> tuple[tuple[str, str], ...]:
    import pycountry

    countries = sorted((c.alpha_2, c.name) for c in pycountry.countries)
    return (*countries, ("stateless", "Stateless"), ("unknown", "Unknown"))


def _col(name: str) -> str:
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


def _frequency(dates: str, per_month: int, labels: tuple[str, str, str]) -> str:
    n = count_by(dates)
    none, low, high = labels
    return (
        f"(CASE WHEN {n} = 0 THEN '{none}' WHEN {n} * {MONTH} >= {per_month} * {DAYS_IN_SERVICE} "
        f"THEN '{high}' ELSE '{low}' END)"
    )


def _band(expr: str, bands: list[tuple[float, str]], last: str) -> str:
    whens = " ".join(f"WHEN {expr} <= {upper} THEN '{label}'" for upper, label in bands)
    return f"(CASE {whens} ELSE '{last}' END)"


def _seen_by(dates: str, values: str) -> str:
    """Distinct values by the day first seen: those seen by as_of are a prefix."""
    return f"c.{values}[1:{count_by(dates)}]"


def _when_exited(expr: str) -> str:
    return f"(CASE WHEN {EXITED} THEN {expr} END)"


def _financial_year(day: str) -> str:
    """`2025-26` for April 2025 to March 2026: the year of the day three months earlier, and the last two
    digits of the year of the day nine months later."""
    return f"(to_char({day} - interval '3 months', 'YYYY') || '-' || to_char({day} + interval '9 months', 'YY'))"


def financial_year(day: date) -> str:
    """The financial year (April to March) of a day, as the dimensions write it: `2025-26`."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


TOP_AGE = 25
"""Ages at referral are listed up to this one, which counts the older too: every value of a perturbed table is
listed (empty ones withheld), and an age beyond the list would show that a child of that age exists."""
B: Kind = "bool"
V = codes.values
FREQUENCY = ("none", "less_than_monthly", "monthly_or_more")
THIRD_PARTY = ("none", "under_3_per_month", "3_or_more_per_month")
MONTHS_BANDS = ("0-3", "3-6", "6-12", "12-18", "18+")
DELAY_BANDS = ("0-1", "2", "3-15", "16-39", "40+")

_LONG_TERM_MISSING = (
    "(CASE WHEN cardinality(c.missing_start_on) = 0 THEN false ELSE EXISTS ("
    "SELECT 1 FROM unnest(c.missing_start_on, c.missing_end_on) AS e(s, f), "
    # an episode still open at exit stops counting there (a closed case records no return)
    "LATERAL (SELECT LEAST(p.as_of, COALESCE(c.exit_on, p.as_of)) AS upto) AS u "
    "WHERE s <= u.upto AND u.upto - s >= p.ltm AND (f IS NULL OR f > u.upto OR f - s >= p.ltm)) END)"
)
_MAIN_THIRD_PARTY = f"COALESCE({latest('main_tp_on', 'main_tp')}, 'none')"

_LONDON = "London dates and months (Europe/London)"
_NULL_IF_NOT_EXITED = "null (no value) for a child not exited by `as_of`"
_MONTH_NOTE = "Any month, written YYYY-MM (e.g. 2017-02)."

_ALL = [
    # at referral
    Dimension(
        "referral_month",
        "to_char(c.received_on, 'YYYY-MM')",
        label="Month of referral",
        definition=f"The month the referral was received (`received_at`), {_LONDON}.",
        values_note=_MONTH_NOTE,
    ),
    Dimension(
        "referral_quarter",
        "to_char(c.received_on, 'YYYY-\"Q\"Q')",
        label="Quarter of referral",
        definition=f"The calendar quarter the referral was received (`received_at`), {_LONDON}.",
        values_note="Any calendar quarter, written YYYY-Qn (e.g. 2017-Q1 is January to March 2017).",
    ),
    Dimension(
        "referral_year",
        "to_char(c.received_on, 'YYYY')",
        label="Year of referral",
        definition=f"The calendar year the referral was received (`received_at`), {_LONDON}.",
        values_note="Any year, written YYYY (e.g. 2017).",
    ),
    Dimension(
        "referral_financial_year",
        _financial_year("c.received_on"),
        label="Financial year of referral",
        definition=f"The financial year (April to March) the referral was received (`received_at`), {_LONDON}.",
        values_note="Any financial year, written YYYY-YY (e.g. 2017-18 is April 2017 to March 2018).",
    ),
    Dimension(
        "gender",
        _col("gender"),
        values=V(codes.Gender),
        label="Gender",
        definition="The child's gender, as recorded at referral.",
    ),
    Dimension(
        "age_band",
        _col("age_band"),
        values=V(codes.AgeBand),
        label="Age band at referral",
        value_labels=band_labels(V(codes.AgeBand), "years"),
        definition="The child's age at referral, in bands of whole years; unknown when the date of birth is not known.",
    ),
    Dimension(
        "age_at_referral",
        f"LEAST({_col('age_at_referral')}, {TOP_AGE})",
        kind="int",
        label="Age at referral",
        definition=f"The child's age at referral, in whole years, {TOP_AGE} standing for {TOP_AGE} or over (an age "
        "in dispute can be any); null when the date of birth is not known.",
        values_note=f"A whole number of years from 0 to {TOP_AGE} (e.g. 15); {TOP_AGE} means {TOP_AGE} or over.",
        top=TOP_AGE,
    ),
    Dimension(
        "nationality",
        _col("nationality"),
        label="Nationality",
        catalogue=_nationalities,
        definition="The child's nationality at referral: an ISO 3166 two-letter country code, stateless or unknown.",
    ),
    Dimension(
        "nationality_group",
        _col("nationality_group"),
        values=V(codes.NationalityGroup),
        label="Nationality group",
        definition="The child's nationality at referral, grouped: UK, EEA, outside the EEA (stateless included), or unknown.",
    ),
    Dimension(
        "uasc",
        _col("uasc"),
        kind=B,
        label="Unaccompanied asylum-seeking child",
        definition="Whether the child was an unaccompanied asylum-seeking child (UASC) at referral.",
    ),
    Dimension(
        "primary_exploitation",
        _col("primary_exploitation"),
        values=V(codes.ExploitationType),
        label="Primary exploitation type",
        definition="The main type of exploitation recorded at referral.",
    ),
    Dimension(
        "exploitation_type",
        "c.exploitation_type",
        multi=True,
        values=V(codes.ExploitationType),
        label="Exploitation types",
        definition="Every type of exploitation recorded at referral (the primary one and any others). Multi-valued: "
        "a child counts once under each of their types, while totals stay distinct children.",
    ),
    Dimension(
        "county_lines",
        _col("county_lines"),
        kind=B,
        label="County lines",
        definition="Whether county lines exploitation was recorded at referral.",
    ),
    Dimension(
        "referrer_type",
        _col("referrer_type"),
        values=V(codes.OrganisationType),
        label="Referrer type",
        definition="The type of organisation that made the referral.",
    ),
    Dimension(
        "local_authority",
        _col("local_authority_code"),
        label="Local authority at referral",
        catalogue=_local_authorities,
        definition="The child's upper-tier local authority at referral, as its ONS (GSS) code.",
        values_note="GSS codes of the upper-tier local authorities of England and Wales as at April 2025; "
        "data recorded before a reorganisation may carry a former code.",
    ),
    Dimension(
        "region",
        _col("region"),
        values=tuple(REGION_SLUGS),
        value_labels=REGIONS,
        label="Region at referral",
        definition="The region of the child's local authority at referral (England's nine regions, and Wales).",
    ),
    Dimension(
        "pathway",
        _col("pathway"),
        values=V(codes.Pathway),
        label="Pathway",
        definition="The service pathway the child was placed on at referral.",
    ),
    Dimension(
        "living_situation_at_referral",
        _col("living_situation"),
        values=V(codes.LivingSituation),
        label="Living situation at referral",
        definition="Where the child was living at referral.",
    ),
    Dimension(
        "trafficker_contact_at_referral",
        _col("trafficker_contact"),
        values=V(codes.TraffickerContact),
        label="Contact with trafficker at referral",
        definition="The child's contact with the (suspected) trafficker, as recorded at referral.",
    ),
    Dimension(
        "education_at_referral",
        _col("education"),
        values=V(codes.Education),
        label="Education at referral",
        definition="Whether the child was attending education at referral.",
    ),
    # DESIGN §4: an empty list means none
    Dimension(
        "cjs_involvement",
        "(CASE WHEN cardinality(c.cjs_involvement) = 0 THEN ARRAY['none']::text[] ELSE c.cjs_involvement END)",
        multi=True,
        values=(*V(codes.CjsInvolvement), "none"),
        label="Criminal justice involvement at referral",
        definition="The child's involvement with the criminal justice system recorded at referral (victim, witness, "
        "accused), none if there was none. Multi-valued: a child counts once under each value.",
    ),
    Dimension(
        "missing_at_referral",
        _col("missing_at_referral"),
        kind=B,
        label="Missing at referral",
        definition="True if the child was missing when the referral was made, false otherwise.",
    ),
    Dimension(
        "referral_delay_band",
        _col("referral_delay_band"),
        values=DELAY_BANDS,
        value_labels=band_labels(DELAY_BANDS, "days"),
        label="Referral delay",
        definition="Calendar days from the day the child was identified to the day the referral was received "
        "(`received_on − identified_on`), in bands: 0-1, 2, 3-15, 16-39, 40+.",
    ),
    Dimension(
        "referral_delay_working_days_band",
        _col("referral_delay_working_days_band"),
        values=DELAY_BANDS,
        value_labels=band_labels(DELAY_BANDS, "working days"),
        label="Referral delay (working days)",
        definition="Working days from the day the child was identified to the day the referral was received: the "
        "days after `identified_on` up to and including `received_on` that are Monday to Friday and not an "
        "England-and-Wales bank holiday, in bands: 0-1, 2, 3-15, 16-39, 40+.",
    ),
    # as of as_of
    Dimension(
        "current_local_authority",
        f"COALESCE({latest('move_on', 'move_la')}, c.local_authority_code)",
        label="Current local authority",
        catalogue=_local_authorities,
        definition="The child's upper-tier local authority as of `as_of`, after any moves (the one at referral if "
        "the child has not moved), as its ONS (GSS) code.",
        values_note="GSS codes of the upper-tier local authorities of England and Wales as at April 2025; "
        "data recorded before a reorganisation may carry a former code.",
    ),
    Dimension(
        "current_region",
        f"COALESCE({latest('move_on', 'move_region')}, c.region)",
        values=tuple(REGION_SLUGS),
        value_labels=REGIONS,
        label="Current region",
        definition="The region of the child's local authority as of `as_of`, after any moves.",
    ),
    Dimension(
        "first_contact_band",
        "(CASE WHEN c.first_contact_on IS NULL OR c.first_contact_on > p.as_of THEN 'none' "
        "WHEN c.first_contact_on - c.received_on <= 1 THEN '0-1' "
        "WHEN c.first_contact_on - c.received_on <= 6 THEN '2-6' ELSE '7+' END)",
        values=("0-1", "2-6", "7+", "none"),
        value_labels=("0–1 days", "2–6 days", "7 days or more", "No contact yet"),
        label="Time to first contact",
        definition="Calendar days from the referral being received (`received_at`) to the first contact with any "
        "party, attempted or made, in bands: 0-1, 2-6, 7+, or none if there was none by `as_of`.",
    ),
    Dimension(
        "status",
        f"(CASE WHEN {EXITED} THEN '{codes.EXITED}' "
        f"ELSE COALESCE({latest('allocation_state_on', 'allocation_state')}, '{codes.AWAITING_ALLOCATION}') END)",
        values=codes.CASE_STATUSES,
        label="Case status",
        definition="The case's status at the end of `as_of`: awaiting allocation, allocated, or exited.",
    ),
    Dimension(
        "months_in_service_band",
        _band(
            DAYS_IN_SERVICE,
            [(3 * MONTH, "0-3"), (6 * MONTH, "3-6"), (12 * MONTH, "6-12"), (18 * MONTH, "12-18")],
            "18+",
        ),
        values=MONTHS_BANDS,
        value_labels=(
            "Up to 3 months",
            "Over 3, up to 6 months",
            "Over 6, up to 12 months",
            "Over 12, up to 18 months",
            "Over 18 months",
        ),
        label="Months in service",
        definition="Months in service: days from the referral being received to the exit, or to `as_of` if the "
        "child has not exited by then, divided by 30.4375. In bands 0-3, 3-6, 6-12, 12-18, 18+; above 0 a "
        "band excludes its lower bound (exactly 3 months is 0-3).",
    ),
    Dimension(
        "activity_base",
        f"({DAYS_IN_SERVICE} >= {MONTH} AND NOT (COALESCE(c.missing_at_referral, false) "
        f"AND {count_by('child_contact_on')} = 0))",
        kind=B,
        label="In the activity base",
        definition="True if the child has been in service for at least a month, unless they were missing at "
        "referral and no contact has been made with them; the base for the contact measures.",
    ),
    Dimension(
        "contact_frequency",
        _frequency("child_contact_on", 1, FREQUENCY),
        values=FREQUENCY,
        label="Contact frequency",
        definition="Contacts made with the child (any method) per month in service, as of `as_of`: none, less "
        "than monthly, or monthly or more.",
    ),
    Dimension(
        "face_to_face_frequency",
        _frequency("f2f_contact_on", 1, FREQUENCY),
        values=FREQUENCY,
        label="Face-to-face contact frequency",
        definition="Like contact_frequency, counting only face-to-face contacts made with the child.",
    ),
    Dimension(
        "third_party_frequency",
        _frequency("tp_contact_on", 3, THIRD_PARTY),
        values=THIRD_PARTY,
        label="Third-party contact frequency",
        definition="Contacts made with any party other than the child, per month in service, as of `as_of`: "
        "none, under 3 a month, or 3 or more a month.",
    ),
    Dimension(
        "main_third_party",
        _MAIN_THIRD_PARTY,
        values=(*V(codes.Party), "none"),
        label="Main third party",
        definition="The party other than the child with the most contacts made, as of `as_of`; a tie goes to the "
        "alphabetically first code; none if there were no such contacts.",
    ),
    Dimension(
        "topic",
        _seen_by("topic_on", "topic"),
        multi=True,
        values=V(codes.Topic),
        label="Contact topics",
        definition="The topics of face-to-face contacts made with the child, as of `as_of`. Multi-valued: a child "
        "counts once under each topic.",
    ),
    Dimension(
        "legal_advice_area",
        _seen_by("legal_on", "legal_area"),
        multi=True,
        values=V(codes.AdvocacyArea),
        label="Legal advice areas",
        definition="The areas of advocacy of kind legal_advice given for the child, as of `as_of`. Multi-valued: "
        "a child counts once under each area.",
    ),
    Dimension(
        "missing_in_service",
        "COALESCE(c.missing_in_service_on <= p.as_of, false)",
        kind=B,
        label="Went missing in service",
        definition="True if a missing episode, other than one already open at referral, started after the referral "
        "was received and before exit, by `as_of`.",
    ),
    Dimension(
        "long_term_missing",
        _LONG_TERM_MISSING,
        kind=B,
        label="Long-term missing",
        definition="True if a missing episode lasted, or is still open and has lasted, 60 days or more (the "
        "service's configured threshold) by `as_of`.",
    ),
    Dimension(
        "exited",
        f"COALESCE({EXITED}, false)",
        kind=B,
        label="Exited",
        definition="True if the case exited on or before `as_of`.",
    ),
    Dimension(
        "exit_reason",
        _when_exited("c.exit_reason"),
        values=V(codes.ExitReason),
        label="Exit reason",
        definition=f"Why the case exited, if it exited on or before `as_of`; {_NULL_IF_NOT_EXITED}.",
    ),
    Dimension(
        "exit_destination",
        _when_exited("c.exit_destination"),
        values=V(codes.ExitDestination),
        label="Exit destination",
        definition=f"The service the child moved on to at exit, if it was on or before `as_of`; {_NULL_IF_NOT_EXITED}.",
    ),
    Dimension(
        "exit_month",
        _when_exited("to_char(c.exit_on, 'YYYY-MM')"),
        label="Month of exit",
        definition=f"The month of exit ({_LONDON}), if on or before `as_of`; {_NULL_IF_NOT_EXITED}.",
        values_note=_MONTH_NOTE,
    ),
    Dimension(
        "exit_year",
        _when_exited("to_char(c.exit_on, 'YYYY')"),
        label="Year of exit",
        definition=f"The calendar year of exit ({_LONDON}), if on or before `as_of`; {_NULL_IF_NOT_EXITED}.",
        values_note="Any year, written YYYY (e.g. 2018).",
    ),
    Dimension(
        "exit_financial_year",
        _when_exited(_financial_year("c.exit_on")),
        label="Financial year of exit",
        definition=f"The financial year (April to March) of exit ({_LONDON}), if on or before `as_of`; "
        f"{_NULL_IF_NOT_EXITED}.",
        values_note="Any financial year, written YYYY-YY (e.g. 2018-19).",
    ),
    Dimension(
        "transitioned",
        f"COALESCE({EXITED} AND c.exit_destination <> 'none', false)",
        kind=B,
        label="Transitioned",
        definition="True if the case exited on or before `as_of` with a destination other than none.",
    ),
    Dimension(
        "nrm_reasonable_grounds",
        f"COALESCE({latest('rg_on', 'rg_outcome')}, 'pending')",
        values=("positive", "negative", "pending"),
        label="NRM reasonable grounds decision",
        definition="The latest National Referral Mechanism reasonable grounds decision on or before `as_of`: "
        "positive or negative, or pending if there is none yet.",
    ),
    Dimension(
        "nrm_conclusive_grounds",
        f"COALESCE({latest('cg_on', 'cg_outcome')}, 'pending')",
        values=("positive", "negative", "pending"),
        label="NRM conclusive grounds decision",
        definition="The latest National Referral Mechanism conclusive grounds decision on or before `as_of`: "
        "positive or negative, or pending if there is none yet.",
    ),
]

DIMENSIONS: dict[str, Dimension] = {d.name: d for d in _ALL}
ORDERED = frozenset(d.name for d in _ALL if d.values is not None)
"""Dimensions with a closed list of values: rows follow its order, the dictionary's (bands `0-1, 2, 3-15, …`,
statuses from awaiting allocation to exited, frequencies from none up), not text order."""


def in_natural_order(rows: list[dict[str, Any]], group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Result rows with every dimension that has a closed list of values in that list's order; other
    dimensions (months, codes of places, booleans) keep the order the query gave them. No value (null)
    sorts last, as in SQL."""
    if not ORDERED.intersection(group_by):
        return rows

    def key(row: dict[str, Any]) -> tuple[tuple[int, Any], ...]:
        out: list[tuple[int, Any]] = []
        for g in group_by:
            v, values = row.get(g), DIMENSIONS[g].values
            if v is None:
                out.append((2, ""))
            elif g in ORDERED and values is not None and v in values:
                out.append((0, values.index(v)))
            else:
                out.append((1, v))
        return tuple(out)

    return sorted(rows, key=key)  # stable: a group's months stay in order


# codes a reader cannot read: a name beside
NAMED = ("local_authority", "current_local_authority", "region", "current_region")


@functools.cache
def _names(dimension: str) -> dict[Any, str]:
    return dict(DIMENSIONS[dimension].labelled_values() or ())


def with_names(rows: list[dict[str, Any]], group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Rows grouped by a local authority or region carry its name beside its code (`<dimension>_name`)."""
    for g in (g for g in group_by if g in NAMED):
        names = _names(g)
        for row in rows:
            row[f"{g}_name"] = names.get(row.get(g))
    return rows


def columns_with_names(group_by: Sequence[str]) -> list[str]:
    """The CSV columns of `group_by`, each named dimension followed by its name column."""
    return [c for g in group_by for c in ((g, f"{g}_name") if g in NAMED else (g,))]


MAX_FILLED_CELLS = 2000
"""Largest perturbed table: every cell of it is listed, empty ones included (`with_empty_cells`)."""
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
    return [*values, None] if "null" in dim.definition else values


def with_empty_cells(
    rows: list[dict[str, Any]], group_by: Sequence[str], zero: dict[str, Any], *, per: str | None = None,
    per_values: Sequence[Any] = (), referred_from: date | None = None, referred_to: date | None = None, as_of: date,
    filters: dict[str, tuple[Any, ...]] | None = None, max_cells: int = MAX_FILLED_CELLS,
    values: Sequence[Sequence[Any]] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """`rows` with every combination of the grouping dimensions' values that has none, as a row of `zero`
    counts (one per value of `per`, e.g. per month: `per_values`, which must not depend on the rows), in
    natural order of every dimension. Ungrouped, a table with no row gets one row of `zero`.

    Perturbed, an empty cell is withheld as a small one is (ONS's package does the same with categorical
    variables): listing only non-empty groups would tell 0 apart from 1–9. For the same reason a row with
    a value outside the listed ones is left out. A dimension also filtered on lists
    the values asked for (a multi-valued one all its values: a child counts under each). A table of more than
    `MAX_FILLED_CELLS` cells, or by a dimension whose values cannot be listed, is refused (422). `values` (one
    list per grouping dimension) replaces the listed values where the caller knows them better."""
    if not group_by:
        return rows or [dict(zero)]
    if values is None:
        values = listed_cells(group_by, referred_from=referred_from, referred_to=referred_to, as_of=as_of,
                              filters=filters, max_cells=max_cells)  # fmt: skip
    return _filled(rows, group_by, zero, [list(v) for v in values], per=per, per_values=per_values)


def listed_cells(
    group_by: Sequence[str], *, referred_from: date | None, referred_to: date | None, as_of: date,
    filters: dict[str, tuple[Any, ...]] | None, max_cells: int = MAX_FILLED_CELLS, disclosure: str = "perturb",
) -> list[list[Any]]:  # fmt: skip
    """The values listed for each grouping dimension of a table whose every cell is shown (a dimension also
    filtered on: the values asked for); refuses (422), before anything is counted, a dimension whose values
    cannot all be listed (a cell that appeared only when a child is in it would disclose that child) and a
    table of more than `max_cells` cells."""
    listed_values: list[list[Any]] = []
    for g in group_by:
        listed = domain(g, referred_from=referred_from, referred_to=referred_to, as_of=as_of)
        if filters and g in filters and not DIMENSIONS[g].multi:  # grouped by what it is filtered on: those values
            listed = [v for v in listed or filters[g] if v in filters[g]]
        if listed is None:
            raise invalid("#query/group_by", f"with disclosure={disclosure}, {g} cannot be grouped by: its values "
                          "cannot all be listed")  # fmt: skip
        listed_values.append(listed)
    cells = math.prod(len(v) for v in listed_values)
    if cells > max_cells:
        raise invalid(
            "#query/group_by",
            f"with disclosure={disclosure}, a table has at most {max_cells:,} cells; "
            f"grouped by {', '.join(group_by)} it would have {cells:,}: group by fewer dimensions or filter",
        )
    return listed_values


def _filled(
    rows: list[dict[str, Any]], group_by: Sequence[str], zero: dict[str, Any], values: list[list[Any]], *,
    per: str | None, per_values: Sequence[Any],
) -> list[dict[str, Any]]:  # fmt: skip
    # A value outside the listed ones (a month before the service began, a former authority's code) would
    # be a cell that appears only when a child is in it: such rows are left out (they count in the totals).
    sets = [set(v) for v in values]
    rows = [r for r in rows if all(r[g] in listed for g, listed in zip(group_by, sets, strict=True))]
    present = {tuple(r[g] for g in group_by) for r in rows}
    pers = list(per_values) if per else [None]
    added = []
    for combination in itertools.product(*values):
        if combination not in present:
            for p in pers:
                cell = dict(zip(group_by, combination, strict=True))
                added.append({**cell, **({per: p} if per else {}), **zero})
    if not added:
        return rows
    order = [{v: i for i, v in enumerate(vs)} for vs in values]

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (*((o.get(row[g], len(o)), str(row[g])) for g, o in zip(group_by, order, strict=True)),
                str(row.get(per or "", "")))  # fmt: skip

    return sorted([*rows, *added], key=key)
