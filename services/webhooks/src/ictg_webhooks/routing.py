"""The consumer's handler: every event is stored once and becomes one delivery row per matching
subscription, in the consumer's transaction (a redelivered event finds itself stored and adds none).

Whose an event is: a case event belongs to the local authority responsible for the child at the
event's own time, learnt from `case.opened` and `case.moved` (a contact recorded late, dated before a
move, is the old authority's); `case.moved` belongs to both authorities (it ends one period and
starts the other); `referral.received` to the referral's authority. A subscription with
`local_authority_codes` receives only events of those authorities; a council's always has them (its
own). `webhook.*` events go only to subscriptions of the organisation they are about.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock, policy
from ictg_common.contracts import (
    MODELS,
    CaseEventData,
    CaseMoved,
    CaseOpened,
    EventData,
    ReferralReceived,
    ReferralStatusChanged,
    WebhookDisabled,
    parse_data,
)
from ictg_common.events import CloudEvent, new_id
from ictg_common.notify import notify

from .models import PENDING, CasePeriod, Delivery, StoredEvent, Subscription

DELIVERIES = "webhooks_delivery"  # NOTIFY channel: deliveries are due


async def _authority_at(session: AsyncSession, case_id: UUID, at: datetime) -> str | None:
    q = (
        select(CasePeriod.local_authority_code)
        .where(CasePeriod.case_id == case_id, CasePeriod.starts_at <= at)
        .order_by(CasePeriod.starts_at.desc())
        .limit(1)
    )
    return (await session.scalars(q)).first()


async def _learn_period(session: AsyncSession, case_id: UUID, starts_at: datetime, code: str) -> None:
    await session.execute(
        insert(CasePeriod)
        .values(case_id=case_id, starts_at=starts_at, local_authority_code=code)
        .on_conflict_do_nothing(index_elements=["case_id", "starts_at"])
    )


async def _referral(session: AsyncSession, event: CloudEvent, data: ReferralReceived) -> list[str]:
    return [data.local_authority_code]


async def _case_event(session: AsyncSession, event: CloudEvent, data: CaseEventData) -> list[str]:
    """The authority responsible for the child at the event's time (the event's own, before any is known)."""
    code = await _authority_at(session, data.case_id, event.time) or data.local_authority_code
    return [code] if code else []


async def _case_opened(session: AsyncSession, event: CloudEvent, data: CaseOpened) -> list[str]:
    if data.local_authority_code:
        await _learn_period(session, data.case_id, event.time, data.local_authority_code)
    return await _case_event(session, event, data)


async def _case_moved(session: AsyncSession, event: CloudEvent, data: CaseMoved) -> list[str]:
    await _learn_period(session, data.case_id, data.moved_at, data.local_authority_code)
    return sorted({data.from_local_authority_code, data.local_authority_code})


Authorities = Callable[[AsyncSession, CloudEvent, Any], Awaitable[list[str]]]
AUTHORITIES: dict[type[EventData], Authorities] = {
    **{m: _case_event for m in MODELS if issubclass(m, CaseEventData)},
    ReferralReceived: _referral,
    CaseOpened: _case_opened,
    CaseMoved: _case_moved,
}
"""Event model -> the authorities its events belong to; a model not here belongs to none."""


async def authorities(session: AsyncSession, event: CloudEvent) -> list[str]:
    """The local authorities an event belongs to (see the module's docstring)."""
    data = parse_data(event.type, event.data)
    handler = AUTHORITIES.get(type(data)) if data is not None else None
    return await handler(session, event, data) if handler is not None else []


def matching(event_type: str, codes: list[str], org: tuple[str, str] | None) -> object:
    """The condition a subscription must meet to receive an event of `event_type` for `codes`
    (`org`: the organisation a `webhook.*` event is about). Only organisations the access policy lets
    learn of such events at all (`ictg_common.policy`: the service's staff, councils for the kinds the
    council API shows) get a delivery; what of it they learn is decided again when it is sent."""
    wanted = or_(
        func.cardinality(Subscription.event_types) == 0, literal(event_type) == func.any(Subscription.event_types)
    )
    if org is not None:
        return and_(Subscription.enabled, wanted, Subscription.org_type == org[0], Subscription.org_name == org[1])
    allowed = [t for t in (policy.STAFF_ORG_TYPE, policy.COUNCIL_ORG_TYPE) if policy.may_receive(t, event_type)]
    wanted = and_(wanted, Subscription.org_type.in_(allowed))
    if codes:
        where = or_(
            func.cardinality(Subscription.local_authority_codes) == 0,
            Subscription.local_authority_codes.overlap(codes),
        )
    else:  # an event of no authority: only for subscriptions that did not narrow by authority
        where = func.cardinality(Subscription.local_authority_codes) == 0
    return and_(Subscription.enabled, wanted, where)


async def route(session: AsyncSession, event: CloudEvent) -> None:
    """Consumer handler: store the event; one pending delivery per matching subscription."""
    codes = await authorities(session, event)
    stored = await session.execute(
        insert(StoredEvent)
        .values(
            id=event.id,
            type=event.type,
            subject=event.subject,
            time=event.time,
            local_authority_codes=codes,
            # Delivered to councils as it is stored: never our internal trace context
            # (a receiver outside the platform has no use for it, and it would show our services' spans).
            body=event.model_dump(mode="json", exclude={"traceparent"}),
            received_at=func.clock_timestamp(),
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StoredEvent.id)
    )
    if stored.first() is None:
        return  # seen before: its deliveries were made with it
    await enqueue(session, event.id, event.type, codes, org=_org_of(event))


def _filer(data: ReferralStatusChanged) -> tuple[str, str]:
    return data.org_type, data.org_name


def _owner(data: WebhookDisabled) -> tuple[str, str]:
    return data.org_type, data.org_name


ADDRESSEES: dict[type[EventData], Callable[[Any], tuple[str, str]]] = {
    WebhookDisabled: _owner,
    ReferralStatusChanged: _filer,
}
"""Event model -> the one organisation its events are addressed to; a model not here is addressed to none."""


def _org_of(event: CloudEvent) -> tuple[str, str] | None:
    """The one organisation an event is addressed to, if it is addressed (`ictg_common.policy`)."""
    data = parse_data(event.type, event.data)
    addressee = ADDRESSEES.get(type(data)) if data is not None else None
    return addressee(data) if addressee is not None else None


async def enqueue(
    session: AsyncSession,
    event_id: UUID,
    event_type: str,
    codes: list[str],
    *,
    org: tuple[str, str] | None = None,
    only: UUID | None = None,
) -> int:
    """A pending delivery of the event to every matching subscription (`only`: to that one alone);
    one already there is left as it is. Returns how many were added."""
    cond = matching(event_type, codes, org)
    # FOR SHARE: a subscription being disabled right now is waited for and then seen disabled, so no
    # pending delivery is left behind on it.
    subs = select(Subscription.id).where(cond).with_for_update(read=True)  # type: ignore[arg-type]
    if only is not None:
        subs = subs.where(Subscription.id == only)
    now = clock.utcnow()
    ids = list((await session.scalars(subs)).all())
    if not ids:
        return 0
    done = await session.execute(
        insert(Delivery)
        .values(
            [
                {
                    "id": new_id(),
                    "subscription_id": sid,
                    "event_id": event_id,
                    "status": PENDING,
                    "attempts": 0,
                    "step": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for sid in ids
            ]
        )
        .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
        .returning(Delivery.id)
    )
    added = len(done.all())
    if added:
        await notify(session, DELIVERIES)  # wakes the workers when this commits
    return added


REPLAY = text(
    """
WITH matching AS (
    SELECT e.id FROM webhooks.event e
    WHERE e.received_at >= :since AND e.type NOT LIKE 'ictg.webhook.%'
      AND (cardinality(CAST(:types AS varchar[])) = 0 OR e.type = ANY(CAST(:types AS varchar[])))
      AND (CAST(:every AS boolean) OR e.type = ANY(CAST(:receivable AS varchar[])))
      AND (e.type <> 'ictg.referral.status_changed.v1'
           OR (e.body->'data'->>'org_type' = :org_type AND e.body->'data'->>'org_name' = :org_name))
      AND (cardinality(CAST(:codes AS varchar[])) = 0 OR e.local_authority_codes && CAST(:codes AS varchar[]))
), added AS (
    INSERT INTO webhooks.delivery (id, subscription_id, event_id, status, attempts, step, next_attempt_at, created_at)
    SELECT gen_random_uuid(), :sub, m.id, 'pending', 0, 0, now(), now() FROM matching m
    ON CONFLICT (subscription_id, event_id) DO NOTHING
    RETURNING 1
), again AS (
    UPDATE webhooks.delivery d SET status = 'pending', step = 0, next_attempt_at = now(), lease_until = NULL
    FROM matching m WHERE d.subscription_id = :sub AND d.event_id = m.id AND d.status <> 'pending'
    RETURNING 1
)
SELECT (SELECT count(*) FROM added) + (SELECT count(*) FROM again)
"""
)


async def replay_since(session: AsyncSession, sub: Subscription, since: datetime) -> int:
    """Queue again every stored event received since `since` that `sub` matches, delivered before
    or not (one statement, whatever the number). Returns how many were queued."""
    receivable = policy.receivable(sub.org_type)
    params = {"since": since, "types": list(sub.event_types), "codes": list(sub.local_authority_codes), "sub": sub.id,
              "every": receivable is None, "receivable": sorted(receivable or ()), "org_type": sub.org_type,
              "org_name": sub.org_name}  # fmt: skip
    queued = int((await session.execute(REPLAY, params)).scalar_one())
    await notify(session, DELIVERIES)
    return queued
