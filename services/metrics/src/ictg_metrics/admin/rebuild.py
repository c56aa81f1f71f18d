"""Rebuild: refold every child from `metrics.event` into a fresh table and swap it in.

Queries keep answering from the live `metrics.child` while `metrics.child_next` is built (bulk
COPY, indexes afterwards). The swap is one short transaction: it locks `child` against writes (reads
go on), refolds the children whose events arrived since the build started, renames the tables, drops the
old one and empties the fold states (`metrics.child_fold`: each is refolded at its child's next event). A consumer blocked on the lock resolves `metrics.child` again once the swap
commits, so its write lands in the new table.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ictg_common.db import plain_url

from ..children.facts import COLUMNS, Ev
from ..children.store import child_row

log = logging.getLogger(__name__)

LOCK_KEY = 7_248_301_117  # pg advisory lock: one rebuild at a time
MARGIN = "2 minutes"  # covers consumer transactions in flight and app/DB clock skew at the build's start
ROW_COLUMNS = ("child_id", "referred", "record_key", *COLUMNS)
BATCH = 2_000
SWAP_ATTEMPTS = 5
SWAP_LOCK_TIMEOUT = "3s"


# The row's inserting transaction as a 64-bit id (xmin is 32-bit: add the current epoch, one back
# if that lands in the future), to ask whether the build's snapshot saw it.
_XID8 = (
    "(CASE WHEN ((pg_current_xact_id()::text::bigint >> 32) << 32) + xmin::text::bigint > pg_current_xact_id()::text::bigint "
    "THEN ((pg_current_xact_id()::text::bigint >> 32) << 32) + xmin::text::bigint - 4294967296 "
    "ELSE ((pg_current_xact_id()::text::bigint >> 32) << 32) + xmin::text::bigint END)"
)
LATE = (
    f"SELECT DISTINCT child_id FROM metrics.event WHERE stored_at >= $1::timestamptz - interval '{MARGIN}' "
    f"AND NOT pg_visible_in_snapshot({_XID8}::text::xid8, $2::text::pg_snapshot)"
)


class RebuildRunning(Exception):
    """Another rebuild holds the lock."""


@dataclass
class RebuildResult:
    children: int
    events: int
    refolded_at_swap: int
    started_at: datetime
    finished_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "children": self.children, "events": self.events, "refolded_at_swap": self.refolded_at_swap,
            "started_at": self.started_at.isoformat(), "finished_at": self.finished_at.isoformat(),
            "seconds": round((self.finished_at - self.started_at).total_seconds(), 3),
        }  # fmt: skip


def child_record(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(json.dumps(row[c]) if c == "facts" else row[c] for c in ROW_COLUMNS)


async def _children(
    conn: asyncpg.Connection, where: str = "", args: tuple[Any, ...] = ()
) -> AsyncIterator[tuple[UUID, list[Ev]]]:
    """Each child's events, one child at a time (a server-side cursor ordered by child)."""
    current: UUID | None = None
    events: list[Ev] = []
    sql = f"SELECT child_id, id, type, time, data FROM metrics.event {where} ORDER BY child_id"
    async for r in conn.cursor(sql, *args, prefetch=5_000):
        if r["child_id"] != current:
            if current is not None:
                yield current, events
            current, events = r["child_id"], []
        events.append(Ev(str(r["id"]), r["type"], r["time"], json.loads(r["data"])))
    if current is not None:
        yield current, events


async def _index_ddl(conn: asyncpg.Connection) -> list[tuple[str, str, bool]]:
    """(name, definition, is primary key) of every index on metrics.child."""
    rows = await conn.fetch(
        "SELECT i.indexname, i.indexdef, EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname "
        "AND k.contype = 'p') AS pk FROM pg_indexes i WHERE i.schemaname = 'metrics' AND i.tablename = 'child'"
    )
    return [(r["indexname"], r["indexdef"], r["pk"]) for r in rows]


async def rebuild(database_url: str, *, progress: Callable[[int], None] | None = None) -> RebuildResult:
    """Refold every child into a fresh table and swap it in. Raises RebuildRunning if one is under way."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            raise RebuildRunning("a rebuild is already running")
        try:
            return await _rebuild(conn, progress)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await conn.close()


async def _rebuild(conn: asyncpg.Connection, progress: Callable[[int], None] | None) -> RebuildResult:
    started = await conn.fetchval("SELECT now()")
    await conn.execute("DROP TABLE IF EXISTS metrics.child_next")
    await conn.execute("CREATE TABLE metrics.child_next (LIKE metrics.child INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    children = events = 0
    batch: list[tuple[Any, ...]] = []
    async with conn.transaction(isolation="repeatable_read", readonly=False):
        snapshot = await conn.fetchval("SELECT pg_current_snapshot()::text")  # the build's snapshot
        async for child_id, evs in _children(conn):
            batch.append(child_record(child_row(child_id, evs)))
            children, events = children + 1, events + len(evs)
            if len(batch) >= BATCH:
                await conn.copy_records_to_table(
                    "child_next", schema_name="metrics", records=batch, columns=ROW_COLUMNS
                )
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            await conn.copy_records_to_table("child_next", schema_name="metrics", records=batch, columns=ROW_COLUMNS)
            if progress:
                progress(len(batch))
    indexes = await _index_ddl(conn)
    for name, ddl, pk in indexes:
        await conn.execute(
            ddl.replace(f"INDEX {name} ON metrics.child ", f"INDEX {name}_next ON metrics.child_next ", 1)
        )
        if pk:
            await conn.execute(
                f"ALTER TABLE metrics.child_next ADD CONSTRAINT {name}_next PRIMARY KEY USING INDEX {name}_next"
            )
    await conn.execute("ANALYZE metrics.child_next")
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            late = await _swap(conn, indexes, started=started, snapshot=snapshot)
            break
        except asyncpg.exceptions.LockNotAvailableError:
            # A long analyst query held the table: let it finish rather than queue every reader behind us.
            log.warning("rebuild swap waited too long for readers; retrying", extra={"attempt": attempt})
            if attempt == SWAP_ATTEMPTS:
                raise
            await asyncio.sleep(attempt)
    finished = await conn.fetchval("SELECT clock_timestamp()")
    log.info("rebuild finished", extra={"children": children, "events": events, "late": len(late)})
    return RebuildResult(
        children=children, events=events, refolded_at_swap=len(late), started_at=started, finished_at=finished
    )


async def _swap(conn: asyncpg.Connection, indexes: list[Any], *, started: Any, snapshot: Any) -> list[Any]:
    """Refold the children the build could not see, then swap `child_next` in, in one transaction."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE metrics.child IN EXCLUSIVE MODE")  # writers wait, readers go on
        late = [r["child_id"] for r in await conn.fetch(LATE, started, snapshot)]
        if late:
            await conn.execute("DELETE FROM metrics.child_next WHERE child_id = ANY($1::uuid[])", late)
            rows = [
                child_record(child_row(cid, evs))
                async for cid, evs in _children(conn, "WHERE child_id = ANY($1::uuid[])", (late,))
            ]
            await conn.copy_records_to_table("child_next", schema_name="metrics", records=rows, columns=ROW_COLUMNS)
        # The renames need ACCESS EXCLUSIVE: wait for running readers only briefly.
        await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
        # Every child's fold state goes: the next event about a child refolds its history and stores
        # the state again (children/store.py). A consumer takes its lock on `child` before it reads a
        # state, so none reads or writes one while this transaction holds `child`.
        await conn.execute("TRUNCATE metrics.child_fold")
        await conn.execute("ALTER TABLE metrics.child RENAME TO child_old")
        await conn.execute("ALTER TABLE metrics.child_next RENAME TO child")
        await conn.execute("DROP TABLE metrics.child_old")
        for name, _, pk in indexes:
            if pk:
                await conn.execute(f"ALTER TABLE metrics.child RENAME CONSTRAINT {name}_next TO {name}")
            else:
                await conn.execute(f"ALTER INDEX metrics.{name}_next RENAME TO {name}")
    return late
