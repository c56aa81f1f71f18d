"""Input building blocks shared by every record schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, StringConstraints

from ictg_common.inputs import STORABLE, StrictModel, text

# Text Postgres can store (no NUL, no lone surrogate): refused here (422), never a 500 in the database.
Notes = Annotated[str, StringConstraints(max_length=4000), STORABLE]
Reason = Annotated[str, text(1000, min_length=1), STORABLE]
Name = Annotated[str, text(200, min_length=1), STORABLE]


class Strict(StrictModel):
    """Unknown fields refused, no type coercion (ictg_common.inputs)."""


class RecordOut(BaseModel):
    id: UUID
    case_id: UUID
    recorded_at: datetime
    recorded_by: str
