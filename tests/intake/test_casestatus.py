"""The referrer hears back (`ictg_intake.referrals.casestatus`): the case's status and dates reach
`GET /v1/referrals/{id}` and its filters, learnt by intake from the case API's events (issue 14). Driven
through both services in process (the case API's `stack`)."""

from __future__ import annotations

from typing import Any

from ictg_common import clock
from tests.support.cases_harness import ADMIN, Stack, stack_fixture  # noqa: F401
from tests.support.factories import referral_body
from tests.support.platform import auth, eventually

POLICE = auth("referrals:write", org_type="police", org_name="Greater Manchester Police")
OTHER_FORCE = auth("referrals:write", org_type="police", org_name="Kent Police")


async def test_allocation_and_exit_reach_the_referrer(stack: Stack) -> None:
    body_ref = "GMP/2026/000123"
    body = referral_body()
    body["referrer"]["reference"] = body_ref
    r = await stack.intake.post("/v1/referrals", json=body, headers=POLICE)
    assert r.status_code == 201, r.text
    referral = r.json()
    assert referral["referrer"]["reference"] == body_ref
    rid = referral["id"]

    async def status(want: str) -> Any:
        got = (await stack.intake.get(f"/v1/referrals/{rid}", headers=POLICE)).json()
        return got if got["status"] == want else None

    opened = await eventually(lambda: status("awaiting_allocation"), timeout=20)
    assert opened["case_opened_at"] and opened["allocated_at"] is None and opened["exited_at"] is None

    case = await stack.case_of(rid)
    worker = await stack.worker()
    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"]})
    assert r.status_code == 201, r.text
    allocated = await eventually(lambda: status("allocated"), timeout=20)
    assert allocated["allocated_at"] is not None

    # A pathway change that the guardian's role no longer fits takes the guardian off: awaiting again,
    # until another is allocated (the first allocation's time stays).
    r = await stack.post(f"/v1/cases/{case['id']}/pathway", {"pathway": "regional_practitioner"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    again = await eventually(lambda: status("awaiting_allocation"), timeout=20)
    assert again["allocated_at"] == allocated["allocated_at"]
    practitioner = await stack.worker(role="regional_practitioner")
    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": practitioner["id"]})
    assert r.status_code == 201, r.text
    allocated = await eventually(lambda: status("allocated"), timeout=20)

    exited_at = clock.utcnow().isoformat()
    r = await stack.post(
        f"/v1/cases/{case['id']}/exit", {"exited_at": exited_at, "reason": "work_completed", "destination": "none"}
    )
    assert r.status_code == 201, r.text
    gone = await eventually(lambda: status("exited"), timeout=20)
    assert gone["exited_at"] is not None and gone["allocated_at"] == allocated["allocated_at"]

    # The referrer finds it by its own reference and by status; another force finds nothing of it.
    async def listed(headers: dict[str, str], **params: Any) -> list[str]:
        r = await stack.intake.get("/v1/referrals", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await listed(POLICE, reference=body_ref.lower()) == [rid]
    assert await listed(POLICE, status="exited") == [rid]
    assert await listed(POLICE, status="allocated") == []
    assert await listed(POLICE, received_since=referral["received_at"]) == [rid]
    assert await listed(POLICE, received_since="2999-01-01T00:00:00Z") == []
    assert await listed(OTHER_FORCE, reference=body_ref) == []
    r = await stack.intake.get("/v1/referrals", params={"status": "lost"}, headers=POLICE)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#query/status/0"
