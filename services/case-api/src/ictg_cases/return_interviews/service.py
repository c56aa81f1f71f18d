"""Recording a return home interview on a missing episode that has ended: one per episode."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.contracts import ReturnInterviewRecorded
from ictg_common.errors import NotFound
from ictg_common.events import new_id

from ..cases import periods as rule
from ..cases import repository as cases_repo
from ..errors import EpisodeConflict, NotYourChild, RecordInvalid
from ..models import Case, MissingEpisode, ResponsibilityPeriod, ReturnInterview
from ..settings import CasesSettings
from . import repository, rules
from .schemas import ReturnInterviewCreate


async def record(
    session: AsyncSession,
    case: Case,
    episode_id: UUID,
    body: ReturnInterviewCreate,
    *,
    actor: Actor,
    settings: CasesSettings,
    council: Sequence[ResponsibilityPeriod] | None,
) -> ReturnInterview:
    """Record the interview offered (or not) after the episode `episode_id` ended. `council`: the writing
    council's periods of the case (None for the service's staff): the child's return must fall inside them."""
    now = clock.utcnow()
    episode = await cases_repo.record(session, MissingEpisode, case.id, episode_id, lock=True)
    if episode is None:
        raise NotFound("No such missing episode in this case.")
    if council is not None and not rule.overlaps(council, episode.started_at, episode.ended_at):
        raise NotFound("No such missing episode in this case.")  # not one its view shows
    if episode.ended_at is None:
        raise EpisodeConflict("The child has not come back from this episode: record the return first.")
    if council is not None and not rule.covers(council, episode.ended_at):
        raise NotYourChild(
            "The child came back from this episode after it stopped being your responsibility: the authority the "
            "child returned to records the interview."
        )
    taken = await repository.of_episode(session, episode.id)
    if taken is not None:
        raise EpisodeConflict(
            f"A return interview was already recorded for this episode (/v1/cases/{case.id}/return-interviews/{taken})."
        )
    errors = rules.problems(
        body, ended_at=episode.ended_at, now=now, skew=timedelta(seconds=settings.clock_skew_seconds)
    )
    if errors:
        raise RecordInvalid(errors)
    # Returns recorded before the clock existed have no deadline of their own: the same 72 hours.
    due = episode.return_interview_due_by or rules.due_by(episode.ended_at)
    row = ReturnInterview(
        id=new_id(), case_id=case.id, episode_id=episode.id, offered_at=body.offered_at, outcome=body.outcome,
        completed_at=body.completed_at, conducted_by=body.conducted_by, ended_at=episode.ended_at, due_by=due,
        within_72h=rules.within(body.offered_at, body.outcome, due), recorded_at=now, recorded_by=actor.sub,
    )  # fmt: skip
    case.record(
        ReturnInterviewRecorded(
            case_id=case.id, referral_id=case.referral_id, interview_id=row.id, episode_id=episode.id,
            ended_at=episode.ended_at, due_by=due, offered_at=body.offered_at, outcome=body.outcome,
            completed_at=body.completed_at, conducted_by=body.conducted_by, within_72h=row.within_72h,
        ),
        at=body.offered_at,
    )  # fmt: skip
    await cases_repo.add(session, row)
    return row
