"""One NATS connection per process, established in the background and kept alive.

Services must start (and accept writes) while NATS is down: the outbox holds events until the
link is up. `NatsLink.jetstream()` waits for the connection; `connected` feeds /readyz.

A service connects with its own credentials (`ServiceSettings.nats_credentials`: what it may publish
and subscribe to is in `ictg_common.natsauth`); without them, as the URL says.

A cluster: ICTG_NATS_URL names every server, comma-separated (`servers`), and the client moves to
another when its own dies; the stream is kept on ICTG_NATS_REPLICAS servers (`ensure_stream`), the
durable consumers on as many as the stream (a consumer's replica count left unset follows its stream's).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import APIError, BadRequestError

from .natsauth import NatsCredentials

log = logging.getLogger(__name__)


def servers(url: str) -> list[str]:
    """The servers of ICTG_NATS_URL: one URL, or a cluster's, comma-separated."""
    found = [one.strip() for one in url.split(",") if one.strip()]
    if not found:
        raise ValueError("no NATS server in the URL")
    return found


async def connect(url: str, credentials: NatsCredentials | None, **options: Any) -> Client:
    """One connection (a replay's, a tool's) as `credentials`' user, or as the URL says without them;
    to any server of a comma-separated list, moving to another when it is lost."""
    return await nats.connect(servers(url), **(credentials.connect_options() if credentials else {}), **options)


class StreamPlacementError(RuntimeError):
    """The stream cannot have the replica count asked for: NATS has fewer servers than that."""


# JetStream's answers when a stream asks for more servers than it has: a cluster with fewer (online)
# servers than replicas; a server that is not in a cluster.
NO_PLACEMENT = {10005, 10023, 10074}


class NatsLink:
    def __init__(
        self, url: str, *, stream: str, subject_prefix: str, credentials: NatsCredentials | None = None,
        replicas: int = 1,
    ) -> None:  # fmt: skip
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.credentials = credentials
        self.replicas = replicas
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
            nc = None
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
                if nc is not None:  # connected, but no stream yet: a fresh connection at the retry
                    with contextlib.suppress(Exception):
                        await nc.close()
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
        """Create stream `ICTG` on `ictg.>` if missing (a 2-minute duplicate window by default), on
        `replicas` servers; an existing one on fewer is raised to `replicas`, and otherwise left as it is
        (more replicas, limits set by operators).

        Never silently on fewer servers than asked: a missing stream that NATS cannot place on
        `replicas` servers (a cluster with fewer servers up, a lone server) is not created, and this
        raises `StreamPlacementError` (the link retries, the service is not ready, the outbox keeps the
        events). An existing stream that cannot be raised still carries the events, so it is used as it
        is, with an error logged; it is raised at the next connection that can."""
        config = StreamConfig(
            name=self.stream, subjects=[f"{self.subject_prefix}.>"], duplicate_window=120.0,
            num_replicas=self.replicas,
        )  # fmt: skip
        try:
            await js.add_stream(config)
            return
        except APIError as exc:
            if exc.err_code in NO_PLACEMENT:
                log.error("nats cannot place the stream", extra={"stream": self.stream, "replicas": self.replicas,
                                                                  "error": exc.description})  # fmt: skip
                raise StreamPlacementError(
                    f"stream {self.stream} on {self.replicas} servers: {exc.description} (ICTG_NATS_REPLICAS)"
                ) from exc
            if not isinstance(exc, BadRequestError):
                raise
        # Exists with another config.
        info = await js.stream_info(self.stream)
        have = info.config.num_replicas or 1
        if have >= self.replicas:
            return
        try:
            await js.update_stream(dataclasses.replace(info.config, num_replicas=self.replicas))
        except Exception as exc:  # noqa: BLE001 - the stream works as it is; raised at a later connection
            log.error("nats stream kept on fewer servers than configured", extra={
                "stream": self.stream, "replicas": have, "configured": self.replicas, "error": repr(exc)})  # fmt: skip
        else:
            log.warning("nats stream raised", extra={"stream": self.stream, "from": have, "to": self.replicas})

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
