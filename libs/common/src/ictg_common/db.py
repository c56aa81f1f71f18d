"""Engine, session factory, declarative base with a naming convention, one schema per service."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import MetaData, event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_base(schema: str) -> type[DeclarativeBase]:
    """A declarative base whose tables all live in `schema`."""

    class Model(DeclarativeBase):
        metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)

    return Model


_PREFIXES = ("postgresql+asyncpg://", "postgresql://", "postgres://")
_HAS_PORT = re.compile(r":\d+$")


def _after_scheme(url: str) -> str:
    for prefix in _PREFIXES:
        if url.startswith(prefix):
            return url[len(prefix) :]
    raise ValueError("database URL must be a postgresql:// URL")


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as operators write them) and use asyncpg.

    A libpq multi-host URL (`postgresql://user@host1:5432,host2:5432/db?target_session_attrs=read-write`,
    a primary and its standbys) is given to SQLAlchemy as its asyncpg dialect takes one: the hosts as
    `host=` query arguments, each with its port (SQLAlchemy cannot parse the comma-separated form); the
    other query arguments (`target_session_attrs`) go through to `asyncpg.connect`."""
    rest = _after_scheme(url)
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return "postgresql+asyncpg://" + rest
    given = [f"host={host}" if _HAS_PORT.search(host) else f"host={host}:5432" for host in hosts.split(",")]
    database, _, query = path.partition("?")
    query = "&".join([*given, *([query] if query else [])])
    return f"postgresql+asyncpg://{userinfo}{at}/{database}?{query}"


def plain_url(url: str) -> str:
    """The libpq form of a URL (for asyncpg.connect and LISTEN connections); a multi-host URL stays one
    (asyncpg.connect takes every host, and `target_session_attrs`)."""
    return "postgresql://" + _after_scheme(url)


# A pooled connection idle for longer than this is pinged before use (see `create_engine`).
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "ictg_idle_since"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """The service's engine. A connection that sat in the pool for over `PING_AFTER_IDLE_SECONDS` is
    pinged before it is handed out, and replaced (with every connection pooled before it) if the ping
    fails: after a database restart nothing fails on a dead connection. One in steady use is not:
    SQLAlchemy's `pool_pre_ping` costs three round trips on asyncpg (BEGIN, `;`, ROLLBACK) at every
    checkout, which was a sixth of intake's CPU at 32 clients (py-spy). A connection that dies while in
    steady use fails its statement, which invalidates the pool: that request answers 503, the next one
    gets a new connection."""
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # Bound parameters hold personal data: never let them into an exception message (or a log).
    kwargs.setdefault("hide_parameters", True)
    engine = create_async_engine(async_url(url), **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    pool, dialect = engine.sync_engine.pool, engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in steady use
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as e:
            if not dialect.is_disconnect(e, dbapi_connection, None):  # type: ignore[arg-type]
                raise  # not a dead connection: the error is the caller's, as with pool_pre_ping
            # The pool drops it and every connection older than it, and checks out a new one.
            raise exc.InvalidatePoolError(f"pooled connection failed its ping: {e!r}") from e


def connection_settings(**settings: str | float) -> Callable[[AsyncEngine], None]:
    """An `engine_setup` (`create_service_app`) giving each new connection of the engine these Postgres
    settings for its lifetime, in the connection's startup packet (asyncpg's `server_settings`): no query
    at all, so nothing can race the driver's own setup of a new connection (a `set_config` query run from
    the connect event once met "another operation is in progress" while Postgres came back, a 500). Names
    with a dot (`pg_trgm.similarity_threshold`) are written with `__`. Each connection so set notes the
    settings in its `info` (`CONNECTION_SETTINGS`), so code that depends on one can tell a connection made
    another way and set it itself."""
    pairs = {name.replace("__", "."): value for name, value in settings.items()}
    for name in pairs:
        if not _SETTING_NAME.fullmatch(name):
            raise ValueError(f"not a Postgres setting name: {name!r}")

    def setup(engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "do_connect")
        def do_connect(_dialect: Any, record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            given = {name: str(value) for name, value in pairs.items()}
            cparams["server_settings"] = {**cparams.get("server_settings", {}), **given}
            record.info.setdefault(CONNECTION_SETTINGS, {}).update(pairs)

    return setup


_SETTING_NAME = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")
CONNECTION_SETTINGS = "ictg_settings"


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
