"""Councils as clients: their children's periods, their view, refusals, identifiers.

Each test uses councils of its own, so the cases of other tests (one database for the run) never
show in its lists."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from ictg_cases.councils.export import collection_year_start
from ictg_common import clock
from ictg_common.db import plain_url
from tests.support.cases_harness import ADMIN, WRITE, Stack, iso, stack_fixture  # noqa: F401
from tests.support.platform import auth
from tests.support.ssda903 import missing_table_errors

AUDITOR = auth("audit:read", regions=[], sub="auditor")


def council(*codes: str, scopes: tuple[str, ...] = ("la:read", "la:write"), sub: str | None = None) -> dict[str, str]:
    return auth(
        *scopes, org_type="local_authority", org_name=f"Council {codes[0]}", regions=[], la_codes=list(codes),
        sub=sub or f"council-{codes[0]}",
    )  # fmt: skip


async def write(stack: Stack, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await stack.post(path, body, headers=WRITE)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def contact(stack: Stack, case_id: str, at: datetime, *, method: str = "phone") -> dict[str, Any]:
    return await write(
        stack, f"/v1/cases/{case_id}/contacts",
        {"occurred_at": iso(at), "outcome": "made", "method": method, "party": "child", "topics": ["safety"],
         "notes": "Told me about the man at the car wash."},
    )  # fmt: skip


async def episode(
    stack: Stack, case_id: str, start: datetime, end: datetime | None = None, *, known: bool = False
) -> dict[str, Any]:
    ep = await write(
        stack, f"/v1/cases/{case_id}/missing-episodes",
        {"started_at": iso(start), "whereabouts_known": known, "reported_to_police": True,
         "missing_from_care_meeting": False, "professional_network_meeting": False},
    )  # fmt: skip
    if end is not None:
        ep = await write(
            stack, f"/v1/cases/{case_id}/missing-episodes/{ep['id']}/return",
            {"ended_at": iso(end), "return_interview_offered": True},
        )  # fmt: skip
    return ep


async def move(stack: Stack, case_id: str, at: datetime, code: str) -> dict[str, Any]:
    return await write(stack, f"/v1/cases/{case_id}/moves", {"moved_at": iso(at), "local_authority_code": code})


async def identify(stack: Stack, case_id: str, headers: dict[str, str], **body: Any) -> Any:
    return await stack.cases.put(f"/v1/cases/{case_id}/local-identifiers", json=body, headers=headers)


async def audit_rows(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    r = await stack.cases.get("/v1/audit", params=params, headers=AUDITOR)
    assert r.status_code == 200, r.text
    return r.json()["items"]


SALFORD, TRAFFORD = "E08000006", "E08000009"


async def test_two_councils_each_see_their_own_period_of_a_child_who_moved(stack: Stack) -> None:
    t0 = clock.utcnow().replace(microsecond=0) - timedelta(days=20)
    case = await stack.case(received_at=t0, local_authority_code=SALFORD)
    cid = case["id"]
    worker = await stack.worker(name="Sam Guardian")
    await write(
        stack, f"/v1/cases/{cid}/allocations", {"worker_id": worker["id"], "allocated_at": iso(t0 + timedelta(hours=2))}
    )
    before = await contact(stack, cid, t0 + timedelta(days=1))
    first = await episode(stack, cid, t0 + timedelta(days=2), t0 + timedelta(days=3))
    await write(stack, f"/v1/cases/{cid}/nrm-decisions",
                {"stage": "reasonable_grounds", "outcome": "positive", "decided_at": iso(t0 + timedelta(days=4))})  # fmt: skip
    moved = await move(stack, cid, t0 + timedelta(days=5), TRAFFORD)
    after = await contact(stack, cid, t0 + timedelta(days=6), method="face_to_face")
    second = await episode(stack, cid, t0 + timedelta(days=7), t0 + timedelta(days=8), known=True)
    await write(stack, f"/v1/cases/{cid}/nrm-decisions",
                {"stage": "conclusive_grounds", "outcome": "positive", "decided_at": iso(t0 + timedelta(days=9))})  # fmt: skip
    salford, trafford = council(SALFORD), council(TRAFFORD)
    assert (await identify(stack, cid, salford, la_child_id="SAL001", nhs_number="4010232137")).status_code == 200
    assert (await identify(stack, cid, trafford, la_child_id="TRF9")).status_code == 200

    seen: dict[str, list[str]] = {SALFORD: [], TRAFFORD: []}  # every body each council was shown

    async def get(path: str, headers: dict[str, str], **params: Any) -> Any:
        r = await stack.cases.get(path, headers=headers, params=params)
        assert r.status_code == 200, (path, r.text)
        seen[SALFORD if headers is salford else TRAFFORD].append(r.text)
        return r.json()

    # Salford: the child up to the move, nothing after; its own identifiers only.
    s_case = await get(f"/v1/cases/{cid}", salford)
    assert s_case["responsible_now"] is False
    assert [(p["local_authority_code"], p["ends_at"]) for p in s_case["periods"]] == [(SALFORD, moved["moved_at"])]
    assert s_case["status"] is None and s_case["allocation"] is None and s_case["local_authority_code"] is None
    assert s_case["child"]["family_name"] == "Nguyen" and s_case["child"]["date_of_birth"] == "2010-03-04"
    assert [i["la_child_id"] for i in s_case["local_identifiers"]] == ["SAL001"]
    s_contacts = (await get(f"/v1/cases/{cid}/contacts", salford))["items"]
    assert s_contacts == [{"id": before["id"], "case_id": cid, "occurred_at": before["occurred_at"],
                           "method": "phone", "party": "child"}]  # fmt: skip
    assert [e["id"] for e in (await get(f"/v1/cases/{cid}/missing-episodes", salford))["items"]] == [first["id"]]
    s_nrm = (await get(f"/v1/cases/{cid}/nrm-decisions", salford))["items"]
    assert [d["stage"] for d in s_nrm] == ["reasonable_grounds"]
    assert [m["local_authority_code"] for m in (await get(f"/v1/cases/{cid}/moves", salford))["items"]] == [TRAFFORD]
    s_allocs = (await get(f"/v1/cases/{cid}/allocations", salford))["items"]
    assert [(a["role"], a["region"]) for a in s_allocs] == [("direct_worker", "north_west")]
    s_timeline = (await get(f"/v1/cases/{cid}/timeline", salford))["items"]
    assert [e["kind"] for e in s_timeline] == [
        "case.opened", "case.allocated", "contact.recorded", "missing.started", "missing.ended",
        "nrm_decision.recorded", "case.moved",
    ]  # fmt: skip
    assert max(e["at"] for e in s_timeline) == moved["moved_at"]
    assert [c["id"] for c in (await get("/v1/cases", salford))["items"]] == [cid]
    s_refused = await stack.cases.get(f"/v1/cases/{cid}/contacts/{after['id']}", headers=salford)
    assert s_refused.status_code == 404  # after the move: not Salford's to see

    # Trafford: from the move on; the child is its own now.
    t_case = await get(f"/v1/cases/{cid}", trafford)
    assert t_case["responsible_now"] is True and t_case["status"] == "allocated"
    # who holds the case now, but not since when: the allocation was made in Salford's period (found by the
    # door matrix: Trafford's allocations door shows no allocation, and its case door dated it)
    assert t_case["allocation"] == {"role": "direct_worker", "region": "north_west", "allocated_at": None}
    assert [i["la_child_id"] for i in t_case["local_identifiers"]] == ["TRF9"]
    assert [c["id"] for c in (await get(f"/v1/cases/{cid}/contacts", trafford))["items"]] == [after["id"]]
    assert [e["id"] for e in (await get(f"/v1/cases/{cid}/missing-episodes", trafford))["items"]] == [second["id"]]
    t_timeline = (await get(f"/v1/cases/{cid}/timeline", trafford))["items"]
    assert [e["kind"] for e in t_timeline] == [
        "case.moved", "contact.recorded", "missing.started", "missing.ended", "nrm_decision.recorded",
    ]  # fmt: skip
    assert min(e["at"] for e in t_timeline) == moved["moved_at"]
    assert [c["id"] for c in (await get("/v1/cases", trafford))["items"]] == [cid]

    # Never: notes, the referrer's details, the guardian, the other council's identifiers.
    for code, others in ((SALFORD, ("TRF9",)), (TRAFFORD, ("SAL001", "4010232137"))):
        for text in seen[code]:
            for secret in ("car wash", "j.smith", "DC Jane", "0161 000", "Sam Guardian", worker["id"], "guardian-1"):
                assert secret not in text
            assert not any(o in text for o in others)

    # The guardian sees everything, identifiers of councils aside.
    full = await stack.get(f"/v1/cases/{cid}/contacts")
    assert len(full.json()["items"]) == 2 and "car wash" in full.text


WIGAN, OLDHAM = "E08000010", "E08000004"


async def test_a_council_is_refused_what_is_not_its_own_and_every_refusal_is_audited(stack: Stack) -> None:
    case = await stack.case(local_authority_code=WIGAN)
    cid = case["id"]
    wigan, oldham = council(WIGAN, sub="wigan-system"), council(OLDHAM, sub="oldham-system")

    other = await stack.cases.get(f"/v1/cases/{cid}", headers=oldham)
    # 404, as for an id that is no case at all: a 403 told a council which ids are children (an oracle)
    unknown = await stack.cases.get(f"/v1/cases/{uuid.uuid4()}", headers=oldham)
    assert other.status_code == unknown.status_code == 404, other.text
    assert {k: v for k, v in other.json().items() if k != "instance"} == {
        k: v for k, v in unknown.json().items() if k != "instance"
    }
    assert "Nguyen" not in other.text
    for path in ("/timeline", "/contacts", "/missing-episodes", "/exit"):
        assert (await stack.cases.get(f"/v1/cases/{cid}{path}", headers=oldham)).status_code == 404
    assert (await identify(stack, cid, oldham, la_child_id="OLD1")).status_code == 404
    denied = await audit_rows(stack, actor="oldham-system", outcome="denied")
    assert {r["resource"] for r in denied} >= {f"/v1/cases/{cid}"} and len(denied) >= 6

    # la_codes it does not hold.
    foreign = await stack.cases.get("/v1/cases", params={"local_authority_code": WIGAN}, headers=oldham)
    assert foreign.status_code == 403 and WIGAN in foreign.json()["detail"]
    export = await stack.cases.get(
        "/v1/exports/ssda903/missing", params={"local_authority_code": WIGAN}, headers=oldham
    )
    assert export.status_code == 403
    assert len(await audit_rows(stack, actor="oldham-system", outcome="denied")) == len(denied) + 2

    # Break-glass: never, whatever the token's scopes.
    glass = council(WIGAN, scopes=("la:read", "cases:read", "cases:break_glass"), sub="wigan-glass")
    for headers in (glass, oldham):
        r = await stack.cases.get(
            f"/v1/cases/{cid}", headers={**headers, "X-Break-Glass-Reason": "Urgent safeguarding check tonight"}
        )
        # a council's token holding cases:* is refused as such (above its ceiling); one without, as a council
        kind = "/scope-above-ceiling" if headers is glass else "/council-refused"
        assert r.status_code == 403 and r.json()["type"].endswith(kind), r.text
    assert {r["actor"] for r in await audit_rows(stack, action="break_glass", outcome="denied")} >= {"oldham-system"}
    assert {r["actor"] for r in await audit_rows(stack, action="token.scope_above_ceiling")} >= {"wigan-glass"}

    # Writes: none but its own identifiers, even with a guardian's scopes on the token.
    writer = council(WIGAN, scopes=("la:read", "la:write", "cases:write", "cases:admin"), sub="wigan-writer")
    now = iso(clock.utcnow())
    for path, body in [
        ("contacts", {"occurred_at": now, "outcome": "made", "method": "phone", "party": "child"}),
        ("moves", {"moved_at": now, "local_authority_code": OLDHAM}),
        ("exit", {"exited_at": now, "reason": "other", "destination": "none"}),
        ("pathway", {"pathway": "regional_practitioner"}),
    ]:
        for headers in (wigan, writer):
            r = await stack.cases.post(f"/v1/cases/{cid}/{path}", json=body, headers=headers)
            assert r.status_code == 403, (path, r.text)
    assert (await stack.get(f"/v1/cases/{cid}/contacts")).json()["items"] == []
    assert len(await audit_rows(stack, actor="wigan-writer", outcome="denied")) == 4
    assert (await identify(stack, cid, wigan, la_child_id="WIG77")).status_code == 200

    # What councils are never shown, and what other tokens cannot reach through the council routes.
    assert (await stack.cases.get(f"/v1/cases/{cid}/assessments", headers=wigan)).status_code == 403
    assert (await stack.cases.get(f"/v1/cases/{cid}/advocacy", headers=wigan)).status_code == 403
    police = auth("la:read", "la:write", sub="police-la")
    assert (await stack.cases.get(f"/v1/cases/{cid}", headers=police)).status_code == 403
    assert (await identify(stack, cid, police, la_child_id="P1")).status_code == 403
    read_only = council(WIGAN, scopes=("la:read",))
    assert (await identify(stack, cid, read_only, la_child_id="WIG78")).status_code == 403
    unfiltered = await stack.cases.get("/v1/cases", params={"region": "north_west"}, headers=wigan)
    assert unfiltered.status_code == 422 and unfiltered.json()["errors"][0]["pointer"] == "#query/region"


TAMESIDE = "E08000008"


async def test_bad_identifiers_are_422_with_pointers_and_change_nothing(stack: Stack) -> None:
    case = await stack.case(local_authority_code=TAMESIDE)
    tameside = council(TAMESIDE)
    good = {"la_child_id": "TAM001", "upn": "B801200005001", "nhs_number": "6105979851"}
    for bad, pointer in [
        ({"upn": "A801200005001"}, "/upn"),  # wrong check letter
        ({"upn": "B80120000500"}, "/upn"),  # 12 characters
        ({"upn": "B8012000O5001"}, "/upn"),  # a letter among the digits
        ({"upn": "b801200005001"}, "/upn"),
        ({"nhs_number": "6105979852"}, "/nhs_number"),  # wrong check digit
        ({"nhs_number": "610597985"}, "/nhs_number"),  # 9 digits
        ({"nhs_number": "610 597 9851"}, "/nhs_number"),
        ({"nhs_number": "61059798AB"}, "/nhs_number"),
        ({"la_child_id": "TOO-LONG-ID-1"}, "/la_child_id"),
        ({"la_child_id": ""}, "/la_child_id"),
        ({"local_authority_code": "E08000003"}, "/local_authority_code"),  # not an authority it answered as
        ({"colour": "blue"}, "/colour"),
    ]:
        r = await identify(stack, case["id"], tameside, **{**good, **bad})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (bad, r.text)
        assert [e["pointer"] for e in r.json()["errors"]] == [pointer], (bad, r.text)
        assert not r.json()["errors"][0]["detail"].startswith("Value error"), r.text
    shown = (await stack.cases.get(f"/v1/cases/{case['id']}", headers=tameside)).json()
    assert shown["local_identifiers"] == []
    r = await identify(stack, case["id"], tameside, **good)
    assert r.status_code == 200 and r.json()["upn"] == "B801200005001"
    again = await identify(stack, case["id"], tameside, la_child_id="TAM002")  # a PUT replaces
    assert again.status_code == 200 and again.json()["upn"] is None
    shown = (await stack.cases.get(f"/v1/cases/{case['id']}", headers=tameside)).json()
    assert [(i["la_child_id"], i["upn"]) for i in shown["local_identifiers"]] == [("TAM002", None)]

    # A council finds its child by its own id; no one else can search by it.
    found = await stack.cases.get("/v1/cases", params={"la_child_id": "TAM002"}, headers=tameside)
    assert [c["id"] for c in found.json()["items"]] == [case["id"]]
    feed = await stack.cases.get("/v1/cases", params={"la_child_id": "TAM002", "changed_since": "2026-01-01T00:00:00Z"},
                                 headers=tameside)  # fmt: skip
    assert [c["id"] for c in feed.json()["items"]] == [case["id"]]
    assert (await stack.cases.get("/v1/cases", params={"la_child_id": "TAM001"}, headers=tameside)).json()[
        "items"
    ] == []
    other = council("E08000010")
    assert (await stack.cases.get("/v1/cases", params={"la_child_id": "TAM002"}, headers=other)).json()["items"] == []
    staff = await stack.get("/v1/cases", la_child_id="TAM002")
    assert staff.status_code == 422 and staff.json()["errors"][0]["pointer"] == "#query/la_child_id"


STOCKPORT = "E08000007"


async def test_the_change_feed_gives_every_change_once_across_pages_while_writes_go_on(stack: Stack) -> None:
    """Councils and guardians both poll while contacts, new cases and a slow transaction commit; each
    reader sees each case at strictly newer changes only, and ends at every case's last change."""
    since = iso(clock.utcnow() - timedelta(seconds=1))
    cases = [await stack.case(local_authority_code=STOCKPORT) for _ in range(4)]
    slow_case = cases.pop()
    stockport = council(STOCKPORT)
    writing = 2  # writers still at work

    async def writer() -> None:
        nonlocal writing
        for i in range(12):
            if i % 4 == 3:
                cases.append(await stack.case(local_authority_code=STOCKPORT))
            else:
                await contact(stack, cases[i % len(cases)]["id"], clock.utcnow())
            await asyncio.sleep(0.02)
        writing -= 1

    async def slow_transaction() -> None:
        # A write that takes its time to commit while others commit after it started: a feed that
        # moved past their places meanwhile would never list this one.
        nonlocal writing
        conn = await asyncpg.connect(plain_url(stack.settings["database_url"]))
        try:
            async with conn.transaction():
                await conn.execute("UPDATE cases.case SET version = version + 1 WHERE id = $1", UUID(slow_case["id"]))
                await asyncio.sleep(1.0)
        finally:
            await conn.close()
            writing -= 1

    async def reader(headers: dict[str, str], key: str) -> list[tuple[str, Any]]:
        seen: list[tuple[str, Any]] = []
        params: dict[str, Any] = {"changed_since": since, "limit": 2, "local_authority_code": STOCKPORT}
        quiet = 0
        while quiet < 20:  # after the writes, a second of polls with nothing new (a short transaction elsewhere
            # holds the feed back meanwhile: on a loaded machine, longer than a few polls)
            r = await stack.cases.get("/v1/cases", params=params, headers=headers)
            assert r.status_code == 200, r.text
            page = r.json()
            seen += [(c["id"], c[key]) for c in page["items"]]
            cursor = page["next_cursor"] or page["poll_cursor"]
            params = {"cursor": cursor, "limit": 2} if cursor else params
            if page["next_cursor"] is None:
                quiet = 0 if writing or page["items"] else quiet + 1
                await asyncio.sleep(0.05)
        return seen

    by_council, by_guardian, *_ = await asyncio.gather(
        reader(stockport, "changed_at"), reader(stack_read(), "version"), writer(), slow_transaction()
    )
    for seen, key, headers in ((by_council, "changed_at", stockport), (by_guardian, "version", stack_read())):
        assert len(seen) == len(set(seen)), "a change was given twice"
        last: dict[str, Any] = {}
        for case_id, mark in seen:
            assert case_id not in last or mark > last[case_id], f"{case_id} went back to an older change"
            last[case_id] = mark
        finals = {}
        for c in [*cases, slow_case]:
            finals[c["id"]] = (await stack.cases.get(f"/v1/cases/{c['id']}", headers=headers)).json()[key]
        assert last == finals, "the feed ended before some case's last change"
    assert len(by_guardian) >= len(cases) + 1

    # A cursor is the feed's own or nothing: forged ones are 422, never a 500.
    for forged in ("not-a-cursor", base64.urlsafe_b64encode(b"p99999999999999999999|" + slow_case["id"].encode()).decode(),
                   base64.urlsafe_b64encode(b"p12|not-a-uuid").decode()):  # fmt: skip
        for headers in (stockport, stack_read()):
            r = await stack.cases.get("/v1/cases", params={"cursor": forged}, headers=headers)
            assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#query/cursor", r.text
    naive = await stack.cases.get("/v1/cases", params={"changed_since": "2026-01-01T00:00:00"}, headers=stockport)
    assert naive.status_code == 422 and naive.json()["errors"][0]["pointer"] == "#query/changed_since"
    # A day is from midnight in London, as a council's integrator writes it.
    today = datetime.now(ZoneInfo("Europe/London")).date()
    for day, expected in ((today, {c["id"] for c in [*cases, slow_case]}), (today + timedelta(days=1), set())):
        r = await stack.cases.get(
            "/v1/cases", params={"changed_since": day.isoformat(), "limit": 200}, headers=stockport
        )
        assert r.status_code == 200, r.text
        assert {c["id"] for c in r.json()["items"]} == expected
    for wrong in ("2026-02-30", "1 July"):
        r = await stack.cases.get("/v1/cases", params={"changed_since": wrong}, headers=stockport)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#query/changed_since", (wrong, r.text)


def stack_read() -> dict[str, str]:
    return auth("cases:read", regions=["north_west"], sub="feed-reader")


ROCHDALE, BURY = "E08000005", "E08000002"


async def test_the_ssda903_missing_export_passes_the_dfe_rules_row_by_row(stack: Stack) -> None:
    today = clock.london_date(clock.utcnow())
    # Last complete collection year (1 April to 31 March), so every date is in the past.
    year_end = collection_year_start(today)
    year_start = year_end.replace(year=year_end.year - 1)
    base = datetime(year_start.year, 5, 1, 10, 0, tzinfo=UTC)
    rochdale, bury = council(ROCHDALE), council(BURY)

    def day(n: int, hour: int = 10) -> datetime:
        return base + timedelta(days=n, hours=hour - 10)

    a = await stack.case(received_at=day(0), local_authority_code=ROCHDALE)
    await episode(stack, a["id"], day(3), day(5))
    await episode(stack, a["id"], day(40), day(41, 8), known=True)
    await episode(stack, a["id"], day(90), known=True)  # still open
    b = await stack.case(received_at=day(10), local_authority_code=ROCHDALE, missing_at_referral=True,
                         child__date_of_birth="2011-07-30", child__family_name="Hoxha", child__nationality="AL")  # fmt: skip
    [at_referral] = (await stack.get(f"/v1/cases/{b['id']}/missing-episodes")).json()["items"]
    await write(stack, f"/v1/cases/{b['id']}/missing-episodes/{at_referral['id']}/return",
                {"ended_at": iso(day(12)), "return_interview_offered": False})  # fmt: skip
    c = await stack.case(received_at=day(20), local_authority_code=ROCHDALE)  # never identified
    await episode(stack, c["id"], day(21), day(22))
    await episode(stack, c["id"], day(30), day(31))
    d = await stack.case(received_at=day(20), local_authority_code=ROCHDALE, child__date_of_birth=None,
                         child__estimated_age=15)  # fmt: skip
    await episode(stack, d["id"], day(25), day(26))
    e = await stack.case(received_at=day(50), local_authority_code=ROCHDALE)  # moves to Bury while missing
    await episode(stack, e["id"], day(60), known=False)
    await move(stack, e["id"], day(61), BURY)
    [e_episode] = (await stack.get(f"/v1/cases/{e['id']}/missing-episodes")).json()["items"]
    await write(stack, f"/v1/cases/{e['id']}/missing-episodes/{e_episode['id']}/return",
                {"ended_at": iso(day(63)), "return_interview_offered": True})  # fmt: skip
    for case, child_id, headers in ((a, "ROC1", rochdale), (b, "ROC2", rochdale), (d, "ROC4", rochdale),
                                    (e, "ROC5", rochdale), (e, "BURY5", bury)):  # fmt: skip
        assert (await identify(stack, case["id"], headers, la_child_id=child_id, looked_after=True)).status_code == 200

    params = {"from": year_start.isoformat(), "to": (year_end - timedelta(days=1)).isoformat()}
    r = await stack.cases.get("/v1/exports/ssda903/missing", params=params, headers=rochdale)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert f"ssda903-missing-{ROCHDALE}-{params['from']}-{params['to']}.csv" in r.headers["content-disposition"]
    assert r.headers["x-unidentified-episodes"] == "3"  # c's two, d's one
    rows = list(csv.reader(io.StringIO(r.text)))

    def dmy(n: int) -> str:
        return day(n).astimezone(clock.LONDON).strftime("%d/%m/%Y")

    assert rows == [
        ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"],
        ["ROC1", "04/03/2010", "M", dmy(3), dmy(5)],
        ["ROC2", "30/07/2011", "M", dmy(10), dmy(12)],
        ["ROC1", "04/03/2010", "A", dmy(40), dmy(41)],
        ["ROC5", "04/03/2010", "M", dmy(60), ""],  # returned after the child moved to Bury: Bury's to report
        ["ROC1", "04/03/2010", "A", dmy(90), ""],
    ]
    assert missing_table_errors(r.text, collection_year=str(year_end.year)) == []

    bury_rows = list(csv.reader(io.StringIO((await stack.cases.get(
        "/v1/exports/ssda903/missing", params=params, headers=bury)).text)))  # fmt: skip
    assert bury_rows[1:] == [["BURY5", "04/03/2010", "M", dmy(60), dmy(63)]]

    unidentified = await stack.cases.get("/v1/exports/ssda903/missing/unidentified", params=params, headers=rochdale)
    assert unidentified.status_code == 200, unidentified.text
    assert sorted((u["case_id"], u["reason"], u["episodes"]) for u in unidentified.json()["items"]) == sorted(
        [(c["id"], "no_la_child_id", 2), (d["id"], "no_date_of_birth", 1)]
    )

    # A narrower window keeps only the episodes that overlap it; an open one has no end.
    narrow = {"from": dmy_iso(day(41)), "to": dmy_iso(day(60))}
    rows = list(csv.reader(io.StringIO((await stack.cases.get(
        "/v1/exports/ssda903/missing", params=narrow, headers=rochdale)).text)))  # fmt: skip
    assert [row[3] for row in rows[1:]] == [dmy(40), dmy(60)]
    backwards = await stack.cases.get(
        "/v1/exports/ssda903/missing", params={"from": params["to"], "to": params["from"]}, headers=rochdale
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["pointer"] == "#query/to"


def dmy_iso(at: datetime) -> str:
    return at.astimezone(clock.LONDON).date().isoformat()


KNOWSLEY, ST_HELENS = "E08000011", "E08000013"


async def test_after_the_move_the_old_council_learns_nothing_new_but_its_own_records(stack: Stack) -> None:
    t0 = clock.utcnow().replace(microsecond=0) - timedelta(days=10)
    case = await stack.case(received_at=t0, local_authority_code=KNOWSLEY)
    cid = case["id"]
    knowsley, st_helens = council(KNOWSLEY, sub="knowsley-system"), council(ST_HELENS)
    worker, other = await stack.worker(name="First Guardian"), await stack.worker(name="Second Guardian")
    await write(
        stack, f"/v1/cases/{cid}/allocations", {"worker_id": worker["id"], "allocated_at": iso(t0 + timedelta(hours=1))}
    )
    await move(stack, cid, t0 + timedelta(days=2), ST_HELENS)
    await write(
        stack, f"/v1/cases/{cid}/allocations", {"worker_id": other["id"], "allocated_at": iso(t0 + timedelta(days=3))}
    )

    # Knowsley polls the feed up to now, then a guardian files a contact dated inside Knowsley's period.
    first = (await stack.cases.get("/v1/cases", params={"changed_since": iso(t0)}, headers=knowsley)).json()
    assert [c["id"] for c in first["items"]] == [cid]
    late = await contact(stack, cid, t0 + timedelta(days=1))
    await write(stack, f"/v1/cases/{cid}/exit", {"exited_at": iso(t0 + timedelta(days=4)), "reason": "other",
                                                 "destination": "none"})  # fmt: skip
    again = (await stack.cases.get("/v1/cases", params={"cursor": first["poll_cursor"]}, headers=knowsley)).json()
    assert [c["id"] for c in again["items"]] == [cid], "a record back-dated into its period is a change for it"
    assert [
        c["id"] for c in (await stack.cases.get(f"/v1/cases/{cid}/contacts", headers=knowsley)).json()["items"]
    ] == [late["id"]]

    # Nothing after the move: not the status (not even through a filter), the reallocation, the version.
    r = await stack.cases.get(f"/v1/cases/{cid}", headers=knowsley)
    assert r.json()["status"] is None and r.json()["exited_at"] is None and "etag" not in r.headers
    for status in ("exited", "allocated", "awaiting_allocation"):
        listed = (await stack.cases.get("/v1/cases", params={"status": status}, headers=knowsley)).json()["items"]
        assert listed == [], status
    assert [
        c["id"]
        for c in (await stack.cases.get("/v1/cases", params={"status": "exited"}, headers=st_helens)).json()["items"]
    ] == [cid]
    allocations = (await stack.cases.get(f"/v1/cases/{cid}/allocations", headers=knowsley)).json()["items"]
    assert [(a["allocated_at"], a["ended_at"]) for a in allocations] == [
        (iso(t0 + timedelta(hours=1)).replace("+00:00", "Z"), None)
    ]
    assert (await stack.cases.get(f"/v1/cases/{cid}/exit", headers=knowsley)).status_code == 404
    assert (await stack.cases.get(f"/v1/cases/{cid}/exit", headers=st_helens)).status_code == 200

    # The service's own routes are never a council's, whatever its token's scopes; each refusal audited.
    staff = council(KNOWSLEY, scopes=("la:read", "cases:read", "cases:admin", "audit:read"), sub="knowsley-staff")
    for path in ("/v1/workers", "/v1/audit", "/v1/admin/case-counts", "/v1/admin/reconcile"):
        r = await stack.cases.get(path, headers=staff)
        assert r.status_code == 403 and r.json()["type"].endswith("/scope-above-ceiling"), (path, r.text)
        assert "cases:admin" in r.json()["detail"]
    assert (await stack.cases.get(f"/v1/cases/{cid}/assessments", headers=knowsley)).status_code == 403
    refused = await audit_rows(stack, outcome="denied")
    assert sum(r["actor"] == "knowsley-staff" for r in refused) == 4
    assert any(r["actor"] == "knowsley-system" and r["resource"].endswith("/assessments") for r in refused)

    # Out-of-range times and dates are 422, never a 500.
    for params in ({"changed_since": "0001-01-01T00:00:00+01:00"}, {"changed_since": "9999-12-31T23:59:59-01:00"}):
        r = await stack.cases.get("/v1/cases", params=params, headers=knowsley)
        assert r.status_code == 422, r.text
        assert (await stack.get("/v1/cases", **cast(dict[str, Any], params))).status_code == 422
    for params in ({"from": "2020-01-01", "to": "9999-12-31"}, {"from": "0001-01-01"}):
        for path in ("/v1/exports/ssda903/missing", "/v1/exports/ssda903/missing/unidentified"):
            assert (await stack.cases.get(path, params=params, headers=knowsley)).status_code == 422
    mixed = await stack.cases.get("/v1/cases", params={"changed_since": iso(t0), "cursor": cid}, headers=knowsley)
    assert mixed.status_code == 422


HALTON, WARRINGTON = "E06000006", "E06000007"


async def test_an_episode_across_a_move_away_and_back_ends_in_the_export_of_the_council_it_ended_with(
    stack: Stack,
) -> None:
    today = clock.london_date(clock.utcnow())
    year_end = collection_year_start(today)
    base = datetime(year_end.year - 1, 6, 1, 10, 0, tzinfo=UTC)
    halton = council(HALTON)
    case = await stack.case(received_at=base, local_authority_code=HALTON)
    await episode(stack, case["id"], base + timedelta(days=1))
    await move(stack, case["id"], base + timedelta(days=2), WARRINGTON)
    await move(stack, case["id"], base + timedelta(days=3), HALTON)
    [ep] = (await stack.get(f"/v1/cases/{case['id']}/missing-episodes")).json()["items"]
    await write(stack, f"/v1/cases/{case['id']}/missing-episodes/{ep['id']}/return",
                {"ended_at": iso(base + timedelta(days=4)), "return_interview_offered": True})  # fmt: skip
    assert (await identify(stack, case["id"], halton, la_child_id="HAL1", looked_after=True)).status_code == 200
    params = {
        "from": year_end.replace(year=year_end.year - 1).isoformat(),
        "to": (year_end - timedelta(days=1)).isoformat(),
    }
    r = await stack.cases.get("/v1/exports/ssda903/missing", params=params, headers=halton)
    rows = list(csv.reader(io.StringIO(r.text)))
    london = [(base + timedelta(days=n)).astimezone(clock.LONDON).strftime("%d/%m/%Y") for n in (1, 4)]
    assert rows[1:] == [["HAL1", "04/03/2010", "M", *london]]  # once, and its return is Halton's again
    assert missing_table_errors(r.text, collection_year=str(year_end.year)) == []


async def test_a_return_after_the_move_is_news_to_the_new_council_only(stack: Stack) -> None:
    """Found by a council: its `changed_at` and feed moved when a missing child's return was recorded after
    the child had moved on, though its view hides that return (outside its periods)."""
    t0 = clock.utcnow().replace(microsecond=0) - timedelta(days=10)
    case = await stack.case(received_at=t0, local_authority_code=KNOWSLEY)
    cid = case["id"]
    knowsley, st_helens = council(KNOWSLEY, sub="knowsley-feed"), council(ST_HELENS, sub="st-helens-feed")
    started = await write(stack, f"/v1/cases/{cid}/missing-episodes", {
        "started_at": iso(t0 + timedelta(days=1)), "whereabouts_known": False, "reported_to_police": True,
        "missing_from_care_meeting": False, "professional_network_meeting": False})  # fmt: skip
    await move(stack, cid, t0 + timedelta(days=2), ST_HELENS)
    before = {}
    for name, headers in (("knowsley", knowsley), ("st_helens", st_helens)):
        polled = (await stack.cases.get("/v1/cases", params={"changed_since": iso(t0)}, headers=headers)).json()
        assert [c["id"] for c in polled["items"]] == [cid], name
        before[name] = (polled["poll_cursor"], polled["items"][0]["changed_at"])

    await write(stack, f"/v1/cases/{cid}/missing-episodes/{started['id']}/return",
                {"ended_at": iso(t0 + timedelta(days=3)), "return_interview_offered": True})  # fmt: skip

    old = (await stack.cases.get("/v1/cases", params={"cursor": before["knowsley"][0]}, headers=knowsley)).json()
    assert old["items"] == [], "nothing Knowsley may see changed"
    assert (await stack.cases.get(f"/v1/cases/{cid}", headers=knowsley)).json()["changed_at"] == before["knowsley"][1]
    [seen] = (await stack.cases.get(f"/v1/cases/{cid}/missing-episodes", headers=knowsley)).json()["items"]
    assert seen["ended_at"] is None  # the return fell in St Helens' period
    new = (await stack.cases.get("/v1/cases", params={"cursor": before["st_helens"][0]}, headers=st_helens)).json()
    assert [c["id"] for c in new["items"]] == [cid]
    assert new["items"][0]["changed_at"] != before["st_helens"][1]


async def test_one_childs_identifiers_are_not_filed_for_another(stack: Stack) -> None:
    """Found by a council: the same `la_child_id` and the same NHS number were accepted on two children."""
    first = (await stack.case(local_authority_code=WIGAN))["id"]
    second = (await stack.case(local_authority_code=WIGAN))["id"]
    elsewhere = (await stack.case(local_authority_code=OLDHAM))["id"]
    wigan, oldham = council(WIGAN, sub="wigan-ids"), council(OLDHAM, sub="oldham-ids")
    assert (await identify(stack, first, wigan, la_child_id="WIG1", nhs_number="4010232137")).status_code == 200
    assert (await identify(stack, first, wigan, la_child_id="WIG1", nhs_number="4010232137")).status_code == 200

    same_id = await identify(stack, second, wigan, la_child_id="wig1")
    assert same_id.status_code == 409 and same_id.json()["errors"][0]["pointer"] == "/la_child_id", same_id.text
    assert first in same_id.json()["detail"]  # its own child: named
    same_nhs = await identify(stack, second, wigan, la_child_id="WIG3", nhs_number="4010232137")
    assert same_nhs.status_code == 409 and same_nhs.json()["errors"][0]["pointer"] == "/nhs_number"
    assert same_nhs.json()["other_case_id"] == first  # its own child: named
    assert (await stack.cases.get(f"/v1/cases/{second}", headers=wigan)).json()["local_identifiers"] == []
    # Oldham's child with Wigan's child's NHS number: not refused (that would tell Oldham the child is known to
    # the service), filed for the ICTG service to review; never naming Wigan's case.
    elsewhere_nhs = await identify(stack, elsewhere, oldham, la_child_id="OLD1", nhs_number="4010232137")
    assert elsewhere_nhs.status_code == 200 and first not in elsewhere_nhs.text
    # Another id for the second child, and Oldham's own NHS number, are fine.
    assert (await identify(stack, second, wigan, la_child_id="WIG2")).status_code == 200
    assert (await identify(stack, elsewhere, oldham, la_child_id="WIG1", nhs_number="6105979851")).status_code == 200


async def test_after_a_move_to_another_region_a_council_is_told_where_the_guardians_team_still_is(
    stack: Stack,
) -> None:
    """Found trying the API as Leeds: a child allocated in the North West and moved to Leeds was shown with a
    guardian's team in Yorkshire, which it does not have until the case is allocated there."""
    calderdale = "E08000033"  # this test's alone
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=5))  # Manchester, North West
    worker = await stack.worker()
    allocated = {"worker_id": worker["id"], "allocated_at": iso(clock.utcnow() - timedelta(days=3))}
    assert (await stack.post(f"/v1/cases/{case['id']}/allocations", allocated)).status_code == 201
    moved = {"moved_at": iso(clock.utcnow() - timedelta(days=1)), "local_authority_code": calderdale}
    assert (await stack.post(f"/v1/cases/{case['id']}/moves", moved, headers=ADMIN)).status_code == 201
    seen = (await stack.cases.get(f"/v1/cases/{case['id']}", headers=council(calderdale))).json()
    assert seen["allocation"] == {"role": "direct_worker", "region": "north_west", "allocated_at": None}
