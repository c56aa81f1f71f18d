"""Every dimension analysts group and filter by, as SQL over `metrics.child` with its words for the data
dictionary. Multi-valued dimensions are arrays of distinct values, expanded through a lateral `unnest`: a
child counts once per value while totals stay distinct children.
"""

from __future__ import annotations

from ictg_common import codes
from ictg_common.reference import REGION_SLUGS, REGIONS, local_authorities

from .model import Dimension, Kind, band_labels
from .sql import (
    DAYS_IN_SERVICE,
    EXITED,
    LONG_TERM_MISSING,
    MAIN_THIRD_PARTY,
    MONTH,
    band,
    column,
    count_by,
    financial_year_of,
    frequency,
    latest,
    seen_by,
    when_exited,
)


def _local_authorities() -> tuple[tuple[str, str], ...]:
    return tuple((la.code, la.name) for la in local_authorities())


def _nationalities() -> tuple[tuple[str, str], ...]:
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
        financial_year_of("c.received_on"),
        label="Financial year of referral",
        definition=f"The financial year (April to March) the referral was received (`received_at`), {_LONDON}.",
        values_note="Any financial year, written YYYY-YY (e.g. 2017-18 is April 2017 to March 2018).",
    ),
    Dimension(
        "gender",
        column("gender"),
        values=V(codes.Gender),
        label="Gender",
        definition="The child's gender, as recorded at referral.",
    ),
    Dimension(
        "age_band",
        column("age_band"),
        values=V(codes.AgeBand),
        label="Age band at referral",
        value_labels=band_labels(V(codes.AgeBand), "years"),
        definition="The child's age at referral, in bands of whole years; unknown when the date of birth is not known.",
    ),
    Dimension(
        "age_at_referral",
        f"LEAST({column('age_at_referral')}, {TOP_AGE})",
        kind="int",
        label="Age at referral",
        definition=f"The child's age at referral, in whole years, {TOP_AGE} standing for {TOP_AGE} or over (an age "
        "in dispute can be any); null when the date of birth is not known.",
        values_note=f"A whole number of years from 0 to {TOP_AGE} (e.g. 15); {TOP_AGE} means {TOP_AGE} or over.",
        top=TOP_AGE,
        nullable=True,
    ),
    Dimension(
        "nationality",
        column("nationality"),
        label="Nationality",
        catalogue=_nationalities,
        definition="The child's nationality at referral: an ISO 3166 two-letter country code, stateless or unknown.",
    ),
    Dimension(
        "nationality_group",
        column("nationality_group"),
        values=V(codes.NationalityGroup),
        label="Nationality group",
        definition="The child's nationality at referral, grouped: UK, EEA, outside the EEA (stateless included), or unknown.",
    ),
    Dimension(
        "uasc",
        column("uasc"),
        kind=B,
        label="Unaccompanied asylum-seeking child",
        definition="Whether the child was an unaccompanied asylum-seeking child (UASC) at referral.",
    ),
    Dimension(
        "primary_exploitation",
        column("primary_exploitation"),
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
        column("county_lines"),
        kind=B,
        label="County lines",
        definition="Whether county lines exploitation was recorded at referral.",
    ),
    Dimension(
        "referrer_type",
        column("referrer_type"),
        values=V(codes.OrganisationType),
        label="Referrer type",
        definition="The type of organisation that made the referral.",
    ),
    Dimension(
        "local_authority",
        column("local_authority_code"),
        label="Local authority at referral",
        catalogue=_local_authorities,
        definition="The child's upper-tier local authority at referral, as its ONS (GSS) code.",
        values_note="GSS codes of the upper-tier local authorities of England and Wales as at April 2025; "
        "data recorded before a reorganisation may carry a former code.",
    ),
    Dimension(
        "region",
        column("region"),
        values=tuple(REGION_SLUGS),
        value_labels=REGIONS,
        label="Region at referral",
        definition="The region of the child's local authority at referral (England's nine regions, and Wales).",
    ),
    Dimension(
        "pathway",
        column("pathway"),
        values=V(codes.Pathway),
        label="Pathway",
        definition="The service pathway the child was placed on at referral.",
    ),
    Dimension(
        "living_situation_at_referral",
        column("living_situation"),
        values=V(codes.LivingSituation),
        label="Living situation at referral",
        definition="Where the child was living at referral.",
    ),
    Dimension(
        "trafficker_contact_at_referral",
        column("trafficker_contact"),
        values=V(codes.TraffickerContact),
        label="Contact with trafficker at referral",
        definition="The child's contact with the (suspected) trafficker, as recorded at referral.",
    ),
    Dimension(
        "education_at_referral",
        column("education"),
        values=V(codes.Education),
        label="Education at referral",
        definition="Whether the child was attending education at referral.",
    ),
    # an empty list of involvement means none
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
        column("missing_at_referral"),
        kind=B,
        label="Missing at referral",
        definition="True if the child was missing when the referral was made, false otherwise.",
    ),
    Dimension(
        "referral_delay_band",
        column("referral_delay_band"),
        values=DELAY_BANDS,
        value_labels=band_labels(DELAY_BANDS, "days"),
        label="Referral delay",
        definition="Calendar days from the day the child was identified to the day the referral was received "
        "(`received_on − identified_on`), in bands: 0-1, 2, 3-15, 16-39, 40+.",
    ),
    Dimension(
        "referral_delay_working_days_band",
        column("referral_delay_working_days_band"),
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
        band(
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
        frequency("child_contact_on", 1, FREQUENCY),
        values=FREQUENCY,
        label="Contact frequency",
        definition="Contacts made with the child (any method) per month in service, as of `as_of`: none, less "
        "than monthly, or monthly or more.",
    ),
    Dimension(
        "face_to_face_frequency",
        frequency("f2f_contact_on", 1, FREQUENCY),
        values=FREQUENCY,
        label="Face-to-face contact frequency",
        definition="Like contact_frequency, counting only face-to-face contacts made with the child.",
    ),
    Dimension(
        "third_party_frequency",
        frequency("tp_contact_on", 3, THIRD_PARTY),
        values=THIRD_PARTY,
        label="Third-party contact frequency",
        definition="Contacts made with any party other than the child, per month in service, as of `as_of`: "
        "none, under 3 a month, or 3 or more a month.",
    ),
    Dimension(
        "main_third_party",
        MAIN_THIRD_PARTY,
        values=(*V(codes.Party), "none"),
        label="Main third party",
        definition="The party other than the child with the most contacts made, as of `as_of`; a tie goes to the "
        "alphabetically first code; none if there were no such contacts.",
    ),
    Dimension(
        "topic",
        seen_by("topic_on", "topic"),
        multi=True,
        values=V(codes.Topic),
        label="Contact topics",
        definition="The topics of face-to-face contacts made with the child, as of `as_of`. Multi-valued: a child "
        "counts once under each topic.",
    ),
    Dimension(
        "legal_advice_area",
        seen_by("legal_on", "legal_area"),
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
        LONG_TERM_MISSING,
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
        when_exited("c.exit_reason"),
        values=V(codes.ExitReason),
        label="Exit reason",
        definition=f"Why the case exited, if it exited on or before `as_of`; {_NULL_IF_NOT_EXITED}.",
        nullable=True,
    ),
    Dimension(
        "exit_destination",
        when_exited("c.exit_destination"),
        values=V(codes.ExitDestination),
        label="Exit destination",
        definition=f"The service the child moved on to at exit, if it was on or before `as_of`; {_NULL_IF_NOT_EXITED}.",
        nullable=True,
    ),
    Dimension(
        "exit_month",
        when_exited("to_char(c.exit_on, 'YYYY-MM')"),
        label="Month of exit",
        definition=f"The month of exit ({_LONDON}), if on or before `as_of`; {_NULL_IF_NOT_EXITED}.",
        values_note=_MONTH_NOTE,
        nullable=True,
    ),
    Dimension(
        "exit_year",
        when_exited("to_char(c.exit_on, 'YYYY')"),
        label="Year of exit",
        definition=f"The calendar year of exit ({_LONDON}), if on or before `as_of`; {_NULL_IF_NOT_EXITED}.",
        values_note="Any year, written YYYY (e.g. 2018).",
        nullable=True,
    ),
    Dimension(
        "exit_financial_year",
        when_exited(financial_year_of("c.exit_on")),
        label="Financial year of exit",
        definition=f"The financial year (April to March) of exit ({_LONDON}), if on or before `as_of`; "
        f"{_NULL_IF_NOT_EXITED}.",
        values_note="Any financial year, written YYYY-YY (e.g. 2018-19).",
        nullable=True,
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

# codes a reader cannot read: a name beside
NAMED = ("local_authority", "current_local_authority", "region", "current_region")
