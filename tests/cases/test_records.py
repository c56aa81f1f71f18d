"""Contacts, missing episodes, assessments, NRM decisions, advocacy, moves, pathway and exit via HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ictg_common import clock
from tests.support.cases_harness import ADMIN, WRITE, Stack, iso, stack_fixture  # noqa: F401


def ago(**kw: float) -> str:
    return iso(clock.utcnow() - timedelta(**kw))


CONTACT = {"outcome": "made", "method": "face_to_face", "party": "child", "topics": ["safety", "nrm"]}
EPISODE = {"reported_to_police": True, "missing_from_care_meeting": False, "professional_network_meeting": True}


async def past_case(stack: Stack, days: int = 30, **kw: Any) -> dict[str, Any]:
    return await stack.case(received_at=clock.utcnow() - timedelta(days=days), **kw)


async def test_contact_is_stored_with_location_etag_and_event(stack: Stack) -> None:
    case = await past_case(stack)
    r = await stack.post(
        f"/v1/cases/{case['id']}/contacts", {**CONTACT, "occurred_at": ago(days=2), "notes": "Met at foster home"}
    )
    assert r.status_code == 201, r.text
    contact = r.json()
    assert r.headers["location"] == f"/v1/cases/{case['id']}/contacts/{contact['id']}" and r.headers["etag"] == '"2"'
    assert contact["topics"] == ["safety", "nrm"] and contact["notes"] == "Met at foster home"
    assert (await stack.get(f"/v1/cases/{case['id']}/contacts")).json()["items"] == [contact]
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["first_contact_at"] == contact["occurred_at"]
    [event] = [e for e in await stack.events(want=2) if e["type"] == "ictg.contact.recorded.v1"]
    assert datetime.fromisoformat(event["time"]) == datetime.fromisoformat(contact["occurred_at"])
    assert event["data"] == {
        "case_id": case["id"], "referral_id": case["referral_id"], "contact_id": contact["id"],
        "occurred_at": event["data"]["occurred_at"], "outcome": "made", "method": "face_to_face", "party": "child",
        "topics": ["safety", "nrm"], "local_authority_code": "E08000003", "region": "north_west",
    }  # fmt: skip
    assert "Met at foster home" not in str(event)


async def test_record_times_never_in_the_future_nor_before_the_referral(stack: Stack) -> None:
    case = await past_case(stack, days=10)
    future = await stack.post(
        f"/v1/cases/{case['id']}/contacts", {**CONTACT, "occurred_at": iso(clock.utcnow() + timedelta(hours=2))}
    )
    assert future.status_code == 422
    assert future.json()["errors"] == [{"pointer": "/occurred_at", "detail": "must not be in the future"}]
    early = await stack.post(
        f"/v1/cases/{case['id']}/advocacy", {"kind": "meeting", "area": "education", "occurred_at": ago(days=11)}
    )
    assert early.status_code == 422 and early.json()["errors"][0]["pointer"] == "/occurred_at"
    too_early: list[tuple[str, dict[str, Any]]] = [
        ("assessments", {"assessed_at": ago(days=12), "living_situation": "family", "trafficker_contact": "none",
                         "education": "attending", "cjs_involvement": []}),
        ("nrm-decisions", {"stage": "reasonable_grounds", "outcome": "positive", "decided_at": ago(days=12)}),
        ("moves", {"moved_at": ago(days=12), "local_authority_code": "E08000012"}),
        ("missing-episodes", {**EPISODE, "started_at": ago(days=12)}),
    ]  # fmt: skip
    for path, body in too_early:
        r = await stack.post(f"/v1/cases/{case['id']}/{path}", body)
        assert r.status_code == 422, (path, r.text)
        assert (
            r.json()["errors"][0]["pointer"].startswith("/") and r.headers["content-type"] == "application/problem+json"
        )
        assert (await stack.get(f"/v1/cases/{case['id']}/{path}")).json()["items"] == []
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["version"] == 1
    assert [e["type"] for e in await stack.events(want=1)] == ["ictg.case.opened.v1"]


async def test_bad_codes_and_unknown_fields_are_422_with_pointers(stack: Stack) -> None:
    case = await past_case(stack)
    r = await stack.post(
        f"/v1/cases/{case['id']}/contacts",
        {**CONTACT, "occurred_at": ago(days=1), "party": "uncle", "topics": ["x"], "mood": 1},
    )
    assert r.status_code == 422
    assert {e["pointer"] for e in r.json()["errors"]} == {"/party", "/topics/0", "/mood"}
    malformed = await stack.cases.post(
        f"/v1/cases/{case['id']}/contacts", content=b"{nope", headers={**WRITE, "content-type": "application/json"}
    )
    assert malformed.status_code == 400
    missing = await stack.post(f"/v1/cases/{case['id']}/exit", {"exited_at": ago(hours=1)})
    assert missing.status_code == 422 and {e["pointer"] for e in missing.json()["errors"]} == {
        "/reason",
        "/destination",
    }
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["status"] == "awaiting_allocation"
    nocase = await stack.post(
        "/v1/cases/0190f000-0000-7000-8000-000000000000/contacts", {**CONTACT, "occurred_at": ago(days=1)}
    )
    assert nocase.status_code == 404
    assert (
        await stack.post("/v1/cases/not-a-uuid/contacts", {**CONTACT, "occurred_at": ago(days=1)})
    ).status_code == 422


async def test_missing_episode_start_return_and_overlap(stack: Stack) -> None:
    case = await past_case(stack, days=40)
    base = f"/v1/cases/{case['id']}/missing-episodes"
    first = await stack.post(base, {**EPISODE, "started_at": ago(days=20)})
    assert first.status_code == 201 and first.headers["location"] == f"{base}/{first.json()['id']}"
    episode = first.json()
    assert episode["at_referral"] is False and episode["ended_at"] is None
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["missing"] is True

    second = await stack.post(base, {**EPISODE, "started_at": ago(days=10)})
    assert second.status_code == 409 and second.json()["type"].endswith("/missing-episode-conflict")

    too_early = await stack.post(
        f"{base}/{episode['id']}/return", {"ended_at": ago(days=21), "return_interview_offered": True}
    )
    assert too_early.status_code == 422 and too_early.json()["errors"][0]["pointer"] == "/ended_at"
    ok = await stack.post(
        f"{base}/{episode['id']}/return", {"ended_at": ago(days=15), "return_interview_offered": True}
    )
    assert ok.status_code == 200 and ok.json()["ended_at"] is not None and ok.headers["etag"] == '"3"'
    again = await stack.post(
        f"{base}/{episode['id']}/return", {"ended_at": ago(days=14), "return_interview_offered": True}
    )
    assert again.status_code == 409

    overlapping = await stack.post(base, {**EPISODE, "started_at": ago(days=17)})
    assert overlapping.status_code == 409
    later = await stack.post(base, {**EPISODE, "started_at": ago(days=5)})
    assert later.status_code == 201

    listed = (await stack.get(base)).json()["items"]
    assert [e["id"] for e in listed] == [episode["id"], later.json()["id"]]
    assert listed[0]["return_interview_offered"] is True and listed[1]["ended_at"] is None
    types = [e["type"] for e in await stack.events(want=4)]
    assert types == [
        "ictg.case.opened.v1",
        "ictg.missing.started.v1",
        "ictg.missing.ended.v1",
        "ictg.missing.started.v1",
    ]
    unknown = await stack.post(
        f"{base}/{case['id']}/return", {"ended_at": ago(days=1), "return_interview_offered": False}
    )
    assert unknown.status_code == 404


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


async def test_if_match_guards_every_write(stack: Stack) -> None:
    case = await past_case(stack)
    cid = case["id"]
    got = await stack.get(f"/v1/cases/{cid}")
    assert got.headers["etag"] == '"1"'
    ok = await stack.post(
        f"/v1/cases/{cid}/contacts", {**CONTACT, "occurred_at": ago(days=1)}, headers={**WRITE, "If-Match": '"1"'}
    )
    assert ok.status_code == 201 and ok.headers["etag"] == '"2"'
    stale = await stack.post(
        f"/v1/cases/{cid}/contacts", {**CONTACT, "occurred_at": ago(hours=5)}, headers={**WRITE, "If-Match": '"1"'}
    )
    assert stale.status_code == 412 and stale.json()["type"].endswith("/stale-etag") and stale.headers["etag"] == '"2"'
    stale_exit = await stack.post(f"/v1/cases/{cid}/exit", {"exited_at": ago(hours=1), "reason": "other", "destination": "none"},
                                  headers={**WRITE, "If-Match": '"1"'})  # fmt: skip
    assert stale_exit.status_code == 412
    assert len((await stack.get(f"/v1/cases/{cid}/contacts")).json()["items"]) == 1
    assert (await stack.get(f"/v1/cases/{cid}")).json()["status"] == "awaiting_allocation"
    weak = await stack.post(
        f"/v1/cases/{cid}/contacts", {**CONTACT, "occurred_at": ago(hours=4)}, headers={**WRITE, "If-Match": 'W/"2"'}
    )
    assert weak.status_code == 201 and weak.headers["etag"] == '"3"'
    anything = await stack.post(
        f"/v1/cases/{cid}/contacts", {**CONTACT, "occurred_at": ago(hours=3)}, headers={**WRITE, "If-Match": "*"}
    )
    assert anything.status_code == 201
    garbage = await stack.post(
        f"/v1/cases/{cid}/contacts", {**CONTACT, "occurred_at": ago(hours=2)}, headers={**WRITE, "If-Match": "xyz"}
    )
    assert garbage.status_code == 412
