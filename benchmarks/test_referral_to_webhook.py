"""End to end on the clustered bus: a referral answered 201 by intake, its case opened by the case API, and
the council's webhook (`ictg.case.opened.v1`, signed) received, at a steady 50 referrals a second.

Everything runs as in production: each service its own process, NATS three clustered servers with the
stream on all three (`ICTG_NATS_REPLICAS=3`), the receiver its own process (as a council's system is).
Reported: the delay from intake's 201 to the council's receipt (p50, p99, max) and how many arrived.
Nothing here asserts a time; it asserts that every referral's webhook arrived.

Where the time goes is printed too: each second, the CPU each process took (each service, the three
NATS servers, Postgres' processes together), the events each durable consumer has yet to handle
(pending and unacknowledged), the outboxes' unpublished rows, and the Postgres backends active or idle
in a transaction; then each process's CPU over the run and the load average.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from test_intake_scale import FAMILY, GIVEN
from test_webhooks import receiver  # benchmarks/ is on sys.path (pytest inserts a test file's folder)

from ictg_common.auth import mint_token
from ictg_common.db import plain_url
from tests.support.factories import referral_body
from tests.support.faults_harness import SERVICES, Platform, children
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
    sampler = Sampler(platform)
    sampling = asyncio.create_task(sampler.run())
    try:
        return await _load(platform, url)
    finally:
        sampler.stop.set()
        await sampling
        sampler.report()


async def _load(platform: Platform, url: str) -> tuple[int, list[float]]:
    council = mint_token(secret=SECRET, sub="bench-council", scopes=["webhooks:manage"], org_type="local_authority",
                         org_name="Manchester City Council", la_codes=["E08000003"])  # fmt: skip
    police = auth("referrals:write")
    answered: dict[str, float] = {}
    rnd = random.Random(7)
    refused: list[int] = []
    dropped: list[int] = []
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
            body = referral_body(**_child(rnd))
            headers = {**police, "Idempotency-Key": str(uuid.uuid4())}
            while True:  # past what intake sustains here it answers 503 (its pool is busy): retried, as clients do
                try:
                    r = await http.post(f"{platform.url('referral-intake')}/v1/referrals", json=body, headers=headers)
                except httpx.TransportError:  # a kept-alive connection closed as it was reused: the same key again
                    dropped.append(i)
                    continue
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
              f"{len(refused)} answers 503, {len(dropped)} connections dropped, retried)")  # fmt: skip
        deadline = time.monotonic() + 120
        received: dict[str, float] = {}
        while time.monotonic() < deadline:
            received = (await http.get(f"{url}/_stats")).json()["referrals"]
            if set(answered) <= set(received):
                break
            await asyncio.sleep(0.5)
    return n, sorted(received[k] - answered[k] for k in answered if k in received)


def _child(rnd: random.Random) -> dict[str, Any]:
    """A distinct Vietnamese child of 16 or 17, as `test_intake_scale` makes them: a real crowd for duplicate
    matching. (Children all born on one day and all named "Bench<n> <hex>" made every earlier referral a
    trigram candidate of each new one, which difflib then refused: matching grew with the run, 240
    comparisons and 25 ms of intake's CPU a referral on average over 500.)"""
    return {
        "child__given_name": f"{rnd.choice(GIVEN)} {rnd.choice(GIVEN)}{rnd.randrange(10**6)}",
        "child__family_name": rnd.choice(FAMILY),
        "child__date_of_birth": (date(2010, 3, 4) - timedelta(days=rnd.randrange(300))).isoformat(),
    }


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has taken, 0 if it is gone."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    return 0.0


def _waited(pid: int) -> float:
    """Seconds the threads of process `pid` have spent ready to run but waiting for a core."""
    total = 0.0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int((task / "schedstat").read_text().split()[1]) / 1e9
    return total


class Sampler:
    """Once a second: each process's CPU, the consumers' backlogs, the outboxes and Postgres' backends."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.stop = asyncio.Event()
        self.rows: list[str] = []
        self.idle: list[str] = []  # the last statement of each connection idle in a transaction
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.started = self.ended = 0.0
        self.waits: dict[str, float] = {}

    def waited(self) -> dict[str, float]:
        pids = {"client": os.getpid()} | {name: proc.pid for (name, _), proc in self.platform.procs.items()}
        pg = self.platform.pg.pid
        waits = {name: _waited(pid) for name, pid in pids.items()}
        waits["postgres"] = sum(_waited(p) for p in ([pg, *children(pg)] if pg else []))
        return waits

    def cpu(self) -> dict[str, float]:
        taken = {"client": _cpu(os.getpid())}
        taken |= {name: _cpu(proc.pid) for (name, _), proc in self.platform.procs.items()}
        for i, node in enumerate(getattr(self.platform.nats, "nodes", [self.platform.nats])):
            taken[f"nats-{i}"] = _cpu(node.proc.pid) if node.proc else 0.0
        pg = self.platform.pg.pid
        taken["postgres"] = sum(_cpu(p) for p in ([pg, *children(pg)] if pg else []))
        return taken

    async def run(self) -> None:
        nc = await nats.connect(self.platform.nats.as_tester().split(","), connect_timeout=2)
        js = nc.jetstream(timeout=2)
        db = await asyncpg.connect(plain_url(self.platform.database_url))
        try:
            self.first = before = self.cpu()
            self.waits = self.waited()
            self.started = at = time.monotonic()
            head = "  t   " + " ".join(f"{n[:8]:>8}" for n in before) + " | consumers pending+unacked | "
            self.rows.append(head + "outbox intake/cases | pg active/idle-in-tx")
            while not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 1.0)
                now, taken = time.monotonic(), self.cpu()
                busy = " ".join(f"{(taken[n] - before.get(n, 0)) / (now - at):8.0%}" for n in taken)
                backlog = []
                with contextlib.suppress(Exception):
                    for name in await js.consumers_info("ICTG"):
                        backlog.append(f"{name.name}={name.num_pending}+{name.num_ack_pending}")
                row = await db.fetchrow(
                    "SELECT (SELECT count(*) FROM intake.outbox WHERE published_at IS NULL) AS i,"
                    " (SELECT count(*) FROM cases.outbox WHERE published_at IS NULL) AS c,"
                    " (SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()) AS a,"
                    " (SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%') AS t,"
                    " (SELECT string_agg(q || ' x' || n, '; ') FROM (SELECT left(query, 40) AS q, count(*) AS n"
                    "   FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' GROUP BY 1 ORDER BY 1) g) AS qs"
                )  # fmt: skip
                self.idle.append(f"{now - self.started:5.0f} {row['qs']}")
                self.rows.append(
                    f"{now - self.started:5.0f} {busy} | {' '.join(backlog)} | {row['i']}/{row['c']} | {row['a']}/{row['t']}"
                )  # fmt: skip
                before, at = taken, now
            self.last, self.ended = before, at
            self.waits = {n: w - self.waits.get(n, 0.0) for n, w in self.waited().items()}
        finally:
            await db.close()
            await nc.close()

    def report(self) -> None:
        print("\n" + "\n".join(self.rows))
        if os.environ.get("ICTG_BENCH_E2E_IDLE"):
            print("\n".join(self.idle))
        span = max(self.ended - self.started, 1e-9)
        print(f"CPU over the {span:.0f} s sampled (1.0 = one core): " + ", ".join(
            f"{n} {(self.last.get(n, 0) - self.first.get(n, 0)) / span:.2f}" for n in self.first
        ) + f"; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")  # fmt: skip
        print("waiting for a core (run queue) over the same time: " + ", ".join(
            f"{n} {w / span:.2f}" for n, w in self.waits.items()
        ))  # fmt: skip
