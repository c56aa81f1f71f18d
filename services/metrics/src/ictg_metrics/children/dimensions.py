"""The dimensions analysts group and filter by (DESIGN.md §9), as SQL over `metrics.child`.

Each dimension is a SQL expression on the row alias `c` (text-valued); multi-valued ones expand
through a lateral join, so a child counts once per value while totals stay distinct children.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    name: str
    sql: str
    multi: bool = False  # sql is a JSON array expression, expanded one row per value


def _fact(key: str) -> str:
    return f"(c.facts->>'{key}')"


_STATIC = (
    "gender", "age_band", "age_at_referral", "nationality", "nationality_group", "uasc", "primary_exploitation",
    "county_lines", "referrer_type", "region", "pathway", "missing_at_referral",
)  # fmt: skip

DIMENSIONS: dict[str, Dimension] = {name: Dimension(name, _fact(name)) for name in _STATIC}
DIMENSIONS.update(
    {
        "local_authority": Dimension("local_authority", _fact("local_authority_code")),
        "living_situation_at_referral": Dimension("living_situation_at_referral", _fact("living_situation")),
        "trafficker_contact_at_referral": Dimension("trafficker_contact_at_referral", _fact("trafficker_contact")),
        "education_at_referral": Dimension("education_at_referral", _fact("education")),
        "referral_month": Dimension("referral_month", "to_char(c.received_on, 'YYYY-MM')"),
        "referral_quarter": Dimension("referral_quarter", "to_char(c.received_on, 'YYYY-\"Q\"Q')"),
        "referral_year": Dimension("referral_year", "to_char(c.received_on, 'YYYY')"),
        "exploitation_type": Dimension("exploitation_type", "(c.facts->'exploitation_type')", multi=True),
        "cjs_involvement": Dimension("cjs_involvement", "(c.facts->'cjs_involvement')", multi=True),
        "status": Dimension("status", _fact("status")),
    }
)
