"""Allocations (`ictg_cases.allocations`) through the HTTP API: role fits pathway and region, capacity, history,
ETag."""

from __future__ import annotations

from datetime import timedelta

from ictg_common import clock
from tests.support.cases_harness import ADMIN, WRITE, Stack, iso, stack_fixture  # noqa: F401


async def test_worker_is_listed_with_caseload_and_allocation_opens_work(stack: Stack) -> None:
    case = await stack.case()
    assert case["status"] == "awaiting_allocation" and case["worker_id"] is None
    worker = await stack.worker(capacity=2)
    assert worker["caseload"] == 0 and worker["role"] == "direct_worker"

    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"]})
    assert r.status_code == 201, r.text
    allocation = r.json()
    assert r.headers["location"] == f"/v1/cases/{case['id']}/allocations/{allocation['id']}"
    assert r.headers["etag"] == '"2"'
    assert allocation["role"] == "direct_worker" and allocation["over_capacity"] is False

    got = (await stack.get(f"/v1/cases/{case['id']}")).json()
    assert got["status"] == "allocated" and got["worker_id"] == worker["id"] and got["version"] == 2
    listed = (await stack.get("/v1/workers", headers=ADMIN)).json()["items"]
    assert [w["caseload"] for w in listed if w["id"] == worker["id"]] == [1]
    assert (await stack.get(r.headers["location"])).json()["id"] == allocation["id"]

    [event] = [e for e in await stack.events(want=2) if e["type"] == "ictg.case.allocated.v1"]
    assert event["subject"] == case["id"]
    assert event["data"] == {
        "case_id": case["id"], "referral_id": case["referral_id"], "allocation_id": allocation["id"],
        "worker_id": worker["id"], "role": "direct_worker", "local_authority_code": "E08000003", "region": "north_west",
        "allocated_at": event["data"]["allocated_at"], "reallocation": False, "over_capacity": False,
        "responsible_local_authority_code": "E08000003",
    }  # fmt: skip


async def test_role_must_fit_the_pathway_and_nothing_is_stored_when_refused(stack: Stack) -> None:
    case = await stack.case()  # no one with parental responsibility: direct_worker pathway
    rpc = await stack.worker(role="regional_practice_coordinator")
    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": rpc["id"]})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["pointer"] == "/worker_id"
    assert (await stack.get(f"/v1/cases/{case['id']}/allocations")).json()["items"] == []
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["status"] == "awaiting_allocation"

    manager = await stack.worker(role="manager")
    assert (await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": manager["id"]})).status_code == 201

    rpc_case = await stack.case(parental_responsibility_in_uk=True, child__given_name="Bo")
    assert rpc_case["pathway"] == "regional_practice_coordinator"
    dw = await stack.worker(role="direct_worker")
    assert (await stack.post(f"/v1/cases/{rpc_case['id']}/allocations", {"worker_id": dw["id"]})).status_code == 422
    assert (await stack.post(f"/v1/cases/{rpc_case['id']}/allocations", {"worker_id": rpc["id"]})).status_code == 201

    unknown = await stack.post(f"/v1/cases/{rpc_case['id']}/allocations", {"worker_id": case["id"]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/worker_id"


async def test_over_capacity_needs_an_override_reason(stack: Stack) -> None:
    first = await stack.case(child__given_name="One")
    second = await stack.case(child__given_name="Two")
    worker = await stack.worker(capacity=1)
    assert (await stack.post(f"/v1/cases/{first['id']}/allocations", {"worker_id": worker["id"]})).status_code == 201

    refused = await stack.post(f"/v1/cases/{second['id']}/allocations", {"worker_id": worker["id"]})
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/override_reason"
    assert (await stack.get(f"/v1/cases/{second['id']}")).json()["worker_id"] is None

    ok = await stack.post(
        f"/v1/cases/{second['id']}/allocations",
        {"worker_id": worker["id"], "override_reason": "Only Vietnamese speaker"},
    )
    assert ok.status_code == 201 and ok.json()["over_capacity"] is True
    [w] = [w for w in (await stack.get("/v1/workers", headers=ADMIN)).json()["items"] if w["id"] == worker["id"]]
    assert w["caseload"] == 2


async def test_reallocation_keeps_history(stack: Stack) -> None:
    case = await stack.case()
    a, b = await stack.worker(name="A"), await stack.worker(name="B")
    first = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": a["id"]})
    same = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": a["id"]})
    assert same.status_code == 409
    second = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": b["id"]})
    assert second.status_code == 201

    history = (await stack.get(f"/v1/cases/{case['id']}/allocations")).json()["items"]
    assert [h["worker_id"] for h in history] == [a["id"], b["id"]]
    assert history[0]["ended_at"] == second.json()["allocated_at"] and history[1]["ended_at"] is None
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["worker_id"] == b["id"]
    events = [e for e in await stack.events(want=3) if e["type"] == "ictg.case.allocated.v1"]
    assert [e["data"]["reallocation"] for e in events] == [False, True]
    assert first.json()["id"] == history[0]["id"]


async def test_allocated_at_rules(stack: Stack) -> None:
    case = await stack.case()
    worker = await stack.worker()
    future = iso(clock.utcnow() + timedelta(days=1))
    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"], "allocated_at": future})
    assert r.status_code == 422 and r.json()["errors"] == [
        {"pointer": "/allocated_at", "detail": "must not be in the future"}
    ]
    before = iso(clock.utcnow() - timedelta(days=30))
    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"], "allocated_at": before})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/allocated_at"
    naive = await stack.post(
        f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"], "allocated_at": "2026-01-01T10:00:00"}
    )
    assert naive.status_code == 422
    assert (await stack.get(f"/v1/cases/{case['id']}/allocations")).json()["items"] == []


async def test_a_worker_of_another_region_cannot_hold_the_case(stack: Stack) -> None:
    case = await stack.case()
    london = await stack.worker(region="london")
    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": london["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/worker_id"
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["status"] == "awaiting_allocation"
