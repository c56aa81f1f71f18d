from __future__ import annotations

import inspect
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.idempotency import Idempotency
from ictg_common.service import SessionDep

from ..cases.access import AdminCtx, Context, WriteCtx, refuse_unless
from ..cases.idempotency import IDEMPOTENT_WRITE_RESPONSES, Idempotent
from ..cases.reads import add_record_reads
from ..cases.writes import write_case
from ..kinds import FACTS, MOVES, PATHWAY_CHANGES, RecordKind
from ..models import Case
from ..models import Move as MoveRow
from ..rules import changes_region
from ..types import CaseId
from . import service
from .schemas import Move, MoveCreate, PathwayChange, PathwayChangeCreate

router = APIRouter(tags=["records"])


def add_fact_routes(router: APIRouter, kind: RecordKind) -> None:
    """`POST /v1/cases/{case_id}/<path>` (idempotent, 201 with `Location` and `ETag`) and the read routes
    of a fact kind."""
    assert kind.create is not None and kind.out is not None
    out = kind.out

    async def record_fact(
        case_id: UUID, body: BaseModel, session: AsyncSession, ctx: Context, response: Response, idem: Idempotency
    ) -> Any:
        return await write_case(
            session, ctx, idem, response, case_id, action=kind.create_action, out=out,
            location=f"/v1/cases/{{case_id}}/{kind.path}/{{id}}",
            write=lambda case: service.record_fact(session, case, kind, body, actor=ctx.actor, settings=ctx.settings),
        )  # fmt: skip

    # The body's schema is the kind's: FastAPI reads the parameters' types from the signature.
    params = [
        ("case_id", CaseId), ("body", kind.create), ("session", SessionDep), ("ctx", WriteCtx),
        ("response", Response), ("idem", Idempotent),
    ]  # fmt: skip
    record_fact.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=t) for n, t in params]
    )
    router.add_api_route(
        f"/v1/cases/{{case_id}}/{kind.path}", record_fact, methods=["POST"], status_code=201, response_model=out,
        responses=IDEMPOTENT_WRITE_RESPONSES, name=f"record_{kind.noun}", description=kind.doc,
    )  # fmt: skip
    add_record_reads(router, kind)


for _fact in FACTS:
    add_fact_routes(router, _fact)


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


add_record_reads(router, MOVES)
add_record_reads(router, PATHWAY_CHANGES)
