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

from dataclasses import dataclass
from typing import Literal

from ictg_common import codes
from ictg_common.reference import REGION_SLUGS

Kind = Literal["text", "bool", "int"]


@dataclass(frozen=True)
class Dimension:
    name: str
    sql: str
    multi: bool = False  # sql is an array of the child's distinct values
    kind: Kind = "text"
    values: tuple[str, ...] | None = None  # the codes a filter may ask for (None: any)


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


B: Kind = "bool"
V = codes.values
FREQUENCY = ("none", "less_than_monthly", "monthly_or_more")
THIRD_PARTY = ("none", "under_3_per_month", "3_or_more_per_month")
MONTHS_BANDS = ("0-3", "3-6", "6-12", "12-18", "18+")

_LONG_TERM_MISSING = (
    "(CASE WHEN cardinality(c.missing_start_on) = 0 THEN false ELSE EXISTS ("
    "SELECT 1 FROM unnest(c.missing_start_on, c.missing_end_on) AS e(s, f), "
    # an episode still open at exit stops counting there (a closed case records no return)
    "LATERAL (SELECT LEAST(p.as_of, COALESCE(c.exit_on, p.as_of)) AS upto) AS u "
    "WHERE s <= u.upto AND u.upto - s >= p.ltm AND (f IS NULL OR f > u.upto OR f - s >= p.ltm)) END)"
)
_MAIN_THIRD_PARTY = f"COALESCE({latest('main_tp_on', 'main_tp')}, 'none')"

_ALL = [
    # at referral
    Dimension("referral_month", "to_char(c.received_on, 'YYYY-MM')"),
    Dimension("referral_quarter", "to_char(c.received_on, 'YYYY-\"Q\"Q')"),
    Dimension("referral_year", "to_char(c.received_on, 'YYYY')"),
    Dimension("gender", _col("gender"), values=V(codes.Gender)),
    Dimension("age_band", _col("age_band"), values=V(codes.AgeBand)),
    Dimension("age_at_referral", _col("age_at_referral"), kind="int"),
    Dimension("nationality", _col("nationality")),
    Dimension("nationality_group", _col("nationality_group"), values=V(codes.NationalityGroup)),
    Dimension("uasc", _col("uasc"), kind=B),
    Dimension("primary_exploitation", _col("primary_exploitation"), values=V(codes.ExploitationType)),
    Dimension("exploitation_type", "c.exploitation_type", multi=True, values=V(codes.ExploitationType)),
    Dimension("county_lines", _col("county_lines"), kind=B),
    Dimension("referrer_type", _col("referrer_type"), values=V(codes.OrganisationType)),
    Dimension("local_authority", _col("local_authority_code")),
    Dimension("region", _col("region"), values=tuple(REGION_SLUGS)),
    Dimension("pathway", _col("pathway"), values=V(codes.Pathway)),
    Dimension("living_situation_at_referral", _col("living_situation"), values=V(codes.LivingSituation)),
    Dimension("trafficker_contact_at_referral", _col("trafficker_contact"), values=V(codes.TraffickerContact)),
    Dimension("education_at_referral", _col("education"), values=V(codes.Education)),
    # DESIGN §4: an empty list means none
    Dimension(
        "cjs_involvement",
        "(CASE WHEN cardinality(c.cjs_involvement) = 0 THEN ARRAY['none']::text[] ELSE c.cjs_involvement END)",
        multi=True,
        values=(*V(codes.CjsInvolvement), "none"),
    ),
    Dimension("missing_at_referral", _col("missing_at_referral"), kind=B),
    Dimension("referral_delay_band", _col("referral_delay_band"), values=("0-1", "2", "3-15", "16-39", "40+")),
    # as of as_of
    Dimension("current_local_authority", f"COALESCE({latest('move_on', 'move_la')}, c.local_authority_code)"),
    Dimension("current_region", f"COALESCE({latest('move_on', 'move_region')}, c.region)", values=tuple(REGION_SLUGS)),
    Dimension(
        "first_contact_band",
        "(CASE WHEN c.first_contact_on IS NULL OR c.first_contact_on > p.as_of THEN 'none' "
        "WHEN c.first_contact_on - c.received_on <= 1 THEN '0-1' "
        "WHEN c.first_contact_on - c.received_on <= 6 THEN '2-6' ELSE '7+' END)",
        values=("0-1", "2-6", "7+", "none"),
    ),
    Dimension(
        "status",
        f"(CASE WHEN {EXITED} THEN '{codes.EXITED}' "
        f"ELSE COALESCE({latest('allocation_state_on', 'allocation_state')}, '{codes.AWAITING_ALLOCATION}') END)",
        values=codes.CASE_STATUSES,
    ),
    Dimension(
        "months_in_service_band",
        _band(
            DAYS_IN_SERVICE,
            [(3 * MONTH, "0-3"), (6 * MONTH, "3-6"), (12 * MONTH, "6-12"), (18 * MONTH, "12-18")],
            "18+",
        ),
        values=MONTHS_BANDS,
    ),
    Dimension(
        "activity_base",
        f"({DAYS_IN_SERVICE} >= {MONTH} AND NOT (COALESCE(c.missing_at_referral, false) "
        f"AND {count_by('child_contact_on')} = 0))",
        kind=B,
    ),
    Dimension("contact_frequency", _frequency("child_contact_on", 1, FREQUENCY), values=FREQUENCY),
    Dimension("face_to_face_frequency", _frequency("f2f_contact_on", 1, FREQUENCY), values=FREQUENCY),
    Dimension("third_party_frequency", _frequency("tp_contact_on", 3, THIRD_PARTY), values=THIRD_PARTY),
    Dimension("main_third_party", _MAIN_THIRD_PARTY, values=(*V(codes.Party), "none")),
    Dimension("topic", _seen_by("topic_on", "topic"), multi=True, values=V(codes.Topic)),
    Dimension("legal_advice_area", _seen_by("legal_on", "legal_area"), multi=True, values=V(codes.AdvocacyArea)),
    Dimension("missing_in_service", "COALESCE(c.missing_in_service_on <= p.as_of, false)", kind=B),
    Dimension("long_term_missing", _LONG_TERM_MISSING, kind=B),
    Dimension("exited", f"COALESCE({EXITED}, false)", kind=B),
    Dimension("exit_reason", _when_exited("c.exit_reason"), values=V(codes.ExitReason)),
    Dimension("exit_destination", _when_exited("c.exit_destination"), values=V(codes.ExitDestination)),
    Dimension("exit_month", _when_exited("to_char(c.exit_on, 'YYYY-MM')")),
    Dimension("transitioned", f"COALESCE({EXITED} AND c.exit_destination <> 'none', false)", kind=B),
    Dimension(
        "nrm_reasonable_grounds",
        f"COALESCE({latest('rg_on', 'rg_outcome')}, 'pending')",
        values=("positive", "negative", "pending"),
    ),
    Dimension(
        "nrm_conclusive_grounds",
        f"COALESCE({latest('cg_on', 'cg_outcome')}, 'pending')",
        values=("positive", "negative", "pending"),
    ),
]

DIMENSIONS: dict[str, Dimension] = {d.name: d for d in _ALL}
