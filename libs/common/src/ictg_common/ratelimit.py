"""Rate limits shared by every replica of a service: a token bucket per principal (and the token
service's per client and address), held in the service's own Postgres schema.

The bucket. `per_minute` tokens at most, refilled at `per_minute / 60` a second; a request takes one,
or is refused with the seconds until one is there (the caller answers 429 with `Retry-After`). The
same arithmetic as the in-process `ictg_common.auth.RateLimiter`, so one replica answers as before.

The store. A bucket is one row of `<schema>.rate_limit` (`rate_limit_table`, in every service's
migrations), taken with one statement, `INSERT … ON CONFLICT (bucket, key) DO UPDATE … RETURNING`, on
an autocommit connection of the service's pool: the row is locked for that statement only, so every
replica's requests for one principal queue on it and together take one bucket's worth, and no request
waits on another's transaction. Time is the database's (`now()`), one clock for every replica. The
row keeps the answer it gave (`wait_seconds`): a refusal leaves the bucket as it was, and only the
row says which way the statement went. Keys are stored as their SHA-256, never as written (a client's
address is personal data; a claimed client id can be any length). A bucket untouched for a minute is
full, the same as no row: each replica deletes such rows of its bucket once a minute.

An outage. When the statement fails (the database down, the pool not handing out a connection within
`STORE_TIMEOUT_SECONDS`, the table missing mid-upgrade), the request is decided by an in-process bucket
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
        Column("wait_seconds", Float, nullable=False),  # the last answer: 0 taken, else seconds to wait
    )


# `refilled`: the bucket's tokens now; a statement that waited for the row's lock may have started
# before the last one that took it, hence greatest(0, …) and greatest(taken_at, now()).
_REFILLED = (
    "least(CAST(:capacity AS float8), b.tokens + greatest(0, extract(epoch FROM now() - b.taken_at))::float8 "
    "* CAST(:rate AS float8))"
)
_TAKE = """
INSERT INTO {schema}.rate_limit AS b (bucket, key, tokens, taken_at, wait_seconds)
VALUES (:bucket, :key, CAST(:capacity AS float8) - 1, now(), 0)
ON CONFLICT (bucket, key) DO UPDATE SET
    tokens = CASE WHEN {refilled} >= 1 THEN {refilled} - 1 ELSE b.tokens END,
    taken_at = CASE WHEN {refilled} >= 1 THEN greatest(b.taken_at, now()) ELSE b.taken_at END,
    wait_seconds = CASE WHEN {refilled} >= 1 THEN 0 ELSE (1 - {refilled}) / CAST(:rate AS float8) END
RETURNING wait_seconds
"""
_SWEEP = """
DELETE FROM {schema}.rate_limit
WHERE bucket = :bucket AND taken_at < now() - make_interval(secs => CAST(:full AS float8))
"""


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
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.bucket = bucket
        self.local = RateLimiter(per_minute)  # decides while the store is down
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._take = text(_TAKE.format(schema=schema, refilled=_REFILLED))
        self._sweep = text(_SWEEP.format(schema=schema))
        self._fell_back = fell_back
        self._store_down_until = -1.0
        self._swept_at = time.monotonic()

    async def take(self, key: str) -> float:
        """0 if allowed, else the seconds to wait."""
        if self.capacity <= 0:
            return 0.0
        now = time.monotonic()
        if now >= self._store_down_until:
            try:
                async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                    wait = await self._take_shared(hashlib.sha256(key.encode()).hexdigest(), now)
            except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as exc:
                self._store_down_until = time.monotonic() + RETRY_STORE_SECONDS
                log.warning(
                    "rate limit %r: the shared bucket failed (%s); deciding in this process for %.0f s",
                    self.bucket, type(exc).__name__, RETRY_STORE_SECONDS,
                )  # fmt: skip
            else:
                if self._store_down_until > 0:
                    self._store_down_until = -1.0
                    log.info("rate limit %r: the shared bucket is back", self.bucket)
                return wait
        if self._fell_back is not None:
            self._fell_back(self.bucket)
        return self.local.take(key)

    async def _take_shared(self, hashed: str, now: float) -> float:
        params = {"bucket": self.bucket, "key": hashed, "capacity": self.capacity, "rate": self.rate}
        async with self._engine.connect() as conn:
            wait = float((await conn.execute(self._take, params)).scalar_one())
            if now - self._swept_at >= SWEEP_SECONDS:
                self._swept_at = now
                await conn.execute(self._sweep, {"bucket": self.bucket, "full": self.capacity / self.rate})
        return wait
