from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ictg_common.service import SessionDep

from ..cases.access import AdminCtx, WriteCtx, refuse_unless
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent
from ..cases.reads import add_record_reads
from ..cases.writes import write_case
from ..models import Advocacy as AdvocacyRow
from ..models import Assessment as AssessmentRow
from ..models import Case
from ..models import Move as MoveRow
from ..models import NrmDecision as NrmDecisionRow
from ..models import PathwayChange as PathwayChangeRow
from ..rules import changes_region
from ..types import CaseId
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


@router.post(
    "/v1/cases/{case_id}/assessments", status_code=201, response_model=Assessment,
    responses=IDEMPOTENT_WRITE_RESPONSES,
)  # fmt: skip
async def record_assessment(
    case_id: CaseId, body: AssessmentCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Assessment | JSONResponse:
    """The child's circumstances as assessed at a time (status over time)."""
    return await write_case(
        session, ctx, idem, response, case_id, action="assessment.create", out=Assessment,
        location="/v1/cases/{case_id}/assessments/{id}",
        write=lambda case: service.assess(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip


@router.post(
    "/v1/cases/{case_id}/nrm-decisions", status_code=201, response_model=NrmDecision,
    responses=IDEMPOTENT_WRITE_RESPONSES,
)  # fmt: skip
async def record_nrm_decision(
    case_id: CaseId, body: NrmDecisionCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> NrmDecision | JSONResponse:
    return await write_case(
        session, ctx, idem, response, case_id, action="nrm_decision.create", out=NrmDecision,
        location="/v1/cases/{case_id}/nrm-decisions/{id}",
        write=lambda case: service.nrm_decision(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip


@router.post(
    "/v1/cases/{case_id}/advocacy", status_code=201, response_model=Advocacy, responses=IDEMPOTENT_WRITE_RESPONSES
)
async def record_advocacy(
    case_id: CaseId, body: AdvocacyCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Advocacy | JSONResponse:
    return await write_case(
        session, ctx, idem, response, case_id, action="advocacy.create", out=Advocacy,
        location="/v1/cases/{case_id}/advocacy/{id}",
        write=lambda case: service.advocacy(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip


@router.post("/v1/cases/{case_id}/moves", status_code=201, response_model=Move, responses=IDEMPOTENT_WRITE_RESPONSES)
async def record_move(
    case_id: CaseId, body: MoveCreate, session: SessionDep, ctx: WriteCtx, response: Response, idem: Idempotent
) -> Move | JSONResponse:
    """Dispersal or placement move: the case's current local authority and region follow the child.
    A move to another region needs scope cases:admin (it changes who may see the case)."""

    async def move(case: Case) -> MoveRow:
        if changes_region(case.region, body.local_authority_code):
            await refuse_unless(
                ctx, "cases:admin", action="move.create", resource=f"/v1/cases/{case_id}",
                detail="A move to another region needs scope cases:admin.",
            )  # fmt: skip
        return await service.move(session, case, body, actor=ctx.actor, settings=ctx.settings)

    return await write_case(
        session, ctx, idem, response, case_id, action="move.create", out=Move,
        location="/v1/cases/{case_id}/moves/{id}", write=move,
    )  # fmt: skip


@router.post(
    "/v1/cases/{case_id}/pathway", status_code=201, response_model=PathwayChange,
    responses=IDEMPOTENT_WRITE_RESPONSES,
)  # fmt: skip
async def change_pathway(
    case_id: CaseId,
    body: PathwayChangeCreate,
    session: SessionDep,
    ctx: AdminCtx,
    response: Response,
    idem: Idempotent,
) -> PathwayChange | JSONResponse:
    """A manager switches the case to the regional practitioner pathway (scope cases:admin)."""
    return await write_case(
        session, ctx, idem, response, case_id, action="pathway.change", out=PathwayChange,
        location="/v1/cases/{case_id}/pathway-changes/{id}",
        write=lambda case: service.change_pathway(session, case, body, actor=ctx.actor, settings=ctx.settings),
    )  # fmt: skip


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
