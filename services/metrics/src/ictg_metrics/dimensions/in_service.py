"""The dimensions of a child's time in service as of `as_of`: where they are now, their status, contacts,
topics, legal advice and missing episodes."""

from __future__ import annotations

from ictg_common import codes
from ictg_common.reference import REGION_SLUGS, REGIONS

from .model import Dimension
from .sql import (
    DAYS_IN_SERVICE,
    EXITED,
    LONG_TERM_MISSING,
    MAIN_THIRD_PARTY,
    MONTH,
    band,
    count_by,
    frequency,
    latest,
    seen_by,
)
from .words import (
    FREQUENCY,
    MONTHS_BANDS,
    THIRD_PARTY,
    B,
    V,
    local_authority_values,
)

IN_SERVICE: list[Dimension] = [
    Dimension(
        "current_local_authority",
        f"COALESCE({latest('move_on', 'move_la')}, c.local_authority_code)",
        label="Current local authority",
        catalogue=local_authority_values,
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
        "return_interview_within_72h",
        f"(CASE WHEN {count_by('return_due_on')} = 0 THEN 'no_return' "
        f"WHEN false = ANY(c.return_interview_met[1:{count_by('return_due_on')}]) THEN 'no' ELSE 'yes' END)",
        values=("yes", "no", "no_return"),
        value_labels=(
            "Every return offered an interview within 72 hours",
            "A return not offered an interview within 72 hours",
            "No return due yet",
        ),
        label="Return interviews within 72 hours",
        definition="Whether each time the child came back from a missing episode a return home interview was "
        "offered (accepted or declined) within 72 hours, counting the returns whose 72 hours had passed by "
        "`as_of`: yes (every one), no (at least one not; none recorded counts as not), or no_return (none). "
        "Among children with a return, the share answering yes is the share offered within 72 hours.",
    ),
    Dimension(
        "long_term_missing",
        LONG_TERM_MISSING,
        kind=B,
        label="Long-term missing",
        definition="True if a missing episode lasted, or is still open and has lasted, 60 days or more (the "
        "service's configured threshold) by `as_of`.",
    ),
]
