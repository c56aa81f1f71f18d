"""Opening a case (`ictg_cases.cases.service`): a case opens for every referral.received exactly once, with the
referral's details and clocks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import nats

from ictg_common.events import CloudEvent, new_id
from ictg_common.runtime import runtime_of
from tests.support.cases_harness import READ, Stack, cases_settings, stack_fixture  # noqa: F401
from tests.support.platform import as_tester, eventually


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_case_holds_referral_details_and_deadlines(stack: Stack) -> None:
    referral = await stack.referral()
    case = await stack.case_of(referral["id"])
    assert (
        case["status"] == "awaiting_allocation"
        and case["pathway"] == "direct_worker"
        and case["region"] == "north_west"
    )
    for clock_ in ("allocation_due_by", "first_contact_due_by"):
        assert at(case[clock_]) == at(referral["timeliness"][clock_])
    assert at(case["received_at"]) == at(referral["received_at"])
    assert case["personal"]["child"]["given_name"] == "An" and case["personal"]["notes"] == "Found at a car wash."
    assert case["turns_18_on"] == "2028-03-04"
    assert case["maximum_duration_on"] is None and case["missing"] is False and case["long_term_missing"] is False
    assert case["overdue"] == [] and case["version"] == 1


async def test_estimated_age_has_no_18th_birthday_and_maximum_duration_is_configurable(stack: Stack) -> None:
    received = datetime(2025, 8, 31, 10, 0, tzinfo=UTC)
    case = await stack.case(received_at=received, child__date_of_birth=None, child__estimated_age=15)
    assert case["turns_18_on"] is None and case["maximum_duration_on"] is None
    cases_settings(stack.app).maximum_duration_months = 18
    got = (await stack.get(f"/v1/cases/{case['id']}")).json()
    assert got["maximum_duration_on"] == "2027-02-28"  # 18 months on, clamped to the end of February


async def test_same_referral_event_delivered_twice_opens_one_case(stack: Stack) -> None:
    referral = await stack.referral()
    case = await stack.case_of(referral["id"])
    settings = stack.settings
    nc = await nats.connect(as_tester(settings["nats_url"]))
    js = nc.jetstream()
    sub = await js.pull_subscribe(f"{settings['subject_prefix']}.intake.>", stream=settings["nats_stream"])
    [msg] = await sub.fetch(1, timeout=5)
    original = CloudEvent.from_json(msg.data)
    assert original.data["referral_id"] == referral["id"]
    # The same event again (a relay retry past the dedupe window) and a copy under a new id.
    for msg_id in ("redelivery-1", "redelivery-2"):
        await js.publish(msg.subject, msg.data, headers={"Nats-Msg-Id": msg_id})
    copy = original.model_copy(update={"id": new_id()})
    await js.publish(msg.subject, copy.to_json(), headers={"Nats-Msg-Id": str(copy.id)})

    async def drained() -> bool:
        info = await js.consumer_info(settings["nats_stream"], "cases-referrals")
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq >= 4

    await eventually(drained)
    await nc.close()
    assert await runtime_of(stack.app).consumers[0].process(original) is False  # inbox: already handled
    cases = (await stack.get("/v1/cases", referral_id=referral["id"])).json()["items"]
    assert [c["id"] for c in cases] == [case["id"]]
    opened = [e for e in await stack.events(want=1) if e["type"] == "ictg.case.opened.v1"]
    assert len(opened) == 1
    assert json.loads(json.dumps(opened[0]["data"]))["referral_id"] == referral["id"]
    assert (await stack.get("/v1/cases", headers=READ)).json()["items"] == cases
