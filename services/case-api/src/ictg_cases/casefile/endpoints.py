from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from ictg_common import audit, clock, pagination
from ictg_common.errors import ValidationFailed, field_error
from ictg_common.inputs import query_time
from ictg_common.service import SessionDep

from ..cases import repository, service
from ..cases.access import CASE_RESPONSES, ReadCtx, finish_read, open_for_read
from ..cases.schemas import Case, CasePage, Status, Timeline
from ..councils import service as councils
from ..councils.view import CouncilCase, CouncilCasePage
from ..models import SCHEMA
from ..rules import etag
from ..types import CaseId
from ..workers.schemas import Region
from .timeline import timeline

router = APIRouter(prefix="/v1/cases", tags=["cases"])
LaCode = Annotated[str, Query(max_length=9, examples=["E08000003"])]


def _feed_position(cursor: str | None) -> tuple[UUID | None, tuple[int, UUID] | None]:
    """A list cursor (a case id) or a change-feed cursor (a position), told apart."""
    if not cursor:
        return None, None
    try:
        return UUID(cursor), None
    except ValueError:
        return None, pagination.position_key(cursor)


@router.get(
    "", response_model=CasePage | CouncilCasePage,
    responses={403: {"description": "A local_authority_code that is not one of your token's la_codes"}},
)  # fmt: skip
async def list_cases(
    session: SessionDep,
    ctx: ReadCtx,
    referral_id: Annotated[
        UUID | None, Query(description="The case of this referral (intake's id); at most one. Not for council tokens.")
    ] = None,
    status: Annotated[
        list[Status], Query(description="Only cases in these statuses (repeat for several); all when omitted.")
    ] = [],  # noqa: B006 - FastAPI copies defaults
    region: Annotated[
        list[Region],
        Query(
            description="Only cases now in these of your token's regions (repeat for several). Not for council tokens."
        ),
    ] = [],  # noqa: B006
    local_authority_code: Annotated[
        list[LaCode],
        Query(
            description="ONS codes (repeat for several). Staff: only cases whose current authority is one of them. "
            "Council tokens: only children with a period under these of your `la_codes` (default all of them)."
        ),
    ] = [],  # noqa: B006
    worker_id: Annotated[
        UUID | None, Query(description="Only cases allocated to this worker now. Not for council tokens.")
    ] = None,
    sla: Annotated[
        Literal["overdue"] | None,
        Query(
            description="`overdue`: only open cases past their allocation or first-contact deadline with it still "
            "unmet. Not for council tokens."
        ),
    ] = None,
    changed_since: Annotated[
        datetime | None,
        Query(
            description="Change feed: cases changed at or after this time (RFC 3339 with offset), in change "
            "order; follow `next_cursor`, then poll with `poll_cursor`"
        ),
    ] = None,
    la_child_id: Annotated[
        str | None, Query(max_length=10, description="Council tokens: the child you filed under this id of yours")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The previous page's `next_cursor`, or for the change feed a `poll_cursor`; omit for the "
            "first page.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size, 1–500 (default 100).")] = 100,
) -> CasePage | CouncilCasePage:
    """Cases in your regions (`region`, `local_authority_code` narrow them); `sla=overdue`: past a
    deadline still unmet. A council's token lists the children with a responsibility period of its
    `la_codes`, as it may see them. With `changed_since` (or a `poll_cursor`), a change feed in
    (change, id) order: every change once, across pages, while writes go on."""
    after, position = _feed_position(cursor)
    since = query_time(changed_since, "changed_since") if changed_since is not None else None
    feed = since is not None or position is not None
    if feed and after is not None:
        raise ValidationFailed(
            "This cursor pages the case list, not the change feed: follow the feed's next_cursor and poll_cursor.",
            errors=[field_error("#query/cursor", "a list cursor given with changed_since")],
        )
    if ctx.actor.council:
        return await councils.list_cases(
            session, ctx, codes=local_authority_code, statuses=list(status), la_child_id=la_child_id,
            others={"referral_id": referral_id, "region": region, "worker_id": worker_id, "sla": sla},
            since=since, after=after, position=position, feed=feed, limit=limit,
        )  # fmt: skip
    if la_child_id is not None:
        raise ValidationFailed(
            "la_child_id finds a council's child by the council's own id: it is for council tokens.",
            errors=[field_error("#query/la_child_id", "for council tokens only")],
        )
    regions = [r for r in ctx.actor.regions if not region or r in region]
    now = clock.utcnow()
    rows = await repository.listing(
        session, referral_id=referral_id, statuses=list(status), regions=regions,
        local_authority_codes=[c.upper() for c in local_authority_code], worker_id=worker_id,
        overdue_at=now if sla == "overdue" else None, after=after, limit=limit + 1, since=since,
        after_change=position, feed=feed,
    )  # fmt: skip
    if feed:
        page, next_cursor = pagination.split(
            rows, limit, lambda r: pagination.encode_position_key(r.change_xid or 0, r.id)
        )
        last = page[-1] if page else None
        poll = pagination.encode_position_key(last.change_xid or 0, last.id) if last is not None else cursor
    else:
        page, next_cursor = pagination.split(rows, limit, lambda r: str(r.id))
        poll = None
    # One audit row per case shown: a child's audit trail must include the lists that showed it.
    await audit.record_many(
        session, schema=SCHEMA, actor=ctx.actor, action="case.list", resources=[f"/v1/cases/{c.id}" for c in page]
    )
    return CasePage(
        items=[service.to_out(r, settings=ctx.settings, now=now) for r in page], next_cursor=next_cursor,
        poll_cursor=poll,
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
