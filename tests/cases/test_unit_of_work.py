"""The unit of work (`ictg_cases.cases.unit_of_work`): a case write runs without HTTP and serves an endpoint, a
consumer or a script alike; through HTTP, `If-Match` guards every write and concurrent writers serialise on the case."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from ictg_cases import kinds
from ictg_cases.cases import unit_of_work
from ictg_cases.cases.access import Context
from ictg_cases.errors import OutsideRegion, StaleETag
from ictg_cases.records.schemas import AssessmentCreate
from ictg_cases.records.service import record_fact
from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.runtime import runtime_of
from tests.support.cases_harness import WRITE, Stack, cases_settings, iso, stack_fixture  # noqa: F401

CONTACT = {"outcome": "made", "method": "face_to_face", "party": "child", "topics": ["safety", "nrm"]}


def ago(**kw: float) -> str:
    return iso(clock.utcnow() - timedelta(**kw))


async def past_case(stack: Stack, days: int = 30, **kw: Any) -> dict[str, Any]:
    return await stack.case(received_at=clock.utcnow() - timedelta(days=days), **kw)


SCRIPT = Actor(sub="script-1", scopes=frozenset({"cases:write"}), regions=("north_west",))


def _context(stack: Stack, actor: Actor = SCRIPT, **kw: Any) -> Context:
    runtime = runtime_of(stack.app)
    return Context(
        actor=actor, break_glass=None, settings=cases_settings(stack.app), sessionmaker=runtime.sessionmaker, **kw
    )


def _assessment(days_ago: int = 1) -> AssessmentCreate:
    # As a request's body arrives: the times are ISO strings.
    return AssessmentCreate.model_validate(
        {"assessed_at": (clock.utcnow() - timedelta(days=days_ago)).isoformat(), "living_situation": "family",
         "trafficker_contact": "none", "education": "attending"}
    )  # fmt: skip


async def _write(stack: Stack, ctx: Context, case_id: UUID) -> unit_of_work.Written[Any]:
    body = _assessment()
    async with runtime_of(stack.app).sessionmaker() as session, session.begin():
        return await unit_of_work.write(
            session, ctx, case_id, action="assessment.create", location="/v1/cases/{case_id}/assessments/{id}",
            change=lambda case: record_fact(session, case, kinds.ASSESSMENTS, body, actor=ctx.actor,
                                            settings=ctx.settings),
        )  # fmt: skip


async def test_a_write_ends_with_its_hooks_version_and_event(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=30))
    case_id = UUID(case["id"])
    seen: list[tuple[UUID, str]] = []

    async def hook(_session: Any, written: Any, row: Any, action: str) -> None:
        seen.append((written.id, action))

    done = await _write(stack, _context(stack, after_write=(hook,)), case_id)

    assert done.version == case["version"] + 1
    assert done.location == f"/v1/cases/{case_id}/assessments/{done.row.id}"
    assert seen == [(case_id, "assessment.create")]
    r = await stack.get(f"/v1/cases/{case_id}/assessments/{done.row.id}")
    assert r.status_code == 200 and r.json()["living_situation"] == "family"
    assert (await stack.get(f"/v1/cases/{case_id}")).headers["etag"] == f'"{done.version}"'
    events = [e for e in await stack.events(want=2) if e["type"] == "ictg.assessment.recorded.v1"]
    assert [e["data"]["assessment_id"] for e in events] == [str(done.row.id)]


async def test_a_write_checks_the_case_before_changing_it(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=30))
    case_id = UUID(case["id"])
    elsewhere = Actor(sub="script-2", scopes=frozenset({"cases:write"}), regions=("london",))
    with pytest.raises(OutsideRegion):
        await _write(stack, _context(stack, elsewhere), case_id)
    with pytest.raises(StaleETag):
        await _write(stack, _context(stack, if_match='"99"'), case_id)
    assert (await stack.get(f"/v1/cases/{case_id}/assessments")).json()["items"] == []


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


async def test_concurrent_writers_serialise_on_the_case(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=3))
    body = {"occurred_at": clock.utcnow().isoformat(), "outcome": "made", "method": "video", "party": "child"}
    results = await asyncio.gather(
        *[stack.post(f"/v1/cases/{case['id']}/contacts", body, headers={**WRITE, "If-Match": '"1"'}) for _ in range(4)]
    )
    assert sorted(r.status_code for r in results) == [201, 412, 412, 412]
    free = await asyncio.gather(*[stack.post(f"/v1/cases/{case['id']}/contacts", body) for _ in range(5)])
    assert sorted(r.headers["etag"] for r in free) == ['"3"', '"4"', '"5"', '"6"', '"7"']
    assert len((await stack.get(f"/v1/cases/{case['id']}/contacts")).json()["items"]) == 6
