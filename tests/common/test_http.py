"""GuardMiddleware: which client request ids are kept, and JSON bodies with a repeated key."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ictg_common.http import duplicate_key
from tests.support.factories import referral_body
from tests.support.platform import auth


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (b'{"a": 1, "b": 2}', None),
        (b'{"a": 1, "a": 2}', ("a", "")),
        (b'{"child": {"gender": "male", "gender": "female"}}', ("gender", "/child")),
        (b'{"items": [{"x": 1}, {"x": 1, "y": 2, "x": 3}]}', ("x", "/items/1")),
        (b'{"a/b": {"~": {"k": 1, "k": 1}}}', ("k", "/a~1b/~0")),
        (b'{"a": {"k": 1}, "b": {"k": 2}}', None),  # the same key in two objects is fine
        (b'{"identified_on": ', None),  # malformed: left to the app's own 400
        (b"[" * 100_000 + b"]" * 100_000, None),  # too deep to parse: left to the app, no crash here
    ],
)
def test_duplicate_key_names_the_key_and_the_object_holding_it(body: bytes, found: Any) -> None:
    assert duplicate_key(body) == found


async def test_a_safe_request_id_is_kept_and_any_other_replaced(intake: httpx.AsyncClient, stored: Any) -> None:
    ok = await intake.get("/healthz", headers={"X-Request-Id": "lb-7f3a:2024.11_01-x"})
    assert ok.headers["x-request-id"] == "lb-7f3a:2024.11_01-x"
    for bad in ("id with spaces", "\x1b[31mred\x1b[0m", "a" * 101, "<script>", "id\tx", "café"):
        answered = (await intake.get("/healthz", headers={"X-Request-Id": bad.encode("utf-8")})).headers  # type: ignore[arg-type]  # raw bytes on purpose
        assert uuid.UUID(answered["x-request-id"])  # a fresh id of our own, not the client's

    # What reaches the audit trail (and the logs) is the id we answered with.
    r = await intake.post(
        "/v1/referrals", json=referral_body(), headers={**auth("referrals:write"), "X-Request-Id": "\x1b]0;pwned\x07"}
    )
    assert r.status_code == 201, r.text
    trail = await intake.get("/v1/audit", params={"resource": r.headers["location"]}, headers=auth("audit:read"))
    [row] = trail.json()["items"]
    assert row["request_id"] == r.headers["x-request-id"] and uuid.UUID(row["request_id"])
