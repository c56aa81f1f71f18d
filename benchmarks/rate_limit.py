"""What the shared rate limit (`ictg_common.ratelimit`: one bucket per principal in Postgres, for every
replica) costs against the in-process bucket it replaced, in the same run.

    .venv/bin/python benchmarks/rate_limit.py [--takes 2000] [--requests 400]

An embedded Postgres and NATS under `.run/rate-limit` (or ICTG_DATABASE_URL / ICTG_NATS_URL), one
migrated database of its own (dropped after). Three measures, each run in alternating rounds of the two limiters:

1. `take()` alone, one caller after another (µs per take, p50 and p99);
2. `take()` from 32 callers at once, 32 principals and then one (takes a second): the row's lock
   serialises one principal's takes across every caller, as it does across replicas;
3. requests through intake in process (its lifespan, pool and NATS as in production): `GET
   /v1/referrals` (a read, 3 round trips: the limit adds a fourth) and `POST /v1/referrals` (a write),
   one after another (ms, p50 and p99), with the limit shared and with the in-process bucket.

Prints each figure and its ratio, shared / in process; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import random
import statistics
import string
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run by hand as a script: the repo root, for tests.support

ROUNDS = 5
BIG = 10**9  # a limit no run reaches: every take is admitted, and costs what an admitted one costs


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def alternate(label: str, unit: str, scale: float, runs: dict[str, Callable[[], Awaitable[list[float]]]]) -> None:
    """Run each variant ROUNDS times, alternating, and print p50 / p99 of all its samples and the ratios."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(ROUNDS):  # ABBA: neither goes first each time (a store that grows favours the first)
        for name, run in list(runs.items())[:: 1 if i % 2 == 0 else -1]:
            samples[name] += await run()
    (base_name, base), (name, shared) = samples.items()
    b50, b99 = quantiles(base)
    s50, s99 = quantiles(shared)
    print(
        f"{label:44} {base_name} p50 {b50 * scale:8.1f} p99 {b99 * scale:8.1f} {unit} | {name} p50 {s50 * scale:8.1f} "
        f"p99 {s99 * scale:8.1f} {unit} | ratio p50 {s50 / b50:.3g}x p99 {s99 / b99:.3g}x"
    )


async def measure(url: str, nats_url: str, takes: int, requests: int) -> None:
    import httpx

    from ictg_common.auth import RateLimiter
    from ictg_common.db import create_engine
    from ictg_common.ratelimit import SharedRateLimiter
    from ictg_common.runtime import runtime_of
    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings
    from tests.support.factories import referral_body
    from tests.support.platform import SECRET, auth

    engine = create_engine(url)
    memory = RateLimiter(BIG)
    shared = SharedRateLimiter(BIG, engine=engine, schema="intake")

    async def sequential_memory() -> list[float]:
        out = []
        for i in range(takes):
            t = time.perf_counter()
            memory.take(f"p{i % 50}")
            out.append(time.perf_counter() - t)
        return out

    async def sequential_shared() -> list[float]:
        out = []
        for i in range(takes):
            t = time.perf_counter()
            await shared.take(f"p{i % 50}")
            out.append(time.perf_counter() - t)
        return out

    await shared.take("warm")
    print(f"{takes} takes per round, {ROUNDS} rounds, alternating")
    await alternate("take(), one caller", "µs", 1e6, {"memory": sequential_memory, "shared": sequential_shared})

    def at_once(one_principal: bool) -> dict[str, Callable[[], Awaitable[list[float]]]]:
        async def run(take: Callable[[str], Awaitable[float]]) -> list[float]:
            async def caller(c: int) -> None:
                for _ in range(takes // 32):
                    await take("p" if one_principal else f"p{c}")

            t = time.perf_counter()
            await asyncio.gather(*(caller(c) for c in range(32)))
            return [(takes // 32 * 32) / (time.perf_counter() - t)]

        async def in_memory(key: str) -> float:
            return memory.take(key)

        return {"memory": lambda: run(in_memory), "shared": lambda: run(shared.take)}

    # Throughput: the ratio is memory / shared read as a rate (printed as takes a second, "p50" = median round).
    await alternate("takes/s, 32 callers, 32 principals", "/s", 1, at_once(False))
    await alternate("takes/s, 32 callers, one principal", "/s", 1, at_once(True))
    await engine.dispose()

    settings = IntakeSettings(
        database_url=url,
        nats_url=nats_url,
        auth_secret=SECRET,
        auth_development=True,
        rate_limit_per_minute=BIG,
        log_level="WARNING",
    )
    app = create_app(settings)
    reader = auth("referrals:read", sub="bench-reader")
    writer = auth("referrals:write", sub="bench-writer")  # the factory's referrer, a police force
    async with app.router.lifespan_context(app):
        limiter = runtime_of(app).limiter
        shared_take = limiter.take

        async def local_take(key: str) -> float:
            return limiter.local.take(key)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:

            def timed(send: Callable[[], Awaitable[httpx.Response]], take: Any) -> Callable[[], Awaitable[list[float]]]:
                async def run() -> list[float]:
                    limiter.take = take  # type: ignore[method-assign]  # this app's limiter, as the variant says
                    out = []
                    for _ in range(requests):
                        t = time.perf_counter()
                        r = await send()
                        out.append(time.perf_counter() - t)
                        assert r.status_code < 300, r.text
                    return out

                return run

            async def get() -> httpx.Response:
                return await http.get("/v1/referrals", headers=reader)

            posted, rng = itertools.count(), random.Random(7)

            async def post() -> httpx.Response:  # each child another: duplicate matching stays as cheap
                born = date(2009, 1, 1) + timedelta(days=next(posted) % 1500)
                name = "".join(rng.choice(string.ascii_lowercase) for _ in range(9)).title()
                child = referral_body()["child"] | {"given_name": name, "date_of_birth": born.isoformat()}
                return await http.post("/v1/referrals", json=referral_body(child=child), headers=writer)

            for send in (get, post):
                await send()
            print(f"{requests} requests per round, {ROUNDS} rounds, alternating")
            await alternate("GET /v1/referrals", "ms", 1e3, {"memory": timed(get, local_take), "shared": timed(get, shared_take)})  # fmt: skip
            await alternate("POST /v1/referrals", "ms", 1e3, {"memory": timed(post, local_take), "shared": timed(post, shared_take)})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--takes", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import os

    from ictg_common.devinfra import Infra, ensure_database
    from ictg_common.migrate import upgrade
    from ictg_intake.app import MIGRATIONS

    infra = Infra(
        ROOT / ".run" / "rate-limit", database_url=os.environ.get("ICTG_DATABASE_URL"),
        nats_url=os.environ.get("ICTG_NATS_URL"), fast=True,
    ).start()  # fmt: skip
    os.environ.update(infra.nats_env("intake"))
    try:
        base = infra.database_url.rsplit("/", 1)[0]
        url = f"{base}/ictg_rate_limit_bench_{os.getpid()}"
        ensure_database(url)
        try:
            upgrade(MIGRATIONS, url)
            asyncio.run(measure(url, infra.nats_url, args.takes, args.requests))
        finally:
            asyncio.run(drop(f"{base}/postgres", url.rsplit("/", 1)[1]))
    finally:
        infra.stop()


async def drop(admin_url: str, name: str) -> None:
    import asyncpg

    from ictg_common.db import plain_url

    conn = await asyncpg.connect(plain_url(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
