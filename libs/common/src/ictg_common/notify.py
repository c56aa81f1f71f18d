"""Wake a worker when a transaction commits: Postgres NOTIFY, heard by a LISTEN connection.

The writer calls `notify(session, channel)` inside its transaction (Postgres delivers it on commit,
never for a rollback); the worker keeps a `Listener` that sets its `asyncio.Event`. Workers still
poll as a fallback: a notification lost with a dropped connection only costs one poll interval.
Used by the outbox relay and the webhooks delivery worker.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .db import plain_url


async def notify(session: AsyncSession, channel: str) -> None:
    """NOTIFY `channel` when the session's transaction commits."""
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Listener:
    """A LISTEN connection on `channel` that sets `wake` on every notification."""

    def __init__(self, database_url: str, channel: str, wake: asyncio.Event) -> None:
        self.database_url, self.channel, self.wake = database_url, channel, wake
        self._conn: asyncpg.Connection | None = None

    async def ensure(self) -> None:
        """(Re)open the connection if it is not open."""
        if self._conn is not None and not self._conn.is_closed():
            return
        self._conn = await asyncpg.connect(plain_url(self.database_url))
        await self._conn.add_listener(self.channel, lambda *_: self.wake.set())

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 2)
            self._conn = None
