"""GET /v1/cases filters and cursor pagination; concurrent writers; no input gives a 500."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from ictg_common import clock
from tests.support.cases_harness import ADMIN, READ, WRITE, Stack, stack_fixture  # noqa: F401
from tests.support.platform import auth


async def test_filters_and_cursor_pagination(stack: Stack) -> None:
    cases = [await stack.case(child__given_name=f"Child{i}") for i in range(5)]
    london = await stack.case(local_authority_code="E09000033", child__given_name="Lon")
    worker = await stack.worker()
    await stack.post(f"/v1/cases/{cases[0]['id']}/allocations", {"worker_id": worker["id"]})
    await stack.post(f"/v1/cases/{cases[1]['id']}/allocations", {"worker_id": worker["id"]})

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await stack.get("/v1/cases", **params)).json()
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in cases]  # READ sees north_west only, in order, each once

    both = auth("cases:read", regions=["north_west", "london"])
    assert len((await stack.cases.get("/v1/cases", headers=both)).json()["items"]) == 6
    only_london = (await stack.cases.get("/v1/cases", params={"region": "london"}, headers=both)).json()["items"]
    assert [c["id"] for c in only_london] == [london["id"]]
    allocated = (await stack.get("/v1/cases", status="allocated")).json()["items"]
    assert [c["id"] for c in allocated] == [cases[0]["id"], cases[1]["id"]]
    awaiting = (await stack.get("/v1/cases", status=["awaiting_allocation", "exited"])).json()["items"]
    assert len(awaiting) == 3
    by_worker = (await stack.get("/v1/cases", worker_id=worker["id"])).json()["items"]
    assert {c["id"] for c in by_worker} == {cases[0]["id"], cases[1]["id"]}
    assert (await stack.get("/v1/cases", referral_id=cases[3]["referral_id"])).json()["items"][0]["id"] == cases[3][
        "id"
    ]


async def test_bad_queries_are_problems_never_500(stack: Stack) -> None:
    case = await stack.case()
    bad_queries: list[dict[str, Any]] = [{"status": "open"}, {"limit": 0}, {"limit": 501}, {"cursor": "zzz"},
                                         {"worker_id": "x"}, {"sla": "late"}, {"referral_id": "1"}]  # fmt: skip
    for params in bad_queries:
        r = await stack.cases.get("/v1/cases", params=params, headers=READ)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", params
    for path in ["/v1/cases/abc", "/v1/cases/abc/timeline", f"/v1/cases/{case['id']}/contacts/abc", "/v1/workers/abc"]:
        r = await stack.cases.get(path, headers=ADMIN)
        assert r.status_code == 422, path
    assert (await stack.cases.get(f"/v1/cases/{case['id']}/contacts/{case['id']}", headers=READ)).status_code == 404
    assert (await stack.cases.get(f"/v1/workers/{case['id']}", headers=ADMIN)).status_code == 404
    text = await stack.cases.post(
        f"/v1/cases/{case['id']}/contacts", content=b"hello", headers={**WRITE, "content-type": "text/plain"}
    )
    assert text.status_code == 415
    huge = await stack.post(f"/v1/cases/{case['id']}/contacts", {"occurred_at": clock.utcnow().isoformat(), "outcome": "made",
                            "method": "phone", "party": "child", "notes": "x" * 70_000})  # fmt: skip
    assert huge.status_code == 413
    long_notes = await stack.post(f"/v1/cases/{case['id']}/contacts", {"occurred_at": clock.utcnow().isoformat(),
                                  "outcome": "made", "method": "phone", "party": "child", "notes": "x" * 4001})  # fmt: skip
    assert long_notes.status_code == 422
    arr = await stack.post(f"/v1/cases/{case['id']}/contacts", [1, 2])  # type: ignore[arg-type]
    assert arr.status_code == 422
    year0 = await stack.post(f"/v1/cases/{case['id']}/contacts", {"occurred_at": "0001-01-01T00:00:00+14:00", "outcome": "made",
                             "method": "phone", "party": "child"})  # fmt: skip
    assert year0.status_code == 422
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["version"] == 1


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


async def test_openapi_documents_every_operation(stack: Stack) -> None:
    doc = (await stack.cases.get("/openapi.json")).json()
    paths = doc["paths"]
    for path in ["/v1/workers", "/v1/cases/{case_id}/allocations", "/v1/cases/{case_id}/contacts",
                 "/v1/cases/{case_id}/missing-episodes", "/v1/cases/{case_id}/missing-episodes/{episode_id}/return",
                 "/v1/cases/{case_id}/assessments", "/v1/cases/{case_id}/nrm-decisions", "/v1/cases/{case_id}/advocacy",
                 "/v1/cases/{case_id}/moves", "/v1/cases/{case_id}/pathway", "/v1/cases/{case_id}/exit",
                 "/v1/cases/{case_id}/timeline", "/v1/audit"]:  # fmt: skip
        assert path in paths, path
    contact = paths["/v1/cases/{case_id}/contacts"]["post"]
    assert {"201", "403", "404", "409", "412", "422"} <= set(contact["responses"])
    assert {"If-Match", "X-Break-Glass-Reason"} <= {p["name"] for p in contact["parameters"]}
    assert "Problem" in doc["components"]["schemas"]


async def test_nul_and_unknown_codes_in_text_are_refused_not_500(stack: Stack) -> None:
    case = await stack.case()
    body = {
        "occurred_at": clock.utcnow().isoformat(),
        "outcome": "made",
        "method": "phone",
        "party": "child",
        "notes": "a\u0000b",
    }
    assert (await stack.post(f"/v1/cases/{case['id']}/contacts", body)).status_code == 422
    worker = {"name": "Sam\u0000", "role": "manager", "region": "london", "capacity": 1}
    assert (await stack.cases.post("/v1/workers", json=worker, headers=ADMIN)).status_code == 422
    assert (await stack.get("/v1/cases", region="north\u0000west")).status_code == 422
    auditor = auth("audit:read")
    assert (await stack.cases.get("/v1/audit", params={"actor": "x\u0000"}, headers=auditor)).status_code == 422
    assert (
        await stack.cases.get("/v1/audit", params={"resource": "/v1/cases/\u0000"}, headers=auditor)
    ).status_code == 422


async def test_unknown_query_parameters_are_refused_on_every_read(stack: Stack) -> None:
    case = await stack.case()
    audit = auth("audit:read")
    reads: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("/v1/cases", {"local_authority": "E08000003"}, READ),  # a near miss once silently ignored
        ("/v1/cases", {"limit": 5, "stauts": "allocated"}, READ),  # a typo beside a known parameter
        ("/v1/workers", {"regoin": "london"}, ADMIN),
        (f"/v1/cases/{case['id']}/contacts", {"party": "child"}, READ),
        (f"/v1/cases/{case['id']}", {"expand": "all"}, READ),
        ("/v1/audit", {"who": "x"}, audit),
    ]
    for path, params, headers in reads:
        r = await stack.cases.get(path, params=params, headers=headers)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (path, r.text)
        unknown = next(k for k in params if k != "limit")
        assert [e["pointer"] for e in r.json()["errors"]] == [f"#query/{unknown}"], r.text
    r = await stack.cases.get("/v1/cases", params={"region": "x", "changed_after": "2026-01-01"}, headers=READ)
    problem = r.json()
    assert "'changed_after'" in problem["detail"] and "it accepts " in problem["detail"]
    accepted = set(problem["detail"].split("it accepts ")[1][:-1].split(", "))
    assert {"cursor", "limit", "region", "status", "local_authority_code", "changed_since"} <= accepted
    assert (await stack.get("/v1/cases", limit=5)).status_code == 200  # declared parameters still pass
