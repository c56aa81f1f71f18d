"""Consumer runner: durable pull consumer, handler in a DB transaction, inbox dedupe, dead letters.

For each message: open a transaction, insert `(consumer, event_id)` into the inbox (a conflict
means the event was already handled: ack and move on), run the handler, commit, then ack. A
handler error rolls everything back and naks with backoff; on the `max_deliver`-th failure the
message is parked in `dead_letter` (visible, replayable) and acked, so later events keep flowing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Column, DateTime, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .background import Loop
from .events import CloudEvent
from .natslink import NatsLink

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


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
    """A message that can never be handled (unparseable): dead-letter it at once."""


@dataclass
class Consumer:
    """A durable consumer of `filter_subjects` handled by `handler` in schema `schema`."""

    name: str
    filter_subjects: list[str]
    handler: Handler
    schema: str
    max_deliver: int = 5
    batch: int = 100
    ack_wait: float = 30.0
    backoff_base: float = 0.5


class ConsumerRunner:
    def __init__(self, consumer: Consumer, *, link: NatsLink, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.c = consumer
        self.link = link
        self.sessionmaker = sessionmaker
        self._loop: Loop | None = None

    def start(self) -> None:
        self._loop = Loop(f"consumer-{self.c.name}", self._consume)
        self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()

    async def _subscribe(self):
        js = await self.link.jetstream()
        config = ConsumerConfig(
            durable_name=self.c.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.c.max_deliver,
            ack_wait=self.c.ack_wait,
            filter_subjects=self.c.filter_subjects if len(self.c.filter_subjects) > 1 else None,
            filter_subject=self.c.filter_subjects[0] if len(self.c.filter_subjects) == 1 else None,
        )
        return await js.pull_subscribe(
            self.c.filter_subjects[0], durable=self.c.name, stream=self.link.stream, config=config
        )

    async def _consume(self) -> None:
        sub = await self._subscribe()
        while True:
            try:
                msgs = await sub.fetch(self.c.batch, timeout=1.0)
            except NatsTimeout:
                continue
            for msg in msgs:
                await self.handle_message(msg)

    async def handle_message(self, msg: Msg) -> None:
        deliveries = msg.metadata.num_delivered if msg.reply else 1
        try:
            try:
                event = CloudEvent.from_json(msg.data)
            except (ValueError, TypeError) as exc:
                raise PermanentError(f"not a CloudEvent: {exc}") from exc
            await self.process(event)
        except Exception as exc:  # noqa: BLE001 - every handler failure is retried, then parked
            permanent = isinstance(exc, PermanentError)
            if permanent or deliveries >= self.c.max_deliver:
                await self._dead_letter(msg, exc, deliveries)
                await msg.ack()
                log.error("event dead-lettered", extra={"consumer": self.c.name, "error": repr(exc)})
            else:
                await msg.nak(delay=self.c.backoff_base * 2 ** (deliveries - 1))
                log.warning("event handling failed", extra={"consumer": self.c.name, "error": repr(exc)})
            return
        await msg.ack()

    async def process(self, event: CloudEvent) -> bool:
        """Handle `event` exactly once for this consumer. Returns False if it was already handled."""
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
                    text(f'SELECT id, payload FROM "{self.c.schema}".dead_letter WHERE consumer = :c ORDER BY id'),
                    {"c": self.c.name},
                )
            ).all()
        ok = failed = 0
        for row in rows:
            try:
                await self.process(CloudEvent.from_json(row.payload.encode()))
            except Exception:  # noqa: BLE001 - it stays parked; the count says so
                failed += 1
                continue
            async with self.sessionmaker() as session, session.begin():
                await session.execute(text(f'DELETE FROM "{self.c.schema}".dead_letter WHERE id = :i'), {"i": row.id})
            ok += 1
        return ok, failed
