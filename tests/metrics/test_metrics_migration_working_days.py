"""Migration 0007 fills the working-day referral delay of children stored before it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import asyncpg
from alembic import command

from ictg_common.db import plain_url
from ictg_common.migrate import alembic_config, upgrade
from ictg_metrics.app import MIGRATIONS


async def test_upgrade_fills_existing_children(database_url: str) -> None:
    cfg = alembic_config(MIGRATIONS, database_url)
    await asyncio.to_thread(command.downgrade, cfg, "0006")
    # (identified_on, received_on): Fri → Tue; over Christmas 2026; not yet referred; identified unknown
    rows = [
        (uuid.uuid4(), date(2026, 11, 20), date(2026, 11, 24)),
        (uuid.uuid4(), date(2026, 12, 24), date(2026, 12, 29)),
        (uuid.uuid4(), date(2026, 1, 5), date(2026, 3, 2)),
        (uuid.uuid4(), None, None),
        (uuid.uuid4(), None, date(2026, 3, 2)),
    ]
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        await conn.executemany(
            "INSERT INTO metrics.child (child_id, referred, facts, identified_on, received_on) "
            "VALUES ($1, $3::date IS NOT NULL, '{}', $2, $3)",
            rows,
        )
        await asyncio.to_thread(upgrade, MIGRATIONS, database_url)
        got = {
            r["child_id"]: (r["referral_delay_working_days"], r["referral_delay_working_days_band"])
            for r in await conn.fetch(
                "SELECT child_id, referral_delay_working_days, referral_delay_working_days_band FROM metrics.child"
            )
        }
    finally:
        await conn.close()
    assert [got[r[0]] for r in rows] == [(2, "2"), (1, "0-1"), (40, "40+"), (None, None), (None, None)]
