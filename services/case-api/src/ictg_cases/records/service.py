"""Recording facts (assessments, NRM decisions, advocacy: the kinds with an event), moves and pathway changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.events import new_id
from ictg_common.reference import local_authority, region_slug

from ..allocations import repository as allocations_repo
from ..cases import periods
from ..cases import repository as cases_repo
from ..cases.record_kind import RecordKind
from ..cases.service import add_record, time_errors
from ..errors import RecordInvalid
from ..models import Case, Move, PathwayChange
from ..settings import CasesSettings
from .schemas import MoveCreate, PathwayChangeCreate


def _check(case: Case, value: datetime, pointer: str, *, now: datetime, settings: CasesSettings) -> None:
    errors = time_errors(case, value, pointer=pointer, now=now, settings=settings)
    if errors:
        raise RecordInvalid(errors)


async def record_fact(
    session: AsyncSession, case: Case, kind: RecordKind, body: BaseModel, *, actor: Actor, settings: CasesSettings
) -> Any:
    """Record a fact of `kind` (its time checked), and the event that tells of it."""
    row = await add_record(session, case, kind.row, body, when=kind.time, actor=actor, settings=settings)
    case.record(kind.event_of(row, case_id=case.id, referral_id=case.referral_id), at=getattr(row, kind.time))
    return row


async def move(session: AsyncSession, case: Case, body: MoveCreate, *, actor: Actor, settings: CasesSettings) -> Move:
    now = clock.utcnow()
    _check(case, body.moved_at, "/moved_at", now=now, settings=settings)
    moves = await cases_repo.records(session, Move, case.id, order=Move.moved_at)
    la = local_authority(body.local_authority_code)
    assert la is not None  # validated by the schema
    open_episode = await cases_repo.open_missing_episode(session, case.id) if case.missing else None
    moved = case.move(
        move_id=new_id(), moved_at=body.moved_at, local_authority_code=la.code, region=region_slug(la.region),
        last_moved_at=moves[-1].moved_at if moves else None, missing_episode_id=open_episode,
    )  # fmt: skip
    row = Move(
        id=moved.move_id, case_id=case.id, moved_at=moved.moved_at,
        from_local_authority_code=moved.from_local_authority_code, local_authority_code=moved.local_authority_code,
        region=moved.region, recorded_at=now, recorded_by=actor.sub,
    )  # fmt: skip
    await cases_repo.add(session, row)
    await periods.hand_over(session, case, at=moved.moved_at)
    return row


async def change_pathway(
    session: AsyncSession, case: Case, body: PathwayChangeCreate, *, actor: Actor, settings: CasesSettings
) -> PathwayChange:
    now = clock.utcnow()
    changed_at = body.changed_at or now
    _check(case, changed_at, "/changed_at", now=now, settings=settings)
    current = await allocations_repo.current(session, case.id)
    from_pathway = case.pathway
    if case.change_pathway(pathway=body.pathway, changed_at=changed_at, current_role=current.role if current else None):
        assert current is not None
        current.ended_at = changed_at  # the guardian whose role no longer fits is released
    row = PathwayChange(
        id=new_id(), case_id=case.id, from_pathway=from_pathway, pathway=body.pathway, changed_at=changed_at,
        recorded_at=now, recorded_by=actor.sub,
    )  # fmt: skip
    await cases_repo.add(session, row)
    return row
