"""A retrying background loop that stops when asked, even if a library swallowed the cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Loop:
    """Runs `step()` forever; a failure is logged and retried with exponential backoff (0.2 s → 5 s).

    The backoff starts again from 0.2 s after any step that succeeds, and after a step that ran for
    `healthy_after` seconds before failing: one fault after an hour of work is not the tenth in a row.

    `stop()` sets a flag and cancels: a driver that turns CancelledError into its own error (asyncpg
    and SQLAlchemy can, mid-query) then ends the loop instead of being retried.
    """

    def __init__(self, name: str, step: Callable[[], Awaitable[None]], *, healthy_after: float = 30.0) -> None:
        self.name = name
        self.step = step
        self.healthy_after = healthy_after
        self.failures = 0  # consecutive failed steps (0 once a step succeeds)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        delay = 0.2
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            try:
                await self.step()
                delay = 0.2
                self.failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS or DB trouble: back off and retry
                if self._stopping:
                    return
                if loop.time() - started >= self.healthy_after:
                    delay = 0.2
                    self.failures = 0
                self.failures += 1
                log.warning("%s failed, retrying in %.1fs: %r", self.name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._task, timeout)
