"""National-scale benchmark: a synthetic caseload loaded in bulk, then the analysts' queries.

Size: ICTG_BENCH_CHILDREN (default 100,000 children ≈ 9–10 million events). Latencies are reported
as ratios to a baseline measured in the same process (`SELECT count(*)` over the child table), so
the figures compare across machines; nothing here asserts a time. Also reported: load rate,
freshness (publish → visible), and a full rebuild (ICTG_BENCH_REBUILD=0 skips it).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from tqdm import tqdm

from ictg_common.auth import mint_token
from ictg_common.contracts import ReferralReceived, make_event
from ictg_common.db import plain_url
from ictg_common.devinfra import Infra
from ictg_common.events import new_id
from ictg_common.runtime import runtime_of
from ictg_metrics.admin.rebuild import rebuild
from ictg_metrics.app import create_app
from ictg_metrics.settings import MetricsSettings
from ictg_metrics.synth.bulk import load

CHILDREN = int(os.environ.get("ICTG_BENCH_CHILDREN", "100000"))
REPEAT = int(os.environ.get("ICTG_BENCH_REPEAT", "20"))
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"

QUERIES: list[tuple[str, str, dict[str, Any]]] = [
    ("total", "/v1/metrics/children", {}),
    ("by gender", "/v1/metrics/children", {"group_by": "gender"}),
    ("region × age band × status", "/v1/metrics/children", {"group_by": "region,age_band,status", "as_of": "2019-06-30"}),
    ("contact × f2f frequency", "/v1/metrics/children", {"group_by": "contact_frequency,face_to_face_frequency", "as_of": "2018-12-31"}),
    ("third-party frequency × main party", "/v1/metrics/children", {"group_by": "third_party_frequency,main_third_party"}),
    ("topic (multi)", "/v1/metrics/children", {"group_by": "topic", "as_of": "2019-03-31"}),
    ("legal advice area (multi)", "/v1/metrics/children", {"group_by": "legal_advice_area"}),
    ("missing: long-term × in service", "/v1/metrics/children", {"group_by": "long_term_missing,missing_in_service", "as_of": "2018-06-30"}),
    ("months band × activity base", "/v1/metrics/children", {"group_by": "months_in_service_band,activity_base"}),
    ("NRM CG × current LA", "/v1/metrics/children", {"group_by": "nrm_conclusive_grounds,current_local_authority"}),
    ("exit reason × destination, period", "/v1/metrics/children",
     {"group_by": "exit_reason,exit_destination", "referred_from": "2017-04-01", "referred_to": "2018-03-31"}),
    ("filtered first contact band", "/v1/metrics/children",
     {"group_by": "first_contact_band", "nationality_group": "non_eea", "exploitation_type": "criminal"}),
    ("caseload 36 months", "/v1/metrics/caseload", {"from": "2017-02", "to": "2020-01"}),
    ("caseload by region", "/v1/metrics/caseload", {"from": "2017-02", "to": "2020-01", "group_by": "region"}),
    ("timeliness by region", "/v1/metrics/timeliness", {"group_by": "region"}),
    # as of the synthetic data's last month: to today, the years since 2020 are empty cells and the table is sparse
    ("CSV by local authority × referral year", "/v1/metrics/children",
     {"group_by": "local_authority,referral_year", "as_of": "2020-01-31", "format": "csv"}),
]  # fmt: skip


async def _timed(fn: Any) -> tuple[float, float]:
    """(p50, p95) of REPEAT runs after a warm-up."""
    runs = []
    await fn()  # warm-up
    for _ in range(REPEAT):
        t = time.perf_counter()
        await fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), statistics.quantiles(runs, n=20, method="inclusive")[18]


async def _bench(infra: Infra, url: str) -> None:
    settings = MetricsSettings(database_url=url, nats_url=infra.nats_url, nats_stream="BENCH", subject_prefix="bench",
                               auth_secret=SECRET, release_check_seconds=0, dp_monthly_epsilon=20)  # fmt: skip
    token = mint_token(
        secret=SECRET,
        sub="bench",
        scopes=["metrics:read", "metrics:query", "metrics:read:unsuppressed", "metrics:admin"],
        org_type="ictg",
        org_name="ICTG service",
    )
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers, timeout=600
        )
        conn = await asyncpg.connect(plain_url(url))

        async def baseline() -> None:
            await conn.fetchval("SELECT count(*) FROM metrics.child")

        base, base_95 = await _timed(baseline)
        total = (await client.get("/v1/metrics/children", params={"disclosure": "none"})).json()["total"]
        assert total == CHILDREN
        print(f"\nbaseline SELECT count(*) over {CHILDREN:,} children: p50 {base * 1000:.1f} ms, "
              f"p95 {base_95 * 1000:.1f} ms (ratio 1.0)")  # fmt: skip
        print("Perturbed (disclosure=perturb: cell keys summed in SQL, the ptable applied) and true counts (none):")
        print(f"{'query':42} {'perturb p50':>11} {'p95':>7} {'× base':>7}   {'none p50':>8} {'p95':>7} {'× base':>7}")
        for label, path, params in QUERIES:
            line, refused = f"{label:42}", set()
            for disclosure in ("perturb", "none"):

                async def run(
                    path: str = path, params: dict[str, Any] = params, d: str = disclosure, refused: set[str] = refused
                ) -> None:
                    r = await client.get(path, params={"disclosure": d, **params})
                    # a smaller run can make a fine table sparse: refused (422) after counting, still timed
                    assert r.status_code == 200 or (d == "perturb" and "sparse" in r.text), r.text
                    if r.status_code == 422:
                        refused.add(d)

                p50, p95 = await _timed(run)
                line += f" {p50 * 1000:11.1f} {p95 * 1000:7.1f} {p50 / base:7.1f}  "
            print(line + (" (perturb: refused as sparse)" if refused else ""))

        await _releases(client, base)
        await _private(client, base)

        # freshness: one referral published on the stream, until the count includes it
        await runtime_of(app).nats.jetstream()
        rid = new_id()
        event = make_event(data=_referral(rid), subject=rid, time=_now())
        producer = await nats.connect(infra.as_tester())  # as intake would publish it (metrics may publish nothing)
        js = producer.jetstream()
        t = time.perf_counter()
        await js.publish(event.nats_subject("bench"), event.to_json(), headers={"Nats-Msg-Id": str(event.id)})
        while (await client.get("/v1/metrics/children", params={"disclosure": "none"})).json()["total"] != CHILDREN + 1:
            await asyncio.sleep(0.01)
        print(f"freshness (publish → counted): {(time.perf_counter() - t) * 1000:.0f} ms")
        await producer.close()
        await conn.close()
        await client.aclose()
    if os.environ.get("ICTG_BENCH_REBUILD", "1") != "0":
        t = time.perf_counter()
        with tqdm(total=CHILDREN + 1, unit=" children", desc="rebuild") as bar:
            result = await rebuild(url, progress=bar.update)
        took = time.perf_counter() - t
        print(f"rebuild: {result.children:,} children, {result.events:,} events in {took:.1f} s "
              f"({result.events / took:,.0f} events/s)")  # fmt: skip


RELEASE = "2020-01"  # the synthetic data's last month
RELEASE_TABLES = ("referrals_by_month", "referrals_by_financial_year_and_local_authority", "timeliness_by_quarter")


async def _releases(client: httpx.AsyncClient, base: float) -> None:
    """The whole catalogue published as at a month's end (once: a release is never recomputed), then
    stored tables served, each against the same `count(*)` baseline."""
    t = time.perf_counter()
    r = await client.post("/v1/admin/releases", params={"release": RELEASE})
    took = time.perf_counter() - t
    assert r.status_code in (200, 201), r.text
    print(f"release {RELEASE} (whole catalogue, {CHILDREN:,} children): computed and stored in {took:.2f} s "
          f"({took / base:,.0f} × base)" + ("" if r.status_code == 201 else " (already stored: not recomputed)"))  # fmt: skip
    for table in RELEASE_TABLES:

        async def serve(table: str = table, fmt: str = "json") -> None:
            got = await client.get(f"/v1/releases/{RELEASE}/tables/{table}", params={"format": fmt})
            assert got.status_code == 200, got.text

        for fmt in ("json", "csv"):
            p50, p95 = await _timed(lambda table=table, fmt=fmt: serve(table, fmt))  # type: ignore[misc]
            print(f"stored table {table} ({fmt}): p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
                  f"({p95 / base:.1f} × base p50)")  # fmt: skip


PRIVATE = ("total", "by gender", "region × age band × status", "caseload 36 months", "timeliness by region")


async def _private(client: httpx.AsyncClient, base: float) -> None:
    """Free queries under differential privacy (each call a new query: another `as_of`, a day earlier each
    time, so each is charged, noised and stored, where a repeated one would be a replay) against the same
    queries with true counts. One epsilon throughout (0.05), as analysts use a few: OpenDP's measurements
    are built once per epsilon."""
    print(f"Differential privacy (disclosure=dp, a new query each call) against true counts (none), as of {AS_OF}"
          " and the days before:")  # fmt: skip
    for label, path, params in [q for q in QUERIES if q[0] in PRIVATE]:
        line = f"{label:42}"
        for disclosure in ("dp", "none"):
            days = iter(range(1_000))

            async def run(
                path: str = path, params: dict[str, Any] = params, d: str = disclosure, days: Any = days
            ) -> None:
                as_of = (date.fromisoformat(AS_OF) - timedelta(days=next(days))).isoformat()
                extra = {"epsilon": "0.05"} if d == "dp" else {}
                r = await client.get(path, params={**params, "as_of": as_of, "disclosure": d, **extra})
                assert r.status_code == 200, r.text

            p50, p95 = await _timed(run)
            line += f"  {disclosure} p50 {p50 * 1000:7.1f} p95 {p95 * 1000:7.1f} ({p95 / base:5.1f} × base)"
        print(line)


AS_OF = "2020-01-31"


def _now() -> Any:
    from ictg_common import clock

    return clock.utcnow()


def _referral(rid: Any) -> ReferralReceived:
    from ictg_common import clock

    now = clock.utcnow()
    t = clock.timeliness(received_at=now, identified_on=clock.london_date(now))
    return ReferralReceived.model_validate({
        "referral_id": rid, "received_at": now, "identified_on": clock.london_date(now), "referrer_type": "police",
        "local_authority_code": "E09000033", "region": "london", "pathway": "regional_practice_coordinator",
        "gender": "female", "age_at_referral": 15, "age_band": "14-15", "age_disputed": False, "nationality": "GB",
        "nationality_group": "uk", "interpreter_required": False, "uasc": False,
        "exploitation": {"primary": "sexual", "others": [], "county_lines": False}, "missing_at_referral": False,
        "nrm_referred": True, "living_situation": "family", "trafficker_contact": "unknown", "education": "attending",
        "cjs_involvement": [], "timeliness": t.as_dict(), "possible_duplicate_of": [],
    })  # fmt: skip


@pytest.mark.timeout(3600)
def test_national_scale(infra: Infra, database_url: str) -> None:
    t = time.perf_counter()
    with tqdm(total=CHILDREN, unit=" children", desc="load") as bar:
        children, events = load(
            database_url, CHILDREN, workers=os.cpu_count() or 2, progress=lambda c, _e: bar.update(c)
        )
    took = time.perf_counter() - t

    async def analyse() -> None:
        conn = await asyncpg.connect(plain_url(database_url))
        await conn.execute("VACUUM ANALYZE metrics.child")
        await conn.execute("ANALYZE metrics.event")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('metrics.child'))")
        esize = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('metrics.event'))")
        await conn.close()
        print(f"\nloaded {children:,} children, {events:,} events in {took:.1f} s ({events / took:,.0f} events/s); "
              f"metrics.child {size}, metrics.event {esize}")  # fmt: skip

    asyncio.run(analyse())
    asyncio.run(_bench(infra, database_url))
