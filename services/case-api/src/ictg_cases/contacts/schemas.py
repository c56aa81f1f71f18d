from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from ictg_common.codes import ContactMethod, ContactOutcome, Party, Topic
from ictg_common.inputs import IsoDateTime

from ..types import Notes, RecordOut, Strict


class ContactCreate(Strict):
    occurred_at: IsoDateTime
    outcome: ContactOutcome
    method: ContactMethod
    party: Party
    topics: list[Topic] = Field(default_factory=list, max_length=10)
    notes: Notes | None = None

    @field_validator("topics")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class Contact(RecordOut):
    occurred_at: datetime
    outcome: ContactOutcome
    method: ContactMethod
    party: Party
    topics: list[Topic]
    notes: str | None
