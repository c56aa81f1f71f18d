from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import WriteCtx
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent
from ..cases.writes import write_case
from ..types import CaseId
from . import service
from .schemas import Allocation, AllocationCreate

router = APIRouter(tags=["allocations"])


@router.post(
    "/v1/cases/{case_id}/allocations", status_code=201, response_model=Allocation,
    responses=IDEMPOTENT_WRITE_RESPONSES,
)  # fmt: skip
async def allocate(
    case_id: CaseId, body: AllocationCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Allocation | JSONResponse:
    """Allocate (or re-allocate: history is kept) the case to a worker whose role fits its pathway."""
    return await write_case(
        session, ctx, idem, response, case_id, action="allocation.create", out=Allocation,
        location="/v1/cases/{case_id}/allocations/{id}",
        write=lambda case: service.allocate(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip
