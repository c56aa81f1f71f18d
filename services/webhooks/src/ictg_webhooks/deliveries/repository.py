"""The delivery log's SQL. Flushes, never commits: the caller's session owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Attempt, Delivery, StoredEvent, Subscription

Org = tuple[str, str]


async def log(
    session: AsyncSession, sub_id: UUID, *, statuses: Sequence[str], before: UUID | None, limit: int
) -> list[tuple[Delivery, str]]:
    """Up to `limit` deliveries of the subscription, newest first, before `before`, each with its
    event's type (`statuses`: only these, when any)."""
    q = (
        select(Delivery, StoredEvent.type)
        .join(StoredEvent, StoredEvent.id == Delivery.event_id)
        .where(Delivery.subscription_id == sub_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if statuses:
        q = q.where(Delivery.status.in_(statuses))
    if before is not None:
        q = q.where(Delivery.id < before)
    return [(d, t) for d, t in (await session.execute(q)).all()]


async def attempts_of(session: AsyncSession, delivery_ids: Sequence[UUID]) -> dict[UUID, list[Attempt]]:
    """Every attempt of these deliveries, oldest first, by delivery."""
    attempts: dict[UUID, list[Attempt]] = {}
    if delivery_ids:
        q = select(Attempt).where(Attempt.delivery_id.in_(delivery_ids)).order_by(Attempt.at)
        for a in (await session.scalars(q)).all():
            attempts.setdefault(a.delivery_id, []).append(a)
    return attempts


async def subscription_of(session: AsyncSession, delivery_id: UUID, org: Org) -> UUID | None:
    """The subscription of `org` that delivery `delivery_id` belongs to (None: no delivery of `org`)."""
    q = (
        select(Subscription.id)
        .join(Delivery, Subscription.id == Delivery.subscription_id)
        .where(Delivery.id == delivery_id, Subscription.org_type == org[0], Subscription.org_name == org[1])
    )
    return (await session.scalars(q)).first()


async def get_for_update(session: AsyncSession, delivery_id: UUID) -> Delivery | None:
    return (await session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update())).first()


async def add_sent_now(session: AsyncSession, event: StoredEvent, delivery: Delivery) -> None:
    """An event and its one delivery, being sent now (a ping)."""
    session.add(event)
    await session.flush()  # the event before the delivery that names it
    session.add(delivery)
    await session.flush()
