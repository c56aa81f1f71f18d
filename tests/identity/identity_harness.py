"""The token service in process, on the test's database, with the development clients registered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ictg_common.db import create_engine

ISSUER = "http://127.0.0.1:8005"  # loopback: Authlib takes plain http there only


@pytest.fixture
def identity_settings(shared_settings: dict[str, Any]) -> Any:
    from ictg_identity.settings import IdentitySettings

    return IdentitySettings(**shared_settings, issuer=ISSUER)


@pytest.fixture
async def clients(database_url: str) -> dict[str, tuple[str, str]]:
    """The development clients (`make run`'s), each with a fresh secret: {POLICE: (id, secret), …}."""
    from ictg_identity.admin import register_dev_clients

    return await register_dev_clients(database_url)


@pytest.fixture
async def identity(identity_settings: Any, clients: dict[str, tuple[str, str]]) -> AsyncIterator[httpx.AsyncClient]:
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
                (await conn.execute(text("SELECT actor, action, outcome, reason FROM identity.audit ORDER BY id"))).all()
            )
    finally:
        await engine.dispose()
