"""`GET /v1/cases` in steps: the query parameters as asked (`ListFilters`, a dependency), where the page
starts (`paging`: a list cursor or a change-feed position), and a staff member's page (`staff_page`: the
rows from the repository, split into a page, audited, shaped). A council's page is `councils.list_cases`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit, clock, pagination
from ictg_common.errors import ValidationFailed, field_error
from ictg_common.inputs import QuerySince, query_time

from ..cases import repository, service
from ..cases.context import Context
from ..cases.schemas import CasePage, Status
from ..models import SCHEMA, Case
from ..workers.schemas import Region

LaCode = Annotated[str, Query(max_length=9, examples=["E08000003"])]


@dataclass(frozen=True)
class ListFilters:
    """The case list's query parameters, as asked (checked by FastAPI, not yet against one another)."""

    referral_id: UUID | None
    status: list[Status]
    region: list[Region]
    local_authority_code: list[str]
    worker_id: UUID | None
    sla: Literal["overdue"] | None
    changed_since: datetime | None
    la_child_id: str | None
    cursor: str | None
    limit: int


def list_filters(
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
        QuerySince | None,
        Query(
            description="Change feed: cases changed at or after this time (RFC 3339 with offset), or this day "
            "(`2026-11-01`: from midnight in London), in change order; follow `next_cursor`, then poll with "
            "`poll_cursor`"
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
) -> ListFilters:
    """The dependency that reads the list's query parameters (their OpenAPI descriptions are here)."""
    return ListFilters(
        referral_id=referral_id, status=status, region=region, local_authority_code=local_authority_code,
        worker_id=worker_id, sla=sla, changed_since=changed_since, la_child_id=la_child_id, cursor=cursor,
        limit=limit,
    )  # fmt: skip


@dataclass(frozen=True)
class Paging:
    """Where the page starts: after a case id (the list) or a change position (the feed), or the start."""

    since: datetime | None
    after: UUID | None
    position: tuple[int, UUID] | None

    @property
    def feed(self) -> bool:
        return self.since is not None or self.position is not None


def _feed_position(cursor: str | None) -> tuple[UUID | None, tuple[int, UUID] | None]:
    """A list cursor (a case id) or a change-feed cursor (a position), told apart."""
    if not cursor:
        return None, None
    try:
        return UUID(cursor), None
    except ValueError:
        return None, pagination.position_key(cursor)


def paging(filters: ListFilters) -> Paging:
    """The cursor and `changed_since` read: 422 for a list cursor given to the change feed."""
    after, position = _feed_position(filters.cursor)
    since = query_time(filters.changed_since, "changed_since") if filters.changed_since is not None else None
    at = Paging(since=since, after=after, position=position)
    if at.feed and after is not None:
        raise ValidationFailed(
            "This cursor pages the case list, not the change feed: follow the feed's next_cursor and poll_cursor.",
            errors=[field_error("#query/cursor", "a list cursor given with changed_since")],
        )
    return at


def _split(rows: list[Case], filters: ListFilters, at: Paging) -> tuple[list[Case], str | None, str | None]:
    """The page of `rows` (one more was fetched to tell whether another page follows), its `next_cursor`
    and, for the change feed, its `poll_cursor` (the last change shown, or the cursor given)."""
    if not at.feed:
        page, next_cursor = pagination.split(rows, filters.limit, lambda r: str(r.id))
        return page, next_cursor, None
    page, next_cursor = pagination.split(
        rows, filters.limit, lambda r: pagination.encode_position_key(r.change_xid or 0, r.id)
    )
    last = page[-1] if page else None
    poll = pagination.encode_position_key(last.change_xid or 0, last.id) if last is not None else filters.cursor
    return page, next_cursor, poll


async def staff_page(session: AsyncSession, ctx: Context, filters: ListFilters, at: Paging) -> CasePage:
    """A staff member's page: cases in their regions (narrowed by the filters), audited one row per case."""
    if filters.la_child_id is not None:
        raise ValidationFailed(
            "la_child_id finds a council's child by the council's own id: it is for council tokens.",
            errors=[field_error("#query/la_child_id", "for council tokens only")],
        )
    regions = [r for r in ctx.actor.regions if not filters.region or r in filters.region]
    now = clock.utcnow()
    rows = await repository.listing(
        session, referral_id=filters.referral_id, statuses=list(filters.status), regions=regions,
        local_authority_codes=[c.upper() for c in filters.local_authority_code], worker_id=filters.worker_id,
        overdue_at=now if filters.sla == "overdue" else None, after=at.after, limit=filters.limit + 1,
        since=at.since, after_change=at.position, feed=at.feed,
    )  # fmt: skip
    page, next_cursor, poll = _split(rows, filters, at)
    # One audit row per case shown: a child's audit trail must include the lists that showed it.
    await audit.record_many(
        session, schema=SCHEMA, actor=ctx.actor, action="case.list", resources=[f"/v1/cases/{c.id}" for c in page]
    )
    return CasePage(
        items=[service.to_out(r, settings=ctx.settings, now=now) for r in page], next_cursor=next_cursor,
        poll_cursor=poll,
    )  # fmt: skip
