"""Opening a case for a read or a write, and finishing a read: the path every case endpoint and the unit
of work go through, so that no access check, ETag precondition or audit row is forgotten."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit
from ictg_common.errors import NotFound

from ..errors import StaleETag
from ..models import SCHEMA, Case
from ..rules import etag, if_match_ok
from . import repository
from .authorisation import Access, authorise
from .context import Context


async def open_for_read(session: AsyncSession, ctx: Context, case_id: UUID, *, action: str) -> tuple[Case, Access]:
    case = await repository.get(session, case_id)
    if case is None:
        raise NotFound("No such case.")
    return case, await authorise(session, ctx, case, action=action)


async def open_for_write(session: AsyncSession, ctx: Context, case_id: UUID, *, action: str) -> tuple[Case, Access]:
    """Lock the case row (concurrent writers to one case serialise here), then check access, ETag, state."""
    case = await repository.get_for_update(session, case_id)
    if case is None:
        raise NotFound("No such case.")
    access = await authorise(session, ctx, case, action=action, write=True)
    if not if_match_ok(ctx.if_match, case.version):
        raise StaleETag(
            f"The case has changed (its ETag is now {etag(case.version)}); reload it and try again.",
            headers={"ETag": etag(case.version)},
        )
    case.ensure_open()
    return case, access


async def finish_read(session: AsyncSession, ctx: Context, access: Access, *, action: str, resource: str) -> None:
    await audit.record(
        session, schema=SCHEMA, actor=ctx.actor, action=action, resource=resource, outcome=access.outcome,
        reason=access.reason,
    )  # fmt: skip
