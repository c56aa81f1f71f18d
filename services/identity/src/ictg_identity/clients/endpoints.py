"""`/v1/clients`: register, list, show, rotate a secret, disable (scope `clients:admin`, staff only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from ictg_common.auth import STAFF, Actor, require
from ictg_common.errors import Forbidden
from ictg_common.service import SessionDep

from ..runtime import IdentityRuntimeDep
from . import schemas, service

router = APIRouter(prefix="/v1/clients", tags=["clients"])


async def _staff(actor: Annotated[Actor, require("clients:admin")]) -> Actor:
    # The ceiling already keeps clients:admin to the staff; a platform service never registers clients.
    if actor.org_type != STAFF or actor.service:
        raise Forbidden("Only the ICTG service's own staff register clients.")
    return actor


Admin = Annotated[Actor, Depends(_staff)]
ClientId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _out(shown: service.Shown) -> dict[str, object]:
    return {
        **{c: getattr(shown.client, c) for c in schemas.ClientOut.model_fields if c != "secrets"},
        "secrets": [{"created_at": s.created_at, "expires_at": s.expires_at} for s in shown.secrets],
    }


@router.post("", status_code=201, response_model=schemas.ClientCreated)
async def create_client(body: schemas.ClientIn, session: SessionDep, actor: Admin) -> dict[str, object]:
    """Register a client for an organisation. Its secret is in this answer only: store it now."""
    shown = await service.create(session, body, by=actor)
    return _out(shown) | {"client_secret": shown.new_secret}


@router.get("", response_model=schemas.ClientList)
async def list_clients(session: SessionDep, actor: Admin) -> dict[str, object]:
    return {"items": [_out(shown) for shown in await service.listed(session)]}


@router.get("/{client_id}", response_model=schemas.ClientOut)
async def get_client(client_id: ClientId, session: SessionDep, actor: Admin) -> dict[str, object]:
    return _out(await service.show(session, client_id))


@router.post("/{client_id}/rotate-secret", response_model=schemas.SecretRotated)
async def rotate_secret(
    client_id: ClientId,
    session: SessionDep,
    actor: Admin,
    runtime: IdentityRuntimeDep,
    body: schemas.RotateIn | None = None,
) -> dict[str, object]:
    """A new secret, shown once; the previous one is still accepted for the overlap (24 hours by default;
    `previous_valid_seconds: 0` ends it now, for a secret that leaked)."""
    settings = runtime.settings
    asked = body.previous_valid_seconds if body is not None else None
    seconds = settings.secret_overlap_seconds if asked is None else min(asked, settings.secret_overlap_seconds)
    shown = await service.rotate(session, client_id, overlap=timedelta(seconds=seconds), by=actor)
    return {"client_id": client_id, "client_secret": shown.new_secret, "previous_expires_at": shown.previous_expires_at}


@router.put("/{client_id}/jwks", response_model=schemas.ClientOut)
async def replace_keys(
    client_id: ClientId, body: schemas.KeysIn, session: SessionDep, actor: Admin
) -> dict[str, object]:
    """Replace a `private_key_jwt` client's public keys (its key rollover): publish the new key beside the
    old, switch the client's signing to it, then remove the old."""
    return _out(await service.replace_keys(session, client_id, body.jwks, by=actor))


@router.post("/{client_id}/disable", response_model=schemas.ClientOut)
async def disable_client(client_id: ClientId, session: SessionDep, actor: Admin) -> dict[str, object]:
    """No new token from now on; tokens already issued expire within their 15 minutes."""
    return _out(await service.disable(session, client_id, by=actor))
