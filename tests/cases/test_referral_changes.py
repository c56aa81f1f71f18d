"""The case follows its referral (`ictg_cases.referrals.follow`): a referrer journey through both services.
A correction refreshes the child's details on the case and shows the guardian which fields changed (the
event names them, never their values); a withdrawal before allocation closes the case (`referral_withdrawn`),
after allocation leaves it open and tells the guardian, who decides. Redelivered events change nothing twice."""

from __future__ import annotations

from typing import Any

import nats

from ictg_common import clock
from ictg_common.events import CloudEvent, new_id
from ictg_common.runtime import runtime_of
from tests.support.cases_harness import ADMIN, Stack, stack_fixture  # noqa: F401
from tests.support.factories import referral_body
from tests.support.platform import as_tester, auth, eventually

POLICE = auth("referrals:write")  # Greater Manchester Police, which files the stack's referrals
KENT = auth("referrals:write", org_type="police", org_name="Kent Police")


async def referral_and_case(stack: Stack, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    r = await stack.intake.post("/v1/referrals", json=referral_body(**overrides), headers=POLICE)
    assert r.status_code == 201, r.text
    referral = r.json()
    return referral, await stack.case_of(referral["id"])


async def etag_of(stack: Stack, rid: str) -> str:
    r = await stack.intake.get(f"/v1/referrals/{rid}", headers=POLICE)
    return r.headers["etag"]


async def withdraw(stack: Stack, rid: str, reason: str, detail: str | None = None) -> dict[str, Any]:
    body = {"reason": reason} | ({"detail": detail} if detail else {})
    headers = {**POLICE, "If-Match": await etag_of(stack, rid)}
    r = await stack.intake.post(f"/v1/referrals/{rid}/withdraw", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def case_when(stack: Stack, case_id: str, ready: Any) -> dict[str, Any]:
    async def got() -> Any:
        case = (await stack.get(f"/v1/cases/{case_id}")).json()
        return case if ready(case) else None

    return dict(await eventually(got, timeout=20))


async def timeline(stack: Stack, case_id: str) -> list[dict[str, Any]]:
    r = await stack.get(f"/v1/cases/{case_id}/timeline")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_correction_reaches_the_case_and_the_guardian_sees_what_changed(stack: Stack) -> None:
    referral, case = await referral_and_case(stack)
    rid = referral["id"]
    assert case["turns_18_on"] == "2028-03-04"
    correction = {"child": {"family_name": "Nguyen Van", "date_of_birth": "2010-04-03"}, "notes": "Not a car wash."}
    r = await stack.intake.patch(
        f"/v1/referrals/{rid}", json=correction, headers={**POLICE, "If-Match": await etag_of(stack, rid)}
    )
    assert r.status_code == 200, r.text

    # Another force knows nothing of it, whatever it tries.
    r = await stack.intake.patch(f"/v1/referrals/{rid}", json={"notes": "x"}, headers={**KENT, "If-Match": '"2"'})
    assert r.status_code == 404

    after = await case_when(stack, case["id"], lambda c: c["version"] > case["version"])
    assert after["personal"]["child"]["family_name"] == "Nguyen Van"
    assert after["personal"]["notes"] == "Not a car wash."
    assert after["turns_18_on"] == "2028-04-03" and after["status"] == "awaiting_allocation"
    assert after["referral_withdrawn_at"] is None
    [entry] = [e for e in await timeline(stack, case["id"]) if e["kind"] == "referral.amended"]
    assert entry["record"]["fields"] == ["child.date_of_birth", "child.family_name", "notes"]
    assert entry["record"]["recorded_by"] == "referrer"
    assert "Nguyen Van" not in str(entry)
    # The guardian's copy moved on: a write against the version read before the correction is refused.
    r = await stack.cases.post(
        f"/v1/cases/{case['id']}/contacts",
        json={"occurred_at": clock.utcnow().isoformat(), "outcome": "made", "method": "phone", "party": "child",
              "topics": []},
        headers={**ADMIN, "If-Match": f'"{case["version"]}"'},
    )  # fmt: skip
    assert r.status_code == 412, r.text


async def test_withdrawn_before_allocation_the_case_exits(stack: Stack) -> None:
    referral, case = await referral_and_case(stack)
    rid = referral["id"]
    await withdraw(stack, rid, "made_in_error")
    closed = await case_when(stack, case["id"], lambda c: c["status"] == "exited")
    assert closed["referral_withdrawal_reason"] == "made_in_error" and closed["referral_withdrawn_at"] is not None
    r = await stack.get(f"/v1/cases/{case['id']}/exit")
    assert r.status_code == 200, r.text
    assert (r.json()["reason"], r.json()["destination"]) == ("referral_withdrawn", "none")
    kinds = [e["kind"] for e in await timeline(stack, case["id"])]
    assert kinds[-2:] == ["referral.withdrawn", "case.exited"]
    exited = [e for e in await stack.events(want=2) if e["type"] == "ictg.case.exited.v1"]
    assert [e["data"]["reason"] for e in exited] == ["referral_withdrawn"]

    # The referrer's status says withdrawn, and stays so once intake learns of the exit.
    async def learnt_exit() -> Any:
        got = (await stack.intake.get(f"/v1/referrals/{rid}", headers=POLICE)).json()
        return got if got["exited_at"] is not None else None

    assert (await eventually(learnt_exit, timeout=20))["status"] == "withdrawn"


async def test_withdrawn_after_allocation_the_case_stays_open_and_the_guardian_decides(stack: Stack) -> None:
    referral, case = await referral_and_case(stack)
    rid = referral["id"]
    worker = await stack.worker()
    r = await stack.post(f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"]})
    assert r.status_code == 201, r.text
    # Until the referrer withdraws, no one may exit a case as withdrawn.
    r = await stack.post(
        f"/v1/cases/{case['id']}/exit",
        {"exited_at": clock.utcnow().isoformat(), "reason": "referral_withdrawn", "destination": "none"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/reason"

    detail = "The child was referred by Kent Police last week."
    await withdraw(stack, rid, "duplicate", detail)
    told = await case_when(stack, case["id"], lambda c: c["referral_withdrawn_at"] is not None)
    assert told["status"] == "allocated" and told["referral_withdrawal_reason"] == "duplicate"
    [entry] = [e for e in await timeline(stack, case["id"]) if e["kind"] == "referral.withdrawn"]
    assert entry["record"]["detail"] == detail and entry["record"]["case_exited"] is False
    assert entry["record"]["reason"] == "duplicate"
    status = (await stack.intake.get(f"/v1/referrals/{rid}", headers=POLICE)).json()["status"]
    assert status == "withdrawn"

    # The guardian decides: the case closes as withdrawn.
    r = await stack.post(
        f"/v1/cases/{case['id']}/exit",
        {"exited_at": clock.utcnow().isoformat(), "reason": "referral_withdrawn", "destination": "none"},
    )
    assert r.status_code == 201, r.text


async def test_a_missing_child_is_never_closed_by_a_withdrawal(stack: Stack) -> None:
    referral, case = await referral_and_case(stack, missing_at_referral=True)
    await withdraw(stack, referral["id"], "other", "Found the child was already known to another service.")
    told = await case_when(stack, case["id"], lambda c: c["referral_withdrawn_at"] is not None)
    assert told["status"] == "awaiting_allocation" and told["missing"] is True


async def test_redelivered_events_change_the_case_once(stack: Stack) -> None:
    referral, case = await referral_and_case(stack)
    rid = referral["id"]
    r = await stack.intake.patch(
        f"/v1/referrals/{rid}", json={"notes": "Corrected."}, headers={**POLICE, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    await withdraw(stack, rid, "made_in_error")
    await case_when(stack, case["id"], lambda c: c["status"] == "exited")
    settings = stack.settings
    nc = await nats.connect(as_tester(settings["nats_url"]))
    js = nc.jetstream()
    sub = await js.pull_subscribe(f"{settings['subject_prefix']}.intake.>", stream=settings["nats_stream"])
    msgs = [
        m
        for m in await sub.fetch(10, timeout=5)
        if ".referral.amended" in m.subject or ".referral.withdrawn" in m.subject
    ]
    assert len(msgs) == 2
    for m in msgs:  # the same events again, and copies under new ids (a replay from the stream)
        await js.publish(m.subject, m.data, headers={"Nats-Msg-Id": f"again-{new_id()}"})
        copy = CloudEvent.from_json(m.data).model_copy(update={"id": new_id()})
        await js.publish(m.subject, copy.to_json(), headers={"Nats-Msg-Id": str(copy.id)})

    async def drained() -> bool:
        info = await js.consumer_info(settings["nats_stream"], "cases-referrals")
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq >= 8

    await eventually(drained, timeout=10)
    await nc.close()
    assert await runtime_of(stack.app).consumers[0].process(CloudEvent.from_json(msgs[0].data)) is False
    kinds = [e["kind"] for e in await timeline(stack, case["id"])]
    assert (kinds.count("referral.amended"), kinds.count("referral.withdrawn"), kinds.count("case.exited")) == (1, 1, 1)
    assert [e["data"]["reason"] for e in await stack.events(want=2) if e["type"] == "ictg.case.exited.v1"] == [
        "referral_withdrawn"
    ]
