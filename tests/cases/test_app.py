"""The case API as a whole (`ictg_cases.app`): bodies refused before any handler runs (GuardMiddleware), the
OpenAPI document, and inputs no route turns into a 500 or ignores."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from ictg_common import clock
from tests.support.cases_harness import ADMIN, READ, WRITE, Stack, stack_fixture  # noqa: F401
from tests.support.platform import auth


async def test_a_write_with_a_repeated_key_is_400_and_records_nothing(stack: Stack) -> None:
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=2))
    path = f"/v1/cases/{case['id']}/contacts"
    contact = {"occurred_at": clock.utcnow().isoformat(), "outcome": "attempted", "method": "phone", "party": "child"}
    # Which outcome was it? A first-wins reader and a last-wins reader would disagree.
    body = json.dumps(contact).replace('"method"', '"outcome": "made", "method"').encode()
    r = await stack.cases.post(path, content=body, headers={**WRITE, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/duplicate-key") and problem["instance"] == path
    assert problem["errors"] == [{"pointer": "", "detail": 'duplicate key "outcome"', "code": "duplicate_key"}]
    assert (await stack.get(path)).json()["items"] == []
    assert (await stack.get(f"/v1/cases/{case['id']}")).headers["etag"] == '"1"'


async def test_a_write_with_text_postgres_cannot_store_is_422_and_records_nothing(stack: Stack) -> None:
    """NUL and a lone surrogate (valid JSON escapes both) are refused as intake refuses them, not a 500."""
    case = await stack.case(received_at=clock.utcnow() - timedelta(days=2))
    path = f"/v1/cases/{case['id']}/contacts"
    contact = {"occurred_at": clock.utcnow().isoformat(), "outcome": "made", "method": "phone", "party": "child"}
    for notes in ("a\\u0000b", "a\\ud800b"):
        body = json.dumps(contact)[:-1] + f', "notes": "{notes}"}}'
        r = await stack.cases.post(path, content=body.encode(), headers={**WRITE, "Content-Type": "application/json"})
        assert r.status_code == 422, (notes, r.text)
        assert [e["pointer"] for e in r.json()["errors"]] == ["/notes"]
    assert (await stack.get(path)).json()["items"] == []
    assert (await stack.get(f"/v1/cases/{case['id']}")).headers["etag"] == '"1"'


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
