from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class ReplayReport(BaseModel):
    read: int = Field(description="`referral.received` events read from the stream.")
    opened: int = Field(description="Cases this replay opened.")
    already_present: int = Field(description="Events whose referral already had a case (or got one meanwhile).")
    failed: int = Field(
        description="Events unreadable, or whose case could not be opened (the service's log says why)."
    )
    complete: bool = Field(
        description="False when the stream went quiet before its last message: run the replay again."
    )


class MissingCase(BaseModel):
    referral_id: UUID = Field(description="Intake's id of a referral with no case here.")
    received_at: datetime = Field(description="When intake received it (RFC 3339).")
    age_seconds: int = Field(description="Whole seconds from `received_at` to `checked_at`.")
    overdue: bool = Field(
        description="True when it has waited longer than the grace period, counted from when intake stored it "
        "(later than `received_at` for a historical import)."
    )


class UnexpectedCase(BaseModel):
    case_id: UUID = Field(description="A case here whose referral intake does not hold.")
    referral_id: UUID = Field(description="The referral id the case names.")


class Reconciliation(BaseModel):
    consistent: bool = Field(description="True when no referral is overdue for its case and no case is unexpected.")
    checked_at: datetime = Field(
        description="The round's cut-off (RFC 3339): referrals and cases received before it were compared."
    )
    grace_seconds: float = Field(
        description="How long, in seconds, a referral may wait for its case before it is overdue."
    )
    referrals_in_intake: int = Field(description="Referrals intake holds that were received before `checked_at`.")
    cases: int = Field(description="Cases here whose referral was received before `checked_at`.")
    missing_count: int = Field(description="Referrals without a case here, overdue or not (exact).")
    overdue_count: int = Field(description="Of those, referrals waiting longer than the grace period (exact).")
    unexpected_count: int = Field(description="Cases whose referral intake does not hold (exact).")
    missing: list[MissingCase] = Field(description="Referrals without a case, oldest first (at most 1000 listed).")
    unexpected: list[UnexpectedCase] = Field(
        description="Cases whose referral intake does not hold, in case id order (at most 1000 listed)."
    )


class CaseCounts(BaseModel):
    """Cases per status in the caller's regions: what metrics reconciles its children against."""

    awaiting_allocation: int = Field(description="Cases awaiting allocation in your regions.")
    allocated: int = Field(description="Allocated cases in your regions.")
    exited: int = Field(description="Cases closed by an exit in your regions.")
