"""A real receiving HTTP server for webhook tests: uvicorn on a free local port, verifying every
delivery with `standardwebhooks.Webhook(secret).verify` as a council's system would.

Paths script the answer: `/ok/…` 204; `/flaky/<n>/…` 500 for the first n deliveries to that path,
then 200; `/gone/…` 410; `/hang/…` never answers (until the server stops); `/slow/…` 204 after 0.2 s."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Delivery:
    path: str
    webhook_id: str
    event: dict[str, Any]
    verified_by: list[str]  # names of the secrets that verified it
    at: float


@dataclass
class Receiver:
    base: str
    secrets: dict[str, str] = field(default_factory=dict)  # name → secret held
    deliveries: list[Delivery] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.path == path]

    def types(self, path: str) -> list[str]:
        return [d.event["type"] for d in self.at(path)]


def _app(r: Receiver) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        path = request.url.path
        if path.startswith("/hang/"):
            r.counts[path] = r.counts.get(path, 0) + 1  # arrived: the sender holds it now
            await r.release.wait()
            return Response(status_code=204)
        if path.startswith("/slow/"):
            await asyncio.sleep(0.2)
        verified = []
        for name, secret in r.secrets.items():
            with contextlib.suppress(WebhookVerificationError, ValueError):
                Webhook(secret).verify(body, headers)
                verified.append(name)
        r.deliveries.append(Delivery(path, headers.get("webhook-id", ""), json.loads(body), verified, time.monotonic()))
        if not verified:
            return Response("signature did not verify", status_code=401)
        r.counts[path] = r.counts.get(path, 0) + 1
        if path.startswith("/gone/"):
            return Response(status_code=410)
        if path.startswith("/flaky/"):
            failures = int(path.split("/")[2])
            if r.counts[path] <= failures:
                return Response("not yet", status_code=500)
            return Response("ok", status_code=200)
        return Response(status_code=204)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    r = Receiver(base=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(_app(r), lifespan="off", log_level="warning", http="h11"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "the receiver did not start"
        await asyncio.sleep(0.01)
    try:
        yield r
    finally:
        r.release.set()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
