"""Rate limits shared across replicas (`ictg_common.ratelimit`): two app instances on one database are
two replicas; one principal gets one limit's worth from both together, not one from each."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import text

from ictg_common.db import create_engine
from ictg_common.ratelimit import SharedRateLimiter, decide
from ictg_common.runtime import runtime_of
from tests.support.platform import auth, serve


async def backdate(database_url: str, schema: str, seconds: float) -> None:
    """As if `seconds` had passed since every bucket of `schema` was last taken from."""
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {schema}.rate_limit SET taken_at = taken_at - make_interval(secs => :s)"), {"s": seconds}
        )
    await engine.dispose()


async def test_two_intake_replicas_admit_one_principals_limit_between_them(shared_settings: dict[str, Any]) -> None:
    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings

    script = auth("referrals:read", sub="script")
    async with (
        serve(create_app(IntakeSettings(**shared_settings, rate_limit_per_minute=3))) as one,
        serve(create_app(IntakeSettings(**shared_settings, rate_limit_per_minute=3))) as two,
    ):
        answers = [await replica.get("/v1/referrals", headers=script) for replica in (one, two) * 3]
        other = await two.get("/v1/referrals", headers=auth("referrals:read", sub="someone-else"))
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429, 429]
    for refused in answers[3:]:  # as one replica answers: a problem, and how long to wait (a token in 20 s)
        assert refused.headers["content-type"] == "application/problem+json" and refused.json()["status"] == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 21
    assert other.status_code == 200


async def test_many_requests_at_once_from_two_replicas_take_one_bucket(database_url: str) -> None:
    # fewer connections than requests, as in a service: a replica's simultaneous requests for one principal
    # ride one trip to the store, so none waits for the pool (nor, on a busy machine, past the store's 1 s
    # timeout, when it would be decided in process instead)
    engines = [create_engine(database_url, pool_size=3, max_overflow=0) for _ in range(2)]
    fell_back: list[str] = []
    replicas = [
        SharedRateLimiter(30, engine=e, schema="intake", fell_back=fell_back.append, store_timeout=10) for e in engines
    ]
    try:
        waits = await asyncio.gather(*(replicas[i % 2].take("principal-a") for i in range(80)))
    finally:
        for e in engines:
            await e.dispose()
    # 30 at once; the bucket refills one every 2 s, so one more if the burst took that long.
    assert 30 <= sum(w == 0 for w in waits) <= 31
    assert all(0 < w <= 2 for w in waits if w)
    assert fell_back == []


@pytest.mark.parametrize(
    ("tokens", "asked", "answer"),
    [
        (30.0, 10, (10, 20.0, 0.0)),  # all admitted
        (2.5, 4, (2, 0.5, 1.0)),  # two admitted; the others wait for the half token still missing
        (0.25, 3, (0, 0.25, 1.5)),  # none: the bucket is left as it was
        (1.0, 1, (1, 0.0, 0.0)),
    ],
)
def test_a_trip_admits_what_the_bucket_holds_and_tells_the_rest_when_the_next_token_comes(
    tokens: float, asked: int, answer: tuple[int, float, float]
) -> None:
    assert decide(tokens, asked, rate=0.5) == answer


async def test_the_bucket_refills_as_time_passes(shared_settings: dict[str, Any], database_url: str) -> None:
    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings

    script = auth("referrals:read", sub="script")
    async with (
        serve(create_app(IntakeSettings(**shared_settings, rate_limit_per_minute=3))) as one,
        serve(create_app(IntakeSettings(**shared_settings, rate_limit_per_minute=3))) as two,
    ):

        async def codes(n: int) -> list[int]:
            return [(await (one, two)[i % 2].get("/v1/referrals", headers=script)).status_code for i in range(n)]

        spent = await codes(4)
        await backdate(database_url, "intake", 21)  # a token's worth (3 a minute: one every 20 s)
        one_more = await codes(2)
        await backdate(database_url, "intake", 60)  # a minute: the bucket is full again, and no fuller
        again = await codes(4)
    assert spent == [200, 200, 200, 429]
    assert one_more == [200, 429]
    assert again == [200, 200, 200, 429]


async def test_a_refused_caller_is_admitted_once_its_wait_has_passed(database_url: str) -> None:
    engine = create_engine(database_url)
    limiter = SharedRateLimiter(120, engine=engine, schema="intake", store_timeout=10)  # two a second
    try:
        waits = await asyncio.gather(*(limiter.take("a") for _ in range(130)))
        wait = max(waits)
        await asyncio.sleep(wait)
        after = await limiter.take("a")
    finally:
        await engine.dispose()
    assert 120 <= sum(w == 0 for w in waits) <= 122 and 0 < wait <= 0.5
    assert after == 0  # in real time, on the database's clock


async def test_rows_of_full_buckets_are_cleaned_up(database_url: str) -> None:
    engine = create_engine(database_url)
    limiter = SharedRateLimiter(3, engine=engine, schema="intake", store_timeout=10)
    try:
        for key in ("a", "b"):
            assert await limiter.take(key) == 0
        await backdate(database_url, "intake", 61)  # full again
        assert await limiter.take("c") == 0
        limiter._swept_at -= 61  # a minute since this replica last swept
        assert await limiter.take("b") == 0
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT count(*) FROM intake.rate_limit"))).scalar()
    finally:
        await engine.dispose()
    assert rows == 2  # "a" is gone; "b" (taken again) and "c" stay


# --- when the store fails ------------------------------------------------------------------------------


async def test_a_limiter_whose_database_is_down_limits_in_process_and_says_so() -> None:
    engine = create_engine("postgresql://nobody@127.0.0.1:9/nothing")  # nothing listens on the discard port
    fell_back: list[str] = []
    limiter = SharedRateLimiter(3, engine=engine, schema="intake", fell_back=fell_back.append)
    try:
        started = time.monotonic()
        waits = [await limiter.take("a") for _ in range(4)]
        took = time.monotonic() - started
    finally:
        await engine.dispose()
    assert waits[:3] == [0, 0, 0] and waits[3] == pytest.approx(20, abs=1)  # the same bucket, in process
    assert fell_back == ["principal"] * 4
    assert took < 2  # the store is tried once, then left alone for a while: no request waits on it again


async def test_a_missing_table_is_no_500_and_the_limit_holds_in_process(
    shared_settings: dict[str, Any], database_url: str
) -> None:
    from ictg_intake.app import create_app
    from ictg_intake.settings import IntakeSettings

    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE intake.rate_limit"))  # e.g. code ahead of its migration
    await engine.dispose()
    app = create_app(IntakeSettings(**shared_settings, rate_limit_per_minute=3))
    async with serve(app) as intake:
        codes = [(await intake.get("/v1/referrals", headers=auth("referrals:read", sub="script"))).status_code
                 for _ in range(4)]  # fmt: skip
        counted = runtime_of(app).telemetry.registry.get_sample_value(
            "ictg_rate_limit_fallbacks_total", {"bucket": "principal"}
        )
    assert codes == [200, 200, 200, 429] and counted == 4
