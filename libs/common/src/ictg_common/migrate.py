"""Alembic glue: each service's env.py calls `run_env`; runners call `upgrade`.

Every service keeps its own version table inside its own schema, so the three migration histories
never meet.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from .db import async_url


def alembic_config(script_location: Path, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(script_location: Path, database_url: str, revision: str = "head") -> None:
    """Migrate one service's schema to `revision` (blocking; call from a thread in async code)."""
    command.upgrade(alembic_config(script_location, database_url), revision)


def run_env(metadata: MetaData, schema: str) -> None:
    """Body of a service's migrations/env.py (online, async engine)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            # Serialise concurrent migrators (replicas starting together) on one advisory lock.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"alembic:{schema}"})
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(run())
