"""`PATCH /v1/referrals/{id}` and `POST /v1/referrals/{id}/withdraw`: the filing organisation corrects or
withdraws its referral (`corrections.py`)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header, Path, Response

from ictg_common.auth import Actor, require
from ictg_common.preconditions import etag
from ictg_common.service import SessionDep

from ..runtime import IntakeRuntimeDep
from . import corrections, service
from .correction_schemas import CORRECTABLE, WithdrawalCreate, correction_schema
from .schemas import Referral, ReferralCreate

router = APIRouter(prefix=service.COLLECTION, tags=["referrals"])

Filer = Annotated[Actor, require("referrals:write")]
ReferralIdPath = Annotated[UUID, Path(description="The referral's id, from `POST /v1/referrals` or its `Location`.")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match", max_length=200,
        description="The referral's `ETag` from your last read of it (required: 428 without it, 412 if it changed since).",
    ),
]  # fmt: skip
ETAG_HEADER = {
    "ETag": {"description": "The referral's new ETag, for the next `If-Match`.", "schema": {"type": "string"}}
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found, or not your organisation's referral"},
    409: {"description": "The referral is withdrawn: it takes no more corrections and no second withdrawal"},
    412: {"description": "If-Match does not match the referral's ETag: read it again (the answer carries the ETag)"},
    428: {"description": "If-Match is missing"},
}
PATCH_BODY = {
    "requestBody": {
        "required": True,
        "description": "A JSON merge patch (RFC 7386) of the referral as you sent it: only the fields you correct; "
        "`null` clears an optional field (or the one you replace: `date_of_birth` for an `estimated_age`).",
        "content": {
            media: {
                "schema": correction_schema(ReferralCreate),
                "example": {"child": {"family_name": "Nguyen Van"}, "referrer": {"reference": "GMP/2026/000124"}},
            }
            for media in ("application/merge-patch+json", "application/json")
        },
    }
}


@router.patch(
    "/{referral_id}",
    response_model=Referral,
    openapi_extra=PATCH_BODY,
    description=f"Correct what your organisation's referral got wrong: {CORRECTABLE}. The corrected referral is "
    "checked as a new one is (the same rules, the same errors); the region and pathway follow the local authority "
    "and parental responsibility, and possible duplicates are looked for again. The clock does not move "
    "(`received_at` and the deadlines stay). The child's guardian sees which fields you changed, never their values.",
    responses={200: {"description": "Corrected: the referral as it now stands.", "headers": ETAG_HEADER},
               **RESPONSES, 422: {"description": "Validation failed, or a field that cannot be corrected"}},
)  # fmt: skip
async def correct_referral(
    referral_id: ReferralIdPath,
    patch: Annotated[dict[str, Any], Body(include_in_schema=False)],
    response: Response,
    session: SessionDep,
    actor: Filer,
    runtime: IntakeRuntimeDep,
    if_match: IfMatch = None,
) -> Referral:
    """Correct your organisation's referral (the operation's description says what may change)."""
    out = await corrections.amend(
        session, referral_id, patch, actor=actor, if_match=if_match, settings=runtime.settings,
        refusals=runtime.sessionmaker,
    )  # fmt: skip
    response.headers["ETag"] = etag(out.version)
    return out


@router.post(
    "/{referral_id}/withdraw",
    response_model=Referral,
    responses={200: {"description": "Withdrawn: the referral, `status` `withdrawn`.", "headers": ETAG_HEADER},
               **RESPONSES, 422: {"description": "Validation failed"}},
)  # fmt: skip
async def withdraw_referral(
    referral_id: ReferralIdPath,
    body: WithdrawalCreate,
    response: Response,
    session: SessionDep,
    actor: Filer,
    runtime: IntakeRuntimeDep,
    if_match: IfMatch = None,
) -> Referral:
    """Withdraw your organisation's referral (made in error, a duplicate, or another reason). Before a guardian
    is allocated the child's case closes (exit reason `referral_withdrawn`); after, the guardian is told and
    decides with the child. A withdrawn referral can be neither corrected nor withdrawn again."""
    out = await corrections.withdraw(
        session, referral_id, body, actor=actor, if_match=if_match, settings=runtime.settings,
        refusals=runtime.sessionmaker,
    )  # fmt: skip
    response.headers["ETag"] = etag(out.version)
    return out
