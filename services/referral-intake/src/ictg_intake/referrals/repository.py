"""All SQL of referrals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Referral


async def add(session: AsyncSession, referral: Referral) -> None:
    session.add(referral)
    await session.flush()


async def get(session: AsyncSession, referral_id: UUID) -> Referral | None:
    return await session.get(Referral, referral_id)


async def of_organisation(session: AsyncSession, ids: list[UUID], *, org: tuple[str, str]) -> list[UUID]:
    """Those of `ids` that `org` referred."""
    q = select(Referral.id).where(Referral.id.in_(ids), Referral.org_type == org[0], Referral.org_name == org[1])
    return list((await session.scalars(q)).all())


async def candidates(
    session: AsyncSession, *, nationality: str, date_of_birth: date | None, estimated_age: int | None, received_on: date
) -> list[Referral]:
    """Earlier referrals with the same nationality and the same date of birth or age: a date of birth
    also matches an estimate within a year of the age it gives, and the other way round."""
    if date_of_birth is not None:
        age_then = func.extract("year", func.age(func.date(Referral.received_at), date_of_birth))
        match = or_(Referral.date_of_birth == date_of_birth, func.abs(Referral.estimated_age - age_then) <= 1)
    else:
        age_now = func.extract("year", func.age(received_on, Referral.date_of_birth))
        match = or_(Referral.estimated_age == estimated_age, func.abs(age_now - estimated_age) <= 1)
    return list(
        (await session.scalars(select(Referral).where(Referral.nationality == nationality, match).limit(200))).all()
    )


def page_query(*, after: tuple[datetime, UUID] | None, org: tuple[str, str] | None, limit: int) -> Select[Any]:
    q = select(Referral).order_by(Referral.received_at, Referral.id).limit(limit)
    if org is not None:
        q = q.where(Referral.org_type == org[0], Referral.org_name == org[1])
    if after is not None:
        q = q.where(or_(Referral.received_at > after[0], (Referral.received_at == after[0]) & (Referral.id > after[1])))
    return q


async def page(session: AsyncSession, **kwargs: Any) -> list[Referral]:
    return list((await session.scalars(page_query(**kwargs))).all())


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Referral)) or 0)
