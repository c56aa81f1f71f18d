"""The Postgres standby mode: an embedded primary with a synchronous streaming standby, and a service's
engine on a multi-host URL (`target_session_attrs=read-write`) that follows the primary through a
failover.

- A libpq multi-host URL becomes the form SQLAlchemy's asyncpg dialect takes (every host with its port),
  and stays a libpq one for asyncpg.connect.
- A commit answered on the primary is already on the standby (synchronous replication).
- With the primary killed and the standby not yet promoted, a write fails as an outage (a 503, not a
  500); once the standby is promoted, the same engine writes to it, and so does a plain asyncpg
  connection (the LISTEN connections') from the same URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy import text

from ictg_common.db import async_url, create_engine, plain_url
from ictg_common.devinfra import (
    STANDBY_NAME,
    EmbeddedPostgres,
    EmbeddedPostgresStandby,
    Infra,
    ensure_database,
    multi_host_url,
    port_open,
)
from ictg_common.outages import is_infrastructure
from tests.support.faults_harness import crash_postgres
from tests.support.platform import ROOT

pytestmark = pytest.mark.timeout(180)


def test_a_multi_host_url_is_given_to_sqlalchemy_with_its_hosts_in_the_query() -> None:
    url = "postgresql://ictg:s%40cret@db-a:5433,db-b/ictg?target_session_attrs=read-write"
    assert async_url(url) == (
        "postgresql+asyncpg://ictg:s%40cret@/ictg?host=db-a:5433&host=db-b:5432&target_session_attrs=read-write"
    )
    assert plain_url(url) == url
    assert async_url("postgres://u@h:5/d") == "postgresql+asyncpg://u@h:5/d"  # one host: as before


@pytest.fixture
def servers() -> Iterator[tuple[EmbeddedPostgres, EmbeddedPostgresStandby]]:
    root = ROOT / ".run" / f"pg-standby-test-{uuid.uuid4().hex[:8]}"
    primary = EmbeddedPostgres(root / "pg", fast=True, synchronous_standby=STANDBY_NAME)
    standby = EmbeddedPostgresStandby(root / "pg-standby", primary)
    try:
        primary.start()
        standby.start()
        yield primary, standby
    finally:
        primary.stop()
        standby.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _replayed_connection(port: int) -> asyncpg.Connection:
    """A connection to the standby's copy of the database, once its replay has created it (a synchronous
    commit waits for the standby's flush, not its replay); up to 30 s on a loaded machine."""
    for _ in range(600):
        try:
            return await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/ictg")
        except asyncpg.InvalidCatalogNameError:
            await asyncio.sleep(0.05)
    return await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/ictg")


async def test_the_engine_on_a_multi_host_url_follows_the_primary_to_the_promoted_standby(
    servers: tuple[EmbeddedPostgres, EmbeddedPostgresStandby],
) -> None:
    primary, standby = servers
    url = multi_host_url(primary, standby)
    await asyncio.to_thread(ensure_database, url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE note (n int)"))
            await conn.execute(text("INSERT INTO note VALUES (1)"))
        on_standby = await _replayed_connection(standby.port)
        try:
            replication = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{primary.port}/ictg")
            state = await replication.fetchrow("SELECT application_name, sync_state FROM pg_stat_replication")
            await replication.close()
            assert (state["application_name"], state["sync_state"]) == (STANDBY_NAME, "sync")
            # Synchronous: the commit returned once the standby had flushed it, so it is the standby's to
            # replay (visible there after its replay, a moment later on a busy machine).
            rows = None
            for _ in range(600):  # up to 30 s
                with contextlib.suppress(asyncpg.UndefinedTableError):  # the table not replayed yet
                    rows = await on_standby.fetchval("SELECT array_agg(n) FROM note")
                if rows == [1]:
                    break
                await asyncio.sleep(0.05)
            assert rows == [1]
            assert await on_standby.fetchval("SELECT pg_is_in_recovery()")
        finally:
            await on_standby.close()

        pid = primary.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while port_open(primary.port):
            assert time.monotonic() < deadline
            time.sleep(0.05)

        with pytest.raises(Exception) as failed:  # whatever the driver raises: an outage
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO note VALUES (2)"))
        assert is_infrastructure(failed.value), repr(failed.value)

        standby.promote()
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO note VALUES (3)"))
            row = (
                await conn.execute(text("SELECT array_agg(n ORDER BY n), current_setting('port')::int FROM note"))
            ).one()
        assert (row[0], row[1]) == ([1, 3], standby.port)

        listener = await asyncpg.connect(plain_url(url))
        try:
            assert await listener.fetchval("SELECT current_setting('port')::int") == standby.port
        finally:
            await listener.close()
    finally:
        await engine.dispose()


def test_make_runs_standby_mode_follows_a_failover_and_refuses_to_start_the_parted_pair_again() -> None:
    """`ICTG_DEV_PG_STANDBY=1 make run` (`Infra(pg_standby=True)`): both servers in the URL; the runner's
    tending starts a dead standby again, leaves a killed primary stopped once the standby is promoted, and
    a later run on the same folder says the pair has parted instead of waiting for ever at its first commit."""
    root = ROOT / ".run" / f"infra-standby-test-{uuid.uuid4().hex[:8]}"
    infra = Infra(root, database_url=None, nats_url="nats://unused", fast=True, pg_standby=True)
    try:
        infra.start()
        assert infra.pg is not None and infra.standby is not None
        assert infra.database_url == multi_host_url(infra.pg, infra.standby)
        crash_postgres(infra.standby)
        infra.tend()
        assert infra.standby.alive and infra.standby.is_standby()

        crash_postgres(infra.pg)
        infra.standby.promote()
        infra._next_tend = 0.0
        infra.tend()
        assert not infra.pg.alive  # a second primary would take the writes meant for the promoted one
        infra.stop()

        again = Infra(root, database_url=None, nats_url="nats://unused", fast=True, pg_standby=True)
        with pytest.raises(RuntimeError, match="promoted in an earlier run"):
            again.start()
    finally:
        infra.stop()
        shutil.rmtree(root, ignore_errors=True)
