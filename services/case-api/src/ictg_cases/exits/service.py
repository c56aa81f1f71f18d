"""The child leaves the service: the case closes and accepts no more records."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.events import new_id

from ..casefile.timeline import timeline
from ..cases import repository as cases_repo
from ..cases.service import time_errors
from ..errors import RecordInvalid
from ..models import Case, Exit
from ..settings import CasesSettings
from .schemas import ExitCreate

# What the timeline shows that no one recorded on the case: the opening, missed deadlines, the referrer's changes.
NOT_RECORDS = ("case.opened", "sla.breached", "referral.amended", "referral.withdrawn")


async def exit_case(
    session: AsyncSession, case: Case, body: ExitCreate, *, actor: Actor, settings: CasesSettings
) -> Exit:
    now = clock.utcnow()
    errors = time_errors(case, body.exited_at, pointer="/exited_at", now=now, settings=settings)
    if errors:
        raise RecordInvalid(errors)
    # Closing before work already recorded would leave records after the exit.
    recorded = [e.at for e in await timeline(session, case) if e.kind not in NOT_RECORDS]
    case.exit(
        exited_at=body.exited_at, reason=body.reason, destination=body.destination,
        last_recorded_at=max(recorded, default=None),
    )  # fmt: skip
    row = Exit(id=new_id(), case_id=case.id, recorded_at=now, recorded_by=actor.sub, **body.model_dump())
    await cases_repo.add(session, row)
    return row
