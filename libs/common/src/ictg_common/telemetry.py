"""Prometheus metrics of a service: `GET /metrics`, one registry per app.

What is counted where:
- requests, by method, route template and status, with latency histograms (`MetricsMiddleware`);
- the outbox relay's publications, and the consumers' events by outcome, redeliveries and handling
  latency: counters of this process (`OutboxRelay` and `ConsumerRunner` report here);
- the outbox backlog and the age of its oldest unpublished row, the dead letters, and each durable's
  JetStream pending counts: read from Postgres and from JetStream when scraped, at most once per
  `reading_seconds` (5 s) per process: scrapes within that time, and concurrent ones, share one
  reading (its queries, one `consumer_info` per durable), each part bounded by
  `SCRAPE_TIMEOUT`. They describe state shared by every replica, so every replica reports the same
  value: aggregate them with `max`, never `sum`. Counters and histograms are per process: aggregate
  them with `sum`.
- a service adds its own (webhook deliveries, freshness) on `registry`, and may ask for a refresh at
  scrape time with `on_scrape` (run with the shared reading, so cached the same way).

Labels stay bounded whatever a client sends: `method` is one of `METHODS` or `other`, `route` a
route template or `unmatched`, `status` a three-digit HTTP status (else `other`).

One registry per process, answering for that process only: run one uvicorn worker per process
(container or pod) and scale by replicas, each scraped on its own. `uvicorn --workers N` would put N
processes behind one port, and each scrape would reach one of them at random.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from sqlalchemy import text
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import tracing
from .errors import Unauthorized
from .runtime import runtime_of
from .settings import DEV_SCRAPE_TOKEN

log = logging.getLogger(__name__)

# `_created` series double every counter and histogram and no dashboard reads them.
disable_created_metrics()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SCRAPE_TIMEOUT = 3.0  # per part (database, JetStream, the service's own): a scrape must not hang
READING_SECONDS = 5.0  # scrape-time readings are reused this long (and shared by concurrent scrapes)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
OTHER = "other"  # the method label of any other method (`ZZZ1 /x` must not make a series)
UNMATCHED = "unmatched"  # the route label of a path no route matches: labels stay bounded
CONSUMER_OUTCOMES = ("handled", "duplicate", "failed", "dead_lettered")

ScrapeHook = Callable[[], Awaitable[None]]


class Telemetry:
    """The metric families of one service app, on a registry of its own."""

    def __init__(
        self, service: str, *, schema: str = "", publishes: bool = False, reading_seconds: float = READING_SECONDS
    ) -> None:
        self.service = service
        self.schema = schema
        self.publishes = publishes
        self.reading_seconds = reading_seconds
        self.registry = CollectorRegistry()
        self._hooks: list[ScrapeHook] = []
        self._reading: asyncio.Future[None] | None = None  # the newest scrape-time reading (maybe in flight)
        self._read_at = -math.inf  # when it finished (monotonic)
        self.readings = 0  # how many were made (tests: scrapes share them)
        r = self.registry
        self.requests = Counter(
            "ictg_http_requests", "HTTP requests answered, by route template and status.",
            ["method", "route", "status"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "ictg_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        # A service without an outbox (metrics) does not expose these: a 0 there would mean nothing.
        outbox = r if publishes else None
        self.outbox_backlog = Gauge(
            "ictg_outbox_backlog", "Outbox rows committed and not yet published (at scrape time).", registry=outbox
        )
        self.outbox_oldest_age = Gauge(
            "ictg_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none; at scrape time).", registry=outbox,
        )  # fmt: skip
        self.outbox_published = Counter(
            "ictg_outbox_published", "Events this process's relay published to JetStream.", registry=outbox
        )
        self.consumer_pending = Gauge(
            "ictg_consumer_pending_messages",
            "Messages of the stream not yet delivered to the durable consumer (JetStream num_pending).",
            ["consumer"], registry=r,
        )  # fmt: skip
        self.consumer_ack_pending = Gauge(
            "ictg_consumer_ack_pending_messages",
            "Messages delivered to the durable consumer and not yet acknowledged (JetStream num_ack_pending).",
            ["consumer"], registry=r,
        )  # fmt: skip
        self.consumer_events = Counter(
            "ictg_consumer_events",
            "Events this process's consumer took: handled, duplicate (handled before), failed (will be "
            "redelivered) or dead_lettered.",
            ["consumer", "outcome"], registry=r,
        )  # fmt: skip
        self.consumer_redelivered = Counter(
            "ictg_consumer_redelivered", "Messages this process received more than once (JetStream redelivery).",
            ["consumer"], registry=r,
        )  # fmt: skip
        self.consumer_seconds = Histogram(
            "ictg_consumer_handling_duration_seconds",
            "Time to handle one fetched batch, or one event alone, claim check and commit included.",
            ["consumer"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.consumer_paused = Gauge(
            "ictg_consumer_paused", "1 while the consumer waits for its database, NATS or a peer to come back.",
            ["consumer"], registry=r,
        )  # fmt: skip
        self.dead_letters = Gauge(
            "ictg_dead_letters", "Events parked in the dead_letter table (at scrape time).", ["consumer"], registry=r
        )
        self.nats_connected = Gauge("ictg_nats_connected", "1 while this process is connected to NATS.", registry=r)
        self.reconcile_mismatches = Gauge(
            "ictg_reconcile_mismatches",
            "What the last reconciliation this process ran found out of step (0: consistent).", ["check"], registry=r,
        )  # fmt: skip
        self.reconcile_timestamp = Gauge(
            "ictg_reconcile_last_run_timestamp_seconds", "When this process last ran the reconciliation.",
            ["check"], registry=r,
        )  # fmt: skip
        self.rate_limit_fallbacks = Counter(
            "ictg_rate_limit_fallbacks",
            "Requests this process rate-limited with its own in-memory bucket because the shared one (its "
            "database) failed, by limit.", ["bucket"], registry=r,
        )  # fmt: skip
        self.scrape_errors = Counter(
            "ictg_scrape_errors", "Scrape-time readings that failed (their gauges read NaN).", ["part"], registry=r
        )

    def on_scrape(self, hook: ScrapeHook) -> None:
        """Run `hook` (it sets the service's own gauges) before each scrape, with a timeout."""
        self._hooks.append(hook)

    # What the relay and the consumer runners report (`ictg_common.runtime.RunnerSink`).
    def handled(self, consumer: str, outcome: str, count: int = 1) -> None:
        if count:
            self.consumer_events.labels(consumer, outcome).inc(count)

    def handling_took(self, consumer: str, seconds: float) -> None:
        self.consumer_seconds.labels(consumer).observe(seconds)

    def redelivered(self, consumer: str, count: int) -> None:
        self.consumer_redelivered.labels(consumer).inc(count)

    def published(self, count: int) -> None:
        self.outbox_published.inc(count)

    def consumes(self, consumer: str) -> None:
        """Every series of `consumer` exists from the start at 0, so rate() and increase() see the first event."""
        for outcome in CONSUMER_OUTCOMES:
            self.consumer_events.labels(consumer, outcome)
        self.consumer_redelivered.labels(consumer)
        self.consumer_seconds.labels(consumer)

    def rate_limit_fell_back(self, bucket: str) -> None:
        self.rate_limit_fallbacks.labels(bucket).inc()

    def reconciled(self, check: str, mismatches: int) -> None:
        self.reconcile_mismatches.labels(check).set(mismatches)
        self.reconcile_timestamp.labels(check).set(time.time())

    async def exposition(self, app: FastAPI) -> bytes:
        """The registry in the text format, scrape-time gauges read first (or a reading at most
        `reading_seconds` old; a scrape arriving while one is made waits for that one)."""
        reading = self._reading
        if reading is None or (reading.done() and time.monotonic() - self._read_at >= self.reading_seconds):
            reading = self._reading = asyncio.ensure_future(self._read(app))
        # shield: a scrape that gives up (client gone) does not cancel the reading others wait for
        await asyncio.shield(reading)
        return generate_latest(self.registry)

    async def _read(self, app: FastAPI) -> None:
        self.readings += 1
        parts: list[tuple[str, Awaitable[None]]] = [
            ("consumers", self._read_consumers(app)),
            ("database", self._read_database(app)),
        ]
        parts += [("service", hook()) for hook in self._hooks]
        results = await asyncio.gather(
            *(asyncio.wait_for(coro, SCRAPE_TIMEOUT) for _, coro in parts), return_exceptions=True
        )
        for (part, _), result in zip(parts, results, strict=True):
            if isinstance(result, BaseException):
                self.scrape_errors.labels(part).inc()
                log.debug("scrape-time reading failed", extra={"part": part, "error": repr(result)})
                if part == "database":
                    for gauge in (self.outbox_backlog, self.outbox_oldest_age):
                        gauge.set(math.nan)
        self._read_at = time.monotonic()

    async def _read_database(self, app: FastAPI) -> None:
        runtime = runtime_of(app)
        runners = [r.status() for r in runtime.consumers]
        async with runtime.engine.connect() as conn:
            if self.publishes:
                row = (
                    await conn.execute(
                        text(
                            "SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS age "
                            f'FROM "{self.schema}".outbox WHERE published_at IS NULL'
                        )
                    )
                ).one()
                self.outbox_backlog.set(row.n)
                self.outbox_oldest_age.set(max(float(row.age), 0.0))
            if runners:
                rows = await conn.execute(
                    text(f'SELECT consumer, count(*) AS n FROM "{self.schema}".dead_letter GROUP BY consumer')
                )
                parked = {r.consumer: int(r.n) for r in rows}
                for name in {r.name for r in runners} | set(parked):
                    self.dead_letters.labels(name).set(parked.get(name, 0))

    async def _read_consumers(self, app: FastAPI) -> None:
        runtime = runtime_of(app)
        link = runtime.nats
        self.nats_connected.set(1 if link is not None and link.connected else 0)
        runners = [r.status() for r in runtime.consumers]
        for runner in runners:
            self.consumer_paused.labels(runner.name).set(1 if runner.paused else 0)
        if link is None or not runners:
            return
        if not link.connected:
            for runner in runners:  # unknown while NATS is out of reach: NaN, not a stale number
                self.consumer_pending.labels(runner.name).set(math.nan)
                self.consumer_ack_pending.labels(runner.name).set(math.nan)
            return
        js = await link.jetstream()
        for runner in runners:
            try:
                info = await js.consumer_info(link.stream, runner.name, timeout=1)
            except Exception:  # noqa: BLE001 - not created yet (first fetch pending): unknown
                self.consumer_pending.labels(runner.name).set(math.nan)
                self.consumer_ack_pending.labels(runner.name).set(math.nan)
                continue
            self.consumer_pending.labels(runner.name).set(info.num_pending or 0)
            self.consumer_ack_pending.labels(runner.name).set(info.num_ack_pending or 0)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (`/v1/cases/{case_id}`, never the
    concrete path), and marks the request's spans with the service's name."""

    def __init__(self, app: ASGIApp, *, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = tracing.set_service(self.telemetry.service)
        try:
            await self.app(scope, receive, send_status)
        finally:
            tracing.reset_service(token)
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else OTHER
            code = str(status) if 100 <= status <= 599 else OTHER
            self.telemetry.requests.labels(method, route, code).inc()
            self.telemetry.request_seconds.labels(method, route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The template of the route that answered (or would have: refused before routing), never the
    concrete path: `UNMATCHED` when no route matches it (404)."""
    route = scope.get("route")
    if route is not None and isinstance(getattr(route, "path", None), str):
        return str(route.path)
    app: Any = scope.get("app")
    for candidate in getattr(app, "routes", []):  # refused before routing (413, 415): match it now
        path = getattr(candidate, "path", None)
        if isinstance(path, str) and candidate.matches(scope)[0] == Match.FULL:
            return path
    return UNMATCHED


def metrics_router(scrape_token: str, telemetry: Telemetry) -> APIRouter:
    router = APIRouter()
    expected = f"Bearer {scrape_token}".encode()

    # Not a documented operation (no entry in the OpenAPI document), and never open: it counts exits,
    # moves and missing episodes as they happen, figures about children. Prometheus sends the scrape
    # token (ICTG_SCRAPE_TOKEN) as a bearer token; anything else is 401, as an API token is not one.
    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
            raise Unauthorized(
                "GET /metrics needs the scrape token (ICTG_SCRAPE_TOKEN) as a bearer token.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body = await telemetry.exposition(request.app)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def install(
    app: FastAPI, *, name: str, schema: str, publishes: bool, reading_seconds: float = READING_SECONDS,
    scrape_token: str = DEV_SCRAPE_TOKEN,
) -> Telemetry:  # fmt: skip
    """Give `app` its registry (the `Telemetry` returned, which its runtime carries), `GET /metrics`,
    request metrics and, if tracing is on (`ictg_common.tracing`), server spans."""
    tracing.configure_from_env(name)
    telemetry = Telemetry(name, schema=schema, publishes=publishes, reading_seconds=reading_seconds)
    app.add_middleware(MetricsMiddleware, telemetry=telemetry)
    app.include_router(metrics_router(scrape_token, telemetry))
    tracing.instrument_app(app, name)
    return telemetry
