"""All SQL of the SLA watcher."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Case, SlaBreach

# clock → (deadline column, the column recording when it was met)
CLOCKS: dict[str, tuple[Any, Any]] = {
    "allocation": (Case.allocation_due_by, Case.first_allocated_at),
    "first_contact": (Case.first_contact_due_by, Case.first_contact_at),
}


async def missed(session: AsyncSession, clock: str, *, now: datetime, limit: int) -> list[Case]:
    """Cases whose `clock` deadline passed unmet and has no breach recorded yet."""
    due, done = CLOCKS[clock]
    recorded = exists().where(SlaBreach.case_id == Case.id, SlaBreach.clock == clock)
    q = (
        select(Case)
        .where(
            due <= now,
            # A case opened after its deadline (a historical import, or intake's backlog after an
            # outage) is not breached live: its timeliness is measured from the records instead.
            Case.opened_at < due,
            or_(done.is_(None), done >= due),
            or_(Case.exited_at.is_(None), Case.exited_at >= due),
            ~recorded,
        )
        .order_by(due, Case.id)
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
