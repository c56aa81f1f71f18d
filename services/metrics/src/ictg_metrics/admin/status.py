"""Where the last rebuild stands, kept in the database so every replica answers the same.

One row, `metrics.rebuild_status`. The replica that runs a rebuild (from the request that starts it
to the end, stream replay included) holds the advisory lock `JOB_LOCK` on a connection of its own,
and writes the row through it. So a second start on any replica is refused while one runs, and a
row still saying `running` whose lock nobody holds belongs to a replica that died mid-rebuild: it
reads as `failed`, and a new rebuild may start.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.db import plain_url

from .answers import RebuildStatus

JOB_LOCK = 7_248_301_118  # pg advisory lock (session level): one rebuild job at a time, across replicas

_HELD = (
    "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    f" AND classid::bigint = {JOB_LOCK >> 32} AND objid::bigint = {JOB_LOCK & 0xFFFFFFFF})"
)


class RebuildJob:
    """A claimed rebuild: `finish` records how it ended and lets the next one start."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @classmethod
    async def claim(cls, database_url: str, *, requested_by: str) -> RebuildJob | None:
        """Take the job lock and mark the rebuild running; None if one is running already."""
        conn = await asyncpg.connect(plain_url(database_url))
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", JOB_LOCK):
                await conn.close()
                return None
            await conn.execute(
                "INSERT INTO metrics.rebuild_status (id, status, requested_by, started_at) "
                "VALUES (1, 'running', $1, now()) ON CONFLICT (id) DO UPDATE SET status = 'running', "
                "requested_by = $1, started_at = now(), finished_at = NULL, result = NULL, error = NULL",
                requested_by,
            )
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def finish(self, *, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Record `done` with `result`, or `failed` with `error`; closing the connection frees the lock."""
        try:
            await self._conn.execute(
                "UPDATE metrics.rebuild_status SET status = $1, finished_at = now(), result = $2::jsonb, "
                "error = $3 WHERE id = 1",
                "failed" if error is not None else "done",
                None if result is None else json.dumps(result),
                None if error is None else error[:500],
            )
        finally:
            await self._conn.close()


async def read(session: AsyncSession) -> RebuildStatus:
    """The last rebuild: `idle` (never), `running`, `done` (with its `result`) or `failed` (`error`)."""
    row = (
        await session.execute(
            text(
                f"SELECT status, requested_by, started_at, finished_at, result, error, {_HELD} AS held "
                "FROM metrics.rebuild_status WHERE id = 1"
            )
        )
    ).one_or_none()
    if row is None:
        return RebuildStatus(status="idle")
    status, error = row.status, row.error
    if status == "running" and not row.held:
        status, error = "failed", "the replica running it stopped before it finished"
    out: dict[str, Any] = {"status": status, "requested_by": row.requested_by, "started_at": row.started_at}
    if row.finished_at is not None:
        out["finished_at"] = row.finished_at
    if status == "done":
        out["result"] = row.result
    if status == "failed":
        out["error"] = error
    return RebuildStatus.model_validate(out)
