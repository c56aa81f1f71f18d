"""`GET /v1/admin/referral-ids` (scope referrals:read): what the case API reconciles its cases against."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ictg_common import pagination
from ictg_common.auth import Actor, require
from ictg_common.inputs import QueryTime
from ictg_common.service import SessionDep

from . import repository
from .schemas import ReferralId, ReferralIdPage

router = APIRouter(prefix="/v1/admin", tags=["admin"])

# The service's scope only: a first responder (referrals:write) never lists other organisations' ids.
Service = Annotated[Actor, require("referrals:read")]


CutOff = QueryTime


@router.get("/referral-ids", response_model=ReferralIdPage)
async def referral_ids(
    session: SessionDep,
    actor: Service,
    received_before: Annotated[
        CutOff | None, Query(description="Only referrals received before this time (RFC 3339 with an offset).")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> ReferralIdPage:
    """Every referral's id and `received_at`, oldest first, in keyset pages.

    Ids and times only (no personal data), so no audit row per referral: the case API pages through
    this on every reconciliation round. `received_before` fixes the end of the set being compared.
    """
    rows = await repository.ids_page(
        session, received_before=received_before, after=pagination.time_key(cursor), limit=limit + 1
    )
    page, next_cursor = pagination.split(rows, limit, lambda r: pagination.encode_time_key(r[1], r[0]))
    return ReferralIdPage(items=[ReferralId(id=i, received_at=at) for i, at in page], next_cursor=next_cursor)
