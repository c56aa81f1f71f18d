"""All SQL of workers."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Worker


async def add(session: AsyncSession, worker: Worker) -> None:
    session.add(worker)
    await session.flush()


async def get(session: AsyncSession, worker_id: UUID, *, lock: bool = False) -> Worker | None:
    q = select(Worker).where(Worker.id == worker_id)
    if lock:
        # Allocations lock the worker so two cases cannot both take the last place.
        q = q.with_for_update()
    return (await session.scalars(q)).first()


async def page(
    session: AsyncSession, *, regions: list[str], roles: list[str], after: UUID | None, limit: int
) -> list[Worker]:
    q = select(Worker).order_by(Worker.id).limit(limit)
    if regions:
        q = q.where(Worker.region.in_(regions))
    if roles:
        q = q.where(Worker.role.in_(roles))
    if after is not None:
        q = q.where(Worker.id > after)
    return list((await session.scalars(q)).all())
