"""The records of `ictg_cases.records` through the HTTP API: the facts (assessments, NRM decisions, advocacy),
moves and pathway changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ictg_common import clock
from tests.support.cases_harness import ADMIN, Stack, iso, stack_fixture  # noqa: F401
from tests.support.platform import auth


def ago(**kw: float) -> str:
    return iso(clock.utcnow() - timedelta(**kw))


async def past_case(stack: Stack, days: int = 30, **kw: Any) -> dict[str, Any]:
    return await stack.case(received_at=clock.utcnow() - timedelta(days=days), **kw)


async def test_assessment_nrm_advocacy_are_recorded(stack: Stack) -> None:
    case = await past_case(stack)
    cid = case["id"]
    a = await stack.post(
        f"/v1/cases/{cid}/assessments",
        {
            "assessed_at": ago(days=3),
            "living_situation": "residential_care",
            "trafficker_contact": "known",
            "education": "attending",
            "cjs_involvement": ["victim", "witness"],
        },
    )
    n = await stack.post(
        f"/v1/cases/{cid}/nrm-decisions",
        {"stage": "reasonable_grounds", "outcome": "positive", "decided_at": ago(days=2)},
    )
    v = await stack.post(
        f"/v1/cases/{cid}/advocacy", {"kind": "legal_advice", "area": "immigration", "occurred_at": ago(days=1)}
    )
    assert [x.status_code for x in (a, n, v)] == [201, 201, 201]
    assert [x.headers["etag"] for x in (a, n, v)] == ['"2"', '"3"', '"4"']
    assert (await stack.get(n.headers["location"])).json()["outcome"] == "positive"
    events = {e["type"]: e["data"] for e in await stack.events(want=4)}
    assert events["ictg.assessment.recorded.v1"]["cjs_involvement"] == ["victim", "witness"]
    assert events["ictg.nrm_decision.recorded.v1"]["decision_id"] == n.json()["id"]
    assert events["ictg.advocacy.recorded.v1"]["kind"] == "legal_advice"


async def test_move_changes_current_local_authority_and_region(stack: Stack) -> None:
    case = await past_case(stack)
    assert case["local_authority_code"] == "E08000003" and case["region"] == "north_west"
    same = await stack.post(
        f"/v1/cases/{case['id']}/moves", {"moved_at": ago(days=1), "local_authority_code": "E08000003"}
    )
    assert same.status_code == 422
    bad = await stack.post(f"/v1/cases/{case['id']}/moves", {"moved_at": ago(days=1), "local_authority_code": "X99"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/local_authority_code"
    r = await stack.post(
        f"/v1/cases/{case['id']}/moves", {"moved_at": ago(days=1), "local_authority_code": "E08000012"}
    )
    assert (
        r.status_code == 201
        and r.json()["region"] == "north_west"
        and r.json()["from_local_authority_code"] == "E08000003"
    )
    moved = (await stack.get(f"/v1/cases/{case['id']}")).json()
    assert moved["local_authority_code"] == "E08000012" and moved["local_authority_name"] == "Liverpool"
    london = {"moved_at": ago(hours=1), "local_authority_code": "E09000033"}
    refused = await stack.post(f"/v1/cases/{case['id']}/moves", london)  # another region: a manager's decision
    assert refused.status_code == 403 and "cases:admin" in refused.json()["detail"]
    r = await stack.post(f"/v1/cases/{case['id']}/moves", london, headers=ADMIN)
    assert r.status_code == 201 and r.json()["region"] == "london"
    # Now in London: a north-west guardian no longer sees the case.
    assert (await stack.get(f"/v1/cases/{case['id']}")).status_code == 403
    events = [e for e in await stack.events(want=3) if e["type"] == "ictg.case.moved.v1"]
    assert [
        (e["data"]["from_local_authority_code"], e["data"]["local_authority_code"], e["data"]["region"]) for e in events
    ] == [("E08000003", "E08000012", "north_west"), ("E08000012", "E09000033", "london")]


async def test_each_event_names_the_authority_responsible_at_its_own_time(stack: Stack) -> None:
    """Webhooks route a case event by it, whatever order the stream delivers events in: a contact dated
    before a move but recorded after it is the old council's (the council API shows it there), one dated
    after is the new council's, and the move's own event the new one's (a record at the instant is)."""
    case = await past_case(stack)
    path = f"/v1/cases/{case['id']}"
    moved_at = clock.utcnow() - timedelta(days=5)
    r = await stack.post(f"{path}/moves", {"moved_at": iso(moved_at), "local_authority_code": "E08000012"})
    assert r.status_code == 201, r.text
    contact = {"outcome": "made", "method": "phone", "party": "child"}
    for days in (10, 2):
        r = await stack.post(f"{path}/contacts", {**contact, "occurred_at": ago(days=days)})
        assert r.status_code == 201, r.text
    events = await stack.events(want=4)
    named = [
        (e["type"], e["data"]["local_authority_code"], e["data"]["responsible_local_authority_code"]) for e in events
    ]
    assert sorted(named) == [  # in any order: the stream's is not promised
        ("ictg.case.moved.v1", "E08000012", "E08000012"),
        ("ictg.case.opened.v1", "E08000003", "E08000003"),
        ("ictg.contact.recorded.v1", "E08000012", "E08000003"),  # dated ten days ago: before the move
        ("ictg.contact.recorded.v1", "E08000012", "E08000012"),
    ]
    # The same answer as the council API's: Manchester is shown the contact named as its own, and no other.
    manchester = auth("la:read", org_type="local_authority", org_name="Manchester", regions=[],
                      la_codes=["E08000003"], sub="council-manchester")  # fmt: skip
    shown = await stack.cases.get(f"{path}/contacts", headers=manchester)
    theirs = [
        e["data"]["occurred_at"]
        for e in events
        if e["type"] == "ictg.contact.recorded.v1" and e["data"]["responsible_local_authority_code"] == "E08000003"
    ]
    assert shown.status_code == 200 and [c["occurred_at"] for c in shown.json()["items"]] == theirs


async def test_manager_switches_pathway(stack: Stack) -> None:
    case = await past_case(stack)
    refused = await stack.post(f"/v1/cases/{case['id']}/pathway", {"pathway": "regional_practitioner"})
    assert refused.status_code == 403
    wrong = await stack.post(f"/v1/cases/{case['id']}/pathway", {"pathway": "direct_worker"}, headers=ADMIN)
    assert wrong.status_code == 422
    r = await stack.post(f"/v1/cases/{case['id']}/pathway", {"pathway": "regional_practitioner"}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["from_pathway"] == "direct_worker"
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["pathway"] == "regional_practitioner"
    again = await stack.post(f"/v1/cases/{case['id']}/pathway", {"pathway": "regional_practitioner"}, headers=ADMIN)
    assert again.status_code == 409
    dw = await stack.worker(role="direct_worker")
    rp = await stack.worker(role="regional_practitioner")
    assert (await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": dw["id"]})).status_code == 422
    assert (await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": rp["id"]})).status_code == 201
    [event] = [e for e in await stack.events(want=3) if e["type"] == "ictg.case.pathway_changed.v1"]
    assert event["data"]["pathway"] == "regional_practitioner" and event["subject"] == case["id"]


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
