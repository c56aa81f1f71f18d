from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import WriteCtx
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent
from ..cases.writes import write_case
from ..types import CaseId
from . import service
from .schemas import Episode, EpisodeCreate, EpisodeReturn

router = APIRouter(tags=["missing episodes"])
BASE = "/v1/cases/{case_id}/missing-episodes"
EpisodeId = Annotated[
    UUID, Path(description="The open missing episode's id (its `id` in the case's missing episodes).")
]


@router.post(BASE, status_code=201, response_model=Episode, responses=IDEMPOTENT_WRITE_RESPONSES)
async def start_episode(
    case_id: CaseId, body: EpisodeCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Episode | JSONResponse:
    """The child went missing (409 while another episode is open or if it would overlap one)."""
    return await write_case(
        session, ctx, idem, response, case_id, action="missing_episode.create", out=Episode,
        location="/v1/cases/{case_id}/missing-episodes/{id}",
        write=lambda case: service.start(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip


@router.post(
    BASE + "/{episode_id}/return", status_code=200, response_model=Episode, responses=IDEMPOTENT_WRITE_RESPONSES
)
async def record_return(
    case_id: CaseId,
    episode_id: EpisodeId,
    body: EpisodeReturn,
    session: SessionDep,
    ctx: WriteCtx,
    response: Response,
    idem: Idempotent,
) -> Episode | JSONResponse:
    """The child came back: closes the episode (answers the episode, with the case's new ETag)."""
    return await write_case(
        session, ctx, idem, response, case_id, action="missing_episode.return", out=Episode,
        location="/v1/cases/{case_id}/missing-episodes/{id}",
        write=lambda case: service.end(session, case, episode_id, body, settings=ctx.settings),
    )  # fmt: skip
