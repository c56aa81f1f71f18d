"""The consumer's handlers: every event is stored once and becomes one delivery row per matching
subscription, in the consumer's transaction (a redelivered event finds itself stored and adds none).

A fetched batch of events is routed together (`route_all`, the consumer's `batch_handler`), in a
fixed number of statements whatever its size: the stored periods of the batch's cases in one query,
the events in one insert, the matching subscriptions once for each kind of event (its type, its
authorities, the organisation it is addressed to), and every delivery in one insert. Routed one by one,
each event cost five or six round trips (about 12 ms on this project's 2-core machine), and the
consumer, not the sending, held webhook push down. `route`, one event alone, is a batch of one.

Whose an event is: a case event belongs to the local authority responsible for the child at the
event's own time, which the case API names on the event (`responsible_local_authority_code`; a contact
recorded late, dated before a move, is the old authority's). For events written before it named it, that
authority is learnt from `case.opened` and `case.moved` in stream order (within a batch too: an event goes
by the periods stored and those of the batch's events before it, never after it). `case.moved` belongs to both authorities
(it ends one period and starts the other); `referral.received` to the referral's authority. A
subscription with `local_authority_codes` receives only events of those authorities; a council's always
has them (its own). `webhook.*` events go only to subscriptions of the organisation they are about.

Per subscription, deliveries are made in stream order: an event's deliveries are created (and first due)
no earlier than those of the events before it, with later ids (time-ordered), which is the order the
worker claims them in.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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

from .models import CasePeriod, StoredEvent, Subscription

DELIVERIES = "webhooks_delivery"  # NOTIFY channel: deliveries are due


@dataclass
class Periods:
    """Which authority answered for each case of a batch from when: the stored periods, and those learnt
    from the batch's events as they are routed, in stream order (the first period learnt for a start
    time stands, as the table's primary key keeps it)."""

    known: dict[UUID, list[tuple[datetime, str]]] = field(default_factory=dict)  # by start, ascending
    learnt: list[tuple[UUID, datetime, str]] = field(default_factory=list)  # to store

    @classmethod
    async def load(cls, session: AsyncSession, case_ids: set[UUID]) -> Periods:
        periods = cls()
        if case_ids:
            rows = await session.execute(
                select(CasePeriod.case_id, CasePeriod.starts_at, CasePeriod.local_authority_code).where(
                    CasePeriod.case_id.in_(sorted(case_ids))
                )
            )
            for case_id, starts_at, code in rows:
                periods.known.setdefault(case_id, []).append((starts_at, code))
            for starts in periods.known.values():
                starts.sort()
        return periods

    def at(self, case_id: UUID, at: datetime) -> str | None:
        """The authority responsible for the case at `at`, if any is known."""
        starts = self.known.get(case_id, [])
        i = bisect.bisect_right(starts, at, key=lambda period: period[0])
        return starts[i - 1][1] if i else None

    def last_start(self, case_id: UUID) -> datetime:
        """When the last period known of the case began (call only for a case with one)."""
        return self.known[case_id][-1][0]

    def learn(self, case_id: UUID, starts_at: datetime, code: str) -> None:
        starts = self.known.setdefault(case_id, [])
        if any(s == starts_at for s, _ in starts):
            return
        bisect.insort(starts, (starts_at, code))
        self.learnt.append((case_id, starts_at, code))

    async def store(self, session: AsyncSession) -> None:
        """Keep the periods learnt (one statement)."""
        if self.learnt:
            await session.execute(
                insert(CasePeriod)
                .values([{"case_id": c, "starts_at": s, "local_authority_code": code} for c, s, code in self.learnt])
                .on_conflict_do_nothing(index_elements=["case_id", "starts_at"])
            )
            self.learnt = []


def _referral(periods: Periods, event: CloudEvent, data: ReferralReceived) -> list[str]:
    return [data.local_authority_code]


class MoveNotSeen(Exception):
    """A case event names, as the child's authority when it was recorded, another than the last one known
    here, and is dated in that last period: a `case.moved` it follows has not been routed yet (the stream's
    order is not promised: `ictg_common.outbox`). Which authority it belongs to is not known until the move
    is, so the event is not routed: a handler failure, retried (after a few seconds it finds the move)."""


def _case_event(periods: Periods, event: CloudEvent, data: CaseEventData) -> list[str]:
    """The authority responsible for the child at the event's time.

    The case API names it on every event it writes now (`responsible_local_authority_code`, read from its
    own periods when it wrote the event), so the event goes there whatever order the stream delivers it in.

    An event stored before that field was added is routed by the periods learnt here, in stream order (the
    event's own authority before any is known), never to the authority of before a move the event follows:
    routed ahead of that move, a contact dated after it would go to the council the child left (which the
    council API would never show it). The event's authority at recording tells when that may be so
    (`MoveNotSeen`). Not told for such old events: a move there and back, both unseen, with the event dated
    between them."""
    if data.responsible_local_authority_code is not None:
        return [data.responsible_local_authority_code]
    code = periods.at(data.case_id, event.time)
    stamped = data.local_authority_code
    if code is not None and stamped is not None and code != stamped and event.time >= periods.last_start(data.case_id):
        raise MoveNotSeen(f"case {data.case_id}: recorded under {stamped}, {code} is the last authority known")
    code = code or stamped
    return [code] if code else []


def _case_opened(periods: Periods, event: CloudEvent, data: CaseOpened) -> list[str]:
    if data.local_authority_code:
        periods.learn(data.case_id, event.time, data.local_authority_code)
    return _case_event(periods, event, data)


def _case_moved(periods: Periods, event: CloudEvent, data: CaseMoved) -> list[str]:
    periods.learn(data.case_id, data.moved_at, data.local_authority_code)
    return sorted({data.from_local_authority_code, data.local_authority_code})


Authorities = Callable[[Periods, CloudEvent, Any], list[str]]
AUTHORITIES: dict[type[EventData], Authorities] = {
    **{m: _case_event for m in MODELS if issubclass(m, CaseEventData)},
    ReferralReceived: _referral,
    CaseOpened: _case_opened,
    CaseMoved: _case_moved,
}
"""Event model -> the authorities its events belong to; a model not here belongs to none."""


def authorities(periods: Periods, event: CloudEvent, data: EventData | None) -> list[str]:
    """The local authorities an event belongs to (see the module's docstring), learning its periods."""
    handler = AUTHORITIES.get(type(data)) if data is not None else None
    return handler(periods, event, data) if handler is not None else []


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
    """Consumer handler, one event: store it; one pending delivery per matching subscription."""
    await route_all(session, [event])


async def route_all(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    """Consumer batch handler: store the events, in order; one pending delivery per matching subscription
    and event (see the module's docstring). An event stored before adds no delivery."""
    parsed = [(e, parse_data(e.type, e.data)) for e in events]
    periods = await Periods.load(session, {d.case_id for _, d in parsed if isinstance(d, CaseEventData)})
    routed = [(e, authorities(periods, e, d), _org_of(d)) for e, d in parsed]
    await periods.store(session)
    stored = set(
        (
            await session.execute(
                insert(StoredEvent)
                .values(
                    [
                        {
                            "id": e.id, "type": e.type, "subject": e.subject, "time": e.time,
                            "local_authority_codes": codes,
                            # Delivered to councils as it is stored: never our internal trace context (a
                            # receiver outside the platform has no use for it, and it would show our spans).
                            "body": e.model_dump(mode="json", exclude={"traceparent"}),
                            "received_at": func.clock_timestamp(),
                        }
                        for e, codes, _ in routed
                    ]
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(StoredEvent.id)
            )
        ).scalars()
    )  # fmt: skip
    new = [(e.id, e.type, codes, org) for e, codes, org in routed if e.id in stored]
    if new:
        await enqueue_all(session, new)


def _filer(data: ReferralStatusChanged) -> tuple[str, str]:
    return data.org_type, data.org_name


def _owner(data: WebhookDisabled) -> tuple[str, str]:
    return data.org_type, data.org_name


ADDRESSEES: dict[type[EventData], Callable[[Any], tuple[str, str]]] = {
    WebhookDisabled: _owner,
    ReferralStatusChanged: _filer,
}
"""Event model -> the one organisation its events are addressed to; a model not here is addressed to none."""


def _org_of(data: EventData | None) -> tuple[str, str] | None:
    """The one organisation an event is addressed to, if it is addressed (`ictg_common.policy`)."""
    addressee = ADDRESSEES.get(type(data)) if data is not None else None
    return addressee(data) if addressee is not None else None


Kind = tuple[str, tuple[str, ...], tuple[str, str] | None]  # an event's type, authorities and addressee

ENQUEUE = text(
    """
INSERT INTO webhooks.delivery (id, subscription_id, event_id, status, attempts, step, next_attempt_at, created_at)
SELECT v.id, v.sub, v.event, 'pending', 0, 0, v.at, v.at
FROM unnest(CAST(:ids AS uuid[]), CAST(:subs AS uuid[]), CAST(:events AS uuid[]), CAST(:ats AS timestamptz[]))
     AS v(id, sub, event, at)
ON CONFLICT (subscription_id, event_id) DO NOTHING
"""
)
ENQUEUE_ROWS = 10_000  # deliveries in one statement at most


async def enqueue_all(
    session: AsyncSession, events: Sequence[tuple[UUID, str, list[str], tuple[str, str] | None]]
) -> int:
    """A pending delivery of each event (id, type, authorities, addressee) to every subscription it
    matches, in the events' order; one already there is left as it is. Returns how many were added."""
    kinds: dict[Kind, list[UUID]] = {}
    for _, event_type, codes, org in events:
        kind = (event_type, tuple(codes), org)
        if kind not in kinds:
            q = select(Subscription.id).where(matching(event_type, codes, org))  # type: ignore[arg-type]
            kinds[kind] = list((await session.scalars(q)).all())
    wanted = sorted({sid for ids in kinds.values() for sid in ids})
    if not wanted:
        return 0
    # FOR SHARE, in id order (two transactions taking several never wait on each other in a ring): a
    # subscription being disabled right now is waited for and then seen disabled, so no pending delivery
    # is left behind on it.
    enabled = set(
        (
            await session.scalars(
                select(Subscription.id)
                .where(Subscription.id.in_(wanted), Subscription.enabled)
                .order_by(Subscription.id)
                .with_for_update(read=True)
            )
        ).all()
    )
    rows: list[tuple[UUID, UUID, UUID, datetime]] = []
    for event_id, event_type, codes, org in events:
        now = clock.utcnow()  # each event's deliveries due after those of the events before it
        rows.extend((new_id(), sid, event_id, now) for sid in kinds[(event_type, tuple(codes), org)] if sid in enabled)
    added = 0
    for i in range(0, len(rows), ENQUEUE_ROWS):
        chunk = rows[i : i + ENQUEUE_ROWS]
        done = await session.execute(
            ENQUEUE,
            {"ids": [r[0] for r in chunk], "subs": [r[1] for r in chunk], "events": [r[2] for r in chunk],
             "ats": [r[3] for r in chunk]},
        )  # fmt: skip
        added += done.rowcount  # type: ignore[attr-defined]
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
