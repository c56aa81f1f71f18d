"""An outage is told from a bug once: the consumer pauses on it, the API answers 503 (never 500)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from ictg_common.errors import install_error_handlers
from ictg_common.outages import Unavailable, is_infrastructure


def _starting_up() -> sa_exc.DBAPIError:
    """What SQLAlchemy raises while a restarted Postgres replays its WAL (seen under make chaos)."""
    cause = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    try:
        try:
            raise cause
        except asyncpg.exceptions.CannotConnectNowError as inner:
            raise sa_exc.DBAPIError("SELECT 1", None, Exception("the database system is starting up")) from inner
    except sa_exc.DBAPIError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (_starting_up(), True),
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (Unavailable("intake answered 503"), True),
        (sa_exc.DBAPIError("SELECT 1", None, Exception("division by zero")), False),
        (ValueError("a bug"), False),
        (KeyError("referral_id"), False),
    ],
)
def test_outages_are_told_from_bugs(exc: BaseException, outage: bool) -> None:
    assert is_infrastructure(exc) is outage


async def test_a_database_starting_up_is_a_503_with_retry_after_never_a_500() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/starting")
    async def starting() -> None:
        raise _starting_up()

    @app.get("/bug")
    async def bug() -> None:
        raise sa_exc.DBAPIError("SELECT 1", None, Exception("division by zero"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/starting")
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert r.headers["content-type"] == "application/problem+json"
        assert (await client.get("/bug")).status_code == 500
