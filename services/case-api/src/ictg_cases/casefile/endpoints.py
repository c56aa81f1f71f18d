from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ictg_common import clock
from ictg_common.service import SessionDep

from ..cases import service
from ..cases.access import CASE_RESPONSES, ReadCtx, finish_read, open_for_read
from ..cases.schemas import Case, CasePage, Timeline
from ..councils import service as councils
from ..councils.view import CouncilCase, CouncilCasePage
from ..rules import etag
from ..types import CaseId
from .listing import ListFilters, list_filters, paging, staff_page
from .timeline import timeline

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.get(
    "", response_model=CasePage | CouncilCasePage,
    responses={403: {"description": "A local_authority_code that is not one of your token's la_codes"}},
)  # fmt: skip
async def list_cases(
    session: SessionDep, ctx: ReadCtx, filters: Annotated[ListFilters, Depends(list_filters)]
) -> CasePage | CouncilCasePage:
    """Cases in your regions (`region`, `local_authority_code` narrow them); `sla=overdue`: past a
    deadline still unmet. A council's token lists the children with a responsibility period of its
    `la_codes`, as it may see them. With `changed_since` (or a `poll_cursor`), a change feed in
    (change, id) order: every change once, across pages, while writes go on."""
    at = paging(filters)
    if not ctx.actor.council:
        return await staff_page(session, ctx, filters, at)
    f = filters
    return await councils.list_cases(
        session, ctx, codes=f.local_authority_code, statuses=list(f.status), la_child_id=f.la_child_id,
        others={"referral_id": f.referral_id, "region": f.region, "worker_id": f.worker_id, "sla": f.sla},
        since=at.since, after=at.after, position=at.position, feed=at.feed, limit=f.limit,
    )  # fmt: skip


@router.get("/{case_id}", response_model=Case | CouncilCase, responses=CASE_RESPONSES)
async def get_case(case_id: CaseId, session: SessionDep, ctx: ReadCtx, response: Response) -> Case | CouncilCase:
    """One case; a council's token sees its view of it (identity, status and the records of its own periods)."""
    case, access = await open_for_read(session, ctx, case_id, action="case.read")
    await finish_read(session, ctx, access, action="case.read", resource=f"/v1/cases/{case_id}")
    if access.periods is not None:  # no ETag: a council must not watch the version move after its period
        return await councils.view_case(session, ctx, case, access.periods)
    response.headers["ETag"] = etag(case.version)
    return service.to_out(case, settings=ctx.settings, now=clock.utcnow())


@router.get("/{case_id}/timeline", response_model=Timeline, responses=CASE_RESPONSES)
async def get_timeline(case_id: CaseId, session: SessionDep, ctx: ReadCtx, response: Response) -> Timeline:
    """Every record of the case in time order (the whole list: one child's records are few); a
    council's token sees only what its view shows, dated inside its periods."""
    case, access = await open_for_read(session, ctx, case_id, action="case.timeline")
    await finish_read(session, ctx, access, action="case.timeline", resource=f"/v1/cases/{case_id}/timeline")
    entries = await timeline(session, case)
    if access.periods is not None:
        entries = councils.timeline(entries, access.periods)
    else:
        response.headers["ETag"] = etag(case.version)
    return Timeline(items=entries)
