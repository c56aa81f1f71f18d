"""Transactional outbox: the table each service includes, the write, and the relay.

A state change and its event commit in one transaction (`emit`). The relay, running in the
producing process, is woken by LISTEN/NOTIFY (and polls as a fallback), claims unpublished rows
and marks them published in one `UPDATE … RETURNING` over `FOR UPDATE SKIP LOCKED` (replicas never
publish the same row concurrently), then publishes each, in id order, to JetStream with
`Nats-Msg-Id` = event id (the stream drops duplicates within its window), and commits. NATS down ⇒
the transaction rolls back, the rows are unpublished again, and the relay retries with backoff.

A batch is published at once: every message written to the connection in id order (the server keeps
one connection's messages in that order), then the stream's acknowledgements awaited together, not one
round trip per message. On a busy process each round trip waits for its event loop to come round
again: one at a time, intake's relay fell minutes behind the referrals it answered at 50 a second.

Order is kept but not promised. When a batch fails part way (the stream's leader lost mid-batch), the
messages the stream took are dropped as duplicates when the batch is published again, so one it did not
take lands after later ones; and two replicas' relays publish their claims side by side. Metrics' fold
gives the same facts in any order, and the case API retries an event about a referral whose case is not
open yet (`CaseNotOpen`) until it is. Webhooks route a case event to the authority the case API names on
it as responsible at the event's own time, so they need no order either; only events written before the
case API named it are routed by moves learnt in stream order (`MoveNotSeen` holds one that overtook its
move until the move is routed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from datetime import timedelta
from typing import Any

from nats.js.errors import NoStreamResponseError
from opentelemetry.trace import SpanKind
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Insert,
    MetaData,
    String,
    Table,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from . import tracing
from .background import Loop
from .events import CloudEvent
from .natslink import NatsLink
from .notify import Listener
from .runtime import NULL_SINK, RunnerSink

log = logging.getLogger(__name__)


def outbox_table(metadata: MetaData) -> Table:
    """The `outbox` table in the service's own schema (include it in the service's migrations)."""
    return Table(
        "outbox",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("subject", String(200), nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


async def emit(session: AsyncSession, event: CloudEvent, *, schema: str, subject_prefix: str) -> None:
    """Add `event` to the outbox inside the caller's transaction; NOTIFY fires on commit."""
    # One statement, one round trip: the row and the NOTIFY (delivered when the transaction commits).
    await session.execute(emit_statement(schema), emit_params(event, schema=schema, subject_prefix=subject_prefix))


@functools.cache
def emit_statement(schema: str) -> Insert:
    """`emit`'s statement (the row and its NOTIFY), built once per schema, its parameters named `outbox_*`
    (`emit_params`). A write that has an event can carry it as a CTE of its own statement
    (`.add_cte(emit_statement(schema).cte("emitted"))`): a round trip fewer."""
    outbox = table("outbox", column("id"), column("subject"), column("payload"), schema=schema)
    notify = select(func.pg_notify(bindparam("outbox_channel", type_=String), literal("")).label("n")).subquery()
    row = select(
        bindparam("outbox_id", type_=UUID(as_uuid=True)),
        bindparam("outbox_subject", type_=String),
        cast(bindparam("outbox_payload", type_=String), JSONB),
    ).select_from(notify)
    return insert(outbox).from_select(["id", "subject", "payload"], row)


def emit_params(event: CloudEvent, *, schema: str, subject_prefix: str) -> dict[str, Any]:
    return {
        "outbox_id": event.id,
        "outbox_subject": event.nats_subject(subject_prefix),
        "outbox_payload": event.model_dump_json(),
        "outbox_channel": notify_channel(schema),
    }


# How long the relay waits for the stream to acknowledge a whole batch (a batch is published at once).
PUBLISH_TIMEOUT_SECONDS = 5.0


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        link: NatsLink,
        *,
        schema: str,
        database_url: str,
        poll_seconds: float = 1.0,
        batch_size: int = 200,
        retention: timedelta = timedelta(days=7),
        sink: RunnerSink = NULL_SINK,
    ) -> None:
        self.engine = engine
        self.link = link
        self.schema = schema
        self.database_url = database_url
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.retention = retention
        self._wake = asyncio.Event()
        self._loop: Loop | None = None
        self._listener = Listener(database_url, notify_channel(schema), self._wake)
        self._last_prune = 0.0
        self.sink = sink  # GET /metrics (the app's `Telemetry`), or nowhere

    def start(self) -> None:
        self._loop = Loop(f"outbox-relay-{self.schema}", self._step)
        self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
        await self._listener.close()

    async def _step(self) -> None:
        """Publish what is pending, then sleep until NOTIFY (or the poll interval)."""
        try:
            await self._listener.ensure()
            published = await self.publish_pending()
        except NoStreamResponseError:
            # Nothing stores our subjects (a new or wiped NATS server): create the stream again.
            with contextlib.suppress(Exception):
                await self.link.ensure_stream(await self.link.jetstream())
            raise
        except Exception:
            await self._listener.close()
            raise
        if published >= self.batch_size:
            return  # more may be waiting
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of committed, unpublished events. Returns how many were published."""
        js = await asyncio.wait_for(self.link.jetstream(), timeout=5)
        async with self.engine.begin() as conn:
            # Claimed and marked in one statement (a round trip fewer): if publishing fails, the
            # transaction rolls back and the rows are unpublished again. In id order, as written.
            claimed = (
                await conn.execute(
                    text(
                        f'UPDATE "{self.schema}".outbox SET published_at = now() WHERE id IN '
                        f'(SELECT id FROM "{self.schema}".outbox WHERE published_at IS NULL ORDER BY id LIMIT :n '
                        "FOR UPDATE SKIP LOCKED) "
                        "RETURNING id, subject, payload::text AS payload, payload->>'traceparent' AS traceparent"
                    ),
                    {"n": self.batch_size},
                )
            ).all()
            rows = sorted(claimed, key=lambda r: r.id)
            acks: list[asyncio.Future[Any]] = []
            try:
                for row in rows:
                    # A span in the trace of the request that wrote the event (none if tracing is off).
                    with tracing.child_of(
                        row.traceparent, f"publish {row.subject}", kind=SpanKind.PRODUCER,
                        service=self.sink.service,
                        attributes={"messaging.system": "nats", "messaging.destination.name": row.subject,
                                    "messaging.message.id": str(row.id)},
                    ):  # fmt: skip
                        acks.append(
                            await js.publish_async(
                                row.subject, row.payload.encode(), headers={"Nats-Msg-Id": str(row.id)}
                            )
                        )
                if acks:
                    await asyncio.wait_for(asyncio.gather(*acks), timeout=PUBLISH_TIMEOUT_SECONDS)
            finally:
                for ack in acks:  # a failed batch: its unanswered acks no longer hold the client's pending slots
                    ack.cancel()
            if not rows and time.monotonic() - self._last_prune > 3600:
                self._last_prune = time.monotonic()
                await conn.execute(
                    text(
                        f'DELETE FROM "{self.schema}".outbox WHERE published_at < now() - make_interval(secs => :secs)'
                    ),
                    {"secs": self.retention.total_seconds()},
                )
        if rows:
            log.info("outbox published", extra={"count": len(rows), "schema": self.schema})
            self.sink.published(len(rows))
        return len(rows)
