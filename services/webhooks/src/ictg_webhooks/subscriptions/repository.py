"""The subscriptions API's SQL. Flushes, never commits: the request's session owns the transaction."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import PENDING, Delivery, Subscription

Org = tuple[str, str]
"""An organisation: (org_type, org_name)."""


async def get(session: AsyncSession, org: Org, sub_id: UUID, *, lock: bool = False) -> Subscription | None:
    """`org`'s subscription `sub_id` (None: there is none of `org`); `lock` takes its row lock."""
    q = select(Subscription).where(Subscription.id == sub_id, Subscription.org_type == org[0],
                                   Subscription.org_name == org[1])  # fmt: skip
    if lock:
        q = q.with_for_update()
    return (await session.scalars(q)).first()


async def page(session: AsyncSession, org: Org, *, after: UUID | None, limit: int) -> list[Subscription]:
    """Up to `limit` of `org`'s subscriptions, by id, after `after`."""
    q = (
        select(Subscription)
        .where(Subscription.org_type == org[0], Subscription.org_name == org[1])
        .order_by(Subscription.id)
        .limit(limit)
    )
    if after is not None:
        q = q.where(Subscription.id > after)
    return list((await session.scalars(q)).all())


async def add(session: AsyncSession, sub: Subscription) -> None:
    session.add(sub)
    await session.flush()


async def save(session: AsyncSession) -> None:
    """Write the changes made to loaded subscriptions."""
    await session.flush()


async def cancel_pending(session: AsyncSession, sub_id: UUID) -> None:
    """Cancel the subscription's pending deliveries (it was disabled): none is left to send."""
    await session.execute(
        update(Delivery).where(Delivery.subscription_id == sub_id, Delivery.status == PENDING)
        .values(status="cancelled", lease_until=None)
    )  # fmt: skip


async def remove(session: AsyncSession, sub_id: UUID) -> None:
    await session.execute(delete(Subscription).where(Subscription.id == sub_id))
