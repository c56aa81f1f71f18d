"""Workers (`ictg_cases.workers`): registering one needs the admin scope and known codes."""

from __future__ import annotations

from tests.support.cases_harness import ADMIN, WRITE, Stack, stack_fixture  # noqa: F401


async def test_workers_need_admin_scope_and_valid_codes(stack: Stack) -> None:
    body = {"name": "X", "role": "direct_worker", "region": "north_west", "capacity": 3}
    assert (await stack.cases.post("/v1/workers", json=body, headers=WRITE)).status_code == 403
    bad = await stack.cases.post("/v1/workers", json={**body, "role": "boss", "region": "mars"}, headers=ADMIN)
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/role", "/region"}
    assert (await stack.get("/v1/workers", headers=ADMIN)).json()["items"] == []
