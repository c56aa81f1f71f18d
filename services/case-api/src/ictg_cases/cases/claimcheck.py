"""Claim check: the case API fetches a referral's personal details from intake when it opens a case."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from ictg_common.auth import mint_token

from ..settings import CasesSettings


class IntakeUnavailable(Exception):
    """Intake did not answer: the event is retried (nak with backoff), then dead-lettered."""


class IntakeClient:
    def __init__(self, settings: CasesSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        token = settings.intake_token or mint_token(
            secret=settings.auth_secret, sub="service:case-api", scopes=["referrals:read"],
            audience=settings.auth_audience, ttl_seconds=10 * 365 * 24 * 3600,
        )  # fmt: skip
        self._client = httpx.AsyncClient(
            base_url=settings.intake_url, transport=transport, timeout=10.0,
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip

    async def referral(self, referral_id: UUID) -> dict[str, Any]:
        try:
            response = await self._client.get(f"/v1/referrals/{referral_id}")
        except httpx.HTTPError as exc:
            raise IntakeUnavailable(repr(exc)) from exc
        if response.status_code != 200:
            raise IntakeUnavailable(f"intake answered {response.status_code} for referral {referral_id}")
        body: dict[str, Any] = response.json()
        return body

    async def aclose(self) -> None:
        await self._client.aclose()
