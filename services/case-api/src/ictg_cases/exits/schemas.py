from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ictg_common.codes import ExitDestination, ExitReason
from ictg_common.inputs import IsoDateTime

from ..types import CLIENT_TIME, RecordOut, Strict

REASONS = (
    "work_completed, long_term_missing, negative_nrm_decision, declined_service, turned_18, maximum_duration, "
    "moved_out_of_area, assessed_adult, referral_withdrawn (only once the referrer has withdrawn the referral) or other"
)
REASON = f"Why the child left: {REASONS}; while the child is missing, only long_term_missing."
DESTINATION = (
    "Where the child went on: la_children_services, la_adult_services, ngo, post_18_support, other_service or none."
)


class ExitCreate(Strict):
    exited_at: IsoDateTime = Field(
        description=f"When the child left the service: {CLIENT_TIME} Not before the case's last record."
    )
    reason: ExitReason = Field(description=REASON)
    destination: ExitDestination = Field(description=DESTINATION)


class Exit(RecordOut):
    exited_at: datetime = Field(description="When the child left the service (RFC 3339).")
    reason: ExitReason = Field(description=f"Why the child left: {REASONS}.")
    destination: ExitDestination = Field(description=DESTINATION)
