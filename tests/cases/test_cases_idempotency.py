"""Idempotency-Key on every case write (`ictg_cases.cases.idempotency`): a guardian's app that lost a response retries with its key
and gets the first answer again, never a second record (the same rule as intake's)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ictg_common import clock
from ictg_common.db import create_engine
from tests.support.cases_harness import ADMIN, WRITE, Stack, iso, stack_fixture  # noqa: F401
from tests.support.platform import auth

CONTACT = {"outcome": "made", "method": "face_to_face", "party": "child", "topics": ["safety"]}
EPISODE = {"reported_to_police": True, "missing_from_care_meeting": False, "professional_network_meeting": True}


def ago(**kw: float) -> str:
    return iso(clock.utcnow() - timedelta(**kw))


def keyed(key: str, headers: dict[str, str] = WRITE) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


class Db:
    """What the case API holds, read straight from its schema."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=1)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def count(self, table: str) -> int:
        return int(await self.scalar(f"SELECT count(*) FROM cases.{table}"))

    async def events(self, name: str) -> int:
        return int(await self.scalar("SELECT count(*) FROM cases.outbox WHERE subject LIKE :s", s=f"%.{name}"))

    async def actions(self) -> list[tuple[str, str, str]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text("SELECT actor, action, resource FROM cases.audit ORDER BY id"))
            return [tuple(r) for r in rows.all()]

    async def snapshot(self, table: str, case_id: str | None) -> tuple[int, int, int, int | None]:
        """Rows of the written table, outbox rows, stored keys, and the case's version."""
        version = None
        if case_id is not None:
            version = await self.scalar('SELECT version FROM cases."case" WHERE id = :id', id=case_id)
        return await self.count(table), await self.count("outbox"), await self.count("idempotency_key"), version


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Db]:
    d = Db(stack.settings["database_url"])
    yield d
    await d.engine.dispose()


async def past_case(stack: Stack, days: int = 30, **kw: Any) -> dict[str, Any]:
    return await stack.case(received_at=clock.utcnow() - timedelta(days=days), **kw)


# --- every write -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One case write: how to prepare it, what it stores, what it answers."""

    action: str
    table: str
    prepare: Callable[[Stack, dict[str, Any]], Awaitable[tuple[str, dict[str, Any]]]]
    status: int = 201
    admin: bool = False  # scope cases:admin (as manager-1), else cases:write (as guardian-1)
    on_case: bool = True

    @property
    def headers(self) -> dict[str, str]:
        return ADMIN if self.admin else WRITE


async def _worker(stack: Stack, case: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "/v1/workers", {"name": "Kim Guardian", "role": "direct_worker", "region": "north_west", "capacity": 3}


async def _allocation(stack: Stack, case: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    worker = await stack.worker()
    return f"/v1/cases/{case['id']}/allocations", {"worker_id": worker["id"]}


def simple(path: str, body: Callable[[], dict[str, Any]]) -> Callable[[Stack, dict[str, Any]], Awaitable[Any]]:
    async def prepare(stack: Stack, case: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"/v1/cases/{case['id']}/{path}", body()

    return prepare


async def _return(stack: Stack, case: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    started = await stack.post(f"/v1/cases/{case['id']}/missing-episodes", {**EPISODE, "started_at": ago(days=5)})
    assert started.status_code == 201, started.text
    path = f"/v1/cases/{case['id']}/missing-episodes/{started.json()['id']}/return"
    return path, {"ended_at": ago(days=1), "return_interview_offered": True}


async def _return_interview(stack: Stack, case: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    path, body = await _return(stack, case)
    returned = await stack.post(path, body)
    assert returned.status_code == 200, returned.text
    return path + "-interview", {"offered_at": ago(hours=12), "outcome": "declined", "conducted_by": "local_authority"}


WRITES = {
    "workers": Write("worker.create", "worker", _worker, admin=True, on_case=False),
    "allocations": Write("allocation.create", "allocation", _allocation),
    "contacts": Write("contact.create", "contact", simple("contacts", lambda: {**CONTACT, "occurred_at": ago(days=2)})),
    "missing-episodes": Write(
        "missing_episode.create", "missing_episode",
        simple("missing-episodes", lambda: {**EPISODE, "started_at": ago(days=2)}),
    ),
    "missing-return": Write("missing_episode.return", "missing_episode", _return, status=200),
    "return-interview": Write("return_interview.create", "return_interview", _return_interview),
    "assessments": Write(
        "assessment.create", "assessment",
        simple("assessments", lambda: {"assessed_at": ago(days=2), "living_situation": "family",
                                       "trafficker_contact": "none", "education": "attending", "cjs_involvement": []}),
    ),
    "nrm-decisions": Write(
        "nrm_decision.create", "nrm_decision",
        simple("nrm-decisions", lambda: {"stage": "reasonable_grounds", "outcome": "positive", "decided_at": ago(days=2)}),
    ),
    "advocacy": Write(
        "advocacy.create", "advocacy",
        simple("advocacy", lambda: {"kind": "meeting", "area": "education", "occurred_at": ago(days=2)}),
    ),
    "moves": Write(
        "move.create", "move", simple("moves", lambda: {"moved_at": ago(days=2), "local_authority_code": "E08000012"})
    ),
    "pathway": Write(
        "pathway.change", "pathway_change", simple("pathway", lambda: {"pathway": "regional_practitioner"}), admin=True
    ),
    "exit": Write(
        "exit.create", "exit",
        simple("exit", lambda: {"exited_at": ago(days=1), "reason": "work_completed", "destination": "none"}),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(WRITES))
async def test_every_write_retried_with_its_key_is_applied_once_and_answered_the_same(
    stack: Stack, db: Db, name: str
) -> None:
    write = WRITES[name]
    case = await past_case(stack)
    path, body = await write.prepare(stack, case)
    headers = keyed(f"retry-{name}", write.headers)

    first = await stack.post(path, body, headers=headers)
    assert first.status_code == write.status, first.text
    assert "idempotency-replayed" not in first.headers
    after_first = await db.snapshot(write.table, case["id"] if write.on_case else None)

    again = await stack.post(path, body, headers=headers)
    assert again.status_code == write.status and again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.headers.get("etag") == first.headers.get("etag")
    assert (write.on_case and "etag" in again.headers) or not write.on_case
    assert await db.snapshot(write.table, case["id"] if write.on_case else None) == after_first

    actor = "manager-1" if write.admin else "guardian-1"
    assert (actor, f"{write.action}.replay", first.headers["location"]) in await db.actions()


# --- a contact, in detail ----------------------------------------------------------------------


async def test_a_retried_contact_is_one_contact_one_event_and_the_same_answer(stack: Stack, db: Db) -> None:
    case = await past_case(stack)
    path, body = f"/v1/cases/{case['id']}/contacts", {**CONTACT, "occurred_at": ago(days=2), "notes": "At school"}
    first = await stack.post(path, body, headers=keyed("tablet-7f3a"))
    assert first.status_code == 201, first.text
    again = await stack.post(path, body, headers=keyed("tablet-7f3a"))
    assert again.status_code == 201 and again.json() == first.json()
    assert again.text == first.text  # the body as first written, key order and all
    assert (again.headers["location"], again.headers["etag"]) == (first.headers["location"], '"2"')
    assert again.headers["idempotency-replayed"] == "true"
    assert await db.count("contact") == 1 and await db.events("contact.recorded") == 1
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["version"] == 2


async def test_the_same_key_with_another_body_or_on_another_case_is_422_and_changes_nothing(
    stack: Stack, db: Db
) -> None:
    case, other = await past_case(stack), await past_case(stack, child__given_name="Bao", child__nationality="AL")
    body = {**CONTACT, "occurred_at": ago(days=2)}
    assert (await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("k1"))).status_code == 201
    before = await db.snapshot("contact", case["id"])

    changed = await stack.post(f"/v1/cases/{case['id']}/contacts", {**body, "method": "phone"}, headers=keyed("k1"))
    elsewhere = await stack.post(f"/v1/cases/{other['id']}/contacts", body, headers=keyed("k1"))
    for refused in (changed, elsewhere):
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["pointer"] == "#header/Idempotency-Key"
        assert "idempotency-replayed" not in refused.headers
    assert await db.snapshot("contact", case["id"]) == before
    assert (await stack.get(f"/v1/cases/{other['id']}")).json()["version"] == 1


async def test_the_body_is_compared_as_json_not_as_bytes(stack: Stack, db: Db) -> None:
    case = await past_case(stack)
    path = f"/v1/cases/{case['id']}/contacts"
    body = {**CONTACT, "occurred_at": ago(days=2)}
    headers = {**keyed("reordered"), "Content-Type": "application/json"}
    first = await stack.cases.post(path, content=httpx.Request("POST", "/", json=body).content, headers=headers)
    reordered = dict(reversed(list(body.items())))
    again = await stack.cases.post(path, content=json.dumps(reordered, indent=2).encode(), headers=headers)
    assert first.status_code == again.status_code == 201 and again.headers["idempotency-replayed"] == "true"
    assert await db.count("contact") == 1


@pytest.mark.parametrize(
    ("key", "detail"),
    [("", "empty"), ("   ", "empty"), ("a\x01b", "control"), ("tab\there", "control"), ("x" * 201, "longer")],
    ids=["empty", "blank", "control", "tab", "too-long"],
)
async def test_an_unusable_key_is_400_and_changes_nothing(stack: Stack, db: Db, key: str, detail: str) -> None:
    case = await past_case(stack)
    r = await stack.post(
        f"/v1/cases/{case['id']}/contacts", {**CONTACT, "occurred_at": ago(days=1)}, headers=keyed(key)
    )
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["errors"][0]["pointer"] == "#header/Idempotency-Key" and detail in problem["detail"]
    assert await db.count("contact") == 0 and await db.count("idempotency_key") == 0


async def test_a_200_character_key_is_fine(stack: Stack) -> None:
    case = await past_case(stack)
    body, headers = {**CONTACT, "occurred_at": ago(days=1)}, keyed("k" * 200)
    assert (await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=headers)).status_code == 201
    again = await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=headers)
    assert again.headers["idempotency-replayed"] == "true"


async def test_a_replay_answers_the_first_response_even_after_the_case_changed_or_closed(stack: Stack, db: Db) -> None:
    case = await past_case(stack)
    cid = case["id"]
    body = {**CONTACT, "occurred_at": ago(days=3)}
    first = await stack.post(f"/v1/cases/{cid}/contacts", body, headers={**keyed("lost"), "If-Match": '"1"'})
    assert first.status_code == 201 and first.headers["etag"] == '"2"'
    assert (await stack.post(f"/v1/cases/{cid}/contacts", {**CONTACT, "occurred_at": ago(days=2)})).status_code == 201

    # The retry still carries the If-Match of the first attempt: stale now, but the write is done.
    stale = await stack.post(f"/v1/cases/{cid}/contacts", body, headers={**keyed("lost"), "If-Match": '"1"'})
    assert stale.status_code == 201 and stale.json() == first.json() and stale.headers["etag"] == '"2"'

    exit_body = {"exited_at": ago(days=1), "reason": "work_completed", "destination": "none"}
    assert (await stack.post(f"/v1/cases/{cid}/exit", exit_body)).status_code == 201
    closed = await stack.post(f"/v1/cases/{cid}/contacts", body, headers=keyed("lost"))
    assert closed.status_code == 201 and closed.json() == first.json()
    assert closed.headers["idempotency-replayed"] == "true"
    # A new write (a new key) to the closed case is refused as ever.
    assert (await stack.post(f"/v1/cases/{cid}/contacts", body, headers=keyed("new"))).status_code == 409
    assert await db.count("contact") == 2


async def test_a_replay_is_audited_like_a_read(stack: Stack, db: Db) -> None:
    case = await past_case(stack)
    body = {**CONTACT, "occurred_at": ago(days=1)}
    first = await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("audited"))
    await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("audited"))
    await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("audited"))
    location = first.headers["location"]
    trail = [a for a in await db.actions() if a[2] == location]
    assert trail == [
        ("guardian-1", "contact.create", location),
        ("guardian-1", "contact.create.replay", location),
        ("guardian-1", "contact.create.replay", location),
    ]
    listed = await stack.get("/v1/audit", headers=auth("audit:read"), resource=location)
    assert [e["action"] for e in listed.json()["items"]] == ["contact.create.replay"] * 2 + ["contact.create"]


async def test_keys_are_per_client(stack: Stack, db: Db) -> None:
    case = await past_case(stack)
    body = {**CONTACT, "occurred_at": ago(days=1)}
    other = auth("cases:write", regions=["north_west"], sub="guardian-2")
    a = await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("shared"))
    b = await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("shared", other))
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
    assert "idempotency-replayed" not in b.headers and await db.count("contact") == 2


async def test_concurrent_retries_of_one_key_write_once_and_the_rest_are_told_to_retry(stack: Stack, db: Db) -> None:
    case = await past_case(stack)
    body = {**CONTACT, "occurred_at": ago(days=1)}
    answers = await asyncio.gather(
        *(stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("burst")) for _ in range(8))
    )
    assert {a.status_code for a in answers} <= {201, 409} and 201 in {a.status_code for a in answers}
    assert len({a.json()["id"] for a in answers if a.status_code == 201}) == 1
    for busy in (a for a in answers if a.status_code == 409):
        assert busy.json()["type"].endswith("/idempotency-in-flight") and int(busy.headers["retry-after"]) >= 1
    assert await db.count("contact") == 1 and await db.events("contact.recorded") == 1
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["version"] == 2


async def test_a_refused_write_is_not_remembered(stack: Stack, db: Db) -> None:
    case = await past_case(stack, days=10)
    path = f"/v1/cases/{case['id']}/contacts"
    early = {**CONTACT, "occurred_at": ago(days=11)}  # before the referral: 422
    assert (await stack.post(path, early, headers=keyed("fix-me"))).status_code == 422
    assert (await stack.post(path, early, headers=keyed("fix-me"))).status_code == 422
    fixed = await stack.post(path, {**early, "occurred_at": ago(days=9)}, headers=keyed("fix-me"))
    assert fixed.status_code == 201 and "idempotency-replayed" not in fixed.headers
    assert await db.count("contact") == 1


async def test_a_replay_needs_the_case_still_in_the_actors_regions(stack: Stack, db: Db) -> None:
    case = await past_case(stack)
    body = {**CONTACT, "occurred_at": ago(days=2)}
    assert (await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("mine"))).status_code == 201
    moved = await stack.post(
        f"/v1/cases/{case['id']}/moves", {"moved_at": ago(days=1), "local_authority_code": "E09000033"}, headers=ADMIN
    )
    assert moved.status_code == 201, moved.text  # now in London, outside the guardian's regions
    r = await stack.post(f"/v1/cases/{case['id']}/contacts", body, headers=keyed("mine"))
    assert r.status_code == 403 and "idempotency-replayed" not in r.headers


async def test_an_expired_key_is_forgotten_and_expired_keys_are_pruned(stack: Stack, db: Db) -> None:
    case = await past_case(stack)
    path, body = f"/v1/cases/{case['id']}/contacts", {**CONTACT, "occurred_at": ago(days=2)}
    for key in ("old", "older"):
        assert (await stack.post(path, body, headers=keyed(key))).status_code == 201
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE cases.idempotency_key SET created_at = created_at - interval '49 hours'"))
    again = await stack.post(path, body, headers=keyed("old"))
    assert again.status_code == 201 and "idempotency-replayed" not in again.headers
    assert await db.count("contact") == 3
    # The new answer for "old" replaced the expired one, and "older" was pruned on the way.
    assert await db.scalar("SELECT string_agg(key, ',') FROM cases.idempotency_key") == "old"


def test_every_write_documents_the_header_and_its_409() -> None:
    from ictg_cases.app import create_app

    paths = create_app().openapi()["paths"]
    writes = {p for p, item in paths.items() if "post" in item and not p.startswith("/v1/admin")}
    assert len(writes) == len(WRITES)
    for path in writes:
        op = paths[path]["post"]
        [header] = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header" and not header["required"] and header["schema"]["maxLength"] == 200
        assert "Idempotency-Key" in op["responses"]["409"]["description"]
        assert "Retry-After" in op["responses"]["409"]["headers"]
