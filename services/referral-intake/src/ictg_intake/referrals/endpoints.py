from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ictg_common import audit, pagination
from ictg_common.auth import Actor, require
from ictg_common.errors import Forbidden, NotFound
from ictg_common.idempotency import Idempotency, documented, idempotent
from ictg_common.service import SessionDep

from ..models import SCHEMA, idempotency
from . import repository, service
from .schemas import Referral, ReferralCreate, ReferralPage

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])

Writer = Annotated[Actor, require("referrals:write", "referrals:import")]
Reader = Annotated[Actor, require("referrals:read", "referrals:write")]
Idempotent = Annotated[Idempotency, idempotent(idempotency)]


@router.post(
    "", status_code=201, response_model=Referral, responses=documented({422: {"description": "Validation failed"}})
)
async def create_referral(
    body: ReferralCreate, request: Request, response: Response, session: SessionDep, actor: Writer, idem: Idempotent
) -> Referral | JSONResponse:
    if (replay := await idem.replay(session, action="referral.create")) is not None:
        return replay
    try:
        referral = await service.receive(session, body, actor=actor, settings=request.app.state.settings)
    except Forbidden:  # filing for another organisation, or setting received_at without the import scope
        await audit.record_refusal(
            request.app.state.sessionmaker, schema=SCHEMA, actor=actor, action="referral.create",
            resource="/v1/referrals",
        )  # fmt: skip
        raise
    [out] = await service.shown(session, [referral], actor=actor)
    location = f"/v1/referrals/{referral.id}"
    await audit.record(session, schema=SCHEMA, actor=actor, action="referral.create", resource=location)
    response.headers["Location"] = location
    return await idem.save(session, out, response)


@router.get("/{referral_id}", response_model=Referral, responses={404: {"description": "Not found (or not yours)"}})
async def get_referral(referral_id: UUID, request: Request, session: SessionDep, actor: Reader) -> Referral:
    resource = f"/v1/referrals/{referral_id}"
    try:
        referral = await service.read(session, referral_id, actor=actor)
    except NotFound:
        await audit.record_refusal(
            request.app.state.sessionmaker, schema=SCHEMA, actor=actor, action="referral.read", resource=resource
        )
        raise
    await audit.record(session, schema=SCHEMA, actor=actor, action="referral.read", resource=resource)
    [out] = await service.shown(session, [referral], actor=actor)
    return out


@router.get("", response_model=ReferralPage)
async def list_referrals(
    session: SessionDep,
    actor: Reader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ReferralPage:
    # The service sees every referral; a first responder sees its own organisation's.
    org = None if actor.has("referrals:read") else (actor.org_type or "", actor.org_name or "")
    rows = await repository.page(session, after=pagination.time_key(cursor), org=org, limit=limit + 1)
    page, next_cursor = pagination.split(rows, limit, lambda r: pagination.encode_time_key(r.received_at, r.id))
    # One audit row per referral shown: the trail of a child's record must include list reads.
    await audit.record_many(
        session, schema=SCHEMA, actor=actor, action="referral.list", resources=[f"/v1/referrals/{r.id}" for r in page]
    )
    return ReferralPage(items=await service.shown(session, page, actor=actor), next_cursor=next_cursor)
