"""SQL of the service-only admin reads."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Referral


async def ids_page(
    session: AsyncSession, *, received_before: datetime | None, after: tuple[datetime, UUID] | None, limit: int
) -> list[tuple[UUID, datetime]]:
    """Ids and `received_at` of referrals in (received_at, id) order, after the keyset `after`."""
    q = select(Referral.id, Referral.received_at).order_by(Referral.received_at, Referral.id).limit(limit)
    if received_before is not None:
        q = q.where(Referral.received_at < received_before)
    if after is not None:
        q = q.where(or_(Referral.received_at > after[0], (Referral.received_at == after[0]) & (Referral.id > after[1])))
    return [(r.id, r.received_at) for r in (await session.execute(q)).all()]
