"""Break-glass is a time-limited, read-only look at a case outside one's regions: it can never be
turned into ordinary access, needs its own scope and a real reason, and each grant is on the trail."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from ictg_common import clock
from ictg_common.runtime import runtime_of
from tests.support.cases_harness import ADMIN, Stack, stack_fixture  # noqa: F401
from tests.support.platform import auth

REASON = "Child found in Croydon overnight"
# A London guardian with every scope a guardian could hold, break-glass included.
LONDON = auth("cases:read", "cases:write", "cases:break_glass", regions=["london"], sub="london-guardian")
LONDON_MANAGER = auth(
    "cases:read", "cases:write", "cases:admin", "cases:break_glass", regions=["london"], sub="london-manager"
)
AUDITOR = auth("audit:read", regions=[], sub="auditor")
LONDON_READ = auth("cases:read", regions=["london"], sub="london-guardian")
LONDON_GLASS = auth("cases:read", "cases:break_glass", regions=["london"], sub="london-guardian")


def glass(headers: dict[str, str], reason: str | bytes = REASON) -> dict[str, Any]:
    return {**headers, "X-Break-Glass-Reason": reason}


async def audit_rows(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    r = await stack.cases.get("/v1/audit", params=params, headers=AUDITOR)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def grants(stack: Stack) -> list[Any]:
    async with runtime_of(stack.app).engine.connect() as conn:
        return list((await conn.execute(text("SELECT actor, reason, expires_at FROM cases.break_glass"))).all())


def at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    monkeypatch.setattr(clock, "utcnow", lambda: when)


async def test_a_break_glass_reader_cannot_move_the_child_into_their_own_region(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=3))  # Manchester: north_west
    path = f"/v1/cases/{case['id']}"
    assert (await stack.cases.get(path, headers=glass(LONDON))).status_code == 200
    move = {"moved_at": (clock.utcnow() - timedelta(hours=1)).isoformat(), "local_authority_code": "E09000033"}
    for headers in (glass(LONDON), LONDON, glass(LONDON_MANAGER), LONDON_MANAGER):  # reason, grant, manager
        r = await stack.cases.post(f"{path}/moves", json=move, headers=headers)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json", r.text
    contact = {"occurred_at": clock.utcnow().isoformat(), "outcome": "made", "method": "phone", "party": "police"}
    assert (await stack.cases.post(f"{path}/contacts", json=contact, headers=LONDON)).status_code == 403
    exit_ = {"exited_at": clock.utcnow().isoformat(), "reason": "other", "destination": "none"}
    assert (await stack.cases.post(f"{path}/exit", json=exit_, headers=glass(LONDON))).status_code == 403

    unchanged = (await stack.get(path)).json()
    assert (unchanged["region"], unchanged["local_authority_code"], unchanged["status"]) == (
        "north_west",
        "E08000003",
        "awaiting_allocation",
    )
    assert (await stack.get(f"{path}/moves")).json()["items"] == []
    # And once the grant has lapsed, the London guardian sees nothing of the child.
    at(monkeypatch, clock.utcnow() + timedelta(minutes=61))
    assert (await stack.cases.get(path, headers=LONDON)).status_code == 403
    denied = await audit_rows(stack, resource=path, outcome="denied")
    assert {r["action"] for r in denied} >= {"move.create", "contact.create", "exit.create", "case.read"}


async def test_a_move_to_another_region_needs_cases_admin(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=3))
    path = f"/v1/cases/{case['id']}"

    def move(code: str, hours: int) -> dict[str, str]:
        return {"moved_at": (clock.utcnow() - timedelta(hours=hours)).isoformat(), "local_authority_code": code}

    within = await stack.post(f"{path}/moves", move("E08000001", 5))  # Bolton: still north_west
    assert within.status_code == 201, within.text
    # A guardian of both regions still may not move the child between them.
    both = auth("cases:read", "cases:write", regions=["north_west", "london"], sub="guardian-2")
    refused = await stack.post(f"{path}/moves", move("E09000033", 4), headers=both)
    assert refused.status_code == 403 and "cases:admin" in refused.json()["detail"]
    assert (await stack.get(path)).json()["region"] == "north_west"
    [row] = await audit_rows(stack, resource=path, action="move.create", outcome="denied")
    assert row["actor"] == "guardian-2"
    moved = await stack.post(f"{path}/moves", move("E09000033", 3), headers=ADMIN)
    assert moved.status_code == 201 and moved.json()["region"] == "london"
    # Pathway changes were already a manager's (cases:admin) and stay so.
    pathway = await stack.post(f"{path}/pathway", {"pathway": "regional_practitioner"}, headers=both)
    assert pathway.status_code == 403


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("urgent", 422),  # under 10 characters
        ("          urgent   ", 422),  # surrounding blanks do not count
        ("x" * 501, 422),
        ("Child found\x1b[2J overnight", 422),  # terminal escape
        ("Child found\tin Croydon", 422),
        ("Child found in Croydon\x7f", 422),
        ("Child found \u202ein Croydon".encode(), 422),  # a bidi override (sent as UTF-8): not printable
        ("x" * 500, 200),
        ("Enfant trouvé à Croydon cette nuit".encode(), 200),  # UTF-8 from the client
    ],
)
async def test_the_reason_is_10_to_500_printable_characters(stack: Stack, reason: str | bytes, status: int) -> None:
    case = await stack.case()
    r = await stack.cases.get(f"/v1/cases/{case['id']}", headers=glass(LONDON, reason))
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["errors"][0]["pointer"] == "#header/X-Break-Glass-Reason"
        assert await grants(stack) == []
    else:
        [grant] = await grants(stack)
        assert grant.reason == (reason.decode() if isinstance(reason, bytes) else reason)


async def test_break_glass_needs_its_own_scope(stack: Stack) -> None:
    case = await stack.case()
    path = f"/v1/cases/{case['id']}"
    reader = auth("cases:read", "cases:write", "cases:admin", regions=["london"], sub="london-reader")
    r = await stack.cases.get(path, headers=glass(reader))
    assert r.status_code == 403 and "cases:break_glass" in r.json()["detail"]
    assert (await stack.cases.get("/v1/cases", headers=glass(reader))).status_code == 403
    assert await grants(stack) == []
    attempts = await audit_rows(stack, action="break_glass", actor="london-reader")
    assert [(a["outcome"], a["resource"], a["reason"]) for a in reversed(attempts)] == [
        ("denied", path, REASON),
        ("denied", "/v1/cases", REASON),
    ]


async def test_using_break_glass_again_extends_the_one_grant(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    case = await stack.case()
    path = f"/v1/cases/{case['id']}"
    start = clock.utcnow()
    assert (await stack.cases.get(path, headers=glass(LONDON))).status_code == 200
    at(monkeypatch, start + timedelta(minutes=30))
    assert (
        await stack.cases.get(f"{path}/timeline", headers=glass(LONDON, "Still looking for a placement"))
    ).is_success
    [grant] = await grants(stack)
    assert grant.reason == REASON and grant.expires_at >= start + timedelta(minutes=89)
    at(monkeypatch, start + timedelta(minutes=80))  # past the first hour, inside the extension
    assert (await stack.cases.get(path, headers=LONDON)).status_code == 200
    at(monkeypatch, start + timedelta(minutes=91))
    assert (await stack.cases.get(path, headers=LONDON)).status_code == 403

    uses = await audit_rows(stack, action="break_glass")
    assert [(u["actor"], u["outcome"], u["resource"], u["reason"]) for u in reversed(uses)] == [
        ("london-guardian", "granted", path, REASON),
        ("london-guardian", "extended", path, "Still looking for a placement"),
    ]
    reads = await audit_rows(stack, outcome="break_glass", actor="london-guardian")
    assert [r["action"] for r in reversed(reads)] == ["case.read", "case.timeline", "case.read"]


async def test_a_break_glass_header_on_ones_own_region_changes_nothing(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=3))
    nw = auth("cases:read", "cases:write", "cases:break_glass", regions=["north_west"], sub="nw-guardian")
    contact = {"occurred_at": clock.utcnow().isoformat(), "outcome": "made", "method": "phone", "party": "child"}
    r = await stack.cases.post(f"/v1/cases/{case['id']}/contacts", json=contact, headers=glass(nw))
    assert r.status_code == 201, r.text
    assert await grants(stack) == []  # no grant is needed, none is opened
    [row] = await audit_rows(stack, resource=r.headers["location"])
    assert (row["outcome"], row["reason"]) == ("ok", None)


async def test_a_grant_belongs_to_its_principal_not_to_a_shared_sub(stack: Stack) -> None:
    """Found by an outside organisation: two organisations' tokens may share a `sub` (the development CLI
    gave every token `dev-user`); a guardian's grant let an NGO's token read the child (names, notes)."""
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=3))  # north west
    path = f"/v1/cases/{case['id']}"
    guardian = auth("cases:read", "cases:break_glass", regions=["london"], sub="dev-user",
                    org_type="ictg", org_name="ICTG service")  # fmt: skip
    assert (await stack.cases.get(path, headers=glass(guardian))).status_code == 200
    assert (await stack.cases.get(path, headers=guardian)).status_code == 200  # the grant: the same principal
    for other in (
        auth("cases:read", regions=[], sub="dev-user", org_type="ngo", org_name="A charity"),
        auth("cases:read", regions=["london"], sub="dev-user", org_type="ictg", org_name="Another service"),
    ):
        r = await stack.cases.get(path, headers=other)
        assert r.status_code == 403 and case["referral_id"] not in r.text, r.text
    [row] = await grants(stack)
    assert row.actor != "dev-user" and len(row.actor) == 64  # the principal's key, not the sub


async def test_break_glass_opens_a_case_for_a_limited_time_and_is_audited(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await stack.case()
    path = f"/v1/cases/{case['id']}"
    empty = await stack.cases.get(path, headers={**LONDON_GLASS, "X-Break-Glass-Reason": "  "})
    assert empty.status_code == 422 and empty.json()["errors"][0]["pointer"] == "#header/X-Break-Glass-Reason"

    glass = await stack.cases.get(
        path, headers={**LONDON_GLASS, "X-Break-Glass-Reason": "Child found in Croydon overnight"}
    )
    assert glass.status_code == 200 and glass.json()["personal"]["child"]["given_name"] == "An"
    # Within the grant, the actor keeps access without repeating the reason; another actor does not.
    assert (await stack.cases.get(f"{path}/timeline", headers=LONDON_READ)).status_code == 200
    other = auth("cases:read", regions=["london"], sub="someone-else")
    assert (await stack.cases.get(path, headers=other)).status_code == 403

    rows = await audit_rows(stack, resource=path, actor="london-guardian")
    assert [(r["action"], r["outcome"], r["reason"]) for r in reversed(rows)] == [
        ("break_glass", "granted", "Child found in Croydon overnight"),
        ("case.read", "break_glass", "Child found in Croydon overnight"),
        ("case.timeline", "break_glass", "Child found in Croydon overnight"),
    ]
    assert rows[0]["resource"] == f"{path}/timeline" and rows[0]["org"] == "ictg/ICTG service"

    later = clock.utcnow() + timedelta(minutes=61)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    assert (await stack.cases.get(path, headers=LONDON_READ)).status_code == 403


async def test_a_break_glass_write_is_refused_and_audited_with_its_reason(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=2))
    r = await stack.cases.post(
        f"/v1/cases/{case['id']}/contacts",
        json={"occurred_at": clock.utcnow().isoformat(), "outcome": "made", "method": "phone", "party": "police"},
        headers={**auth("cases:write", "cases:break_glass", regions=["london"], sub="london-guardian"),
                 "X-Break-Glass-Reason": "Met Police called out of hours"},
    )  # fmt: skip
    assert r.status_code == 403 and "read-only" in r.json()["detail"]
    assert (await stack.get(f"/v1/cases/{case['id']}/contacts")).json()["items"] == []
    [row] = await audit_rows(stack, resource=f"/v1/cases/{case['id']}", action="contact.create")
    assert (row["actor"], row["outcome"], row["reason"]) == (
        "london-guardian",
        "denied",
        "Met Police called out of hours",
    )
