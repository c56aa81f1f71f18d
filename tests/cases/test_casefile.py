"""The case as it is read (`ictg_cases.casefile`): `GET /v1/cases` filters and cursor pagination, bad queries."""

from __future__ import annotations

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
    arr = await stack.post(f"/v1/cases/{case['id']}/contacts", [1, 2])  # type: ignore[arg-type]  # a JSON array, on purpose
    assert arr.status_code == 422
    year0 = await stack.post(f"/v1/cases/{case['id']}/contacts", {"occurred_at": "0001-01-01T00:00:00+14:00", "outcome": "made",
                             "method": "phone", "party": "child"})  # fmt: skip
    assert year0.status_code == 422
    assert (await stack.get(f"/v1/cases/{case['id']}")).json()["version"] == 1
