"""Recording assessments, NRM decisions, advocacy, moves and pathway changes on a case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.contracts import (
    AdvocacyRecorded,
    AssessmentRecorded,
    NrmDecisionRecorded,
)
from ictg_common.events import new_id
from ictg_common.reference import local_authority, region_slug

from ..allocations import repository as allocations_repo
from ..cases import repository as cases_repo
from ..cases.events import add_recorded_to_outbox
from ..cases.service import add_record, time_errors
from ..councils import periods
from ..errors import RecordInvalid
from ..models import Advocacy, Assessment, Case, Move, NrmDecision, PathwayChange
from ..settings import CasesSettings
from .schemas import (
    AdvocacyCreate,
    AssessmentCreate,
    MoveCreate,
    NrmDecisionCreate,
    PathwayChangeCreate,
)


def _check(case: Case, value: datetime, pointer: str, *, now: datetime, settings: CasesSettings) -> None:
    errors = time_errors(case, value, pointer=pointer, now=now, settings=settings)
    if errors:
        raise RecordInvalid(errors)


async def assess(
    session: AsyncSession, case: Case, body: AssessmentCreate, *, actor: Actor, settings: CasesSettings
) -> Assessment:
    row = await add_record(session, case, Assessment, body, when="assessed_at", actor=actor, settings=settings)
    case.record(
        AssessmentRecorded(
            case_id=case.id, referral_id=case.referral_id, assessment_id=row.id, assessed_at=row.assessed_at,
            living_situation=body.living_situation, trafficker_contact=body.trafficker_contact, education=body.education,
            cjs_involvement=list(body.cjs_involvement),
        )
    )  # fmt: skip
    await add_recorded_to_outbox(session, case, settings=settings)
    return row


async def nrm_decision(
    session: AsyncSession, case: Case, body: NrmDecisionCreate, *, actor: Actor, settings: CasesSettings
) -> NrmDecision:
    row = await add_record(session, case, NrmDecision, body, when="decided_at", actor=actor, settings=settings)
    case.record(
        NrmDecisionRecorded(
            case_id=case.id, referral_id=case.referral_id, decision_id=row.id, stage=body.stage, outcome=body.outcome,
            decided_at=row.decided_at,
        )
    )  # fmt: skip
    await add_recorded_to_outbox(session, case, settings=settings)
    return row


async def advocacy(
    session: AsyncSession, case: Case, body: AdvocacyCreate, *, actor: Actor, settings: CasesSettings
) -> Advocacy:
    row = await add_record(session, case, Advocacy, body, when="occurred_at", actor=actor, settings=settings)
    case.record(
        AdvocacyRecorded(
            case_id=case.id, referral_id=case.referral_id, advocacy_id=row.id, kind=body.kind, area=body.area,
            occurred_at=row.occurred_at,
        )
    )  # fmt: skip
    await add_recorded_to_outbox(session, case, settings=settings)
    return row


async def move(session: AsyncSession, case: Case, body: MoveCreate, *, actor: Actor, settings: CasesSettings) -> Move:
    now = clock.utcnow()
    _check(case, body.moved_at, "/moved_at", now=now, settings=settings)
    moves = await cases_repo.records(session, Move, case.id, order=Move.moved_at)
    la = local_authority(body.local_authority_code)
    assert la is not None  # validated by the schema
    moved = case.move(
        move_id=new_id(), moved_at=body.moved_at, local_authority_code=la.code, region=region_slug(la.region),
        last_moved_at=moves[-1].moved_at if moves else None,
    )  # fmt: skip
    row = Move(
        id=moved.move_id, case_id=case.id, moved_at=moved.moved_at,
        from_local_authority_code=moved.from_local_authority_code, local_authority_code=moved.local_authority_code,
        region=moved.region, recorded_at=now, recorded_by=actor.sub,
    )  # fmt: skip
    await cases_repo.add(session, row)
    await periods.hand_over(session, case, at=moved.moved_at)
    await add_recorded_to_outbox(session, case, settings=settings)
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
    await add_recorded_to_outbox(session, case, settings=settings)
    return row
