from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from ictg_common.service import SessionDep

from ..cases.access import (
    WRITE_RESPONSES,
    AdminCtx,
    WriteCtx,
    finish_write,
    open_for_write,
)
from ..cases.reads import add_record_reads
from ..models import Advocacy as AdvocacyRow
from ..models import Assessment as AssessmentRow
from ..models import Move as MoveRow
from ..models import NrmDecision as NrmDecisionRow
from ..models import PathwayChange as PathwayChangeRow
from . import service
from .schemas import (
    Advocacy,
    AdvocacyCreate,
    Assessment,
    AssessmentCreate,
    Move,
    MoveCreate,
    NrmDecision,
    NrmDecisionCreate,
    PathwayChange,
    PathwayChangeCreate,
)  # fmt: skip

router = APIRouter(tags=["records"])


@router.post("/v1/cases/{case_id}/assessments", status_code=201, response_model=Assessment, responses=WRITE_RESPONSES)
async def record_assessment(
    case_id: UUID, body: AssessmentCreate, session: SessionDep, ctx: WriteCtx, response: Response
) -> Assessment:
    """The child's circumstances as assessed at a time (status over time)."""
    case, access = await open_for_write(session, ctx, case_id, action="assessment.create")
    row = await service.assess(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/assessments/{row.id}"
    await finish_write(session, ctx, case, access, response, action="assessment.create", location=location)
    return Assessment.model_validate(row, from_attributes=True)


@router.post(
    "/v1/cases/{case_id}/nrm-decisions", status_code=201, response_model=NrmDecision, responses=WRITE_RESPONSES
)
async def record_nrm_decision(
    case_id: UUID, body: NrmDecisionCreate, session: SessionDep, ctx: WriteCtx, response: Response
) -> NrmDecision:
    case, access = await open_for_write(session, ctx, case_id, action="nrm_decision.create")
    row = await service.nrm_decision(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/nrm-decisions/{row.id}"
    await finish_write(session, ctx, case, access, response, action="nrm_decision.create", location=location)
    return NrmDecision.model_validate(row, from_attributes=True)


@router.post("/v1/cases/{case_id}/advocacy", status_code=201, response_model=Advocacy, responses=WRITE_RESPONSES)
async def record_advocacy(
    case_id: UUID, body: AdvocacyCreate, session: SessionDep, ctx: WriteCtx, response: Response
) -> Advocacy:
    case, access = await open_for_write(session, ctx, case_id, action="advocacy.create")
    row = await service.advocacy(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/advocacy/{row.id}"
    await finish_write(session, ctx, case, access, response, action="advocacy.create", location=location)
    return Advocacy.model_validate(row, from_attributes=True)


@router.post("/v1/cases/{case_id}/moves", status_code=201, response_model=Move, responses=WRITE_RESPONSES)
async def record_move(case_id: UUID, body: MoveCreate, session: SessionDep, ctx: WriteCtx, response: Response) -> Move:
    """Dispersal or placement move: the case's current local authority and region follow the child."""
    case, access = await open_for_write(session, ctx, case_id, action="move.create")
    row = await service.move(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/moves/{row.id}"
    await finish_write(session, ctx, case, access, response, action="move.create", location=location)
    return Move.model_validate(row, from_attributes=True)


@router.post("/v1/cases/{case_id}/pathway", status_code=201, response_model=PathwayChange, responses=WRITE_RESPONSES)
async def change_pathway(
    case_id: UUID, body: PathwayChangeCreate, session: SessionDep, ctx: AdminCtx, response: Response
) -> PathwayChange:
    """A manager switches the case to the regional practitioner pathway (scope cases:admin)."""
    case, access = await open_for_write(session, ctx, case_id, action="pathway.change")
    row = await service.change_pathway(session, case, body, actor=ctx.actor, settings=ctx.settings)
    location = f"/v1/cases/{case_id}/pathway-changes/{row.id}"
    await finish_write(session, ctx, case, access, response, action="pathway.change", location=location)
    return PathwayChange.model_validate(row, from_attributes=True)


add_record_reads(
    router, path="assessments", model=AssessmentRow, schema=Assessment, order="assessed_at", noun="assessment"
)
add_record_reads(
    router, path="nrm-decisions", model=NrmDecisionRow, schema=NrmDecision, order="decided_at", noun="nrm_decision"
)
add_record_reads(router, path="advocacy", model=AdvocacyRow, schema=Advocacy, order="occurred_at", noun="advocacy")
add_record_reads(router, path="moves", model=MoveRow, schema=Move, order="moved_at", noun="move")
add_record_reads(
    router,
    path="pathway-changes",
    model=PathwayChangeRow,
    schema=PathwayChange,
    order="changed_at",
    noun="pathway_change",
)
