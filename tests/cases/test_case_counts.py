"""`GET /v1/admin/case-counts`: what metrics reconciles against, counted without an audit row per case."""

from __future__ import annotations

from datetime import timedelta

from ictg_common import clock
from tests.support.cases_harness import READ, Stack, stack_fixture  # noqa: F401
from tests.support.platform import auth


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
