"""Consumer runner: durable pull consumer, handler in a DB transaction, inbox dedupe, dead letters.

Each fetch (up to `batch` messages) is handled in one transaction: one inbox insert of all the
event ids (those already there were handled before: skipped), the handler over the new events in
order (`batch_handler` at once if the consumer has one), commit, then ack them all. If anything in
the batch fails, nothing of it is kept and its messages are handled again one at a time, each in its
own transaction as below, so one bad event never blocks or loses the others.

One message alone: open a transaction, insert `(consumer, event_id)` into the inbox (a conflict
means the event was already handled: ack and move on), run the handler, commit, then ack.

`prepare` runs before the transaction, outside it, with the events about to be handled: a
handler that needs another service (the case API's claim check) fetches there, so a slow peer never
holds a database connection.

Failures are of two kinds, and only one of them spends the event's delivery budget:
- **The infrastructure is down** (the database or NATS unreachable, a connection lost, a timeout,
  or a dependency the handler calls raising `Unavailable`): the runner *pauses* on this message,
  probing the database with backoff and keeping the message in progress, and handles it again
  once the dependency is back. Nothing is counted, nothing is parked, nothing is acked.
- **The handler fails on a healthy system**: the transaction rolls back, the failure is counted
  and the message naked with backoff; at `max_deliver` failures it is parked in `dead_letter`
  (visible, replayable) and acked only after that row has committed, so later events keep flowing.

JetStream's own `max_deliver` is unlimited (-1): the server never stops redelivering on its own,
so an event is acked only after its effect or its `dead_letter` row is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind
from sqlalchemy import Column, DateTime, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import tracing
from .background import Loop
from .contracts import REGISTRY
from .events import SOURCES, CloudEvent
from .natslink import NatsLink
from .outages import is_infrastructure
from .runtime import NULL_SINK, RunnerSink

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, list[CloudEvent]], Awaitable[None]]
Prepare = Callable[[list[CloudEvent]], Awaitable[None]]


def consumer_tables(metadata: MetaData) -> tuple[Table, Table]:
    """`inbox` and `dead_letter` tables in the service's schema."""
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    dead = Table(
        "dead_letter",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("event_id", UUID(as_uuid=True)),
        Column("subject", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("deliveries", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return inbox, dead


class PermanentError(Exception):
    """A message that can never be handled (unparseable, or not what it claims to be): dead-letter it at once."""


def authentic(raw: bytes, subject: str, prefix: str) -> CloudEvent:
    """The event a message carries, if it is what it claims to be: published on the subject of its own
    source (`<prefix>.<source>.<event>`: each service may publish only on its own subjects, which NATS
    enforces with each service's credentials) and from the source its type belongs to (an `intake`
    service cannot speak for the case API by naming a case event). ValueError otherwise."""
    event = CloudEvent.from_json(raw)
    expected = event.nats_subject(prefix)
    if subject != expected:
        raise ValueError(f"published on {subject}, but an event of {event.source} is published on {expected}")
    model = REGISTRY.get(event.type)
    if model is not None and SOURCES[model.SOURCE] != event.source:
        raise ValueError(f"{event.type} comes from {SOURCES[model.SOURCE]}, not {event.source}")
    return event


@dataclass
class Consumer:
    """A durable consumer of `filter_subjects` handled by `handler` in schema `schema`.

    `max_deliver`: handler failures on a healthy system before the event is parked. A service built
    with `create_service_app` leaves `schema` and `max_deliver` unset: it fills in its own schema
    and `ICTG_MAX_DELIVER`.
    """

    name: str
    filter_subjects: list[str]
    handler: Handler
    batch_handler: BatchHandler | None = None  # all of a batch's new events at once, in order (else `handler` each)
    prepare: Prepare | None = None  # before the transaction, outside it (fetch what the handler needs)
    schema: str = ""
    max_deliver: int = 0
    batch: int = 100
    ack_wait: float = 10.0  # NATS redelivers a message unacked this long (its handling is kept alive meanwhile)
    backoff_base: float = 0.5
    pause_max: float = 5.0


@dataclass(frozen=True)
class RunnerStatus:
    name: str
    paused: bool  # waiting for its database, NATS or a peer to come back


class ConsumerRunner:
    def __init__(
        self,
        consumer: Consumer,
        *,
        link: NatsLink,
        sessionmaker: async_sessionmaker[AsyncSession],
        sink: RunnerSink = NULL_SINK,
    ) -> None:
        if not consumer.schema or consumer.max_deliver < 1:
            raise ValueError(f"consumer {consumer.name!r} needs its schema and a max_deliver of at least 1")
        self.c = consumer
        self.link = link
        self.sessionmaker = sessionmaker
        self._loop: Loop | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        # Handler failures per event id, counted by this process only while the system is healthy.
        # (Replicas count apart: a poison message is parked after at most replicas x max_deliver
        # failures; an event is never dropped, whatever the count.)
        self._failures: dict[str, int] = {}
        self.paused = False
        self.sink = sink  # GET /metrics (the app's `Telemetry`), or nowhere

    def status(self) -> RunnerStatus:
        """What GET /metrics reads of this runner at a scrape."""
        return RunnerStatus(name=self.c.name, paused=self.paused)

    def _report(self, outcome: str, count: int = 1, *, started: float | None = None) -> None:
        self.sink.handled(self.c.name, outcome, count)
        if started is not None:
            self.sink.handling_took(self.c.name, time.perf_counter() - started)

    def start(self) -> None:
        self._loop = Loop(f"consumer-{self.c.name}", self._step)
        self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()

    def _config(self) -> ConsumerConfig:
        many = len(self.c.filter_subjects) > 1
        return ConsumerConfig(
            durable_name=self.c.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,  # never give up on the server side: parking is ours, after commit
            ack_wait=self.c.ack_wait,
            filter_subjects=self.c.filter_subjects if many else None,
            filter_subject=None if many else self.c.filter_subjects[0],
        )

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        js = await self.link.jetstream()
        try:
            # Create, or update a durable made by an older version (e.g. max_deliver=5).
            await js.add_consumer(self.link.stream, self._config())
        except NotFoundError:
            # A new or wiped NATS server has no stream yet: make it, then the consumer.
            await self.link.ensure_stream(js)
            await js.add_consumer(self.link.stream, self._config())
        return await js.pull_subscribe_bind(durable=self.c.name, stream=self.link.stream)

    async def _step(self) -> None:
        """One fetch and its messages. Any failure drops the subscription; the loop backs off."""
        if self._sub is None:
            self._sub = await self._subscribe()
        try:
            try:
                msgs = await self._sub.fetch(self.c.batch, timeout=1.0)
            except TimeoutError:  # nothing arrived in time (nats' own TimeoutError subclasses it)
                return
            redelivered = sum(1 for m in msgs if m.metadata.num_delivered > 1)
            if redelivered:
                self.sink.redelivered(self.c.name, redelivered)
            async with self._in_progress(msgs):
                if len(msgs) > 1 and await self._batch(msgs):
                    return
                for msg in msgs:
                    await self.handle_message(msg)
        except BaseException:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            raise

    @contextlib.asynccontextmanager
    async def _in_progress(self, msgs: Sequence[Msg]) -> AsyncIterator[None]:
        """While `msgs` are handled, tell NATS every third of `ack_wait` that those not yet acked are still
        being worked on: a slow batch, or one paused for its database, is not redelivered meanwhile. A
        process that dies stops telling, and its messages go to another consumer after `ack_wait` (10 s,
        where it had been 30 s: how long events stopped with a killed replica wait to be handled)."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.c.ack_wait / 3)
                for m in msgs:
                    if not m.is_acked:  # best effort: if NATS is down too, the inbox absorbs a redelivery
                        with contextlib.suppress(Exception):
                            await m.in_progress()

        beating = asyncio.create_task(beat())
        try:
            yield
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _batch(self, msgs: Sequence[Msg]) -> bool:
        """Handle `msgs` in one transaction and ack them; False (nothing kept, nothing acked) if any
        of them fails, for the caller to handle them one at a time."""
        try:
            events = [authentic(m.data, m.subject, self.link.subject_prefix) for m in msgs]
        except (ValueError, TypeError):
            return False  # an unparseable or forged message: parked by the one-at-a-time path
        started = time.perf_counter()
        try:
            new = await self.process_batch(events)
        except Exception as exc:  # noqa: BLE001 - each message again on its own: the rules there sort it
            log.info("batch failed: handling its events one at a time",
                     extra={"consumer": self.c.name, "events": len(events), "error": repr(exc)})  # fmt: skip
            return False
        for m in msgs:
            await m.ack()  # if NATS is gone now, the redelivery finds the inbox rows
        for e in events:
            self._failures.pop(str(e.id), None)
        self._report("duplicate", len(events) - new)
        self._report("handled", new, started=started)
        return True

    async def process_batch(self, events: Sequence[CloudEvent]) -> int:
        """Handle `events` exactly once each for this consumer, in one transaction. Returns how many
        were new (the others had been handled before, or were repeated in the batch)."""
        with tracing.event_span(f"consume {self.c.name}", events, kind=SpanKind.CONSUMER, service=self._service):
            return await self._process_batch(events)

    @property
    def _service(self) -> str | None:
        return self.sink.service

    async def _process_batch(self, events: Sequence[CloudEvent]) -> int:
        if self.c.prepare is not None:
            await self.c.prepare(list(events))
        async with self.sessionmaker() as session, session.begin():
            inserted = set(
                (
                    await session.execute(
                        text(
                            f'INSERT INTO "{self.c.schema}".inbox (consumer, event_id) '
                            "SELECT :c, unnest(CAST(:ids AS uuid[])) ON CONFLICT DO NOTHING RETURNING event_id"
                        ),
                        # in id order: two replicas inserting overlapping batches cannot deadlock
                        {"c": self.c.name, "ids": sorted({e.id for e in events})},
                    )
                ).scalars()
            )
            new: list[CloudEvent] = []
            for e in events:
                if e.id in inserted:
                    inserted.discard(e.id)  # the first of the same event twice in one batch
                    new.append(e)
            if new:
                # Each event's handling in its own trace (the batch may mix referrals), linked to the
                # batch's span: what a handler emits carries the trace of the event it handles.
                batch = tracing.current_span_context()
                name = f"process {self.c.name}"
                if self.c.batch_handler is not None:
                    with tracing.handled_together(name, new, batch=batch, service=self._service):
                        await self.c.batch_handler(session, new)
                else:
                    for e in new:
                        with tracing.handling(name, e, batch=batch, service=self._service):
                            await self.c.handler(session, e)
        return len(new)

    async def handle_message(self, msg: Msg) -> None:
        try:
            event = authentic(msg.data, msg.subject, self.link.subject_prefix)
        except (ValueError, TypeError) as exc:
            await self._park(msg, PermanentError(f"not an event of this platform: {exc}"), failures=1)
            self._report("dead_lettered")
            return
        key = str(event.id)
        pauses = 0
        started = time.perf_counter()
        while True:
            try:
                new = await self.process(event)
            except Exception as exc:  # noqa: BLE001 - sorted below: infrastructure pauses, the rest counts
                if is_infrastructure(exc) or not await self._healthy():
                    # A dependency that keeps failing while the probe passes (intake refusing the
                    # claim check, say) is asked less and less often, never hammered.
                    await self._pause(exc, first=min(0.1 * 2**pauses, self.c.pause_max))
                    pauses += 1
                    continue
                failures = self._failures.get(key, 0) + 1
                if failures >= self.c.max_deliver:
                    self._failures.pop(key, None)
                    await self._park(msg, exc, failures=failures)
                    self._report("dead_lettered")
                    return
                self._failures[key] = failures
                if len(self._failures) > 10_000:  # bounded: forget the oldest counts
                    self._failures.pop(next(iter(self._failures)))
                log.warning(
                    "event handling failed",
                    extra={"consumer": self.c.name, "event_id": key, "failures": failures, "error": repr(exc)},
                )
                await msg.nak(delay=self.c.backoff_base * 2 ** (failures - 1))
                self._report("failed")
                return
            self._failures.pop(key, None)
            await msg.ack()
            self._report("handled" if new else "duplicate", started=started)
            return

    async def _park(self, msg: Msg, exc: Exception, *, failures: int) -> None:
        """Write the `dead_letter` row (pausing while the database is down), then ack."""
        while True:
            try:
                await self._dead_letter(msg, exc, failures)
                break
            except Exception as db_exc:  # noqa: BLE001 - not parked yet: wait for the database, never ack
                await self._pause(db_exc)
        await msg.ack()
        log.error("event dead-lettered", extra={"consumer": self.c.name, "error": repr(exc), "failures": failures})

    async def _healthy(self) -> bool:
        """The database answers and NATS is connected."""
        if not self.link.connected:
            return False
        try:
            async with self.sessionmaker() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=2)
        except Exception:  # noqa: BLE001 - any failure means not healthy
            return False
        return True

    async def _pause(self, exc: BaseException, *, first: float = 0.1) -> None:
        """Wait until the infrastructure is healthy again (the fetched messages are kept from being
        redelivered meanwhile: `_in_progress`)."""
        self.paused = True
        log.warning(
            "consumer paused: a dependency is unavailable",
            extra={"consumer": self.c.name, "error": repr(exc)},
        )
        delay = first
        try:
            while True:
                await asyncio.sleep(delay)
                if await self._healthy():
                    log.info("consumer resumed", extra={"consumer": self.c.name})
                    return
                delay = min(delay * 2, self.c.pause_max)
        finally:
            self.paused = False

    async def process(self, event: CloudEvent) -> bool:
        """Handle `event` exactly once for this consumer. Returns False if it was already handled."""
        with tracing.event_span(f"consume {self.c.name}", [event], kind=SpanKind.CONSUMER, service=self._service):
            return await self._process(event)

    async def _process(self, event: CloudEvent) -> bool:
        if self.c.prepare is not None:
            await self.c.prepare([event])
        async with self.sessionmaker() as session, session.begin():
            inserted = await session.execute(
                text(
                    f'INSERT INTO "{self.c.schema}".inbox (consumer, event_id) VALUES (:c, :e) '
                    "ON CONFLICT DO NOTHING RETURNING event_id"
                ),
                {"c": self.c.name, "e": event.id},
            )
            if inserted.first() is None:
                return False
            await self.c.handler(session, event)
        return True

    async def _dead_letter(self, msg: Msg, exc: Exception, deliveries: int) -> None:
        event_id = None
        with contextlib.suppress(Exception):
            event_id = str(uuid.UUID(json.loads(msg.data)["id"]))
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    f'INSERT INTO "{self.c.schema}".dead_letter (consumer, event_id, subject, payload, error, deliveries) '
                    "VALUES (:c, CAST(:e AS uuid), :s, :p, :err, :d)"
                ),
                {
                    "c": self.c.name,
                    "e": event_id,
                    "s": msg.subject,
                    "p": msg.data.decode("utf-8", "replace"),
                    "err": repr(exc)[:4000],
                    "d": deliveries,
                },
            )

    async def replay_dead_letters(self) -> tuple[int, int]:
        """Run the handler again on every parked message of this consumer (after a fix).

        A message that now succeeds leaves the dead-letter table. Returns (replayed, still_failing).
        """
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    text(
                        f'SELECT id, subject, payload FROM "{self.c.schema}".dead_letter WHERE consumer = :c ORDER BY id'
                    ),
                    {"c": self.c.name},
                )
            ).all()
        ok = failed = 0
        for row in rows:
            try:
                await self.process(authentic(row.payload.encode(), row.subject, self.link.subject_prefix))
            except Exception:  # noqa: BLE001 - it stays parked; the count says so
                failed += 1
                continue
            async with self.sessionmaker() as session, session.begin():
                await session.execute(text(f'DELETE FROM "{self.c.schema}".dead_letter WHERE id = :i'), {"i": row.id})
            ok += 1
        return ok, failed
