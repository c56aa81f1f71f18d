"""A return home interview: the body a guardian or a council sends, and the record as read."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from ictg_common.codes import ReturnInterviewBy, ReturnInterviewOutcome
from ictg_common.inputs import IsoDateTime

from ..types import RecordOut, Strict

OFFERED = (
    "When the interview was offered (for `not_offered`: when it was settled that none would be), RFC 3339 with "
    "offset: not before the child's return, not in the future. Offered before 72 hours after the return meets the "
    "`return_interview` deadline."
)
OUTCOME = "accepted or declined (the child's answer to the offer), or not_offered."
COMPLETED = "When an accepted interview was held (RFC 3339): only with `accepted`, not before `offered_at`."
BY = (
    "Who offered it (and, if accepted, conducts it): local_authority (the council's own team), commissioned_service "
    "(a service the council commissions), ictg (the child's guardian) or other. A code, never a name. Needed unless "
    "`not_offered`."
)


class ReturnInterviewCreate(Strict):
    offered_at: IsoDateTime = Field(description=OFFERED)
    outcome: ReturnInterviewOutcome = Field(description=OUTCOME)
    completed_at: IsoDateTime | None = Field(default=None, description=COMPLETED)
    conducted_by: ReturnInterviewBy | None = Field(default=None, description=BY)


class ReturnInterview(RecordOut):
    """The return home interview after a missing episode (one per episode)."""

    episode_id: UUID = Field(description="The missing episode it followed.")
    ended_at: datetime = Field(description="When the child came back from that episode (RFC 3339).")
    due_by: datetime = Field(description="72 hours after the return: the `return_interview` deadline.")
    offered_at: datetime = Field(description=OFFERED.split(", RFC")[0] + " (RFC 3339).")
    outcome: ReturnInterviewOutcome = Field(description=OUTCOME)
    completed_at: datetime | None = Field(description=COMPLETED)
    conducted_by: ReturnInterviewBy | None = Field(description=BY)
    within_72h: bool = Field(description="Offered (accepted or declined) before `due_by`: the deadline met.")
