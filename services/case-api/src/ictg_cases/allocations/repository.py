"""All SQL of allocations."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Allocation


async def current(session: AsyncSession, case_id: UUID) -> Allocation | None:
    q = select(Allocation).where(Allocation.case_id == case_id, Allocation.ended_at.is_(None))
    return (await session.scalars(q)).first()
