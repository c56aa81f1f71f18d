from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class ReferralId(BaseModel):
    """A referral's id and receipt time, nothing personal (for the case API's reconciliation)."""

    id: UUID = Field(description="The referral's id.")
    received_at: datetime = Field(description="When the service received it.")


class ReferralIdPage(BaseModel):
    """A page of referral ids, oldest first."""

    items: list[ReferralId] = Field(description="The ids of this page.")
    next_cursor: str | None = Field(description="Give it as `cursor` for the next page; null on the last page.")
