"""The SLA watcher: a missed deadline emits exactly one sla.breached; a met one none."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from ictg_cases.runtime import cases_runtime
from ictg_cases.sla.watcher import SlaWatcher
from ictg_common import clock
from ictg_common.runtime import runtime_of
from tests.support.cases_harness import Stack, stack_fixture  # noqa: F401


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


CONTACT = {"outcome": "attempted", "method": "phone", "party": "social_worker", "topics": []}


@contextlib.contextmanager
def days_ago(days: int) -> Iterator[None]:
    """Run the platform's clock `days` in the past (frozen): a referral then is received, and its
    case opened, on that day, as if the service had been running then."""
    real = clock.utcnow
    then = real() - timedelta(days=days)
    clock.utcnow = lambda: then  # type: ignore[assignment, unused-ignore]
    try:
        yield
    finally:
        clock.utcnow = real  # type: ignore[assignment, unused-ignore]


async def breaches(stack: Stack, want: int) -> list[dict]:
    return [e for e in await stack.events(want=want) if e["type"] == "ictg.sla.breached.v1"]


async def test_missed_deadlines_emit_one_breach_each_and_only_once(stack: Stack) -> None:
    case = await stack.case()
    watcher = cases_runtime(stack.app).extras.sla_watcher
    assert await watcher.check_once() == 0  # deadlines not reached yet
    later = at(case["first_contact_due_by"]) + timedelta(minutes=1)
    assert await watcher.check_once(now=later) == 2
    assert await watcher.check_once(now=later + timedelta(days=3)) == 0
    # Counted for GET /metrics as they are committed, in process (no count of the table per scrape).
    registry = runtime_of(stack.app).telemetry.registry
    for name in ("allocation", "first_contact"):
        assert registry.get_sample_value("ictg_sla_breaches_total", {"clock": name}) == 1
    found = await breaches(stack, want=3)
    assert sorted(e["data"]["clock"] for e in found) == ["allocation", "first_contact"]
    for e in found:
        assert e["subject"] == case["id"] and e["data"]["case_id"] == case["id"]
        assert e["data"]["referral_id"] == case["referral_id"]
        assert at(e["time"]) == at(e["data"]["due_by"]) == at(case[f"{e['data']['clock']}_due_by"])
        assert at(e["data"]["detected_at"]) == later
    timeline = (await stack.get(f"/v1/cases/{case['id']}/timeline")).json()["items"]
    assert [t["kind"] for t in timeline].count("sla.breached") == 2


async def test_met_deadlines_emit_nothing(stack: Stack) -> None:
    case = await stack.case()
    worker = await stack.worker()
    assert (await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"]})).status_code == 201
    contact = {**CONTACT, "occurred_at": clock.utcnow().isoformat()}
    assert (await stack.post(f"/v1/cases/{case['id']}/contacts", contact)).status_code == 201
    later = at(case["first_contact_due_by"]) + timedelta(days=5)
    assert await cases_runtime(stack.app).extras.sla_watcher.check_once(now=later) == 0
    assert await breaches(stack, want=3) == []


async def test_only_the_missed_clock_breaches(stack: Stack) -> None:
    case = await stack.case()
    worker = await stack.worker()
    await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"]})
    assert (
        await cases_runtime(stack.app).extras.sla_watcher.check_once(
            now=at(case["allocation_due_by"]) + timedelta(hours=1)
        )
        == 1
    )
    [breach] = await breaches(stack, want=3)
    assert breach["data"]["clock"] == "first_contact"


async def test_watcher_reads_the_platform_clock(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    case = await stack.case()
    monkeypatch.setattr(clock, "utcnow", lambda: at(case["allocation_due_by"]) + timedelta(seconds=1))
    assert await cases_runtime(stack.app).extras.sla_watcher.check_once() == 2
    overdue = (await stack.get("/v1/cases", sla="overdue")).json()["items"]
    assert [c["id"] for c in overdue] == [case["id"]] and overdue[0]["overdue"] == ["allocation", "first_contact"]


async def test_replicas_racing_still_emit_once(stack: Stack) -> None:
    with days_ago(10):
        case = await stack.case(identified_on=clock.utcnow().date().isoformat())
    watcher = cases_runtime(stack.app).extras.sla_watcher
    other = SlaWatcher(runtime_of(stack.app).sessionmaker, cases_runtime(stack.app).settings)
    counts = await asyncio.gather(watcher.check_once(), other.check_once(), watcher.check_once())
    assert sum(counts) == 2
    assert len(await breaches(stack, want=3)) == 2
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["overdue"] == ["allocation", "first_contact"]


async def test_a_late_allocation_still_counts_as_missed_and_overdue_list_follows(stack: Stack) -> None:
    with days_ago(10):
        old = await stack.case(child__given_name="Old", identified_on=clock.utcnow().date().isoformat())
    fresh = await stack.case(child__given_name="Fresh")
    assert [c["id"] for c in (await stack.get("/v1/cases", sla="overdue")).json()["items"]] == [old["id"]]
    worker = await stack.worker()
    await stack.post(f"/v1/cases/{old['id']}/allocations", {"worker_id": worker["id"]})
    await stack.post(f"/v1/cases/{old['id']}/contacts", {**CONTACT, "occurred_at": clock.utcnow().isoformat()})
    assert (await stack.get("/v1/cases", sla="overdue")).json()["items"] == []
    assert await cases_runtime(stack.app).extras.sla_watcher.check_once() == 2  # done, but after the deadlines
    assert fresh["overdue"] == []


async def test_a_historical_import_is_not_breached_live(stack: Stack) -> None:
    imported = await stack.case(received_at=clock.utcnow() - timedelta(days=10))
    assert await cases_runtime(stack.app).extras.sla_watcher.check_once() == 0
    assert await breaches(stack, want=1) == []  # case.opened only
    assert imported["overdue"] == ["allocation", "first_contact"]  # still listed as unmet for the guardians


async def test_the_watcher_started_with_the_app_finds_breaches_by_itself(shared_settings: dict) -> None:
    from tests.support.cases_harness import open_stack

    async with open_stack(shared_settings, sla_check_seconds=0.2) as s:
        with days_ago(5):
            case = await s.case(identified_on=clock.utcnow().date().isoformat())
        found = await breaches(s, want=3)
        assert sorted(e["data"]["clock"] for e in found) == ["allocation", "first_contact"]
        await asyncio.sleep(0.6)  # several more rounds: still exactly one per clock
        assert len(await breaches(s, want=3)) == 2
        assert all(e["data"]["case_id"] == case["id"] for e in found)


async def test_small_batches_breach_every_case_and_end(stack: Stack) -> None:
    """The watcher pages through missed cases batch by batch: every case its query returns is
    breached (the query is the rule, `ictg_cases.domain.deadlines`), so a round always ends."""
    cases = [await stack.case() for _ in range(3)]
    watcher = SlaWatcher(runtime_of(stack.app).sessionmaker, cases_runtime(stack.app).settings, batch=1)
    later = max(at(c["first_contact_due_by"]) for c in cases) + timedelta(minutes=1)
    assert await asyncio.wait_for(watcher.check_once(now=later), timeout=30) == 6
    assert await asyncio.wait_for(watcher.check_once(now=later), timeout=30) == 0
