"""identity: the token service. Machine clients get ES256 access tokens (OAuth 2.0 client
credentials); every service verifies them against `/.well-known/jwks.json`."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from fastapi import FastAPI

from ictg_common.audit import audit_router
from ictg_common.issuers import IssuerConfig, IssuerKeys
from ictg_common.runtime import Runtime
from ictg_common.service import create_service_app

from . import oauth
from .clients.endpoints import router as clients_router
from .keys import KeyStore
from .models import SCHEMA, audit
from .runtime import IdentityExtras
from .settings import IdentitySettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    if settings.plain_http:  # development only (the settings refuse it otherwise): compose's http://identity:8000
        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

    async def extras(app: FastAPI, core: Runtime[IdentitySettings, None]) -> IdentityExtras:
        keys = KeyStore(
            core.sessionmaker,
            secret=settings.key_secret.get_secret_value(),
            token_seconds=settings.token_seconds,
        )
        await keys.ensure()
        # The registry is called with this service's own tokens: it reads its own keys in process.
        own = IssuerConfig(issuer=settings.issuer.rstrip("/"))
        core.verifier.issuers[own.issuer] = IssuerKeys(own, transport=httpx.ASGITransport(app=app))
        return IdentityExtras(desk=oauth.TokenDesk.open(keys, settings, core))

    return create_service_app(
        name="identity",
        title="ICTG identity (token service)",
        settings=settings,
        schema=SCHEMA,
        routers=[oauth.router, clients_router, audit_router(audit)],
        publishes=False,
        bus=False,
        extras=extras,
        form_paths=(oauth.TOKEN_PATH,),
    )
