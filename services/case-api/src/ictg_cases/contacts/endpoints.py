from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from ictg_common.service import SessionDep

from ..cases.access import WRITE_RESPONSES, WriteCtx, finish_write, open_for_write
from ..cases.reads import add_record_reads
from ..models import Contact as ContactRow
from . import service
from .schemas import Contact, ContactCreate

router = APIRouter(tags=["contacts"])


@router.post("/v1/cases/{case_id}/contacts", status_code=201, response_model=Contact, responses=WRITE_RESPONSES)
async def record_contact(
    case_id: UUID, body: ContactCreate, session: SessionDep, ctx: WriteCtx, response: Response
) -> Contact:
    case, access = await open_for_write(session, ctx, case_id, action="contact.create")
    row = await service.record(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/contacts/{row.id}"
    await finish_write(session, ctx, case, access, response, action="contact.create", location=location)
    return Contact.model_validate(row, from_attributes=True)


add_record_reads(router, path="contacts", model=ContactRow, schema=Contact, order="occurred_at", noun="contact")
