from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ictg_common.errors import NotFound
from ictg_common.service import SessionDep

from ..cases.access import CASE_RESPONSES, ReadCtx, WriteCtx, finish_read, open_for_read
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent
from ..cases.repository import one_for_case
from ..cases.writes import write_case
from ..councils import view as council
from ..models import Exit as ExitRow
from ..types import CaseId
from . import service
from .schemas import Exit, ExitCreate

router = APIRouter(tags=["exits"])


@router.post("/v1/cases/{case_id}/exit", status_code=201, response_model=Exit, responses=IDEMPOTENT_WRITE_RESPONSES)
async def exit_case(
    case_id: CaseId, body: ExitCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Exit | JSONResponse:
    """The child leaves the service (reason and destination required); the case then takes no records."""
    return await write_case(
        session, ctx, idem, response, case_id, action="exit.create", out=Exit,
        location="/v1/cases/{case_id}/exit",
        write=lambda case: service.exit_case(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip


CouncilExit = council.council_schema(Exit, "exit")


@router.get("/v1/cases/{case_id}/exit", response_model=Exit | CouncilExit, responses=CASE_RESPONSES)
async def get_exit(case_id: CaseId, session: SessionDep, ctx: ReadCtx) -> Any:
    """The child's exit; a council's token sees it if it fell inside its periods."""
    _case, access = await open_for_read(session, ctx, case_id, action="exit.read")
    row = await one_for_case(session, ExitRow, case_id)
    seen = None if row is None or access.periods is None else council.record("exit", row, access.periods)
    if row is None or (access.periods is not None and seen is None):
        raise NotFound("The child has not left the service.")
    await finish_read(session, ctx, access, action="exit.read", resource=f"/v1/cases/{case_id}/exit")
    return Exit.model_validate(row, from_attributes=True) if seen is None else CouncilExit.model_validate(seen)
