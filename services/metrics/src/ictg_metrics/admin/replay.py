"""Re-read the JetStream stream from its first message into `metrics.event` (idempotent by event id).

Run before a rebuild when the stored events may be incomplete (a restored backup, a consumer bug):
an ephemeral ordered consumer reads every message up to the stream's last sequence at the start,
and each event not yet stored is added. Events the stream no longer holds (retention) stay as they
are: `metrics.event` is then the longer record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy

from ictg_common import clock
from ictg_common.db import plain_url
from ictg_common.events import CloudEvent
from ictg_common.natsauth import NatsCredentials
from ictg_common.natslink import connect

from ..children.facts import child_key

log = logging.getLogger(__name__)
BATCH = 5_000


async def _store(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> int:
    async with conn.transaction():
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS replayed (LIKE metrics.event) ON COMMIT DELETE ROWS")
        await conn.copy_records_to_table(
            "replayed", records=rows, columns=("id", "type", "child_id", "time", "data", "stored_at")
        )
        status = await conn.execute("INSERT INTO metrics.event SELECT * FROM replayed ON CONFLICT (id) DO NOTHING")
        # A child with an event added here is no longer described by its fold state: its next event refolds
        # the whole history (were the rebuild after this to fail, the state would otherwise leave it out).
        await conn.execute("DELETE FROM metrics.child_fold WHERE child_id IN (SELECT child_id FROM replayed)")
    return int(status.split()[-1])


async def replay_stream(
    database_url: str, nats_url: str, *, stream: str, subject_prefix: str, credentials: NatsCredentials | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:  # fmt: skip
    """Add every event of the stream missing from `metrics.event`, reading it as `credentials`' user
    (metrics' own). Returns read / added / unreadable counts."""
    nc = await connect(nats_url, credentials, connect_timeout=5, max_reconnect_attempts=3)
    conn = await asyncpg.connect(plain_url(database_url))
    read = added = unreadable = 0
    try:
        js = nc.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        rows: list[tuple[Any, ...]] = []
        if last:
            sub = await js.subscribe(
                f"{subject_prefix}.>", stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            try:
                while True:
                    try:
                        msg = await sub.next_msg(timeout=10)
                    except NatsTimeout:
                        log.warning("stream replay stopped early: no message for 10 s", extra={"read": read})
                        break
                    read += 1
                    try:
                        e = CloudEvent.from_json(msg.data)
                        key = child_key(e.type, e.subject, e.data)
                        if key is None:
                            continue  # not about a child
                        child = UUID(key)
                        rows.append((e.id, e.type, child, e.time, json.dumps(e.data), clock.utcnow()))
                    except (ValueError, TypeError, KeyError):
                        unreadable += 1  # the live consumer dead-letters these; a rebuild cannot use them either
                    if len(rows) >= BATCH:
                        added += await _store(conn, rows)
                        rows = []
                    if progress:
                        progress(1)
                    if msg.metadata.sequence.stream >= last:
                        break
            finally:
                await sub.unsubscribe()
        if rows:
            added += await _store(conn, rows)
    finally:
        await conn.close()
        await nc.close()
    return {"read": read, "added": added, "unreadable": unreadable}
