"""`GET /metrics` on every service: Prometheus text an operator's Prometheus parses, and
figures that move as the platform works: requests by route template, the outbox, each consumer's
events, pending counts and dead letters, metrics' freshness; and the outbox age growing while NATS
is down."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import nats
from fastapi import FastAPI
from sqlalchemy import text

from ictg_common import telemetry
from ictg_common.db import create_engine
from ictg_common.devinfra import EmbeddedNats
from ictg_common.settings import DEV_SCRAPE_TOKEN
from ictg_intake.app import create_app as create_intake
from ictg_intake.settings import IntakeSettings
from tests.support.factories import referral_body
from tests.support.observability_harness import Scrape, platform, scrape
from tests.support.platform import ROOT, as_tester, auth, eventually, serve


async def until(client: httpx.AsyncClient, check: Any, *, timeout: float = 15.0) -> Scrape:
    """Scrape `client` until `check(scrape)` holds; the scrape that satisfied it."""

    async def attempt() -> Scrape | None:
        s = await scrape(client)
        return s if check(s) else None

    result: Scrape = await eventually(attempt, timeout=timeout, interval=0.1)
    return result


async def test_every_service_exposes_its_figures_and_they_follow_a_referral(shared_settings: dict[str, Any]) -> None:
    async with platform(shared_settings) as p:
        before = {name: await scrape(client) for name, client in p.clients().items()}
        for name, s in before.items():
            assert {"ictg_http_requests", "ictg_nats_connected", "ictg_scrape_errors"} <= s.families, name
            assert "ictg_outbox_backlog" in s.families if name != "metrics" else "ictg_outbox_backlog" not in s.families
        assert math.isnan(before["metrics"].one("ictg_metrics_freshness_seconds"))  # nothing folded yet
        assert before["cases"].one("ictg_consumer_events_total", consumer="cases-referrals", outcome="handled") == 0
        # Not a documented operation (every documented one needs a token): absent from the OpenAPI.
        assert "/metrics" not in (await p.intake.get("/openapi.json")).json()["paths"]
        # Never open (it counts exits and moves as they happen): no token, a wrong one, an API token: 401.
        everything = auth("metrics:read", "metrics:read:unsuppressed", "metrics:admin", "cases:read")
        for name, client in p.clients().items():
            for headers in ({}, {"Authorization": "Bearer not-the-scrape-token"}, everything,
                            {"Authorization": DEV_SCRAPE_TOKEN}):  # fmt: skip
                r = await client.get("/metrics", headers=headers)
                assert r.status_code == 401 and "ictg_" not in r.text, (name, headers, r.text)
                assert r.headers["content-type"] == "application/problem+json"

        r = await p.intake.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
        assert r.status_code == 201, r.text
        referral_id = r.json()["id"]

        # Intake: the POST by its route template, timed; its event published, the outbox empty again.
        intake = await until(
            p.intake, lambda s: s.value("ictg_outbox_published_total") >= 1 and s.one("ictg_outbox_backlog") == 0
        )
        assert intake.one("ictg_http_requests_total", method="POST", route="/v1/referrals", status="201") == 1
        assert intake.one("ictg_http_request_duration_seconds_count", method="POST", route="/v1/referrals") == 1
        assert intake.one("ictg_outbox_oldest_unpublished_age_seconds") == 0

        # The case API opened the case from the event: handled once, timed, nothing left pending.
        cases = await until(
            p.cases,
            lambda s: (
                s.one("ictg_consumer_events_total", consumer="cases-referrals", outcome="handled") == 1
                and s.one("ictg_consumer_pending_messages", consumer="cases-referrals") == 0
                and s.one("ictg_consumer_ack_pending_messages", consumer="cases-referrals") == 0
            ),
        )
        assert cases.one("ictg_consumer_handling_duration_seconds_count", consumer="cases-referrals") == 1
        assert cases.one("ictg_consumer_redelivered_total", consumer="cases-referrals") == 0
        assert cases.one("ictg_dead_letters", consumer="cases-referrals") == 0
        assert cases.one("ictg_sla_breaches_total", clock="allocation") == 0
        assert cases.one("ictg_nats_connected") == 1
        # Its claim check (a batch by id) reached intake, labelled by the route, never by an id.
        intake = await scrape(p.intake)
        assert intake.one("ictg_http_requests_total", method="GET", route="/v1/referrals", status="200")
        assert not [ls for _, ls, _ in intake.samples if referral_id in ls.get("route", "")]

        # Metrics handled referral.received, case.opened and the referrer's referral.status_changed (folding the
        # first two): counted, and fresh.
        metrics = await until(
            p.metrics,
            lambda s: (
                s.value("ictg_consumer_events_total", consumer="metrics-all", outcome="handled") == 3
                and s.one("ictg_consumer_pending_messages", consumer="metrics-all") == 0
            ),
        )
        assert 0 <= metrics.one("ictg_metrics_freshness_seconds") < 30
        # Webhooks routed all three (no subscription: nothing to deliver).
        hooks = await until(
            p.hooks, lambda s: s.one("ictg_consumer_events_total", consumer="webhooks-all", outcome="handled") == 3
        )
        assert hooks.one("ictg_webhook_deliveries_pending") == 0
        assert hooks.one("ictg_webhook_attempts_total", outcome="delivered") == 0

        # An event nobody can parse is parked by every consumer of its subject: dead letters show.
        nc = await nats.connect(as_tester(shared_settings["nats_url"]))
        try:
            await nc.jetstream().publish(
                f"{shared_settings['subject_prefix']}.intake.referral.received", b"{not json",
                stream=shared_settings["nats_stream"],
            )  # fmt: skip
        finally:
            await nc.close()
        cases = await until(p.cases, lambda s: s.one("ictg_dead_letters", consumer="cases-referrals") == 1)
        assert cases.one("ictg_consumer_events_total", consumer="cases-referrals", outcome="dead_lettered") == 1
        assert cases.one("ictg_consumer_events_total", consumer="cases-referrals", outcome="handled") == 1
        await until(p.metrics, lambda s: s.one("ictg_dead_letters", consumer="metrics-all") == 1)


async def test_events_carry_no_trace_context_while_tracing_is_off(shared_settings: dict[str, Any]) -> None:
    async with serve(create_intake(IntakeSettings(**shared_settings))) as intake:
        r = await intake.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
        assert r.status_code == 201, r.text
    engine = create_engine(shared_settings["database_url"], pool_size=1)
    try:
        async with engine.connect() as conn:
            [payload] = (await conn.execute(text("SELECT payload::text FROM intake.outbox"))).scalars().all()
    finally:
        await engine.dispose()
    assert "traceparent" not in json.loads(payload)


async def test_outbox_age_grows_while_nats_is_down_and_drops_when_it_returns(shared_settings: dict[str, Any]) -> None:
    root = ROOT / ".run" / f"obs-outage-{shared_settings['subject_prefix']}"
    server = EmbeddedNats(Path(root))
    url = server.start()
    try:
        own = {"nats_url": url, **server.credentials("intake").settings(), "telemetry_reading_seconds": 0}
        app = create_intake(IntakeSettings(**{**shared_settings, **own}))
        async with serve(app) as client:
            await until(client, lambda s: s.one("ictg_nats_connected") == 1)
            server.stop()
            r = await client.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
            assert r.status_code == 201, r.text  # accepted: the event waits in the outbox
            first = await until(client, lambda s: s.one("ictg_nats_connected") == 0)
            assert first.one("ictg_outbox_backlog") == 1
            await asyncio.sleep(1.2)
            later = await scrape(client)
            assert later.one("ictg_outbox_backlog") == 1
            grown = later.one("ictg_outbox_oldest_unpublished_age_seconds")
            assert grown >= first.one("ictg_outbox_oldest_unpublished_age_seconds") + 1, (first, grown)
            assert later.value("ictg_outbox_published_total") == 0

            server.start()  # same port: the relay publishes what waited
            back = await until(client, lambda s: s.one("ictg_outbox_backlog") == 0, timeout=20)
            assert back.one("ictg_outbox_oldest_unpublished_age_seconds") == 0
            assert back.value("ictg_outbox_published_total") == 1
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def bare_app(**kwargs: Any) -> FastAPI:
    """An app with nothing but its telemetry (no database, no NATS) and one route."""
    app = FastAPI()
    app.state.telemetry = telemetry.install(app, name="bare", schema="bare", publishes=False, **kwargs)  # for its tests

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    return app


def series(s: Scrape, name: str) -> list[dict[str, str]]:
    return [ls for n, ls, _ in s.samples if n == name]


async def test_labels_stay_bounded_whatever_the_client_sends() -> None:
    app = bare_app(reading_seconds=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bare") as client:
        assert (await client.get("/things/1")).status_code == 200
        assert (await client.request("ZZZ1", "/x")).status_code == 404
        assert (await client.request("QQQ", "/things/2")).status_code == 405
        await scrape(client)
        before = {json.dumps(ls, sort_keys=True) for ls in series(await scrape(client), "ictg_http_requests_total")}
        # Other made-up methods, on a known route and on paths no route matches: counts, no new series.
        for method, path in (("ZZZ2", "/x"), ("MADEUP", "/things/3"), ("ZZZ9", "/y/5"), ("XYZ", "/no/such/7")):
            await client.request(method, path)
        later = await scrape(client)
    after = {json.dumps(ls, sort_keys=True) for ls in series(later, "ictg_http_requests_total")}
    assert after == before, after ^ before
    labels = series(later, "ictg_http_requests_total") + series(later, "ictg_http_request_duration_seconds_count")
    assert {ls["method"] for ls in labels} == {"GET", "other"}, labels
    assert {ls["route"] for ls in labels} == {"/things/{thing_id}", "/metrics", "unmatched"}, labels
    assert later.one("ictg_http_requests_total", method="other", route="unmatched", status="404") == 4
    assert later.one("ictg_http_requests_total", method="other", route="/things/{thing_id}", status="405") == 2


async def test_scrapes_share_one_reading_for_a_few_seconds_and_a_hung_part_is_cut_short(
    monkeypatch: Any,
) -> None:
    app = bare_app(reading_seconds=0.5)
    calls = 0
    hang = asyncio.Event()

    async def slow() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        if hang.is_set():
            await asyncio.sleep(60)

    app.state.telemetry.on_scrape(slow)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bare") as client:
        # Ten scrapes at once: one reading, which all of them wait for and report.
        await asyncio.gather(*(scrape(client) for _ in range(10)))
        assert calls == 1 and app.state.telemetry.readings == 1
        await scrape(client)  # within reading_seconds of the last: the same reading
        assert calls == 1
        await asyncio.sleep(0.6)
        await scrape(client)  # older than that: read again
        assert calls == 2

        # A part that hangs is given up after SCRAPE_TIMEOUT, counted, and the scrape still answers.
        monkeypatch.setattr(telemetry, "SCRAPE_TIMEOUT", 0.3)
        hang.set()
        await asyncio.sleep(0.6)
        started = time.monotonic()
        s = await scrape(client)
        assert time.monotonic() - started < 2
        assert s.one("ictg_scrape_errors_total", part="service") == 1


def test_the_default_reading_is_reused_for_five_seconds() -> None:
    assert telemetry.READING_SECONDS == 5.0
    assert IntakeSettings().telemetry_reading_seconds == 5.0
