from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from ictg_common.codes import CaseStatus
from ictg_common.contracts import SlaClock

Status = CaseStatus
Clock = SlaClock

PATHWAY = (
    "direct_worker (no one with parental responsibility in the UK), regional_practice_coordinator (someone has it) "
    "or regional_practitioner (a manager's switch)."
)
KINDS = (
    "case.opened, case.allocated, contact.recorded, missing.started, missing.ended, return_interview.recorded, "
    "assessment.recorded, nrm_decision.recorded, advocacy.recorded, case.moved, case.pathway_changed, "
    "referral.amended (the referrer corrected the referral: `fields` names what changed), referral.withdrawn (the "
    "referrer withdrew it: `reason`, `detail`, `case_exited`), sla.breached or case.exited"
)


class Case(BaseModel):
    """A child's case: the referral's details (claim check), where they are now, and their clocks."""

    id: UUID = Field(description="The case's id (UUIDv7).")
    referral_id: UUID = Field(
        description="Intake's id of the referral the case was opened for (one case per referral)."
    )
    status: Status = Field(description="The case's status: awaiting_allocation, allocated or exited.")
    received_at: datetime = Field(
        description="When intake received the referral (RFC 3339): the timeliness clock starts here."
    )
    opened_at: datetime = Field(description="When this API opened the case on the referral's event (RFC 3339).")
    region: str = Field(description="Current region, a slug such as `north_west` (changes with moves).")
    pathway: str = Field(description=PATHWAY)
    local_authority_code: str = Field(
        description="ONS code of the current local authority, e.g. E08000003 (changes with moves)."
    )
    local_authority_name: str | None = Field(
        description="The current local authority's ONS name; null if its code is not in the platform's table."
    )
    allocation_due_by: datetime = Field(
        description="Deadline for allocation, set by intake at receipt (RFC 3339; by default the end of the next "
        "working day in England and Wales)."
    )
    first_contact_due_by: datetime = Field(
        description="Deadline for the first contact attempt, set by intake at receipt (RFC 3339; by default the end "
        "of the next working day in England and Wales)."
    )
    worker_id: UUID | None = Field(
        description="The worker holding the case (GET /v1/workers/{worker_id}); null before the first allocation "
        "or after a pathway change released them."
    )
    allocated_at: datetime | None = Field(
        description="When the latest allocation began (RFC 3339); null before the first allocation."
    )
    first_contact_at: datetime | None = Field(
        description="The earliest contact recorded, attempted or made (RFC 3339): what meets the first-contact "
        "deadline; null before any."
    )
    exited_at: datetime | None = Field(description="When the child left the service (RFC 3339); null while open.")
    turns_18_on: date | None = Field(
        description="The child's 18th birthday (ISO date); null when only an estimated age is known."
    )
    maximum_duration_on: date | None = Field(
        description="End of the maximum duration of support (ISO date); null when no limit applies (the default)."
    )
    missing: bool = Field(description="True while a missing episode is open.")
    long_term_missing: bool = Field(
        description="An open missing episode has lasted 60 calendar days or more (Europe/London; the number is "
        "configurable)."
    )
    overdue: list[Clock] = Field(
        description="Deadlines passed and still unmet on an open case: `allocation`, `first_contact`; empty if none."
    )
    referral_withdrawn_at: datetime | None = Field(
        default=None,
        description="When the referrer withdrew the referral (RFC 3339); null if it did not. Before any allocation "
        "the case exits with reason `referral_withdrawn`; after, it stays open for the guardian to decide.",
    )
    referral_withdrawal_reason: str | None = Field(
        default=None, description="Why: made_in_error, duplicate or other (the referrer's detail is on the timeline)."
    )
    attributes: dict[str, Any] = Field(
        description="The referral's coded facts as intake published them in `referral.received` (age band, "
        "nationality group, exploitation, timeliness…): no personal data; the local authority and region at referral."
    )
    personal: dict[str, Any] = Field(
        description="The referral's personal details, fetched from intake when the case opened: `child`, "
        "`referrer` (organisation and contact) and `notes`. ICTG staff only; councils see the child's identity."
    )
    version: int = Field(
        description="Bumped by every write to the case; the `ETag` is this number in quotes, to send as `If-Match`."
    )
    changed_at: datetime | None = Field(default=None, description="When the case last changed")


class CasePage(BaseModel):
    items: list[Case] = Field(description="The cases of this page: in id order, or in change order in the change feed.")
    next_cursor: str | None = Field(description="Give as `cursor` for the next page; null on the last page.")
    poll_cursor: str | None = Field(
        default=None,
        description="Change feed only (`changed_since` given): poll again with this cursor for changes after this page",
    )


class TimelineEntry(BaseModel):
    at: datetime = Field(
        description="When it happened (RFC 3339): the record's own time; `received_at` for case.opened, the missed "
        "deadline for sla.breached."
    )
    kind: str = Field(examples=["contact.recorded"], description=f"What happened: {KINDS}.")
    id: UUID = Field(
        description="The record's id: the case's for case.opened, the episode's for missing.started and missing.ended."
    )
    record: dict[str, Any] = Field(
        description='The record\'s stored fields, without `case_id` (`{"status": "awaiting_allocation"}` for '
        "case.opened); a council sees only the kinds and fields its view shares."
    )


class Timeline(BaseModel):
    items: list[TimelineEntry] = Field(
        description="Every entry of the case in time order (at one instant, the opening first and the exit last)."
    )
    next_cursor: str | None = Field(default=None, description="Always null: the timeline is one page.")
