from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class Case(BaseModel):
    id: UUID
    referral_id: UUID
    status: str
    received_at: datetime
    opened_at: datetime
    region: str
    pathway: str
    local_authority_code: str
    allocation_due_by: datetime
    first_contact_due_by: datetime
    attributes: dict[str, Any]
    personal: dict[str, Any]
    version: int


class CasePage(BaseModel):
    items: list[Case]
    next_cursor: str | None
