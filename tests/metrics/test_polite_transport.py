"""The HTTP generator waits out the services' rate limit instead of losing records."""

from __future__ import annotations

import httpx

from ictg_metrics.synth.http import PoliteTransport


async def test_a_429_is_waited_out_and_the_request_resent() -> None:
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if len(seen) < 3:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"status": 429})
        return httpx.Response(201, json={"id": "x"})

    async with httpx.AsyncClient(transport=PoliteTransport(httpx.MockTransport(answer)), base_url="http://t") as client:
        r = await client.post("/v1/cases/c/contacts", json={"outcome": "made"})
    assert r.status_code == 201 and len(seen) == 3 and len(set(seen)) == 1
