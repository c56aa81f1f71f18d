"""The child leaves the service: the case closes and accepts no more records."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.contracts import CaseExited
from ictg_common.events import new_id

from .. import rules
from ..cases import repository as cases_repo
from ..cases.events import publish
from ..cases.service import time_errors
from ..cases.timeline import timeline
from ..errors import EpisodeConflict, RecordInvalid
from ..models import Case, Exit
from ..settings import CasesSettings
from .schemas import ExitCreate


async def exit_case(
    session: AsyncSession, case: Case, body: ExitCreate, *, actor: Actor, settings: CasesSettings
) -> Exit:
    now = clock.utcnow()
    errors = time_errors(case, body.exited_at, pointer="/exited_at", now=now, settings=settings)
    if not errors:
        # Closing before work already recorded would leave records after the exit.
        recorded = [e.at for e in await timeline(session, case) if e.kind not in ("case.opened", "sla.breached")]
        if recorded and body.exited_at < max(recorded):
            errors = [
                rules.err("/exited_at", f"must not be before the case's last record ({max(recorded).isoformat()})")
            ]
    if errors:
        raise RecordInvalid(errors)
    if case.missing_since is not None and body.reason != "long_term_missing":
        # Closing over an open episode would leave it open for ever (no record after exit).
        raise EpisodeConflict("The child is missing: record the return first, or exit with reason long_term_missing.")
    row = Exit(id=new_id(), case_id=case.id, recorded_at=now, recorded_by=actor.sub, **body.model_dump())
    await cases_repo.add(session, row)
    case.status = "exited"
    case.exited_at = body.exited_at
    data = CaseExited(
        case_id=case.id, referral_id=case.referral_id, exited_at=body.exited_at, reason=body.reason,
        destination=body.destination,
    )  # fmt: skip
    await publish(session, data, time=body.exited_at, settings=settings)
    return row
