from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import WriteCtx, finish_write, open_for_write
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent, replayed
from ..cases.reads import add_record_reads
from ..models import Allocation as AllocationRow
from . import service
from .schemas import Allocation, AllocationCreate

router = APIRouter(tags=["allocations"])


@router.post(
    "/v1/cases/{case_id}/allocations", status_code=201, response_model=Allocation,
    responses=IDEMPOTENT_WRITE_RESPONSES,
)  # fmt: skip
async def allocate(
    case_id: UUID, body: AllocationCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Allocation | JSONResponse:
    """Allocate (or re-allocate: history is kept) the case to a worker whose role fits its pathway."""
    if (replay := await replayed(session, ctx, idem, case_id, action="allocation.create")) is not None:
        return replay
    case, access = await open_for_write(session, ctx, case_id, action="allocation.create")
    row = await service.allocate(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/allocations/{row.id}"
    await finish_write(session, ctx, case, access, response, action="allocation.create", location=location)
    return await idem.save(session, Allocation.model_validate(row, from_attributes=True), response)


add_record_reads(
    router, path="allocations", model=AllocationRow, schema=Allocation, order="allocated_at", noun="allocation"
)
