from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from ictg_common.inputs import IsoDateTime, Uuid

from ..types import CLIENT_TIME, Reason, RecordOut, Strict


class AllocationCreate(Strict):
    worker_id: Uuid = Field(
        description="The worker to allocate (GET /v1/workers): in the case's region, with the role of the case's "
        "pathway, or a manager."
    )
    allocated_at: IsoDateTime | None = Field(
        default=None,
        description=f"When the allocation began: {CLIENT_TIME} Not before the current allocation. Defaults to now.",
    )
    override_reason: Reason | None = Field(
        default=None,
        description="Why the worker takes the case beyond their capacity (1–1000 characters); required when they "
        "are at capacity.",
    )


class Allocation(RecordOut):
    worker_id: UUID = Field(description="The worker allocated (GET /v1/workers/{worker_id}). Not shown to councils.")
    role: str = Field(
        description="The worker's role when allocated: direct_worker, regional_practice_coordinator, "
        "regional_practitioner or manager."
    )
    allocated_at: datetime = Field(description="When the allocation began (RFC 3339).")
    ended_at: datetime | None = Field(
        description="When a re-allocation or a pathway change ended it (RFC 3339); null while current "
        "(for a council, also when it ended after the council's periods)."
    )
    over_capacity: bool = Field(
        description="True when the allocation took the worker beyond their capacity. Not shown to councils."
    )
    override_reason: str | None = Field(
        description="The reason given for allocating beyond capacity; null if none was given. Not shown to councils."
    )
