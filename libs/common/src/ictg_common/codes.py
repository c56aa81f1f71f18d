"""The platform's vocabulary: one set of codes for every API, event and metric."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Final, Literal, get_args

OrganisationType = Literal[
    "police", "local_authority", "border_force", "uk_visas_immigration", "immigration_enforcement",
    "national_crime_agency", "gangmasters_labour_abuse_authority", "health", "ngo", "other",
]  # fmt: skip
Gender = Literal["female", "male", "other", "unknown"]
NationalityGroup = Literal["uk", "eea", "non_eea", "unknown"]
ExploitationType = Literal["sexual", "criminal", "labour", "domestic_servitude", "organ_harvesting", "other", "unknown"]
AgeBand = Literal["0-6", "7-13", "14-15", "16-17", "18+", "unknown"]
Pathway = Literal["direct_worker", "regional_practice_coordinator", "regional_practitioner"]
LivingSituation = Literal[
    "family", "foster_care", "residential_care", "supported_accommodation", "independent", "other", "unknown"
]
TraffickerContact = Literal["none", "suspected", "known", "unknown"]
Education = Literal["attending", "not_attending", "unknown"]
CjsInvolvement = Literal["victim", "witness", "accused"]
ContactOutcome = Literal["attempted", "made"]
ContactMethod = Literal["face_to_face", "phone", "video", "message", "other"]
Party = Literal[
    "child", "social_worker", "foster_carer", "parent", "guardian", "residential_worker", "support_worker",
    "nrm_case_worker", "solicitor", "police", "immigration_official", "teacher", "health", "other",
]  # fmt: skip
Topic = Literal[
    "safety", "relationship_building", "social_care", "immigration", "criminal_justice", "education", "health",
    "accommodation", "nrm", "other",
]  # fmt: skip
NrmStage = Literal["reasonable_grounds", "conclusive_grounds"]
NrmOutcome = Literal["positive", "negative"]
AdvocacyKind = Literal["legal_advice", "meeting", "representation"]
AdvocacyArea = Literal["immigration", "criminal_justice", "social_care", "education", "health", "other"]
ExitReason = Literal[
    "work_completed", "long_term_missing", "negative_nrm_decision", "declined_service", "turned_18",
    "maximum_duration", "moved_out_of_area", "assessed_adult", "referral_withdrawn", "other",
]  # fmt: skip
ExitDestination = Literal[
    "la_children_services", "la_adult_services", "ngo", "post_18_support", "other_service", "none"
]
ReturnInterviewOutcome = Literal["accepted", "declined", "not_offered"]
"""A return home interview after a missing episode: the child accepted or declined the offer, or none was offered."""
ReturnInterviewBy = Literal["local_authority", "commissioned_service", "ictg", "other"]
"""Who offered (and, if accepted, conducts) a return home interview: the council's own team, a service it
commissions, the child's guardian (ICTG), or someone else. A code, never a name: it travels in events."""
WorkerRole = Literal["direct_worker", "regional_practice_coordinator", "regional_practitioner", "manager"]
CaseStatus = Literal["awaiting_allocation", "allocated", "exited"]
"""A case's status: changed only by `ictg_cases.domain.case` (case-api), counted by metrics."""
AWAITING_ALLOCATION: Final = "awaiting_allocation"
ALLOCATED: Final = "allocated"
EXITED: Final = "exited"

LA_CARE: frozenset[str] = frozenset({"foster_care", "residential_care", "supported_accommodation"})
EEA: frozenset[str] = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)


def values(literal: object) -> tuple[str, ...]:
    return get_args(literal)


CASE_STATUSES: tuple[str, ...] = values(CaseStatus)
assert CASE_STATUSES == (AWAITING_ALLOCATION, ALLOCATED, EXITED)


@cache
def iso_countries() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)


def is_nationality(code: str) -> bool:
    return code in ("stateless", "unknown") or code in iso_countries()


def nationality_group(code: str) -> str:
    if code == "GB":
        return "uk"
    if code in EEA:
        return "eea"
    if code == "unknown":
        return "unknown"
    return "non_eea"  # any other country, or stateless


def age_on(born: date, on: date) -> int:
    """Whole years of age on `on`."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    if age <= 6:
        return "0-6"
    if age <= 13:
        return "7-13"
    if age <= 15:
        return "14-15"
    if age <= 17:
        return "16-17"
    return "18+"


def pathway(parental_responsibility_in_uk: bool) -> str:
    return "regional_practice_coordinator" if parental_responsibility_in_uk else "direct_worker"


# ---- labels: what a person reads beside a code (the reference endpoint, the metrics dictionary) ----

_LABELS = {
    "uk": "UK", "eea": "EEA", "non_eea": "Outside the EEA (or stateless)", "ngo": "NGO", "nrm": "NRM",
    "nrm_case_worker": "NRM case worker", "la_children_services": "Local authority children's services",
    "la_adult_services": "Local authority adult services", "post_18_support": "Post-18 support",
    "turned_18": "Turned 18", "negative_nrm_decision": "Negative NRM decision", "uasc": "UASC",
    "under_3_per_month": "Under 3 a month", "3_or_more_per_month": "3 or more a month",
    "national_crime_agency": "National Crime Agency", "border_force": "Border Force",
    "uk_visas_immigration": "UK Visas and Immigration", "immigration_enforcement": "Immigration Enforcement",
    "gangmasters_labour_abuse_authority": "Gangmasters and Labour Abuse Authority",
}  # fmt: skip


def value_label(code: str) -> str:
    """A code's human label: `non_eea` → "Outside the EEA (or stateless)", `foster_care` → "Foster care"."""
    if code in _LABELS:
        return _LABELS[code]
    words = code.replace("_", " ")
    return words[:1].upper() + words[1:]


ReferralStatus = Literal["received", "awaiting_allocation", "allocated", "exited", "withdrawn"]
WithdrawalReason = Literal["made_in_error", "duplicate", "other"]
"""Why a referrer withdrew its referral (`POST /v1/referrals/{id}/withdraw`)."""

# Every code list an API takes or answers: name → (what it is, its type).
CODE_LISTS: dict[str, tuple[str, object]] = {
    "organisation_type": ("The kind of referring organisation (`referrer.organisation_type`).", OrganisationType),
    "gender": ("`child.gender`.", Gender),
    "nationality_group": ("Derived from the nationality: GB, the EEA (EU 27, IS, LI, NO), any other, unknown.",
                          NationalityGroup),
    "exploitation_type": ("`exploitation.primary` and `exploitation.others`.", ExploitationType),
    "age_band": ("Age at referral in whole years, banded.", AgeBand),
    "pathway": ("The service pathway: derived from `parental_responsibility_in_uk`; a manager may switch to "
                "regional_practitioner.", Pathway),
    "living_situation": ("`circumstances.living_situation`. Local-authority care: foster_care, residential_care, "
                         "supported_accommodation.", LivingSituation),
    "trafficker_contact": ("`circumstances.trafficker_contact`.", TraffickerContact),
    "education": ("`circumstances.education`.", Education),
    "cjs_involvement": ("`circumstances.cjs_involvement` (a list; empty for none).", CjsInvolvement),
    "contact_outcome": ("A contact's `outcome` (case API).", ContactOutcome),
    "contact_method": ("A contact's `method` (case API).", ContactMethod),
    "party": ("Who a contact was with (case API).", Party),
    "topic": ("A contact's `topics` (case API).", Topic),
    "nrm_stage": ("An NRM decision's `stage` (case API).", NrmStage),
    "nrm_outcome": ("An NRM decision's `outcome` (case API).", NrmOutcome),
    "advocacy_kind": ("An advocacy record's `kind` (case API).", AdvocacyKind),
    "advocacy_area": ("An advocacy record's `area` (case API).", AdvocacyArea),
    "exit_reason": ("Why the child left the service (case API).", ExitReason),
    "exit_destination": ("Where the child went on leaving (case API).", ExitDestination),
    "worker_role": ("A worker's role (case API).", WorkerRole),
    "case_status": ("A case's status (case API).", CaseStatus),
    "return_interview_outcome": ("A return home interview's outcome (case API).", ReturnInterviewOutcome),
    "return_interview_by": ("Who offered or conducts a return home interview (case API).", ReturnInterviewBy),
    "referral_status": ("How a referral's case stands (`GET /v1/referrals/{id}`): `received` before the case opens.",
                        ReferralStatus),
    "withdrawal_reason": ("Why the referrer withdrew a referral (`POST /v1/referrals/{id}/withdraw`).",
                          WithdrawalReason),
}  # fmt: skip


def country_names() -> list[tuple[str, str]]:
    """ISO 3166-1 alpha-2 codes with their names, by code."""
    import pycountry

    return sorted((c.alpha_2, c.name) for c in pycountry.countries)
