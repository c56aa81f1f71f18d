from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import WriteCtx
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent
from ..cases.writes import write_case
from ..types import CaseId
from . import service
from .schemas import Contact, ContactCreate

router = APIRouter(tags=["contacts"])


@router.post(
    "/v1/cases/{case_id}/contacts", status_code=201, response_model=Contact, responses=IDEMPOTENT_WRITE_RESPONSES
)
async def record_contact(
    case_id: CaseId, body: ContactCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Contact | JSONResponse:
    return await write_case(
        session, ctx, idem, response, case_id, action="contact.create", out=Contact,
        location="/v1/cases/{case_id}/contacts/{id}",
        write=lambda case: service.record(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip
