"""A guardian's whole journey with one child, through the API, every step an event on the stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ictg_common import clock
from tests.support.cases_harness import ADMIN, Stack, stack_fixture  # noqa: F401
from tests.support.platform import auth

GUARDIAN = auth("cases:write", "cases:read", regions=["north_west", "london"], sub="guardian-7")
# A move to another region changes who may see the child: a manager's decision (cases:admin).
MANAGER = auth("cases:admin", "cases:write", "cases:read", regions=["north_west", "london"], sub="manager-7")


async def test_a_year_in_the_service(stack: Stack) -> None:
    received = clock.utcnow() - timedelta(days=400)
    case = await stack.case(received_at=received)
    cid = case["id"]
    worker = await stack.worker(name="Hoa Tran", capacity=30)

    def on(days: float) -> str:
        return (received + timedelta(days=days)).isoformat()

    etag = '"1"'
    expected: list[str] = ["case.opened"]

    async def step(
        path: str, body: dict[str, Any], event: str, *, status: int = 201, headers: dict[str, str] = GUARDIAN
    ) -> dict[str, Any]:
        nonlocal etag
        r = await stack.cases.post(f"/v1/cases/{cid}{path}", json=body, headers={**headers, "If-Match": etag})
        assert r.status_code == status, (path, r.text)
        assert int(r.headers["etag"].strip('"')) == int(etag.strip('"')) + 1
        etag = r.headers["etag"]
        expected.append(event)
        return r.json()

    await step("/allocations", {"worker_id": worker["id"], "allocated_at": on(0.1)}, "case.allocated")
    await step("/contacts", {"occurred_at": on(0.2), "outcome": "attempted", "method": "phone", "party": "social_worker",
                             "topics": ["safety"]}, "contact.recorded")  # fmt: skip
    await step("/assessments", {"assessed_at": on(3), "living_situation": "foster_care", "trafficker_contact": "suspected",
                                "education": "not_attending", "cjs_involvement": ["victim"]}, "assessment.recorded")  # fmt: skip
    await step(
        "/nrm-decisions",
        {"stage": "reasonable_grounds", "outcome": "positive", "decided_at": on(20)},
        "nrm_decision.recorded",
    )
    for month in range(1, 13):
        if month == 4:
            episode = await step("/missing-episodes", {"started_at": on(100), "reported_to_police": True,
                                 "missing_from_care_meeting": True, "professional_network_meeting": True}, "missing.started")  # fmt: skip
            await step(f"/missing-episodes/{episode['id']}/return", {"ended_at": on(110), "return_interview_offered": True},
                       "missing.ended", status=200)  # fmt: skip
        if month == 2:
            await step(
                "/advocacy", {"kind": "legal_advice", "area": "immigration", "occurred_at": on(45)}, "advocacy.recorded"
            )
        if month == 7:
            await step(
                "/moves", {"moved_at": on(200), "local_authority_code": "E09000033"}, "case.moved", headers=MANAGER
            )
        topics = ["relationship_building", "education"] if month % 2 else ["immigration"]
        await step("/contacts", {"occurred_at": on(30 * month), "outcome": "made", "method": "face_to_face", "party": "child",
                                 "topics": topics}, "contact.recorded")  # fmt: skip
    await step(
        "/nrm-decisions",
        {"stage": "conclusive_grounds", "outcome": "positive", "decided_at": on(365)},
        "nrm_decision.recorded",
    )
    await step(
        "/exit",
        {"exited_at": on(390), "reason": "work_completed", "destination": "la_children_services"},
        "case.exited",
    )

    final = (await stack.cases.get(f"/v1/cases/{cid}", headers=GUARDIAN)).json()
    assert final["status"] == "exited" and final["region"] == "london" and final["local_authority_code"] == "E09000033"
    assert final["worker_id"] == worker["id"] and final["missing"] is False and final["version"] == len(expected)
    assert final["overdue"] == []

    events = await stack.events(want=len(expected))
    assert [e["type"] for e in events] == [f"ictg.{name}.v1" for name in expected]
    assert all(e["subject"] == cid and e["data"]["case_id"] == cid and e["data"]["referral_id"] == case["referral_id"]
               for e in events)  # fmt: skip
    prefix = stack.settings["subject_prefix"]
    assert [e["nats_subject"] for e in events] == [f"{prefix}.cases.{name}" for name in expected]
    assert {e["source"] for e in events} == {"/ictg/cases"}
    body = str(events)
    assert "An" not in [e["data"].get("given_name") for e in events] and "Nguyen" not in body and "Hoa Tran" not in body

    timeline = (await stack.cases.get(f"/v1/cases/{cid}/timeline", headers=GUARDIAN)).json()["items"]
    times = [datetime.fromisoformat(t["at"]) for t in timeline]
    assert times == sorted(times)
    assert sorted(t["kind"] for t in timeline) == sorted(expected)
    assert timeline[0]["kind"] == "case.opened" and timeline[-1]["kind"] == "case.exited"
    made = [t for t in timeline if t["kind"] == "contact.recorded" and t["record"]["outcome"] == "made"]
    assert len(made) == 12

    [w] = [w for w in (await stack.cases.get("/v1/workers", headers=ADMIN)).json()["items"] if w["id"] == worker["id"]]
    assert w["caseload"] == 0  # the child has left: the place is free again
