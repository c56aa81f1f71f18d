"""Webhooks benchmark: deliveries per second to a local receiver with 1, 10 and 100 subscriptions,
and the delay from an event's publication on the stream to its receipt (p50, p99).

Events (`case.opened`, thin as on the stream) are published straight to JetStream; the webhooks
service (in process, its consumer, worker and signing as in production) delivers each to every
subscription; the receiver (uvicorn in its own process, as a council's system is) verifies a sample
of signatures. Two baselines, in the same process: the same receiver taking unsigned POSTs from one
httpx client, and through the service's own transport (`sender.Pool`), each at 4, 16 and the service's
concurrency (the best of three), with no database, signing or leases: the ceiling of one sending process
here with a common client and with the service's. Reported as figures and as a ratio to each baseline;
nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from ictg_common.auth import mint_token
from ictg_common.contracts import CaseOpened, make_event
from ictg_common.devinfra import Infra, ensure_database, free_port, port_open
from ictg_common.events import new_id
from ictg_common.migrate import upgrade
from ictg_webhooks import sender
from ictg_webhooks.app import MIGRATIONS
from ictg_webhooks.app import create_app as create_webhooks
from ictg_webhooks.settings import WebhooksSettings

EVENTS = int(os.environ.get("ICTG_BENCH_WEBHOOK_EVENTS", "400"))
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
CODE = "E08000003"


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    """The receiver in its own process (benchmarks/receiver_app.py), on a free local port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "receiver_app:app", "--app-dir", str(Path(__file__).parent), "--port",
         str(port), "--log-level", "warning", "--no-access-log", "--backlog", "2048"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert proc.poll() is None and time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def baseline(url: str, n: int, concurrency: int) -> float:
    """Deliveries/s of plain POSTs from one client at `concurrency`: the ceiling of one process
    sending to this receiver, without database, signing or leases."""
    body = b'{"type":"ictg.case.opened.v1"}'
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)  # as the service's
    async with httpx.AsyncClient(limits=limits) as http:

        async def one(i: int) -> None:
            async with sem:
                await http.post(f"{url}/baseline", content=body, headers={"webhook-id": f"b{i}"})

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


async def baseline_own(url: str, n: int, concurrency: int) -> float:
    """The same plain POSTs through the service's own transport (`sender.Pool`, target check included):
    the ceiling of that transport here, without database, signing or leases."""
    body = b'{"type":"ictg.case.opened.v1"}'
    sem = asyncio.Semaphore(concurrency)
    async with sender.Pool(concurrency) as pool:

        async def one(i: int) -> None:
            async with sem:
                outcome = await sender.send(pool, url=f"{url}/baseline", body=body, headers={"webhook-id": f"o{i}"},
                                            allow_private=True, timeout=15.0)  # fmt: skip
                assert outcome.ok, outcome

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


async def run(
    infra: Infra, database_url: str, subscriptions: int, *, per_second: float | None = None, delay: float = 0.0
) -> dict[str, Any]:
    """Publish the events at once (throughput), or `per_second` (the delay at a steady load); the receiver
    answers after `delay` seconds."""
    tag = f"{subscriptions}{'p' if per_second else ''}{'d' if delay else ''}"
    stream, prefix = f"BENCHWH{tag}", f"benchwh{tag}"
    settings = WebhooksSettings(
        database_url=database_url, nats_url=infra.nats_url, nats_stream=stream, subject_prefix=prefix,
        auth_secret=SECRET, allow_private_targets=True,
        rate_limit_per_minute=0,
    )  # fmt: skip
    app = create_webhooks(settings)
    token = mint_token(secret=SECRET, sub="bench", scopes=["webhooks:manage"], org_type="local_authority",
                       org_name="Manchester City Council", la_codes=[CODE])  # fmt: skip
    with receiver() as url:
        httpx.post(f"{url}/_delay", json={"seconds": delay})
        return await _run(infra, app, url, token, subscriptions, settings, per_second)


async def _run(
    infra: Infra, app: Any, url: str, token: str, subscriptions: int, settings: WebhooksSettings,
    per_second: float | None,
) -> dict[str, Any]:  # fmt: skip
    prefix, stream = settings.subject_prefix, settings.nats_stream
    async with app.router.lifespan_context(app), httpx.AsyncClient() as http:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as api:
            secrets = {}
            for i in range(subscriptions):
                r = await api.post("/v1/webhooks/subscriptions", json={"url": f"{url}/s{i}"},
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                assert r.status_code == 201, r.text
                secrets[f"/s{i}"] = r.json()["secret"]
            await http.post(f"{url}/_secrets", json=secrets)
        events = max(EVENTS // subscriptions, 20)
        nc = await nats.connect(infra.as_tester())  # a producer of every source: the tests' own user
        js = nc.jetstream()
        published: dict[str, float] = {}
        pending: list[Any] = []  # publications awaited together: the producer must not set the pace
        for i in range(events):
            case_id = new_id()
            data = CaseOpened(case_id=case_id, referral_id=new_id(), local_authority_code=CODE, region="north_west",
                              status="awaiting_allocation", pathway="direct_worker", opened_at=time_now())  # fmt: skip
            event = make_event(data=data, subject=case_id, time=time_now())
            published[str(event.id)] = time.time()
            pending.append(js.publish(f"{prefix}.cases.case.opened", event.to_json(), stream=stream))
            if per_second or len(pending) == 50 or i == events - 1:
                await asyncio.gather(*pending)  # in stream order: each is sent before the next is made
                pending = []
            if per_second:
                await asyncio.sleep(1 / per_second)
        publishing = time.time() - min(published.values())
        want = events * subscriptions
        deadline = time.monotonic() + 600
        stats: dict[str, Any] = {"count": 0}
        while stats["count"] < want and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            stats = (await http.get(f"{url}/_stats")).json()
        elapsed = max(stats["received"].values()) - min(published.values())
        delivered, most_in_flight = stats["count"], stats["most_in_flight"]
        await nc.close()
        await http.post(f"{url}/_reset")
        # the ceiling: plain POSTs from one process, at the best of 4, 16 and the service's own concurrency
        base = max([await baseline(url, min(want, 2000), c) for c in (4, 16, settings.concurrency)])
        own = max([await baseline_own(url, min(want, 2000), c) for c in (4, 16, settings.concurrency)])
    delays = sorted(at - published[key.split("|")[0]] for key, at in stats["received"].items()
                    if key.split("|")[0] in published)  # fmt: skip
    rate = delivered / elapsed
    return {
        "subscriptions": subscriptions, "deliveries": delivered, "rate": rate, "baseline": base, "own": own,
        "p50": statistics.median(delays), "p99": delays[int(len(delays) * 0.99) - 1], "bad": stats["bad"],
        "most_in_flight": most_in_flight, "publishing": publishing,
    }  # fmt: skip


def time_now() -> Any:
    from ictg_common import clock

    return clock.utcnow()


def fresh_database(infra: Infra, tag: str) -> str:
    """A database of its own per run: no subscription of an earlier run takes a share of the work."""
    url = f"{infra.database_url.rsplit('/', 1)[0]}/ictg_bench_webhooks_{tag}_{os.getpid()}"
    ensure_database(url)
    upgrade(MIGRATIONS, url)
    return url


@pytest.mark.timeout(1200)  # four loads and a paced one, on a machine that may be shared
def test_webhooks_delivery_rate(infra: Infra) -> None:
    print("\nwebhooks: deliveries to a receiver in its own process (signed, leased, recorded)")
    print(
        f"{'subscriptions':>13} {'receiver':>8} {'deliveries':>10} {'per s':>8} {'baseline/s':>10} {'ratio':>6} "
        f"{'own/s':>7} {'ratio':>6} "
        f"{'p50 s':>7} {'p99 s':>7} {'in flight':>9} {'published in s':>14}"
    )
    for subscriptions, delay in ((1, 0.0), (1, 0.01), (10, 0.0), (100, 0.0)):
        r = asyncio.run(run(infra, fresh_database(infra, f"{subscriptions}_{int(delay * 1000)}"), subscriptions,
                            delay=delay))  # fmt: skip
        print(f"{r['subscriptions']:>13} {f'{delay * 1000:.0f} ms':>8} {r['deliveries']:>10} {r['rate']:>8.0f} "
              f"{r['baseline']:>10.0f} {r['rate'] / r['baseline']:>6.2f} {r['own']:>7.0f} {r['rate'] / r['own']:>6.2f} "
              f"{r['p50']:>7.3f} {r['p99']:>7.3f} "
              f"{r['most_in_flight']:>9} {r['publishing']:>14.2f}")  # fmt: skip
        assert r["deliveries"] == max(EVENTS // subscriptions, 20) * subscriptions and r["bad"] == 0
    paced = asyncio.run(run(infra, fresh_database(infra, "paced"), 10, per_second=10))
    print(f"steady load, 10 subscriptions × 10 events/s (100 deliveries/s): delay p50 {paced['p50']:.3f} s, "
          f"p99 {paced['p99']:.3f} s")  # fmt: skip
