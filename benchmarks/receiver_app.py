"""The webhooks benchmark's receiver, run as its own process (as a council's system is): counts
deliveries, keeps each one's receipt time (wall clock) by `webhook-id` and path, and verifies a
sample of signatures with the secrets posted to `/secrets`, answers after the delay posted to `/_delay`
(none by default), and keeps the most deliveries it held at once. `GET /stats` reports."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

state: dict[str, Any] = {"count": 0, "received": {}, "secrets": {}, "bad": 0, "delay": 0.0, "in_flight": 0,
                         "most_in_flight": 0, "referrals": {}}  # fmt: skip


async def hook(request: Request) -> Response:
    state["in_flight"] += 1
    state["most_in_flight"] = max(state["most_in_flight"], state["in_flight"])
    try:
        if state["delay"]:
            await asyncio.sleep(state["delay"])
        return await _hook(request)
    finally:
        state["in_flight"] -= 1


async def _hook(request: Request) -> Response:
    body = await request.body()
    state["count"] += 1
    state["received"][f"{request.headers.get('webhook-id', '')}|{request.url.path}"] = time.time()
    if request.url.path.startswith("/by-referral/"):  # the end-to-end benchmark: receipt by the referral's id
        state["referrals"].setdefault(json.loads(body)["data"]["referral_id"], time.time())
    secret = state["secrets"].get(request.url.path)
    if secret is not None and state["count"] % 50 == 0:  # a sample: verifying is the receiver's cost
        try:
            Webhook(secret).verify(body, dict(request.headers))
        except Exception:  # noqa: BLE001
            state["bad"] += 1
    return Response(status_code=204)


async def secrets(request: Request) -> Response:
    state["secrets"].update(await request.json())
    return Response(status_code=204)


async def stats(request: Request) -> Response:
    return JSONResponse({"count": state["count"], "bad": state["bad"], "received": state["received"],
                         "most_in_flight": state["most_in_flight"], "referrals": state["referrals"]})  # fmt: skip


async def delay(request: Request) -> Response:
    state["delay"] = float((await request.json())["seconds"])
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    state.update({"count": 0, "received": {}, "secrets": {}, "bad": 0, "most_in_flight": 0})
    return Response(status_code=204)


app = Starlette(
    routes=[
        Route("/_secrets", secrets, methods=["POST"]),
        Route("/_stats", stats, methods=["GET"]),
        Route("/_reset", reset, methods=["POST"]),
        Route("/_delay", delay, methods=["POST"]),
        Route("/{path:path}", hook, methods=["POST"]),
    ]
)
