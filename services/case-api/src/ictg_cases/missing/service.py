"""Missing episodes: one open at a time, never overlapping, a return never before the start."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.contracts import MissingEnded, MissingStarted
from ictg_common.errors import NotFound
from ictg_common.events import new_id

from .. import rules
from ..cases import repository as cases_repo
from ..cases.service import time_errors
from ..errors import EpisodeConflict, RecordInvalid
from ..models import Case, MissingEpisode
from ..return_interviews.rules import due_by as return_interview_due_by
from ..settings import CasesSettings
from .schemas import EpisodeCreate, EpisodeReturn


async def start(
    session: AsyncSession, case: Case, body: EpisodeCreate, *, actor: Actor, settings: CasesSettings
) -> MissingEpisode:
    now = clock.utcnow()
    errors = time_errors(case, body.started_at, pointer="/started_at", now=now, settings=settings)
    if errors:
        raise RecordInvalid(errors)
    episodes = await cases_repo.records(session, MissingEpisode, case.id, order=MissingEpisode.started_at)
    row = MissingEpisode(
        id=new_id(), case_id=case.id, at_referral=False, recorded_at=now, recorded_by=actor.sub, **body.model_dump()
    )
    case.start_missing(
        MissingStarted(
            case_id=case.id, referral_id=case.referral_id, episode_id=row.id, started_at=body.started_at,
            at_referral=False, whereabouts_known=body.whereabouts_known, reported_to_police=body.reported_to_police,
            missing_from_care_meeting=body.missing_from_care_meeting,
            professional_network_meeting=body.professional_network_meeting,
        ),
        episodes=[rules.Episode(e.started_at, e.ended_at) for e in episodes],
    )  # fmt: skip
    await cases_repo.add(session, row)
    return row


async def end(
    session: AsyncSession, case: Case, episode_id: UUID, body: EpisodeReturn, *, settings: CasesSettings
) -> MissingEpisode:
    now = clock.utcnow()
    row = await cases_repo.record(session, MissingEpisode, case.id, episode_id, lock=True)
    if row is None:
        raise NotFound("No such missing episode in this case.")
    if row.ended_at is not None:
        raise EpisodeConflict(
            f"The child's return from this episode was already recorded ({row.ended_at.isoformat()})."
        )
    errors = time_errors(case, body.ended_at, pointer="/ended_at", now=now, settings=settings)
    if errors:
        raise RecordInvalid(errors)
    case.end_missing(
        MissingEnded(
            case_id=case.id, referral_id=case.referral_id, episode_id=row.id, started_at=row.started_at,
            ended_at=body.ended_at, return_interview_offered=body.return_interview_offered,
        )
    )  # fmt: skip
    row.ended_at = body.ended_at
    row.return_interview_offered = body.return_interview_offered
    # The `return_interview` clock starts (the interview itself: return_interviews/).
    row.return_interview_due_by = return_interview_due_by(body.ended_at)
    await session.flush()
    return row
