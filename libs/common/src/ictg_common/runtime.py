"""What a running service holds, built once by its lifespan (`ictg_common.service`) and read through one
dependency: `RuntimeDep` in an endpoint, `runtime_of(app)` elsewhere. Nothing of it is reached by name
on `app.state` or probed for with `getattr`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:  # these import this module's sink protocol
    from .auth import RateLimiter, TokenVerifier
    from .consumer import ConsumerRunner
    from .natslink import NatsLink
    from .outbox import OutboxRelay
    from .settings import ServiceSettings
    from .telemetry import Telemetry


class RunnerSink(Protocol):
    """Where a relay or a consumer runner reports what it did (GET /metrics: `Telemetry`)."""

    @property
    def service(self) -> str | None: ...  # the service's name, for the spans of what it publishes or consumes

    def handled(self, consumer: str, outcome: str, count: int = 1) -> None: ...
    def handling_took(self, consumer: str, seconds: float) -> None: ...
    def redelivered(self, consumer: str, count: int) -> None: ...
    def published(self, count: int) -> None: ...


class NullSink:
    """A runner outside a service (a command-line rebuild, a test): its reports go nowhere."""

    service: str | None = None

    def handled(self, consumer: str, outcome: str, count: int = 1) -> None:
        return None

    def handling_took(self, consumer: str, seconds: float) -> None:
        return None

    def redelivered(self, consumer: str, count: int) -> None:
        return None

    def published(self, count: int) -> None:
        return None


NULL_SINK = NullSink()


@dataclass(frozen=True)
class Runtime:
    """One service's running parts. `nats` and `relay` are None for a service off the bus (identity)."""

    settings: ServiceSettings
    schema: str  # its Postgres schema: its audit table, outbox and inbox
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    verifier: TokenVerifier
    limiter: RateLimiter
    telemetry: Telemetry
    nats: NatsLink | None = None
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)


def runtime_of(app: FastAPI) -> Runtime:
    """The app's runtime (set by its lifespan before any request is served)."""
    runtime: Runtime = app.state.runtime
    return runtime


def _runtime(request: Request) -> Runtime:
    return runtime_of(request.app)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
