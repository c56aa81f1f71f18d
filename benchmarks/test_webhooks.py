"""Webhooks benchmark: deliveries per second to a local receiver with 1, 10 and 100 subscriptions,
and the delay from an event's publication on the stream to its receipt (p50, p99).

Events (`case.opened`, thin as on the stream) are published straight to JetStream; the webhooks
service (in process, its consumer, worker and signing as in production) delivers each to every
subscription; the receiver (uvicorn on a free local port) verifies a sample of signatures.
Baseline, in the same process: the same receiver taking unsigned POSTs from one httpx client at the
same concurrency with no database (the ceiling the service could reach). Reported as figures and
as a ratio to that baseline; nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ictg_common.auth import mint_token
from ictg_common.contracts import CaseOpened, make_event
from ictg_common.devinfra import Infra, ensure_database
from ictg_common.events import new_id
from ictg_common.migrate import upgrade
from ictg_webhooks.app import MIGRATIONS
from ictg_webhooks.app import create_app as create_webhooks
from ictg_webhooks.settings import WebhooksSettings

EVENTS = int(os.environ.get("ICTG_BENCH_WEBHOOK_EVENTS", "400"))
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
CODE = "E08000003"


class Counter:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # webhook-id|subscription path → receipt time
        self.count = 0
        self.secrets: dict[str, str] = {}
        self.bad = 0


def _receiver(c: Counter) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        c.count += 1
        key = request.headers.get("webhook-id", "")
        c.received[f"{key}|{request.url.path}"] = time.monotonic()
        secret = c.secrets.get(request.url.path)
        if secret is not None and c.count % 50 == 0:  # a sample: verifying is the receiver's cost
            try:
                Webhook(secret).verify(body, dict(request.headers))
            except Exception:  # noqa: BLE001
                c.bad += 1
        return Response(status_code=204)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@contextlib.asynccontextmanager
async def receiver(c: Counter) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_receiver(c), lifespan="off", log_level="warning", http="h11",
                                           backlog=2048))  # fmt: skip
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def baseline(url: str, n: int, concurrency: int) -> float:
    """Deliveries/s of plain POSTs from one client at `concurrency`: the receiver's own ceiling here."""
    body = b'{"type":"ictg.case.opened.v1"}'
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as http:

        async def one(i: int) -> None:
            async with sem:
                await http.post(f"{url}/baseline", content=body, headers={"webhook-id": f"b{i}"})

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


async def run(
    infra: Infra, database_url: str, subscriptions: int, *, per_second: float | None = None
) -> dict[str, Any]:
    """Publish the events at once (throughput), or `per_second` (the delay at a steady load)."""
    tag = f"{subscriptions}{'p' if per_second else ''}"
    stream, prefix = f"BENCHWH{tag}", f"benchwh{tag}"
    settings = WebhooksSettings(
        database_url=database_url, nats_url=infra.nats_url, nats_stream=stream, subject_prefix=prefix,
        auth_secret=SECRET, allow_private_targets=True, worker_poll_seconds=0.05, relay_poll_seconds=0.2,
        rate_limit_per_minute=0,
    )  # fmt: skip
    app = create_webhooks(settings)
    counter = Counter()
    token = mint_token(secret=SECRET, sub="bench", scopes=["webhooks:manage"], org_type="local_authority",
                       org_name="Manchester City Council", la_codes=[CODE])  # fmt: skip
    async with receiver(counter) as url, app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as api:
            for i in range(subscriptions):
                r = await api.post("/v1/webhooks/subscriptions", json={"url": f"{url}/s{i}"},
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                assert r.status_code == 201, r.text
                counter.secrets[f"/s{i}"] = r.json()["secret"]
        events = max(EVENTS // subscriptions, 20)
        nc = await nats.connect(infra.nats_url)
        js = nc.jetstream()
        published: dict[str, float] = {}
        started = time.monotonic()
        for _ in range(events):
            case_id = new_id()
            data = CaseOpened(case_id=case_id, referral_id=new_id(), local_authority_code=CODE, region="north_west",
                              status="awaiting_allocation", pathway="direct_worker", opened_at=time_now())  # fmt: skip
            event = make_event(data=data, subject=case_id, time=time_now())
            published[str(event.id)] = time.monotonic()
            await js.publish(f"{prefix}.cases.case.opened", event.to_json(), stream=stream)
            if per_second:
                await asyncio.sleep(1 / per_second)
        want = events * subscriptions
        deadline = time.monotonic() + 600
        while counter.count < want and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        delivered = counter.count
        await nc.close()
        base = await baseline(url, min(want, 2000), settings.concurrency)
    delays = sorted(at - published[key.split("|")[0]] for key, at in counter.received.items()
                    if key.split("|")[0] in published)  # fmt: skip
    rate = delivered / elapsed
    return {
        "subscriptions": subscriptions, "deliveries": delivered, "rate": rate, "baseline": base,
        "p50": statistics.median(delays), "p99": delays[int(len(delays) * 0.99) - 1], "bad": counter.bad,
    }  # fmt: skip


def time_now() -> Any:
    from ictg_common import clock

    return clock.utcnow()


def test_webhooks_delivery_rate(infra: Infra) -> None:
    base = infra.database_url.rsplit("/", 1)[0]
    url = f"{base}/ictg_bench_webhooks_{os.getpid()}"
    ensure_database(url)
    upgrade(MIGRATIONS, url)
    print("\nwebhooks: deliveries to a local receiver (signed, leased, recorded)")
    print(
        f"{'subscriptions':>13} {'deliveries':>10} {'per s':>8} {'baseline/s':>10} {'ratio':>6} {'p50 s':>7} {'p99 s':>7}"
    )
    for subscriptions in (1, 10, 100):
        r = asyncio.run(run(infra, url, subscriptions))
        print(f"{r['subscriptions']:>13} {r['deliveries']:>10} {r['rate']:>8.0f} {r['baseline']:>10.0f} "
              f"{r['rate'] / r['baseline']:>6.2f} {r['p50']:>7.3f} {r['p99']:>7.3f}")  # fmt: skip
        assert r["deliveries"] == max(EVENTS // subscriptions, 20) * subscriptions and r["bad"] == 0
    paced = asyncio.run(run(infra, url, 10, per_second=10))
    print(f"steady load, 10 subscriptions × 10 events/s (100 deliveries/s): delay p50 {paced['p50']:.3f} s, "
          f"p99 {paced['p99']:.3f} s")  # fmt: skip
