from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import AdminCtx, WriteCtx, refuse_unless
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent
from ..cases.writes import write_case
from ..models import Case
from ..models import Move as MoveRow
from ..rules import changes_region
from ..types import CaseId
from . import service
from .schemas import Move, MoveCreate, PathwayChange, PathwayChangeCreate

router = APIRouter(tags=["records"])


@router.post("/v1/cases/{case_id}/moves", status_code=201, response_model=Move, responses=IDEMPOTENT_WRITE_RESPONSES)
async def record_move(
    case_id: CaseId, body: MoveCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Move | JSONResponse:
    """Dispersal or placement move: the case's current local authority and region follow the child.
    A move to another region needs scope cases:admin (it changes who may see the case)."""

    async def move(case: Case) -> MoveRow:
        if changes_region(case.region, body.local_authority_code):
            await refuse_unless(
                ctx, "cases:admin", action="move.create", resource=f"/v1/cases/{case_id}",
                detail="A move to another region needs scope cases:admin.",
            )  # fmt: skip
        return await service.move(session, case, body, actor=ctx.actor, settings=ctx.settings)

    return await write_case(
        session, ctx, idem, response, case_id, action="move.create", out=Move,
        location="/v1/cases/{case_id}/moves/{id}", write=move,
    )  # fmt: skip


@router.post(
    "/v1/cases/{case_id}/pathway", status_code=201, response_model=PathwayChange,
    responses=IDEMPOTENT_WRITE_RESPONSES,
)  # fmt: skip
async def change_pathway(
    case_id: CaseId,
    body: PathwayChangeCreate,
    session: SessionDep,
    ctx: AdminCtx,
    response: Response,
    idem: Idempotent,
) -> PathwayChange | JSONResponse:
    """A manager switches the case to the regional practitioner pathway (scope cases:admin)."""
    return await write_case(
        session, ctx, idem, response, case_id, action="pathway.change", out=PathwayChange,
        location="/v1/cases/{case_id}/pathway-changes/{id}",
        write=lambda case: service.change_pathway(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip
