"""Input building blocks shared by every record schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, StringConstraints

from ictg_common.inputs import StrictModel

# Postgres text cannot hold NUL: refuse it here (422) rather than fail in the database (500).
NO_NUL = r"^[^\x00]*$"
Notes = Annotated[str, StringConstraints(max_length=4000, pattern=NO_NUL)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=NO_NUL)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]


class Strict(StrictModel):
    """Unknown fields refused, no type coercion (ictg_common.inputs)."""


class RecordOut(BaseModel):
    id: UUID
    case_id: UUID
    recorded_at: datetime
    recorded_by: str
