"""Rebuild: refolding every child from the stored events gives exactly the live projection."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from typing import Any

import nats
from sqlalchemy import text

from ictg_common.runtime import runtime_of
from ictg_metrics.admin.status import RebuildJob
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import ANALYST, app_of, counts, feed, metrics_app
from tests.support.platform import as_tester, auth, eventually

ADMIN = auth("metrics:admin")
QUERIES = [
    {"group_by": "status,exit_reason", "as_of": "2017-09-30"},
    {"group_by": "contact_frequency,main_third_party", "as_of": "2017-12-31"},
    {"group_by": "topic,long_term_missing", "as_of": "2018-03-31"},
    {"group_by": "nrm_conclusive_grounds,current_local_authority,months_in_service_band"},
    {"group_by": "first_contact_band,activity_base,missing_in_service", "as_of": "2017-06-30"},
]


def _population(n: int, seed: int = 7) -> list[Child]:
    rnd = random.Random(seed)
    kids = []
    for i in range(n):
        day = f"2017-{rnd.randint(1, 6):02d}-{rnd.randint(1, 28):02d}"
        c = Child(
            at(day, rnd.randint(0, 23)),
            attrs={"missing_at_referral": i % 7 == 0, "gender": rnd.choice(["male", "female"])},
        )
        if rnd.random() < 0.8:
            c.allocate(at(day, 23, 59))
        for _ in range(rnd.randint(0, 6)):
            m = rnd.randint(int(day[5:7]), 12)
            c.contact(at(f"2017-{m:02d}-{rnd.randint(1, 28):02d}"), party=rnd.choice(["child", "child", "police", "teacher"]),
                      method=rnd.choice(["face_to_face", "phone"]), topics=rnd.sample(["safety", "nrm", "health"], 2))  # fmt: skip
        if rnd.random() < 0.3:
            c.missing(at("2017-08-01"), at(f"2017-{rnd.randint(9, 12):02d}-01") if rnd.random() < 0.5 else None)
        if rnd.random() < 0.5:
            c.nrm(at("2017-07-15"), "conclusive_grounds", rnd.choice(["positive", "negative"]))
        if rnd.random() < 0.2:
            c.move(at("2017-09-01"), "E09000001", "london")
        if rnd.random() < 0.4:
            c.exit(
                at(f"2017-{rnd.randint(9, 12):02d}-{rnd.randint(1, 28):02d}"),
                "work_completed",
                rnd.choice(["none", "ngo"]),
            )
        kids.append(c)
    return kids


async def _answers(client: Any) -> list[dict[Any, int]]:
    return [await counts(client, **q) for q in QUERIES]


async def _table(client: Any) -> list[Any]:
    async with runtime_of(app_of(client)).engine.connect() as conn:
        return list((await conn.execute(text("SELECT * FROM metrics.child ORDER BY child_id"))).all())


async def test_rebuild_yields_the_live_answers_and_queries_keep_answering(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s) as client:
        await feed(client, s, *_population(60))
        live, live_rows = await _answers(client), await _table(client)
        assert live[0]["total"] == 60

        async def keep_querying() -> int:
            answered = 0
            while not rebuilding.done():
                r = await client.get("/v1/metrics/children", params={"group_by": "gender", "disclosure": "perturb"},
                                     headers=ANALYST)  # fmt: skip
                assert r.status_code == 200, r.text
                answered += 1
            return answered

        rebuilding = asyncio.ensure_future(client.post("/v1/admin/rebuild", params={"wait": "true"}, headers=ADMIN))
        answered = await keep_querying()
        r = await rebuilding
        assert r.status_code == 200, r.text
        assert r.json()["result"]["children"] == 60 and answered >= 1
        assert await _answers(client) == live
        assert await _table(client) == live_rows

        # the swapped-in table keeps taking live events
        await feed(client, s, Child(at("2017-03-01")))
        assert (await counts(client))["total"] == 61


async def test_rebuild_in_background_and_scopes(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s) as client:
        await feed(client, s, *_population(5))
        assert (await client.post("/v1/admin/rebuild", headers=ANALYST)).status_code == 403
        r = await client.post("/v1/admin/rebuild", headers=ADMIN)
        assert r.status_code == 202

        async def finished() -> Any:
            body = (await client.get("/v1/admin/rebuild", headers=ADMIN)).json()
            return body if body["status"] != "running" else None

        for _ in range(200):
            body = await finished()
            if body:
                break
            await asyncio.sleep(0.05)
        assert body["status"] == "done" and body["result"]["children"] == 5


async def test_every_replica_answers_the_same_rebuild_status(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s) as one, metrics_app(s) as two:
        assert (await two.get("/v1/admin/rebuild", headers=ADMIN)).json() == {"status": "idle"}
        await feed(one, s, *_population(3))
        # While replica one runs a rebuild (its job lock held), replica two says so and refuses a second.
        job = await RebuildJob.claim(s["database_url"], requested_by="metrics-admin")
        assert job is not None
        assert (await two.get("/v1/admin/rebuild", headers=ADMIN)).json()["status"] == "running"
        assert (await two.post("/v1/admin/rebuild", headers=ADMIN)).status_code == 409
        await job.finish(error="boom")
        failed = (await one.get("/v1/admin/rebuild", headers=ADMIN)).json()
        assert failed["status"] == "failed" and failed["error"] == "boom"

        r = await one.post("/v1/admin/rebuild", params={"wait": "true"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        seen = [(await c.get("/v1/admin/rebuild", headers=ADMIN)).json() for c in (one, two)]
        assert seen[0] == seen[1] and seen[1]["status"] == "done" and seen[1]["result"]["children"] == 3

        # A replica that died mid-rebuild (its lock gone with its connection) leaves no rebuild "running".
        async with runtime_of(app_of(one)).engine.begin() as conn:
            await conn.execute(text("UPDATE metrics.rebuild_status SET status = 'running', finished_at = NULL"))
        stale = (await two.get("/v1/admin/rebuild", headers=ADMIN)).json()
        assert stale["status"] == "failed" and "stopped" in stale["error"]
        assert (await two.post("/v1/admin/rebuild", params={"wait": "true"}, headers=ADMIN)).status_code == 200


async def test_rebuild_cli(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s) as client:
        await feed(client, s, *_population(8))
        before = await _answers(client)
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "ictg_metrics.cli.rebuild", "--database-url", s["database_url"]],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert '"children": 8' in done.stdout
        assert await _answers(client) == before


async def test_shuffled_and_duplicated_delivery_gives_the_same_answers(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    kids = _population(30, seed=11)
    events = [e for c in kids for e in c.events]
    shuffled = events + random.Random(3).sample(events, 40)  # 40 repeats, past the stream's dedupe
    random.Random(5).shuffle(shuffled)
    async with metrics_app(s) as client:
        nc = await nats.connect(as_tester(s["nats_url"]))
        js = nc.jetstream()
        for e in shuffled:
            await js.publish(e.nats_subject(s["subject_prefix"]), e.to_json())  # no Nats-Msg-Id: duplicates get through
        await nc.close()

        async def all_stored() -> bool:
            async with runtime_of(app_of(client)).engine.connect() as conn:
                inbox = (await conn.execute(text("SELECT count(*) FROM metrics.inbox"))).scalar()
            return inbox == len(events)

        await eventually(all_stored, timeout=30)
        shuffled_answers, shuffled_rows = await _answers(client), await _table(client)
        r = await client.post("/v1/admin/rebuild", params={"wait": "true"}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["result"]["events"] == len(events)
        assert await _answers(client) == shuffled_answers
        assert await _table(client) == shuffled_rows


async def test_an_event_arriving_during_the_rebuild_is_not_lost(
    shared_settings: dict[str, Any], monkeypatch: Any
) -> None:
    from ictg_metrics.admin import rebuild as rebuild_module
    from ictg_metrics.children.store import record_event

    s = shared_settings
    late_child = Child(at("2017-05-01")).allocate(at("2017-05-02"))
    async with metrics_app(s) as client:
        await feed(client, s, *_population(10), Child(at("2017-05-01")).exit(at("2017-05-03")))
        original = rebuild_module._index_ddl

        async def build_done_then_events_arrive(conn: Any) -> Any:
            # after the build read its snapshot, before the swap: the live consumer stores more events
            async with runtime_of(app_of(client)).sessionmaker() as session, session.begin():
                for e in late_child.events:
                    await record_event(session, e)
            return await original(conn)

        monkeypatch.setattr(rebuild_module, "_index_ddl", build_done_then_events_arrive)
        r = await client.post("/v1/admin/rebuild", params={"wait": "true"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["result"]["refolded_at_swap"] == 1  # only the child the build could not see
        got = await counts(client, group_by="status", as_of="2017-12-31")
        assert got["total"] == 12 and got["exited"] >= 1
        assert (await counts(client, referred_from="2017-05-01", referred_to="2017-05-01", status="allocated",
                             as_of="2017-05-02"))["total"] == 1  # fmt: skip


async def test_rebuild_from_the_stream_restores_lost_events(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s) as client:
        await feed(client, s, *_population(20, seed=3))
        before, rows = await _answers(client), await _table(client)
        async with runtime_of(app_of(client)).engine.begin() as conn:  # a bad restore lost a third of the events
            lost = (await conn.execute(text("DELETE FROM metrics.event WHERE random() < 0.33"))).rowcount
        assert lost > 0
        r = await client.post("/v1/admin/rebuild", params={"wait": "true", "from_stream": "true"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["result"]["replayed"]["added"] == lost
        assert await _answers(client) == before
        assert await _table(client) == rows


async def test_the_swap_steps_aside_for_a_long_query_and_retries(
    shared_settings: dict[str, Any], monkeypatch: Any
) -> None:
    import asyncpg

    from ictg_common.db import plain_url
    from ictg_metrics.admin import rebuild as rebuild_module

    s = shared_settings
    monkeypatch.setattr(rebuild_module, "SWAP_LOCK_TIMEOUT", "200ms")
    async with metrics_app(s) as client:
        await feed(client, s, *_population(6))
        before = await counts(client, group_by="status")
        analyst = await asyncpg.connect(plain_url(s["database_url"]))
        reading = analyst.transaction()
        await reading.start()
        await analyst.fetch("SELECT count(*) FROM metrics.child")  # holds its read lock until it ends

        async def meanwhile() -> float:
            await asyncio.sleep(1.0)  # the rebuild is now waiting for the analyst's query
            t0 = asyncio.get_running_loop().time()
            # other readers are not queued behind the waiting swap
            # (were they, this would wait for the analyst, who ends only after it: a timeout)
            await asyncio.wait_for(counts(client, group_by="status"), timeout=5.0)
            waited = asyncio.get_running_loop().time() - t0
            await asyncio.sleep(2.0)
            await reading.commit()
            return waited

        probe = asyncio.create_task(meanwhile())
        r = await client.post("/v1/admin/rebuild", params={"wait": "true"}, headers=ADMIN)
        assert await probe < 5.0
        await analyst.close()
        assert r.status_code == 200, r.text
        assert await counts(client, group_by="status") == before
