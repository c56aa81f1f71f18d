"""A real receiving server for one delivery attempt: uvicorn on a free local port, verifying every request
with `standardwebhooks.Webhook(secret).verify` as a receiver would; its paths script the answer (`/busy` 503,
`/gone` 410, `/redirect` 302, `/hang`, `/big`). Fixtures `receiver` and `client` (the sender's own connection pool)
and `deliver` (sign and send once). Imported by tests/webhooks/test_signing.py and test_sender.py."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ictg_webhooks.sender import Outcome, Pool, send
from ictg_webhooks.signing import headers

BODY = json.dumps({"type": "ictg.case.opened.v1", "id": "evt_1", "data": {"case_id": "c_1"}}).encode()


@dataclass
class Received:
    path: str
    host: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    error: str | None


@dataclass
class Receiver:
    base: str  # http://127.0.0.1:<port>
    port: int
    secrets: list[str] = field(default_factory=list)  # the secrets this receiver holds
    received: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # lets /hang answer

    def verify(self, body: bytes, request_headers: dict[str, str]) -> str | None:
        """None if one of the held secrets verifies the request, else the package's complaint."""
        error = "the receiver holds no secret"
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, request_headers)
                return None
            except WebhookVerificationError as exc:
                error = str(exc)
        return error


def receiving_app(receiver: Receiver) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        request_headers = dict(request.headers)
        error = receiver.verify(body, request_headers)
        path = request.url.path
        receiver.received.append(Received(path, request.headers["host"], request_headers, body, error is None, error))
        if error is not None:
            return Response(error, status_code=401)
        if path == "/busy":
            return Response("busy", status_code=503, headers={"Retry-After": "7"})
        if path == "/gone":
            return Response(status_code=410)
        if path == "/redirect":
            return Response(status_code=302, headers={"Location": f"{receiver.base}/ok"})
        if path == "/hang":
            await receiver.release.wait()
        if path == "/big":

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(1024):  # 64 MiB, far more than the sender reads
                    yield b"x" * 65536

            return StreamingResponse(chunks(), status_code=200)
        return Response(status_code=204)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@pytest.fixture(name="receiver")
async def receiver_fixture() -> AsyncIterator[Receiver]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    state = Receiver(base=f"http://127.0.0.1:{port}", port=port)
    config = uvicorn.Config(receiving_app(state), lifespan="off", log_level="warning", http="h11")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        assert not task.done(), "the receiver stopped at start"
        assert time.monotonic() < deadline, "the receiver did not start"
        await asyncio.sleep(0.01)
    try:
        yield state
    finally:
        state.release.set()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.fixture(name="client")
async def client_fixture() -> AsyncIterator[Pool]:
    async with Pool(8) as pool:
        yield pool


async def deliver(
    client: Pool,
    url: str,
    *,
    secrets: list[str],
    body: bytes = BODY,
    signed_body: bytes | None = None,
    at: datetime | None = None,
    timeout: float = 5.0,
    allow_private: bool = True,
) -> Outcome:
    signed = headers(
        secrets, msg_id="evt_1", timestamp=at or datetime.now(UTC), body=body if signed_body is None else signed_body
    )
    return await send(client, url=url, body=body, headers=signed, allow_private=allow_private, timeout=timeout)
