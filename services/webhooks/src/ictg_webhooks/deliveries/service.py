"""The delivery log, sending a delivery again and replaying stored events: the whole of each
endpoint's work. The request's session owns the transaction (flush, never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock, pagination
from ictg_common.auth import Actor
from ictg_common.errors import Conflict, NotFound

from ..models import PENDING, Attempt, Delivery, Subscription
from ..routing import replay_since
from ..subscriptions.rules import organisation
from ..subscriptions.service import own
from . import repository

STATUSES = ("pending", "delivered", "failed", "cancelled")


@dataclass(frozen=True)
class Logged:
    """One delivery of the log, with its event's type and every attempt, oldest first."""

    delivery: Delivery
    event_type: str
    attempts: list[Attempt]


async def log(
    session: AsyncSession, sub_id: UUID, *, actor: Actor, statuses: Sequence[str], cursor: str | None, limit: int
) -> tuple[list[Logged], str | None]:
    """A page of the subscription's delivery log, newest first, and the next page's cursor."""
    sub = await own(session, actor, sub_id)
    before = pagination.uuid_key(cursor)
    found = await repository.log(session, sub.id, statuses=statuses, before=before, limit=limit + 1)
    rows, next_cursor = pagination.split(found, limit, lambda r: str(r[0].id))
    attempts = await repository.attempts_of(session, [d.id for d, _t in rows])
    return [Logged(d, t, attempts.get(d.id, [])) for d, t in rows], next_cursor


def _enabled(sub: Subscription) -> None:
    if not sub.enabled:
        raise Conflict("The subscription is disabled: enable it first (PATCH enabled: true).")


async def retry(session: AsyncSession, delivery_id: UUID, *, actor: Actor) -> int:
    """Send a delivery again now (the retry schedule starts over); returns how many were queued."""
    sub_id = await repository.subscription_of(session, delivery_id, organisation(actor))
    if sub_id is None:
        raise NotFound("No such delivery of your organisation.")
    sub = await own(session, actor, sub_id, lock=True)  # lock order: subscription, then delivery
    delivery = await repository.get_for_update(session, delivery_id)
    if delivery is None:
        raise NotFound("No such delivery of your organisation.")
    _enabled(sub)
    now = clock.utcnow()
    if delivery.status == PENDING and delivery.lease_until is not None and delivery.lease_until > now:
        raise Conflict("The delivery is being sent right now: see its outcome in the delivery log, then retry.")
    delivery.status, delivery.step, delivery.next_attempt_at, delivery.lease_until = PENDING, 0, now, None
    return 1


async def replay(session: AsyncSession, sub_id: UUID, *, actor: Actor, since: datetime) -> int:
    """Queue again every stored event received since `since` that the subscription matches now;
    returns how many were queued."""
    sub = await own(session, actor, sub_id, lock=True)
    _enabled(sub)
    return await replay_since(session, sub, since)
