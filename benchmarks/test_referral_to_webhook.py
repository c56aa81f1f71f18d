"""End to end on the clustered bus: a referral answered 201 by intake, its case opened by the case API, and
the council's webhook (`ictg.case.opened.v1`, signed) received, at a steady 50 referrals a second.

Everything runs as in production: each service its own process, NATS three clustered servers with the
stream on all three (`ICTG_NATS_REPLICAS=3`), the receiver its own process (as a council's system is).
Reported: the delay from intake's 201 to the council's receipt (p50, p99, max) and how many arrived.
Nothing here asserts a time; it asserts that every referral's webhook arrived.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path

import httpx
import pytest
from test_webhooks import receiver  # benchmarks/ is on sys.path (pytest inserts a test file's folder)

from ictg_common.auth import mint_token
from tests.support.factories import referral_body
from tests.support.faults_harness import SERVICES, Platform
from tests.support.platform import SECRET, auth

RATE = float(os.environ.get("ICTG_BENCH_E2E_RATE", "50"))  # referrals a second
SECONDS = float(os.environ.get("ICTG_BENCH_E2E_SECONDS", "20"))
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(900)
def test_referral_to_council_webhook_at_a_steady_rate_on_the_clustered_bus() -> None:
    platform = Platform(
        ROOT / ".run" / f"bench-e2e-{os.getpid()}", nats_cluster=3, services=(*SERVICES, "webhooks"),
        extra_env={"ICTG_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true"},
    )  # fmt: skip
    try:
        platform.start_servers()
        platform.start_all()
        with receiver() as url:
            sent, delays = asyncio.run(_run(platform, url))
    finally:
        platform.shutdown()
    print(f"\nreferral -> case -> council webhook, {RATE:.0f} referrals/s for {SECONDS:.0f} s on 3 clustered NATS "
          f"servers: {len(delays)} of {sent} received; delay from the 201 p50 {statistics.median(delays):.3f} s, "
          f"p99 {delays[int(len(delays) * 0.99) - 1]:.3f} s, max {delays[-1]:.3f} s")  # fmt: skip
    assert len(delays) == sent


async def _run(platform: Platform, url: str) -> tuple[int, list[float]]:
    await platform.ready()
    council = mint_token(secret=SECRET, sub="bench-council", scopes=["webhooks:manage"], org_type="local_authority",
                         org_name="Manchester City Council", la_codes=["E08000003"])  # fmt: skip
    police = auth("referrals:write")
    answered: dict[str, float] = {}
    refused: list[int] = []
    # no pool limit: a referral is sent on time even when intake answers slower than the rate
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(60, pool=None), limits=httpx.Limits(max_connections=None)
    ) as http:
        r = await http.post(f"{platform.url('webhooks')}/v1/webhooks/subscriptions",
                            json={"url": f"{url}/by-referral/council", "event_types": ["ictg.case.opened.v1"]},
                            headers={"Authorization": f"Bearer {council}"})  # fmt: skip
        assert r.status_code == 201, r.text

        async def one(i: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            body = referral_body(child__family_name=uuid.uuid4().hex[:12], child__given_name=f"Bench{i}")
            headers = {**police, "Idempotency-Key": str(uuid.uuid4())}
            while True:  # past what intake sustains here it answers 503 (its pool is busy): retried, as clients do
                r = await http.post(f"{platform.url('referral-intake')}/v1/referrals", json=body, headers=headers)
                if r.status_code != 503:
                    break
                refused.append(i)
                await asyncio.sleep(0.2)
            assert r.status_code == 201, r.text
            answered[r.json()["id"]] = time.time()

        start = time.monotonic() + 0.5
        n = int(RATE * SECONDS)
        await asyncio.gather(*(one(i, start + i / RATE) for i in range(n)))
        took = time.monotonic() - start
        print(f"\n{n} referrals answered 201 in {took:.1f} s ({n / took:.0f}/s, asked {RATE:.0f}/s; "
              f"{len(refused)} answers 503, retried)")  # fmt: skip
        deadline = time.monotonic() + 120
        received: dict[str, float] = {}
        while time.monotonic() < deadline:
            received = (await http.get(f"{url}/_stats")).json()["referrals"]
            if set(answered) <= set(received):
                break
            await asyncio.sleep(0.5)
    return n, sorted(received[k] - answered[k] for k in answered if k in received)
