"""The delivery worker: claims due deliveries, signs and sends them, records each attempt.

Claiming is a lease (`lease_until`) taken in one UPDATE that re-checks the row, so replicas share
the work and never send one delivery at the same time; a worker that dies mid-delivery loses its
lease after `lease_seconds` and another sends the delivery again, with the same `webhook-id` (the
event id). Up to `concurrency` deliveries are in flight per process, and at most the subscription's
window (`in_flight_window`, across replicas) to one subscription. The window adapts to the receiver, as
TCP's congestion window does in slow start: it grows by one for each 2xx answer within `slow_seconds`
(a batch of answers, at most the window's worth, at most doubles it), and halves, down to
`per_subscription_concurrency`, on a slower answer or a failure. A fast receiver takes up to
`max_per_subscription_concurrency` at once within a few batches (growing by one a batch, a receiver
answering in 10 ms still held 8-20 in flight after 400 deliveries); a receiver that slows or hangs for the
whole timeout only ever holds its own few: the others go on.

Recording: a 2xx to a subscription that was not failing (nearly every attempt) is recorded in a batch
with the others finished meanwhile, one transaction for them all (`Recorder`); anything else in a
transaction of its own, with the subscription's lock. A delivery's slot is held until its attempt is
recorded, so a lease is never left behind by a worker that is still running.

Outcomes: 2xx delivered; 410 Gone disables the subscription; anything else (status,
timeout, refused target) is retried after the next wait of the schedule (± jitter), or after the
receiver's `Retry-After` when it gives one; after the last wait the delivery has failed. A
subscription whose deliveries have failed for `disable_after_seconds` straight is disabled. A
disabled subscription's pending deliveries are cancelled and a `webhook.disabled` event tells its
owner.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import clock, policy
from ictg_common.background import Loop
from ictg_common.contracts import WebhookDisabled, make_event
from ictg_common.events import new_id
from ictg_common.notify import Listener
from ictg_common.outbox import emit

from . import sender, signing
from .models import CANCELLED, DELIVERED, FAILED, PENDING, SCHEMA, Attempt, Delivery, Subscription
from .routing import DELIVERIES
from .settings import WebhooksSettings

if TYPE_CHECKING:
    from .observability import DeliveryMetrics

log = logging.getLogger(__name__)

CLAIM = text(
    """
WITH busy AS (
    SELECT subscription_id, count(*) AS n FROM webhooks.delivery
    WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until > now() GROUP BY subscription_id
), ready AS (
    SELECT d.id, d.subscription_id, d.next_attempt_at FROM webhooks.delivery d
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (d.lease_until IS NULL OR d.lease_until <= now())
    ORDER BY d.next_attempt_at LIMIT :scan
), due AS (
    SELECT r.id, r.subscription_id, r.next_attempt_at,
           LEAST(GREATEST(s.in_flight_window, :floor), :ceiling) AS window,
           row_number() OVER (PARTITION BY r.subscription_id ORDER BY r.next_attempt_at, r.id) AS rn
    FROM ready r JOIN webhooks.subscription s ON s.id = r.subscription_id WHERE s.enabled
), pick AS (
    SELECT due.id FROM due LEFT JOIN busy USING (subscription_id)
    WHERE due.rn + coalesce(busy.n, 0) <= due.window
    ORDER BY due.next_attempt_at, due.id LIMIT :n
), leased AS (
    UPDATE webhooks.delivery d SET lease_until = now() + make_interval(secs => :lease)
    FROM pick WHERE d.id = pick.id AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= now())
    RETURNING d.id, d.subscription_id, d.event_id, d.next_attempt_at
)
SELECT l.id, l.subscription_id, l.event_id, s.url, s.secret, s.previous_secret, s.previous_secret_until,
       s.failing_since IS NOT NULL AS failing, s.org_type, s.in_flight_window, e.body
FROM leased l JOIN webhooks.subscription s ON s.id = l.subscription_id JOIN webhooks.event e ON e.id = l.event_id
ORDER BY l.next_attempt_at, l.id
"""
)
"""Lease up to :n due deliveries, at most each subscription's window in flight, and load what sending them
needs, in one statement (one round trip a claim), in the order they fell due."""


@dataclass(frozen=True)
class Job:
    delivery_id: UUID
    subscription_id: UUID
    event_id: UUID
    url: str
    secrets: tuple[str, ...]
    body: bytes
    failing: bool = False  # the subscription was failing when claimed (a success must reset that)
    window: int = 0  # the subscription's in-flight window when claimed (0: not known)


async def claim(session: AsyncSession, settings: WebhooksSettings, n: int) -> list[Job]:
    """Lease up to `n` due deliveries and load what sending them needs."""
    rows = await session.execute(
        CLAIM, {"n": n, "scan": max(n * 8, 512), "lease": settings.lease_seconds,
                "floor": settings.per_subscription_concurrency, "ceiling": settings.max_per_subscription_concurrency},
    )  # fmt: skip
    now = clock.utcnow()
    jobs, withheld = [], []
    for r in rows:
        body = delivered_body(r.body, org_type=r.org_type)
        if body is None:
            withheld.append(r.id)
            continue
        secrets = signing_secrets(r.secret, r.previous_secret, r.previous_secret_until, now=now)
        jobs.append(Job(delivery_id=r.id, subscription_id=r.subscription_id, event_id=r.event_id, url=r.url,
                        secrets=secrets, body=body, failing=r.failing, window=r.in_flight_window))  # fmt: skip
    if withheld:  # queued under an older rule (or replayed): never sent, and said so in the delivery log
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(withheld))
            .values(status=CANCELLED, lease_until=None, last_error=WITHHELD)
        )
    return jobs


def signing_secrets(
    secret: str, previous: str | None, previous_until: datetime | None, *, now: datetime
) -> tuple[str, ...]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    if previous is not None and previous_until is not None and now < previous_until:
        return (secret, previous)
    return (secret,)


def wait_after(settings: WebhooksSettings, step: int, retry_after: float | None) -> float | None:
    """Seconds until the next attempt after failed attempt number `step` (0-based), or None when the
    schedule is spent. A receiver's `Retry-After` is honoured when it asks for longer than the schedule
    (up to `retry_after_max_seconds`)."""
    schedule = settings.retry_schedule_seconds
    if step >= len(schedule):
        return None
    jitter = settings.retry_jitter
    wait = schedule[step] * random.uniform(1 - jitter, 1 + jitter)
    if retry_after is not None:  # later, never sooner, than the schedule: a short one must not spend it
        wait = max(wait, min(retry_after, settings.retry_after_max_seconds))
    return wait


async def disable(
    session: AsyncSession,
    sub: Subscription,
    *,
    reason: Literal["gone", "failing"],
    settings: WebhooksSettings,
    now: datetime,
) -> None:
    """Stop delivering to `sub`: cancel what is pending and tell its owner (`webhook.disabled`)."""
    sub.enabled = False
    sub.disabled_reason = reason
    sub.disabled_at = now
    await session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.status == PENDING)
        .values(status=CANCELLED, lease_until=None)
    )
    data = WebhookDisabled(
        subscription_id=sub.id, org_type=sub.org_type, org_name=sub.org_name, url=sub.url.split("?", 1)[0],
        reason=reason, disabled_at=now, failing_since=sub.failing_since,
    )  # fmt: skip
    await emit(
        session, make_event(data=data, subject=sub.id, time=now), schema=SCHEMA, subject_prefix=settings.subject_prefix
    )
    log.warning("webhook subscription disabled", extra={"subscription_id": str(sub.id), "reason": reason})


DELIVERED_SQL = text(
    """
WITH done AS (
    UPDATE webhooks.delivery SET status = 'delivered', delivered_at = now(), attempts = attempts + 1,
           last_status_code = :code, last_error = NULL, lease_until = NULL
    WHERE id = :id AND status = 'pending' RETURNING id
)
INSERT INTO webhooks.attempt (id, delivery_id, at, status_code, latency_ms, error)
SELECT :attempt, done.id, :at, :code, :latency, NULL FROM done
"""
)


DELIVERED_BATCH_SQL = text(
    """
WITH sent AS (
    SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS int[]), CAST(:attempts AS uuid[]),
                         CAST(:ats AS timestamptz[]), CAST(:latencies AS int[])) AS v(id, code, attempt, at, latency)
), done AS (
    UPDATE webhooks.delivery d SET status = 'delivered', delivered_at = now(), attempts = d.attempts + 1,
           last_status_code = sent.code, last_error = NULL, lease_until = NULL
    FROM sent WHERE d.id = sent.id AND d.status = 'pending' RETURNING d.id
)
INSERT INTO webhooks.attempt (id, delivery_id, at, status_code, latency_ms, error)
SELECT sent.attempt, sent.id, sent.at, sent.code, sent.latency, NULL FROM sent JOIN done ON done.id = sent.id
RETURNING delivery_id
"""
)
GROW_SQL = text(
    "UPDATE webhooks.subscription s SET in_flight_window = LEAST(GREATEST(s.in_flight_window, :floor) + g.by, :ceiling) "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:by AS int[])) AS g(id, by) "
    "WHERE s.id = g.id AND s.in_flight_window < :ceiling"
)
SHRINK_SQL = text(
    "UPDATE webhooks.subscription SET in_flight_window = GREATEST(in_flight_window / 2, :floor) "
    "WHERE id = ANY(CAST(:ids AS uuid[])) AND in_flight_window > :floor"
)


def batchable(job: Job, outcome: sender.Outcome) -> bool:
    """Whether an attempt is recorded in a batch: a 2xx to a subscription that was not failing."""
    return outcome.ok and not job.failing


async def record_delivered(session: AsyncSession, done: list[tuple[Job, sender.Outcome, datetime]]) -> set[UUID]:
    """Record a batch of 2xx attempts (`batchable`) in one statement; returns the deliveries recorded (one
    cancelled or deleted meanwhile is not). It touches deliveries alone: the windows move in a transaction
    of their own (`move_windows`), so this never waits on a subscription's lock while holding a delivery's
    (`record` and `disable` take the subscription's first)."""
    rows = await session.execute(
        DELIVERED_BATCH_SQL,
        {"ids": [j.delivery_id for j, _, _ in done], "codes": [o.status_code for _, o, _ in done],
         "attempts": [new_id() for _ in done], "ats": [at for _, _, at in done],
         "latencies": [o.latency_ms for _, o, _ in done]},
    )  # fmt: skip
    return set(rows.scalars())


def window_moves(
    done: list[tuple[Job, sender.Outcome, datetime]], *, settings: WebhooksSettings
) -> tuple[dict[UUID, int], set[UUID]]:
    """The subscriptions whose window grows, each by its answers in the batch (every one of them within
    `slow_seconds`), and those whose window halves (an answer slower than that). One whose window was
    already at that bound when its delivery was claimed is left out: nothing to move, so no transaction for
    it (a receiver that keeps up soon has the largest window, and then its batches move nothing)."""
    slow_ms = settings.slow_seconds * 1000
    ceiling, floor = settings.max_per_subscription_concurrency, settings.per_subscription_concurrency
    slow = {j.subscription_id for j, o, _ in done if (o.latency_ms or 0) > slow_ms}
    grow: dict[UUID, int] = {}
    for j, _, _ in done:
        if j.subscription_id not in slow and (not j.window or j.window < ceiling):
            grow[j.subscription_id] = grow.get(j.subscription_id, 0) + 1
    return grow, {
        j.subscription_id for j, _, _ in done if j.subscription_id in slow and (not j.window or j.window > floor)
    }


async def move_windows(
    session: AsyncSession, *, grow: dict[UUID, int], shrink: set[UUID], settings: WebhooksSettings
) -> None:
    bounds = {"floor": settings.per_subscription_concurrency, "ceiling": settings.max_per_subscription_concurrency}
    if grow:
        ids = sorted(grow)
        await session.execute(GROW_SQL, {"ids": ids, "by": [grow[i] for i in ids], **bounds})
    if shrink:
        await session.execute(SHRINK_SQL, {"ids": sorted(shrink), **bounds})


async def record(
    session: AsyncSession, job: Job, outcome: sender.Outcome, *, settings: WebhooksSettings, at: datetime
) -> str | None:
    """Record one attempt's outcome; returns the delivery's new status (None: it is gone).

    The common case, a success on a subscription that was not failing, is one statement touching the
    delivery alone; everything else takes the subscription's lock first, then the delivery's."""
    if outcome.ok and not job.failing:
        done = await session.execute(
            DELIVERED_SQL,
            {"id": job.delivery_id, "code": outcome.status_code, "attempt": new_id(), "at": at,
             "latency": outcome.latency_ms},
        )  # fmt: skip
        return DELIVERED if done.rowcount else None  # type: ignore[attr-defined]
    # Lock order everywhere: the subscription, then its deliveries (PATCH, DELETE and disabling too).
    # NO KEY UPDATE: the consumer's inserts of deliveries (their foreign key) are not held up by it.
    sub = (
        await session.scalars(
            select(Subscription).where(Subscription.id == job.subscription_id).with_for_update(key_share=True)
        )
    ).first()
    delivery = (await session.scalars(select(Delivery).where(Delivery.id == job.delivery_id).with_for_update())).first()
    if sub is None or delivery is None or delivery.status != PENDING:
        return None  # deleted with its subscription, or cancelled meanwhile
    session.add(
        Attempt(id=new_id(), delivery_id=delivery.id, at=at, status_code=outcome.status_code,
                latency_ms=outcome.latency_ms, error=(outcome.error or None) and outcome.error[:500])
    )  # fmt: skip
    now = clock.utcnow()
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.lease_until = None
    if not outcome.ok:  # the receiver is failing: fewer in flight to it
        sub.in_flight_window = max(settings.per_subscription_concurrency, sub.in_flight_window // 2)
    if outcome.ok:
        delivery.status, delivery.delivered_at = DELIVERED, now
        sub.failing_since = None
    elif outcome.gone:
        delivery.status = FAILED
        await disable(session, sub, reason="gone", settings=settings, now=now)
    else:
        wait = wait_after(settings, delivery.step, outcome.retry_after)
        delivery.step += 1
        if wait is None:
            delivery.status = FAILED
        else:
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        sub.failing_since = sub.failing_since or at
        if sub.enabled and (now - sub.failing_since).total_seconds() >= settings.disable_after_seconds:
            await disable(session, sub, reason="failing", settings=settings, now=now)
    await session.flush()
    return delivery.status


WITHHELD = "withheld: the access policy does not let this organisation learn of such events"


def delivered_body(stored: dict[str, Any], *, org_type: str | None) -> bytes | None:
    """The bytes sent to a receiver of organisation type `org_type`: the stored event with its `data`
    projected for that organisation (`ictg_common.policy`), without our internal trace context (an event
    stored before `routing.route` left it out may still carry `traceparent`); None when the event is not
    for that organisation at all."""
    data = policy.project(org_type, str(stored.get("type", "")), stored.get("data") or {})
    if data is None:
        return None
    body = {k: v for k, v in stored.items() if k != "traceparent"}
    body["data"] = data
    return json.dumps(body, separators=(",", ":")).encode()


class RecordingFailed(Exception):
    """A batch could not be recorded after retries: its leases lapse and the deliveries are sent again."""


class Recorder:
    """Records a worker's plain 2xx attempts (`batchable`) in batches: every attempt that finished while the
    last batch was being written goes in the next, one transaction for them all."""

    MOST = 500  # attempts in one statement at most

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: WebhooksSettings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.queue: asyncio.Queue[tuple[Job, sender.Outcome, datetime, asyncio.Future[str | None]]] = asyncio.Queue()
        self.loop = Loop("webhooks-recorder", self.step)

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        while not self.queue.empty():
            self.queue.get_nowait()[3].cancel()

    async def add(self, job: Job, outcome: sender.Outcome, at: datetime) -> str | None:
        """Record one attempt with the others of its batch: the delivery's new status (None: it was gone)."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        await self.queue.put((job, outcome, at, future))
        return await future

    async def step(self) -> None:
        batch = [await self.queue.get()]
        while len(batch) < self.MOST and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        done = [(job, outcome, at) for job, outcome, at, _ in batch]
        for attempt in range(5):  # the outcomes must be kept: retry through a database blip
            try:
                async with self.sessionmaker() as session, session.begin():
                    recorded = await record_delivered(session, done)
                break
            except Exception:
                log.warning("recording a batch of webhook attempts failed", exc_info=True)
                await asyncio.sleep(0.2 * 2**attempt)
        else:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(RecordingFailed())
            return
        for job, _, _, future in batch:
            if not future.done():
                future.set_result(DELIVERED if job.delivery_id in recorded else None)
        grow, shrink = window_moves(done, settings=self.settings)
        if not grow and not shrink:
            return
        try:
            async with self.sessionmaker() as session, session.begin():
                await move_windows(session, grow=grow, shrink=shrink, settings=self.settings)
        except Exception:  # a window left as it was only costs speed
            log.warning("moving webhook delivery windows failed", exc_info=True)


class Worker:
    """Claims and sends deliveries until stopped (one per process; replicas share the table)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: WebhooksSettings,
        *,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.metrics = metrics  # attempts by outcome and latency, for GET /metrics
        self.pool: sender.Pool | None = None  # keep-alive connections, at most `concurrency`
        self.tasks: set[asyncio.Task[Any]] = set()
        self.loop = Loop("webhooks-worker", self.step)
        self.wake = asyncio.Event()  # a delivery finished, or NOTIFY: deliveries are due
        self.listener = Listener(settings.database_url, DELIVERIES, self.wake)
        self.recorder = Recorder(sessionmaker, settings)

    def start(self) -> None:
        self.pool = sender.Pool(self.settings.concurrency)
        self.recorder.start()
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        await self.listener.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.recorder.stop()
        if self.pool is not None:
            await self.pool.aclose()

    async def step(self) -> None:
        free = self.settings.concurrency - len(self.tasks)
        jobs: list[Job] = []
        self.wake.clear()
        try:
            await self.listener.ensure()
        except Exception:
            await self.listener.close()
            raise
        if free > 0:
            async with self.sessionmaker() as session, session.begin():
                jobs = await claim(session, self.settings, free)
        for job in jobs:
            task = asyncio.create_task(self.deliver(job))
            self.tasks.add(task)
            task.add_done_callback(self._done)
        if len(jobs) < free or free <= 0:
            try:
                await asyncio.wait_for(self.wake.wait(), self.settings.worker_poll_seconds)
                await asyncio.sleep(0.005)  # let a few more finish: one claim for several free slots
            except TimeoutError:
                pass

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self.wake.set()

    async def deliver(self, job: Job) -> None:
        assert self.pool is not None
        at = clock.utcnow()
        headers = signing.headers(job.secrets, msg_id=str(job.event_id), timestamp=at, body=job.body)
        outcome = await sender.send(
            self.pool, url=job.url, body=job.body, headers=headers,
            allow_private=self.settings.allow_private_targets, timeout=self.settings.timeout_seconds,
        )  # fmt: skip
        if batchable(job, outcome):
            try:
                status = await self.recorder.add(job, outcome, at)
            except RecordingFailed:
                return
        else:
            for attempt in range(5):  # the outcome must be kept: retry through a database blip
                try:
                    async with self.sessionmaker() as session, session.begin():
                        status = await record(session, job, outcome, settings=self.settings, at=at)
                    break
                except Exception:
                    log.warning("recording a webhook attempt failed", exc_info=True)
                    await asyncio.sleep(0.2 * 2**attempt)
            else:
                return
        if self.metrics is not None:
            self.metrics.attempt(outcome, status)
        log.info(
            "webhook attempt",
            extra={"delivery_id": str(job.delivery_id), "subscription_id": str(job.subscription_id),
                   "event_id": str(job.event_id), "status_code": outcome.status_code, "latency_ms": outcome.latency_ms,
                   "error": outcome.error, "outcome": status},
        )  # fmt: skip
