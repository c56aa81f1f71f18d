"""A retrying background loop that stops when asked, even if a library swallowed the cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Loop:
    """Runs `step()` forever; a failure is logged and retried with exponential backoff (0.2 s → 5 s).

    `stop()` sets a flag and cancels: a driver that turns CancelledError into its own error (asyncpg
    and SQLAlchemy can, mid-query) then ends the loop instead of being retried.
    """

    def __init__(self, name: str, step: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.step = step
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        delay = 0.2
        while not self._stopping:
            try:
                await self.step()
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS or DB trouble: back off and retry
                if self._stopping:
                    return
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
