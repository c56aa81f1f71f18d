"""Settings every new connection of an engine gets in its startup packet (`connection_settings`): held by
each connection of a pool opened at once, and a custom setting of an extension too."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from ictg_common.db import CONNECTION_SETTINGS, connection_settings, create_engine


async def test_every_new_connection_starts_with_the_settings(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=8)
    connection_settings(parallel_setup_cost=10, pg_trgm__similarity_threshold=0.1)(engine)
    try:

        async def shown() -> tuple[str, str, object]:
            async with engine.connect() as conn:
                cost = await conn.scalar(text("SHOW parallel_setup_cost"))
                trgm = await conn.scalar(text("SELECT current_setting('pg_trgm.similarity_threshold')"))
                await asyncio.sleep(0.05)  # hold it, so the others open connections of their own
                return str(cost), str(trgm), (await conn.get_raw_connection()).info[CONNECTION_SETTINGS]

        results = await asyncio.gather(*(shown() for _ in range(8)))
    finally:
        await engine.dispose()
    assert {(cost, trgm) for cost, trgm, _ in results} == {("10", "0.1")}
    assert all(info == {"parallel_setup_cost": 10, "pg_trgm.similarity_threshold": 0.1} for *_, info in results)
