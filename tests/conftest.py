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
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from ictg_common.auth import FIRST_RESPONDER_CEILING, mint_token
from ictg_common.db import create_engine, plain_url
from ictg_common.devinfra import Infra, ensure_database, scratch_infra
from ictg_common.reference import REGION_SLUGS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
sys.path.insert(0, str(ROOT / "tests"))

from stack import migrate_all  # noqa: E402

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
# The tests mint HS256 tokens (development mode), in process and in the processes they start; a test of
# production's refusals says `auth_development=False` itself.
os.environ.setdefault("ICTG_AUTH_DEVELOPMENT", "true")


_infra: Infra | None = None  # this session's servers, once `infra` has started them


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    global _infra
    with scratch_infra(ROOT / ".run" / f"test-{os.getpid()}") as running:
        _infra = running
        try:
            yield running
        finally:
            _infra = None


def as_tester(url: str) -> str:
    """NATS `url` as the tests' own user, who may publish and read anything: for a test that publishes
    events straight to the stream (as a producer's relay would, or forged), reads or deletes it. No
    service connects so. Unchanged with an external NATS (ICTG_NATS_URL, with its credentials)."""
    assert _infra is not None, "the `infra` fixture starts NATS first"
    return _infra.as_tester(url)


def _with_db(url: str, name: str) -> str:
    base = plain_url(url).rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _admin(infra: Infra, sql: str) -> None:
    conn = await asyncpg.connect(_with_db(infra.database_url, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


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
    }


def token(
    *scopes: str,
    org_type: str | None = None,
    org_name: str | None = None,
    regions: list[str] | None = None,
    sub: str = "tester",
    ttl: int = 3600,
    secret: str = SECRET,
    aud: str = "ictg",
    la_codes: list[str] | None = None,
) -> str:
    """A development token. By default its organisation is a police force when every scope asked for is
    within a first responder's ceiling, else the ICTG service's own staff (the only organisation that may
    hold the others: a police token with `cases:read` is refused by every service)."""
    if org_type is None:
        org_type = "police" if set(scopes) <= FIRST_RESPONDER_CEILING else "ictg"
    if org_name is None:
        org_name = "ICTG service" if org_type == "ictg" else "Greater Manchester Police"
    return mint_token(
        secret=secret, sub=sub, scopes=list(scopes), org_type=org_type, org_name=org_name,
        regions=list(REGION_SLUGS) if regions is None else regions, ttl_seconds=ttl, audience=aud, la_codes=la_codes,
    )  # fmt: skip


def auth(*scopes: str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*scopes, **kwargs)}"}


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (engine, NATS, relay, consumers) and talk to it in process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def service_apps(settings: dict[str, Any], **case_settings: Any) -> tuple[FastAPI, FastAPI, FastAPI]:
    """Intake, the case API and metrics on the test's database and stream (not started: `serve` each),
    each its own NATS user (from the environment: `infra`), each calling the one before it in process (the case API's claim check, metrics' reconciliation).
    `case_settings`: the case API's own settings (e.g. `sla_check_seconds=0` to keep its SLA loop off)."""
    from ictg_cases.app import create_app as create_cases
    from ictg_cases.settings import CasesSettings
    from ictg_intake.app import create_app as create_intake
    from ictg_intake.settings import IntakeSettings
    from ictg_metrics.app import create_app as create_metrics
    from ictg_metrics.settings import MetricsSettings

    intake = create_intake(IntakeSettings(**settings))
    cases = create_cases(
        CasesSettings(**settings, intake_url="http://intake", **case_settings),
        intake_transport=httpx.ASGITransport(app=intake),
    )
    metrics = create_metrics(
        MetricsSettings(**settings, cases_url="http://cases"), cases_transport=httpx.ASGITransport(app=cases)
    )
    return intake, cases, metrics


async def eventually(check: Any, *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll an async `check()` until it returns something truthy; fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


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
