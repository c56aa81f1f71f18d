"""Bodies the case API refuses before any handler runs (GuardMiddleware): a repeated JSON key."""

from __future__ import annotations

import json
from datetime import timedelta

from ictg_common import clock
from tests.support.cases_harness import WRITE, Stack, stack_fixture  # noqa: F401


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
