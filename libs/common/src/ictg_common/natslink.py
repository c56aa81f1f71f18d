"""One NATS connection per process, established in the background and kept alive.

Services must start (and accept writes) while NATS is down: the outbox holds events until the
link is up. `NatsLink.jetstream()` waits for the connection; `connected` feeds /readyz.

A service connects with its own credentials (`ServiceSettings.nats_credentials`: what it may publish
and subscribe to is in `ictg_common.natsauth`); without them, as the URL says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

from .natsauth import NatsCredentials

log = logging.getLogger(__name__)


async def connect(url: str, credentials: NatsCredentials | None, **options: Any) -> Client:
    """One connection (a replay's, a tool's) as `credentials`' user, or as the URL says without them."""
    return await nats.connect(url, **(credentials.connect_options() if credentials else {}), **options)


class NatsLink:
    def __init__(
        self, url: str, *, stream: str, subject_prefix: str, credentials: NatsCredentials | None = None
    ) -> None:
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.credentials = credentials
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_forever(), name="nats-connect")

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                nc = await connect(
                    self.url,
                    self.credentials,
                    name=f"ictg-{self.credentials.user}" if self.credentials else "ictg",
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    error_cb=self._on_error,
                )
                js = nc.jetstream()
                await self.ensure_stream(js)
            except Exception as exc:  # noqa: BLE001 - any failure to reach NATS means: retry later
                log.warning("nats unavailable, retrying", extra={"error": repr(exc), "retry_in": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._nc, self._js = nc, js
            self._ready.set()
            return

    async def _on_error(self, exc: Exception) -> None:
        # NATS refusing this service (a subject outside its permissions, credentials it does not know)
        # is a misconfiguration for an operator to see; anything else (a lost connection) is retried.
        if "violation" in str(exc).lower():
            log.error("nats refused this service", extra={"error": repr(exc)})
        else:
            log.debug("nats error", extra={"error": repr(exc)})

    async def ensure_stream(self, js: JetStreamContext) -> None:
        """Create stream `ICTG` on `ictg.>` if missing (a 2-minute duplicate window by default)."""
        config = StreamConfig(name=self.stream, subjects=[f"{self.subject_prefix}.>"], duplicate_window=120.0)
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with another config (e.g. replicas set by operators): leave it alone.
            await js.stream_info(self.stream)

    async def jetstream(self) -> JetStreamContext:
        await self._ready.wait()
        assert self._js is not None
        return self._js

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._nc is not None and not self._nc.is_closed:
            # close, not drain: a drained pull subscription waits out its 30 s drain timeout, and
            # nothing is lost here (publishes are acknowledged, messages acked after commit).
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=1)
            await self._nc.close()
