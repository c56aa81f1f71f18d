"""A case write runs without HTTP: the unit of work serves an endpoint, a consumer or a script alike."""

from __future__ import annotations

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
from tests.support.cases_harness import Stack, stack_fixture  # noqa: F401

SCRIPT = Actor(sub="script-1", scopes=frozenset({"cases:write"}), regions=("north_west",))


def _context(stack: Stack, actor: Actor = SCRIPT, **kw: Any) -> Context:
    runtime = runtime_of(stack.app)
    return Context(actor=actor, break_glass=None, settings=runtime.settings, sessionmaker=runtime.sessionmaker, **kw)


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
