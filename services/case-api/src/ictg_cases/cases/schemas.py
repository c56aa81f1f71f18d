from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from ictg_common.codes import CaseStatus
from ictg_common.contracts import SlaClock

Status = CaseStatus
Clock = SlaClock


class Case(BaseModel):
    """A child's case: the referral's details (claim check), where they are now, and their clocks."""

    id: UUID
    referral_id: UUID
    status: Status
    received_at: datetime
    opened_at: datetime
    region: str = Field(description="Current region (changes with moves)")
    pathway: str
    local_authority_code: str = Field(description="Current local authority (changes with moves)")
    local_authority_name: str | None
    allocation_due_by: datetime
    first_contact_due_by: datetime
    worker_id: UUID | None
    allocated_at: datetime | None
    first_contact_at: datetime | None
    exited_at: datetime | None
    turns_18_on: date | None = Field(description="18th birthday; null when only an estimated age is known")
    maximum_duration_on: date | None = Field(description="End of the maximum duration; null when no limit applies")
    missing: bool = Field(description="A missing episode is open")
    long_term_missing: bool
    overdue: list[Clock] = Field(description="Deadlines passed and still unmet")
    attributes: dict[str, Any]
    personal: dict[str, Any]
    version: int
    changed_at: datetime | None = Field(default=None, description="When the case last changed")


class CasePage(BaseModel):
    items: list[Case]
    next_cursor: str | None
    poll_cursor: str | None = Field(
        default=None,
        description="Change feed only (`changed_since` given): poll again with this cursor for changes after this page",
    )


class TimelineEntry(BaseModel):
    at: datetime
    kind: str = Field(examples=["contact.recorded"])
    id: UUID
    record: dict[str, Any]


class Timeline(BaseModel):
    items: list[TimelineEntry]
    next_cursor: str | None = None
