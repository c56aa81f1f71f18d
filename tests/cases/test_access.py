"""Region scoping (`ictg_cases.cases.access`, `authorisation.py`) and the audit trail of every read and write
(break-glass: test_break_glass.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ictg_common import clock
from tests.support.cases_harness import WRITE, Stack, stack_fixture  # noqa: F401
from tests.support.platform import auth

LONDON_READ = auth("cases:read", regions=["london"], sub="london-guardian")
LONDON_WRITE = auth("cases:write", regions=["london"], sub="london-guardian")
AUDITOR = auth("audit:read", regions=[], sub="auditor")


async def audit_rows(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    r = await stack.cases.get("/v1/audit", params=params, headers=AUDITOR)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_guardians_see_only_their_regions(stack: Stack) -> None:
    case = await stack.case()  # Manchester: north_west
    refused = await stack.cases.get(f"/v1/cases/{case['id']}", headers=LONDON_READ)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/outside-region")
    assert "personal" not in refused.text and "Nguyen" not in refused.text
    assert (await stack.cases.get(f"/v1/cases/{case['id']}/timeline", headers=LONDON_READ)).status_code == 403
    assert (await stack.cases.get(f"/v1/cases/{case['id']}/contacts", headers=LONDON_READ)).status_code == 403
    assert (await stack.cases.get("/v1/cases", headers=LONDON_READ)).json()["items"] == []
    write = await stack.cases.post(
        f"/v1/cases/{case['id']}/contacts", headers=LONDON_WRITE,
        json={"occurred_at": clock.utcnow().isoformat(), "outcome": "made", "method": "phone", "party": "child"},
    )  # fmt: skip
    assert write.status_code == 403
    assert (await stack.get(f"/v1/cases/{case['id']}/contacts")).json()["items"] == []
    denied = await audit_rows(stack, actor="london-guardian")
    assert {(r["action"], r["outcome"]) for r in denied} >= {("case.read", "denied"), ("contact.create", "denied")}
    assert all(r["resource"] == f"/v1/cases/{case['id']}" for r in denied if r["outcome"] == "denied")
    nobody = auth("cases:read", regions=[], sub="no-regions")
    assert (await stack.cases.get("/v1/cases", headers=nobody)).json()["items"] == []


async def test_every_read_and_write_is_audited_and_audit_needs_its_scope(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=2))
    path = f"/v1/cases/{case['id']}"
    await stack.get(path)
    await stack.get(f"{path}/timeline")
    await stack.post(
        f"{path}/contacts",
        {"occurred_at": clock.utcnow().isoformat(), "outcome": "attempted", "method": "phone", "party": "child"},
    )
    await stack.get(f"{path}/contacts")
    rows = await audit_rows(stack, resource=path)
    actions = [r["action"] for r in reversed(rows)]
    assert actions[0] == "case.list"  # the harness found the case by listing: that read of it is on its trail too
    assert [a for a in actions if a != "case.list"] == ["case.read", "case.timeline", "contact.create", "contact.read"]
    assert {r["actor"] for r in rows if r["action"] != "case.list"} == {"reader-1", "guardian-1"}
    assert {r["outcome"] for r in rows} == {"ok"}
    assert all(r["request_id"] for r in rows)
    assert (await stack.cases.get("/v1/audit", headers=WRITE)).status_code == 403
    assert (await stack.cases.get("/v1/audit")).status_code == 401

    page1 = (await stack.cases.get("/v1/audit", params={"limit": 2}, headers=AUDITOR)).json()
    page2 = (
        await stack.cases.get("/v1/audit", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=AUDITOR)
    ).json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    assert {r["id"] for r in page1["items"]}.isdisjoint(r["id"] for r in page2["items"])
    assert page1["items"][0]["id"] > page1["items"][1]["id"] > page2["items"][0]["id"]
    bad = await stack.cases.get("/v1/audit", params={"cursor": "abc"}, headers=AUDITOR)
    assert bad.status_code == 422
    assert (await audit_rows(stack, resource="/v1/cases/%")) == []  # LIKE wildcards are literal
