"""The exit (`ictg_cases.exits`): it closes the case, never before its last record, and a missing child
leaves only as long-term missing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ictg_common import clock
from tests.support.cases_harness import Stack, iso, stack_fixture  # noqa: F401


def ago(**kw: float) -> str:
    return iso(clock.utcnow() - timedelta(**kw))


CONTACT = {"outcome": "made", "method": "face_to_face", "party": "child", "topics": ["safety", "nrm"]}
EPISODE = {"reported_to_police": True, "missing_from_care_meeting": False, "professional_network_meeting": True}


async def past_case(stack: Stack, days: int = 30, **kw: Any) -> dict[str, Any]:
    return await stack.case(received_at=clock.utcnow() - timedelta(days=days), **kw)


async def test_a_missing_child_cannot_be_exited_except_as_long_term_missing(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=3), missing_at_referral=True)
    path = f"/v1/cases/{case['id']}"
    exit_body = {"exited_at": iso(clock.utcnow()), "reason": "work_completed", "destination": "none"}
    refused = await stack.post(f"{path}/exit", exit_body)
    assert refused.status_code == 409
    assert (await stack.get(path)).json()["status"] == "awaiting_allocation"
    ok = await stack.post(f"{path}/exit", {**exit_body, "reason": "long_term_missing"})
    assert ok.status_code == 201, ok.text


async def test_exit_closes_the_case_and_nothing_is_recorded_after(stack: Stack) -> None:
    case = await past_case(stack)
    cid = case["id"]
    await stack.post(f"/v1/cases/{cid}/contacts", {**CONTACT, "occurred_at": ago(days=5)})
    before_last = await stack.post(
        f"/v1/cases/{cid}/exit", {"exited_at": ago(days=6), "reason": "work_completed", "destination": "none"}
    )
    assert before_last.status_code == 422 and before_last.json()["errors"][0]["pointer"] == "/exited_at"
    r = await stack.post(
        f"/v1/cases/{cid}/exit",
        {"exited_at": ago(days=1), "reason": "work_completed", "destination": "la_children_services"},
    )
    assert r.status_code == 201 and r.headers["location"] == f"/v1/cases/{cid}/exit"
    assert (await stack.get(f"/v1/cases/{cid}/exit")).json()["reason"] == "work_completed"
    closed = (await stack.get(f"/v1/cases/{cid}")).json()
    assert closed["status"] == "exited" and closed["exited_at"] is not None and closed["version"] == 3

    after_exit: list[tuple[str, dict[str, Any]]] = [
        ("contacts", {**CONTACT, "occurred_at": ago(hours=1)}),
        ("missing-episodes", {**EPISODE, "started_at": ago(hours=1)}),
        ("exit", {"exited_at": ago(hours=1), "reason": "other", "destination": "none"}),
    ]
    for path, body in after_exit:
        refused = await stack.post(f"/v1/cases/{cid}/{path}", body)
        assert refused.status_code == 409 and refused.json()["type"].endswith("/case-closed"), path
    assert len((await stack.get(f"/v1/cases/{cid}/contacts")).json()["items"]) == 1
    assert (await stack.get(f"/v1/cases/{cid}/missing-episodes")).json()["items"] == []
    assert (await stack.get(f"/v1/cases/{cid}")).json()["version"] == 3
    types = [e["type"] for e in await stack.events(want=3)]
    assert types.count("ictg.case.exited.v1") == 1 and len(types) == 3
