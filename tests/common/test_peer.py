"""Calling a peer service: its token on every request, and "down" as the caller's own outage error."""

from __future__ import annotations

import httpx
import jwt
import pytest

from ictg_common.outages import Unavailable, is_infrastructure
from ictg_common.peer import PeerClient, PeerUnavailable, ServiceAuth

SECRET = "peer-test-secret-0123456789abcdef0123456789"


class IntakeDown(PeerUnavailable):
    pass


def client(handler: httpx.MockTransport) -> PeerClient:
    auth = ServiceAuth(token=None, secret=SECRET, name="case-api", scopes=["referrals:read"])
    return PeerClient(name="intake", base_url="http://intake", auth=auth, unavailable=IntakeDown, transport=handler)


async def test_sends_a_service_token_and_answers_the_expected_statuses() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(404 if request.url.path == "/gone" else 200, json={"ok": True})

    async with client(httpx.MockTransport(answer)) as peer:
        assert await peer.get_json("/x", params={"a": 1}) == {"ok": True}
        assert (await peer.get("/gone", expect=(200, 404))).status_code == 404
        with pytest.raises(IntakeDown, match="intake answered 404"):
            await peer.get("/gone")
    claims = jwt.decode(seen[0].removeprefix("Bearer "), options={"verify_signature": False})
    assert claims["sub"] == "service:case-api" and claims["ictg_service"]


@pytest.mark.parametrize("failure", ["refused", "503"])
async def test_a_peer_that_is_down_is_an_outage(failure: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if failure == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(503)

    async with client(httpx.MockTransport(answer)) as peer:
        with pytest.raises(IntakeDown) as caught:
            await peer.get_json("/v1/referrals/x")
    # A consumer pauses on it (its delivery budget untouched), an HTTP handler answers 503.
    assert isinstance(caught.value, Unavailable) and is_infrastructure(caught.value)
