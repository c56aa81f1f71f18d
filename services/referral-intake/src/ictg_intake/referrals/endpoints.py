from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ictg_common import pagination
from ictg_common.auth import Actor, require
from ictg_common.idempotency import Idempotency, documented, idempotent
from ictg_common.service import SessionDep

from ..models import idempotency
from . import service
from .schemas import Referral, ReferralCreate, ReferralPage

router = APIRouter(prefix=service.COLLECTION, tags=["referrals"])

Writer = Annotated[Actor, require("referrals:write", "referrals:import")]
Reader = Annotated[Actor, require("referrals:read", "referrals:write")]
Idempotent = Annotated[Idempotency, idempotent(idempotency)]


@router.post(
    "", status_code=201, response_model=Referral, responses=documented({422: {"description": "Validation failed"}})
)
async def create_referral(
    body: ReferralCreate, request: Request, response: Response, session: SessionDep, actor: Writer, idem: Idempotent
) -> Referral | JSONResponse:
    return await service.create(
        session, body, actor=actor, settings=request.app.state.settings, idem=idem, response=response,
        refusals=request.app.state.sessionmaker,
    )  # fmt: skip


@router.get("/{referral_id}", response_model=Referral, responses={404: {"description": "Not found (or not yours)"}})
async def get_referral(referral_id: UUID, request: Request, session: SessionDep, actor: Reader) -> Referral:
    return await service.read(session, referral_id, actor=actor, refusals=request.app.state.sessionmaker)


@router.get("", response_model=ReferralPage)
async def list_referrals(
    session: SessionDep,
    actor: Reader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ReferralPage:
    return await service.page(session, actor=actor, after=pagination.time_key(cursor), limit=limit)
