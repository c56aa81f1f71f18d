"""Migration 0009 puts `metrics.child`'s columns in the order queries read them, keeping every child, every
value, the primary key and the indexes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import asyncpg
from alembic import command

from ictg_common.db import plain_url
from ictg_common.devinfra import ensure_database
from ictg_common.migrate import alembic_config
from ictg_metrics.admin.rebuild import ROW_COLUMNS
from ictg_metrics.app import MIGRATIONS
from ictg_metrics.models import Child
from ictg_metrics.synth.bulk import _chunk_rows

LATER = {"return_due_on", "return_interview_met"}  # added by migration 0012, after this one


async def _table(conn: asyncpg.Connection) -> tuple[list[str], dict[object, dict[str, object]], list[str]]:
    columns = [
        r["attname"]
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'metrics.child'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum"
        )
    ]
    rows = {r["child_id"]: dict(r) for r in await conn.fetch("SELECT * FROM metrics.child")}
    rows[None] = {  # each column's type, NOT NULL and default
        r["attname"]: (r["type"], r["attnotnull"], r["default"])
        for r in await conn.fetch(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) AS default FROM pg_attribute a LEFT JOIN pg_attrdef d "
            "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = 'metrics.child'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
        )
    }
    indexes = sorted(
        r["indexdef"] for r in await conn.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'child'")
    )
    return columns, rows, indexes


async def _order_at_0008(database_url: str) -> list[str]:
    """The columns as migrations 0001-0008 create them, in a database of its own."""
    url = f"{plain_url(database_url).rsplit('/', 1)[0]}/ictg_t_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(ensure_database, url)
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(MIGRATIONS, url), "0008")
        conn = await asyncpg.connect(url)
        try:
            return (await _table(conn))[0]
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(f"{url.rsplit('/', 1)[0]}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()


async def test_children_keep_every_value_in_the_new_order(database_url: str) -> None:
    cfg = alembic_config(MIGRATIONS, database_url)
    await asyncio.to_thread(command.downgrade, cfg, "0008")  # 0009's downgrade: the order before it
    _events, children = _chunk_rows(7, 0, 40, date(2017, 2, 1), date(2020, 1, 31))  # folded synthetic children
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        # the columns of 0008 alone (later migrations add others the fold now fills)
        existing = set((await _table(conn))[0])
        keep = [i for i, c in enumerate(ROW_COLUMNS) if c in existing]
        await conn.copy_records_to_table("child", schema_name="metrics", columns=[ROW_COLUMNS[i] for i in keep],
                                         records=[tuple(row[i] for i in keep) for row in children])  # fmt: skip
        old_columns, before, indexes_before = await _table(conn)
        assert old_columns == await _order_at_0008(database_url)  # the downgrade gave the order of 0001-0008 back
        assert old_columns.index("record_key") == 57 and old_columns[3] == "facts"
        await asyncio.to_thread(command.upgrade, cfg, "0009")  # the migration under test, not the later ones
        columns, after, indexes_after = await _table(conn)
        duplicate = next(k for k in after if k is not None)
        try:
            await conn.execute(
                "INSERT INTO metrics.child (child_id, referred, facts) VALUES ($1, true, '{}')", duplicate
            )
            raise AssertionError("the primary key was lost")
        except asyncpg.UniqueViolationError:
            pass
    finally:
        await conn.close()
    assert len(after) == 41 and after[None]["topic"] == ("text[]", True, "'{}'::text[]")
    assert after == before  # every child, every value; every column's type, NOT NULL and default
    assert columns == [c.name for c in Child.__table__.columns if c.name in columns]  # the model's order
    assert set(c.name for c in Child.__table__.columns) - set(columns) <= LATER
    assert columns[:4] == ["child_id", "referred", "received_on", "record_key"] and columns[-1] == "facts"
    assert indexes_after == indexes_before
