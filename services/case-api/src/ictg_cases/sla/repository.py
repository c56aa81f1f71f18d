"""All SQL of the SLA watcher."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import deadlines
from ..models import Case, SlaBreach


async def missed(session: AsyncSession, clock: deadlines.Clock, *, now: datetime, limit: int) -> list[Case]:
    """Cases whose `clock` deadline is missed (`deadlines.missed`) and has no breach recorded yet."""
    recorded = exists().where(SlaBreach.case_id == Case.id, SlaBreach.clock == clock)
    q = (
        select(Case)
        .where(deadlines.missed_sql(Case, clock, now=now), ~recorded)
        .order_by(deadlines.due_by(Case, clock), Case.id)
        .limit(limit)
    )
    return list((await session.scalars(q)).all())


async def record_breach(session: AsyncSession, breach: SlaBreach) -> bool:
    """Insert the breach unless one exists for (case, clock). True if this call recorded it."""
    done = await session.execute(
        insert(SlaBreach)
        .values(
            id=breach.id,
            case_id=breach.case_id,
            clock=breach.clock,
            due_by=breach.due_by,
            detected_at=breach.detected_at,
        )
        .on_conflict_do_nothing(index_elements=["case_id", "clock"])
        .returning(SlaBreach.id)
    )
    return done.first() is not None
