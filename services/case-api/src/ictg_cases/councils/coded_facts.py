"""The referral's coded facts a council needs for its own assessment, with the Children in Need (CIN)
census assessment-factor codes beside the service's own codes: the mapping is this table, in one place.

A council records the factors identified at the end of its assessments in the CIN census (the Department
for Education's return), with codes such as 12A. The service records the referral's exploitation types,
county lines, UASC and whether the child was missing when referred, in its own codes (`ictg_common.codes`).
Each of those facts is shown to a council beside the CIN factor it corresponds to:

| Service's fact                               | CIN factor                                   |
|----------------------------------------------|----------------------------------------------|
| exploitation type `sexual`                   | 11A Child sexual exploitation                |
| exploitation type `criminal`                 | 24A Child criminal exploitation              |
| `county_lines`                               | 24A Child criminal exploitation              |
| exploitation types `labour`, `domestic_servitude`, `organ_harvesting`, `other`, `unknown` | 12A Trafficking |
| `uasc` (unaccompanied asylum-seeking child)  | 9A Unaccompanied asylum-seeking child        |
| `missing_at_referral`                        | 10A Going/being missing                      |

Every child referred to the service is a suspected victim of trafficking, so 12A is always among
`cin_assessment_factors`; CIN has no factor of its own for labour exploitation, domestic servitude or organ
harvesting, which are forms of trafficking. These are the referral's facts, not the council's assessment:
the council decides which factors its own assessment finds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from ictg_common.codes import ExploitationType

CinFactor = Literal["9A", "10A", "11A", "12A", "24A"]
CIN_FACTORS: dict[CinFactor, str] = {
    "9A": "Unaccompanied asylum-seeking child",
    "10A": "Going/being missing",
    "11A": "Child sexual exploitation",
    "12A": "Trafficking",
    "24A": "Child criminal exploitation",
}
TRAFFICKING: CinFactor = "12A"
EXPLOITATION: dict[ExploitationType, CinFactor] = {
    "sexual": "11A",
    "criminal": "24A",
    "labour": TRAFFICKING,
    "domestic_servitude": TRAFFICKING,
    "organ_harvesting": TRAFFICKING,
    "other": TRAFFICKING,
    "unknown": TRAFFICKING,
}
# Flags of the referral: the service's code (the field's name) → its CIN factor, shown when the flag is true.
FLAGS: dict[str, tuple[str, CinFactor]] = {
    "county_lines": ("exploitation.county_lines", "24A"),
    "uasc": ("uasc", "9A"),
    "missing_at_referral": ("missing_at_referral", "10A"),
}


class CodedFact(BaseModel):
    field: str = Field(
        description="Where the service records it: `exploitation.primary`, `exploitation.others`, "
        "`exploitation.county_lines`, `uasc` or `missing_at_referral`."
    )
    service_code: str = Field(
        description="The service's code: an exploitation type (sexual, criminal, labour, domestic_servitude, "
        "organ_harvesting, other, unknown), or the flag's name (county_lines, uasc, missing_at_referral) when true."
    )
    cin_factor: CinFactor = Field(description="The CIN census assessment-factor code it corresponds to.")
    cin_factor_name: str = Field(description="That factor's name in the CIN census.")


class CodedFacts(BaseModel):
    """The referral's coded facts with their CIN census assessment-factor codes (see docs/security.md)."""

    facts: list[CodedFact] = Field(
        description="Each exploitation type (the primary first) and each flag that is true, with its CIN factor. "
        "A flag that is false is not listed."
    )
    cin_assessment_factors: list[CinFactor] = Field(
        description="The CIN factors of these facts, each once, in code order; always 12A (Trafficking): every "
        "child referred to the service is a suspected victim of trafficking."
    )


def _fact(field: str, code: str, factor: CinFactor) -> CodedFact:
    return CodedFact(field=field, service_code=code, cin_factor=factor, cin_factor_name=CIN_FACTORS[factor])


def coded_facts(attributes: Mapping[str, Any]) -> CodedFacts:
    """The coded facts of a referral (`referral.received`'s data, as the case keeps it)."""
    exploitation = attributes.get("exploitation") or {}
    facts: list[CodedFact] = []
    primary = exploitation.get("primary")
    if primary in EXPLOITATION:
        facts.append(_fact("exploitation.primary", primary, EXPLOITATION[primary]))
    for other in exploitation.get("others") or []:
        if other in EXPLOITATION and other != primary:
            facts.append(_fact("exploitation.others", other, EXPLOITATION[other]))
    flags = {"county_lines": exploitation.get("county_lines"), "uasc": attributes.get("uasc"),
             "missing_at_referral": attributes.get("missing_at_referral")}  # fmt: skip
    for code, (field, factor) in FLAGS.items():
        if flags[code] is True:
            facts.append(_fact(field, code, factor))
    found = {TRAFFICKING, *(f.cin_factor for f in facts)}
    return CodedFacts(facts=facts, cin_assessment_factors=[f for f in CIN_FACTORS if f in found])
