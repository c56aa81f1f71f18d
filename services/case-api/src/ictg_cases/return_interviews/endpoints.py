"""`POST /v1/cases/{case_id}/missing-episodes/{episode_id}/return-interview`: the interview offered (or not)
after the child came back. A guardian (scope `cases:write`, the case in their regions) or the council the
child came back to (scope `la:write`). Read with the other records at `/v1/cases/{case_id}/return-interviews`
(`ictg_cases.kinds`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import CouncilWriteCtx
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent, replayed
from ..cases.unit_of_work import CaseWrite
from ..rules import etag
from ..types import CaseId
from . import service
from .schemas import ReturnInterview, ReturnInterviewCreate

router = APIRouter(tags=["missing episodes"])
ACTION = "return_interview.create"
EpisodeId = Annotated[UUID, Path(description="The missing episode's id (the child's return already recorded).")]


@router.post(
    "/v1/cases/{case_id}/missing-episodes/{episode_id}/return-interview",
    status_code=201,
    response_model=ReturnInterview,
    responses={
        **IDEMPOTENT_WRITE_RESPONSES,
        403: {"description": "Case outside your regions; for a council, a child that came back outside your periods"},
        404: {"description": "No such case or episode (for a council: none of its children)"},
        409: {
            **IDEMPOTENT_WRITE_RESPONSES[409],
            "description": "Case closed, the child has not come back yet, or the episode already has its interview; "
            "or a request with the same Idempotency-Key is still in flight (retry after `Retry-After` seconds)",
        },
    },
)
async def record_return_interview(
    case_id: CaseId,
    episode_id: EpisodeId,
    body: ReturnInterviewCreate,
    session: SessionDep,
    ctx: CouncilWriteCtx,
    response: Response,
    idem: Idempotent,
) -> ReturnInterview | JSONResponse:
    """The return home interview offered after a missing episode, within 72 hours of the return (statutory
    guidance): accepted or declined, or not offered; one per episode (a second is 409). Meets the episode's
    `return_interview` deadline when offered before it. A council records it with scope `la:write` for a child
    that came back while its responsibility."""
    if (replay := await replayed(session, ctx, idem, case_id, action=ACTION)) is not None:
        return replay
    work = await CaseWrite.open(session, ctx, case_id, action=ACTION)
    row = await service.record(
        session, work.case, episode_id, body, actor=ctx.actor, settings=ctx.settings, council=work.access.periods
    )
    done = await work.finish(row, location=f"/v1/cases/{case_id}/return-interviews/{row.id}")
    response.headers["Location"] = done.location
    if not work.access.council:  # a council must not watch the case's version move after its period
        response.headers["ETag"] = etag(done.version)
    return await idem.save(session, ReturnInterview.model_validate(row, from_attributes=True), response)
