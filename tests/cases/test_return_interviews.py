"""Return home interviews after a missing episode: recorded by a guardian or by the council the child came back
to, the `return_interview` clock (72 hours from the return, `sla.breached` once per episode), the event, and
what councils see of it (their view, their change feed, their webhooks' policy).

Each test uses councils of its own, so the cases of other tests never show in its lists."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ictg_cases.runtime import cases_runtime
from ictg_common import clock, policy
from ictg_common.contracts import ReturnInterviewRecorded
from ictg_webhooks.routing import AUTHORITIES
from tests.support.cases_harness import WRITE, Stack, iso, stack_fixture  # noqa: F401
from tests.support.platform import auth

BLACKBURN, CHESHIRE_EAST, CHESHIRE_WEST = "E06000008", "E06000049", "E06000050"
INTERVIEW = "ictg.return_interview.recorded.v1"
BREACH = "ictg.sla.breached.v1"


def council(code: str, *scopes: str, sub: str | None = None) -> dict[str, str]:
    return auth(
        *(scopes or ("la:read", "la:write")), org_type="local_authority", org_name=f"Council {code}", regions=[],
        la_codes=[code], sub=sub or f"council-{code}",
    )  # fmt: skip


def now() -> datetime:
    return clock.utcnow().replace(microsecond=0)


async def write(stack: Stack, path: str, body: dict[str, Any], headers: dict[str, str] = WRITE) -> dict[str, Any]:
    r = await stack.post(path, body, headers=headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def returned(stack: Stack, cid: str, start: datetime, end: datetime | None) -> dict[str, Any]:
    """A missing episode of case `cid` from `start`, the child back at `end` (None: still missing)."""
    ep = await write(stack, f"/v1/cases/{cid}/missing-episodes", {
        "started_at": iso(start), "whereabouts_known": False, "reported_to_police": True,
        "missing_from_care_meeting": False, "professional_network_meeting": False})  # fmt: skip
    if end is not None:
        ep = await write(stack, f"/v1/cases/{cid}/missing-episodes/{ep['id']}/return",
                         {"ended_at": iso(end), "return_interview_offered": True})  # fmt: skip
    return ep


def interview_path(cid: str, eid: str) -> str:
    return f"/v1/cases/{cid}/missing-episodes/{eid}/return-interview"


async def events_of(stack: Stack, type_: str, **match: Any) -> list[dict[str, Any]]:
    return [
        e for e in await stack.events()
        if e["type"] == type_ and all(e["data"].get(k) == v for k, v in match.items())
    ]  # fmt: skip


async def test_an_interview_offered_within_72_hours_meets_the_clock(stack: Stack) -> None:
    t0 = now() - timedelta(days=10)
    cid = (await stack.case(received_at=t0, local_authority_code=BLACKBURN))["id"]
    back = now() - timedelta(days=5)
    ep = await returned(stack, cid, back - timedelta(days=1), back)
    offered, held = back + timedelta(hours=20), back + timedelta(hours=30)
    r = await stack.post(interview_path(cid, ep["id"]), {
        "offered_at": iso(offered), "outcome": "accepted", "completed_at": iso(held), "conducted_by": "ictg"})  # fmt: skip
    assert r.status_code == 201, r.text
    made = r.json()
    assert r.headers["Location"] == f"/v1/cases/{cid}/return-interviews/{made['id']}" and r.headers["ETag"]
    assert made["episode_id"] == ep["id"] and made["outcome"] == "accepted" and made["conducted_by"] == "ictg"
    assert datetime.fromisoformat(made["due_by"]) == back + timedelta(hours=72)
    assert made["within_72h"] is True and datetime.fromisoformat(made["completed_at"]) == held
    assert (await stack.get(f"/v1/cases/{cid}/return-interviews")).json()["items"] == [made]
    assert (await stack.get(f"/v1/cases/{cid}/return-interviews/{made['id']}")).json() == made
    timeline = (await stack.get(f"/v1/cases/{cid}/timeline")).json()["items"]
    assert [e["at"] for e in timeline if e["kind"] == "return_interview.recorded"] == [made["offered_at"]]

    # The event, published at the offer's time, carries the same facts (codes and dates only).
    [event] = await events_of(stack, INTERVIEW, interview_id=made["id"])
    assert event["subject"] == cid and datetime.fromisoformat(event["time"]) == offered
    assert event["nats_subject"].endswith(".cases.return_interview.recorded")
    data = ReturnInterviewRecorded.model_validate(event["data"])
    assert (str(data.episode_id), data.outcome, data.within_72h) == (ep["id"], "accepted", True)
    assert data.local_authority_code == BLACKBURN

    # Met: the watcher finds nothing to breach for this episode, ever.
    watcher = cases_runtime(stack.app).extras.sla_watcher
    await watcher.check_once(now=now() + timedelta(days=30))
    assert await events_of(stack, BREACH, episode_id=ep["id"]) == []


async def test_no_interview_by_72_hours_breaches_once_and_a_late_one_is_marked_late(stack: Stack) -> None:
    t0 = now() - timedelta(days=10)
    cid = (await stack.case(received_at=t0, local_authority_code=BLACKBURN))["id"]
    back = now() - timedelta(days=4)
    ep = await returned(stack, cid, back - timedelta(hours=6), back)
    watcher = cases_runtime(stack.app).extras.sla_watcher
    await watcher.check_once(now=back + timedelta(hours=71))
    assert await events_of(stack, BREACH, episode_id=ep["id"]) == [], "not due yet"
    await watcher.check_once()
    await watcher.check_once(now=now() + timedelta(days=2))  # once only
    [breach] = await events_of(stack, BREACH, episode_id=ep["id"])
    assert breach["data"]["clock"] == "return_interview" and breach["subject"] == cid
    assert datetime.fromisoformat(breach["data"]["due_by"]) == back + timedelta(hours=72)
    assert datetime.fromisoformat(breach["time"]) == back + timedelta(hours=72)
    assert breach["data"]["local_authority_code"] == BLACKBURN
    timeline = (await stack.get(f"/v1/cases/{cid}/timeline")).json()["items"]
    assert [e["record"]["episode_id"] for e in timeline if e["kind"] == "sla.breached"] == [ep["id"]]

    late = await write(stack, interview_path(cid, ep["id"]), {
        "offered_at": iso(back + timedelta(hours=80)), "outcome": "accepted", "conducted_by": "local_authority"})  # fmt: skip
    assert late["within_72h"] is False and late["completed_at"] is None
    [event] = await events_of(stack, INTERVIEW, interview_id=late["id"])
    assert event["data"]["within_72h"] is False


async def test_a_declined_offer_meets_the_clock_and_none_offered_breaches_it(stack: Stack) -> None:
    t0 = now() - timedelta(days=20)
    cid = (await stack.case(received_at=t0, local_authority_code=BLACKBURN))["id"]
    first_back, second_back = now() - timedelta(days=10), now() - timedelta(days=5)
    first = await returned(stack, cid, first_back - timedelta(days=1), first_back)
    second = await returned(stack, cid, second_back - timedelta(days=1), second_back)
    declined = await write(stack, interview_path(cid, first["id"]), {
        "offered_at": iso(first_back + timedelta(hours=71)), "outcome": "declined",
        "conducted_by": "commissioned_service"})  # fmt: skip
    none = await write(stack, interview_path(cid, second["id"]), {
        "offered_at": iso(second_back + timedelta(hours=2)), "outcome": "not_offered"})  # fmt: skip
    assert (declined["within_72h"], none["within_72h"], none["conducted_by"]) == (True, False, None)
    await cases_runtime(stack.app).extras.sla_watcher.check_once()
    assert await events_of(stack, BREACH, episode_id=first["id"]) == []
    assert len(await events_of(stack, BREACH, episode_id=second["id"], clock="return_interview")) == 1


async def test_bad_bodies_are_422_with_pointers_and_change_nothing(stack: Stack) -> None:
    t0 = now() - timedelta(days=10)
    cid = (await stack.case(received_at=t0, local_authority_code=BLACKBURN))["id"]
    back = now() - timedelta(days=2)
    ep = await returned(stack, cid, back - timedelta(days=1), back)
    path = interview_path(cid, ep["id"])
    good = {"offered_at": iso(back + timedelta(hours=3)), "outcome": "accepted", "conducted_by": "ictg"}
    etag = (await stack.get(f"/v1/cases/{cid}")).headers["ETag"]
    cases = [
        ({**good, "offered_at": iso(back - timedelta(minutes=1))}, "/offered_at"),
        ({**good, "offered_at": iso(now() + timedelta(days=1))}, "/offered_at"),
        ({**good, "offered_at": "yesterday"}, "/offered_at"),
        ({**good, "outcome": "maybe"}, "/outcome"),
        ({**good, "conducted_by": "Mrs Jones of the RHI team"}, "/conducted_by"),
        ({k: v for k, v in good.items() if k != "conducted_by"}, "/conducted_by"),
        ({**good, "outcome": "declined", "completed_at": iso(back + timedelta(hours=4))}, "/completed_at"),
        ({**good, "completed_at": iso(back + timedelta(hours=2))}, "/completed_at"),
        ({**good, "completed_at": iso(now() + timedelta(hours=2))}, "/completed_at"),
        ({**good, "notes": "she was upset"}, "/notes"),
        ({k: v for k, v in good.items() if k != "offered_at"}, "/offered_at"),
    ]
    for body, pointer in cases:
        r = await stack.post(path, body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert pointer in [e["pointer"] for e in r.json()["errors"]], (body, r.json())
    r = await stack.cases.post(path, content=b"{not json", headers={**WRITE, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")  # as every write
    assert (await stack.get(f"/v1/cases/{cid}/return-interviews")).json()["items"] == []
    assert (await stack.get(f"/v1/cases/{cid}")).headers["ETag"] == etag
    assert await events_of(stack, INTERVIEW, episode_id=ep["id"]) == []

    # The episode must have ended; one interview per episode; an unknown episode is 404.
    still = await returned(stack, cid, now() - timedelta(hours=5), None)
    r = await stack.post(interview_path(cid, still["id"]), {**good, "offered_at": iso(now() - timedelta(hours=1))})
    assert r.status_code == 409 and "return" in r.json()["detail"]
    assert (await stack.post(path, good)).status_code == 201
    again = await stack.post(path, {**good, "outcome": "declined"})
    assert again.status_code == 409 and "already" in again.json()["detail"]
    unknown = await stack.post(interview_path(cid, "0190a000-0000-7000-8000-000000000000"), good)
    assert unknown.status_code == 404


async def test_a_council_records_one_for_its_own_child_and_not_for_another_councils(stack: Stack) -> None:
    t0 = now() - timedelta(days=10)
    cid = (await stack.case(received_at=t0, local_authority_code=CHESHIRE_EAST))["id"]
    back = now() - timedelta(days=3)
    ep = await returned(stack, cid, back - timedelta(days=1), back)
    east, west = council(CHESHIRE_EAST), council(CHESHIRE_WEST)
    body = {"offered_at": iso(back + timedelta(hours=24)), "outcome": "accepted", "conducted_by": "local_authority"}

    # Another council: the same answer as its other writes to a child that is not its own (404, no oracle).
    refused = await stack.post(interview_path(cid, ep["id"]), body, headers=west)
    assert refused.status_code == 404
    assert refused.json()["detail"] == (await stack.cases.put(
        f"/v1/cases/{cid}/local-identifiers", json={"la_child_id": "CW1"}, headers=west)).json()["detail"]  # fmt: skip
    # Its own child, but a token without la:write.
    reader = await stack.post(interview_path(cid, ep["id"]), body, headers=council(CHESHIRE_EAST, "la:read"))
    assert reader.status_code == 403

    r = await stack.post(interview_path(cid, ep["id"]), body, headers=east)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["recorded_by"] == f"council-{CHESHIRE_EAST}" and made["within_72h"] is True
    assert "ETag" not in r.headers  # a council never watches the case's version
    [event] = await events_of(stack, INTERVIEW, interview_id=made["id"])
    assert event["data"]["conducted_by"] == "local_authority"
    assert (await stack.post(interview_path(cid, ep["id"]), body, headers=east)).status_code == 409


async def test_a_council_that_the_child_left_before_coming_back_cannot_record_it(stack: Stack) -> None:
    t0 = now() - timedelta(days=10)
    cid = (await stack.case(received_at=t0, local_authority_code=CHESHIRE_WEST))["id"]
    ep = await returned(stack, cid, t0 + timedelta(days=1), None)
    await write(stack, f"/v1/cases/{cid}/moves", {"moved_at": iso(t0 + timedelta(days=2)),
                                                  "local_authority_code": CHESHIRE_EAST})  # fmt: skip
    back = t0 + timedelta(days=3)
    await write(stack, f"/v1/cases/{cid}/missing-episodes/{ep['id']}/return",
                {"ended_at": iso(back), "return_interview_offered": False})  # fmt: skip
    body = {"offered_at": iso(back + timedelta(hours=1)), "outcome": "declined", "conducted_by": "local_authority"}
    r = await stack.post(interview_path(cid, ep["id"]), body, headers=council(CHESHIRE_WEST, sub="cw-old"))
    assert r.status_code == 403 and "after it stopped being your responsibility" in r.json()["detail"]
    assert (await stack.post(interview_path(cid, ep["id"]), body, headers=council(CHESHIRE_EAST))).status_code == 201


async def test_councils_see_it_in_their_view_their_feed_and_their_webhooks(stack: Stack) -> None:
    t0 = now() - timedelta(days=10)
    cid = (await stack.case(received_at=t0, local_authority_code=BLACKBURN))["id"]
    back = now() - timedelta(days=3)
    ep = await returned(stack, cid, back - timedelta(days=1), back)
    blackburn = council(BLACKBURN, sub="blackburn-feed")
    polled = (await stack.cases.get("/v1/cases", params={"changed_since": iso(t0)}, headers=blackburn)).json()
    cursor = polled["poll_cursor"]
    while polled["items"]:
        polled = (await stack.cases.get("/v1/cases", params={"cursor": cursor}, headers=blackburn)).json()
        cursor = polled["poll_cursor"] or cursor

    made = await write(stack, interview_path(cid, ep["id"]), {
        "offered_at": iso(back + timedelta(hours=5)), "outcome": "accepted", "conducted_by": "ictg"})  # fmt: skip

    fed = (await stack.cases.get("/v1/cases", params={"cursor": cursor}, headers=blackburn)).json()
    assert cid in [c["id"] for c in fed["items"]], "recording the interview is a change in the council's feed"
    [seen] = (await stack.cases.get(f"/v1/cases/{cid}/return-interviews", headers=blackburn)).json()["items"]
    assert seen == {k: v for k, v in made.items() if k not in ("recorded_at", "recorded_by")}
    timeline = (await stack.cases.get(f"/v1/cases/{cid}/timeline", headers=blackburn)).json()["items"]
    [entry] = [e for e in timeline if e["kind"] == "return_interview.recorded"]
    assert entry["record"]["outcome"] == "accepted" and "recorded_by" not in entry["record"]

    # Webhooks: routed by the child's authority like every case event, and a council's to receive.
    [event] = await events_of(stack, INTERVIEW, interview_id=made["id"])
    assert ReturnInterviewRecorded in AUTHORITIES
    assert INTERVIEW in (policy.receivable("local_authority") or ())
    shown = policy.project("local_authority", INTERVIEW, event["data"])
    assert shown is not None and shown["outcome"] == "accepted" and shown["within_72h"] is True
    assert "local_authority_code" not in shown  # where the child is now is not told by a record's event
    assert policy.project("police", INTERVIEW, event["data"]) is None


async def test_a_retry_with_its_idempotency_key_gets_the_first_answer_and_a_stale_etag_is_412(stack: Stack) -> None:
    t0 = now() - timedelta(days=10)
    cid = (await stack.case(received_at=t0, local_authority_code=BLACKBURN))["id"]
    back = now() - timedelta(days=2)
    ep = await returned(stack, cid, back - timedelta(days=1), back)
    body = {"offered_at": iso(back + timedelta(hours=3)), "outcome": "declined", "conducted_by": "other"}
    stale = (await stack.get(f"/v1/cases/{cid}")).headers["ETag"]
    await write(stack, f"/v1/cases/{cid}/contacts", {"occurred_at": iso(back), "outcome": "made", "method": "phone",
                                                     "party": "child", "topics": []})  # fmt: skip
    r = await stack.post(interview_path(cid, ep["id"]), body, headers={**WRITE, "If-Match": stale})
    assert r.status_code == 412
    key = {**WRITE, "Idempotency-Key": "rhi-retry-1"}
    first = await stack.post(interview_path(cid, ep["id"]), body, headers=key)
    again = await stack.post(interview_path(cid, ep["id"]), body, headers=key)
    assert first.status_code == again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()
    assert len((await stack.get(f"/v1/cases/{cid}/return-interviews")).json()["items"]) == 1
