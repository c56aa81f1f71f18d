"""The admin routes and CLIs (`ictg_cases.admin`, `ictg_cases.cli`): repair and proof, and the case counts.

Intake is reconciled against the cases and lost cases are replayed from the stream: referrals answered 201 whose `referral.received` never became a case (the consumer not running, or
cases lost from the database) are reported missing, opened once by the replay (never twice), and
the reconciliation then comes back clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import nats
import pytest
import uvicorn
from fastapi import FastAPI

from ictg_cases.admin.reconcile import compare, stored_at
from ictg_cases.admin.schedule import Reconciler
from ictg_cases.app import create_app as create_cases
from ictg_cases.cli.reconcile import main as reconcile_main
from ictg_cases.cli.replay import main as replay_main
from ictg_cases.settings import CasesSettings
from ictg_common import clock
from ictg_common.db import plain_url
from ictg_common.devinfra import free_port
from ictg_common.events import new_id
from ictg_common.runtime import runtime_of
from ictg_intake.app import create_app as create_intake
from ictg_intake.settings import IntakeSettings
from tests.support.cases_harness import ADMIN, READ, Stack, cases_settings, open_stack, stack_fixture  # noqa: F401
from tests.support.factories import referral_body
from tests.support.platform import as_tester, auth, eventually


@contextlib.asynccontextmanager
async def over_http(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` (lifespan included) on a free local port, for the command-line tools to reach."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        assert not task.done(), "the server stopped at start"
        return server.started

    await eventually(started)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def sql(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def on_stream(settings: dict[str, Any], subject: str) -> int:
    """Messages the test's stream holds on `subject` (`<prefix>.` is added)."""
    nc = await nats.connect(as_tester(settings["nats_url"]))
    try:
        full = f"{settings['subject_prefix']}.{subject}"
        info = await nc.jetstream().stream_info(settings["nats_stream"], subjects_filter=full)
        return (info.state.subjects or {}).get(full, 0)
    finally:
        await nc.close()


async def post_referrals(client: httpx.AsyncClient, n: int) -> list[str]:
    ids = []
    for i in range(n):
        body = referral_body(child__given_name=f"Child{i}", child__date_of_birth=f"201{i}-03-04")
        r = await client.post("/v1/referrals", json=body, headers=auth("referrals:write"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def test_referrals_the_consumer_never_saw_are_reported_then_replayed_once_by_the_clis(
    shared_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = shared_settings
    async with over_http(create_intake(IntakeSettings(**s))) as intake_url:
        # Intake answers 201 and publishes; no case API is running to consume.
        async with httpx.AsyncClient(base_url=intake_url) as client:
            referral_ids = await post_referrals(client, 3)
        await eventually(lambda: _at_least(s, "intake.referral.received", 3))
        for name, value in {
            "ICTG_DATABASE_URL": s["database_url"], "ICTG_NATS_URL": s["nats_url"],
            "ICTG_NATS_STREAM": s["nats_stream"], "ICTG_SUBJECT_PREFIX": s["subject_prefix"],
            "ICTG_AUTH_SECRET": s["auth_secret"], "ICTG_CASES_INTAKE_URL": intake_url,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)

        async def run(main: Any, *argv: str) -> tuple[int, dict[str, Any]]:
            capsys.readouterr()
            code = await asyncio.to_thread(main, list(argv))
            return code, json.loads(capsys.readouterr().out)

        # Within the default grace (120 s) a referral without a case is pending, not a mismatch.
        code, report = await run(reconcile_main)
        assert code == 0 and report["missing_count"] == 3 and report["overdue_count"] == 0

        code, report = await run(reconcile_main, "--grace", "0")
        assert code == 1 and report["consistent"] is False
        assert report["referrals_in_intake"] == 3 and report["cases"] == 0 and report["unexpected"] == []
        assert sorted(m["referral_id"] for m in report["missing"]) == sorted(referral_ids)
        assert all(m["overdue"] and m["age_seconds"] >= 0 for m in report["missing"])

        code, counts = await run(replay_main)
        assert code == 0 and counts == {"read": 3, "opened": 3, "already_present": 0, "failed": 0, "complete": True}
        code, counts = await run(replay_main)  # nothing twice
        assert code == 0 and counts == {"read": 3, "opened": 0, "already_present": 3, "failed": 0, "complete": True}

        code, report = await run(reconcile_main, "--grace", "0")
        assert code == 0 and report["consistent"] is True
        assert report["referrals_in_intake"] == 3 and report["cases"] == 3 and report["missing"] == []
        rows = await sql(s["database_url"], "SELECT referral_id FROM cases.case")
        assert sorted(str(r["referral_id"]) for r in rows) == sorted(referral_ids)
        inbox = await sql(s["database_url"], "SELECT consumer FROM cases.inbox")
        assert [r["consumer"] for r in inbox] == ["cases-referrals"] * 3

        # The consumer starting now receives all three events: the inbox makes each a no-op.
        cases_app = create_cases(CasesSettings(**s, intake_url=intake_url, sla_check_seconds=0))
        async with cases_app.router.lifespan_context(cases_app):
            nc = await nats.connect(as_tester(s["nats_url"]))

            async def drained() -> bool:
                try:
                    info = await nc.jetstream().consumer_info(s["nats_stream"], "cases-referrals")
                except Exception:  # noqa: BLE001 - not created yet
                    return False
                return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq >= 3

            await eventually(drained)
            await nc.close()
        assert len(await sql(s["database_url"], "SELECT id FROM cases.case")) == 3
        assert await sql(s["database_url"], "SELECT id FROM cases.dead_letter") == []
        await eventually(lambda: _at_least(s, "cases.case.opened", 3))
        assert await on_stream(s, "cases.case.opened") == 3  # one case.opened per referral, ever


async def _at_least(settings: dict[str, Any], subject: str, n: int) -> bool:
    return await on_stream(settings, subject) >= n


async def test_admin_endpoints_report_and_repair_cases_lost_from_the_database(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with open_stack(s) as stack:
        referral_ids = [(await stack.referral(child__given_name=f"Kid{i}"))["id"] for i in range(3)]
        cases = [await stack.case_of(rid) for rid in referral_ids]
        lost = referral_ids[:2]
        await sql(
            s["database_url"], "DELETE FROM cases.case WHERE referral_id = ANY($1::uuid[])", [UUID(i) for i in lost]
        )

        for headers in (auth("cases:read", "cases:write"), auth("referrals:read")):
            assert (await stack.cases.get("/v1/admin/reconcile", headers=headers)).status_code == 403
            assert (await stack.cases.post("/v1/admin/replay-referrals", headers=headers)).status_code == 403
        assert (await stack.cases.post("/v1/admin/replay-referrals")).status_code == 401

        r = await stack.cases.get("/v1/admin/reconcile", headers=ADMIN)
        assert r.status_code == 200, r.text
        within_grace = r.json()
        assert within_grace["consistent"] is True and within_grace["missing_count"] == 2
        assert within_grace["overdue_count"] == 0

        report = (await stack.cases.get("/v1/admin/reconcile", params={"grace_seconds": 0}, headers=ADMIN)).json()
        assert report["consistent"] is False
        assert (report["referrals_in_intake"], report["cases"], report["unexpected_count"]) == (3, 1, 0)
        for huge in ("1e20", "inf", "-inf", "nan", "2592001", "-1"):  # a 500 once (timedelta overflow)
            r = await stack.cases.get("/v1/admin/reconcile", params={"grace_seconds": huge}, headers=ADMIN)
            assert r.status_code == 422, (huge, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert sorted(m["referral_id"] for m in report["missing"]) == sorted(lost)

        r = await stack.cases.post("/v1/admin/replay-referrals", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json() == {"read": 3, "opened": 2, "already_present": 1, "failed": 0, "complete": True}
        again = (await stack.cases.post("/v1/admin/replay-referrals", headers=ADMIN)).json()
        assert again == {"read": 3, "opened": 0, "already_present": 3, "failed": 0, "complete": True}

        report = (await stack.cases.get("/v1/admin/reconcile", params={"grace_seconds": 0}, headers=ADMIN)).json()
        assert report["consistent"] is True and report["cases"] == 3 and report["missing"] == []
        for rid in referral_ids:
            assert (await stack.case_of(rid))["referral_id"] == rid
        audit = await sql(s["database_url"], "SELECT actor FROM cases.audit WHERE action = 'referrals.replay'")
        assert [a["actor"] for a in audit] == ["manager-1", "manager-1"]

        # A case whose referral intake does not know (e.g. restored from another environment's backup).
        stray = uuid4()
        await sql(
            s["database_url"], "UPDATE cases.case SET referral_id = $1 WHERE id = $2", stray, UUID(cases[2]["id"])
        )
        report = (await stack.cases.get("/v1/admin/reconcile", params={"grace_seconds": 0}, headers=ADMIN)).json()
        assert report["consistent"] is False
        assert report["unexpected"] == [{"case_id": cases[2]["id"], "referral_id": str(stray)}]
        assert [m["referral_id"] for m in report["missing"]] == [referral_ids[2]]


async def test_scheduled_reconciliation_logs_missing_cases_and_repairs_them(
    shared_settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    s = shared_settings
    logger = logging.getLogger("ictg_cases.admin.schedule")
    logger.addHandler(caplog.handler)  # the app's logging set-up replaces the root's handlers
    try:
        async with open_stack(s, reconcile_seconds=0.3, reconcile_grace_seconds=0) as stack:
            referral_ids = [(await stack.referral(child__given_name=f"Kid{i}"))["id"] for i in range(2)]
            for rid in referral_ids:
                await stack.case_of(rid)
            caplog.clear()
            await sql(s["database_url"], "DELETE FROM cases.case WHERE referral_id = $1", UUID(referral_ids[0]))

            async def repaired() -> bool:
                return any(
                    r.getMessage() == "missing cases repaired by replay" and referral_ids[0] in vars(r)["referral_ids"]
                    for r in caplog.records
                )

            await eventually(repaired, timeout=20)
            case = await stack.case_of(referral_ids[0])
            assert case["referral_id"] == referral_ids[0]
            errors = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert any(referral_ids[0] in getattr(r, "referral_ids", []) for r in errors)
            assert all("Kid" not in json.dumps(getattr(r, "referral_ids", [])) for r in caplog.records)
            rows = await sql(s["database_url"], "SELECT referral_id FROM cases.case")
            assert sorted(str(r["referral_id"]) for r in rows) == sorted(referral_ids)

            # Two replicas' rounds at once: one runs, the other steps aside.
            app = stack.app
            other = Reconciler(
                runtime_of(app).sessionmaker, intake=runtime_of(app).extras.intake, settings=cases_settings(app)
            )
            await runtime_of(app).extras.reconciler.stop()  # the app's own loop out of the way
            rounds = await asyncio.gather(runtime_of(app).extras.reconciler.run_once(), other.run_once())
            assert sorted(r is None for r in rounds) == [False, True]
            [done] = [r for r in rounds if r is not None]
            assert done["consistent"] is True and done["cases"] == 2
    finally:
        logger.removeHandler(caplog.handler)


def test_a_historical_import_is_not_late_until_the_grace_after_it_was_stored() -> None:
    now = datetime.now(UTC)
    imported = new_id()  # stored now (UUIDv7 time) with a received_at years ago
    old = UUID("00000000-0000-4000-8000-000000000001")  # not a v7 id: its received_at counts
    assert stored_at(imported, now - timedelta(days=900)) >= now - timedelta(seconds=5)
    report = compare(
        {imported: now - timedelta(days=900), old: now - timedelta(days=900)}, {}, now=now, grace=timedelta(seconds=120)
    )
    assert [m.referral_id for m in report.overdue] == [old] and report.consistent is False
    assert [m.referral_id for m in report.missing] == sorted([imported, old])


async def test_counts_cases_per_status_in_the_callers_regions_with_one_audit_row_per_call(stack: Stack) -> None:
    for _ in range(3):
        await stack.case(received_at=clock.utcnow() - timedelta(days=1))
    r = await stack.cases.get("/v1/admin/case-counts", headers=READ)
    assert r.status_code == 200, r.text
    assert r.json() == {"awaiting_allocation": 3, "allocated": 0, "exited": 0}
    elsewhere = auth("cases:read", regions=["london"], sub="reader-2")
    assert (await stack.cases.get("/v1/admin/case-counts", headers=elsewhere)).json()["awaiting_allocation"] == 0
    assert (await stack.cases.get("/v1/admin/case-counts", headers=auth("la:read"))).status_code == 403

    trail = await stack.cases.get("/v1/audit", params={"actor": "reader-1"}, headers=auth("audit:read"))
    assert [(e["action"], e["resource"]) for e in trail.json()["items"]] == [("case.count", "/v1/admin/case-counts")]
