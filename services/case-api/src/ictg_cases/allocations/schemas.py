from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from ictg_common.inputs import IsoDateTime, Uuid

from ..types import Reason, RecordOut, Strict


class AllocationCreate(Strict):
    worker_id: Uuid
    allocated_at: IsoDateTime | None = Field(default=None, description="Defaults to now")
    override_reason: Reason | None = Field(default=None, description="Required when the worker is at capacity")


class Allocation(RecordOut):
    worker_id: UUID
    role: str
    allocated_at: datetime
    ended_at: datetime | None = Field(description="When a re-allocation replaced this one")
    over_capacity: bool
    override_reason: str | None
