"""All SQL of the client registry: clients and their secrets' digests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Client, ClientSecret


async def get(session: AsyncSession, client_id: str) -> Client | None:
    return await session.get(Client, client_id)


async def all_clients(session: AsyncSession) -> list[Client]:
    return list((await session.execute(select(Client).order_by(Client.created_at, Client.client_id))).scalars().all())


async def live_client_of_service(session: AsyncSession, service: str) -> str | None:
    """The id of the service's client that is not disabled, if it has one."""
    found: str | None = await session.scalar(
        select(Client.client_id).where(Client.service == service, Client.disabled_at.is_(None)).limit(1)
    )
    return found


async def add(session: AsyncSession, client: Client) -> Client:
    session.add(client)
    await session.flush()
    return client


async def saved(session: AsyncSession) -> None:
    await session.flush()


async def expire_secrets(session: AsyncSession, client_id: str, *, at: datetime) -> None:
    """Every secret of the client still valid after `at` expires at `at`."""
    await session.execute(
        update(ClientSecret)
        .where(
            ClientSecret.client_id == client_id, (ClientSecret.expires_at.is_(None)) | (ClientSecret.expires_at > at)
        )
        .values(expires_at=at)
    )


async def add_secret(session: AsyncSession, client_id: str, digest: str, *, at: datetime) -> None:
    session.add(ClientSecret(client_id=client_id, digest=digest, created_at=at))
    await session.flush()


async def secrets_of(session: AsyncSession, client_ids: Sequence[str]) -> dict[str, list[ClientSecret]]:
    """Each client's secrets, newest first."""
    rows = (
        (
            await session.execute(
                select(ClientSecret)
                .where(ClientSecret.client_id.in_(list(client_ids)))
                .order_by(ClientSecret.created_at.desc(), ClientSecret.id.desc())
            )
        )
        .scalars()
        .all()
    )
    found: dict[str, list[ClientSecret]] = {c: [] for c in client_ids}
    for row in rows:
        found[row.client_id].append(row)
    return found
