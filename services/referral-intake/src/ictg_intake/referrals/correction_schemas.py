"""What a referrer sends to correct or withdraw its referral, and the withdrawal it reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from ictg_common.codes import WithdrawalReason
from ictg_common.inputs import STORABLE, StrictModel, text

Detail = Annotated[str, text(500), STORABLE]

CORRECTABLE = (
    "identified_on, referrer (contact_name, contact_email, contact_phone, reference), local_authority_code, child "
    "(any field), parental_responsibility_in_uk, exploitation, nrm, circumstances, notes"
)


class WithdrawalCreate(StrictModel):
    """Why the referral is withdrawn."""

    reason: WithdrawalReason = Field(
        description="`made_in_error` (the child should not have been referred), `duplicate` (referred already: "
        "name the other referral in `detail`), or `other` (say why in `detail`)."
    )
    detail: Detail | None = Field(
        default=None,
        description="Anything the service should know (up to 500 characters). Kept with the referral and shown to "
        "the service's staff, never published in an event.",
    )


class Withdrawal(BaseModel):
    """The referrer's withdrawal of its referral."""

    withdrawn_at: datetime = Field(description="When the referrer withdrew it (the service's clock).")
    reason: WithdrawalReason = Field(description="`made_in_error`, `duplicate` or `other`.")
    detail: str | None = Field(description="As sent; null if none.")
