from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel


class ReferralId(BaseModel):
    id: UUID
    received_at: datetime


class ReferralIdPage(BaseModel):
    items: list[ReferralId]
    next_cursor: str | None
