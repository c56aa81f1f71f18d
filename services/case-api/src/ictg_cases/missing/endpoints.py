from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import WriteCtx, finish_write, open_for_write
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent, replayed
from ..cases.reads import add_record_reads
from ..models import MissingEpisode
from . import service
from .schemas import Episode, EpisodeCreate, EpisodeReturn

router = APIRouter(tags=["missing episodes"])
BASE = "/v1/cases/{case_id}/missing-episodes"


@router.post(BASE, status_code=201, response_model=Episode, responses=IDEMPOTENT_WRITE_RESPONSES)
async def start_episode(
    case_id: UUID, body: EpisodeCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Episode | JSONResponse:
    """The child went missing (409 while another episode is open or if it would overlap one)."""
    if (replay := await replayed(session, ctx, idem, case_id, action="missing_episode.create")) is not None:
        return replay
    case, access = await open_for_write(session, ctx, case_id, action="missing_episode.create")
    row = await service.start(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/missing-episodes/{row.id}"
    await finish_write(session, ctx, case, access, response, action="missing_episode.create", location=location)
    return await idem.save(session, Episode.model_validate(row, from_attributes=True), response)


@router.post(
    BASE + "/{episode_id}/return", status_code=200, response_model=Episode, responses=IDEMPOTENT_WRITE_RESPONSES
)
async def record_return(
    case_id: UUID,
    episode_id: UUID,
    body: EpisodeReturn,
    session: SessionDep,
    ctx: WriteCtx,
    response: Response,
    idem: Idempotent,
) -> Episode | JSONResponse:
    """The child came back: closes the episode (answers the episode, with the case's new ETag)."""
    if (replay := await replayed(session, ctx, idem, case_id, action="missing_episode.return")) is not None:
        return replay
    case, access = await open_for_write(session, ctx, case_id, action="missing_episode.return")
    row = await service.end(session, case, episode_id, body, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/missing-episodes/{row.id}"
    await finish_write(session, ctx, case, access, response, action="missing_episode.return", location=location)
    return await idem.save(session, Episode.model_validate(row, from_attributes=True), response)


add_record_reads(
    router, path="missing-episodes", model=MissingEpisode, schema=Episode, order="started_at", noun="missing_episode"
)
