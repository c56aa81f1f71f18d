"""Bodies the case API refuses before any handler runs (GuardMiddleware): a repeated JSON key."""

from __future__ import annotations

import json
from datetime import timedelta

from cases_harness import WRITE, Stack, stack_fixture  # noqa: F401

from ictg_common import clock


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
