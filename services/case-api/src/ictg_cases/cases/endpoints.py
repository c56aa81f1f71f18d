from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from ictg_common import audit, clock, pagination
from ictg_common.service import SessionDep

from ..models import SCHEMA
from ..rules import etag
from ..workers.schemas import Region
from . import repository, service
from .access import CASE_RESPONSES, ReadCtx, finish_read, open_for_read
from .schemas import Case, CasePage, Status, Timeline
from .timeline import timeline

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.get("", response_model=CasePage)
async def list_cases(
    session: SessionDep,
    ctx: ReadCtx,
    referral_id: UUID | None = None,
    status: Annotated[list[Status], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    region: Annotated[list[Region], Query()] = [],  # noqa: B006
    worker_id: UUID | None = None,
    sla: Literal["overdue"] | None = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CasePage:
    """Cases in your regions (`region` narrows them further); `sla=overdue`: past a deadline still unmet."""
    after = pagination.uuid_key(cursor)
    regions = [r for r in ctx.actor.regions if not region or r in region]
    now = clock.utcnow()
    rows = await repository.listing(
        session, referral_id=referral_id, statuses=list(status), regions=regions, worker_id=worker_id,
        overdue_at=now if sla == "overdue" else None, after=after, limit=limit + 1,
    )  # fmt: skip
    page, next_cursor = pagination.split(rows, limit, lambda r: str(r.id))
    # One audit row per case shown: a child's audit trail must include the lists that showed it.
    await audit.record_many(
        session, schema=SCHEMA, actor=ctx.actor, action="case.list", resources=[f"/v1/cases/{c.id}" for c in page]
    )
    return CasePage(items=[service.to_out(r, settings=ctx.settings, now=now) for r in page], next_cursor=next_cursor)


@router.get("/{case_id}", response_model=Case, responses=CASE_RESPONSES)
async def get_case(case_id: UUID, session: SessionDep, ctx: ReadCtx, response: Response) -> Case:
    case, access = await open_for_read(session, ctx, case_id, action="case.read")
    await finish_read(session, ctx, access, action="case.read", resource=f"/v1/cases/{case_id}")
    response.headers["ETag"] = etag(case.version)
    return service.to_out(case, settings=ctx.settings, now=clock.utcnow())


@router.get("/{case_id}/timeline", response_model=Timeline, responses=CASE_RESPONSES)
async def get_timeline(case_id: UUID, session: SessionDep, ctx: ReadCtx, response: Response) -> Timeline:
    """Every record of the case in time order (the whole list: one child's records are few)."""
    case, access = await open_for_read(session, ctx, case_id, action="case.timeline")
    await finish_read(session, ctx, access, action="case.timeline", resource=f"/v1/cases/{case_id}/timeline")
    response.headers["ETag"] = etag(case.version)
    return Timeline(items=await timeline(session, case))
