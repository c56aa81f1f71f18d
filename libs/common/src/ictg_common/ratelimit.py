"""Rate limits shared by every replica of a service: a token bucket per principal (and the token
service's per client and address), held in the service's own Postgres schema.

The bucket. `per_minute` tokens at most, refilled at `per_minute / 60` a second; a request takes one,
or is refused with the seconds until one is there (the caller answers 429 with `Retry-After`). The
same arithmetic as the in-process `ictg_common.auth.RateLimiter`, so one replica answers as before.

The store. A bucket is one row of `<schema>.rate_limit` (`rate_limit_table`, in every service's
migrations), taken with one statement on an autocommit connection of the service's pool: an `UPDATE`
whose subquery locks the row `FOR UPDATE` and reads how many tokens it holds now, taking what it can
give (the row is made full first when there is none). The row is locked for that statement only, so
every replica's requests for one principal queue on it and together take one bucket's worth, and no
request waits on another's transaction. Time is the database's (`now()`), one clock for every replica.
Keys are stored as their SHA-256, never as written (a client's address is personal data; a claimed
client id can be any length). A bucket untouched for a minute is full, the same as no row: each replica
deletes such rows of its bucket once a minute.

One trip a burst. Within a replica, the requests for one key that arrive while a transaction for it is
under way wait for it and are then decided together by the next one, which asks for as many tokens as
they are: the first `granted` are admitted, the others told how long until the next token. So a burst
of a hundred requests from one principal costs a replica two or three transactions, not a hundred
queued on one row lock (which, on a busy database, can pass the store's timeout and fall back to the
per-replica limit below exactly when the limit matters).

An outage. When the statement fails (the database down, the pool not handing out a connection within
`store_timeout`, `ICTG_RATE_LIMIT_STORE_TIMEOUT_SECONDS` in a service, the table missing mid-upgrade), the request is decided by an in-process bucket
of the same size: the limit degrades to today's per replica (N replicas admit up to N times it) rather
than to none, and never to a 500. Failing open instead would drop the limit exactly when a client is
hammering a struggling service; the fallback costs nothing (no other dependency). The failure is
logged once, counted in `ictg_rate_limit_fallbacks`, and the store is left alone for
`RETRY_STORE_SECONDS` (no request pays the timeout twice in a row), then tried again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import Column, DateTime, Float, MetaData, String, Table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from .auth import RateLimiter

log = logging.getLogger(__name__)

STORE_TIMEOUT_SECONDS = 1.0  # a connection and the statement; normally well under a millisecond
RETRY_STORE_SECONDS = 5.0  # after a failure, requests are decided in process this long
SWEEP_SECONDS = 60.0  # how often a replica deletes its bucket's full rows
PRINCIPAL = "principal"  # the bucket of every service's authenticated requests (`ictg_common.auth`)


def rate_limit_table(metadata: MetaData) -> Table:
    """The `rate_limit` table in the service's own schema (include it in its migrations)."""
    return Table(
        "rate_limit",
        metadata,
        Column("bucket", String(32), primary_key=True),  # which limit: principal, client, address
        Column("key", String(64), primary_key=True),  # SHA-256 (hex) of whose it is
        Column("tokens", Float, nullable=False),  # left at `taken_at`
        Column("taken_at", DateTime(timezone=True), nullable=False),
        Column("wait_seconds", Float, nullable=False),  # written 0; the first version kept its last answer here
    )


# Takes up to :asked tokens from a bucket in one statement, answering how many it held before (the
# caller works out the same split with `decide`). The subquery locks the row and reads it as it is now
# (`FOR UPDATE` waits for another replica's statement and re-reads the row it left), so every replica's
# takes for one key queue on that row for one statement each. `taken_at` may be after this statement's
# `now()` (a statement that began later committed first), hence greatest(0, …) and greatest(taken_at, …).
# A refusal leaves the bucket as it was. The answers themselves are worked out by `decide` from what the
# statement returns (the column `wait_seconds`, which the first version kept them in, is no longer written).
_GRANTED = "least(CAST(:asked AS float8), floor(r.refilled))"
_TAKE = f"""
UPDATE {{schema}}.rate_limit AS b SET
    tokens = CASE WHEN {_GRANTED} >= 1 THEN r.refilled - {_GRANTED} ELSE b.tokens END,
    taken_at = CASE WHEN {_GRANTED} >= 1 THEN greatest(b.taken_at, now()) ELSE b.taken_at END
FROM (
    SELECT least(CAST(:capacity AS float8),
                 tokens + greatest(0, extract(epoch FROM now() - taken_at))::float8 * CAST(:rate AS float8)) AS refilled
    FROM {{schema}}.rate_limit WHERE bucket = :bucket AND key = :key FOR UPDATE
) AS r
WHERE b.bucket = :bucket AND b.key = :key
RETURNING r.refilled
"""
# A key's first take, or its first since its row was swept: a full bucket to take from.
_MAKE = """
INSERT INTO {schema}.rate_limit (bucket, key, tokens, taken_at, wait_seconds)
VALUES (:bucket, :key, CAST(:capacity AS float8), now(), 0)
ON CONFLICT (bucket, key) DO NOTHING
"""
_SWEEP = """
DELETE FROM {schema}.rate_limit
WHERE bucket = :bucket AND taken_at < now() - make_interval(secs => CAST(:full AS float8))
"""


def decide(tokens: float, asked: int, rate: float) -> tuple[int, float, float]:
    """`asked` requests against a bucket holding `tokens`: how many are admitted, the tokens left, and
    the seconds the others wait for the next token (0 when all are admitted)."""
    granted = min(asked, int(tokens))
    left = tokens - granted
    return granted, left, (0.0 if granted == asked else (1 - left) / rate)


class SharedRateLimiter:
    """One bucket per key, shared by every replica through the service's database (module docstring).

    `bucket` names the limit (a row's first key column): limits of one service keep apart in one
    table. `per_minute` 0 turns the limit off. `fell_back(bucket)` is told of each request decided in
    process because the store failed (the service's telemetry counts them)."""

    def __init__(
        self,
        per_minute: int,
        *,
        engine: AsyncEngine,
        schema: str,
        bucket: str = PRINCIPAL,
        fell_back: Callable[[str], None] | None = None,
        store_timeout: float = STORE_TIMEOUT_SECONDS,
    ) -> None:
        self.capacity = float(per_minute)
        self.store_timeout = store_timeout
        self.rate = per_minute / 60.0
        self.bucket = bucket
        self.local = RateLimiter(per_minute)  # decides while the store is down
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")  # a statement is its transaction
        self._take = text(_TAKE.format(schema=schema))
        self._make = text(_MAKE.format(schema=schema))
        self._sweep = text(_SWEEP.format(schema=schema))
        self._fell_back = fell_back
        self._store_down_until = -1.0
        self._swept_at = time.monotonic()
        self._waiting: dict[str, list[asyncio.Future[float]]] = {}  # by hashed key, for the next trip
        self._trips: dict[str, asyncio.Task[None]] = {}  # by hashed key, the one under way

    async def take(self, key: str) -> float:
        """0 if allowed, else the seconds to wait."""
        if self.capacity <= 0:
            return 0.0
        hashed = hashlib.sha256(key.encode()).hexdigest()
        if time.monotonic() >= self._store_down_until:
            answer: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(hashed, []).append(answer)
            if hashed not in self._trips:
                self._trips[hashed] = asyncio.create_task(self._go(hashed))
            try:
                return await asyncio.shield(answer)  # a caller gone does not undo the trip it rides
            except _StoreFailed:
                pass
        if self._fell_back is not None:
            self._fell_back(self.bucket)
        return self.local.take(hashed)

    async def _go(self, hashed: str) -> None:
        """Trips to the store for `hashed` until nobody waits: each decides everyone waiting when it left."""
        try:
            while riders := self._waiting.pop(hashed, []):
                if time.monotonic() < self._store_down_until:  # the last trip failed: these are not sent again
                    for rider in riders:
                        rider.set_exception(_StoreFailed())
                    continue
                try:
                    async with asyncio.timeout(self.store_timeout):
                        granted, wait = await self._take_shared(hashed, len(riders))
                except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as exc:
                    self._store_failed(exc)
                    for rider in riders:
                        rider.set_exception(_StoreFailed())
                    continue
                if self._store_down_until > 0:
                    self._store_down_until = -1.0
                    log.info("rate limit %r: the shared bucket is back", self.bucket)
                for i, rider in enumerate(riders):
                    rider.set_result(0.0 if i < granted else wait)
        finally:
            del self._trips[hashed]
            for rider in self._waiting.pop(hashed, []):  # cancelled mid-trip (shutdown): decided in process
                rider.set_exception(_StoreFailed())

    def _store_failed(self, exc: BaseException) -> None:
        if time.monotonic() >= self._store_down_until:
            log.warning(
                "rate limit %r: the shared bucket failed (%s); deciding in this process for %.0f s",
                self.bucket, type(exc).__name__, RETRY_STORE_SECONDS,
            )  # fmt: skip
        self._store_down_until = time.monotonic() + RETRY_STORE_SECONDS

    async def _take_shared(self, hashed: str, asked: int) -> tuple[int, float]:
        """Takes up to `asked` tokens from the shared bucket: how many it gave, and the others' wait."""
        params = {"bucket": self.bucket, "key": hashed, "capacity": self.capacity, "rate": self.rate, "asked": asked}
        async with self._engine.connect() as conn:
            if (tokens := (await conn.execute(self._take, params)).scalar_one_or_none()) is None:
                await conn.execute(self._make, params)  # no row yet: make it full, then take as before
                tokens = (await conn.execute(self._take, params)).scalar_one()
            now = time.monotonic()
            if now - self._swept_at >= SWEEP_SECONDS:
                self._swept_at = now
                await conn.execute(self._sweep, {"bucket": self.bucket, "full": self.capacity / self.rate})
        granted, _, wait = decide(float(tokens), asked, self.rate)
        return granted, wait


class _StoreFailed(Exception):
    """The trip a request rode failed: it is decided in process."""
