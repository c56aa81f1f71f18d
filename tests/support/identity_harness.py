"""The token service in process, on the test's database, with the development clients registered."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ictg_common.db import create_engine
from ictg_common.devinfra import free_port, port_open

ISSUER = "http://127.0.0.1:8005"  # loopback: Authlib takes plain http there only


@pytest.fixture(name="identity_settings")
def identity_settings_fixture(shared_settings: dict[str, Any]) -> Any:
    from ictg_identity.settings import IdentitySettings

    return IdentitySettings(**shared_settings, issuer=ISSUER)


@pytest.fixture(name="clients")
async def clients_fixture(database_url: str) -> dict[str, tuple[str, str]]:
    """The development clients (`make run`'s), each with a fresh secret: {POLICE: (id, secret), …}."""
    from ictg_identity.admin import register_dev_clients

    return await register_dev_clients(database_url)


@pytest.fixture(name="identity")
async def identity_fixture(
    identity_settings: Any, clients: dict[str, tuple[str, str]]
) -> AsyncIterator[httpx.AsyncClient]:
    from ictg_identity.app import create_app

    app = create_app(identity_settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as client:
            yield client


async def token_of(identity: httpx.AsyncClient, client: tuple[str, str], **form: str) -> str:
    r = await identity.post("/oauth2/token", data={"grant_type": "client_credentials", **form}, auth=client)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def audit_rows(database_url: str) -> list[Any]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return list(
                (
                    await conn.execute(text("SELECT actor, action, outcome, reason FROM identity.audit ORDER BY id"))
                ).all()
            )
    finally:
        await engine.dispose()


@pytest.fixture(name="token_service")
def token_service_fixture(shared_settings: dict[str, Any], clients: dict[str, tuple[str, str]]) -> Iterator[str]:
    """The token service as a real process on a free loopback port (its URL is its issuer), its
    development clients registered: services fetch its JWKS over the network, as deployed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ICTG_DATABASE_URL": shared_settings["database_url"],
        "ICTG_IDENTITY_ISSUER": url,
        "ICTG_AUTH_DEVELOPMENT": "true",
        "ICTG_IDENTITY_TOKEN_RATE_PER_CLIENT": "0",
        "ICTG_IDENTITY_TOKEN_RATE_PER_ADDRESS": "0",
    }  # fmt: skip (limits: tested in process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ictg_identity.app:create_app", "--factory", "--port", str(port),
         "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            assert proc.poll() is None and time.monotonic() < deadline, "the token service did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def production(shared_settings: dict[str, Any], issuer: str, **own: Any) -> dict[str, Any]:
    """A service's settings outside development, trusting `issuer` alone."""
    return {**shared_settings, "auth_development": False, "auth_issuers": [{"issuer": issuer}],
            "scrape_token": "a-real-scrape-token", "cell_key_secret": "a-real-cell-key", **own}  # fmt: skip
