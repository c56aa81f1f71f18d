from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel


class ReplayReport(BaseModel):
    read: int
    opened: int
    already_present: int
    failed: int
    complete: bool


class MissingCase(BaseModel):
    referral_id: UUID
    received_at: datetime
    age_seconds: int
    overdue: bool


class UnexpectedCase(BaseModel):
    case_id: UUID
    referral_id: UUID


class Reconciliation(BaseModel):
    consistent: bool
    checked_at: datetime
    grace_seconds: float
    referrals_in_intake: int
    cases: int
    missing_count: int
    overdue_count: int
    unexpected_count: int
    missing: list[MissingCase]
    unexpected: list[UnexpectedCase]


class CaseCounts(BaseModel):
    """Cases per status in the caller's regions: what metrics reconciles its children against."""

    awaiting_allocation: int
    allocated: int
    exited: int
