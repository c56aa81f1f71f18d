"""GuardMiddleware: which client request ids are kept, and JSON bodies with a repeated key."""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest

from ictg_common.http import GuardMiddleware, duplicate_key
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


async def _status_through_the_guard(headers: list[tuple[bytes, bytes]], body: bytes = b"") -> int:
    """What the guard answers a POST with these raw headers (no client adds or drops one), the app behind it
    answering 202 to anything that reaches it."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/webhooks/subscriptions/x/ping", "headers": headers,
             "query_string": b"", "http_version": "1.1", "scheme": "http", "client": ("127.0.0.1", 1)}  # fmt: skip
    await GuardMiddleware(app)(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


async def test_an_action_posted_with_no_body_at_all_is_not_refused_as_the_wrong_media_type() -> None:
    # `curl -X POST …/ping` sends neither Content-Length nor Content-Type: there is no body to be JSON
    assert await _status_through_the_guard([]) == 202
    assert await _status_through_the_guard([(b"content-length", b"0")]) == 202
    # a body of another type, whether its length is given, it comes in chunks, or a server hands it over with
    # neither header (HTTP/2), still is: decided on the body read
    assert await _status_through_the_guard([(b"content-type", b"text/plain")], b"hello") == 415
    assert await _status_through_the_guard([], b"hello") == 415
    chunked = [(b"transfer-encoding", b"chunked"), (b"content-type", b"text/plain")]
    assert await _status_through_the_guard(chunked, b"hello") == 415
    assert (
        await _status_through_the_guard([(b"content-length", b"5"), (b"content-type", b"text/plain")], b"hello") == 415
    )
