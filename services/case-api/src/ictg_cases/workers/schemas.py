from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from ictg_common.codes import WorkerRole
from ictg_common.reference import REGION_SLUGS

from ..types import Name, Strict

Region = Literal[REGION_SLUGS]  # type: ignore[valid-type]

ROLE = (
    "The worker's role: direct_worker, regional_practice_coordinator or regional_practitioner (holds cases of "
    "that pathway), or manager (may hold a case on any pathway)."
)
REGION = "The region whose cases the worker may hold (a slug, e.g. `north_west`)."


class WorkerCreate(Strict):
    name: Name = Field(description="The worker's name, 1–200 characters. Shown to ICTG staff only, never to councils.")
    role: WorkerRole = Field(description=ROLE)
    region: Region = Field(description=REGION)
    capacity: int = Field(ge=0, le=500, description="How many open cases the worker can hold (0–500).")


class Worker(BaseModel):
    id: UUID = Field(description="The worker's id (UUIDv7).")
    name: str = Field(description="The worker's name.")
    role: WorkerRole = Field(description=ROLE)
    region: str = Field(description=REGION)
    capacity: int = Field(description="How many open cases the worker can hold.")
    caseload: int = Field(description="Open cases allocated to the worker now")
    created_at: datetime = Field(description="When the worker was added (RFC 3339).")


class WorkerPage(BaseModel):
    items: list[Worker] = Field(description="Workers in id order (the order they were added).")
    next_cursor: str | None = Field(description="Give as `cursor` for the next page; null on the last page.")
