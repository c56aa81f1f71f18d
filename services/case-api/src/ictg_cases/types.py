"""Input building blocks shared by every record schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import Path
from pydantic import BaseModel, Field, StringConstraints

from ictg_common.inputs import STORABLE, StrictModel, text

# Text Postgres can store (no NUL, no lone surrogate): refused here (422), never a 500 in the database.
Notes = Annotated[str, StringConstraints(max_length=4000), STORABLE]
Reason = Annotated[str, text(1000, min_length=1), STORABLE]
Name = Annotated[str, text(200, min_length=1), STORABLE]


class Strict(StrictModel):
    """Unknown fields refused, no type coercion (ictg_common.inputs)."""


# Path parameters every case route shares (one text each in the OpenAPI document).
CaseId = Annotated[
    UUID, Path(description="The case's id (`id` of a case; GET /v1/cases?referral_id= finds a referral's case).")
]
RecordId = Annotated[UUID, Path(description="The record's id (its `id` in the list of this kind of record).")]

# Texts shared by the schemas of records whose time the client gives.
CLIENT_TIME = "RFC 3339 with offset; not in the future, not before the referral was received."


class RecordOut(BaseModel):
    id: UUID = Field(description="The record's id (UUIDv7).")
    case_id: UUID = Field(description="The case the record belongs to.")
    recorded_at: datetime = Field(description="When the record was written here (server clock, RFC 3339).")
    recorded_by: str = Field(description="Who wrote it: the `sub` of their token. Not shown to councils.")
