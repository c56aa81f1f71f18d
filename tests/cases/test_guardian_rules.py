"""Rules a guardian relies on that keep a case's state coherent."""

from __future__ import annotations

from datetime import timedelta

from ictg_common import clock
from tests.support.cases_harness import ADMIN, Stack, iso, stack_fixture  # noqa: F401


async def test_a_missing_child_cannot_be_exited_except_as_long_term_missing(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=3), missing_at_referral=True)
    path = f"/v1/cases/{case['id']}"
    exit_body = {"exited_at": iso(clock.utcnow()), "reason": "work_completed", "destination": "none"}
    refused = await stack.post(f"{path}/exit", exit_body)
    assert refused.status_code == 409
    assert (await stack.get(path)).json()["status"] == "awaiting_allocation"
    ok = await stack.post(f"{path}/exit", {**exit_body, "reason": "long_term_missing"})
    assert ok.status_code == 201, ok.text


async def test_a_move_cannot_be_slotted_in_before_the_last_one(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=10))
    path = f"/v1/cases/{case['id']}"
    now = clock.utcnow()
    first = await stack.post(
        f"{path}/moves", {"moved_at": iso(now - timedelta(days=2)), "local_authority_code": "E08000012"}
    )
    assert first.status_code == 201, first.text
    earlier = await stack.post(
        f"{path}/moves", {"moved_at": iso(now - timedelta(days=5)), "local_authority_code": "E08000001"}
    )
    assert earlier.status_code == 422 and earlier.json()["errors"][0]["pointer"] == "/moved_at"
    assert (await stack.get(path)).json()["local_authority_code"] == "E08000012"


async def test_a_worker_of_another_region_cannot_hold_the_case(stack: Stack) -> None:
    case = await stack.case()
    london = await stack.worker(region="london")
    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": london["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/worker_id"
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["status"] == "awaiting_allocation"


async def test_switching_pathway_releases_a_guardian_whose_role_no_longer_fits(stack: Stack) -> None:
    case = await stack.case()
    path = f"/v1/cases/{case['id']}"
    worker = await stack.worker(role="direct_worker")
    assert (await stack.post(f"{path}/allocations", {"worker_id": worker["id"]})).status_code == 201
    switched = await stack.post(f"{path}/pathway", {"pathway": "regional_practitioner"}, headers=ADMIN)
    assert switched.status_code == 201, switched.text
    now = (await stack.get(path)).json()
    assert (now["pathway"], now["status"], now["worker_id"]) == ("regional_practitioner", "awaiting_allocation", None)
    practitioner = await stack.worker(role="regional_practitioner")
    assert (await stack.post(f"{path}/allocations", {"worker_id": practitioner["id"]})).status_code == 201
    [event] = [e for e in await stack.events(want=4) if e["type"] == "ictg.case.pathway_changed.v1"]
    assert event["data"]["unallocated"] is True


def test_production_keys_without_a_claim_check_token_refuse_to_start() -> None:
    import pytest

    from ictg_cases.settings import CasesSettings

    with pytest.raises(ValueError, match="ICTG_CASES_INTAKE_TOKEN"):
        CasesSettings(auth_development=False, scrape_token="a-real-scrape-token")
    assert CasesSettings(auth_development=False, intake_token="t",
                         scrape_token="a-real-scrape-token").intake_token == "t"  # fmt: skip
