"""What "a dependency is down" means, once, for every place that must tell an outage from a bug.

The consumer pauses on an outage instead of spending an event's retries; the HTTP error handlers
answer 503 with `Retry-After` instead of 500; the case API's replay stops and says how far it got.
"""

from __future__ import annotations

import asyncpg
import nats.errors
from sqlalchemy import exc as sa_exc


class Unavailable(Exception):
    """A dependency of the handler is down (e.g. another service): retry later, budget untouched."""


_INFRA_TYPES: tuple[type[BaseException], ...] = (
    Unavailable,
    OSError,  # ConnectionError, refused and reset connections
    TimeoutError,  # asyncio.TimeoutError is the builtin since 3.11; nats' TimeoutError subclasses it
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # the pool's checkout timeout
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown
    # A multi-host URL with target_session_attrs=read-write found no primary (a failover under way).
    asyncpg.exceptions.TargetServerAttributeNotMatched,
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
)


def is_infrastructure(exc: BaseException) -> bool:
    """Whether `exc` (or anything in its cause chain) says a database, NATS or a service is down."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _INFRA_TYPES):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False
