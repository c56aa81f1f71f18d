"""The webhooks service's runtime, typed: its settings and its own running parts (`ictg_common.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI

from ictg_common.runtime import Runtime, runtime_dependency, typed_runtime

from .settings import WebhooksSettings

if TYPE_CHECKING:
    from .observability import DeliveryMetrics
    from .sender import Pool
    from .worker import Worker


@dataclass(frozen=True)
class WebhooksExtras:
    """What the webhooks service runs besides the common parts."""

    client: Pool  # sends pings (the worker has its own)
    worker: Worker  # claims, signs and sends the deliveries
    delivery_metrics: DeliveryMetrics  # each attempt by outcome, on GET /metrics

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.client.aclose()


WebhooksRuntime = Runtime[WebhooksSettings, WebhooksExtras]
WebhooksRuntimeDep = Annotated[WebhooksRuntime, Depends(runtime_dependency(WebhooksSettings, WebhooksExtras))]


def webhooks_runtime(app: FastAPI) -> WebhooksRuntime:
    return typed_runtime(app, WebhooksSettings, WebhooksExtras)
