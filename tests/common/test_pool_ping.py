"""Pooled connections: pinged after an idle spell, so a connection that died in the pool (a restart, a
proxy's idle timeout) is replaced before use; not pinged while in steady use (each ping was three round
trips per request)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from ictg_common import db


async def _backend(engine: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.fixture
async def pooled(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An engine of one pooled connection, and how many times it has pinged."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.3)
    engine = db.create_engine(database_url, pool_size=1, max_overflow=0)
    pings = [0]
    real = engine.sync_engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return bool(real(dbapi_connection))

    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counted)
    yield engine, pings
    await engine.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(pooled: Any) -> None:
    engine, pings = pooled
    first = await _backend(engine)
    for _ in range(20):
        assert await _backend(engine) == first  # the same pooled connection each time
    assert pings[0] == 0


async def test_a_connection_that_died_in_the_pool_is_replaced_before_use(pooled: Any, database_url: str) -> None:
    engine, pings = pooled
    dead = await _backend(engine)
    admin = await asyncpg.connect(db.plain_url(database_url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", dead)
    finally:
        await admin.close()
    await asyncio.sleep(0.4)  # idle for longer than PING_AFTER_IDLE_SECONDS
    # The caller sees no error: the ping failed, the pool made a new connection.
    assert await _backend(engine) != dead
    assert pings[0] == 1
