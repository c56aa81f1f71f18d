from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from ictg_common.service import SessionDep

from ..cases.access import WRITE_RESPONSES, WriteCtx, finish_write, open_for_write
from ..cases.reads import add_record_reads
from ..models import MissingEpisode
from . import service
from .schemas import Episode, EpisodeCreate, EpisodeReturn

router = APIRouter(tags=["missing episodes"])
BASE = "/v1/cases/{case_id}/missing-episodes"


@router.post(BASE, status_code=201, response_model=Episode, responses=WRITE_RESPONSES)
async def start_episode(
    case_id: UUID, body: EpisodeCreate, session: SessionDep, ctx: WriteCtx, response: Response
) -> Episode:
    """The child went missing (409 while another episode is open or if it would overlap one)."""
    case, access = await open_for_write(session, ctx, case_id, action="missing_episode.create")
    row = await service.start(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/missing-episodes/{row.id}"
    await finish_write(session, ctx, case, access, response, action="missing_episode.create", location=location)
    return Episode.model_validate(row, from_attributes=True)


@router.post(BASE + "/{episode_id}/return", status_code=200, response_model=Episode, responses=WRITE_RESPONSES)
async def record_return(
    case_id: UUID, episode_id: UUID, body: EpisodeReturn, session: SessionDep, ctx: WriteCtx, response: Response
) -> Episode:
    """The child came back: closes the episode (answers the episode, with the case's new ETag)."""
    case, access = await open_for_write(session, ctx, case_id, action="missing_episode.return")
    row = await service.end(session, case, episode_id, body, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/missing-episodes/{row.id}"
    await finish_write(session, ctx, case, access, response, action="missing_episode.return", location=location)
    return Episode.model_validate(row, from_attributes=True)


add_record_reads(
    router, path="missing-episodes", model=MissingEpisode, schema=Episode, order="started_at", noun="missing_episode"
)
