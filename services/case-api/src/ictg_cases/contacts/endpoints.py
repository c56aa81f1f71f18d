from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import WriteCtx, finish_write, open_for_write
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent, replayed
from ..cases.reads import add_record_reads
from ..models import Contact as ContactRow
from . import service
from .schemas import Contact, ContactCreate

router = APIRouter(tags=["contacts"])


@router.post(
    "/v1/cases/{case_id}/contacts", status_code=201, response_model=Contact, responses=IDEMPOTENT_WRITE_RESPONSES
)
async def record_contact(
    case_id: UUID, body: ContactCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Contact | JSONResponse:
    if (replay := await replayed(session, ctx, idem, case_id, action="contact.create")) is not None:
        return replay
    case, access = await open_for_write(session, ctx, case_id, action="contact.create")
    row = await service.record(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/contacts/{row.id}"
    await finish_write(session, ctx, case, access, response, action="contact.create", location=location)
    return await idem.save(session, Contact.model_validate(row, from_attributes=True), response)


add_record_reads(router, path="contacts", model=ContactRow, schema=Contact, order="occurred_at", noun="contact")
