"""What a running service holds, built once by its lifespan (`ictg_common.service`) and read through one
typed accessor. `Runtime[S, X]` is generic over the service's settings class `S` and over `X`, the service's
own running parts (its "extras": a frozen dataclass such as metrics' ptable, release schedule and case API
client; `None` for a service without any). Each service names its own `Runtime[ItsSettings, ItsExtras]` and
reads it with `typed_runtime` (a function) and `runtime_dependency` (an endpoint's `Depends`); common code
reads the common parts with `runtime_of(app)` / `RuntimeDep`. The runtime is the only thing on `app.state`:
nothing is reached there by name or probed for with `getattr`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar, cast

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:  # these import this module's sink protocol
    from .auth import TokenVerifier
    from .consumer import ConsumerRunner
    from .natslink import NatsLink
    from .outbox import OutboxRelay
    from .ratelimit import SharedRateLimiter
    from .telemetry import Telemetry

from .settings import ServiceSettings  # the bound of `S` (also checked at run time by `typed_runtime`)

S = TypeVar("S", bound=ServiceSettings, covariant=True)  # a service's settings class
X = TypeVar("X", covariant=True)  # a service's own running parts ("extras"), None if it has none
Y = TypeVar("Y")


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


class Extras(Protocol):
    """A service's own running parts (`Runtime.extras`), built by its lifespan once the common parts exist.
    `start` runs after the relay and the consumers have started, `stop` before they stop."""

    def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Runtime(Generic[S, X]):
    """One service's running parts. `nats` and `relay` are None for a service off the bus (identity);
    `extras` are the service's own (None for a service without any)."""

    settings: S
    schema: str  # its Postgres schema: its audit table, outbox and inbox
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    verifier: TokenVerifier
    limiter: SharedRateLimiter  # the per-principal limit, one bucket across replicas
    telemetry: Telemetry
    extras: X
    nats: NatsLink | None = None
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)

    def with_extras(self, extras: Y) -> Runtime[S, Y]:
        """This runtime with the service's own parts (built from the common ones by the lifespan)."""
        return Runtime(
            settings=self.settings, schema=self.schema, engine=self.engine, sessionmaker=self.sessionmaker,
            verifier=self.verifier, limiter=self.limiter, telemetry=self.telemetry, extras=extras, nats=self.nats,
            relay=self.relay, consumers=self.consumers,
        )  # fmt: skip


def runtime_of(app: FastAPI) -> Runtime[ServiceSettings, Any]:
    """The app's runtime (set by its lifespan before any request is served), for its common parts: a
    service reads its own settings and extras, typed, through `typed_runtime`."""
    runtime: Runtime[ServiceSettings, Any] = app.state.runtime
    return runtime


def _runtime(request: Request) -> Runtime[ServiceSettings, Any]:
    return runtime_of(request.app)


RuntimeDep = Annotated[Runtime[ServiceSettings, Any], Depends(_runtime)]

T = TypeVar("T", bound=ServiceSettings)


def typed_runtime(app: FastAPI, settings: type[T], extras: type[Y]) -> Runtime[T, Y]:
    """The app's runtime as the service's own type (its settings class, its extras class), checked."""
    runtime = runtime_of(app)
    if not isinstance(runtime.settings, settings) or not isinstance(runtime.extras, extras):
        raise TypeError(
            f"this app's runtime holds {type(runtime.settings).__name__} and {type(runtime.extras).__name__}, "
            f"not {settings.__name__} and {extras.__name__}"
        )
    return cast("Runtime[T, Y]", runtime)


def runtime_dependency(settings: type[T], extras: type[Y]) -> Callable[[Request], Runtime[T, Y]]:
    """The dependency giving an endpoint its service's typed runtime:
    `Annotated[Runtime[MySettings, MyExtras], Depends(runtime_dependency(MySettings, MyExtras))]`."""

    def dependency(request: Request) -> Runtime[T, Y]:
        return typed_runtime(request.app, settings, extras)

    return dependency


def settings_of(app: FastAPI, settings: type[T]) -> T:
    """The running service's settings (its runtime's), as its own settings class."""
    found = runtime_of(app).settings
    if not isinstance(found, settings):
        raise TypeError(f"this app's settings are {type(found).__name__}, not {settings.__name__}")
    return found
