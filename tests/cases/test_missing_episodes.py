"""Missing episodes (`ictg_cases.missing`): one open at a time, the return, an episode open at referral."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ictg_common import clock
from ictg_common.runtime import runtime_of
from tests.support.cases_harness import Stack, iso, stack_fixture  # noqa: F401


def ago(**kw: float) -> str:
    return iso(clock.utcnow() - timedelta(**kw))


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


EPISODE = {"reported_to_police": True, "missing_from_care_meeting": False, "professional_network_meeting": True}


async def past_case(stack: Stack, days: int = 30, **kw: Any) -> dict[str, Any]:
    return await stack.case(received_at=clock.utcnow() - timedelta(days=days), **kw)


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


async def test_missing_at_referral_opens_an_episode_and_its_event(stack: Stack) -> None:
    received = clock.utcnow() - timedelta(days=70)
    case = await stack.case(received_at=received, missing_at_referral=True)
    assert case["missing"] is True and case["long_term_missing"] is True  # open for ≥ 60 days
    [episode] = (await stack.get(f"/v1/cases/{case['id']}/missing-episodes")).json()["items"]
    assert episode["at_referral"] is True and episode["ended_at"] is None
    assert episode["started_at"] == case["received_at"]
    events = await stack.events(want=2)
    assert [e["type"] for e in events] == ["ictg.case.opened.v1", "ictg.missing.started.v1"]
    assert events[1]["data"]["at_referral"] is True and events[1]["data"]["episode_id"] == episode["id"]
    assert at(events[1]["data"]["started_at"]) == at(events[1]["time"]) == at(case["received_at"])

    # The child's return is recorded on that episode like any other.
    back = await stack.post(
        f"/v1/cases/{case['id']}/missing-episodes/{episode['id']}/return",
        {"ended_at": (clock.utcnow() - timedelta(days=1)).isoformat(), "return_interview_offered": False},
    )
    assert back.status_code == 200
    after = (await stack.get(f"/v1/cases/{case['id']}")).json()
    assert after["missing"] is False and after["long_term_missing"] is False


async def test_recent_missing_episode_is_not_long_term(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=30), missing_at_referral=True)
    assert case["missing"] is True and case["long_term_missing"] is False
    runtime_of(stack.app).settings.long_term_missing_days = 20
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["long_term_missing"] is True


async def test_a_move_while_the_child_is_missing_tells_the_council_taking_over(stack: Stack) -> None:
    """Found trying the webhooks as a council: the new council's API showed the open episode, but its webhooks
    only a `case.moved` with nothing of it, so a system that listens to pushes learnt the child was missing
    only when the child came back. The move's event names the episode open when it is recorded, even a move
    dated before the episode began (the new council's view shows the episode: it overlaps its period)."""
    case = await past_case(stack, days=30)
    path = f"/v1/cases/{case['id']}"
    started = ago(days=10)
    episode = (await stack.post(f"{path}/missing-episodes", {**EPISODE, "started_at": started})).json()
    for code, moved_at in (("E08000012", ago(days=12)), ("E08000001", ago(days=5))):  # before it began, then during
        r = await stack.post(f"{path}/moves", {"moved_at": moved_at, "local_authority_code": code})
        assert r.status_code == 201, r.text
    r = await stack.post(
        f"{path}/missing-episodes/{episode['id']}/return", {"ended_at": ago(days=1), "return_interview_offered": True}
    )
    assert r.status_code == 200, r.text
    r = await stack.post(f"{path}/moves", {"moved_at": ago(hours=1), "local_authority_code": "E08000012"})
    assert r.status_code == 201, r.text  # back and returned: missing no longer

    moves = sorted(
        (e["data"] for e in await stack.events(want=6) if e["type"] == "ictg.case.moved.v1"),
        key=lambda d: at(d["moved_at"]),
    )
    assert [(d["missing_episode_id"], d["missing_since"] and at(d["missing_since"])) for d in moves] == [
        (episode["id"], at(started)),  # dated before the episode began, recorded while it is open
        (episode["id"], at(started)),
        (None, None),  # recorded after the return
    ]
