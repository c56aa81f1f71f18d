"""Running metrics on the test's database and stream, feeding it events through real NATS."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterable
from typing import Any, cast
from uuid import UUID

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from ictg_common.runtime import runtime_of
from ictg_metrics.app import create_app
from ictg_metrics.disclosure.cellkey import DEFAULT_PTABLE, Ptable
from ictg_metrics.settings import MetricsSettings
from tests.support.metrics_events import Child, publish
from tests.support.platform import auth, eventually, nats_of, serve

ANALYST = auth("metrics:read", "metrics:read:unsuppressed")
SECRET = MetricsSettings().cell_key_secret.encode()


def record_key_of(referral_id: str) -> int:
    """A child's record key, computed here apart from the code under test: HMAC-SHA256's first byte."""
    return hmac.new(SECRET, UUID(referral_id).bytes, hashlib.sha256).digest()[0]


def published(ids: Iterable[str], ptable: Ptable = DEFAULT_PTABLE) -> int | None:
    """What the cell key method publishes for a cell of these children (None: withheld)."""
    ids = list(ids)
    return ptable.perturb(len(ids), sum(record_key_of(i) for i in ids) % 256)


def app_of(client: httpx.AsyncClient) -> FastAPI:
    """The app a client from `metrics_app` talks to."""
    return cast(FastAPI, vars(client)["app"])


@contextlib.asynccontextmanager
async def metrics_app(
    settings: dict[str, Any], *, cases_transport: httpx.AsyncBaseTransport | None = None, **extra: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(MetricsSettings(**settings, **extra), cases_transport=cases_transport)
    async with serve(app) as client:
        await nats_of(app).jetstream()  # stream created
        client.app = app  # type: ignore[attr-defined]  # the client carries its app (read back by `app_of`)
        yield client


async def stored_events(client: httpx.AsyncClient) -> int:
    async with runtime_of(app_of(client)).engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM metrics.event"))).scalar() or 0)


async def feed(client: httpx.AsyncClient, settings: dict[str, Any], *children: Child) -> None:
    """Publish every child's events and wait until metrics has stored them all."""
    events = [e for c in children for e in c.events]
    before = await stored_events(client)
    await publish(settings, events)

    async def done() -> bool:
        return await stored_events(client) >= before + len(events)

    await eventually(done, timeout=60)  # a busy machine (2 cores, a test database per test) can be slow


async def counts(client: httpx.AsyncClient, **params: Any) -> dict[Any, int]:
    """`{group value (or tuple of values): children}` with disclosure none."""
    params.setdefault("disclosure", "none")
    r = await client.get("/v1/metrics/children", params=params, headers=ANALYST)
    assert r.status_code == 200, r.text
    body = r.json()
    groups = body["group_by"]
    out: dict[Any, int] = {}
    for row in body["rows"]:
        key = tuple(row[g] for g in groups)
        out[key[0] if len(key) == 1 else key] = row["children"]
    out["total"] = body["total"]
    return out
