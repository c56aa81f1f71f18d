"""All SQL of the SLA watcher."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import deadlines
from ..models import Case, MissingEpisode, ReturnInterview, SlaBreach


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


async def missed_interviews(session: AsyncSession, *, now: datetime, limit: int) -> list[tuple[MissingEpisode, Case]]:
    """Episodes whose `return_interview` deadline (72 hours after the return) has passed with no interview offered
    before it (a `not_offered` one offers none), of cases not closed before it, and with no breach recorded yet.
    Returns recorded before the clock existed have no deadline and owe nothing."""
    due = MissingEpisode.return_interview_due_by
    offered = exists().where(
        ReturnInterview.episode_id == MissingEpisode.id, ReturnInterview.outcome != "not_offered",
        ReturnInterview.offered_at < due,
    )  # fmt: skip
    recorded = exists().where(SlaBreach.episode_id == MissingEpisode.id, SlaBreach.clock == deadlines.EPISODE_CLOCK)
    q = (
        select(MissingEpisode, Case)
        .join(Case, Case.id == MissingEpisode.case_id)
        .where(due <= now, ~offered, ~recorded, or_(Case.exited_at.is_(None), Case.exited_at >= due))
        .order_by(due, MissingEpisode.id)
        .limit(limit)
    )
    return [(episode, case) for episode, case in (await session.execute(q)).tuples()]


async def record_breach(session: AsyncSession, breach: SlaBreach) -> bool:
    """Insert the breach unless one exists for (case, clock, episode). True if this call recorded it."""
    done = await session.execute(
        insert(SlaBreach)
        .values(
            id=breach.id,
            case_id=breach.case_id,
            clock=breach.clock,
            due_by=breach.due_by,
            detected_at=breach.detected_at,
            episode_id=breach.episode_id,
        )
        .on_conflict_do_nothing(constraint="uq_sla_breach_case_id")
        .returning(SlaBreach.id)
    )
    return done.first() is not None
