from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from ictg_common.codes import WorkerRole
from ictg_common.reference import REGION_SLUGS

from ..types import Name, Strict

Region = Literal[REGION_SLUGS]  # type: ignore[valid-type]


class WorkerCreate(Strict):
    name: Name
    role: WorkerRole
    region: Region
    capacity: int = Field(ge=0, le=500, description="How many open cases the worker can hold")


class Worker(BaseModel):
    id: UUID
    name: str
    role: WorkerRole
    region: str
    capacity: int
    caseload: int = Field(description="Open cases allocated to the worker now")
    created_at: datetime


class WorkerPage(BaseModel):
    items: list[Worker]
    next_cursor: str | None
