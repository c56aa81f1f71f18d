"""Shared fixtures: real Postgres and NATS (embedded, or ICTG_DATABASE_URL / ICTG_NATS_URL),
a freshly migrated database per test (cloned from a migrated template), an isolated stream per test.

The embedded NATS authenticates as a deployed one: each service connects as its own user, whose
credentials `infra` puts in the environment (`ICTG_INTAKE_NATS_USER`, …: `scratch_infra`), so every
service's settings, in process or in a process started by a test, read their own. The tests' own
publishers (events straight to the stream, forged ones, reading or deleting it) connect `as_tester`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import text

from ictg_common.db import create_engine
from ictg_common.devinfra import Infra, ensure_database, scratch_infra
from tests.support.platform import ROOT, SECRET, _admin, _with_db, serve, use_infra

from stack import migrate_all

# The tests mint HS256 tokens (development mode), in process and in the processes they start; a test of
# production's refusals says `auth_development=False` itself.
os.environ.setdefault("ICTG_AUTH_DEVELOPMENT", "true")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with scratch_infra(ROOT / ".run" / f"test-{os.getpid()}") as running:
        use_infra(running)
        try:
            yield running
        finally:
            use_infra(None)


@pytest.fixture(scope="session")
def template_db(infra: Infra) -> Iterator[str]:
    name = f"ictg_tpl_{uuid.uuid4().hex[:8]}"
    url = _with_db(infra.database_url, name)
    ensure_database(url)
    migrate_all(url)
    yield name
    asyncio.run(_admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(infra: Infra, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test only."""
    name = f"ictg_t_{uuid.uuid4().hex[:10]}"
    await _admin(infra, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _with_db(infra.database_url, name)
    await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def stream(infra: Infra) -> AsyncIterator[tuple[str, str]]:
    """An isolated stream name and subject prefix for this test."""
    tag = uuid.uuid4().hex[:10]
    yield f"T{tag}", f"t{tag}"
    with contextlib.suppress(Exception):
        nc = await nats.connect(infra.as_tester(), connect_timeout=2, max_reconnect_attempts=0)
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(f"T{tag}")
        await nc.close()


@pytest.fixture
def shared_settings(infra: Infra, database_url: str, stream: tuple[str, str]) -> dict[str, Any]:
    """Keyword arguments every service's settings take in a test."""
    return {
        "database_url": database_url,
        "nats_url": infra.nats_url,
        "nats_stream": stream[0],
        "subject_prefix": stream[1],
        "auth_secret": SECRET,
        "auth_development": True,
        "relay_poll_seconds": 0.2,
        "max_deliver": 3,
        # a first trip to the shared bucket opens a connection: on a loaded machine that can pass the 1 s
        # a service allows before deciding in process, which would be a different test
        "rate_limit_store_timeout_seconds": 10.0,
    }


# --- intake ---------------------------------------------------------------------------------


@pytest.fixture
async def intake(shared_settings: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings

    async with serve(create_app(IntakeSettings(**shared_settings))) as client:
        yield client


class Stored:
    """What intake holds: referrals, unpublished-or-published events, audit rows."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=1)

    async def count(self, table: str) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(text(f"SELECT count(*) FROM intake.{table}"))).scalar() or 0)

    async def nothing(self) -> bool:
        return await self.count("referral") == 0 and await self.count("outbox") == 0

    async def audit(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(
                (
                    await conn.execute(text("SELECT actor, action, resource, outcome FROM intake.audit ORDER BY id"))
                ).all()
            )


@pytest.fixture
async def stored(database_url: str) -> AsyncIterator[Stored]:
    s = Stored(database_url)
    yield s
    await s.engine.dispose()
