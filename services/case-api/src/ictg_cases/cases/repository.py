"""All SQL of cases."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Case


async def insert_if_new(session: AsyncSession, case: Case) -> bool:
    """Insert unless a case for this referral exists. True if inserted."""
    values = {c.key: getattr(case, c.key) for c in Case.__table__.columns}
    done = await session.execute(
        insert(Case).values(**values).on_conflict_do_nothing(index_elements=["referral_id"]).returning(Case.id)
    )
    return done.first() is not None


async def get(session: AsyncSession, case_id: UUID) -> Case | None:
    return await session.get(Case, case_id)


async def listing(
    session: AsyncSession, *, referral_id: UUID | None, status: str | None, regions: tuple[str, ...] | None,
    after: UUID | None, limit: int,
) -> list[Case]:
    q = select(Case).order_by(Case.id).limit(limit)
    if referral_id is not None:
        q = q.where(Case.referral_id == referral_id)
    if status is not None:
        q = q.where(Case.status == status)
    if regions is not None:
        q = q.where(Case.region.in_(regions))
    if after is not None:
        q = q.where(Case.id > after)
    return list((await session.scalars(q)).all())
