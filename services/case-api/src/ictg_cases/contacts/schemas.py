from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from ictg_common.codes import ContactMethod, ContactOutcome, Party, Topic
from ictg_common.inputs import IsoDateTime

from ..types import CLIENT_TIME, Notes, RecordOut, Strict

OUTCOME = "`made`, or `attempted` (not reached); either meets the first-contact deadline."
METHOD = "How: face_to_face, phone, video, message or other."
PARTY = (
    "Who the contact was with: one of the `party` codes (child, social_worker, foster_carer, parent, …; see the enum)."
)
TOPICS = "What was discussed: `topic` codes (see the enum), at most 10, duplicates dropped; empty when none given."
NOTES = "Free text, at most 4000 characters. Not shown to councils."


class ContactCreate(Strict):
    occurred_at: IsoDateTime = Field(description=f"When the contact happened or was attempted: {CLIENT_TIME}")
    outcome: ContactOutcome = Field(description=OUTCOME)
    method: ContactMethod = Field(description=METHOD)
    party: Party = Field(description=PARTY)
    topics: list[Topic] = Field(default_factory=list, max_length=10, description=TOPICS)
    notes: Notes | None = Field(default=None, description=NOTES)

    @field_validator("topics")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class Contact(RecordOut):
    occurred_at: datetime = Field(description="When the contact happened or was attempted (RFC 3339).")
    outcome: ContactOutcome = Field(description=OUTCOME + " Not shown to councils.")
    method: ContactMethod = Field(description=METHOD)
    party: Party = Field(description=PARTY)
    topics: list[Topic] = Field(
        description="What was discussed (`topic` codes); empty when none given. Not shown to councils."
    )
    notes: str | None = Field(description="Free text; null if none. Not shown to councils.")
