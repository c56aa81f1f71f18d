"""Workers (guardians, co-ordinators, practitioners, managers) and their current caseload."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock, pagination
from ictg_common.errors import NotFound
from ictg_common.events import new_id

from ..cases.repository import caseloads
from ..models import Worker as WorkerRow
from . import repository
from .schemas import Worker, WorkerCreate


def to_out(row: WorkerRow, caseload: int) -> Worker:
    return Worker.model_validate(
        {**{c.key: getattr(row, c.key) for c in WorkerRow.__table__.columns}, "caseload": caseload}
    )


async def create(session: AsyncSession, body: WorkerCreate) -> Worker:
    row = WorkerRow(id=new_id(), created_at=clock.utcnow(), **body.model_dump())
    await repository.add(session, row)
    return to_out(row, 0)


async def read(session: AsyncSession, worker_id: UUID) -> Worker:
    row = await repository.get(session, worker_id)
    if row is None:
        raise NotFound("No such worker.")
    return to_out(row, (await caseloads(session, [row.id])).get(row.id, 0))


async def page(
    session: AsyncSession, *, regions: list[str], roles: list[str], after: UUID | None, limit: int
) -> tuple[list[Worker], str | None]:
    rows = await repository.page(session, regions=regions, roles=roles, after=after, limit=limit + 1)
    page, next_cursor = pagination.split(rows, limit, lambda r: str(r.id))
    loads = await caseloads(session, [r.id for r in page])
    return [to_out(r, loads.get(r.id, 0)) for r in page], next_cursor
