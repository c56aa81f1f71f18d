"""Plain helpers the tests share (the fixtures that use them are in tests/conftest.py): the test secret, tokens
and their headers, serving an app in process, the three services on a test's database, polling until a condition
holds, and NATS URLs as the tests' own user."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from ictg_common.auth import FIRST_RESPONDER_CEILING, mint_token
from ictg_common.db import plain_url
from ictg_common.devinfra import Infra
from ictg_common.natslink import NatsLink
from ictg_common.reference import REGION_SLUGS
from ictg_common.runtime import runtime_of

ROOT = Path(__file__).resolve().parents[2]

SECRET = "test-secret-0123456789abcdef0123456789abcdef"

_infra: Infra | None = None  # this session's servers, once the `infra` fixture has started them


def use_infra(infra: Infra | None) -> None:
    """The `infra` fixture says which servers `as_tester` speaks of (None once they stop)."""
    global _infra
    _infra = infra


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


def nats_of(app: FastAPI) -> NatsLink:
    """A running service's NATS link (the runtime types it optional: identity runs off the bus)."""
    link = runtime_of(app).nats
    assert link is not None, "this service runs without NATS"
    return link


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
